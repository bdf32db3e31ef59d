// A guest's view of one SMMU while a scenario is generated: what it programmed
// (stream table, queues, CR0), its devices, address spaces (CDs and page tables) and
// mappings, and the actions a driver (careful, careless or hostile) takes on them.
// Everything goes through the Builder, which records trace operations. The page tables and
// mappings are in page-tables.ts, safe addresses in safe-memory.ts, commands in
// command-gen.ts, DMA and event-queue reads in traffic.ts.
//
// Safety rules (QEMU is a whole machine, not just an SMMU): every address the SMMU may
// access for us (queues, tables, DMA targets) is guest RAM outside what QEMU wrote at
// boot, or unassigned memory at or above 0x50000000; and every IOVA a device uses is
// such an address too, because a device that ends up in bypass (SMMUEN = 0, an STE that
// says bypass, a stale cached bypass configuration) uses its IOVA as a physical address.
// The only exception is a scenario with small input ranges ("low IOVAs"), which then
// never lets a device bypass.

import type { Builder } from './builder.js';
import type { Rng } from './rng.js';
import * as R from '../arch/registers.js';
import * as C from '../arch/commands.js';
import { put, type Words } from '../guest/encode.js';
import * as CD from '../arch/cd.js';
import { QEMU72, type QemuTarget } from '../qtest/target.js';
import { PageTable } from './page-tables.js';
import { safeBase, safeIova } from './safe-memory.js';
import { randomCmd } from './command-gen.js';

const B = BigInt;

export interface Tt {
  pt: PageTable;
  /** IOVA range [lo, hi) this table translates (as QEMU's select_tt chooses it). */
  lo: bigint;
  hi: bigint;
}

export interface Domain {
  asid: number;
  cd: number;
  tts: [Tt | undefined, Tt | undefined];
  mappings: Mapping[];
}

export interface Mapping {
  d: Domain;
  /** IOVA window whose output lies in safe memory. */
  iova: bigint;
  len: number;
  level: number;
  desc: number;
  tt: Tt;
}

export type DevState = 'none' | 's1' | 's2' | 'nested' | 'bypass' | 'abort' | 'bad';

export interface Device {
  sid: number;
  state: DevState;
  domain?: Domain;
  /** Set once the device may use its IOVAs as physical addresses. */
  mayBypass: boolean;
}

export interface WorldOptions {
  /** IOVAs below RAM are used (small input ranges): bypass is then never allowed. */
  lowIova?: boolean;
  /** The SMMU the scenario is written for (default QEMU 7.2, stage 1). */
  target?: QemuTarget;
  /** Hostility level 0..1: how often actions do the wrong thing on purpose. */
  chaos?: number;
}

export class World {
  readonly r: Rng;
  devices: Device[];
  domains: Domain[] = [];
  readonly lowIova: boolean;
  readonly target: QemuTarget;
  /**
   * Nested scenarios: the guest's stage-1 structures (CDs, tables, output pages) are
   * named by IPA = PA + ipaDelta, which the guest hypervisor's stage 2 maps back.
   */
  ipaDelta = 0n;
  /** Tables of trees whose pointers are PAs even when ipaDelta is set (stage-2 tables). */
  readonly physTrees = new Set<PageTable>();
  /** Stage-2 configuration for STE kinds that enable stage 2 when the SMMU has it (see stage2.ts). */
  s2Fallback?: (w: Words) => void;
  chaos: number;
  data = 0;
  dataSize = 0;
  // programmed state
  strtab = { base: 0, log2size: 0, twoLevel: false, split: 0, l2: new Map<number, number>() };
  /** Once a 2-level format was written, QEMU keeps it until reset. */
  twoLevelSticky = false;
  /** cap: entries of guest memory behind the queue (raw PROD/CONS values stay below it). */
  cmdq = { base: 0, log2: 0, prod: 0, cap: 1 };
  evtq = { base: 0, log2: 0, cap: 1 };
  private asidNext: number;
  /** Blocks mapped to RAM around the data area: only their windows are safe (see safeThroughBlocks). */
  ramBlocks: Array<{ base: bigint; size: bigint; out: bigint }> = [];

