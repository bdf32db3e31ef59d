// vIOMMU dispatcher: splits the guest's commands between this model's own caches
// and the physical SMMUs (backends) behind it, following the forwarding contract of
// the trace spec ("The vIOMMU extension"), shaped after Linux iommufd's vIOMMU:
// TLBI_NH_* go to the backends holding the ASID (all of them when unknown) with the
// backend's VMID, CFGI_CD*/ATC_INV go to the device's backend with its physical SID,
// CFGI_STE* install the guest STE (checked as iommufd checks it) on the backend.
// Output: each backend's entries contiguous in the form it receives them, tagged with
// their guest command (FWH_*, FWT_*); at the end of a window (a CMD_SYNC with entries
// pending, a full window, the end of the queue) one host call (fwd_flush) hands them to
// the backends and answers which entry failed, or that a backend answers later.

import { ex, ld, dp, fmask } from "./bits";
import { halloc } from "./heap";
import { gread64, readOk } from "./guestmem";
import { findSte, steBuf, steAddr, STE_NOWHERE } from "./strtab";
import * as S from "./state";
import { traceOn, tr } from "./trace";
import { eventqEnabled, writeRecord } from "./evtq";
import { raiseCommandError } from "./cmderror";
import {
  CMD_OPCODE, CMD_SID, CMD_ASID, CMD_VMID, CMD_STE_RANGE, CMD_TLBI_NH_ALL, CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA, CMD_TLBI_NH_VAA, CMD_TLBI_NSNH_ALL, CMD_CFGI_CD, CMD_CFGI_CD_ALL, CMD_ATC_INV,
  CMD_CFGI_STE, CMD_CFGI_STE_RANGE,
} from "../src/arch/commands";
import {
  STE_V, STE_CONFIG, STE_S1FMT, STE_S1CTXPTR, STE_S1CDMAX, STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_S1_TRANS,
  STE0_NESTING_ALLOWED_LO, STE0_NESTING_ALLOWED_HI, STE1_NESTING_ALLOWED_LO, STE1_NESTING_ALLOWED_HI,
} from "../src/arch/ste";
import { CD_BYTES, CD_V, CD_ASID, L1CD_V, L1CD_L2PTR, L1CD_L2PTR_SHIFT } from "../src/arch/cd";
import { EVT_SID, EVT_BYTES } from "../src/arch/events";
import { CERROR_NONE, CERROR_ILL } from "../src/arch/registers";
import {
  LEARN_CD_LIMIT, MAX_BACKENDS, MAX_VDEVS, FW_CAPACITY, FWK_INV, FWK_STE,
  FWH_COUNT, FWH_STES, FWH_ENTRIES, FWH_TAGS, FWH_PSIDS, FWH_BYTES, FW_ENTRY_BYTES, FWT_STE, FWT_PSID, FWT_INDEX,
  FWR_PENDING, FWR_ERROR, CQ_IDLE, CQ_FORWARD, ST_FORWARDED, ST_FILTERED, ST_BROADCAST_TLBI, ST_TARGETED_TLBI,
} from "../src/arch/abi";
import { T_FORWARD, T_VASID_LEARN, T_BACKEND_EVENT } from "../src/arch/trace-events";

// @ts-ignore: decorator
@external("env", "fwd_flush")
declare function fwd_flush(limit: u32): i32;

export let dispatchOn = false;
export let fwdCount: u32 = 0;
export let fwdBusy = false;
/** CMDQ_CONS as the guest sees it while forwarded entries are outstanding, -1 when not held. */
let holdCons: i64 = -1;

/** When false nothing is learned and every TLBI_NH_ASID/VA goes to every backend. */
let vasidOn = true;
export function setVasidTable(on: bool): void { vasidOn = on; if (!on) forgetAll(); }

let nBackends: u32 = 0;
const vmids = memory.data(MAX_BACKENDS * 4);
let allMask: u32 = 0;
let wildcard: u32 = 0; // backends assumed to hold every ASID

