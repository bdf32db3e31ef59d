// Scenario families for a stage-1 SMMU (QEMU 7.2, and the stage-1 families of QEMU 10.0):
// translation through every granule and size, stale caches, STE/CD variants, stream
// tables, the command and event queues, registers, SMMUEN = 0, IOTLB capacity, and all of
// them mixed. generate.ts picks one per seed.

import type { World, Device, Domain, Mapping, CdVariant } from './world.js';
import * as R from '../arch/registers.js';
import * as C from '../arch/commands.js';
import { put, type Words } from '../guest/encode.js';
import { bringUp, cfgiAll, dataSizeFor, finish } from './bringup.js';
import { unassigned, safeBlockOut, safeBase } from './safe-memory.js';
import { randomCmd, tlbiCmd, invalidation, sync } from './command-gen.js';
import { drainEvents, pickIova, dmaAction } from './traffic.js';
import { mapRandom } from './page-tables.js';

const B = BigInt;

/** A family builds one scenario on a fresh World. */
export type Family = (w: World) => void;

/** Points a device at a domain: stage-1 STE, then CFGI_STE + SYNC (mostly). */
function attach(w: World, dev: Device, d: Domain): void {
  if (!w.writeSte(dev.sid, w.steWords('s1', d.cd))) return;
  dev.state = 's1';
  dev.domain = d;
  if (w.r.chance(0.85)) {
    w.submit([put(put([B(C.CMD_CFGI_STE), 0n], C.CMD_SID, dev.sid), C.CMD_LEAF, 1), sync(w)]);
    w.afterBatch();
  }
}

function setState(w: World, dev: Device, kind: Parameters<World['steWords']>[0], cd = 0): void {
  if (kind === 'bypass' && !w.canBypass) kind = 'abort';
  if (!w.writeSte(dev.sid, w.steWords(kind, cd))) return;
  dev.state = kind === 's1' ? 's1' : kind === 'bypass' ? 'bypass' : kind === 'abort' ? 'abort' : 'bad';
  if (kind !== 's1') dev.domain = undefined;
}

/** Domains with mappings, devices attached to them. */
function populate(w: World, nDomains: number, perDomain: [number, number], granule?: 12 | 14 | 16): void {
  const { r } = w;
  const doms: Domain[] = [];
  for (let i = 0; i < nDomains; i++) {
    const d = w.newDomain({ granule });
    doms.push(d);
    const n = r.int(perDomain[0], perDomain[1]);
    for (let k = 0; k < n; k++) mapRandom(w, d);
  }
  for (const dev of w.devices) {
    if (r.chance(0.85)) attach(w, dev, r.pick(doms));
  }
}

// ---- families ------------------------------------------------------------------------------------

/** Page tables of every granule and size, blocks and holes, permissions; DMA through them. */
export const xlate: Family = (w) => {
  const { r } = w;
  bringUp(w);
  const g = r.pick([12, 14, 16] as const);
  w.setupData(dataSizeFor([g, ...(r.chance(0.3) ? [16] : [])]));
  populate(w, r.int(1, 3), [3, 10], r.chance(0.7) ? g : undefined);
  const n = r.int(4, 12);
  for (let i = 0; i < n; i++) {
    if (r.chance(0.15)) {
      const d = r.pick(w.domains);
      mapRandom(w, d);
    }
    if (r.chance(0.1)) mutate(w);
    dmaAction(w);
  }
  finish(w);
};

