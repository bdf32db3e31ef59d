// Command queue engine (QEMU 7.2 smmuv3_cmdq_consume): consumes from CONS to PROD
// while CR0.CMDQEN is set and no command error is pending; each command takes its
// effect on the configuration cache and the IOTLB, then (vIOMMU) is classified for
// the physical SMMUs. No allocation and no host call per command: the queue is read
// straight from RAM inside this memory, or staged with one bulk host read per
// contiguous run (two at a wrap).

import * as S from "./state";
import { ex, ex32, dp32, fmask } from "./bits";
import { gread, ramPtr } from "./guestmem";
import { halloc } from "./heap";
import { triggerIrq } from "./irq";
import { baseAddr, qEmpty, qIncr, qIndexMask, qWrapMask, qWrapIndexMask } from "./queue";
import { traceOn, tr } from "./trace";
import { isDevice, flushConfig, flushConfigRange, SID_SPACE, cfgEntry, CF_DEVICE, CF_CACHED } from "./config";
import { iotlbInvAll, iotlbInvAsid, iotlbInvIova, iotlbInvIpa, iotlbInvVmid, asidCounts, spanMisses } from "./iotlb";
import * as D from "./dispatch";
import {
  CMD_BYTES, CMD_OPCODE, CMD_SSEC, CMD_SID, CMD_ASID, CMD_VMID, CMD_NUM, CMD_SCALE, CMD_SYNC_CS, CMD_LEAF,
  CMD_TTL, CMD_TG, CMD_STE_RANGE, SYNC_CS_IRQ,
  CMD_SYNC, CMD_PREFETCH_CONFIG, CMD_PREFETCH_ADDR, CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_CD,
  CMD_CFGI_CD_ALL, CMD_TLBI_NH_ASID, CMD_TLBI_NH_ALL, CMD_TLBI_NSNH_ALL, CMD_TLBI_NH_VAA, CMD_TLBI_NH_VA,
  CMD_TLBI_EL3_ALL, CMD_TLBI_EL3_VA, CMD_TLBI_EL2_ALL, CMD_TLBI_EL2_ASID, CMD_TLBI_EL2_VA, CMD_TLBI_EL2_VAA,
  CMD_TLBI_S12_VMALL, CMD_TLBI_S2_IPA, CMD_ATC_INV, CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM,
} from "../src/arch/commands";
import {
  CR0_CMDQEN, GERROR_CMDQ_ERR, CMDQ_CONS_ERR, CERROR_NONE, CERROR_ILL, CERROR_ABT, IRQ_CMD_SYNC, IRQ_GERROR,
  QEMU_CMDQS,
} from "../src/arch/registers";
import { CQ_IDLE, CQ_FORWARD, CQ_BUSY, ST_COMMANDS, ST_SYNCS, PF_V10, PF_S2P, PF_NO_S1P, KEY_NONE } from "../src/arch/abi";
import {
  T_CMDQ_CONSUME, T_CMDQ_OPCODE, T_CMDQ_CONSUME_OUT, T_CMDQ_CONSUME_ERROR, T_CMDQ_CFGI_STE,
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

let w0: u64 = 0;
let w1: u64 = 0;

/** Reads the entry at queue index `idx` into w0/w1; false on a failed read. */
function readEntry(ring: usize, qbase: u64, idx: u32, prodIdx: u32, log2: u32): bool {
  if (ring != 0) {
    const p = ring + (<usize>idx << 4);
    w0 = load<u64>(p);
    w1 = load<u64>(p, 8);
    return true;
  }
  if (stage == 0) {
    // no host memory: the queue straddles RAM edges, read it entry by entry
    if (!gread(qbase + (<u64>idx << 4), one, CMD_BYTES)) return false;
    w0 = load<u64>(one);
    w1 = load<u64>(one, 8);
    return true;
  }
  if (!stageOk || idx < stageFirst || idx >= stageFirst + stageCount) {
    // one bulk read from idx up to PROD, or to the end of the ring
    const size = <u32>1 << log2;
    const end = prodIdx > idx ? prodIdx : size;
    stageFirst = idx;
    stageCount = end - idx;
    stageOk = gread(qbase + (<u64>idx << 4), stage, stageCount << 4);
    if (!stageOk) {
      // find the failing entry exactly: per-entry reads
      stageCount = 0;
      if (!gread(qbase + (<u64>idx << 4), one, CMD_BYTES)) return false;
      w0 = load<u64>(one);
      w1 = load<u64>(one, 8);
      return true;
    }
  }
  const p = stage + (<usize>(idx - stageFirst) << 4);
  w0 = load<u64>(p);
  w1 = load<u64>(p, 8);
  return true;
}

/** Consumes commands (QEMU smmuv3_cmdq_consume); returns CQ_*. */
export function cmdqConsume(): u32 {
  if (!cmdqEnabled()) return CQ_IDLE;
  if (D.fwdBusy) return CQ_BUSY;
  const log2 = S.cmdqLog2;
  const qbase = baseAddr(S.cmdqBase);
  const ring = ramPtr(qbase, <u64>CMD_BYTES << log2);
  if (ring != 0 && !traceOn && !D.dispatchOn) return consumeRing(ring, log2);
  const imask = qIndexMask(log2);
  stageOk = false;
  let err: u32 = CERROR_NONE;
  let type: u32 = 0;

  while (!qEmpty(S.cmdqProd, S.cmdqCons, log2)) {
    if (traceOn) traceQueue(T_CMDQ_CONSUME, log2);
    if (((S.gerror ^ S.gerrorn) & <u32>fmask(GERROR_CMDQ_ERR)) != 0) break;
    const cons = S.cmdqCons;
    if (!readEntry(ring, qbase, cons & imask, S.cmdqProd & imask, log2)) {
      err = CERROR_ABT;
      break;
    }
    type = <u32>ex(w0, CMD_OPCODE);
    if (traceOn) tr(T_CMDQ_OPCODE, type);
    if (D.dispatchOn) {
      // CMD_SYNC waits for what is forwarded before it; a nearly full log is flushed first
      if ((type == CMD_SYNC && D.fwdCount > 0) || !D.fwdRoom()) return D.pause();
    }
    err = execute(type);
    if (err == CERROR_NONE && D.dispatchOn) err = D.dispatchCmd(w0, w1, type, cons);
    if (err != CERROR_NONE) break;
    S.bump(ST_COMMANDS);
    S.cmdqCons = qIncr(cons, log2);
  }
  if (err != CERROR_NONE) {
    if (D.dispatchOn && D.fwdCount > 0) {
      // earlier commands' entries go out first; the error is raised when they are done
      D.appendError(err, S.cmdqCons, type);
      return D.pause();
    }
    raiseCommandError(err, type);
  }
  if (traceOn) traceQueue(T_CMDQ_CONSUME_OUT, log2);
  if (D.dispatchOn && D.fwdCount > 0) return D.pause();
  return CQ_IDLE;
}

// Fast path: the whole ring in RAM inside this memory, no trace, no dispatcher. The
// same loop as above, over contiguous runs of entries with the state in locals; a
// command error ends the run on the failing command exactly as above.
let spanErr: u32 = CERROR_NONE;
let spanType: u32 = 0;

function consumeRing(ring: usize, log2: u32): u32 {
  const m = qWrapIndexMask(log2);
  const imask = qIndexMask(log2);
  while (!qEmpty(S.cmdqProd, S.cmdqCons, log2)) {
    // only a command error toggles GERROR.CMDQ_ERR, and it ends the loop: checked per run
    if (((S.gerror ^ S.gerrorn) & <u32>fmask(GERROR_CMDQ_ERR)) != 0) break;
    const cons = S.cmdqCons;
    const ci = cons & imask;
    const pi = S.cmdqProd & imask;
    const count = pi > ci ? pi - ci : imask + 1 - ci; // up to PROD, or to the end of the ring
    const done = runSpan(ring + (<usize>ci << 4), count);
    S.cmdqCons = (cons & ~m) | ((cons + done) & m);
    if (done < count) {
      raiseCommandError(spanErr, spanType);
      break;
    }
  }
  return CQ_IDLE;
}

/** Executes up to `count` entries at `p`; returns how many completed (fewer: spanErr/spanType say why). */
function runSpan(p: usize, count: u32): u32 {
  const first = p;
  const end = p + (<usize>count << 4);
  let syncs: u32 = 0;
  // neither changes inside the loop (no MMIO, no host call)
  const caches = localCaches;
  const counts = asidCounts();
  // an SMMU without stage 1 or with stage 2 makes TLBI legality and VMIDs matter: execute() applies them
  const stageRules = (S.profile & (PF_S2P | PF_NO_S1P)) != 0;
  while (p < end) {
    const a = load<u64>(p);
    const type = <u32>a & 0xff;
    switch (stageRules ? CMD_NONE : type) {
      case CMD_TLBI_NH_VA: {
        // no effect unless that ASID has IOTLB entries (iotlbInvIova's own first test)
        const asid = <u32>(a >> 48);
        if (caches && load<u16>(counts + (<usize>asid << 1)) != 0) {
          const b = load<u64>(p, 8);
          // nor when it is one 4 KiB page (TG = 0, or TG = 4K with NUM = SCALE = 0: rangeInval's
          // first case) outside what that ASID's entries span (iotlbInvIova's second test)
          const tg = <u32>(b >> 10) & 3;
          const page = b & ~<u64>0xfff;
          if ((tg == 0 || (tg == 1 && (a & 0x1fff000) == 0)) && spanMisses(asid, page, page + 0xfff)) break;
          w0 = a;
          w1 = b;
          rangeInval(type);
        }
        break;
      }
      case CMD_SYNC: {
        syncs++;
        if ((<u32>(a >> 12) & SYNC_CS_IRQ) != 0) triggerIrq(IRQ_CMD_SYNC, 0);
        break;
      }
      case CMD_TLBI_NH_ASID: {
        const asid = <u32>(a >> 48);
        if (caches && load<u16>(counts + (<usize>asid << 1)) != 0) iotlbInvAsid(asid, KEY_NONE);
        break;
      }
      case CMD_CFGI_STE: {
        if ((a & (<u64>1 << 10)) != 0) { // SSEC = 1: a command error
          spanErr = CERROR_ILL;
          spanType = type;
          return finishSpan(first, p, syncs);
        }
        if (caches) {
          const e = cfgEntry(<u32>(a >> 32));
          if (load<u8>(e, CF_DEVICE) != 0 && load<u8>(e, CF_CACHED) != 0) flushConfig(<u32>(a >> 32));
        }
        break;
      }
      default: {
        w0 = a;
        w1 = load<u64>(p, 8);
        const err = execute(type);
        if (err != CERROR_NONE) {
          spanErr = err;
          spanType = type;
          return finishSpan(first, p, syncs);
        }
      }
    }
    p += CMD_BYTES;
  }
  return finishSpan(first, p, syncs);
}

/** Counts the commands completed in [first, p) and the CMD_SYNCs among them; returns how many. */
function finishSpan(first: usize, p: usize, syncs: u32): u32 {
  const done = <u32>((p - first) >> 4);
  store<u64>(S.stats + ST_SYNCS, load<u64>(S.stats + ST_SYNCS) + <u64>syncs);
  store<u64>(S.stats + ST_COMMANDS, load<u64>(S.stats + ST_COMMANDS) + <u64>done);
  return done;
}

/** CONS.ERR = err and GERROR.CMDQ_ERR toggled; CONS stays on the failing command. */
export function raiseCommandError(err: u32, type: u32): void {
  if (traceOn) tr(T_CMDQ_CONSUME_ERROR, type, err);
  S.cmdqCons = dp32(S.cmdqCons, CMDQ_CONS_ERR, err);
  triggerIrq(IRQ_GERROR, <u32>fmask(GERROR_CMDQ_ERR));
}

function traceQueue(id: u32, log2: u32): void {
  const im = qIndexMask(log2);
  const wm = qWrapMask(log2);
  tr(id, S.cmdqProd & im, S.cmdqCons & im, (S.cmdqProd & wm) >> log2, (S.cmdqCons & wm) >> log2);
}

/** Not an opcode: sends every command of runSpan to execute(). */
const CMD_NONE: u32 = 0x100;

/** VMID a TLBI command names: only an SMMU with stage 2 matches VMIDs (QEMU 10.0), else KEY_NONE (any). */
// @ts-ignore: decorator
@inline function cmdVmid(): u32 {
  return (S.profile & (PF_V10 | PF_S2P)) == (PF_V10 | PF_S2P) ? <u32>ex(w0, CMD_VMID) : KEY_NONE;
}

/** QEMU 10.0: stage-1 TLBIs are CERROR_ILL without stage 1, stage-2 ones without stage 2 (7.2 takes both). */
// @ts-ignore: decorator
@inline function stage1Illegal(): bool {
  return (S.profile & (PF_V10 | PF_NO_S1P)) == (PF_V10 | PF_NO_S1P);
}
// @ts-ignore: decorator
@inline function stage2Illegal(): bool {
  return (S.profile & PF_V10) != 0 && (S.profile & PF_S2P) == 0;
}

/** The effect of one command on this model (QEMU's switch on the opcode). */
function execute(type: u32): u32 {
  switch (type) {
    case CMD_SYNC: {
      S.bump(ST_SYNCS);
      if ((<u32>ex(w0, CMD_SYNC_CS) & SYNC_CS_IRQ) != 0) triggerIrq(IRQ_CMD_SYNC, 0);
      return CERROR_NONE;
    }
    case CMD_PREFETCH_CONFIG:
    case CMD_PREFETCH_ADDR:
      return CERROR_NONE;
    case CMD_CFGI_STE: {
      if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
      const sid = <u32>ex(w0, CMD_SID);
      if (!isDevice(sid & (SID_SPACE - 1))) return CERROR_NONE; // no such device (QEMU smmu_iommu_mr)
      if (traceOn) tr(T_CMDQ_CFGI_STE, sid);
      if (localCaches) flushConfig(sid);
      return CERROR_NONE;
    }
    case CMD_CFGI_STE_RANGE: {
      if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
      const sid = <u32>ex(w0, CMD_SID);
      const range = <u32>ex(w1, CMD_STE_RANGE);
      const mask = <u32>((<u64>1 << <u64>(range + 1)) - 1);
      const start = sid & ~mask;
      const end = start + mask;
      if (traceOn) tr(T_CMDQ_CFGI_STE_RANGE, start, end);
      if (localCaches) flushConfigRange(start, end);
      return CERROR_NONE;
    }
    case CMD_CFGI_CD:
    case CMD_CFGI_CD_ALL: {
      if (ex(w0, CMD_SSEC) != 0) return CERROR_ILL;
      const sid = <u32>ex(w0, CMD_SID);
      if (!isDevice(sid & (SID_SPACE - 1))) return CERROR_NONE;
      if (traceOn) tr(T_CMDQ_CFGI_CD, sid);
      if (localCaches) flushConfig(sid);
      return CERROR_NONE;
    }
    case CMD_TLBI_NH_ASID: {
      if (stage1Illegal()) return CERROR_ILL;
      const asid = <u32>ex(w0, CMD_ASID);
      if (traceOn) tr(T_CMDQ_TLBI_NH_ASID, asid);
      if (localCaches) iotlbInvAsid(asid, cmdVmid());
      return CERROR_NONE;
    }
    case CMD_TLBI_NH_ALL: {
      if (stage1Illegal()) return CERROR_ILL;
      if (traceOn) tr(T_CMDQ_TLBI_NH);
      const vmid = cmdVmid();
      // with stage 2: the stage-1 (ASID-tagged) entries of that VMID (QEMU smmu_iotlb_inv_vmid_s1)
      if (localCaches) {
        if (vmid == KEY_NONE) iotlbInvAll();
        else iotlbInvVmid(vmid, true);
      }
      return CERROR_NONE;
    }
    case CMD_TLBI_NSNH_ALL: {
      if (traceOn) tr(T_CMDQ_TLBI_NH);
      if (localCaches) iotlbInvAll();
      return CERROR_NONE;
    }
    case CMD_TLBI_NH_VAA:
    case CMD_TLBI_NH_VA: {
      if (stage1Illegal()) return CERROR_ILL;
      if (localCaches || traceOn) rangeInval(type);
      return CERROR_NONE;
    }
    case CMD_TLBI_S12_VMALL: {
      if (stage2Illegal()) return CERROR_ILL;
      if (traceOn) tr(T_UNHANDLED_CMD, type);
      // QEMU 10.0 smmu_iotlb_inv_vmid: every entry of the VMID, both stages (7.2: no effect)
      if (localCaches && (S.profile & PF_V10) != 0) iotlbInvVmid(cmdVmid(), false);
      return CERROR_NONE;
    }
    case CMD_TLBI_S2_IPA: {
      if (stage2Illegal()) return CERROR_ILL;
      if (traceOn) tr(T_UNHANDLED_CMD, type);
      if ((localCaches || traceOn) && (S.profile & PF_V10) != 0) rangeInval(type);
      return CERROR_NONE;
    }
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
      if (traceOn) tr(T_UNHANDLED_CMD, type);
      return CERROR_NONE;
    }
  }
  return CERROR_ILL;
}

