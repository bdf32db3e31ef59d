// Command queue engine (QEMU 7.2 smmuv3_cmdq_consume): consumes from CONS to PROD
// while CR0.CMDQEN is set and no command error is pending; each command takes its
// effect on the configuration cache and the IOTLB, then (vIOMMU) is classified for
// the physical SMMUs. No allocation and no host call per command: the queue is read
// straight from RAM inside this memory, or staged with one bulk host read per
// contiguous run (two at a wrap).

import * as S from "./state";
import { ex, ex32, fmask } from "./bits";
import { gread, ramPtr } from "./guestmem";
import { halloc } from "./heap";
import { triggerIrq } from "./irq";
import { baseAddr, qEmpty, qIncr, qIndexMask, qWrapMask, qWrapIndexMask } from "./queue";
import { traceOn, tr } from "./trace";
import { isDevice, flushConfig, flushConfigRange, SID_SPACE } from "./config";
import { iotlbInvAll, iotlbInvAsid, iotlbInvIova, iotlbInvIpa, iotlbInvVmid, asidHasEntries } from "./iotlb";
import * as D from "./dispatch";
import { raiseCommandError } from "./cmderror";
import {
  CMD_BYTES, CMD_OPCODE, CMD_SSEC, CMD_SID, CMD_ASID, CMD_VMID, CMD_NUM, CMD_SCALE, CMD_SYNC_CS, CMD_LEAF,
  CMD_TTL, CMD_TG, CMD_STE_RANGE, CMD_ADDR, CMD_ADDR_SHIFT, SYNC_CS_IRQ,
  CMD_SYNC, CMD_PREFETCH_CONFIG, CMD_PREFETCH_ADDR, CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_CD,
  CMD_CFGI_CD_ALL, CMD_TLBI_NH_ASID, CMD_TLBI_NH_ALL, CMD_TLBI_NSNH_ALL, CMD_TLBI_NH_VAA, CMD_TLBI_NH_VA,
  CMD_TLBI_EL3_ALL, CMD_TLBI_EL3_VA, CMD_TLBI_EL2_ALL, CMD_TLBI_EL2_ASID, CMD_TLBI_EL2_VA, CMD_TLBI_EL2_VAA,
  CMD_TLBI_S12_VMALL, CMD_TLBI_S2_IPA, CMD_ATC_INV, CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM,
} from "../src/arch/commands";
import {
  CR0_CMDQEN, GERROR_CMDQ_ERR, CERROR_NONE, CERROR_ILL, CERROR_ABT, IRQ_CMD_SYNC,
  QEMU_CMDQS,
} from "../src/arch/registers";
import { CQ_IDLE, CQ_BUSY, CQ_FORWARD, ST_COMMANDS, ST_SYNCS, PF_V10, PF_S2P, PF_NO_S1P, KEY_NONE } from "../src/arch/abi";
import {
  T_CMDQ_CONSUME, T_CMDQ_OPCODE, T_CMDQ_CONSUME_OUT, T_CMDQ_CFGI_STE,
  T_CMDQ_CFGI_STE_RANGE, T_CMDQ_CFGI_CD, T_CMDQ_TLBI_NH, T_CMDQ_TLBI_NH_ASID, T_S1_RANGE_INVAL, T_UNHANDLED_CMD,
} from "../src/arch/trace-events";

/** Allocates the staging area for queues read through host memory callbacks (a whole 2^19-entry queue). */
export function cmdqStageInit(): void {
  if (stage == 0) stage = halloc(<usize>CMD_BYTES << QEMU_CMDQS, 64);
}

/** When false the model keeps no caches of its own (a vSMMU with passthrough devices only). */
export let localCaches = true;
export function setLocalCaches(on: bool): void { localCaches = on; }

// Staging of queue entries when the queue is not in RAM inside this memory.
let stage: usize = 0;
let stageFirst: u32 = 0; // queue index of the first staged entry
let stageCount: u32 = 0;
let stageOk = false;
const one = memory.data(CMD_BYTES);

// @ts-ignore: decorator
@inline function cmdqEnabled(): bool { return ex32(S.cr0, CR0_CMDQEN) != 0; }

// @ts-ignore: decorator
@inline function cmdqErrorPending(): bool { return ((S.gerror ^ S.gerrorn) & <u32>fmask(GERROR_CMDQ_ERR)) != 0; }

