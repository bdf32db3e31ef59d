// Translation of one transaction (QEMU 7.2 smmuv3_translate): SMMU enable, config
// cache, STE/CD decode, TT selection, IOTLB, walk, and the event of each failure.
// Also the DMA helper that moves data through translations as the trace spec says.

import * as S from "./state";
import { ex32 } from "./bits";
import { gread, gwrite, ramLeft, hostBacked } from "./guestmem";
import {
  evType, evReset, evSet, evSetAddr, evSetAddr2, evSetRnw, evSetClass, recordEvent,
} from "./evtq";
import { getConfig, cfgEntry, CF_CACHED, CF_DEVICE, CF_DEV_HITS, CF_KIND, CF_ASID, CF_RECORD, CF_TT, TT_DISABLED, TT_TSZ, TT_GRANULE, CF_IOTLB_HITS, CF_IOTLB_MISSES, KIND_ABORT, KIND_BYPASS, SID_SPACE } from "./config";
import { iotlbFind, iotlbInsert, levelMask, asidHasEntries, IE_TA, IE_MASK, IE_PERM, IE_LEVEL } from "./iotlb";
import { selectTt, walk, levelShift, startLevel, wIova, wTa, wMask, wPerm, wLevel, wGranule, wFaultAddr, PTW_OK, PTW_ERR_WALK_EABT, PTW_ERR_TRANSLATION, PTW_ERR_ADDR_SIZE, PTW_ERR_ACCESS, PTW_ERR_PERMISSION } from "./ptw";
import { traceOn, tr } from "./trace";
import { CR0_SMMUEN, GBPA_ABORT } from "../src/arch/registers";
import {
  XO_ADDR, XO_MASK, XO_PERM, XO_EVENT, XO_RECORDED, XO_LEVEL, XO_BYTES,
  XS_SUCCESS, XS_DISABLE, XS_BYPASS, XS_ABORT, XS_ERROR, XS_GBPA_ABORT,
  ACC_WRITE, ST_TRANSLATIONS, ST_IOTLB_HITS, ST_IOTLB_MISSES, ST_CFG_HITS, PF_GBPA,
  XB_CAPACITY, XB_SID, XB_IOVA, XB_ACCESS, XB_STATUS, XB_OUT, XB_BYTES, DMA_BUF_BYTES,
} from "../src/arch/abi";
import { EVT_C_BAD_STREAMID, EVT_F_WALK_EABT, EVT_F_TRANSLATION, EVT_F_ADDR_SIZE, EVT_F_ACCESS, EVT_F_PERMISSION, EVT_CLASS_TT } from "../src/arch/events";
import {
  T_TRANSLATE_DISABLE, T_TRANSLATE_BYPASS, T_TRANSLATE_ABORT, T_TRANSLATE_SUCCESS, T_IOTLB_LOOKUP_HIT, T_IOTLB_LOOKUP_MISS,
} from "../src/arch/trace-events";
import { halloc } from "./heap";

/** Result of the last translate() (XO_* offsets). */
export const xo = memory.data(XO_BYTES);
let batch: usize = 0;
let dmaBuf: usize = 0;

/** Start level of a walk by granule ((g - 12) / 2) and T0SZ (startLevel without its division, for valid CDs). */
const startTab = memory.data(3 * 64);

export function translateInit(): void {
  batch = halloc(XB_BYTES, 64);
  dmaBuf = halloc(DMA_BUF_BYTES, 64);
  for (let gi: u32 = 0; gi < 3; gi++) {
    for (let tsz: u32 = 16; tsz < 40; tsz++) store<u8>(startTab + (gi << 6) + tsz, <u8>startLevel(tsz, 12 + 2 * gi));
  }
}

export function batchPtr(): usize { return batch; }
export function dmaBufPtr(): usize { return dmaBuf; }

/** The translated block size for bypass, as QEMU's ~TARGET_PAGE_MASK with 4 KiB pages. */
const PAGE_MASK: u64 = 0xfff;

