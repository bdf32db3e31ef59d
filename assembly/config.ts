// Configuration cache (QEMU bc->configs): the decoded STE + CD of each device, kept
// until a CFGI command drops it. Decoding (smmuv3_decode_config, decode_ste_s2_cfg,
// decode_cd) lives here too; for a nested configuration QEMU 10.0 translates the CD
// address and the TTBs through stage 2 here, at decode time. One 128-byte entry per
// 16-bit StreamID, plus a dense list of the cached ones so that range invalidation
// touches only what is cached.

import * as S from "./state";
import { ld, qmask } from "./bits";
import { gread } from "./guestmem";
import { halloc } from "./heap";
import { EventInfo, evWalkFault } from "./evtq";
import { findSte, decodeSte, steBuf, STE_DECODED_ABORT, STE_DECODED_BYPASS, STE_DECODED_BAD, STE_DECODED_S2, STE_DECODED_NESTED } from "./strtab";
import { s2Translate, s2StartLevel, concatBits, TlbEntry, PtwInfo, PTW_OK } from "./ptw";
import { traceOn, tr } from "./trace";
import { ST_CFG_HITS, ST_CFG_MISSES } from "../src/arch/abi";
import {
  CD_BYTES, CD_V, CD_AA64, CD_A, CD_S, CD_HA, CD_HD, CD_IPS, CD_TBI, CD_ASID, CD_EPD0, CD_T0SZ,
  CD_TG0, CD_ENDI, CD_TTB0_QEMU, CD_HAD0, CD_R, CD_TT_STRIDE, CD_TTB_STRIDE,
} from "../src/arch/cd";
import {
  STE_S1CTXPTR_QEMU, STE_S2VMID, STE_S2T0SZ, STE_S2SL0, STE_S2TG, STE_S2PS, STE_S2AA64, STE_S2ENDI, STE_S2AFFD,
  STE_S2S, STE_S2R, STE_S2TTB, STE_S2SL0_RESERVED, S2_MAX_CONCAT,
} from "../src/arch/ste";
import { CD_AFFD } from "../src/arch/cd";
import { QEMU_OAS } from "../src/arch/registers";
import { EVT_F_CD_FETCH, EVT_C_BAD_CD, EVT_C_BAD_STE, EVT_CLASS_CD, EVT_CLASS_TT } from "../src/arch/events";
import { PF_V10, PF_S2P, PF_QEMU_BUGS, ACC_READ, KEY_NONE, CF_ENTRY_BYTES } from "../src/arch/abi";
import {
  T_GET_CD, T_DECODE_CD, T_DECODE_CD_TT, T_CONFIG_CACHE_HIT, T_CONFIG_CACHE_MISS, T_CONFIG_CACHE_INV,
} from "../src/arch/trace-events";

export const SID_SPACE: u32 = 1 << 16; // QEMU device StreamIDs are bus << 8 | devfn

// Entry layout (64 bytes).
export const CF_CACHED = 0; // u8: 1 when the entry holds a decoded configuration
export const CF_KIND = 1; // u8: KIND_*
export const CF_RECORD = 2; // u8: CD.R, record faults
export const CF_TBI = 3; // u8: CD.TBI
export const CF_ASID = 4; // u16
export const CF_OAS = 6; // u8: output address size in bits
export const CF_DEVICE = 7; // u8: 1 when a device with this StreamID exists
export const CF_TT = 8; // 2 x 4 bytes: disabled, tsz, granule shift, had
export const TT_DISABLED = 0;
export const TT_TSZ = 1;
export const TT_GRANULE = 2;
export const TT_HAD = 3;
export const CF_TTB = 16; // 2 x u64
export const CF_IOTLB_HITS = 32; // u32 (per cached configuration, as QEMU's cfg->iotlb_hits)
export const CF_IOTLB_MISSES = 36; // u32
export const CF_DEV_HITS = 40; // u32 (per device, as QEMU's sdev->cfg_cache_hits)
export const CF_DEV_MISSES = 44; // u32
export const CF_DENSE = 48; // u32: position in the cached list
export const CF_VMID = 52; // u32: STE.S2VMID on an SMMU with stage 2, else KEY_NONE (QEMU vmid -1)
export const CF_AFFD = 56; // u8: CD.AFFD
export const CF_S2_GRANULE = 57; // u8: stage-2 granule shift (S2TG)
export const CF_S2_TSZ = 58; // u8: S2T0SZ
export const CF_S2_LEVEL = 59; // u8: stage-2 start level (S2SL0)
export const CF_S2_PS = 60; // u8: effective S2PS in bits
export const CF_S2_AFFD = 61; // u8: S2AFFD
export const CF_S2_RECORD = 62; // u8: S2R
export const CF_VTTB = 64; // u64: S2TTB
export const CF_BYTES = CF_ENTRY_BYTES;
const CF_SHIFT = <u32>ctz(CF_ENTRY_BYTES);

