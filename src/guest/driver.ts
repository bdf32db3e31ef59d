// A guest SMMUv3 driver in JavaScript, programming the SMMU the way Linux's
// arm-smmu-v3 driver does: stream table (linear or 2-level), command and event queues,
// context descriptors and io-pgtable-arm style page tables; map/unmap with TLBI_NH_VA
// and CMD_SYNC. Drives anything with registers and guest memory (the model, or QEMU).

import * as R from '../arch/registers.js';
import { field32, deposit32 } from '../bits.js';
import {
  cd, cmdCfgiAll, cmdCfgiCd, cmdCfgiSte, cmdSync, cmdTlbiVa, pteLeaf, pteTable, ste, wordsToBytes, bytesToWords,
  type CdFields, type SteFields, type Words,
} from './encode.js';

export interface GuestBus {
  mmioRead(offset: number, size: number): number | bigint;
  mmioWrite(offset: number, size: number, value: number | bigint): void;
  readMemory(addr: number, length: number): Uint8Array;
  writeMemory(addr: number, data: Uint8Array): void;
}

export interface DriverOptions {
  /** Guest memory the driver may allocate its structures from. */
  heap: { base: number; size: number };
  cmdqLog2?: number;
  evtqLog2?: number;
  /** Stream table: linear with 2^log2 entries, or 2-level with `split`. */
  strtab?: { log2size: number; split?: number };
  /** Enable the event queue (default true). */
  eventq?: boolean;
}

export interface Domain {
  asid: number;
  granule: number; // bytes
  vaBits: number;
  root: number;
  startLevel: number;
  cdAddr: number;
}

export interface EventRecord {
  type: number;
  sid: number;
  words: bigint[];
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

export class GuestDriver {
  private next: number;
  private readonly end: number;
  cmdqBase = 0;
  cmdqLog2: number;
  evtqBase = 0;
  evtqLog2: number;
  strtabBase = 0;
  private l2: Map<number, number> = new Map();
  private prod = 0;
  readonly opts: DriverOptions;

  constructor(readonly bus: GuestBus, opts: DriverOptions) {
    this.opts = opts;
    this.next = opts.heap.base;
    this.end = opts.heap.base + opts.heap.size;
    this.cmdqLog2 = opts.cmdqLog2 ?? 8;
    this.evtqLog2 = opts.evtqLog2 ?? 7;
  }

  /** Zeroed guest memory, `align`-aligned. */
  alloc(size: number, align = 4096): number {
    const p = Math.ceil(this.next / align) * align;
    if (p + size > this.end) throw new Error('guest driver: out of heap');
    this.next = p + size;
    this.bus.writeMemory(p, new Uint8Array(size));
    return p;
  }

  write64(addr: number, v: bigint): void {
    this.bus.writeMemory(addr, wordsToBytes([v]));
  }

  read64(addr: number): bigint {
    return bytesToWords(this.bus.readMemory(addr, 8))[0];
  }

  private r32(off: number): number {
    return Number(this.bus.mmioRead(off, 4));
  }

  private w32(off: number, v: number): void {
    this.bus.mmioWrite(off, 4, v >>> 0);
  }