/** Translates one access of device `sid`; the result is in `xo`, the status returned (XS_*). */
export function translate(sid: u32, iova: u64, access: u32): u32 {
  S.bump(ST_TRANSLATIONS);
  const ce = cfgEntry(sid); // (meaningful when sid < SID_SPACE)
  if (sid < SID_SPACE && load<u8>(ce, CF_DEVICE) == 0) store<u8>(ce, 1, CF_DEVICE); // a device that does DMA exists
  evReset(sid);
  store<u32>(xo, 0, XO_EVENT);
  store<u32>(xo, 0, XO_RECORDED);
  const rnw = access & 1;
  const write = (access & ACC_WRITE) != 0;

  if (ex32(S.cr0, CR0_SMMUEN) == 0) {
    if ((S.profile & PF_GBPA) != 0 && ex32(S.gbpa, GBPA_ABORT) != 0) {
      store<u32>(xo, 0, XO_PERM);
      return XS_GBPA_ABORT;
    }
    if (traceOn) tr(T_TRANSLATE_DISABLE, sid, iova, access);
    return passThrough(iova, access, XS_DISABLE);
  }
  let cfg: usize = 0;
  if (sid < SID_SPACE) {
    if (!traceOn && load<u8>(ce, CF_CACHED) != 0) {
      // getConfig's cache hit, inline (it traces nothing when tracing is off)
      store<u32>(ce, load<u32>(ce, CF_DEV_HITS) + 1, CF_DEV_HITS);
      S.bump(ST_CFG_HITS);
      cfg = ce;
    } else {
      cfg = getConfig(sid);
    }
  }
  if (cfg == 0) {
    if (sid >= SID_SPACE) {
      // cannot come from a QEMU device; treated as an out-of-range StreamID
      findOutOfRange();
    }
    return fail();
  }
  const kind = load<u8>(cfg, CF_KIND);
  if (kind == KIND_ABORT) {
    if (traceOn) tr(T_TRANSLATE_ABORT, sid, iova, 0);
    store<u32>(xo, 0, XO_PERM);
    return XS_ABORT;
  }
  if (kind == KIND_BYPASS) {
    if (traceOn) tr(T_TRANSLATE_BYPASS, sid, iova, access);
    return passThrough(iova, access, XS_BYPASS);
  }
  const record = load<u8>(cfg, CF_RECORD) != 0;
  const t = selectTt(cfg, iova);
  if (t < 0) {
    if (record) faultAt(EVT_F_TRANSLATION, iova, rnw);
    return fail();
  }
  const tt = cfg + CF_TT + <usize>(t << 2);
  const granule = <u32>load<u8>(tt, TT_GRANULE);
  const aligned = iova & ~((<u64>1 << <u64>granule) - 1);
  const asid = <u32>load<u16>(cfg, CF_ASID);

  // IOTLB lookup (QEMU smmu_iotlb_lookup): every level from the start level to 3.
  let hit: usize = 0;
  if (load<u8>(tt, TT_DISABLED) == 0 && asidHasEntries(asid)) {
    const tg = (granule - 10) >> 1;
    // the levels from the start level to 3 that hold entries, in ascending order (a TT
    // with TT_DISABLED = 0 has T0SZ in [16, 39] and a 4K, 16K or 64K granule: decodeCd)
    const start = <u32>load<u8>(startTab + (((granule - 12) >> 1) << 6) + <usize>load<u8>(tt, TT_TSZ));
    let lv: u32 = start <= 3 ? levelMask & (<u32>0xf << start) : 0;
    while (lv != 0) {
      const level = ctz(lv);
      lv &= lv - 1;
      const m = (<u64>1 << <u64>levelShift(level, granule)) - 1;
      hit = iotlbFind(asid, aligned & ~m, tg, level);
      if (hit != 0) break;
    }
  }
  if (hit != 0) {
    const h = load<u32>(cfg, CF_IOTLB_HITS) + 1;
    store<u32>(cfg, h, CF_IOTLB_HITS);
    S.bump(ST_IOTLB_HITS);
    if (traceOn) {
      const m = load<u32>(cfg, CF_IOTLB_MISSES);
      tr(T_IOTLB_LOOKUP_HIT, asid, aligned, h, m, <u64>(100 * <u64>h / (<u64>h + m)));
    }
    const perm = <u32>load<u8>(hit, IE_PERM);
    if (write && (perm & ACC_WRITE) == 0) {
      if (record) faultAt(EVT_F_PERMISSION, iova, rnw);
      return fail();
    }
    return success(sid, iova, load<u64>(hit, IE_TA), load<u64>(hit, IE_MASK), perm, <u32>load<u8>(hit, IE_LEVEL));
  }
  const mi = load<u32>(cfg, CF_IOTLB_MISSES) + 1;
  store<u32>(cfg, mi, CF_IOTLB_MISSES);
  S.bump(ST_IOTLB_MISSES);
  if (traceOn) {
    const h = load<u32>(cfg, CF_IOTLB_HITS);
    tr(T_IOTLB_LOOKUP_MISS, asid, aligned, h, mi, <u64>(100 * <u64>h / (<u64>h + mi)));
  }
  const r = walk(cfg, selectTt(cfg, aligned), aligned, access);
  if (r == PTW_OK) {
    iotlbInsert(asid, wIova, (wGranule - 10) >> 1, wLevel, wTa, wMask, wPerm, wGranule);
    return success(sid, iova, wTa, wMask, wPerm, wLevel);
  }
  if (r == PTW_ERR_WALK_EABT) {
    // recorded whatever CD.R says (QEMU)
    faultAt(EVT_F_WALK_EABT, iova, rnw);
    evSetClass(EVT_CLASS_TT);
    evSetAddr2(wFaultAddr);
  } else if (record) {
    faultAt(r == PTW_ERR_TRANSLATION ? EVT_F_TRANSLATION
      : r == PTW_ERR_ADDR_SIZE ? EVT_F_ADDR_SIZE
      : r == PTW_ERR_ACCESS ? EVT_F_ACCESS : EVT_F_PERMISSION, iova, rnw);
  }
  return fail();
}

