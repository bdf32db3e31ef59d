// Event queue (IHI 0070, 7): the event-info record the translation path fills, its
// encoding into the 32-byte record exactly as QEMU 7.2's smmuv3_record_event does,
// and the queue write with its overflow and abort behaviour.

import * as S from "./state";
import { dp, ex32, fmask } from "./bits";
import { gwrite } from "./guestmem";
import { triggerIrq } from "./irq";
import { baseAddr, qEmpty, qFull, qIndexMask, qWrapIndexMask } from "./queue";
import { traceOn, tr } from "./trace";
import {
  EVT_BYTES, EVT_NONE, EVT_F_UUT, EVT_C_BAD_STREAMID, EVT_F_STE_FETCH, EVT_C_BAD_STE,
  EVT_F_STREAM_DISABLED, EVT_F_TRANSL_FORBIDDEN, EVT_C_BAD_SUBSTREAMID, EVT_F_CD_FETCH,
  EVT_C_BAD_CD, EVT_F_WALK_EABT, EVT_F_TRANSLATION, EVT_F_ADDR_SIZE, EVT_F_ACCESS,
  EVT_F_PERMISSION, EVT_F_CFG_CONFLICT, EVT_TYPE, EVT_SSV, EVT_SSID, EVT_SID, EVT_STAG,
  EVT_STALL, EVT_PNU, EVT_IND, EVT_RNW, EVT_S2, EVT_CLASS, EVT_CLASS_TT,
} from "../src/arch/events";
import { PtwInfo, PTW_ERR_WALK_EABT, PTW_ERR_TRANSLATION, PTW_ERR_ADDR_SIZE, PTW_ERR_ACCESS } from "./walkerr";
import { CR0_EVENTQEN, GERROR_EVENTQ_ABT_ERR, IRQ_EVTQ, IRQ_GERROR } from "../src/arch/registers";
import { ST_EVENTS, ST_EVENTS_LOST } from "../src/arch/abi";
import { T_RECORD_EVENT } from "../src/arch/trace-events";

/**
 * Event info (QEMU SMMUEventInfo): filled along the translation path by whoever finds the
 * fault (the caller owns it and passes it down), encoded by recordEvent.
 */
// @ts-ignore: decorator
@unmanaged export class EventInfo {
  type: u32 = 0;
  sid: u32 = 0;
  addr: u64 = 0;
  addr2: u64 = 0;
  rnw: u32 = 0;
  cls: u32 = 0;
  s2: u32 = 0;

  // Fields of QEMU's SMMUEventInfo that stay 0 in both QEMU and this model (no substreams,
  // no stall model, privileged data accesses): constants, so that resetting costs nothing.
  // @ts-ignore: decorator
  @inline get ssid(): u32 { return 0; }
  // @ts-ignore: decorator
  @inline get ssv(): u32 { return 0; }
  // @ts-ignore: decorator
  @inline get pnu(): u32 { return 0; }
  // @ts-ignore: decorator
  @inline get ind(): u32 { return 0; }
  // @ts-ignore: decorator
  @inline get stall(): u32 { return 0; }
  // @ts-ignore: decorator
  @inline get stag(): u32 { return 0; }

  /** No event yet, for a transaction of `sid`. */
  reset(sid: u32): void {
    this.type = EVT_NONE;
    this.sid = sid;
    this.addr = 0;
    this.addr2 = 0;
    this.rnw = 0;
    this.cls = 0;
    this.s2 = 0;
  }
}

/** Event info of lookups whose events nobody records (the dispatcher's STE reads, debug loads). */
export const unrecorded = changetype<EventInfo>(memory.data(offsetof<EventInfo>(), 8));

/**
 * Event info of a failed walk or cached-entry check (QEMU 10.0 smmuv3_do_translate): the
 * walk result `r` (PTW_ERR_*), the stage it is reported at, ADDR2, whether it happened on a
 * descriptor's IPA (CLASS = TT) from `info`, the transaction's class `cls` (IN, or CD / TT for a
 * configuration's addresses) and whether that stage records faults (CD.R or STE.S2R).
 * An external abort is always recorded. Without `v10` (QEMU 7.2): no S2 bit, CLASS and
 * ADDR2 only for an external abort.
 */
export function evWalkFault(ev: EventInfo, r: u32, info: PtwInfo, cls: u32, rnw: u32, record: bool, v10: bool): void {
  const stage = info.stage;
  ev.rnw = rnw;
  if (v10) ev.s2 = stage == 2 ? 1 : 0;
  const c = info.ipaDesc ? EVT_CLASS_TT : cls;
  if (r == PTW_ERR_WALK_EABT) {
    ev.type = EVT_F_WALK_EABT;
    ev.cls = !v10 || stage != 2 ? EVT_CLASS_TT : c;
    ev.addr2 = info.addr;
    return;
  }
  if (!record) return;
  ev.type = r == PTW_ERR_TRANSLATION ? EVT_F_TRANSLATION : r == PTW_ERR_ADDR_SIZE ? EVT_F_ADDR_SIZE : r == PTW_ERR_ACCESS ? EVT_F_ACCESS : EVT_F_PERMISSION;
  if (v10) {
    ev.cls = c;
    ev.addr2 = info.addr;
  }
}