/** The 16-byte entry at queue index `idx` (in the ring, the staging area or a one-entry buffer); 0 on a failed read. */
function readEntry(ring: usize, qbase: u64, idx: u32, prodIdx: u32, log2: u32): usize {
  if (ring != 0) return ring + (<usize>idx << 4);
  if (stage == 0) {
    // no host memory: the queue straddles RAM edges, read it entry by entry
    return gread(qbase + (<u64>idx << 4), one, CMD_BYTES) ? one : 0;
  }
  if (!stageOk || idx < stageFirst || idx >= stageFirst + stageCount) {
    // one bulk read from idx up to PROD, or to the end of the ring
    const size = <u32>1 << log2;
    const end = prodIdx > idx ? prodIdx : size;
    stageFirst = idx;
    stageCount = end - idx;
    stageOk = gread(qbase + (<u64>idx << 4), stage, stageCount << 4);
    if (!stageOk) {
      // find the failing entry exactly: per-entry reads (stageOk false: the next entry restages)
      return gread(qbase + (<u64>idx << 4), one, CMD_BYTES) ? one : 0;
    }
  }
  return stage + (<usize>(idx - stageFirst) << 4);
}

/**
 * Consumes commands (QEMU smmuv3_cmdq_consume); returns CQ_*. A forwarding window ends
 * with one host call (D.forward) and consumption starts over from where it stopped, as
 * if the host had called again; CQ_FORWARD only when a backend answers later.
 */
export function cmdqConsume(): u32 {
  let st = consumeRun();
  while (st == WINDOW_END) {
    if (D.forward() != CQ_IDLE) return CQ_FORWARD;
    st = consumeRun();
  }
  return st;
}

/** consumeRun's result at the end of a forwarding window (not a CQ_* value: it never reaches the host). */
const WINDOW_END: u32 = 0x100;

/** One run of consumption: up to PROD, a command error, or the end of a forwarding window (WINDOW_END). */
function consumeRun(): u32 {
  if (!cmdqEnabled()) return CQ_IDLE;
  if (D.fwdBusy) return CQ_BUSY;
  const log2 = S.cmdqLog2;
  const qbase = baseAddr(S.cmdqBase);
  const ring = ramPtr(qbase, <u64>CMD_BYTES << log2);
  if (ring != 0 && !traceOn) return D.dispatchOn ? consumeRingDispatch(ring, log2) : consumeRingPlain(ring, log2);
  const imask = qIndexMask(log2);
  stageOk = false;
  let err: u32 = CERROR_NONE;
  let type: u32 = 0;

  while (!qEmpty(S.cmdqProd, S.cmdqCons, log2)) {
    if (traceOn) traceQueue(T_CMDQ_CONSUME, log2);
    if (cmdqErrorPending()) break;
    const cons = S.cmdqCons;
    const e = readEntry(ring, qbase, cons & imask, S.cmdqProd & imask, log2);
    if (e == 0) {
      err = CERROR_ABT;
      break;
    }
    const w0 = load<u64>(e);
    const w1 = load<u64>(e, 8);
    type = <u32>ex(w0, CMD_OPCODE);
    if (traceOn) tr(T_CMDQ_OPCODE, type);
    if (D.dispatchOn) {
      // CMD_SYNC waits for what is forwarded before it; a nearly full log is flushed first
      if ((type == CMD_SYNC && D.fwdCount > 0) || !D.fwdRoom()) return WINDOW_END;
    }
    err = execute(type, w0, w1, traceOn, localCaches);
    if (err == CERROR_NONE && D.dispatchOn) err = D.dispatchCmd(w0, w1, type, cons);
    if (err != CERROR_NONE) break;
    S.bump(ST_COMMANDS);
    S.cmdqCons = qIncr(cons, log2);
  }
  if (err != CERROR_NONE) {
    if (D.dispatchOn && D.fwdCount > 0) {
      // earlier commands' entries go out first; the error is raised when they are done
      D.appendError(err, S.cmdqCons, type);
      return WINDOW_END;
    }
    raiseCommandError(err, type);
  }
  if (traceOn) traceQueue(T_CMDQ_CONSUME_OUT, log2);
  if (D.dispatchOn && D.fwdCount > 0) return WINDOW_END;
  return CQ_IDLE;
}