/** A change in memory (PTE, table descriptor, STE or CD) that the SMMU may have cached. */
function mutate(w: World): { m?: Mapping; sid?: number } {
  const { b, r } = w;
  const maps = w.allMappings();
  const what = r.weighted<'pte' | 'upper' | 'ste' | 'cd'>([[6, 'pte'], [2, 'upper'], [2, 'ste'], [2, 'cd']]);
  if ((what === 'pte' || what === 'upper') && maps.length) {
    const m = r.pick(maps);
    const pt = m.tt.pt;
    const OA = 0x0000fffffffff000n;
    if (what === 'upper') {
      const u = pt.upperDesc(m.iova, m.level);
      if (u !== undefined) {
        const cur = b.peek64(u.addr);
        const v = r.weighted<bigint>([
          [3, cur | (B(r.int(1, 3)) << 61n)], // APTable
          [2, cur & ~1n], // invalid
          [1, (cur & ~OA) | B(unassigned(w, 2 ** pt.granule))], // table outside RAM: external abort
          [1, (cur & ~OA & ~3n) | B(safeBlockOut(w, 2 ** pt.shift(u.level))) | 1n], // now a block (somewhere safe)
        ]);
        b.memW(u.addr, 8, v);
        return { m };
      }
    }
    const cur = b.peek64(m.desc);
    const size = 2 ** pt.shift(m.level);
    const remapped = m.level === 3 || size <= w.dataSize ? w.data + r.int(0, Math.floor(w.dataSize / size) - 1) * size : safeBlockOut(w, size);
    const v = r.weighted<bigint>([
      [3, cur ^ (2n << 6n)], // write permission flipped
      [3, (cur & ~OA) | B(remapped)], // remapped
      [2, 0n], // unmapped
      [1, cur & ~1n],
      // reserved at level 3; at the others a table descriptor (with an empty table or one outside RAM)
      [1, m.level === 3 ? (cur & ~3n) | 1n : (cur & ~OA) | B(r.chance(0.7) ? pt.newTable() : unassigned(w, 2 ** pt.granule)) | 3n],
      [1, cur ^ (1n << 10n)], // AF flipped (ignored by QEMU 7.2)
    ]);
    b.memW(m.desc, 8, v);
    return { m };
  }
  if (what === 'cd' && w.domains.length) {
    const d = r.pick(w.domains);
    const v = cdVariant(w);
    w.writeCd(d, v);
    const dev = w.devices.find((x) => x.domain === d);
    return { sid: dev?.sid };
  }
  const dev = r.pick(w.devices);
  const kind = steKind(w);
  const d = w.domains.length ? r.pick(w.domains) : undefined;
  setState(w, dev, kind, d?.cd ?? safeBase(w));
  if (kind === 's1' && d) dev.domain = d;
  return { sid: dev.sid };
}

function steKind(w: World): Parameters<World['steWords']>[0] {
  const r = w.r;
  const k = r.weighted<Parameters<World['steWords']>[0]>([
    [8, 's1'], [2, 'bypass'], [2, 'abort'], [2, 'invalid'], [1, 's2'], [1, 'nested'], [1, 'cdmax'], [1, 'stalld'], [0.5, 'garbage'],
  ]);
  return k === 'bypass' && !w.canBypass ? 'abort' : k;
}

/** A CD variant: valid most of the time, otherwise one of QEMU 7.2's C_BAD_CD reasons or an odd valid one. */
function cdVariant(w: World): Partial<CdVariant> {
  const r = w.r;
  return r.weighted<Partial<CdVariant>>([
    [8, {}],
    [1, { valid: false }],
    [1, { aa64: false }],
    [1, { a: false }],
    [1, { s: true }],
    [1, { ha: true }],
    [1, { hd: true }],
    [1, { endi: true }],
    [1, { t0sz: r.pick([0, 1, 15, 40, 48, 63]) }],
    [1, { tg0: 3 }],
    [1, { epd0: true }],
    [1, { epd1: false, t1sz: r.int(0, 63), tg1: r.int(0, 3) }],
    [1, { ips: r.int(0, 7) }],
    [1, { ttb0: B(r.chance(0.5) ? unassigned(w, 0x1000) : 2 ** r.int(32, 50) + r.int(0, 0xfff) * 0x1000) }],
    [1, { tbi: r.int(1, 3) }],
    [1, { r: 0 }],
    [1, { had0: true, had1: true }],
  ]);
}