  constructor(readonly b: Builder, opts: WorldOptions = {}) {
    this.r = b.r;
    this.devices = b.devices.map((sid) => ({ sid, state: 'none', mayBypass: false }));
    this.lowIova = opts.lowIova ?? false;
    this.target = opts.target ?? QEMU72;
    this.chaos = opts.chaos ?? 0.1;
    this.asidNext = this.r.chance(0.5) ? this.r.int(0, 0xffff) : this.r.int(0, 16);
  }

  get canBypass(): boolean {
    return !this.lowIova;
  }

  /** QEMU 10.0 (any stage): its aborts must be avoided (CD.IPS 6/7, S2AA64 = 0 with stage 2). */
  get qemu10(): boolean {
    return this.target.profile === 'qemu-10.0';
  }

  /** The SMMU implements stage 2 (qemu-10.0 stage 2 or nested). */
  get hasS2(): boolean {
    return this.qemu10 && this.target.stage !== '1';
  }

  /** The address a stage-1 structure of `tree` uses for guest physical address `pa`. */
  ipaOf(pa: number | bigint, tree?: PageTable): bigint {
    return tree && this.physTrees.has(tree) ? B(pa) : B(pa) + this.ipaDelta;
  }

  /** The guest physical address behind a pointer found in a table of `tree`. */
  physOf(addr: bigint, tree?: PageTable): number {
    return Number(tree && this.physTrees.has(tree) ? addr : addr - this.ipaDelta);
  }

  /**
   * After arbitrary writes to CMDQ_BASE / EVENTQ_BASE (a 32-bit half alone, say): if a
   * queue no longer lies in safe memory, the driver re-programs it. Returns whether it did.
   */
  ensureSafeQueues(): boolean {
    let fixed = false;
    const cq = this.b.peekReg64(R.R_CMDQ_BASE) & 0x000fffffffffffc0n;
    if (!safeIova(cq, 64 * 16)) {
      this.setupCmdq(this.r.int(0, 6));
      fixed = true;
    }
    const eq = this.b.peekReg64(R.R_EVENTQ_BASE) & 0x000fffffffffffc0n;
    if (!safeIova(eq, 64 * 32)) {
      this.setupEvtq(this.r.int(0, 6));
      fixed = true;
    }
    return fixed;
  }

  // ---- data area ----------------------------------------------------------------------------

  /** The RAM DMA reads from and writes to, with a few random patterns in it. */
  setupData(size: number): void {
    this.dataSize = size;
    // a guard after it: DMA that runs past a window's end stays in scenario memory
    this.data = this.b.alloc(size + 0x2000, 0x10000);
    const n = this.r.int(2, 6);
    for (let i = 0; i < n; i++) {
      const len = this.r.pick([16, 64, 256, 1024]);
      const off = this.r.int(0, (size - len) / 16) * 16;
      this.b.fill(this.data + off, this.r.bytes(len));
    }
  }

  /** A physical address inside the data area, `room` bytes from its end. */
  dataAddr(room = 0x1000, align = 1): number {
    const span = Math.max(align, this.dataSize - room);
    return this.data + Math.floor(this.r.int(0, span - 1) / align) * align;
  }

  observeData(): void {
    this.b.digest(this.data, this.dataSize);
  }

  // ---- registers ----------------------------------------------------------------------------

  get cr0(): number {
    return this.b.peek(R.R_CR0);
  }

  /** Writes CR0 (keeping SMMUEN when bypass is not allowed) and reads CR0ACK. */
  writeCr0(v: number, observe = true): void {
    if (!this.canBypass) v |= 1;
    if ((v & 1) === 0) for (const d of this.devices) d.mayBypass = true;
    this.b.mmioW(R.R_CR0, 4, v >>> 0);
    if (observe) this.b.mmioR(R.R_CR0ACK);
  }

  /** A queue base register value: address, LOG2SIZE and random upper / RA bits. */
  qbase(addr: number, log2: number): bigint {
    let v = B(addr) | B(log2 & 0x1f);
    if (this.r.chance(0.3)) v |= 1n << 62n; // RA
    if (this.r.chance(this.chaos)) v |= B(this.r.int(0, 0x7ff)) << 52n; // ignored high bits
    if (this.r.chance(this.chaos)) v |= B(this.r.int(0, 1)) << 5n;
    return v;
  }

