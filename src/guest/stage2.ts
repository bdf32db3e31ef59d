// Stage-2 translation tables as a guest hypervisor (or Linux's stage-2 domain) builds
// them (Arm ARM D8, IHI 0070 5.2): a VMID, an IPA size, a start level (S2SL0) with
// concatenated start tables when the IPA size needs more than one, and leaves with
// S2AP permissions. The tables live in guest memory allocated from the guest driver.

import { pteTable, pteS2Leaf, type S2Fields } from './encode.js';

/** What a stage-2 table builder needs from the guest driver. */
export interface TableMemory {
  alloc(size: number, align?: number): number;
  read64(addr: number): bigint;
  write64(addr: number, v: bigint): void;
}

export interface Stage2Options {
  vmid: number;
  /** Granule in bytes (4096, 16384, 65536; default 4096). */
  granule?: number;
  /** IPA size in bits (S2T0SZ = 64 - ipaBits; default 40). */
  ipaBits?: number;
  /** S2SL0; by default the start level nearest the leaves that needs at most 16 concatenated tables (as Linux). */
  sl0?: number;
  /** STE fields to add (S2R, S2AFFD, S2PS, ...). */
  ste?: Partial<S2Fields>;
}

const TG: Record<number, number> = { 4096: 0, 65536: 1, 16384: 2 };

export class Stage2Tables {
  readonly vmid: number;
  readonly granule: number;
  readonly ipaBits: number;
  readonly sl0: number;
  readonly startLevel: number;
  /** The start table(s): S2TTB. */
  readonly root: number;
  /** Entries of the (concatenated) start table. */
  readonly rootEntries: number;
  private readonly g: number;
  private readonly stride: number;
  private readonly extra: Partial<S2Fields>;

  constructor(private readonly mem: TableMemory, o: Stage2Options) {
    this.vmid = o.vmid;
    this.granule = o.granule ?? 4096;
    if (!(this.granule in TG)) throw new RangeError(`stage 2: granule must be 4096, 16384 or 65536, got ${this.granule}`);
    this.ipaBits = o.ipaBits ?? 40;
    this.g = Math.log2(this.granule);
    this.stride = this.g - 3;
    const levelOf = (sl0: number): number => (this.g === 12 ? 2 - sl0 : 3 - sl0);
    let sl0 = o.sl0;
    if (sl0 === undefined) {
      sl0 = [0, 1, 2].find((s) => levelOf(s) >= 0 && this.concatBits(levelOf(s)) <= 4) ?? 2;
    }
    this.sl0 = sl0;
    this.startLevel = levelOf(sl0);
    const bits = Math.max(0, this.ipaBits - this.levelShift(this.startLevel));
    this.rootEntries = 2 ** bits;
    const bytes = Math.max(8 * this.rootEntries, 64);
    this.root = mem.alloc(bytes, Math.max(bytes, 64));
    this.extra = o.ste ?? {};
  }

  private levelShift(level: number): number {
    return this.g + (3 - level) * this.stride;
  }

  /** How many bits of start-table index lie above one table (log2 of the concatenated tables). */
  private concatBits(level: number): number {
    return this.ipaBits - this.levelShift(level) - this.stride;
  }

  /** The STE's stage-2 fields for these tables. */
  steFields(): S2Fields {
    return { vmid: this.vmid, ttb: this.root, t0sz: 64 - this.ipaBits, sl0: this.sl0, tg: TG[this.granule], ...this.extra };
  }

  private index(ipa: number, level: number): number {
    const n = Math.floor(ipa / 2 ** this.levelShift(level));
    return level === this.startLevel ? n % this.rootEntries : n % 2 ** this.stride;
  }

  /** Address of the descriptor for `ipa` at `level`, creating the tables above it. */
  descriptor(ipa: number, level: number): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const addr = table + this.index(ipa, l) * 8;
      const pte = this.mem.read64(addr);
      if ((pte & 3n) !== 3n) {
        const t = this.mem.alloc(this.granule, this.granule);
        this.mem.write64(addr, pteTable({ addr: t }));
        table = t;
      } else {
        table = Number(pte & 0x0000fffffffff000n);
      }
    }
    return table + this.index(ipa, level) * 8;
  }

  /** Maps [ipa, ipa + size) to pa with leaves at `level` (default 3: pages), S2AP `s2ap` (default read+write). */
  map(ipa: number, pa: number, size: number, o: { s2ap?: number; af?: boolean; level?: number } = {}): void {
    const level = o.level ?? 3;
    const step = 2 ** this.levelShift(level);
    for (let off = 0; off < size; off += step) {
      this.mem.write64(this.descriptor(ipa + off, level), pteS2Leaf({ addr: pa + off, s2ap: o.s2ap, af: o.af }, level));
    }
  }

  /** Removes the leaves of [ipa, ipa + size) at `level`. */
  unmap(ipa: number, size: number, level = 3): void {
    const step = 2 ** this.levelShift(level);
    for (let off = 0; off < size; off += step) this.mem.write64(this.descriptor(ipa + off, level), 0n);
  }
}
