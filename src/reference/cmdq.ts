// Readable TypeScript reference of the command-queue engine (assembly/cmdq.ts and the
// classification of assembly/dispatch.ts), written from QEMU 7.2's and 10.0's
// smmuv3_cmdq_consume (10.0: commands legal per implemented stage, VMIDs, TLBI_S2_IPA,
// TLBI_S12_VMALL) and the trace spec's vIOMMU forwarding contract. It works on 32-bit words like QEMU,
// reads the queue through a callback, applies each command to reference caches and
// emits the same trace records as the engine, so the two can be compared on random
// command streams (test/reference.test.ts) and timed against each other (vsmmu bench).

import * as C from '../arch/commands.js';
import * as R from '../arch/registers.js';
import * as T from '../arch/trace-events.js';
import * as A from '../arch/abi.js';
import * as STE from '../arch/ste.js';
import { mask32 } from '../bits.js';
import { RefIotlb } from './iotlb.js';

export interface RefQueueState {
  cr0: number;
  irqCtrl: number;
  gerror: number;
  gerrorn: number;
  /** CMDQ_BASE (the address bits 51:6 are used). */
  base: bigint;
  prod: number;
  cons: number;
  log2: number;
  /** Profile flags (PF_* of src/arch/abi.ts, stages included); default QEMU 7.2. */
  flags?: number;
}

export interface RefForward {
  backend: number;
  kind: number; // FWK_INV, FWK_STE
  seq: number;
  cons: number;
  psid: number;
  w0: bigint;
  w1: bigint;
}

export interface RefDispatchConfig {
  /** VMID per backend index. */
  vmids: number[];
  /** Passthrough devices: vSID -> backend index and pSID. */
  vdevs: Map<number, { backend: number; psid: number }>;
  /** STE words 0-1 of a vSID as the guest has them now, or null when unreadable. */
  readSte(vsid: number): [bigint, bigint] | null;
  /** ASIDs of the valid CDs the STE of vSID points to (when a valid stage-1 STE); null = too many to read. */
  cdAsids(vsid: number): number[] | null;
}

export interface RefHooks {
  /** Reads the 16-byte entry at a guest address, or null when the read fails. */
  read(addr: bigint): Uint8Array | null;
  /** Whether a device (QEMU: PCI device behind the SMMU) has this 16-bit StreamID. */
  isDevice(sid: number): boolean;
  trace?: (id: number, args: bigint[]) => void;
}

