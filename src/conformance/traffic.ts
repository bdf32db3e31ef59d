// What happens in a scenario's World once it is programmed: device DMA (through mapped,
// unmapped, tagged or unassigned IOVAs) and the driver reading the event queue.

import { ARENAS, UNASSIGNED } from './builder.js';
import * as R from '../arch/registers.js';
import type { World, Device } from './world.js';
import { safeIova, safeThroughBlocks, unassigned } from './safe-memory.js';
import { iovaIn, pickTt } from './page-tables.js';

const B = BigInt;
const TWO48 = 1n << 48n;

// ---- event queue --------------------------------------------------------------------------------

/**
 * Reads EVENTQ_PROD, the records written since CONS (up to a few, word by word, then
 * a digest of the queue), and consumes them (CONS = PROD) unless told not to.
 */
export function drainEvents(w: World, consume = true): void {
  const b = w.b;
  const r = w.r;
  const prodOff = r.chance(0.8) ? R.R_EVENTQ_PROD + R.SMMU_PAGE1 : R.R_EVENTQ_PROD;
  const consOff = r.chance(0.8) ? R.R_EVENTQ_CONS + R.SMMU_PAGE1 : R.R_EVENTQ_CONS;
  const prod = Number(b.mmioR(prodOff));
  const cons = Number(b.mmioR(consOff));
  const log2 = w.evtq.log2;
  const n = 2 ** log2;
  const wrapIdx = 2 * n - 1;
  let c = cons & wrapIdx;
  const p = prod & wrapIdx;
  let shown = 0;
  const base = Number(B(w.evtq.base) & 0xffffffffffc0n);
  const inRam = base >= ARENAS[0].base && base < UNASSIGNED;
  while (c !== p && shown < 6 && inRam) {
    const idx = c & (n - 1);
    for (let k = 0; k < 4; k++) if (k !== 3 || r.chance(0.5)) b.memR(base + idx * 32 + k * 8, 8);
    c = (c + 1) & wrapIdx;
    shown++;
  }
  if (inRam && (c !== p || r.chance(0.3))) b.digest(base, Math.min(n, 256) * 32);
  if (r.chance(0.3)) b.mmioR(R.R_GERROR);
  if (consume) {
    let v = p;
    if (r.chance(w.chaos * 0.3)) v = r.u32();
    b.mmioW(consOff, 4, v);
    if (((b.peek(R.R_GERROR) ^ b.peek(R.R_GERRORN)) & 4) !== 0 && r.chance(0.7)) {
      b.mmioW(R.R_GERRORN, 4, b.peek(R.R_GERRORN) ^ 4);
    }
  }
}

// ---- DMA ------------------------------------------------------------------------------------------

/** An IOVA for device d: mapped most of the time, otherwise unmapped, tagged or odd. */
export function pickIova(w: World, dev: Device, len: number): bigint {
  const v = pickIova0(w, dev, len);
  if (v >= TWO48 || safeThroughBlocks(w, v, len)) return v;
  return B(w.dataAddr(len, 4)); // maps to itself through every block
}

function pickIova0(w: World, dev: Device, len: number): bigint {
  const r = w.r;
  const smmuOn = (w.cr0 & 1) === 1;
  const maps = dev.domain ? dev.domain.mappings : [];
  const choice = r.weighted<'map' | 'other' | 'data' | 'unmapped' | 'tagged' | 'unassigned'>([
    [maps.length ? 10 : 0, 'map'],
    [w.allMappings().length ? 1 : 0, 'other'],
    [!smmuOn || dev.state !== 's1' || dev.mayBypass ? 4 : 1, 'data'],
    [2, 'unmapped'],
    [0.5, 'tagged'],
    [0.5, 'unassigned'],
  ]);
  const misalign = (v: bigint) => (r.chance(0.25) ? v + B(r.int(1, 3)) : v);
  switch (choice) {
    case 'map':
    case 'other': {
      const m = r.pick(choice === 'map' ? maps : w.allMappings());
      const off = r.chance(0.3) ? 0 : r.int(0, Math.max(0, m.len - 1));
      let v = m.iova + B(off);
      if (r.chance(0.5)) v &= ~3n;
      return w.lowIova || safeIova(v, len) ? v : B(w.dataAddr(len));
    }
    case 'data':
      return misalign(B(w.dataAddr(len, 4)));
    case 'unmapped': {
      if (dev.domain) {
        const tt = pickTt(w, dev.domain);
        const v = iovaIn(w, tt, 0x1000n);
        if (v !== undefined) return misalign(v + B(r.int(0, 0x3ff) * 4));
      }
      return misalign(B(w.dataAddr(len, 4)));
    }
    case 'tagged':
      // at or above 2^48: outside the IOMMU region of the device, never translated in QEMU
      return r.chance(0.5) ? (B(r.int(1, 0xffff)) << 48n) | B(w.dataAddr(len, 4)) : TWO48 - B(r.int(1, 8) * 4);
    case 'unassigned':
      return B(unassigned(w, 4)) + B(r.int(0, 0x3ff) * 4);
  }
}

export function pickLen(w: World): number {
  return w.r.weighted<number>([
    [4, 4], [4, 16], [3, 64], [2, 256], [1, w.r.int(1, 32)], [1, w.r.int(1, 4095)], [1, 4095], [1, 4096 - 16], [1, w.r.int(1, 7) * 512],
  ]);
}

/** One DMA by a device, then observations of memory and events. */
export function dmaAction(w: World, dev?: Device): void {
  const r = w.r;
  const d = dev ?? r.pick(w.devices);
  const len = pickLen(w);
  const src = pickIova(w, d, len);
  const dst = pickIova(w, d, len);
  w.b.dma(d.sid, src, dst, len);
  if (r.chance(0.7)) w.observeData();
  if (r.chance(0.5)) drainEvents(w, r.chance(0.85));
}