let nVdev: u32 = 0;
let vdevSid: usize; // u32[MAX_VDEVS], sorted (set by dispatchInit)
let vdevBackend: usize; // u32[MAX_VDEVS] (set by dispatchInit)
let vdevPsid: usize; // u32[MAX_VDEVS] (set by dispatchInit)

let vasid: usize; // u32 backend mask per ASID (set by dispatchInit)
let learned: usize; // u16 list of ASIDs with a non-zero mask (set by dispatchInit)
let nLearned: u32 = 0;

/** Per-backend output header (FWH_*); each backend's areas are allocated when it is set. */
const outHdr = memory.data(MAX_BACKENDS * FWH_BYTES);
/** CMDQ_CONS of each forwarding command of the window, by command index (FWT_INDEX). */
let cmdCons: usize = 0;
/** Forwarding commands in the window so far (the next command index). */
let nCmd: u32 = 0;
/** A command error behind the window's entries: its command index (FWT_INDEX when none), CONS, error and opcode. */
let errAt: u32 = FWT_INDEX;
let errCons: u32 = 0;
let errCode: u32 = 0;
let errType: u32 = 0;

export function dispatchInit(): void {
  vdevSid = halloc(MAX_VDEVS * 4);
  vdevBackend = halloc(MAX_VDEVS * 4);
  vdevPsid = halloc(MAX_VDEVS * 4);
  vasid = halloc(65536 * 4, 64);
  learned = halloc(65536 * 2);
  cmdCons = halloc(<usize>FW_CAPACITY * 4);
}

export function outPtr(): usize { return outHdr; }

/** Sets the backends (physical SMMUs) and the VMID this VM has on each. */
export function setBackend(index: u32, vmid: u32): bool {
  if (index >= <u32>MAX_BACKENDS || vmid > 0xffff) return false;
  const h = outHdr + <usize>(index * FWH_BYTES);
  if (load<u32>(h, FWH_ENTRIES) == 0) {
    const ent = halloc(<usize>FW_CAPACITY * FW_ENTRY_BYTES, 64);
    const tags: usize = ent == 0 ? 0 : halloc(<usize>FW_CAPACITY * 4);
    const psids: usize = tags == 0 ? 0 : halloc(<usize>FW_CAPACITY * 4);
    if (psids == 0) return false;
    store<u32>(h, <u32>ent, FWH_ENTRIES);
    store<u32>(h, <u32>tags, FWH_TAGS);
    store<u32>(h, <u32>psids, FWH_PSIDS);
  }
  store<u32>(vmids + (<usize>index << 2), vmid);
  if (index >= nBackends) nBackends = index + 1;
  allMask = nBackends == 32 ? 0xffffffff : (<u32>1 << nBackends) - 1;
  dispatchOn = true;
  return true;
}

export function backendCount(): u32 { return nBackends; }

// @ts-ignore: decorator
@inline function sidAt(i: u32): u32 { return load<u32>(vdevSid + (<usize>i << 2)); }