// Fast path: the whole ring in RAM inside this memory, no trace. The loop above without
// what cannot happen here: the entries are read in place, CONS and the command count stay
// in locals, and GERROR is tested once (only a command error toggles CMDQ_ERR, and it
// ends the loop). Each command goes through the same execute() and, with the vIOMMU
// dispatcher, the same dispatchCmd() and window ends as the loop above. Compiled twice
// (`dispatch` a constant), so that the plain loop carries no dispatcher test.
function consumeRingPlain(ring: usize, log2: u32): u32 { return consumeRing(ring, log2, false); }
function consumeRingDispatch(ring: usize, log2: u32): u32 { return consumeRing(ring, log2, true); }

// @ts-ignore: decorator
@inline function consumeRing(ring: usize, log2: u32, dispatch: bool): u32 {
  if (cmdqErrorPending()) return CQ_IDLE;
  const m = qWrapIndexMask(log2);
  const imask = qIndexMask(log2);
  const prod = S.cmdqProd; // no MMIO inside the loop
  const caches = localCaches;
  let cons = S.cmdqCons;
  let done: u64 = 0;
  let err: u32 = CERROR_NONE;
  let type: u32 = 0;
  let windowEnd = false;
  while (!qEmpty(prod, cons, log2)) {
    if (dispatch && windowEnd) {
      // the window ends here (one host call); then on from the same command, as a new run would
      S.cmdqCons = cons;
      windowEnd = false;
      const st = D.forward();
      if (st != CQ_IDLE) {
        store<u64>(S.stats + ST_COMMANDS, load<u64>(S.stats + ST_COMMANDS) + done);
        return st; // a backend answers later: the window is held
      }
      if (cmdqErrorPending()) break; // a forwarded entry failed: CONS went back to its command
    }
    // a contiguous run: up to PROD, or to the end of the ring
    const ci = cons & imask;
    const pi = prod & imask;
    const first = ring + (<usize>ci << 4);
    const end = first + (<usize>(pi > ci ? pi - ci : imask + 1 - ci) << 4);
    let e = first;
    while (e < end) {
      const w0 = load<u64>(e);
      type = <u32>ex(w0, CMD_OPCODE);
      if (dispatch) {
        // CMD_SYNC waits for what is forwarded before it; a nearly full log is flushed first
        if ((type == CMD_SYNC && D.fwdCount > 0) || !D.fwdRoom()) {
          windowEnd = true;
          break;
        }
      }
      const w1 = load<u64>(e, 8);
      err = executeHot(type, w0, w1, false, caches);
      if (dispatch && err == CERROR_NONE) {
        err = D.dispatchCmd(w0, w1, type, (cons & ~m) | ((cons + <u32>((e - first) >> 4)) & m));
      }
      if (err != CERROR_NONE) break;
      e += CMD_BYTES;
    }
    const n = <u32>((e - first) >> 4);
    cons = (cons & ~m) | ((cons + n) & m);
    done += n;
    if (err != CERROR_NONE) break;
  }
  if (dispatch && cmdqErrorPending()) cons = S.cmdqCons; // (set by the failed window)
  S.cmdqCons = cons;
  store<u64>(S.stats + ST_COMMANDS, load<u64>(S.stats + ST_COMMANDS) + done);
  if (err != CERROR_NONE) {
    if (dispatch && D.fwdCount > 0) {
      // earlier commands' entries go out first; the error is raised when they are done
      D.appendError(err, cons, type);
      return WINDOW_END;
    }
    raiseCommandError(err, type);
  }
  if (dispatch && D.fwdCount > 0) return WINDOW_END;
  return CQ_IDLE;
}

function traceQueue(id: u32, log2: u32): void {
  const im = qIndexMask(log2);
  const wm = qWrapMask(log2);
  tr(id, S.cmdqProd & im, S.cmdqCons & im, (S.cmdqProd & wm) >> log2, (S.cmdqCons & wm) >> log2);
}

/**
 * The effect of one command on this model (QEMU's switch on the opcode): the one
 * implementation of the opcode-to-effect mapping; returns CERROR_*. `traced`: emit QEMU's
 * trace events (the fast loop passes a constant false, which folds the tracing away).
 */