const rec = memory.data(EVT_BYTES);

/**
 * Encodes `ev` and writes it to the event queue (QEMU smmuv3_record_event).
 * Returns true when the event counts as recorded (the queue was enabled).
 */
export function recordEvent(ev: EventInfo): bool {
  if (ex32(S.cr0, CR0_EVENTQEN) == 0) return false;
  const t = ev.type;
  if (t == EVT_NONE) return false;
  let w0: u64 = dp(0, EVT_TYPE, <u64>t);
  w0 = dp(w0, EVT_SID, <u64>ev.sid);
  let w1: u64 = 0, w2: u64 = 0, w3: u64 = 0;
  switch (t) {
    case EVT_F_UUT: {
      w0 = dp(dp(w0, EVT_SSID, ev.ssid), EVT_SSV, ev.ssv);
      w2 = ev.addr;
      w1 = dp(dp(dp(w1, EVT_RNW, ev.rnw), EVT_PNU, ev.pnu), EVT_IND, ev.ind);
      break;
    }
    case EVT_C_BAD_STREAMID:
    case EVT_C_BAD_STE:
    case EVT_C_BAD_CD:
    case EVT_F_CFG_CONFLICT: {
      w0 = dp(dp(w0, EVT_SSID, ev.ssid), EVT_SSV, ev.ssv);
      break;
    }
    case EVT_F_STE_FETCH: {
      w0 = dp(dp(w0, EVT_SSID, ev.ssid), EVT_SSV, ev.ssv);
      w3 = ev.addr2;
      break;
    }
    case EVT_F_STREAM_DISABLED:
      break;
    case EVT_F_TRANSL_FORBIDDEN: {
      w2 = ev.addr;
      w1 = dp(w1, EVT_RNW, ev.rnw);
      break;
    }
    case EVT_C_BAD_SUBSTREAMID: {
      w0 = dp(w0, EVT_SSID, ev.ssid);
      break;
    }
    case EVT_F_CD_FETCH: {
      w0 = dp(dp(w0, EVT_SSID, ev.ssid), EVT_SSV, ev.ssv);
      w2 = ev.addr;
      break;
    }
    case EVT_F_WALK_EABT:
    case EVT_F_TRANSLATION:
    case EVT_F_ADDR_SIZE:
    case EVT_F_ACCESS:
    case EVT_F_PERMISSION: {
      w1 = dp(w1, EVT_STALL, ev.stall);
      w1 = dp(w1, EVT_STAG, ev.stag);
      w0 = dp(dp(w0, EVT_SSID, ev.ssid), EVT_SSV, ev.ssv);
      w1 = dp(w1, EVT_S2, ev.s2);
      w2 = ev.addr;
      w1 = dp(w1, EVT_RNW, ev.rnw);
      w1 = dp(w1, EVT_PNU, ev.pnu);
      w1 = dp(w1, EVT_IND, ev.ind);
      w1 = dp(w1, EVT_CLASS, ev.cls);
      w3 = ev.addr2;
      break;
    }
    default:
      return false; // not produced by this model
  }
  store<u64>(rec, w0);
  store<u64>(rec, w1, 8);
  store<u64>(rec, w2, 16);
  store<u64>(rec, w3, 24);
  if (traceOn) tr(T_RECORD_EVENT, t, ev.sid);
  writeRecord(rec);
  return true;
}

/** Appends a 32-byte record to the event queue; a full or failing queue raises GERROR.EVENTQ_ABT_ERR. */
export function writeRecord(r: usize): void {
  if (!eventqWrite(r)) {
    S.bump(ST_EVENTS_LOST);
    triggerIrq(IRQ_GERROR, <u32>fmask(GERROR_EVENTQ_ABT_ERR));
  } else {
    S.bump(ST_EVENTS);
  }
}

function eventqWrite(r: usize): bool {
  if (ex32(S.cr0, CR0_EVENTQEN) == 0) return false;
  const log2 = S.eventqLog2;
  if (qFull(S.eventqProd, S.eventqCons, log2)) return false;
  const addr = baseAddr(S.eventqBase) + (<u64>(S.eventqProd & qIndexMask(log2)) << 5);
  if (!gwrite(addr, r, EVT_BYTES)) return false;
  S.eventqProd = (S.eventqProd + 1) & qWrapIndexMask(log2);
  if (!qEmpty(S.eventqProd, S.eventqCons, log2)) triggerIrq(IRQ_EVTQ, 0);
  return true;
}

/** Whether the guest has the event queue enabled (events from backends are dropped otherwise). */
export function eventqEnabled(): bool {
  return ex32(S.cr0, CR0_EVENTQEN) != 0;
}