/** Map, DMA, change something, DMA, invalidate with some command, DMA: what did each cache keep? */
export const stale: Family = (w) => {
  const { r } = w;
  bringUp(w);
  const g = r.pick([12, 14, 16] as const);
  w.setupData(dataSizeFor([g]));
  populate(w, r.int(1, 2), [2, 6], g);
  const rounds = r.int(2, 5);
  for (let i = 0; i < rounds; i++) {
    const dev = r.pick(w.devices);
    dmaAction(w, dev);
    const { m, sid } = mutate(w);
    if (r.chance(0.5)) dmaAction(w, dev);
    const cmds: Words[] = [];
    const n = r.int(0, 3);
    for (let k = 0; k < n; k++) cmds.push(...invalidation(w, m, sid ?? dev.sid));
    if (n > 0 || r.chance(0.5)) cmds.push(sync(w));
    if (cmds.length) {
      w.submit(cmds);
      w.afterBatch();
    }
    dmaAction(w, dev);
    if (r.chance(0.3)) dmaAction(w);
  }
  finish(w);
};

/** STE and CD variants, valid and not, each tried with DMA. */
export const config: Family = (w) => {
  const { r } = w;
  bringUp(w);
  w.setupData(dataSizeFor([12, 14, 16]));
  const doms: Domain[] = [];
  for (let i = 0; i < r.int(1, 3); i++) {
    const d = w.newDomain();
    for (let k = 0; k < r.int(1, 4); k++) mapRandom(w, d);
    doms.push(d);
  }
  const rounds = r.int(3, 8);
  for (let i = 0; i < rounds; i++) {
    const dev = r.pick(w.devices);
    const d = r.pick(doms);
    if (r.chance(0.5)) w.writeCd(d, cdVariant(w));
    const kind = steKind(w);
    const cd = r.chance(0.1) ? unassigned(w) : d.cd;
    setState(w, dev, kind, cd);
    if (kind === 's1') dev.domain = d;
    if (r.chance(0.8)) {
      w.submit([...invalidation(w, undefined, dev.sid), ...(r.chance(0.7) ? [put(put([B(C.CMD_CFGI_STE), 0n], C.CMD_SID, dev.sid), C.CMD_LEAF, 1)] : []), sync(w)]);
      w.afterBatch();
    }
    dmaAction(w, dev);
    if (r.chance(0.5)) drainEvents(w);
  }
  finish(w);
};

