// Translation of one transaction (QEMU 7.2 smmuv3_translate): SMMU enable, config
// cache, STE/CD decode, TT selection, IOTLB, walk, and the event of each failure.
// Also the DMA helper that moves data through translations as the trace spec says.

import * as S from "./state";
import { ex32 } from "./bits";
import { gread, gwrite, ramLeft, hostBacked } from "./guestmem";
import { EventInfo, evWalkFault, recordEvent } from "./evtq";
import {
  getConfig, cfgEntry, CF_CACHED, CF_DEVICE, CF_DEV_HITS, CF_KIND, CF_ASID, CF_RECORD, CF_TT, TT_DISABLED, TT_TSZ, TT_GRANULE,
  CF_IOTLB_HITS, CF_IOTLB_MISSES, KIND_ABORT, KIND_BYPASS, KIND_S2, KIND_NESTED, SID_SPACE, CF_VMID, CF_OAS, CF_S2_GRANULE, CF_S2_RECORD,
} from "./config";
import { iotlbInsert, asidHasEntries, IE_TA, IE_MASK, IE_PERM, IE_PPERM, IE_LEVEL } from "./iotlb";
import {
  qemuRules, selectTt, walk, walkS2, s2Translate, lookup, lookupFrom, hitAllows, startLevel, TlbEntry, PtwInfo,
  HIT_OK, HIT_FAULT, PTW_OK, PTW_ERR_TRANSLATION, PTW_ERR_PERMISSION,
} from "./ptw";
import { traceOn, tr } from "./trace";
import { CR0_SMMUEN, GBPA_ABORT } from "../src/arch/registers";
import {
  XO_ADDR, XO_MASK, XO_PERM, XO_EVENT, XO_RECORDED, XO_LEVEL, XO_BYTES,
  XS_SUCCESS, XS_DISABLE, XS_BYPASS, XS_ABORT, XS_ERROR, XS_GBPA_ABORT,
  ACC_WRITE, ST_TRANSLATIONS, ST_IOTLB_HITS, ST_IOTLB_MISSES, ST_CFG_HITS, PF_V10, PF_QEMU_BUGS,
  XB_CAPACITY, XB_SID, XB_IOVA, XB_ACCESS, XB_STATUS, XB_OUT, XB_BYTES, DMA_BUF_BYTES,
} from "../src/arch/abi";
import { EVT_C_BAD_STREAMID, EVT_CLASS_IN } from "../src/arch/events";
import {
  T_TRANSLATE_DISABLE, T_TRANSLATE_BYPASS, T_TRANSLATE_ABORT, T_TRANSLATE_SUCCESS, T_IOTLB_LOOKUP_HIT, T_IOTLB_LOOKUP_MISS,
} from "../src/arch/trace-events";
import { halloc } from "./heap";

/** Result of the last translate() (XO_* offsets). */
export const xo = memory.data(XO_BYTES);
// engine areas, allocated by translateInit
let batch: usize;
let dmaBuf: usize;