  // ---- stream table ---------------------------------------------------------------------------

  /** Linear stream table with 2^log2size entries. */
  setupLinear(log2size: number, unalignedBase = false): void {
    // QEMU aligns the base to 2^(LOG2SIZE + 5) whatever SIDSIZE says: huge sizes only with a base outside RAM
    if (log2size > 21) {
      const base = 2 ** 47; // aligned for LOG2SIZE up to 42
      this.writeStrtabBase(base);
      this.strtab = { base, log2size, twoLevel: this.twoLevelSticky, split: this.strtab.split, l2: new Map() };
      this.b.mmioW(R.R_STRTAB_BASE_CFG, 4, log2size & 0x3f);
      return;
    }
    const bytes = 64 * 2 ** Math.min(log2size, 16);
    // QEMU aligns the base down to 2^(LOG2SIZE + 5), half the table's size: with an
    // unaligned base register the table may start half way into the allocation
    const alloc = this.b.alloc(2 * bytes, Math.max(bytes, 2 ** (log2size + 5)));
    const reg = unalignedBase ? alloc + this.r.int(0, bytes / 64 - 1) * 64 : alloc;
    const base = Math.floor(reg / 2 ** (log2size + 5)) * 2 ** (log2size + 5);
    this.writeStrtabBase(reg);
    this.strtab = { base, log2size, twoLevel: this.twoLevelSticky, split: this.strtab.split, l2: new Map() };
    const fmt = this.r.chance(this.chaos * 0.3) ? 2 : 0; // FMT 2 is reserved: QEMU treats it as linear
    this.b.mmioW(R.R_STRTAB_BASE_CFG, 4, (fmt << 16) | (log2size & 0x3f) | (this.r.chance(this.chaos) ? this.r.int(0, 31) << 6 : 0));
  }

  /** 2-level stream table. */
  setupTwoLevel(log2size: number, split: number): void {
    const l1n = 2 ** Math.max(0, Math.min(log2size, 16) - split);
    const bytes = Math.max(64, 8 * l1n);
    // QEMU aligns the L1 table to 2^max(5, LOG2SIZE - SPLIT + 2), not bounded by SIDSIZE
    const base = this.b.alloc(bytes, Math.max(bytes, 2 ** Math.max(5, log2size - split + 2)));
    this.writeStrtabBase(base);
    this.strtab = { base, log2size, twoLevel: true, split, l2: new Map() };
    this.twoLevelSticky = true;
    this.b.mmioW(R.R_STRTAB_BASE_CFG, 4, (1 << 16) | ((split & 0x1f) << 6) | (log2size & 0x3f));
  }

  private writeStrtabBase(addr: number): void {
    let v = B(addr);
    if (this.r.chance(0.3)) v |= 1n << 62n;
    if (this.r.chance(this.chaos)) v |= B(this.r.int(0, 0x7ff)) << 52n;
    if (this.r.chance(0.5)) this.b.mmioW(R.R_STRTAB_BASE, 8, v);
    else {
      this.b.mmioW(R.R_STRTAB_BASE, 4, Number(v & 0xffffffffn));
      this.b.mmioW(R.R_STRTAB_BASE + 4, 4, Number(v >> 32n));
    }
  }

  /**
   * After arbitrary writes to STRTAB_BASE / STRTAB_BASE_CFG: where QEMU would now look
   * for the STEs (or level-1 descriptors) of our devices; if that is not safe memory
   * (QEMU aligns the base down to the table size: address 0 is flash here), a driver-like
   * re-programming of the stream table. Returns whether it re-programmed.
   */
  ensureSafeStrtab(): boolean {
    const reg = this.b.peekReg64(R.R_STRTAB_BASE);
    const cfg = this.b.peek(R.R_STRTAB_BASE_CFG);
    const log2 = cfg & 0x3f;
    if (((cfg >> 16) & 3) === 1) {
      this.twoLevelSticky = true;
      this.strtab.split = (cfg >> 6) & 0x1f;
    }
    const split = this.strtab.split;
    const shift = this.twoLevelSticky ? Math.max(5, log2 - split - 1 + 3) : log2 + 5;
    const eff = (reg & 0x000fffffffffffc0n) & ~((1n << B(Math.min(shift, 63))) - 1n);
    const maxSid = Math.max(...this.devices.map((d) => d.sid));
    const span = this.twoLevelSticky ? (split >= 32 ? 0 : Math.floor(maxSid / 2 ** split)) * 8 + 8 : maxSid * 64 + 64;
    if (safeIova(eff, span)) return false;
    this.setupLinear(this.r.int(5, 8));
    return true;
  }