export const KIND_S1: u8 = 0;
export const KIND_ABORT: u8 = 1;
export const KIND_BYPASS: u8 = 2;
export const KIND_S2: u8 = 3;
export const KIND_NESTED: u8 = 4;

let table: usize; // set by configInit
let dense: usize; // set by configInit
let ncached: u32 = 0;
const cdBuf = memory.data(CD_BYTES);
/** Stage-2 translation of a nested configuration's CD or table address while it is decoded. */
const addrS2 = changetype<TlbEntry>(memory.data(offsetof<TlbEntry>(), 8));
const addrInfo = changetype<PtwInfo>(memory.data(offsetof<PtwInfo>(), 8));

export function configInit(): void {
  table = halloc(<usize>SID_SPACE * CF_BYTES, 64);
  dense = halloc(<usize>SID_SPACE * 4, 16);
}

// @ts-ignore: decorator
@inline export function cfgEntry(sid: u32): usize {
  return table + (<usize>(sid & (SID_SPACE - 1)) << CF_SHIFT);
}

export function setDevice(sid: u32, present: bool): void {
  store<u8>(cfgEntry(sid), present ? 1 : 0, CF_DEVICE);
}

export function isDevice(sid: u32): bool {
  return load<u8>(cfgEntry(sid), CF_DEVICE) != 0;
}

/**
 * Configuration of device `sid` (QEMU smmuv3_get_config): the cached entry, or a
 * fresh decode cached on success. Returns 0 on a decode error (`ev` set).
 */
export function getConfig(sid: u32, iova: u64, ev: EventInfo): usize {
  const e = cfgEntry(sid);
  if (load<u8>(e, CF_CACHED) != 0) {
    const hits = load<u32>(e, CF_DEV_HITS) + 1;
    store<u32>(e, hits, CF_DEV_HITS);
    S.bump(ST_CFG_HITS);
    if (traceOn) {
      const misses = load<u32>(e, CF_DEV_MISSES);
      tr(T_CONFIG_CACHE_HIT, sid, hits, misses, <u64>(100 * <u64>hits / (<u64>hits + misses)));
    }
    return e;
  }
  const misses = load<u32>(e, CF_DEV_MISSES) + 1;
  store<u32>(e, misses, CF_DEV_MISSES);
  S.bump(ST_CFG_MISSES);
  if (traceOn) {
    const hits = load<u32>(e, CF_DEV_HITS);
    tr(T_CONFIG_CACHE_MISS, sid, hits, misses, <u64>(100 * <u64>hits / (<u64>hits + misses)));
  }
  // decode into a clean entry, keeping the per-device fields
  memory.fill(e, 0, CF_DEVICE);
  memory.fill(e + CF_TT, 0, CF_DEV_HITS - CF_TT);
  memory.fill(e + CF_VMID, 0, CF_BYTES - CF_VMID);
  if (!decodeConfig(sid, e, iova, ev)) return 0;
  store<u8>(e, 1, CF_CACHED);
  store<u32>(e, ncached, CF_DENSE);
  store<u32>(dense + (<usize>ncached << 2), sid & (SID_SPACE - 1));
  ncached++;
  return e;
}

/**
 * QEMU smmuv3_decode_config. `iova` is the transaction's address: faults on a nested
 * configuration's CD or table addresses are recorded with it (QEMU 10.0).
 */