/** StreamIDs beyond QEMU's 16-bit device IDs: nothing is cached, the lookup fails as smmu_find_ste does. */
function findOutOfRange(): void {
  evSet(EVT_C_BAD_STREAMID);
}

// @ts-ignore: decorator
@inline function faultAt(type: u32, iova: u64, rnw: u32): void {
  evSet(type);
  evSetAddr(iova);
  evSetRnw(rnw);
}

function fail(): u32 {
  store<u32>(xo, 0, XO_PERM);
  const recorded = recordEvent();
  store<u32>(xo, evType, XO_EVENT);
  store<u32>(xo, recorded ? 1 : 0, XO_RECORDED);
  return XS_ERROR;
}

function passThrough(iova: u64, access: u32, status: u32): u32 {
  store<u64>(xo, iova, XO_ADDR);
  store<u64>(xo, PAGE_MASK, XO_MASK);
  store<u32>(xo, access, XO_PERM);
  store<u32>(xo, 0, XO_LEVEL);
  return status;
}

// @ts-ignore: decorator
@inline function success(sid: u32, iova: u64, ta: u64, mask: u64, perm: u32, level: u32): u32 {
  const out = ta + (iova & mask);
  store<u64>(xo, out, XO_ADDR);
  store<u64>(xo, mask, XO_MASK);
  store<u32>(xo, perm, XO_PERM);
  store<u32>(xo, level, XO_LEVEL);
  if (traceOn) tr(T_TRANSLATE_SUCCESS, sid, iova, out, perm);
  return XS_SUCCESS;
}