  /** Whether QEMU can find an STE for `sid` at all (SID in range). */
  sidInRange(sid: number): boolean {
    return sid < 2 ** Math.min(this.strtab.log2size, 16);
  }

  /** Address of the STE of `sid` (allocating its level-2 table), or undefined when none can exist. */
  steAddr(sid: number): number | undefined {
    const st = this.strtab;
    if (!this.sidInRange(sid)) return undefined;
    if (!st.twoLevel) return st.base + sid * 64;
    const split = st.split;
    const l1i = split >= 32 ? 0 : Math.floor(sid / 2 ** split);
    const l2off = sid % 2 ** split;
    let l2 = st.l2.get(l1i);
    if (l2 === undefined) {
      const n = 2 ** Math.min(split, 12);
      l2 = this.b.alloc(64 * n, 64 * n);
      st.l2.set(l1i, l2);
      this.writeL1(l1i, l2, split + 1);
    }
    if (l2off >= 2 ** Math.min(split, 12)) return undefined;
    return l2 + l2off * 64;
  }

  /** Writes the level-1 descriptor `l1i` (span normally split + 1). */
  writeL1(l1i: number, l2: number, span: number, extra = 0n): void {
    this.b.memW(this.strtab.base + l1i * 8, 8, B(l2) | B(span & 0x1f) | extra);
  }

  /** Writes an STE; notes whether the device may now bypass. */
  writeSte(sid: number, w: Words): boolean {
    const a = this.steAddr(sid);
    if (a === undefined) return false;
    const valid = (w[0] & 1n) === 1n;
    const config = Number((w[0] >> 1n) & 7n);
    const dev = this.devices.find((d) => d.sid === sid);
    if (valid && config === 4) {
      if (!this.canBypass) throw new Error('world: bypass STE in a low-IOVA scenario');
      if (dev) dev.mayBypass = true;
    }
    this.b.words(a, w);
    return true;
  }

  // ---- STE and CD encodings -------------------------------------------------------------------------

  /** STE words of a kind; `cd` is the context descriptor address for stage-1 kinds. */
  steWords(kind: 's1' | 'bypass' | 'abort' | 'invalid' | 's2' | 'nested' | 'cdmax' | 'stalld' | 'garbage', cd = 0): Words {
    const r = this.r;
    const w: Words = new Array(8).fill(0n);
    const junk = r.chance(this.chaos + 0.2);
    if (junk) {
      // fields QEMU 7.2 ignores: S1Fmt, S1DSS, CIR/COR/CSH, EATS, STRW, words 2-7
      w[0] |= B(r.int(0, 3)) << 4n;
      w[1] = B(r.u32() & ~(1 << 27)) | (B(r.int(0, 0xffff)) << 32n);
      for (let i = 2; i < 8; i++) if (r.chance(0.4)) w[i] = r.u64();
    }
    const setCfg = (v: number, config: number) => {
      w[0] = (w[0] & ~0xfn) | B(v) | (B(config) << 1n);
    };
    switch (kind) {
      case 's1':
      case 'cdmax':
      case 'stalld':
        setCfg(1, 5);
        w[0] |= this.ipaOf(cd) & 0x0000ffffffffffc0n;
        if (r.chance(this.chaos)) w[0] |= B(r.int(1, 15)) << 48n; // S1ContextPtr[51:48]: QEMU reads 47:6
        if (kind === 'cdmax') w[0] |= B(r.int(1, 31)) << 59n;
        else w[0] &= ~(0x1fn << 59n);
        if (kind === 'stalld') w[1] |= 1n << 27n;
        else w[1] &= ~(1n << 27n);
        break;
      case 'bypass':
        setCfg(1, 4);
        break;
      case 'abort':
        setCfg(1, r.int(0, 3));
        break;
      case 'invalid':
        setCfg(0, r.int(0, 7));
        if (r.chance(0.5)) w[0] |= B(cd) & 0x0000ffffffffffc0n;
        break;
      case 's2':
        setCfg(1, 6);
        break;
      case 'nested':
        setCfg(1, 7);
        w[0] |= this.ipaOf(cd) & 0x0000ffffffffffc0n;
        break;
      case 'garbage':
        for (let i = 0; i < 8; i++) w[i] = r.u64();
        if (!this.canBypass && (w[0] & 0xfn) === 9n) w[0] ^= 2n; // never bypass here
        // whatever it says, the CD pointer QEMU may follow (bits 47:6) points at safe memory
        w[0] = (w[0] & ~0x0000ffffffffffc0n) | (B(r.chance(0.5) ? cd || safeBase(this) : safeBase(this)) & 0x0000ffffffffffc0n);
        break;
    }
    // On an SMMU with stage 2, an STE that enables it is decoded: QEMU 10.0 aborts on
    // S2AA64 = 0, and S2TTB must lead to safe memory. Such STEs get a sane stage 2.
    const cfg = Number((w[0] >> 1n) & 7n);
    if (this.hasS2 && (w[0] & 1n) === 1n && (cfg & 6) === 6) this.s2Fallback?.(w);
    return w;
  }

