// The guest's translation tables while a scenario is generated: the table tree
// (io-pgtable style, with hostile variations; stage2.ts builds stage-2 trees with it), its
// table and leaf descriptors, and the mappings a driver places in a domain's tables.

import { ARENAS } from './builder.js';
import type { Rng } from './rng.js';
import type { World, Tt, Domain, Mapping } from './world.js';
import { safeIova, safeThroughBlocks, unassigned } from './safe-memory.js';

const B = BigInt;
const TWO48 = 1n << 48n;

/** A stage-1 translation table tree built by the guest (io-pgtable style), with hostile variations. */
export class PageTable {
  readonly stride: number;
  readonly inputsize: number;
  readonly start: number;
  readonly rootBytes: number;
  readonly root: number;
  /** Every table of the tree (guest physical addresses). */
  readonly tables = new Set<number>();

  /**
   * `start`: the start level when the guest chooses it (stage 2's SL0; stage 1 derives it
   * from the input size). A start level that resolves more than `stride` bits means
   * concatenated start tables (stage 2 only), laid out one after the other.
   */
  constructor(private readonly w: World, readonly granule: 12 | 14 | 16, readonly tsz: number, start?: number) {
    this.stride = granule - 3;
    this.inputsize = 64 - tsz;
    this.start = start ?? 4 - Math.floor((this.inputsize - 4) / this.stride);
    this.rootBytes = 2 ** (this.inputsize - this.stride * (4 - this.start));
    this.root = w.b.alloc(Math.max(this.rootBytes, 64), Math.max(this.rootBytes, 64));
    this.tables.add(this.root);
  }

  shift(level: number): number {
    return this.granule + (3 - level) * this.stride;
  }

  index(iova: bigint, level: number): number {
    const masked = iova & ((1n << B(this.inputsize)) - 1n);
    const idx = masked >> B(this.shift(level));
    // the start level indexes the (maybe concatenated) root with every bit left
    return Number(level === this.start ? idx : idx & ((1n << B(this.stride)) - 1n));
  }

  /** Address of the descriptor for `iova` at `level`, creating (or re-creating) the tables above it. */
  descAddr(iova: bigint, level: number): number {
    const b = this.w.b;
    let table = this.root;
    for (let l = this.start; l < level; l++) {
      const d = table + this.index(iova, l) * 8;
      const pte = b.peek64(d);
      const next = this.w.physOf(pte & 0x0000ffffffffffffn & ~((1n << B(this.granule)) - 1n), this);
      if ((pte & 3n) === 3n && this.tables.has(next)) {
        table = next;
        continue;
      }
      const t = b.alloc(2 ** this.granule, 2 ** this.granule);
      this.tables.add(t);
      b.memW(d, 8, tableDesc(this.w, t, this));
      table = t;
    }
    return table + this.index(iova, level) * 8;
  }

  /** An existing table descriptor above `level` on the walk of `iova` (for hostile edits), with its level. */
  upperDesc(iova: bigint, level: number): { addr: number; level: number } | undefined {
    const b = this.w.b;
    let table = this.root;
    let last: { addr: number; level: number } | undefined;
    for (let l = this.start; l < level; l++) {
      const d = table + this.index(iova, l) * 8;
      const pte = b.peek64(d);
      const next = this.w.physOf(pte & 0x0000ffffffffffffn & ~((1n << B(this.granule)) - 1n), this);
      if ((pte & 3n) !== 3n || !this.tables.has(next)) return last;
      last = { addr: d, level: l };
      table = next;
    }
    return last;
  }

  /** A fresh, empty table of this tree (for a descriptor that becomes a table descriptor). */
  newTable(): number {
    const t = this.w.b.alloc(2 ** this.granule, 2 ** this.granule);
    this.tables.add(t);
    return t;
  }
}

// ---- descriptors ------------------------------------------------------------------------------

/** A table descriptor with random APTable and ignored attribute bits. */
export function tableDesc(w: World, addr: number, tree?: PageTable): bigint {
  let v = w.ipaOf(addr, tree) | 3n;
  const r = w.r;
  if (r.chance(0.15 + w.chaos)) v |= B(r.int(0, 3)) << 61n; // APTable
  if (r.chance(w.chaos)) v |= B(r.int(0, 1)) << 63n | B(r.int(0, 3)) << 59n; // NSTable, XN/PXNTable
  if (r.chance(w.chaos)) v |= B(r.int(0, 0x7f)) << 52n; // ignored
  if (r.chance(w.chaos)) v |= B(r.int(0, 0x3ff)) << 2n; // ignored low bits
  return v;
}