const CMDQ_ERR = mask32(R.GERROR_CMDQ_ERR);
const GERROR_IRQEN = mask32(R.IRQ_CTRL_GERROR_IRQEN);
const CMDQEN = mask32(R.CR0_CMDQEN);
const STE0_ALLOWED = (BigInt(STE.STE0_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE0_NESTING_ALLOWED_LO);
const STE1_ALLOWED = (BigInt(STE.STE1_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE1_NESTING_ALLOWED_LO);

/** Field of a command given as four 32-bit words (positions from src/arch/commands.ts). */
function cf(w: Uint32Array, f: number): number {
  const pos = f % 1024;
  const width = Math.floor(f / 1024);
  const v = w[pos >> 5] >>> (pos & 31);
  return width >= 32 ? v >>> 0 : (v & ((1 << width) - 1)) >>> 0;
}

/** iommufd's check of a nested stage-1 STE (words 0-1); an invalid STE always passes. */
function nestable(s0: bigint, s1: bigint): boolean {
  if ((s0 & 1n) === 0n) return true;
  if ((s0 & ~STE0_ALLOWED) !== 0n || (s1 & ~STE1_ALLOWED) !== 0n) return false;
  const cfg = Number((s0 >> 1n) & 7n);
  return cfg === STE.STE_CFG_ABORT || cfg === STE.STE_CFG_BYPASS || cfg === STE.STE_CFG_S1_TRANS;
}

export class ReferenceCmdq {
  readonly iotlb = new RefIotlb();
  /** StreamIDs with a cached configuration. */
  readonly configs = new Set<number>();
  readonly irqs = [0, 0, 0, 0];
  readonly forwarded: RefForward[] = [];
  /** vASID -> backend mask, as learned. */
  readonly vasid = new Map<number, number>();
  wildcard = 0;
  private seq = 0;
  private readonly w = new Uint32Array(4);

  constructor(readonly s: RefQueueState, readonly hooks: RefHooks, readonly dispatch?: RefDispatchConfig) {
    if (hooks.trace) this.iotlb.trace = hooks.trace;
  }

  private tr(id: number, ...args: (number | bigint)[]): void {
    if (this.hooks.trace) this.hooks.trace(id, args.map((a) => BigInt.asUintN(64, BigInt(a))));
  }

  private triggerIrq(irq: number, gerrorMask: number): void {
    let pulse = false;
    if (irq === R.IRQ_CMD_SYNC) pulse = true;
    else if (irq === R.IRQ_GERROR) {
      const pending = this.s.gerror ^ this.s.gerrorn;
      const fresh = ~pending & gerrorMask;
      if (fresh === 0) return;
      this.s.gerror = (this.s.gerror ^ fresh) >>> 0;
      this.tr(T.T_WRITE_GERROR, fresh >>> 0, this.s.gerror);
      pulse = (this.s.irqCtrl & GERROR_IRQEN) !== 0;
    }
    if (pulse) {
      this.tr(T.T_TRIGGER_IRQ, irq);
      this.irqs[irq]++;
    }
  }

  /** GERRORN write (smmuv3_write_gerrorn); the caller then consumes again. */
  writeGerrorn(value: number): void {
    const pending = this.s.gerror ^ this.s.gerrorn;
    const toggled = this.s.gerrorn ^ value;
    this.s.gerrorn = value >>> 0;
    this.tr(T.T_WRITE_GERRORN, (toggled & pending) >>> 0, this.s.gerrorn);
  }

  /** smmuv3_cmdq_consume. Returns CQ_IDLE or CQ_FORWARD (forwarded entries are in `forwarded`). */
  consume(): number {
    const s = this.s;
    if ((s.cr0 & CMDQEN) === 0) return A.CQ_IDLE;
    const wrapIdx = (2 << s.log2) - 1;
    const idxMask = (1 << s.log2) - 1;
    const base = s.base & 0x000fffffffffffc0n;
    let err = R.CERROR_NONE;
    let type = 0;
    while ((s.cons & wrapIdx) !== (s.prod & wrapIdx)) {
      this.traceQueue(T.T_CMDQ_CONSUME);
      if (((s.gerror ^ s.gerrorn) & CMDQ_ERR) !== 0) break;
      const cons = s.cons;
      const bytes = this.hooks.read(base + BigInt((cons & idxMask) * 16));
      if (!bytes) {
        err = R.CERROR_ABT;
        break;
      }
      const dv = new DataView(bytes.buffer, bytes.byteOffset, 16);
      for (let i = 0; i < 4; i++) this.w[i] = dv.getUint32(i * 4, true);
      type = cf(this.w, C.CMD_OPCODE);
      this.tr(T.T_CMDQ_OPCODE, type);
      if (this.dispatch && type === C.CMD_SYNC && this.forwarded.length > 0) return A.CQ_FORWARD;
      err = this.execute(type);
      if (err === R.CERROR_NONE && this.dispatch) err = this.classify(type, cons);
      if (err !== R.CERROR_NONE) break;
      s.cons = ((s.cons & ~wrapIdx) | ((s.cons + 1) & wrapIdx)) >>> 0;
    }
    if (err !== R.CERROR_NONE) {
      if (this.dispatch && this.forwarded.length > 0) {
        // earlier commands' entries go out first; the error is raised when they are done
        this.forwarded.push({ backend: 0xff, kind: A.FWK_ERROR, seq: this.seq, cons: s.cons, psid: 0, w0: BigInt(err), w1: BigInt(type) });
        return A.CQ_FORWARD;
      }
      this.raise(err, type);
    }
    this.traceQueue(T.T_CMDQ_CONSUME_OUT);
    return this.dispatch && this.forwarded.length > 0 ? A.CQ_FORWARD : A.CQ_IDLE;
  }

  /**
   * After the host sent `forwarded`: `failIndex` < 0 when everything took effect, else the
   * record that failed (or the error marker): CONS goes back to its command with the error.
   */
  forwardDone(failIndex = -1): void {
    const f = failIndex >= 0 ? this.forwarded[failIndex] : undefined;
    this.forwarded.length = 0;
    this.seq = 0;
    if (!f) return;
    this.s.cons = f.cons;
    if (f.kind === A.FWK_ERROR) this.raise(Number(f.w0), Number(f.w1));
    else this.raise(R.CERROR_ILL, f.kind === A.FWK_STE ? C.CMD_CFGI_STE : Number(f.w0 & 0xffn));
  }

  private raise(err: number, type: number): void {
    this.tr(T.T_CMDQ_CONSUME_ERROR, type, err);
    const f = R.CMDQ_CONS_ERR;
    const m = mask32(f);
    this.s.cons = ((this.s.cons & ~m) | ((err << (f % 1024)) & m)) >>> 0;
    this.triggerIrq(R.IRQ_GERROR, CMDQ_ERR);
  }

  private traceQueue(id: number): void {
    const s = this.s;
    const im = (1 << s.log2) - 1;
    this.tr(id, s.prod & im, s.cons & im, (s.prod >>> s.log2) & 1, (s.cons >>> s.log2) & 1);
  }

  private get v10(): boolean {
    return ((this.s.flags ?? 0) & A.PF_V10) !== 0;
  }

  /** The VMID a TLBI matches: only an SMMU with stage 2 has VMIDs (QEMU 10.0), else -1 (any). */
  private vmid(): number {
    return this.v10 && ((this.s.flags ?? 0) & A.PF_S2P) !== 0 ? cf(this.w, C.CMD_VMID) : -1;
  }

  private execute(type: number): number {
    const w = this.w;
    const f = this.s.flags ?? 0;
    const noS1 = this.v10 && (f & A.PF_NO_S1P) !== 0;
    const noS2 = this.v10 && (f & A.PF_S2P) === 0;
    switch (type) {
      case C.CMD_SYNC:
        if ((cf(w, C.CMD_SYNC_CS) & C.SYNC_CS_IRQ) !== 0) this.triggerIrq(R.IRQ_CMD_SYNC, 0);
        return R.CERROR_NONE;
      case C.CMD_PREFETCH_CONFIG:
      case C.CMD_PREFETCH_ADDR:
        return R.CERROR_NONE;
      case C.CMD_CFGI_STE:
      case C.CMD_CFGI_CD:
      case C.CMD_CFGI_CD_ALL: {
        if (cf(w, C.CMD_SSEC)) return R.CERROR_ILL;
        const sid = cf(w, C.CMD_SID);
        if (!this.hooks.isDevice(sid & 0xffff)) return R.CERROR_NONE;
        this.tr(type === C.CMD_CFGI_STE ? T.T_CMDQ_CFGI_STE : T.T_CMDQ_CFGI_CD, sid);
        this.tr(T.T_CONFIG_CACHE_INV, sid & 0xffff);
        this.configs.delete(sid & 0xffff);
        return R.CERROR_NONE;
      }
      case C.CMD_CFGI_STE_RANGE: {
        if (cf(w, C.CMD_SSEC)) return R.CERROR_ILL;
        const sid = cf(w, C.CMD_SID);
        const range = cf(w, C.CMD_STE_RANGE);
        const mask = range === 31 ? 0xffffffff : (2 ** (range + 1) - 1);
        const start = (sid & ~mask) >>> 0;
        const end = start + mask;
        this.tr(T.T_CMDQ_CFGI_STE_RANGE, start, end);
        for (const c of [...this.configs]) if (c >= start && c <= end) this.configs.delete(c);
        return R.CERROR_NONE;
      }
      case C.CMD_TLBI_NH_ASID: {
        if (noS1) return R.CERROR_ILL;
        const asid = cf(w, C.CMD_ASID);
        this.tr(T.T_CMDQ_TLBI_NH_ASID, asid);
        this.iotlb.invAsid(asid, this.vmid());
        return R.CERROR_NONE;
      }
      case C.CMD_TLBI_NH_ALL: {
        if (noS1) return R.CERROR_ILL;
        this.tr(T.T_CMDQ_TLBI_NH);
        const vmid = this.vmid();
        if (vmid < 0) this.iotlb.invAll();
        else this.iotlb.invVmid(vmid, true);
        return R.CERROR_NONE;
      }
      case C.CMD_TLBI_NSNH_ALL:
        this.tr(T.T_CMDQ_TLBI_NH);
        this.iotlb.invAll();
        return R.CERROR_NONE;
      case C.CMD_TLBI_NH_VA:
      case C.CMD_TLBI_NH_VAA:
        if (noS1) return R.CERROR_ILL;
        this.rangeInval(type);
        return R.CERROR_NONE;
      case C.CMD_TLBI_S12_VMALL:
        if (noS2) return R.CERROR_ILL;
        this.tr(T.T_UNHANDLED_CMD, type);
        if (this.v10) this.iotlb.invVmid(this.vmid(), false);
        return R.CERROR_NONE;
      case C.CMD_TLBI_S2_IPA:
        if (noS2) return R.CERROR_ILL;
        this.tr(T.T_UNHANDLED_CMD, type);
        if (this.v10) this.rangeInval(type);
        return R.CERROR_NONE;
      case C.CMD_TLBI_EL3_ALL: case C.CMD_TLBI_EL3_VA: case C.CMD_TLBI_EL2_ALL: case C.CMD_TLBI_EL2_ASID:
      case C.CMD_TLBI_EL2_VA: case C.CMD_TLBI_EL2_VAA:
      case C.CMD_ATC_INV: case C.CMD_PRI_RESP: case C.CMD_RESUME: case C.CMD_STALL_TERM:
        this.tr(T.T_UNHANDLED_CMD, type);
        return R.CERROR_NONE;
    }
    return R.CERROR_ILL;
  }

  /** smmuv3_range_inval (7.2: smmuv3_s1_range_inval); TLBI_S2_IPA drops stage-2 entries only. */
  private rangeInval(type: number): void {
    const w = this.w;
    let addr = (BigInt(w[3]) << 32n) | BigInt((w[2] & 0xfffff000) >>> 0);
    const vmid = cf(w, C.CMD_VMID);
    const vm = this.vmid();
    const inv = (a: bigint, pages: bigint, tg: number, ttl: number) => {
      if (type === C.CMD_TLBI_S2_IPA) this.iotlb.invIpa(vm, a, tg, pages, ttl);
      else this.iotlb.invIova(asid, vm, a, tg, pages, ttl);
    };
    const asid = type === C.CMD_TLBI_NH_VA ? cf(w, C.CMD_ASID) : -1;
    const ttl = cf(w, C.CMD_TTL), tg = cf(w, C.CMD_TG), leaf = cf(w, C.CMD_LEAF);
    if (!tg) {
      this.tr(T.T_S1_RANGE_INVAL, vmid, asid, addr, tg, 1, ttl, leaf);
      inv(addr, 1n, tg, ttl);
      return;
    }
    const granule = BigInt(tg * 2 + 10);
    const end = BigInt.asUintN(64, addr + ((BigInt(cf(w, C.CMD_NUM) + 1) << BigInt(cf(w, C.CMD_SCALE))) << granule) - 1n);
    while (addr !== BigInt.asUintN(64, end + 1n)) {
      const mask = alignedPow2Mask(addr, end);
      const pages = (mask + 1n) >> granule;
      this.tr(T.T_S1_RANGE_INVAL, vmid, asid, addr, tg, pages, ttl, leaf);
      inv(addr, pages, tg, ttl);
      addr = BigInt.asUintN(64, addr + mask + 1n);
    }
  }

  // ---- vIOMMU classification (assembly/dispatch.ts) ---------------------------------

  private emit(backend: number, kind: number, cons: number, psid: number, w0: bigint, w1: bigint): void {
    this.forwarded.push({ backend, kind, seq: this.seq, cons, psid, w0, w1 });
    this.tr(T.T_FORWARD, backend, kind, psid, w0, w1);
  }

  private classify(type: number, cons: number): number {
    const d = this.dispatch!;
    const w = this.w;
    const w0 = (BigInt(w[1]) << 32n) | BigInt(w[0]);
    const w1 = (BigInt(w[3]) << 32n) | BigInt(w[2]);
    const all = d.vmids.map((_, i) => i);
    const withVmid = (b: number, x: bigint) => (x & ~(0xffffn << 32n)) | (BigInt(d.vmids[b]) << 32n);
    const before = this.forwarded.length;
    let err = R.CERROR_NONE;
    switch (type) {
      case C.CMD_TLBI_NH_ASID:
      case C.CMD_TLBI_NH_VA: {
        const m = (this.vasid.get(cf(w, C.CMD_ASID)) ?? 0) | this.wildcard;
        for (const b of all) if (m === 0 || (m >>> b) & 1) this.emit(b, A.FWK_INV, cons, 0, withVmid(b, w0), w1);
        break;
      }
      case C.CMD_TLBI_NH_VAA:
      case C.CMD_TLBI_NH_ALL:
        for (const b of all) this.emit(b, A.FWK_INV, cons, 0, withVmid(b, w0), w1);
        break;
      case C.CMD_TLBI_NSNH_ALL:
        for (const b of all) this.emit(b, A.FWK_INV, cons, 0, withVmid(b, BigInt(C.CMD_TLBI_NH_ALL)), 0n);
        break;
      case C.CMD_CFGI_CD:
      case C.CMD_CFGI_CD_ALL:
      case C.CMD_ATC_INV: {
        const vsid = cf(w, C.CMD_SID);
        const v = d.vdevs.get(vsid);
        if (!v) break;
        this.emit(v.backend, A.FWK_INV, cons, v.psid, (w0 & 0xffffffffn) | (BigInt(v.psid) << 32n), w1);
        if (type !== C.CMD_ATC_INV) this.learn(vsid, v.backend);
        break;
      }
      case C.CMD_CFGI_STE: {
        const vsid = cf(w, C.CMD_SID);
        if (d.vdevs.has(vsid)) err = this.installSte(vsid, cons);
        break;
      }
      case C.CMD_CFGI_STE_RANGE: {
        const range = cf(w, C.CMD_STE_RANGE);
        const mask = range === 31 ? 0xffffffff : 2 ** (range + 1) - 1;
        const start = (cf(w, C.CMD_SID) & ~mask) >>> 0;
        const end = start + mask;
        if (range === 31) {
          this.vasid.clear();
          this.wildcard = 0;
        }
        for (const vsid of [...d.vdevs.keys()].sort((a, b) => a - b)) {
          if (vsid < start || vsid > end) continue;
          err = this.installSte(vsid, cons);
          if (err) break;
        }
        break;
      }
    }
    if (err) this.forwarded.length = before;
    this.seq++;
    return err;
  }

  private installSte(vsid: number, cons: number): number {
    const d = this.dispatch!;
    const v = d.vdevs.get(vsid)!;
    const [s0, s1] = d.readSte(vsid) ?? [0n, 0n];
    if (!nestable(s0, s1)) return R.CERROR_ILL;
    this.emit(v.backend, A.FWK_STE, cons, v.psid, s0, s1);
    this.learn(vsid, v.backend);
    return R.CERROR_NONE;
  }

  /**
   * Arrival on a new host (trace spec, "Migrating to another host topology"): the vASID
   * table is emptied; with SMMUEN = 1 each passthrough vSID in ascending order gets its
   * STE installed when iommufd's check accepts it (else it is skipped) and its CDs learned.
   */
  arrive(smmuEnabled: boolean): void {
    const d = this.dispatch!;
    this.vasid.clear();
    this.wildcard = 0;
    if (!smmuEnabled) return;
    for (const vsid of [...d.vdevs.keys()].sort((a, b) => a - b)) {
      const v = d.vdevs.get(vsid)!;
      const [s0, s1] = d.readSte(vsid) ?? [0n, 0n];
      if (!nestable(s0, s1)) continue;
      this.emit(v.backend, A.FWK_STE, this.s.cons, v.psid, s0, s1);
      this.learn(vsid, v.backend);
    }
  }

  private learn(vsid: number, b: number): void {
    const asids = this.dispatch!.cdAsids(vsid);
    if (asids === null) {
      this.wildcard |= 1 << b;
      return;
    }
    for (const a of asids) {
      const m = this.vasid.get(a) ?? 0;
      if (!((m >>> b) & 1)) this.tr(T.T_VASID_LEARN, b, a);
      this.vasid.set(a, m | (1 << b));
    }
  }
}

/** QEMU dma_aligned_pow2_mask for 64-bit addresses. */
export function alignedPow2Mask(start: bigint, end: bigint): bigint {
  const M = 0xffffffffffffffffn;
  const addrMask = BigInt.asUintN(64, end - start);
  const alignMask = start ? BigInt.asUintN(64, (start & -start) - 1n) : M;
  if (alignMask <= addrMask) return alignMask;
  if (addrMask === M) return M;
  const n = addrMask + 1n;
  return (1n << BigInt(n.toString(2).length - 1)) - 1n;
}