  // ---- address spaces ---------------------------------------------------------------------------

  newAsid(): number {
    if (this.domains.length > 0 && this.r.chance(0.15 + this.chaos * 0.3)) return this.r.pick(this.domains).asid; // shared ASID: QEMU's IOTLB is keyed by ASID only
    this.asidNext = (this.asidNext + this.r.int(1, 3)) & 0xffff;
    return this.asidNext;
  }

  /** T0SZ for a granule, as a guest picks it (input ranges that fit in 48 bits and leave room above RAM). */
  pickTsz(granule: number): number {
    const lo = this.lowIova ? 34 : 16;
    const hi = this.lowIova ? 39 : 33;
    // bias towards the boundaries where the start level changes
    const stride = granule - 3;
    const edges: number[] = [];
    for (let t = lo; t <= hi; t++) {
      const a = Math.floor((64 - t - 4) / stride);
      const b2 = Math.floor((64 - (t + 1) - 4) / stride);
      if (a !== b2 || t === lo || t === hi) edges.push(t);
    }
    return this.r.chance(0.5) ? this.r.pick(edges) : this.r.int(lo, hi);
  }

  /** A domain: CD plus one or two translation tables (TTB1 too, sometimes). */
  newDomain(o: { granule?: 12 | 14 | 16; tsz?: number; tt1?: boolean; cdFields?: Partial<CdVariant> } = {}): Domain {
    const r = this.r;
    const granule = o.granule ?? r.pick([12, 14, 16] as const);
    const tsz = o.tsz ?? this.pickTsz(granule);
    const pt0 = new PageTable(this, granule, tsz);
    const d: Domain = { asid: this.newAsid(), cd: this.b.alloc(64, 64), tts: [undefined, undefined], mappings: [] };
    d.tts[0] = { pt: pt0, lo: 0n, hi: 1n << B(64 - tsz) };
    if (o.tt1 ?? r.chance(0.15)) {
      // QEMU's select_tt picks TTB1 for IOVAs outside TTB0's range whose bits above T1SZ are zero
      const g1 = r.pick([12, 14, 16] as const);
      const lo1 = Math.max(16, this.lowIova ? 34 : 16);
      const t1 = r.int(lo1, Math.max(lo1, tsz - 1));
      if (t1 < tsz) d.tts[1] = { pt: new PageTable(this, g1, t1), lo: 1n << B(64 - tsz), hi: 1n << B(64 - t1) };
    }
    this.domains.push(d);
    this.writeCd(d, o.cdFields ?? {});
    return d;
  }

  /** Writes the domain's CD (valid unless the variant says otherwise). */
  writeCd(d: Domain, v: Partial<CdVariant>): void {
    this.b.words(d.cd, this.cdWords(d, v));
  }