function decodeConfig(sid: u32, e: usize, iova: u64, ev: EventInfo): bool {
  if (!findSte(sid, ev)) return false;
  const ste = steBuf;
  const kind = decodeSte(ste, ev);
  if (kind == STE_DECODED_BAD) return false;
  if (kind == STE_DECODED_ABORT) {
    store<u8>(e, KIND_ABORT, CF_KIND);
    return true;
  }
  if (kind == STE_DECODED_BYPASS) {
    store<u8>(e, KIND_BYPASS, CF_KIND);
    return true;
  }
  // VMID tags the entries of every translating STE on an SMMU with stage 2 (QEMU 10.0)
  const s2p = (S.profile & (PF_V10 | PF_S2P)) == (PF_V10 | PF_S2P);
  store<u32>(e, s2p ? <u32>ld(ste, STE_S2VMID) : KEY_NONE, CF_VMID);
  store<u8>(e, <u8>oas2bits(QEMU_OAS), CF_OAS);
  if (kind == STE_DECODED_S2 || kind == STE_DECODED_NESTED) {
    if (!decodeS2(e, ste)) {
      ev.type = EVT_C_BAD_STE;
      return false;
    }
  }
  if (kind == STE_DECODED_S2) {
    store<u8>(e, KIND_S2, CF_KIND);
    return true;
  }
  store<u8>(e, kind == STE_DECODED_NESTED ? KIND_NESTED : KIND_S1, CF_KIND);
  let ctx = ld(ste, STE_S1CTXPTR_QEMU) << 6;
  if (traceOn) tr(T_GET_CD, ctx);
  if (kind == STE_DECODED_NESTED) {
    // the CD address is an IPA (QEMU 10.0 smmu_get_cd: through stage 2, CLASS = CD)
    addrInfo.reset();
    const r = s2Translate(e, ctx, ACC_READ, <i32>load<u8>(e, CF_OAS), addrS2, addrInfo);
    if (r != PTW_OK) {
      configFault(e, r, addrInfo, EVT_CLASS_CD, iova, ev);
      return false;
    }
    ctx = addrS2.ta + (ctx & addrS2.mask);
  }
  if (!gread(ctx, cdBuf, CD_BYTES)) {
    ev.type = EVT_F_CD_FETCH;
    ev.addr = ctx;
    return false;
  }
  return decodeCd(e, cdBuf, iova, ev);
}

/** Event of a stage-2 fault `info` on a configuration's address (CLASS `cls`; ADDR = the transaction's IOVA, RnW = read). */
function configFault(e: usize, r: u32, info: PtwInfo, cls: u32, iova: u64, ev: EventInfo): void {
  ev.addr = iova;
  const record = info.stage == 2 ? load<u8>(e, CF_S2_RECORD) != 0 : load<u8>(e, CF_RECORD) != 0;
  evWalkFault(ev, r, info, cls, 1, record, true);
}

/**
 * QEMU 10.0 decode_ste_s2_cfg (IHI 0070 5.2): AArch64 tables (S2AA64 = 0 aborts QEMU 10.0;
 * here C_BAD_STE), a valid S2TG, S2SL0 != 3, effective S2PS = min(S2PS, OAS), S2TTB within
 * it, S2T0SZ in [64 - PS, 39], at most 16 concatenated start tables, little-endian, no
 * stall. The `arch` profile also refuses a start level the input size cannot reach. `ste`:
 * the STE read (strtab.ts steBuf).
 */
function decodeS2(e: usize, ste: usize): bool {
  if (ld(ste, STE_S2AA64) == 0) return false;
  const tg = <u32>ld(ste, STE_S2TG);
  const g: u32 = tg == 0 ? 12 : tg == 1 ? 16 : tg == 2 ? 14 : 0;
  if (g == 0) return false;
  const sl0 = <u32>ld(ste, STE_S2SL0);
  if (sl0 == STE_S2SL0_RESERVED) return false;
  let psf = <u32>ld(ste, STE_S2PS);
  if (psf > <u32>QEMU_OAS) psf = <u32>QEMU_OAS;
  const ps = oas2bits(psf);
  const vttb = ld(ste, STE_S2TTB) << 4;
  if ((vttb & ~qmask(ps)) != 0) return false;
  const tsz = <u32>ld(ste, STE_S2T0SZ);
  if (tsz > 39 || tsz < <u32>(64 - ps)) return false;
  const level = s2StartLevel(sl0, g);
  const cb = concatBits(64 - tsz, level, g);
  if (cb > 0 && (<u32>1 << <u32>cb) > <u32>S2_MAX_CONCAT) return false;
  if ((S.profile & PF_QEMU_BUGS) == 0 && cb <= -<i32>(g - 3)) return false; // start level below the input size
  if (ld(ste, STE_S2ENDI) != 0 || ld(ste, STE_S2S) != 0) return false;
  store<u8>(e, <u8>g, CF_S2_GRANULE);
  store<u8>(e, <u8>tsz, CF_S2_TSZ);
  store<u8>(e, <u8>level, CF_S2_LEVEL);
  store<u8>(e, <u8>ps, CF_S2_PS);
  store<u8>(e, <u8>ld(ste, STE_S2AFFD), CF_S2_AFFD);
  store<u8>(e, <u8>ld(ste, STE_S2R), CF_S2_RECORD);
  store<u64>(e, vttb, CF_VTTB);
  return true;
}