/** Linear and 2-level stream tables, valid and broken: span 0, L2 beyond span, SID out of range, pointers outside RAM. */
export const strtab: Family = (w) => {
  const { b, r } = w;
  const two = r.chance(0.7);
  bringUp(w, { strtab: two ? '2lvl' : 'linear' });
  w.setupData(dataSizeFor([12]));
  const d = w.newDomain({ granule: 12 });
  for (let k = 0; k < r.int(1, 4); k++) mapRandom(w, d);
  const rounds = r.int(3, 8);
  for (let i = 0; i < rounds; i++) {
    const dev = r.pick(w.devices);
    const act = r.weighted<'ste' | 'l1' | 'cfg' | 'base'>([[4, 'ste'], [3, 'l1'], [1, 'cfg'], [1, 'base']]);
    if (act === 'ste' || !w.strtab.twoLevel) {
      setState(w, dev, r.chance(0.6) ? 'bypass' : steKind(w), d.cd);
      if (dev.state === 's1') dev.domain = d;
    }
    if (act === 'l1' && w.strtab.twoLevel) {
      const st = w.strtab;
      const l1i = st.split >= 32 ? 0 : Math.floor(dev.sid / 2 ** st.split);
      w.steAddr(dev.sid); // make sure an L2 table exists
      const l2 = st.l2.get(l1i);
      if (l2 !== undefined) {
        const v = r.weighted<[number, number, bigint]>([
          [2, [l2, 0, 0n]], // span 0: L2 pointer invalid
          [2, [l2, r.int(1, Math.max(1, st.split)), 0n]], // short span: offsets beyond it are C_BAD_STE
          [1, [l2, r.int(st.split + 1, 31), 0n]],
          [1, [unassigned(w, 64), st.split + 1, 0n]], // L2 outside RAM: F_STE_FETCH
          [1, [l2, st.split + 1, 1n << 5n]], // bit 5: QEMU keeps it in the L2 pointer
          [1, [l2, st.split + 1, B(r.int(1, 0xfff)) << 52n]], // high bits: QEMU keeps them too
        ]);
        w.writeL1(l1i, v[0], v[1], v[2]);
      }
    }
    if (act === 'cfg') {
      // re-program the table format / size / split (FMT=2lvl sticks in QEMU 7.2 until reset)
      if (r.chance(0.5)) w.setupLinear(r.int(2, 10));
      else w.setupTwoLevel(r.int(4, 12), r.int(0, 8));
    }
    if (act === 'base') {
      b.mmioW(R.R_STRTAB_BASE, 8, B(r.chance(0.5) ? unassigned(w) : w.strtab.base));
    }
    if (r.chance(0.7)) {
      w.submit([...(r.chance(0.5) ? [cfgiAll()] : invalidation(w, undefined, dev.sid)), sync(w)]);
      w.afterBatch();
    }
    dmaAction(w, dev);
  }
  finish(w);
};

/** Command streams: every opcode (and bad ones), SSEC, CMD_SYNC CS, queue sizes and wrap, raw PROD/CONS, errors and recovery. */
export const cmdq: Family = (w) => {
  const { r } = w;
  bringUp(w, { cmdqLog2: r.weighted([[3, r.int(0, 3)], [2, r.int(4, 6)], [1, r.int(20, 31)]]) });
  if (r.chance(0.5)) {
    w.setupData(dataSizeFor([12]));
    populate(w, 1, [1, 3], 12);
  }
  const rounds = r.int(3, 10);
  for (let i = 0; i < rounds; i++) {
    const act = r.weighted<'burst' | 'opcode' | 'raw' | 'toggle' | 'base' | 'dma'>([[5, 'burst'], [3, 'opcode'], [2, 'raw'], [1, 'toggle'], [1, 'base'], [w.dataSize ? 1 : 0, 'dma']]);
    switch (act) {
      case 'burst':
        cmdBurst(w);
        break;
      case 'opcode':
        opcodeSweep(w);
        break;
      case 'raw':
        rawCmdqIndex(w);
        break;
      case 'toggle':
        cmdqToggle(w);
        break;
      case 'base':
        newCmdq(w);
        break;
      case 'dma':
        dmaAction(w);
        break;
    }
  }
  finish(w);
};

/** A burst of random commands and syncs, maybe published one by one. */
function cmdBurst(w: World): void {
  const { r } = w;
  const n = r.int(1, Math.min(40, w.cmdqEntries * 2 + 2));
  const cmds: Words[] = [];
  for (let k = 0; k < n; k++) cmds.push(r.chance(0.2) ? sync(w) : randomCmd(w));
  w.submit(cmds, r.chance(0.2));
  w.afterBatch();
}

/** A sweep of opcodes from 0x00-0xff, with random fields and maybe SSEC, each followed by a sync. */
function opcodeSweep(w: World): void {
  const { r } = w;
  const k = r.int(1, 8);
  for (let i = 0; i < k; i++) {
    const op = r.int(0, 255);
    const c: Words = [B(op) | (r.u64() & ~0xffn & (r.chance(0.5) ? 0xffffffffffff0000n : ~0n)), r.u64()];
    if (r.chance(0.3)) c[0] |= 1n << 10n;
    else if (r.chance(0.5)) c[0] &= ~(1n << 10n);
    w.submit([c, sync(w)]);
    w.afterBatch();
  }
}