  cdWords(d: Domain, v: Partial<CdVariant>): Words {
    const r = this.r;
    const w: Words = new Array(8).fill(0n);
    const tt0 = d.tts[0]!;
    const tt1 = d.tts[1];
    const tg0 = tt0.pt.granule === 12 ? 0 : tt0.pt.granule === 16 ? 1 : 2;
    put(w, CD.CD_T0SZ, v.t0sz ?? tt0.pt.tsz);
    put(w, CD.CD_TG0, v.tg0 ?? tg0);
    put(w, CD.CD_EPD0, v.epd0 ? 1 : 0);
    if (tt1) {
      put(w, CD.CD_T1SZ, v.t1sz ?? tt1.pt.tsz);
      put(w, CD.CD_TG1, v.tg1 ?? (tt1.pt.granule === 12 ? 2 : tt1.pt.granule === 14 ? 1 : 3));
      put(w, CD.CD_EPD1, v.epd1 ? 1 : 0);
    } else {
      put(w, CD.CD_T1SZ, v.t1sz ?? (r.chance(0.5) ? 0 : r.int(0, 63)));
      put(w, CD.CD_TG1, v.tg1 ?? r.int(0, 3));
      put(w, CD.CD_EPD1, v.epd1 === false ? 0 : 1);
    }
    put(w, CD.CD_ENDI, v.endi ? 1 : 0);
    put(w, CD.CD_V, v.valid === false ? 0 : 1);
    let ips = v.ips ?? r.weighted([[4, 5], [2, 4], [1, 2], [1, 0], [1, r.int(0, 7)]]);
    if (ips > 5 && this.qemu10) ips = r.int(0, 5); // QEMU 10.0 aborts on IPS 6 and 7 (g_assert_not_reached)
    put(w, CD.CD_IPS, ips);
    put(w, CD.CD_AFFD, r.int(0, 1));
    put(w, CD.CD_TBI, v.tbi ?? (r.chance(0.2) ? r.int(0, 3) : 0));
    put(w, CD.CD_AA64, v.aa64 === false ? 0 : 1);
    put(w, CD.CD_HD, v.hd ? 1 : 0);
    put(w, CD.CD_HA, v.ha ? 1 : 0);
    put(w, CD.CD_S, v.s ? 1 : 0);
    put(w, CD.CD_R, v.r ?? (r.chance(0.85) ? 1 : 0));
    put(w, CD.CD_A, v.a === false ? 0 : 1);
    put(w, CD.CD_ASID, d.asid);
    // ignored fields Linux sets (IR0/OR0/SH0, ...) and random ones
    if (r.chance(0.5)) w[0] |= B(r.int(0, 63)) << 8n;
    if (r.chance(this.chaos)) w[0] |= B(r.int(0, 0xff)) << 24n & 0x3f000000n;
    const ttb = (tt: Tt | undefined, over?: bigint) => {
      if (over !== undefined) return over;
      // no table: an empty one (a guest may still enable the range with a bad variant)
      if (!tt) return this.ipaOf(this.b.alloc(64, 64));
      let a = this.ipaOf(tt.pt.root);
      // QEMU aligns TTB down to the root table size: low bits below it are ignored
      if (r.chance(this.chaos) && tt.pt.rootBytes > 16) a += B(r.int(1, tt.pt.rootBytes / 16 - 1) * 16);
      return a;
    };
    w[1] = ttb(tt0, v.ttb0) | (v.had0 ?? r.chance(0.2) ? 2n : 0n);
    if (r.chance(this.chaos)) w[1] |= B(r.int(0, 1)) | (B(r.int(0, 3)) << 2n) & ~2n;
    w[2] = ttb(tt1, v.ttb1) | (v.had1 ?? r.chance(0.2) ? 2n : 0n);
    w[3] = r.chance(0.3) ? r.u64() : 0n; // MAIR
    for (let i = 4; i < 8; i++) if (r.chance(this.chaos)) w[i] = r.u64();
    return w;
  }

  // ---- command queue ----------------------------------------------------------------------------

  /** Programs the command queue (2^log2 entries). */
  setupCmdq(log2: number, at?: number): void {
    const n = 2 ** Math.min(log2, 19);
    const bytes = Math.min(n, 4096) * 16;
    const base = at ?? this.b.alloc(Math.max(bytes, 64), Math.min(Math.max(bytes, 64), 0x10000));
    this.cmdq = { base, log2: Math.min(log2 & 0x1f, 19), prod: 0, cap: Math.min(n, 4096) };
    this.b.mmioW(R.R_CMDQ_BASE, 8, this.qbase(base, log2));
  }