function execute(type: u32, w0: u64, w1: u64, traced: bool, caches: bool): u32 {
  switch (type) {
    case CMD_SYNC: return cmdSync(w0);
    case CMD_PREFETCH_CONFIG:
    case CMD_PREFETCH_ADDR:
      return CERROR_NONE;
    case CMD_CFGI_STE: return cfgiSte(w0, traced, caches);
    case CMD_CFGI_STE_RANGE: return cfgiSteRange(w0, w1, traced, caches);
    case CMD_CFGI_CD:
    case CMD_CFGI_CD_ALL:
      return cfgiCd(w0, traced, caches);
    case CMD_TLBI_NH_ASID: return tlbiNhAsid(w0, traced, caches);
    case CMD_TLBI_NH_ALL: return tlbiNhAll(w0, traced, caches);
    case CMD_TLBI_NSNH_ALL: return tlbiNsnhAll(traced, caches);
    case CMD_TLBI_NH_VAA:
    case CMD_TLBI_NH_VA: return tlbiNhVa(type, w0, w1, traced, caches);
    case CMD_TLBI_S12_VMALL: return tlbiS12Vmall(w0, traced, caches);
    case CMD_TLBI_S2_IPA: return tlbiS2Ipa(w0, w1, traced, caches);
    case CMD_TLBI_EL3_ALL:
    case CMD_TLBI_EL3_VA:
    case CMD_TLBI_EL2_ALL:
    case CMD_TLBI_EL2_ASID:
    case CMD_TLBI_EL2_VA:
    case CMD_TLBI_EL2_VAA:
    case CMD_ATC_INV:
    case CMD_PRI_RESP:
    case CMD_RESUME:
    case CMD_STALL_TERM: {
      if (traced) tr(T_UNHANDLED_CMD, type);
      return CERROR_NONE;
    }
  }
  return CERROR_ILL;
}

/**
 * execute() for the fast loop: the opcodes Linux's invalidation batches are made of go
 * straight to the same effect functions execute() calls (inlined here: a call per
 * command, or execute() inlined whole, halves the loop's speed); the rest through execute().
 */
// @ts-ignore: decorator
@inline function executeHot(type: u32, w0: u64, w1: u64, traced: bool, caches: bool): u32 {
  if (type == CMD_TLBI_NH_VA) return tlbiNhVa(type, w0, w1, traced, caches);
  if (type == CMD_SYNC) return cmdSync(w0);
  if (type == CMD_TLBI_NH_ASID) return tlbiNhAsid(w0, traced, caches);
  if (type == CMD_CFGI_STE) return cfgiSte(w0, traced, caches);
  return execute(type, w0, w1, traced, caches);
}

/** CMD_SYNC (4.7.3): CS = IRQ pulses the CMD_SYNC interrupt; SEV and NONE have no effect here. */
// @ts-ignore: decorator
@inline function cmdSync(w0: u64): u32 {
  S.bump(ST_SYNCS);
  if ((<u32>ex(w0, CMD_SYNC_CS) & SYNC_CS_IRQ) != 0) triggerIrq(IRQ_CMD_SYNC, 0);
  return CERROR_NONE;
}

/** CMD_CFGI_STE (4.3.2): SSEC = 1 is illegal (no secure state); the device's cached configuration goes. */
// @ts-ignore: decorator
@inline function cfgiSte(w0: u64, traced: bool, caches: bool): u32 {
  if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
  const sid = <u32>ex(w0, CMD_SID);
  if (!isDevice(sid & (SID_SPACE - 1))) return CERROR_NONE; // no such device (QEMU smmu_iommu_mr)
  if (traced) tr(T_CMDQ_CFGI_STE, sid);
  if (caches) flushConfig(sid);
  return CERROR_NONE;
}

/** CMD_CFGI_STE_RANGE (4.3.3): the 2^(Range+1) StreamIDs aligned around SID. */
function cfgiSteRange(w0: u64, w1: u64, traced: bool, caches: bool): u32 {
  if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
  const sid = <u32>ex(w0, CMD_SID);
  const range = <u32>ex(w1, CMD_STE_RANGE);
  const mask = <u32>((<u64>1 << <u64>(range + 1)) - 1);
  const start = sid & ~mask;
  const end = start + mask;
  if (traced) tr(T_CMDQ_CFGI_STE_RANGE, start, end);
  if (caches) flushConfigRange(start, end);
  return CERROR_NONE;
}