// The transaction being translated (QEMU smmuv3_translate's locals): its event, the walk's
// fault information, the stage-1 and stage-2 results. translate() passes them down.
const txEvent = changetype<EventInfo>(memory.data(offsetof<EventInfo>(), 8));
const txInfo = changetype<PtwInfo>(memory.data(offsetof<PtwInfo>(), 8));
const txS1 = changetype<TlbEntry>(memory.data(offsetof<TlbEntry>(), 8));
const txS2 = changetype<TlbEntry>(memory.data(offsetof<TlbEntry>(), 8));

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
  const ev = txEvent, info = txInfo;
  store<u32>(xo, 0, XO_EVENT);
  store<u32>(xo, 0, XO_RECORDED);
  const rnw = access & 1;

  if (ex32(S.cr0, CR0_SMMUEN) == 0) {
    // (GBPA is 0 on a profile without the register: reset, writes and restore keep it so)
    if (ex32(S.gbpa, GBPA_ABORT) != 0) {
      store<u32>(xo, 0, XO_PERM);
      return XS_GBPA_ABORT;
    }
    if (traceOn) tr(T_TRANSLATE_DISABLE, sid, iova, access);
    return passThrough(iova, access, XS_DISABLE);
  }
  // `ev` is reset before its first use: here unless the configuration is cached, else on
  // leaving the IOTLB-hit path (a hit that succeeds never touches it)
  let cfg: usize = 0;
  let evStale = false;
  if (sid < SID_SPACE) {
    if (!traceOn && load<u8>(ce, CF_CACHED) != 0) {
      // getConfig's cache hit, inline (it traces nothing when tracing is off)
      store<u32>(ce, load<u32>(ce, CF_DEV_HITS) + 1, CF_DEV_HITS);
      S.bump(ST_CFG_HITS);
      cfg = ce;
      evStale = true;
    } else {
      ev.reset(sid);
      cfg = getConfig(sid, iova, ev);
    }
  }
  if (cfg == 0) {
    if (sid >= SID_SPACE) {
      ev.reset(sid);
      // cannot come from a QEMU device; treated as an out-of-range StreamID
      findOutOfRange(ev);
    }
    return fail(ev);
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
  if (kind == KIND_S2) {
    if (evStale) ev.reset(sid);
    return translateS2(sid, cfg, iova, access, ev, info);
  }
  const record = load<u8>(cfg, CF_RECORD) != 0;
  const t = selectTt(cfg, iova);
  if (t < 0) {
    if (evStale) ev.reset(sid);
    info.reset();
    if (record) walkFault(cfg, PTW_ERR_TRANSLATION, iova, rnw, ev, info);
    return fail(ev);
  }
  const tt = cfg + CF_TT + <usize>(t << 2);
  const granule = <u32>load<u8>(tt, TT_GRANULE);
  const aligned = iova & ~((<u64>1 << <u64>granule) - 1);
  const asid = <u32>load<u16>(cfg, CF_ASID);
  const vmid = load<u32>(cfg, CF_VMID);
  const nested = kind == KIND_NESTED;

  const hit = load<u8>(tt, TT_DISABLED) == 0 && asidHasEntries(asid) ? cached(cfg, tt, granule, asid, vmid, iova, aligned, nested) : 0;
  if (hit != 0) {
    const h = load<u32>(cfg, CF_IOTLB_HITS) + 1;
    store<u32>(cfg, h, CF_IOTLB_HITS);
    S.bump(ST_IOTLB_HITS);
    if (traceOn) {
      const m = load<u32>(cfg, CF_IOTLB_MISSES);
      tr(T_IOTLB_LOOKUP_HIT, asid, aligned, h, m, <u64>(100 * <u64>h / (<u64>h + m)));
    }
    const perm = <u32>load<u8>(hit, IE_PERM), pperm = <u32>load<u8>(hit, IE_PPERM);
    const ok = hitAllows(perm, pperm, access, true, info);
    if (ok == HIT_FAULT) {
      if (evStale) ev.reset(sid);
      walkFault(cfg, PTW_ERR_PERMISSION, iova, rnw, ev, info);
      return fail(ev);
    }
    if (ok == HIT_OK) return success(sid, iova, load<u64>(hit, IE_TA), load<u64>(hit, IE_MASK), outPerm(perm, pperm), <u32>load<u8>(hit, IE_LEVEL));
  }
  if (evStale) ev.reset(sid);
  return translateMiss(sid, cfg, iova, access, asid, vmid, aligned, nested, ev, info);
}

/**
 * IOTLB lookup (QEMU smmu_iotlb_lookup) for table `tt` of `cfg`: every level from the
 * start level to 3; a nested configuration then tries the stage-2 granule (its entries
 * have the smaller page). The entry, or 0.
 */
// @ts-ignore: decorator
@inline function cached(cfg: usize, tt: usize, granule: u32, asid: u32, vmid: u32, iova: u64, aligned: u64, nested: bool): usize {
  // the start level from the table (a TT with TT_DISABLED = 0 has T0SZ in [16, 39] and a
  // 4K, 16K or 64K granule: decodeCd)
  const start = <u32>load<u8>(startTab + (((granule - 12) >> 1) << 6) + <usize>load<u8>(tt, TT_TSZ));
  const hit = lookupFrom(asid, vmid, aligned, granule, start);
  if (hit != 0) return hit;
  if (nested && <u32>load<u8>(cfg, CF_S2_GRANULE) != granule) {
    return lookup(asid, vmid, iova, <u32>load<u8>(cfg, CF_S2_GRANULE), <u32>load<u8>(tt, TT_TSZ));
  }
  return 0;
}

/** The IOTLB missed: walk (both stages when nested), insert, or record the fault in `ev`. */
function translateMiss(sid: u32, cfg: usize, iova: u64, access: u32, asid: u32, vmid: u32, aligned: u64, nested: bool, ev: EventInfo, info: PtwInfo): u32 {
  const rnw = access & 1;
  const mi = load<u32>(cfg, CF_IOTLB_MISSES) + 1;
  store<u32>(cfg, mi, CF_IOTLB_MISSES);
  S.bump(ST_IOTLB_MISSES);
  if (traceOn) {
    const h = load<u32>(cfg, CF_IOTLB_HITS);
    tr(T_IOTLB_LOOKUP_MISS, asid, aligned, h, mi, <u64>(100 * <u64>h / (<u64>h + mi)));
  }
  info.reset();
  const s1 = txS1, s2 = txS2;
  const r = walk(cfg, selectTt(cfg, aligned), aligned, access, s1, s2, info);
  if (r != PTW_OK) {
    walkFault(cfg, r, iova, rnw, ev, info);
    return fail(ev);
  }
  if (!nested) {
    iotlbInsert(asid, vmid, s1.iova, (s1.granule - 10) >> 1, s1.level, s1.ta, s1.mask, s1.perm, s1.pperm, s1.granule);
    return success(sid, iova, s1.ta, s1.mask, s1.perm, s1.level);
  }
  // nested (QEMU 10.0 smmu_ptw, combine_tlb): the IPA through stage 2, then one entry
  // with the smaller of the two pages
  const ipa = s1.ta + (iova & s1.mask);
  let mask = s1.mask, level = s1.level, gran = s1.granule;
  const r2 = walkS2(cfg, ipa, access, s2, info);
  if (r2 != PTW_OK) {
    walkFault(cfg, r2, iova, rnw, ev, info);
    return fail(ev);
  }
  if (s2.mask < mask) {
    mask = s2.mask;
    gran = s2.granule;
    level = s2.level;
  }
  const ta = s2.ta + (s1.ta & s2.mask);
  iotlbInsert(asid, vmid, iova & ~mask, (gran - 10) >> 1, level, ta, mask, s1.perm, s2.perm, gran);
  return success(sid, iova, ta, mask, outPerm(s1.perm, s2.perm), level);
}