/** Translates the first `n` requests of the batch area (XB_* arrays) in order. */
export function translateBatch(n: u32): void {
  if (n > <u32>XB_CAPACITY) n = <u32>XB_CAPACITY;
  for (let i: u32 = 0; i < n; i++) {
    const sid = load<u32>(batch + XB_SID + (<usize>i << 2));
    const iova = <u64>load<f64>(batch + XB_IOVA + (<usize>i << 3));
    const acc = <u32>load<u8>(batch + XB_ACCESS + <usize>i);
    const st = translate(sid, iova, acc);
    store<u8>(batch + XB_STATUS + <usize>i, <u8>st);
    store<f64>(batch + XB_OUT + (<usize>i << 3), st == XS_SUCCESS || st == XS_DISABLE || st == XS_BYPASS ? <f64>load<u64>(xo, XO_ADDR) : 0);
  }
}

/**
 * Device DMA through the SMMU as QEMU's memory core performs it for the edu device:
 * from `iova`, for `len` bytes, between guest memory and the DMA buffer. A translated
 * run goes to the end of the translated page or block (RAM in one piece, unassigned
 * memory in aligned pieces of at most 4 bytes); a failed translation, or an IOVA at or
 * above 2^48 (outside the device's IOMMU region, not translated), is one aligned piece
 * of at most 4 bytes, read as zeros or dropped. Stops before the buffer could overflow;
 * returns the bytes handled.
 */
/** Bytes of the DMA calls so far whose translation failed (read by the host, then reset). */
export let dmaFailed: u32 = 0;

export function dmaRun(sid: u32, iova: u64, len: u32, write: bool): u32 {
  const access: u32 = write ? ACC_WRITE : 1;
  let done: u32 = 0;
  while (done < len && done <= <u32>(DMA_BUF_BYTES - 4096)) {
    const a = iova + <u64>done;
    const left = len - done;
    const buf = dmaBuf + <usize>done;
    let n: u32;
    if (a >= IOVA_LIMIT) {
      // beyond the device's IOMMU region (QEMU: SMMU_MAX_VA_BITS): unassigned, never translated
      n = pieceSize(a, left);
      if (!write) memory.fill(buf, 0, n);
      dmaFailed += n;
      done += n;
      continue;
    }
    const st = translate(sid, a, access);
    if (st == XS_SUCCESS || st == XS_DISABLE || st == XS_BYPASS) {
      // QEMU's memory core: up to the end of the translated page or block; RAM in one
      // piece (up to its end), unassigned memory in naturally aligned pieces of <= 4 bytes
      const pa = load<u64>(xo, XO_ADDR);
      let span = (pa | load<u64>(xo, XO_MASK)) - pa + 1;
      if (span == 0 || span > <u64>left) span = <u64>left;
      const room = <u64>(DMA_BUF_BYTES - done); // the rest goes in the host's next call
      if (span > room) span = room;
      const ram = ramLeft(pa);
      if (ram != 0) {
        n = <u32>(span < ram ? span : ram);
        if (write) gwrite(pa, buf, n);
        else gread(pa, buf, n);
      } else if (hostBacked()) {
        n = <u32>span;
        if (write) gwrite(pa, buf, n);
        else gread(pa, buf, n);
      } else {
        n = pieceSize(pa, <u32>span);
        if (!write) memory.fill(buf, 0, n);
      }
      done += n;
    } else {
      // a failed translation goes to unassigned memory: a piece of <= 4 bytes, aligned
      n = pieceSize(a, left);
      if (!write) memory.fill(buf, 0, n);
      dmaFailed += n;
      done += n;
    }
  }
  return done;
}

/** Device DMA addresses end at 2^48: the size of QEMU's IOMMU memory region (SMMU_MAX_VA_BITS). */
const IOVA_LIMIT: u64 = <u64>1 << 48;

/**
 * Size of an access QEMU makes to unassigned memory at `addr` with `left` bytes to go
 * (memory_access_size): at most 4 bytes, no more than the alignment of `addr`, a power of 2.
 */
// @ts-ignore: decorator
@inline function pieceSize(addr: u64, left: u32): u32 {
  const low = <u32>(addr & 3);
  const max: u32 = low == 0 ? 4 : low & (0 - low);
  const n = left < max ? left : max;
  return n >= 4 ? 4 : n >= 2 ? 2 : n;
}