/** A driver that writes PROD/CONS wrongly. */
function rawCmdqIndex(w: World): void {
  const { b, r } = w;
  const n = w.cmdqEntries;
  const v = w.rawIndex(w.cmdq, r.weighted<number>([[2, r.int(0, 2 * n - 1)], [1, r.u32()], [1, (w.cmdq.prod + r.int(1, n)) & (2 * n - 1)]]));
  if (r.chance(0.5)) {
    b.mmioW(R.R_CMDQ_CONS, 4, r.chance(0.5) ? v : v | (r.int(0, 127) << 24));
    b.mmioR(R.R_CMDQ_CONS);
  } else {
    // fill what PROD will expose with commands first
    for (let k = 0; k < Math.min(n, 8); k++) {
      const idx = (w.cmdq.prod + k) & (n - 1);
      b.words(w.cmdq.base + idx * 16, r.chance(0.7) ? randomCmd(w) : sync(w));
    }
    b.mmioW(R.R_CMDQ_PROD, 4, v);
    w.cmdq.prod = v & (2 * n - 1);
    w.afterBatch();
  }
}

/** Commands submitted while CMDQEN is off, then CMDQEN back on. */
function cmdqToggle(w: World): void {
  const { b } = w;
  const cr0 = w.cr0;
  w.writeCr0(cr0 & ~8);
  const cmds = [randomCmd(w), sync(w)];
  w.submit(cmds);
  b.mmioR(R.R_CMDQ_CONS);
  w.writeCr0(cr0 | 8);
  w.afterBatch();
}

/** A new queue (maybe outside RAM: CERROR_ABT) or a new size. */
function newCmdq(w: World): void {
  const { b, r } = w;
  const log2 = r.weighted([[3, r.int(0, 5)], [1, r.int(20, 31)]]);
  const at = r.chance(0.3) ? unassigned(w) : undefined;
  const cr0 = w.cr0;
  if (r.chance(0.7)) w.writeCr0(cr0 & ~8, false);
  w.setupCmdq(log2, at);
  if (r.chance(0.7)) {
    b.mmioW(R.R_CMDQ_PROD, 4, 0);
    b.mmioW(R.R_CMDQ_CONS, 4, 0);
  } else {
    w.cmdq.prod = b.peek(R.R_CMDQ_PROD) & (2 * w.cmdqEntries - 1);
  }
  w.writeCr0(cr0 | 8);
  w.submit([randomCmd(w), sync(w)]);
  w.afterBatch();
  if (at !== undefined && r.chance(0.7)) {
    w.writeCr0(w.cr0 & ~8, false);
    w.setupCmdq(r.int(1, 5));
    b.mmioW(R.R_CMDQ_PROD, 4, 0);
    b.mmioW(R.R_CMDQ_CONS, 4, 0);
    w.writeCr0(w.cr0 | 8);
    b.mmioW(R.R_GERRORN, 4, b.peek(R.R_GERROR));
    w.afterBatch();
  }
}