/** Position of `vsid` in the vdev table, or -(insertion point) - 1. */
function vdevFind(vsid: u32): i32 {
  let lo: i32 = 0, hi: i32 = <i32>nVdev - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sidAt(<u32>mid);
    if (v == vsid) return mid;
    if (v < vsid) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** Binds passthrough device `vsid` to backend `b` as `psid` (iommufd vdevice). */
export function vdevBind(vsid: u32, b: u32, psid: u32): bool {
  if (b >= nBackends) return false;
  let i = vdevFind(vsid);
  if (i < 0) {
    if (nVdev >= <u32>MAX_VDEVS) return false;
    i = -i - 1;
    const n = nVdev - <u32>i;
    memory.copy(vdevSid + (<usize>(i + 1) << 2), vdevSid + (<usize>i << 2), <usize>n << 2);
    memory.copy(vdevBackend + (<usize>(i + 1) << 2), vdevBackend + (<usize>i << 2), <usize>n << 2);
    memory.copy(vdevPsid + (<usize>(i + 1) << 2), vdevPsid + (<usize>i << 2), <usize>n << 2);
    nVdev++;
  }
  store<u32>(vdevSid + (<usize>i << 2), vsid);
  store<u32>(vdevBackend + (<usize>i << 2), b);
  store<u32>(vdevPsid + (<usize>i << 2), psid);
  return true;
}

/** Unbinds `vsid` (hot-unplug); learned ASIDs stay (over-invalidation is safe). */
export function vdevUnbind(vsid: u32): bool {
  const i = vdevFind(vsid);
  if (i < 0) return false;
  const n = nVdev - <u32>i - 1;
  memory.copy(vdevSid + (<usize>i << 2), vdevSid + (<usize>(i + 1) << 2), <usize>n << 2);
  memory.copy(vdevBackend + (<usize>i << 2), vdevBackend + (<usize>(i + 1) << 2), <usize>n << 2);
  memory.copy(vdevPsid + (<usize>i << 2), vdevPsid + (<usize>(i + 1) << 2), <usize>n << 2);
  nVdev--;
  return true;
}

/** Whether backend `b` has a passthrough device of this vSMMU with physical SID `psid`. */
export function vdevHasPsid(b: u32, psid: u32): bool {
  for (let i: u32 = 0; i < nVdev; i++) {
    if (load<u32>(vdevBackend + (<usize>i << 2)) == b && load<u32>(vdevPsid + (<usize>i << 2)) == psid) return true;
  }
  return false;
}

/** vSID of the device bound to (b, psid), or -1. */
export function vdevFromPsid(b: u32, psid: u32): i64 {
  for (let i: u32 = 0; i < nVdev; i++) {
    if (load<u32>(vdevBackend + (<usize>i << 2)) == b && load<u32>(vdevPsid + (<usize>i << 2)) == psid) return <i64>sidAt(i);
  }
  return -1;
}

/** Backend mask of the ASID (learned). */
export function vasidMask(asid: u32): u32 {
  return load<u32>(vasid + (<usize>(asid & 0xffff) << 2));
}

export function wildcardMask(): u32 { return wildcard; }
export function setWildcard(m: u32): void { wildcard = m & allMask; }
export function vasidOnNow(): bool { return vasidOn; }
export function vmidOf(b: u32): u32 { return load<u32>(vmids + (<usize>b << 2)); }
export function vdevCount(): u32 { return nVdev; }
export function vdevSidAt(i: u32): u32 { return sidAt(i); }
export function vdevBackendAt(i: u32): u32 { return load<u32>(vdevBackend + (<usize>i << 2)); }
export function vdevPsidAt(i: u32): u32 { return load<u32>(vdevPsid + (<usize>i << 2)); }
export function learnedCount(): u32 { return nLearned; }
export function learnedAsid(i: u32): u32 { return <u32>load<u16>(learned + (<usize>i << 1)); }

export function learn(asid: u32, b: u32): void {
  const p = vasid + (<usize>asid << 2);
  const m = load<u32>(p);
  if (m == 0) {
    store<u16>(learned + (<usize>nLearned << 1), <u16>asid);
    nLearned++;
  }
  if ((m & (<u32>1 << b)) == 0) {
    store<u32>(p, m | (<u32>1 << b));
    if (traceOn) tr(T_VASID_LEARN, b, asid);
  }
}

export function forgetAll(): void {
  for (let i: u32 = 0; i < nLearned; i++) {
    store<u32>(vasid + (<usize>load<u16>(learned + (<usize>i << 1)) << 2), 0);
  }
  nLearned = 0;
  wildcard = 0;
}

/** Learns the ASIDs of the valid CDs of `vsid`'s STE (when it is a valid stage-1 STE) for backend `b`. */
function learnFrom(vsid: u32, b: u32): void {
  if (!vasidOn) return;
  const addr = steAddr(vsid);
  if (addr == STE_NOWHERE) return;
  const s0 = gread64(addr); // V, Config, S1Fmt, S1ContextPtr and S1CDMax are all in word 0
  if (readOk) learnSte(s0, b);
}

/** learnFrom() for an STE whose word 0 is `s0`. */
function learnSte(s0: u64, b: u32): void {
  if (!vasidOn || ex(s0, STE_V) == 0 || <u32>ex(s0, STE_CONFIG) != STE_CFG_S1_TRANS) return;
  const ctx = ex(s0, STE_S1CTXPTR) << 6;
  const cdmax = <u32>ex(s0, STE_S1CDMAX);
  const fmt = <u32>ex(s0, STE_S1FMT);
  const n: u64 = <u64>1 << <u64>cdmax;
  if (n > <u64>LEARN_CD_LIMIT) {
    wildcard |= <u32>1 << b;
    return;
  }
  if (cdmax == 0 || fmt == 0) {
    for (let i: u32 = 0; i < <u32>n; i++) learnCd(ctx + (<u64>i << 6), b);
    return;
  }
  if (fmt > 2) return; // reserved S1Fmt: no CD is reachable
  // two levels: L1 descriptors (V [0], L2Ptr [51:12]) each cover 2^split CDs
  const split: u32 = fmt == 1 ? 6 : 10;
  const l1n: u32 = cdmax > split ? <u32>1 << (cdmax - split) : 1;
  const per: u32 = cdmax > split ? <u32>1 << split : <u32>n;
  for (let j: u32 = 0; j < l1n; j++) {
    const d = gread64(ctx + (<u64>j << 3));
    if (!readOk || ex(d, L1CD_V) == 0) continue;
    const l2 = ex(d, L1CD_L2PTR) << L1CD_L2PTR_SHIFT;
    for (let k: u32 = 0; k < per; k++) learnCd(l2 + (<u64>k << 6), b);
  }
}

function learnCd(addr: u64, b: u32): void {
  const w = gread64(addr);
  if (!readOk || ex(w, CD_V) == 0) return;
  learn(<u32>ex(w, CD_ASID), b);
}

// @ts-ignore: decorator
@inline export function fwdRoom(): bool {
  return fwdCount + MAX_VDEVS + MAX_BACKENDS + 1 <= <u32>FW_CAPACITY;
}

export function pause(): u32 {
  fwdBusy = true;
  return CQ_FORWARD;
}

/**
 * Completes a forwarding window once the host sent it. `result` FWR_DONE (or any value
 * naming no entry): every entry took effect. FWR_ERROR: every entry sent took effect and
 * the command error behind them is raised. Otherwise the entry `result` (backend *
 * FW_CAPACITY + position) failed: CONS goes back to its command, which gets CERROR_ILL
 * (opcode: the entry's; CFGI_STE for an install). Consumption resumes from there once the
 * guest acknowledges the error.
 */
export function fwdDone(result: i32): void {
  if (result == FWR_ERROR && errAt != FWT_INDEX) {
    const cons = errCons, err = errCode, type = errType;
    S.cmdqCons = cons;
    endWindow();
    raiseCommandError(err, type);
    return;
  }
  const b = <u32>result / <u32>FW_CAPACITY;
  const pos = <u32>result % <u32>FW_CAPACITY;
  if (result < 0 || b >= nBackends || pos >= load<u32>(outHdr + <usize>(b * FWH_BYTES), FWH_COUNT)) {
    endWindow();
    return;
  }
  const h = outHdr + <usize>(b * FWH_BYTES);
  const tag = load<u32>(<usize>load<u32>(h, FWH_TAGS) + (<usize>pos << 2));
  const e0 = load<u64>(<usize>load<u32>(h, FWH_ENTRIES) + <usize>(pos * FW_ENTRY_BYTES));
  const type: u32 = (tag & FWT_STE) != 0 ? CMD_CFGI_STE : <u32>ex(e0, CMD_OPCODE);
  S.cmdqCons = load<u32>(cmdCons + (<usize>(tag & FWT_INDEX) << 2));
  endWindow();
  raiseCommandError(CERROR_ILL, type);
}

/** CMDQ_CONS as the guest reads it: held at the first command with forwarded entries until they are done. */
export function visibleCons(cons: u32): u32 {
  return holdCons >= 0 ? <u32>holdCons : cons;
}

/**
 * Hands the window to the host: one call, in which the host gives each backend its
 * entries and checks the results. Returns CQ_IDLE when the window is complete (a failed
 * record raised its command error) and consumption may go on, CQ_FORWARD when a backend
 * answers later (the window stays held until fwd_done).
 */
export function forward(): u32 {
  const r = fwd_flush(errAt);
  if (r == FWR_PENDING) return pause();
  fwdDone(r);
  return CQ_IDLE;
}

/** Ends a forwarding window (after the host sent it, or gave up on it). */
export function endWindow(): void {
  for (let b: u32 = 0; b < nBackends; b++) {
    const h = outHdr + <usize>(b * FWH_BYTES);
    store<u32>(h, 0, FWH_COUNT);
    store<u32>(h, 0, FWH_STES);
  }
  fwdCount = 0;
  fwdBusy = false;
  holdCons = -1;
  nCmd = 0;
  errAt = FWT_INDEX;
}

/**
 * One entry for backend `b`, of the command being dispatched (index nCmd): `psidTag`
 * FWT_PSID with `psid`, or 0. Only the backend's area changes: the caller counts its
 * entries and adds them to fwdCount once per command (commitCommand), which keeps the
 * window's globals out of the per-entry work (a third of a broadcast TLBI's cost).
 */
// @ts-ignore: decorator
@inline function emit(b: u32, kind: u32, psidTag: u32, psid: u32, e0: u64, e1: u64): void {
  const h = outHdr + <usize>(b * FWH_BYTES);
  const c = load<u32>(h, FWH_COUNT);
  const p = <usize>load<u32>(h, FWH_ENTRIES) + <usize>(c * FW_ENTRY_BYTES);
  store<u64>(p, e0);
  store<u64>(p, e1, 8);
  store<u32>(<usize>load<u32>(h, FWH_TAGS) + (<usize>c << 2), nCmd | psidTag | (kind == FWK_STE ? FWT_STE : 0));
  if (psidTag != 0) store<u32>(<usize>load<u32>(h, FWH_PSIDS) + (<usize>c << 2), psid);
  store<u32>(h, c + 1, FWH_COUNT);
  if (kind == FWK_STE) store<u32>(h, load<u32>(h, FWH_STES) + 1, FWH_STES);
  if (traceOn) tr(T_FORWARD, b, kind, psid, e0, e1);
}

/**
 * The command being dispatched forwarded `n` entries: they join the window, and the
 * command gets the next command index, with its CONS (the first one's CONS is what the
 * guest reads until the window is done).
 */
// @ts-ignore: decorator
@inline function commitCommand(cons: u32, n: u32): void {
  if (nCmd == 0) holdCons = <i64>cons;
  fwdCount += n;
  store<u32>(cmdCons + (<usize>nCmd << 2), cons);
  nCmd++;
}

/** A command error found while entries were pending: raised when they are done (FWR_ERROR), nothing from it on is sent. */
export function appendError(err: u32, cons: u32, type: u32): void {
  errAt = nCmd;
  errCons = cons;
  errCode = err;
  errType = type;
}

// @ts-ignore: decorator
@inline function withVmid(e0: u64, b: u32): u64 {
  return dp(e0, CMD_VMID, <u64>load<u32>(vmids + (<usize>b << 2)));
}

/**
 * Classifies one guest command; returns CERROR_ILL when a passthrough STE is rejected.
 * Inlined into the command loops: as a call it cost about a tenth of a forwarding window
 * (17 calls per window; measured with the `mixed vIOMMU null backends` bench stream).
 */
// @ts-ignore: decorator
@inline export function dispatchCmd(w0: u64, w1: u64, type: u32, cons: u32): u32 {
  let sent: u32 = 0; // entries this command emitted
  let err = CERROR_NONE;
  switch (type) {
    case CMD_TLBI_NH_ASID:
    case CMD_TLBI_NH_VA: {
      const asid = <u32>ex(w0, CMD_ASID);
      let m = load<u32>(vasid + (<usize>asid << 2)) | wildcard;
      if (m == 0) {
        m = allMask;
        S.bump(ST_BROADCAST_TLBI);
      } else {
        S.bump(ST_TARGETED_TLBI);
      }
      m &= allMask;
      sent = <u32>popcnt(m);
      while (m != 0) {
        const b = <u32>ctz(m);
        m &= m - 1;
        emit(b, FWK_INV, 0, 0, withVmid(w0, b), w1);
      }
      break;
    }
    case CMD_TLBI_NH_VAA:
    case CMD_TLBI_NH_ALL: {
      S.bump(ST_BROADCAST_TLBI);
      for (let b: u32 = 0; b < nBackends; b++) emit(b, FWK_INV, 0, 0, withVmid(w0, b), w1);
      sent = nBackends;
      break;
    }
    case CMD_TLBI_NSNH_ALL: {
      S.bump(ST_BROADCAST_TLBI);
      for (let b: u32 = 0; b < nBackends; b++) {
        emit(b, FWK_INV, 0, 0, withVmid(<u64>CMD_TLBI_NH_ALL, b), 0);
      }
      sent = nBackends;
      break;
    }
    case CMD_CFGI_CD:
    case CMD_CFGI_CD_ALL:
    case CMD_ATC_INV: {
      const vsid = <u32>ex(w0, CMD_SID);
      const i = vdevFind(vsid);
      if (i < 0) break;
      const b = load<u32>(vdevBackend + (<usize>i << 2));
      const psid = load<u32>(vdevPsid + (<usize>i << 2));
      emit(b, FWK_INV, FWT_PSID, psid, dp(w0, CMD_SID, <u64>psid), w1);
      sent = 1;
      if (type != CMD_ATC_INV) learnFrom(vsid, b);
      break;
    }
    case CMD_CFGI_STE: {
      const vsid = <u32>ex(w0, CMD_SID);
      const i = vdevFind(vsid);
      if (i >= 0) {
        err = installSte(<u32>i);
        if (err == CERROR_NONE) sent = 1;
      }
      break;
    }
    case CMD_CFGI_STE_RANGE: {
      const range = <u32>ex(w1, CMD_STE_RANGE);
      const mask = <u32>((<u64>1 << <u64>(range + 1)) - 1);
      const start = <u32>ex(w0, CMD_SID) & ~mask;
      const end = start + mask;
      if (range == 31) forgetAll(); // CFGI_ALL
      let i = vdevFind(start);
      if (i < 0) i = -i - 1;
      while (<u32>i < nVdev && sidAt(<u32>i) <= end) {
        err = installSte(<u32>i);
        if (err != CERROR_NONE) break;
        sent++;
        i++;
      }
      break;
    }
  }
  if (err != CERROR_NONE) {
    // the failing command takes no effect on the backends (the entries it sent before
    // the failing install still count as forwarded)
    countForwarded(sent);
    if (sent != 0) unemit();
  } else if (sent == 0) {
    S.bump(ST_FILTERED);
  } else {
    countForwarded(sent);
    commitCommand(cons, sent);
  }
  return err;
}

/** ST_FORWARDED += n (once per command rather than per entry). */
// @ts-ignore: decorator
@inline function countForwarded(n: u32): void {
  const p = S.stats + ST_FORWARDED;
  store<u64>(p, load<u64>(p) + <u64>n);
}

/** Takes back the entries of the command being dispatched (the last ones of each backend, tagged nCmd; not yet in fwdCount). */
function unemit(): void {
  for (let b: u32 = 0; b < nBackends; b++) {
    const h = outHdr + <usize>(b * FWH_BYTES);
    const tags = <usize>load<u32>(h, FWH_TAGS);
    let c = load<u32>(h, FWH_COUNT);
    while (c > 0) {
      const tag = load<u32>(tags + (<usize>(c - 1) << 2));
      if ((tag & FWT_INDEX) != nCmd) break;
      c--;
      if ((tag & FWT_STE) != 0) store<u32>(h, load<u32>(h, FWH_STES) - 1, FWH_STES);
    }
    store<u32>(h, c, FWH_COUNT);
  }
}

/** CFGI_STE for passthrough device `i`: the guest STE, checked as iommufd checks a nested STE, then installed. */
function installSte(i: u32): u32 {
  const vsid = sidAt(i);
  const b = load<u32>(vdevBackend + (<usize>i << 2));
  const psid = load<u32>(vdevPsid + (<usize>i << 2));
  let s0: u64 = 0, s1: u64 = 0;
  if (findSte(vsid)) {
    s0 = load<u64>(steBuf);
    s1 = load<u64>(steBuf, 8);
  }
  if (!nestable(s0, s1)) return CERROR_ILL;
  emit(b, FWK_STE, FWT_PSID, psid, s0, s1);
  learnSte(s0, b); // (s0 is 0, learning nothing, when the STE could not be read)
  return CERROR_NONE;
}

/** Whether STE words 0-1 may be installed as a nested stage-1 STE (iommufd's check); an invalid STE always may. */
function nestable(s0: u64, s1: u64): bool {
  if (ex(s0, STE_V) == 0) return true;
  const allowed0 = (<u64>STE0_NESTING_ALLOWED_HI << 32) | <u64>STE0_NESTING_ALLOWED_LO;
  const allowed1 = (<u64>STE1_NESTING_ALLOWED_HI << 32) | <u64>STE1_NESTING_ALLOWED_LO;
  if ((s0 & ~allowed0) != 0 || (s1 & ~allowed1) != 0) return false;
  const cfg = <u32>ex(s0, STE_CONFIG);
  return cfg == STE_CFG_ABORT || cfg == STE_CFG_BYPASS || cfg == STE_CFG_S1_TRANS;
}

/**
 * Arrival on a new host (trace spec, "Migrating to another host topology"): the vASID
 * table starts empty; with SMMUEN = 1 every passthrough device, in ascending vSID
 * order, gets its guest STE installed (the CFGI_STE check; an STE that fails it is
 * skipped, no command caused it) and its CDs' ASIDs learned as for CFGI_STE. Returns
 * CQ_FORWARD when the window holds installs for the host to send, else 0.
 */
export function arrive(smmuEnabled: bool): u32 {
  forgetAll();
  if (!smmuEnabled) return 0;
  // the window is empty here: a restore is refused while entries are in flight (snapshot.ts SNE_BUSY)
  for (let i: u32 = 0; i < nVdev; i++) {
    const vsid = sidAt(i);
    let s0: u64 = 0, s1: u64 = 0;
    if (findSte(vsid)) {
      s0 = load<u64>(steBuf);
      s1 = load<u64>(steBuf, 8);
    }
    if (!nestable(s0, s1)) continue;
    const b = load<u32>(vdevBackend + (<usize>i << 2));
    emit(b, FWK_STE, FWT_PSID, load<u32>(vdevPsid + (<usize>i << 2)), s0, s1);
    commitCommand(S.cmdqCons, 1); // each install its own: a refused one is skipped
    learnSte(s0, b);
  }
  countForwarded(fwdCount);
  return fwdCount > 0 ? CQ_FORWARD : 0;
}

/**
 * A physical event from backend `b` (32-byte record at `rec`): delivered to the guest's
 * event queue with the pSID replaced by the vSID, or dropped when no passthrough device
 * of this vSMMU has that pSID there. Returns 1 delivered, 0 dropped.
 */
export function backendEvent(b: u32, rec: usize): u32 {
  const w0 = load<u64>(rec);
  const psid = <u32>ex(w0, EVT_SID);
  const v = vdevFromPsid(b, psid);
  if (traceOn) tr(T_BACKEND_EVENT, b, psid, <u64>v);
  if (v < 0) return 0;
  if (!eventqEnabled()) return 0;
  store<u64>(rec, (w0 & 0xffffffff) | (<u64>v << 32));
  writeRecord(rec);
  return 1;
}