/** CMD_CFGI_CD / CMD_CFGI_CD_ALL (4.3.4, 4.3.5): QEMU drops the device's whole configuration. */
function cfgiCd(w0: u64, traced: bool, caches: bool): u32 {
  if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
  const sid = <u32>ex(w0, CMD_SID);
  if (!isDevice(sid & (SID_SPACE - 1))) return CERROR_NONE;
  if (traced) tr(T_CMDQ_CFGI_CD, sid);
  if (caches) flushConfig(sid);
  return CERROR_NONE;
}

/** VMID a TLBI command names: only an SMMU with stage 2 matches VMIDs (QEMU 10.0), else KEY_NONE (any). */
// @ts-ignore: decorator
@inline function cmdVmid(w0: u64): u32 {
  return (S.profile & (PF_V10 | PF_S2P)) == (PF_V10 | PF_S2P) ? <u32>ex(w0, CMD_VMID) : KEY_NONE;
}

/** QEMU 10.0: stage-1 TLBIs are CERROR_ILL without stage 1 (IDR0.S1P = 0); QEMU 7.2 takes them all. */
// @ts-ignore: decorator
@inline function stage1Illegal(): bool {
  return (S.profile & (PF_V10 | PF_NO_S1P)) == (PF_V10 | PF_NO_S1P);
}

/** QEMU 10.0: stage-2 TLBIs are CERROR_ILL without stage 2 (IDR0.S2P = 0); QEMU 7.2 takes them as no-ops. */
// @ts-ignore: decorator
@inline function stage2Illegal(): bool {
  return (S.profile & PF_V10) != 0 && (S.profile & PF_S2P) == 0;
}

/** CMD_TLBI_NH_ASID (4.4.2): every IOTLB entry of the ASID (and of the VMID, with stage 2). */
// @ts-ignore: decorator
@inline function tlbiNhAsid(w0: u64, traced: bool, caches: bool): u32 {
  if (stage1Illegal()) return CERROR_ILL;
  const asid = <u32>ex(w0, CMD_ASID);
  if (traced) tr(T_CMDQ_TLBI_NH_ASID, asid);
  if (caches) iotlbInvAsid(asid, cmdVmid(w0));
  return CERROR_NONE;
}

/** CMD_TLBI_NH_VA / CMD_TLBI_NH_VAA (4.4.3, 4.4.4): an address range, of one ASID or of all. */
// @ts-ignore: decorator
@inline function tlbiNhVa(type: u32, w0: u64, w1: u64, traced: bool, caches: bool): u32 {
  if (stage1Illegal()) return CERROR_ILL;
  // an ASID without IOTLB entries, no trace: nothing to do (iotlbInvIova's own first test, before any other decoding)
  if (!traced && type == CMD_TLBI_NH_VA && !asidHasEntries(<u32>ex(w0, CMD_ASID))) return CERROR_NONE;
  if (caches || traced) rangeInval(type, w0, w1, traced, caches);
  return CERROR_NONE;
}

/** CMD_TLBI_NH_ALL (4.4.1): the whole IOTLB; with stage 2, the stage-1 entries of the VMID (QEMU smmu_iotlb_inv_vmid_s1). */
function tlbiNhAll(w0: u64, traced: bool, caches: bool): u32 {
  if (stage1Illegal()) return CERROR_ILL;
  if (traced) tr(T_CMDQ_TLBI_NH);
  const vmid = cmdVmid(w0);
  if (caches) {
    if (vmid == KEY_NONE) iotlbInvAll();
    else iotlbInvVmid(vmid, true);
  }
  return CERROR_NONE;
}

/** CMD_TLBI_NSNH_ALL (4.4.7): the whole IOTLB. */
function tlbiNsnhAll(traced: bool, caches: bool): u32 {
  if (traced) tr(T_CMDQ_TLBI_NH);
  if (caches) iotlbInvAll();
  return CERROR_NONE;
}

/** CMD_TLBI_S12_VMALL (4.4.5): every entry of the VMID, both stages (QEMU 10.0 smmu_iotlb_inv_vmid; 7.2: no effect). */
function tlbiS12Vmall(w0: u64, traced: bool, caches: bool): u32 {
  if (stage2Illegal()) return CERROR_ILL;
  if (traced) tr(T_UNHANDLED_CMD, CMD_TLBI_S12_VMALL);
  if (caches && (S.profile & PF_V10) != 0) iotlbInvVmid(cmdVmid(w0), false);
  return CERROR_NONE;
}