/** Output address size in bits for an IPS/OAS encoding; -1 for the reserved ones (QEMU oas2bits). */
export function oas2bits(f: u32): i32 {
  switch (f) {
    case 0: return 32;
    case 1: return 36;
    case 2: return 40;
    case 3: return 42;
    case 4: return 44;
    case 5: return 48;
  }
  return -1;
}

/** Granule shift for a TG0 (ttbr 0) or TG1 (ttbr 1) encoding, 0 when reserved (QEMU tg2granule). */
export function tg2granule(bits: u32, ttbr: u32): u8 {
  switch (bits) {
    case 0: return ttbr != 0 ? 0 : 12;
    case 1: return ttbr != 0 ? 14 : 16;
    case 2: return ttbr != 0 ? 12 : 14;
    case 3: return ttbr != 0 ? 16 : 0;
  }
  return 0;
}

/**
 * QEMU decode_cd: AArch64, A=1, S=0, no HTTU; T*SZ 16..39; 4K/16K/64K granules;
 * little-endian. QEMU 10.0 aborts on IPS 6 and 7: C_BAD_CD here. A nested
 * configuration's TTBs are IPAs: `qemu-10.0` translates them now (CLASS = TT faults).
 * `cd`: the 64 bytes read.
 */
function decodeCd(e: usize, cd: usize, iova: u64, ev: EventInfo): bool {
  if (ld(cd, CD_V) == 0 || ld(cd, CD_AA64) == 0 || ld(cd, CD_A) == 0 || ld(cd, CD_S) != 0 ||
      ld(cd, CD_HA) != 0 || ld(cd, CD_HD) != 0) {
    ev.type = EVT_C_BAD_CD;
    return false;
  }
  // cfg->oas is a uint8: the reserved IPS encodings (-1) become 255, then MIN(44, .) applies.
  const ips = oas2bits(<u32>ld(cd, CD_IPS));
  if (ips < 0 && (S.profile & PF_V10) != 0) {
    ev.type = EVT_C_BAD_CD;
    return false;
  }
  let oas = ips & 0xff;
  const maxOas = oas2bits(QEMU_OAS);
  if (maxOas < oas) oas = maxOas;
  store<u8>(e, <u8>oas, CF_OAS);
  store<u8>(e, <u8>ld(cd, CD_TBI), CF_TBI);
  store<u16>(e, <u16>ld(cd, CD_ASID), CF_ASID);
  store<u8>(e, <u8>ld(cd, CD_AFFD), CF_AFFD);
  const s2ttb = load<u8>(e, CF_KIND) == KIND_NESTED && (S.profile & PF_QEMU_BUGS) != 0;
  if (traceOn) tr(T_DECODE_CD, oas);
  for (let i = 0; i < 2; i++) {
    const tt = e + CF_TT + <usize>(i << 2);
    const sh = i * CD_TT_STRIDE;
    const disabled = ld(cd, CD_EPD0 + sh);
    store<u8>(tt, <u8>disabled, TT_DISABLED);
    if (disabled != 0) continue;
    const tsz = <u32>ld(cd, CD_T0SZ + sh);
    if (tsz < 16 || tsz > 39) {
      ev.type = EVT_C_BAD_CD;
      return false;
    }
    const g = tg2granule(<u32>ld(cd, CD_TG0 + sh), <u32>i);
    if ((g != 12 && g != 14 && g != 16) || ld(cd, CD_ENDI) != 0) {
      ev.type = EVT_C_BAD_CD;
      return false;
    }
    store<u8>(tt, <u8>tsz, TT_TSZ);
    store<u8>(tt, g, TT_GRANULE);
    const ttb = ld(cd, CD_TTB0_QEMU + i * CD_TTB_STRIDE) << 4;
    if ((ttb & ~qmask(oas)) != 0) {
      ev.type = EVT_C_BAD_CD;
      return false;
    }
    let tpa = ttb;
    if (s2ttb) {
      addrInfo.reset();
      const r = s2Translate(e, ttb, ACC_READ, oas, addrS2, addrInfo);
      if (r != PTW_OK) {
        configFault(e, r, addrInfo, EVT_CLASS_TT, iova, ev);
        return false;
      }
      tpa = addrS2.ta + (ttb & addrS2.mask);
    }
    store<u64>(e + CF_TTB + <usize>(i << 3), tpa);
    const had = <u8>ld(cd, CD_HAD0 + i * CD_TTB_STRIDE);
    store<u8>(tt, had, TT_HAD);
    if (traceOn) tr(T_DECODE_CD_TT, i, tsz, ttb, g, had);
  }
  store<u8>(e, <u8>ld(cd, CD_R), CF_RECORD);
  return true;
}