/**
 * TLBI_NH_VA / TLBI_NH_VAA / TLBI_S2_IPA (QEMU smmuv3_range_inval): without TG one 4 KiB
 * page; with TG (range invalidation) (NUM + 1) << SCALE pages split into naturally aligned
 * power-of-two chunks. TLBI_S2_IPA removes stage-2 entries only (QEMU smmu_iotlb_inv_ipa).
 */
function rangeInval(type: u32): void {
  let addr = w1 & ~<u64>0xfff; // CMD_ADDR
  const vmid = <u32>ex(w0, CMD_VMID);
  const vm = cmdVmid();
  const ipa = type == CMD_TLBI_S2_IPA;
  const scale = <u32>ex(w0, CMD_SCALE);
  const num = <u32>ex(w0, CMD_NUM);
  const ttl = <u32>ex(w1, CMD_TTL);
  const leaf = <u32>ex(w1, CMD_LEAF);
  const tg = <u32>ex(w1, CMD_TG);
  const asid: i32 = type == CMD_TLBI_NH_VA ? <i32>ex(w0, CMD_ASID) : -1;
  if (tg == 0 || (tg == 1 && num == 0 && scale == 0)) {
    // one 4 KiB page (a 4 KiB-aligned single-page range is one chunk of one page)
    if (traceOn) tr(T_S1_RANGE_INVAL, vmid, <u64><i64>asid, addr, tg, 1, ttl, leaf);
    if (localCaches) invChunk(ipa, asid, vm, addr, tg, 1, ttl);
    return;
  }
  let pages: u64 = <u64>(num + 1) << <u64>scale;
  const granule = <u64>(tg * 2 + 10);
  const end = addr + (pages << granule) - 1;
  while (addr != end + 1) {
    const mask = alignedPow2Mask(addr, end);
    pages = (mask + 1) >> granule;
    if (traceOn) tr(T_S1_RANGE_INVAL, vmid, <u64><i64>asid, addr, tg, pages, ttl, leaf);
    if (localCaches) invChunk(ipa, asid, vm, addr, tg, pages, ttl);
    addr += mask + 1;
  }
}

// @ts-ignore: decorator
@inline function invChunk(ipa: bool, asid: i32, vmid: u32, addr: u64, tg: u32, pages: u64, ttl: u32): void {
  if (ipa) iotlbInvIpa(vmid, addr, tg, pages, ttl);
  else iotlbInvIova(asid, vmid, addr, tg, pages, ttl);
}

/** Largest naturally aligned power-of-two block starting at `start` and not past `end` (QEMU dma_aligned_pow2_mask, 64-bit). */
function alignedPow2Mask(start: u64, end: u64): u64 {
  const addrMask = end - start;
  const alignMask: u64 = start != 0 ? (start & (0 - start)) - 1 : <u64>-1;
  if (alignMask <= addrMask) return alignMask;
  if (addrMask == <u64>-1) return <u64>-1;
  return (<u64>1 << (63 - clz<u64>(addrMask + 1))) - 1;
}