/** CMD_TLBI_S2_IPA (4.4.6): the stage-2 entries of the VMID for an IPA or a range (QEMU 10.0; 7.2: no effect). */
function tlbiS2Ipa(w0: u64, w1: u64, traced: bool, caches: bool): u32 {
  if (stage2Illegal()) return CERROR_ILL;
  if (traced) tr(T_UNHANDLED_CMD, CMD_TLBI_S2_IPA);
  if ((caches || traced) && (S.profile & PF_V10) != 0) rangeInval(CMD_TLBI_S2_IPA, w0, w1, traced, caches);
  return CERROR_NONE;
}

/**
 * TLBI_NH_VA / TLBI_NH_VAA / TLBI_S2_IPA (QEMU smmuv3_range_inval): without TG one 4 KiB
 * page; with TG (range invalidation) (NUM + 1) << SCALE pages split into naturally aligned
 * power-of-two chunks. TLBI_S2_IPA removes stage-2 entries only (QEMU smmu_iotlb_inv_ipa).
 */
// @ts-ignore: decorator
@inline function rangeInval(type: u32, w0: u64, w1: u64, traced: bool, caches: bool): void {
  let addr = ex(w1, CMD_ADDR) << CMD_ADDR_SHIFT;
  const scale = <u32>ex(w0, CMD_SCALE);
  const num = <u32>ex(w0, CMD_NUM);
  const tg = <u32>ex(w1, CMD_TG);
  const asid: i32 = type == CMD_TLBI_NH_VA ? <i32>ex(w0, CMD_ASID) : -1;
  if (tg == 0 || (tg == 1 && num == 0 && scale == 0)) {
    // one 4 KiB page (a 4 KiB-aligned single-page range is one chunk of one page)
    if (traced) tr(T_S1_RANGE_INVAL, <u32>ex(w0, CMD_VMID), <u64><i64>asid, addr, tg, 1, <u32>ex(w1, CMD_TTL), <u32>ex(w1, CMD_LEAF));
    if (caches) invChunk(type, asid, cmdVmid(w0), addr, tg, 1, <u32>ex(w1, CMD_TTL));
    return;
  }
  rangeInvalChunks(type, asid, addr, w0, w1, traced, caches);
}

/** One chunk of a range invalidation: stage-2 entries for TLBI_S2_IPA, else by ASID (-1: any) and VMID. */
// @ts-ignore: decorator
@inline function invChunk(type: u32, asid: i32, vmid: u32, addr: u64, tg: u32, pages: u64, ttl: u32): void {
  if (type == CMD_TLBI_S2_IPA) iotlbInvIpa(vmid, addr, tg, pages, ttl);
  else iotlbInvIova(asid, vmid, addr, tg, pages, ttl);
}

/** The range case of rangeInval: (NUM + 1) << SCALE granules in naturally aligned power-of-two chunks. */
function rangeInvalChunks(type: u32, asid: i32, addr: u64, w0: u64, w1: u64, traced: bool, caches: bool): void {
  const vmid = <u32>ex(w0, CMD_VMID);
  const vm = cmdVmid(w0);
  const ttl = <u32>ex(w1, CMD_TTL);
  const leaf = <u32>ex(w1, CMD_LEAF);
  const tg = <u32>ex(w1, CMD_TG);
  let pages: u64 = <u64>(<u32>ex(w0, CMD_NUM) + 1) << ex(w0, CMD_SCALE);
  const granule = <u64>(tg * 2 + 10);
  const end = addr + (pages << granule) - 1;
  while (addr != end + 1) {
    const mask = alignedPow2Mask(addr, end);
    pages = (mask + 1) >> granule;
    if (traced) tr(T_S1_RANGE_INVAL, vmid, <u64><i64>asid, addr, tg, pages, ttl, leaf);
    if (caches) invChunk(type, asid, vm, addr, tg, pages, ttl);
    addr += mask + 1;
  }
}

/** Largest naturally aligned power-of-two block starting at `start` and not past `end` (QEMU dma_aligned_pow2_mask, 64-bit). */
function alignedPow2Mask(start: u64, end: u64): u64 {
  const addrMask = end - start;
  const alignMask: u64 = start != 0 ? (start & (0 - start)) - 1 : <u64>-1;
  if (alignMask <= addrMask) return alignMask; // always when addrMask is all ones, so addrMask + 1 below is not 0
  return (<u64>1 << (63 - clz<u64>(addrMask + 1))) - 1;
}