/** Event queue: small sizes, wrap, full (EVENTQ_ABT_ERR), disabled, outside RAM, raw PROD/CONS, IRQ_CTRL. */
export const evtq: Family = (w) => {
  const { b, r } = w;
  bringUp(w, { evtqLog2: r.weighted([[3, r.int(0, 2)], [2, r.int(3, 5)], [1, r.int(20, 31)]]) });
  w.setupData(dataSizeFor([12]));
  populate(w, 1, [1, 4], 12);
  // some devices fault on everything
  for (const dev of w.devices) if (r.chance(0.4)) setState(w, dev, r.pick(['invalid', 's2', 'cdmax'] as const));
  const rounds = r.int(4, 12);
  for (let i = 0; i < rounds; i++) {
    const act = r.weighted<'fault' | 'drain' | 'toggle' | 'raw' | 'base' | 'irq'>([[6, 'fault'], [3, 'drain'], [1, 'toggle'], [1, 'raw'], [1, 'base'], [1, 'irq']]);
    switch (act) {
      case 'fault': {
        const dev = r.pick(w.devices);
        const len = r.pick([4, 8, 16, 32, 64, r.int(1, 128)]);
        b.dma(dev.sid, pickIova(w, dev, len), pickIova(w, dev, len), len);
        b.mmioR(R.R_EVENTQ_PROD + R.SMMU_PAGE1);
        if (r.chance(0.5)) b.mmioR(R.R_GERROR);
        break;
      }
      case 'drain':
        drainEvents(w, r.chance(0.8));
        break;
      case 'toggle':
        w.writeCr0(w.cr0 ^ 4);
        break;
      case 'raw': {
        const n = 2 ** w.evtq.log2;
        const off = r.chance(0.5) ? R.R_EVENTQ_PROD : R.R_EVENTQ_CONS;
        b.mmioW(off + (r.chance(0.5) ? R.SMMU_PAGE1 : 0), 4, w.rawIndex(w.evtq, r.chance(0.7) ? r.int(0, 2 * n - 1) : r.u32()));
        b.mmioR(off);
        break;
      }
      case 'base': {
        const at = r.chance(0.4) ? unassigned(w) : undefined;
        w.setupEvtq(r.int(0, 4), at);
        if (r.chance(0.5)) {
          b.mmioW(R.R_EVENTQ_PROD + R.SMMU_PAGE1, 4, 0);
          b.mmioW(R.R_EVENTQ_CONS + R.SMMU_PAGE1, 4, 0);
        }
        break;
      }
      case 'irq':
        b.mmioW(R.R_IRQ_CTRL, 4, r.int(0, 7));
        b.mmioR(R.R_IRQ_CTRLACK);
        if (r.chance(0.5)) b.mmioW(R.R_GERRORN, 4, b.peek(R.R_GERROR));
        break;
    }
  }
  finish(w);
};

/** Offsets the register fuzzer favours: every implemented register and a few around them. */
const REG_OFFSETS: readonly number[] = [
  0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x3c, 0x40, 0x44, 0x48, 0x4c, 0x50, 0x54,
  0x58, 0x60, 0x64, 0x68, 0x6c, 0x70, 0x74, 0x78, 0x80, 0x84, 0x88, 0x8c, 0x90, 0x94, 0x98, 0x9c, 0xa0, 0xa4, 0xa8, 0xac,
  0xb0, 0xb4, 0xb8, 0xbc, 0xc0, 0xc4, 0xc8, 0xcc, 0xd0, 0xe0, 0xe4, 0xe8, 0x100, 0xdfc, 0xe00, 0xfc8, 0xfcc, 0xfd0, 0xfd4,
  0xfd8, 0xfdc, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc, 0x1000, 0x2000, 0x8000,
];