/** A block or page descriptor for output `pa` at `level`. */
export function leafDesc(w: World, pa: number, level: number, o: { ro?: boolean; junkAddr?: number } = {}): bigint {
  const r = w.r;
  let v = B(pa) | (level === 3 ? 3n : 1n);
  const ro = o.ro ?? r.chance(0.25);
  if (ro) v |= 2n << 6n; // AP[2] write protect
  if (r.chance(0.6)) v |= 1n << 6n; // AP[1] (EL0): ignored for privileged accesses
  if (r.chance(0.8)) v |= 1n << 10n; // AF (QEMU 7.2 ignores it)
  if (r.chance(0.5)) v |= 3n << 8n; // SH
  if (r.chance(0.5)) v |= B(r.int(0, 7)) << 2n; // AttrIndx
  if (r.chance(0.2)) v |= 1n << 11n; // nG
  if (r.chance(w.chaos + 0.1)) v |= B(r.int(0, 0xfff)) << 52n; // Contiguous, PXN, XN, software bits
  if (o.junkAddr) v |= B(o.junkAddr);
  return v;
}

// ---- mappings ---------------------------------------------------------------------------------

/** Picks a TT of the domain. */
export function pickTt(w: World, d: Domain): Tt {
  return d.tts[1] && w.r.chance(0.4) ? d.tts[1] : d.tts[0]!;
}

/** An IOVA inside the TT's range that is also a safe physical address, aligned to `align`. */
export function iovaIn(w: World, tt: Tt, align: bigint): bigint | undefined {
  const lo0 = w.lowIova ? tt.lo : maxB(tt.lo, B(ARENAS[0].base));
  const hi = minB(tt.hi, TWO48);
  for (let i = 0; i < 8; i++) {
    const lo = alignUp(lo0, align);
    if (lo >= hi) return undefined;
    const span = (hi - lo) / align;
    const k = span <= 1n ? 0n : randBig(w.r, span);
    const iova = lo + k * align;
    // room for an offset into the page and a DMA running on: safe even if the device bypasses
    const room = Number(align > 0x1000000n ? 0x3000n : align + 0x2000n);
    if ((w.lowIova || safeIova(iova, room)) && safeThroughBlocks(w, iova, room)) return iova;
  }
  return undefined;
}

/**
 * Maps something in domain d: a page or a block at a level the granule allows (QEMU
 * 7.2 also takes level-0 and 16K/64K level-1 blocks, which the architecture forbids).
 */
export function mapRandom(w: World, d: Domain, o: { level?: number; ro?: boolean; tt?: Tt; leaf?: (out: number, level: number) => bigint } = {}): Mapping | undefined {
  const r = w.r;
  const tt = o.tt ?? pickTt(w, d);
  const pt = tt.pt;
  const level = o.level ?? r.weighted([[6, 3], [2, 2], [1, 1], [1, 0]].filter(([, l]) => l >= pt.start && (l as number) <= 3) as Array<[number, number]>);
  if (level < pt.start) return undefined;
  const size = 2n ** B(pt.shift(level));
  if (size > tt.hi - tt.lo) return undefined;
  let target: number;
  let out: number;
  const unassignedOut = r.chance(0.06 + w.chaos * 0.1);
  if (size <= B(w.dataSize)) {
    // the whole page or block lies in the data area
    out = unassignedOut ? unassigned(w, Number(size)) : w.data + r.int(0, Math.floor(w.dataSize / Number(size)) - 1) * Number(size);
    target = out;
  } else {
    target = unassignedOut ? unassigned(w, 0x1000) : w.dataAddr(0x1000, 0x1000);
    out = Number(B(target) & ~(size - 1n));
  }
  const base = iovaIn(w, tt, size);
  if (base === undefined) return undefined;
  const winOff = B(target - out);
  const winLen = size <= B(w.dataSize) ? Number(size) : Math.min(0x1000 * r.int(1, 4), w.data + w.dataSize - target);
  const desc = pt.descAddr(base, level);
  const oa = Number(w.ipaOf(out, pt)); // stage-1 outputs of a nested guest are IPAs
  if (r.chance(0.04 + w.chaos * 0.1)) {
    // a hole that is not all zeros: invalid (bit 0 clear) with junk, or reserved at level 3
    const v = level === 3 && r.chance(0.5) ? leafDesc(w, oa, 3) & ~2n : leafDesc(w, oa, level) & ~1n;
    w.b.memW(desc, 8, v);
    return undefined;
  }
  const junk = level < 3 && r.chance(w.chaos) ? r.int(1, 2 ** Math.min(20, pt.shift(level) - 12) - 1) * 0x1000 : 0; // address bits below the block size: ignored
  w.b.memW(desc, 8, (o.leaf ?? ((a: number, l: number) => leafDesc(w, a, l, { ro: o.ro })))(oa, level) | B(junk & (Number(size) - 1)));
  if (size > B(w.dataSize) && !unassignedOut) w.ramBlocks.push({ base, size, out: B(out) });
  const m: Mapping = { d, iova: base + winOff, len: Math.max(1, winLen), level, desc, tt };
  d.mappings.push(m);
  return m;
}
function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}
function maxB(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
function minB(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
function randBig(r: Rng, n: bigint): bigint {
  if (n <= 0n) return 0n;
  if (n < 2n ** 32n) return B(Math.floor(r.float() * Number(n)));
  return (r.u64() % n);
}