  /** Probe-time programming: stream table, queues, then SMMUEN, as arm_smmu_device_reset. */
  init(): void {
    const st = this.opts.strtab ?? { log2size: 8 };
    const linear = st.split === undefined;
    this.w32(R.R_CR0, 0);
    if (linear) {
      this.strtabBase = this.alloc(64 << st.log2size, Math.max(64, 64 << st.log2size));
    } else {
      const l1 = 1 << Math.max(0, st.log2size - st.split!);
      this.strtabBase = this.alloc(8 * l1, Math.max(64, 8 * l1));
    }
    this.bus.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(this.strtabBase));
    let cfg = deposit32(0, R.STRTAB_CFG_LOG2SIZE, st.log2size);
    if (!linear) cfg = deposit32(deposit32(cfg, R.STRTAB_CFG_FMT, R.STRTAB_FMT_2LEVEL), R.STRTAB_CFG_SPLIT, st.split!);
    this.w32(R.R_STRTAB_BASE_CFG, cfg);
    this.cmdqBase = this.alloc(16 << this.cmdqLog2, Math.max(32, 16 << this.cmdqLog2));
    this.bus.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(this.cmdqBase) | BigInt(this.cmdqLog2));
    this.w32(R.R_CMDQ_PROD, 0);
    this.w32(R.R_CMDQ_CONS, 0);
    this.prod = 0;
    this.evtqBase = this.alloc(32 << this.evtqLog2, Math.max(32, 32 << this.evtqLog2));
    this.bus.mmioWrite(R.R_EVENTQ_BASE, 8, BigInt(this.evtqBase) | BigInt(this.evtqLog2));
    this.w32(R.R_EVENTQ_PROD + R.SMMU_PAGE1, 0);
    this.w32(R.R_EVENTQ_CONS + R.SMMU_PAGE1, 0);
    let cr0 = deposit32(0, R.CR0_CMDQEN, 1);
    this.w32(R.R_CR0, cr0);
    this.submit([cmdCfgiAll(), cmdSync()]);
    if (this.opts.eventq !== false) cr0 = deposit32(cr0, R.CR0_EVENTQEN, 1);
    this.w32(R.R_CR0, cr0);
    this.w32(R.R_IRQ_CTRL, deposit32(deposit32(0, R.IRQ_CTRL_GERROR_IRQEN, 1), R.IRQ_CTRL_EVENTQ_IRQEN, 1));
    this.w32(R.R_CR0, deposit32(cr0, R.CR0_SMMUEN, 1));
  }

  /** Address of the STE of `sid` (allocating its level-2 table when the table has two levels). */
  steAddr(sid: number): number {
    const st = this.opts.strtab ?? { log2size: 8 };
    if (st.split === undefined) return this.strtabBase + sid * 64;
    const l1i = sid >>> st.split;
    let l2 = this.l2.get(l1i);
    if (l2 === undefined) {
      const span = st.split + 1;
      l2 = this.alloc(64 << st.split, 64 << st.split);
      this.l2.set(l1i, l2);
      this.write64(this.strtabBase + l1i * 8, BigInt(l2) | BigInt(span));
    }
    return l2 + (sid & ((1 << st.split) - 1)) * 64;
  }

  /** Writes the STE of `sid` and invalidates it (CFGI_STE + CMD_SYNC). */
  setSte(sid: number, f: SteFields, sync = true): void {
    this.bus.writeMemory(this.steAddr(sid), wordsToBytes(ste(f)));
    if (sync) this.submit([cmdCfgiSte(sid), cmdSync()]);
  }

  /** A stage-1 address space with its CD and an empty top-level table. */
  createDomain(o: { asid: number; granule?: number; vaBits?: number; cd?: Partial<CdFields> }): Domain {
    const granule = o.granule ?? 4096;
    const vaBits = o.vaBits ?? 48;
    const g = log2(granule);
    const stride = g - 3;
    const startLevel = 4 - Math.floor((vaBits - 4) / stride);
    const topBits = vaBits - (g + (3 - startLevel) * stride);
    const rootSize = Math.max(8 << topBits, 64);
    const root = this.alloc(rootSize, Math.max(rootSize, 64));
    const tg0 = granule === 4096 ? 0 : granule === 65536 ? 1 : 2;
    const cdAddr = this.alloc(64, 64);
    this.bus.writeMemory(cdAddr, wordsToBytes(cd({ asid: o.asid, ttb0: root, t0sz: 64 - vaBits, tg0, ...o.cd })));
    return { asid: o.asid, granule, vaBits, root, startLevel, cdAddr };
  }

  /** Points `sid` at `domain` (stage-1 STE with one CD). */
  attach(sid: number, domain: Domain): void {
    this.setSte(sid, { config: 5, s1ctxptr: domain.cdAddr });
  }

  /** Points `sid` at a linear CD table: SubstreamID i uses domains[i] (S1CDMax = log2 of the table size). */
  attachTable(sid: number, domains: Domain[]): void {
    const cdmax = Math.ceil(Math.log2(Math.max(1, domains.length)));
    const table = this.alloc(64 << cdmax, 64 << cdmax);
    domains.forEach((d, i) => this.bus.writeMemory(table + i * 64, this.bus.readMemory(d.cdAddr, 64)));
    this.setSte(sid, { config: 5, s1ctxptr: table, s1cdmax: cdmax });
  }

  /** Maps [iova, iova+size) to pa, with the largest blocks alignment allows (io-pgtable-arm). */
  map(d: Domain, iova: number, pa: number, size: number, opts: { readOnly?: boolean; blocks?: boolean } = {}): void {
    const g = log2(d.granule);
    const stride = g - 3;
    let off = 0;
    while (off < size) {
      let level = 3;
      if (opts.blocks !== false) {
        for (let l = Math.max(1, d.startLevel); l < 3; l++) {
          const bs = 2 ** (g + (3 - l) * stride);
          if ((iova + off) % bs === 0 && (pa + off) % bs === 0 && size - off >= bs && bs <= 2 ** 32) {
            level = l;
            break;
          }
        }
      }
      this.setLeaf(d, iova + off, pa + off, level, opts.readOnly ?? false);
      off += 2 ** (g + (3 - level) * stride);
    }
  }

  /** Address of the level-`level` table that maps `iova` in `d` (created when `create`), or null. */
  tableFor(d: Domain, iova: number, level: number, create: boolean): number | null {
    const g = log2(d.granule);
    const stride = g - 3;
    let table = d.root;
    for (let l = d.startLevel; l < level; l++) {
      const idx = Math.floor(iova / 2 ** (g + (3 - l) * stride)) % 2 ** stride;
      const addr = table + idx * 8;
      const pte = this.read64(addr);
      if ((pte & 3n) !== 3n) {
        if (!create) return null;
        const t = this.alloc(d.granule, d.granule);
        this.write64(addr, pteTable({ addr: t }));
        table = t;
      } else {
        table = Number(pte & 0x0000fffffffff000n);
      }
    }
    return table;
  }

  private setLeaf(d: Domain, iova: number, pa: number, level: number, readOnly: boolean): void {
    const g = log2(d.granule);
    const stride = g - 3;
    const table = this.tableFor(d, iova, level, true)!;
    const idx = Math.floor(iova / 2 ** (g + (3 - level) * stride)) % 2 ** stride;
    this.write64(table + idx * 8, pteLeaf({ addr: pa, readOnly }, level));
  }

  /**
   * Unmaps [iova, iova+size) (4 KiB-granule leaves at level 3 or blocks) and returns the
   * TLBI_NH_VA commands Linux would issue (one per granule page, leaf, no range).
   */
  unmap(d: Domain, iova: number, size: number, strict = true): Words[] {
    const cmds: Words[] = [];
    const g = log2(d.granule);
    for (let off = 0; off < size; off += d.granule) {
      for (let level = 3; level >= Math.max(1, d.startLevel); level--) {
        const table = this.tableFor(d, iova + off, level, false);
        if (table === null) continue;
        const stride = g - 3;
        const idx = Math.floor((iova + off) / 2 ** (g + (3 - level) * stride)) % 2 ** stride;
        const pte = this.read64(table + idx * 8);
        if ((pte & 1n) === 0n) continue;
        if (level < 3 && (pte & 3n) === 3n) continue; // a table: look deeper
        this.write64(table + idx * 8, 0n);
        break;
      }
      if (strict) cmds.push(cmdTlbiVa({ asid: d.asid, addr: iova + off, leaf: true }));
    }
    return cmds;
  }

  // ---- command queue ------------------------------------------------------------

  get cons(): number {
    return this.r32(R.R_CMDQ_CONS);
  }

  /** Writes commands at PROD and publishes them (waiting for space as a driver would); throws on a command error. */
  submit(cmds: Words[]): void {
    const size = 1 << this.cmdqLog2;
    const wrapIdx = (2 << this.cmdqLog2) - 1;
    let i = 0;
    while (i < cmds.length) {
      const cons = this.r32(R.R_CMDQ_CONS);
      const err = field32(cons, R.CMDQ_CONS_ERR);
      const pending = (this.r32(R.R_GERROR) ^ this.r32(R.R_GERRORN)) & 1;
      if (pending) throw new CommandError(err, cons & wrapIdx);
      const used = (this.prod - cons) & wrapIdx;
      let free = size - used;
      if (free === 0) throw new Error('guest driver: command queue stuck full');
      const batch: Words[] = [];
      while (free > 0 && i < cmds.length) {
        const idx = this.prod & (size - 1);
        this.bus.writeMemory(this.cmdqBase + idx * 16, wordsToBytes(cmds[i]));
        this.prod = (this.prod + 1) & wrapIdx;
        batch.push(cmds[i]);
        free--;
        i++;
      }
      this.w32(R.R_CMDQ_PROD, this.prod);
    }
    const pending = (this.r32(R.R_GERROR) ^ this.r32(R.R_GERRORN)) & 1;
    if (pending) {
      const cons = this.r32(R.R_CMDQ_CONS);
      throw new CommandError(field32(cons, R.CMDQ_CONS_ERR), cons & wrapIdx);
    }
  }

  /** Acknowledges a command error (GERRORN = GERROR), as the driver's gerror handler does. */
  ackErrors(): void {
    this.w32(R.R_GERRORN, this.r32(R.R_GERROR));
  }

  /** Skips the command at CONS (writes a CMD_SYNC over it), as arm_smmu_cmdq_skip_err does. */
  skipFailed(): void {
    const idx = this.r32(R.R_CMDQ_CONS) & ((1 << this.cmdqLog2) - 1);
    this.bus.writeMemory(this.cmdqBase + idx * 16, wordsToBytes(cmdSync()));
  }

  invalidateCd(sid: number): void {
    this.submit([cmdCfgiCd(sid), cmdSync()]);
  }

  // ---- event queue --------------------------------------------------------------

  /** Reads and consumes the pending event records. */
  events(): EventRecord[] {
    const out: EventRecord[] = [];
    const mask = (2 << this.evtqLog2) - 1;
    const prod = this.r32(R.R_EVENTQ_PROD + R.SMMU_PAGE1) & mask;
    let cons = this.r32(R.R_EVENTQ_CONS + R.SMMU_PAGE1) & mask;
    while (cons !== prod) {
      const idx = cons & ((1 << this.evtqLog2) - 1);
      const words = bytesToWords(this.bus.readMemory(this.evtqBase + idx * 32, 32));
      out.push({ type: Number(words[0] & 0xffn), sid: Number(words[0] >> 32n), words });
      cons = (cons + 1) & mask;
    }
    this.w32(R.R_EVENTQ_CONS + R.SMMU_PAGE1, cons);
    return out;
  }
}

export class CommandError extends Error {
  constructor(readonly code: number, readonly index: number) {
    super(`command error ${code === R.CERROR_ILL ? 'CERROR_ILL' : code === R.CERROR_ABT ? 'CERROR_ABT' : code} at queue index ${index}`);
  }
}