/** Register programming: every register, both sizes, halves of 64-bit ones, page 1 aliases, unimplemented offsets. */
export const regs: Family = (w) => {
  const { b, r } = w;
  // the reset state, read back as a driver probes it
  if (r.chance(0.5)) for (const off of REG_OFFSETS) b.mmioR(off + (r.chance(0.2) ? R.SMMU_PAGE1 : 0), 4);
  if (r.chance(0.5)) {
    bringUp(w, { smmuen: r.chance(0.5) });
  } else {
    // the bases reset to address 0 (flash on this machine): point them at scenario memory
    // before random CR0 values can enable anything
    w.setupLinear(r.int(5, 8));
    w.setupCmdq(r.int(0, 8));
    w.setupEvtq(r.int(0, 6));
  }
  w.setupData(dataSizeFor([12]));
  const n = r.int(15, 60);
  const bases = [R.R_STRTAB_BASE, R.R_CMDQ_BASE, R.R_EVENTQ_BASE];
  for (let i = 0; i < n; i++) {
    const off0 = r.chance(0.85) ? r.pick(REG_OFFSETS) : r.int(0, 0x3fff) * 4;
    const off = off0 + (r.chance(0.3) ? R.SMMU_PAGE1 : 0);
    const size: 4 | 8 = r.chance(0.3) ? 8 : 4;
    // naturally aligned only: a CPU takes an alignment fault on a misaligned Device access
    // (qtest alone can issue one; QEMU's memory core then splits it)
    const aligned = size === 8 && off % 8 !== 0 ? off - 4 : off;
    if (r.chance(0.55)) {
      const o = aligned & 0xffff;
      let v: bigint = size === 8 ? r.bits64() : B(r.u32());
      if (bases.includes(o) || bases.includes(o - 4)) {
        // base registers get safe addresses (the SMMU will read or write there)
        const addr = B(safeBase(w, 64, size === 4));
        v = o === R.R_STRTAB_BASE || o === R.R_CMDQ_BASE || o === R.R_EVENTQ_BASE ? (addr | (v & 0xfff000000000003fn)) : addr >> 32n;
        if (size === 4 && bases.includes(o)) v &= 0xffffffffn;
      }
      if (o === R.R_CR0) {
        w.writeCr0(Number(v & 0xffffffffn), false);
        continue;
      }
      if (o === R.R_STRTAB_BASE_CFG && (Number(v) >> 16 & 3) === 1) w.twoLevelSticky = true;
      // queue indices stay inside the memory behind the queues
      if (size === 4 && (o === R.R_CMDQ_PROD || o === R.R_CMDQ_CONS)) v = B(w.rawIndex({ log2: 19, cap: 64 }, Number(v)));
      if (size === 4 && (o === R.R_EVENTQ_PROD || o === R.R_EVENTQ_CONS)) v = B(w.rawIndex({ log2: 19, cap: 64 }, Number(v)));
      b.mmioW(aligned, size, v);
      if (o >= R.R_STRTAB_BASE && o <= R.R_STRTAB_BASE_CFG) w.ensureSafeStrtab();
      if (o >= R.R_CMDQ_BASE && o < R.R_EVENTQ_BASE + 8) w.ensureSafeQueues();
    }
    b.mmioR(aligned, size);
  }
  // what a full readback shows
  for (const off of REG_OFFSETS.slice(0, 48)) if (r.chance(0.4)) b.mmioR(off, 4);
  for (const off of [R.R_STRTAB_BASE, R.R_CMDQ_BASE, R.R_EVENTQ_BASE, R.R_GERROR_IRQ_CFG0, R.R_EVENTQ_IRQ_CFG0]) if (r.chance(0.5)) b.mmioR(off, 8);
  if (r.chance(0.3)) for (let i = 0; i < 3; i++) dmaAction(w);
  finish(w);
};

/** SMMUEN = 0: everything bypasses (QEMU 7.2 ignores GBPA); caches outlive the disable. */
export const disabled: Family = (w) => {
  const { b, r } = w;
  bringUp(w, { smmuen: r.chance(0.5) });
  w.setupData(dataSizeFor([12]));
  if (r.chance(0.6)) populate(w, 1, [1, 4], 12);
  const rounds = r.int(3, 8);
  for (let i = 0; i < rounds; i++) {
    const act = r.weighted<'gbpa' | 'toggle' | 'dma'>([[2, 'gbpa'], [2, 'toggle'], [4, 'dma']]);
    if (act === 'gbpa') {
      b.mmioW(R.R_GBPA, 4, r.weighted<number>([[2, 0x80100000], [1, 0x80000000 | r.int(0, 0x1fffff)], [1, r.u32()], [1, 0x100000]]));
      b.mmioR(R.R_GBPA);
    } else if (act === 'toggle') {
      w.writeCr0(w.cr0 ^ 1);
    } else {
      dmaAction(w);
    }
  }
  finish(w);
};