/** Drops the cached configuration of `sid` (QEMU smmuv3_flush_config). */
// @ts-ignore: decorator
@inline export function flushConfig(sid: u32): void {
  if (traceOn) tr(T_CONFIG_CACHE_INV, sid & (SID_SPACE - 1));
  // drop()'s own first test inline at the callers: most invalidations find nothing cached
  if (load<u8>(cfgEntry(sid & (SID_SPACE - 1)), CF_CACHED) != 0) drop(sid & (SID_SPACE - 1));
}

function drop(sid: u32): void {
  const e = cfgEntry(sid);
  if (load<u8>(e, CF_CACHED) == 0) return;
  store<u8>(e, 0, CF_CACHED);
  const pos = load<u32>(e, CF_DENSE);
  ncached--;
  if (pos != ncached) {
    const last = load<u32>(dense + (<usize>ncached << 2));
    store<u32>(dense + (<usize>pos << 2), last);
    store<u32>(cfgEntry(last), pos, CF_DENSE);
  }
}

/** Drops every cached configuration whose StreamID lies in [start, end] (CFGI_STE_RANGE). */
export function flushConfigRange(start: u32, end: u32): void {
  let i: u32 = 0;
  while (i < ncached) {
    const sid = load<u32>(dense + (<usize>i << 2));
    if (sid >= start && sid <= end) {
      if (traceOn) tr(T_CONFIG_CACHE_INV, sid);
      drop(sid); // moves the last entry into position i
    } else {
      i++;
    }
  }
}

/** Number of cached configurations, and the StreamID of the i-th (snapshots). */
export function cachedCount(): u32 { return ncached; }
export function cachedSid(i: u32): u32 { return load<u32>(dense + (<usize>i << 2)); }

/** Whether a 64-byte entry at `e` holds values a decode can produce (snapshot restore). */
export function entryValid(e: usize): bool {
  const kind = load<u8>(e, CF_KIND);
  if (kind > KIND_NESTED || load<u8>(e, CF_RECORD) > 1 || load<u8>(e, CF_TBI) > 3) return false;
  if (load<u32>(e, CF_VMID) > <u32>KEY_NONE) return false;
  if (kind == KIND_S2 || kind == KIND_NESTED) {
    // the stage-2 fields as decodeS2 leaves them
    const g = load<u8>(e, CF_S2_GRANULE);
    if ((g != 12 && g != 14 && g != 16) || load<u8>(e, CF_S2_LEVEL) > 3 || load<u8>(e, CF_S2_TSZ) > 39 ||
        <i32>load<u8>(e, CF_S2_PS) > oas2bits(QEMU_OAS) || load<u8>(e, CF_S2_AFFD) > 1 || load<u8>(e, CF_S2_RECORD) > 1) return false;
  }
  if (kind != KIND_S1 && kind != KIND_NESTED) return true;
  const oas = <i32>load<u8>(e, CF_OAS);
  if (oas < 32 || oas > oas2bits(QEMU_OAS) || load<u8>(e, CF_AFFD) > 1) return false;
  for (let i = 0; i < 2; i++) {
    const tt = e + CF_TT + <usize>(i << 2);
    const dis = load<u8>(tt, TT_DISABLED);
    if (dis > 1) return false;
    if (dis != 0) continue;
    const tsz = load<u8>(tt, TT_TSZ), g = load<u8>(tt, TT_GRANULE);
    if (tsz < 16 || tsz > 39 || (g != 12 && g != 14 && g != 16) || load<u8>(tt, TT_HAD) > 1) return false;
    if ((load<u64>(e + CF_TTB + <usize>(i << 3)) & ~qmask(oas)) != 0) return false;
  }
  return true;
}

/** Caches the configuration entry at `src` (validated by entryValid) for `sid`, keeping the device flag. */
export function restoreEntry(sid: u32, src: usize): void {
  const e = cfgEntry(sid);
  const device = load<u8>(e, CF_DEVICE);
  const cached = load<u8>(e, CF_CACHED) != 0;
  const pos = load<u32>(e, CF_DENSE);
  memory.copy(e, src, CF_BYTES);
  store<u8>(e, device, CF_DEVICE);
  store<u8>(e, 1, CF_CACHED);
  if (cached) {
    store<u32>(e, pos, CF_DENSE);
  } else {
    store<u32>(e, ncached, CF_DENSE);
    store<u32>(dense + (<usize>ncached << 2), sid & (SID_SPACE - 1));
    ncached++;
  }
}

/** Drops everything (device reset). */
export function flushAllConfigs(): void {
  while (ncached > 0) drop(load<u32>(dense));
}