  setupEvtq(log2: number, at?: number): void {
    const n = 2 ** Math.min(log2, 19);
    const bytes = Math.min(n, 16384) * 32;
    const base = at ?? this.b.alloc(Math.max(bytes, 64), Math.min(Math.max(bytes, 64), 0x10000));
    this.evtq = { base, log2: Math.min(log2 & 0x1f, 19), cap: Math.min(n, 4096) };
    this.b.mmioW(R.R_EVENTQ_BASE, 8, this.qbase(base, log2));
  }

  get cmdqEntries(): number {
    return 2 ** this.cmdq.log2;
  }

  /** A raw PROD/CONS value for a queue: any wrap bit and high bits, an index inside the memory behind it. */
  rawIndex(q: { log2: number; cap: number }, v: number): number {
    const n = 2 ** q.log2;
    const idx = (v & (n - 1)) % q.cap;
    return ((v & ~(n - 1)) | idx) >>> 0;
  }

  /**
   * Writes commands at PROD and publishes them, waiting for room as a driver does (by
   * the oracle's CONS). Stops early (returns false) when a command error is pending and
   * the queue is full.
   */
  submit(cmds: Words[], publishEach = false): boolean {
    const size = this.cmdqEntries;
    const wrapIdx = 2 * size - 1;
    let i = 0;
    while (i < cmds.length) {
      const cons = this.b.peek(R.R_CMDQ_CONS) & wrapIdx;
      const used = (this.cmdq.prod - cons) & wrapIdx;
      let free = size - used;
      if (free <= 0) return false; // full: a command error is pending or the queue is disabled
      while (free > 0 && i < cmds.length) {
        const idx = this.cmdq.prod & (size - 1);
        const c = cmds[i];
        this.b.opcodes.add(Number(c[0] & 0xffn));
        this.b.words(this.cmdq.base + idx * 16, c);
        this.cmdq.prod = (this.cmdq.prod + 1) & wrapIdx;
        free--;
        i++;
        if (publishEach) break;
      }
      this.b.mmioW(R.R_CMDQ_PROD, 4, this.cmdq.prod);
    }
    return true;
  }

  /** After a batch: observe; on a command error, recover as a driver would (or not). */
  afterBatch(): void {
    this.b.observeCmdq();
    for (let round = 0; round < 3; round++) {
      const pending = (this.b.peek(R.R_GERROR) ^ this.b.peek(R.R_GERRORN)) & 1;
      if (!pending) return;
      const r = this.r;
      const how = r.weighted<'skip' | 'ack' | 'leave' | 'replace'>([[6, 'skip'], [2, 'ack'], [1, 'leave'], [2, 'replace']]);
      if (how === 'leave') return;
      const cons = this.b.peek(R.R_CMDQ_CONS);
      const idx = cons & (this.cmdqEntries - 1);
      if (how === 'skip') this.b.words(this.cmdq.base + idx * 16, [put([0n, 0n], C.CMD_OPCODE, C.CMD_SYNC)[0] | B(r.int(0, 3) << 12), 0n]);
      if (how === 'replace') this.b.words(this.cmdq.base + idx * 16, randomCmd(this));
      this.b.mmioR(R.R_GERROR);
      this.b.mmioW(R.R_GERRORN, 4, this.b.peek(R.R_GERROR) ^ (r.chance(this.chaos) ? r.int(0, 0x1ff) & ~1 : 0));
      this.b.observeCmdq();
    }
  }

  allMappings(): Mapping[] {
    return this.domains.flatMap((d) => d.mappings);
  }
}

export interface CdVariant {
  valid: boolean;
  aa64: boolean;
  a: boolean;
  s: boolean;
  ha: boolean;
  hd: boolean;
  endi: boolean;
  epd0: boolean;
  epd1: boolean;
  t0sz: number;
  t1sz: number;
  tg0: number;
  tg1: number;
  ips: number;
  tbi: number;
  r: number;
  ttb0: bigint;
  ttb1: bigint;
  had0: boolean;
  had1: boolean;
}