/** More than 256 IOTLB entries (QEMU flushes the whole IOTLB when full), then stale probes. */
export const iotlb: Family = (w) => {
  const { r } = w;
  bringUp(w, { strtab: 'linear', strtabLog2: 8, cmdqLog2: 6, evtqLog2: 6 });
  w.setupData(dataSizeFor([12]));
  const d = w.newDomain({ granule: 12, tsz: r.pick([16, 25, 28, 32]), tt1: false, cdFields: { r: 1, ips: 5 } });
  // one IOTLB entry per page: QEMU flushes the whole IOTLB when an insert finds 256 entries
  const pages = r.int(270, 420);
  const maps: Mapping[] = [];
  for (let i = 0; i < pages; i++) {
    const m = mapRandom(w, d, { level: 3, ro: false });
    if (m) maps.push(m);
  }
  const dev = r.pick(w.devices);
  attach(w, dev, d);
  dev.domain = d;
  const probe = maps.slice(0, 4);
  for (const m of probe) w.b.dma(dev.sid, m.iova, maps[maps.length - 1].iova, 4);
  // change the probes' PTEs without invalidation: they stay cached until the IOTLB fills
  for (const m of probe) w.b.memW(m.desc, 8, r.chance(0.5) ? 0n : w.b.peek64(m.desc) ^ (2n << 6n));
  for (let i = 0; i + 1 < maps.length; i += 2) w.b.dma(dev.sid, maps[i].iova & ~3n, maps[i + 1].iova & ~3n, 4);
  for (const m of probe) w.b.dma(dev.sid, m.iova, m.iova, 4);
  w.observeData();
  if (r.chance(0.5)) {
    w.submit([tlbiCmd(w, C.CMD_TLBI_NH_VA, probe[0]), sync(w)]);
    w.afterBatch();
    for (const m of probe) w.b.dma(dev.sid, m.iova, m.iova, 4);
  }
  finish(w);
};

/** Everything at once, hostile more often. */
export const mixed: Family = (w) => {
  const { b, r } = w;
  w.chaos = 0.3;
  bringUp(w);
  w.setupData(dataSizeFor([12, 14, 16]));
  populate(w, r.int(1, 3), [1, 6]);
  const rounds = r.int(6, 16);
  for (let i = 0; i < rounds; i++) {
    const act = r.weighted<string>([[6, 'dma'], [3, 'mutate'], [3, 'inval'], [2, 'cmds'], [1, 'map'], [1, 'cr0'], [1, 'events'], [1, 'reg']]);
    switch (act) {
      case 'dma':
        dmaAction(w);
        break;
      case 'mutate':
        mutate(w);
        break;
      case 'inval': {
        w.submit([...invalidation(w), sync(w)]);
        w.afterBatch();
        break;
      }
      case 'cmds': {
        const cmds: Words[] = [];
        for (let k = 0; k < r.int(1, 8); k++) cmds.push(randomCmd(w));
        w.submit(cmds);
        w.afterBatch();
        break;
      }
      case 'map':
        if (w.domains.length) mapRandom(w, r.pick(w.domains));
        break;
      case 'cr0':
        w.writeCr0(w.cr0 ^ r.pick([1, 4, 8]));
        if ((w.cr0 & 8) === 0 && r.chance(0.7)) w.writeCr0(w.cr0 | 8);
        break;
      case 'events':
        drainEvents(w, r.chance(0.7));
        break;
      case 'reg':
        b.mmioW(R.R_IRQ_CTRL, 4, r.int(0, 7));
        b.mmioR(r.pick([R.R_IRQ_CTRLACK, R.R_GERROR, R.R_GERRORN, R.R_CR0ACK, R.R_STATUSR]));
        break;
    }
  }
  finish(w);
};