/**
 * A stage-2-only transaction (QEMU 10.0 smmu_translate with stage 2): the IOVA is the
 * IPA; the IOTLB entries are those of (no ASID, VMID), shared by every STE of the VMID.
 */
function translateS2(sid: u32, cfg: usize, iova: u64, access: u32, ev: EventInfo, info: PtwInfo): u32 {
  info.reset();
  const s2 = txS2;
  const r = s2Translate(cfg, iova, access, <i32>load<u8>(cfg, CF_OAS), s2, info);
  if (r != PTW_OK) {
    walkFault(cfg, r, iova, access & 1, ev, info);
    return fail(ev);
  }
  return success(sid, iova, s2.ta, s2.mask, outPerm(s2.perm, s2.pperm), s2.level);
}

/**
 * Permissions a successful translation grants: QEMU 10.0 returns the entry's own
 * (stage-1 for a nested entry) permission, which the memory core then applies to the
 * access; the architecture grants what both stages allow.
 */
// @ts-ignore: decorator
@inline function outPerm(perm: u32, pperm: u32): u32 {
  return perm == pperm || qemuRules() ? perm : perm & pperm;
}

/** `ev` of a failed walk (fault `info`), recorded as the stage's CD.R / STE.S2R say. */
function walkFault(cfg: usize, r: u32, iova: u64, rnw: u32, ev: EventInfo, info: PtwInfo): void {
  ev.addr = iova;
  const v10 = (S.profile & PF_V10) != 0;
  const record = info.stage == 2 ? load<u8>(cfg, CF_S2_RECORD) != 0 : load<u8>(cfg, CF_RECORD) != 0;
  evWalkFault(ev, r, info, v10 ? EVT_CLASS_IN : 0, rnw, record, v10);
}

/** StreamIDs beyond QEMU's 16-bit device IDs: nothing is cached, the lookup fails as smmu_find_ste does. */
function findOutOfRange(ev: EventInfo): void {
  ev.type = EVT_C_BAD_STREAMID;
}

/** A failed translation: records `ev` and reports it in `xo`. */
function fail(ev: EventInfo): u32 {
  store<u32>(xo, 0, XO_PERM);
  const recorded = recordEvent(ev);
  store<u32>(xo, ev.type, XO_EVENT);
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
 * memory in aligned pieces of at most 4 bytes); a failed translation, or on QEMU 7.2 an
 * IOVA at or above 2^48 (outside the device's IOMMU region, not translated), is one aligned piece
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
    if (a >= IOVA_LIMIT && (S.profile & PF_V10) == 0) {
      // QEMU 7.2: beyond the device's IOMMU region (SMMU_MAX_VA_BITS): unassigned, never translated
      n = pieceSize(a, left);
      if (!write) memory.fill(buf, 0, n);
      dmaFailed += n;
      done += n;
      continue;
    }
    const st = translate(sid, a, access);
    // QEMU 10.0's memory core refuses an access the returned permission lacks (unassigned, no event)
    const refused = st == XS_SUCCESS && (S.profile & PF_V10) != 0 && (load<u32>(xo, XO_PERM) & access) == 0;
    if (!refused && (st == XS_SUCCESS || st == XS_DISABLE || st == XS_BYPASS)) {
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
      // a failed (or refused) translation goes to unassigned memory: a piece of <= 4 bytes, aligned
      n = pieceSize(a, left);
      if (!write) memory.fill(buf, 0, n);
      dmaFailed += n;
      done += n;
    }
  }
  return done;
}

/**
 * QEMU 7.2: device DMA addresses end at 2^48, the size of its IOMMU memory region
 * (SMMU_MAX_VA_BITS). QEMU 8.0 and later create the region with size UINT64_MAX, so every
 * IOVA is translated (as the architecture's 64-bit input addresses are).
 */
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
