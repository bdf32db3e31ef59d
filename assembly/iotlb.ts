// IOTLB with QEMU 7.2's observable behaviour (smmu-common.c): entries keyed by
// (ASID, IOVA, TG, level), at most 256, the whole cache flushed when an insert finds
// it full; invalidation by ASID, by address range (with QEMU's matching rule) or all.
// Entries live in a dense array; an open-addressing hash (linear probing, backward-
// shift deletion) finds them; per-ASID and per-level counts let lookups and
// invalidations skip work that cannot match.

import { halloc } from "./heap";
import * as S from "./state";
import { traceOn, tr } from "./trace";
import { ST_IOTLB_FLUSH_FULL, IE_IOVA, IE_TA, IE_MASK, IE_ASID, IE_TG, IE_LEVEL, IE_PERM, IE_GRANULE, IE_SLOT, IE_BYTES } from "../src/arch/abi";
export { IE_TA, IE_MASK, IE_PERM, IE_LEVEL };
import { T_IOTLB_INV_ALL, T_IOTLB_INV_ASID, T_IOTLB_INSERT } from "../src/arch/trace-events";

export const IOTLB_MAX: u32 = 256; // SMMU_IOTLB_MAX_SIZE
const SLOTS: u32 = 1024;
const SLOT_MASK: u32 = SLOTS - 1;


let entries: usize = 0;
let slots: usize = 0; // u16: entry index + 1, 0 = empty
let asidCount: usize = 0; // u16 per ASID
const levelCount = memory.data(8 * 4); // u32 per level 0..3 (and spare)
export let iotlbCount: u32 = 0;

export function iotlbInit(): void {
  entries = halloc(<usize>IOTLB_MAX * IE_BYTES, 64);
  slots = halloc(<usize>SLOTS * 2, 64);
  asidCount = halloc(65536 * 2, 64);
}

// @ts-ignore: decorator
@inline function home(asid: u32, iova: u64, tg: u32, level: u32): u32 {
  const k = iova * 0x9E3779B97F4A7C15 + <u64>(asid | (tg << 16) | (level << 24)) * 0xC2B2AE3D27D4EB4F;
  return <u32>(k >> 54) & SLOT_MASK;
}

// @ts-ignore: decorator
@inline export function entryAt(i: u32): usize {
  return entries + <usize>(i * IE_BYTES);
}

// @ts-ignore: decorator
@inline export function levelHasEntries(level: u32): bool {
  return load<u32>(levelCount + (<usize>level << 2)) != 0;
}

// @ts-ignore: decorator
@inline export function asidHasEntries(asid: u32): bool {
  return load<u16>(asidCount + (<usize>asid << 1)) != 0;
}

/** Entry with exactly this key, or 0. */
export function iotlbFind(asid: u32, iova: u64, tg: u32, level: u32): usize {
  let s = home(asid, iova, tg, level);
  while (true) {
    const v = <u32>load<u16>(slots + (<usize>s << 1));
    if (v == 0) return 0;
    const e = entryAt(v - 1);
    if (load<u64>(e, IE_IOVA) == iova && <u32>load<u16>(e, IE_ASID) == asid &&
        <u32>load<u8>(e, IE_TG) == tg && <u32>load<u8>(e, IE_LEVEL) == level) return e;
    s = (s + 1) & SLOT_MASK;
  }
  return 0;
}

/** QEMU smmu_iotlb_insert: flush everything first when 256 entries are cached. */
export function iotlbInsert(asid: u32, iova: u64, tg: u32, level: u32, ta: u64, mask: u64, perm: u32, granule: u32): void {
  if (iotlbCount >= IOTLB_MAX) {
    S.bump(ST_IOTLB_FLUSH_FULL);
    iotlbInvAll();
  }
  if (traceOn) tr(T_IOTLB_INSERT, asid, iova, tg, level);
  let e = iotlbFind(asid, iova, tg, level);
  if (e == 0) {
    const idx = iotlbCount++;
    e = entryAt(idx);
    let s = home(asid, iova, tg, level);
    while (load<u16>(slots + (<usize>s << 1)) != 0) s = (s + 1) & SLOT_MASK;
    store<u16>(slots + (<usize>s << 1), <u16>(idx + 1));
    store<u16>(e, <u16>s, IE_SLOT);
    store<u64>(e, iova, IE_IOVA);
    store<u16>(e, <u16>asid, IE_ASID);
    store<u8>(e, <u8>tg, IE_TG);
    store<u8>(e, <u8>level, IE_LEVEL);
    const ap = asidCount + (<usize>asid << 1);
    store<u16>(ap, load<u16>(ap) + 1);
    const lp = levelCount + (<usize>level << 2);
    store<u32>(lp, load<u32>(lp) + 1);
  }
  store<u64>(e, ta, IE_TA);
  store<u64>(e, mask, IE_MASK);
  store<u8>(e, <u8>perm, IE_PERM);
  store<u8>(e, <u8>granule, IE_GRANULE);
}

/** Removes entry `idx` (dense position); the last entry moves into its place. */
function removeAt(idx: u32): void {
  const e = entryAt(idx);
  const asid = <u32>load<u16>(e, IE_ASID);
  const level = <u32>load<u8>(e, IE_LEVEL);
  const ap = asidCount + (<usize>asid << 1);
  store<u16>(ap, load<u16>(ap) - 1);
  const lp = levelCount + (<usize>level << 2);
  store<u32>(lp, load<u32>(lp) - 1);
  // hash: backward-shift deletion
  let i = <u32>load<u16>(e, IE_SLOT);
  let j = i;
  while (true) {
    j = (j + 1) & SLOT_MASK;
    const v = <u32>load<u16>(slots + (<usize>j << 1));
    if (v == 0) break;
    const m = entryAt(v - 1);
    const k = home(<u32>load<u16>(m, IE_ASID), load<u64>(m, IE_IOVA), <u32>load<u8>(m, IE_TG), <u32>load<u8>(m, IE_LEVEL));
    const between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (between) continue;
    store<u16>(slots + (<usize>i << 1), <u16>v);
    store<u16>(m, <u16>i, IE_SLOT);
    i = j;
  }
  store<u16>(slots + (<usize>i << 1), 0);
  // dense array: move the last entry here
  const last = --iotlbCount;
  if (idx != last) {
    const l = entryAt(last);
    memory.copy(e, l, IE_BYTES);
    store<u16>(slots + (<usize>load<u16>(e, IE_SLOT) << 1), <u16>(idx + 1));
  }
}

/** QEMU smmu_iotlb_inv_all. */
export function iotlbInvAll(): void {
  if (traceOn) tr(T_IOTLB_INV_ALL);
  for (let i: u32 = 0; i < iotlbCount; i++) {
    store<u16>(asidCount + (<usize>load<u16>(entryAt(i), IE_ASID) << 1), 0);
  }
  iotlbCount = 0;
  memory.fill(slots, 0, <usize>SLOTS * 2);
  memory.fill(levelCount, 0, 16);
}

/** QEMU smmu_iotlb_inv_asid. */
export function iotlbInvAsid(asid: u32): void {
  if (traceOn) tr(T_IOTLB_INV_ASID, asid);
  if (!asidHasEntries(asid)) return;
  let i: u32 = 0;
  while (i < iotlbCount) {
    if (<u32>load<u16>(entryAt(i), IE_ASID) == asid) removeAt(i);
    else i++;
  }
}

/**
 * QEMU smmu_iotlb_inv_iova: `asid` < 0 matches every ASID. With a TTL, one page and an
 * ASID, the exact key (asid, iova, tg, ttl) is tried first; otherwise (or when that key
 * is absent) every entry that contains `iova`, or that lies inside the invalidated
 * range, goes.
 */
export function iotlbInvIova(asid: i32, iova: u64, tg: u32, numPages: u64, ttl: u32): void {
  if (iotlbCount == 0) return;
  if (asid >= 0 && !asidHasEntries(<u32>asid)) return;
  const granule: u64 = tg != 0 ? <u64>(tg * 2 + 10) : 12;
  if (ttl != 0 && numPages == 1 && asid >= 0) {
    const e = iotlbFind(<u32>asid, iova, tg, ttl);
    if (e != 0) {
      removeAt(<u32>((e - entries) / IE_BYTES));
      return;
    }
  }
  const mask = (numPages << granule) - 1;
  let i: u32 = 0;
  while (i < iotlbCount) {
    const e = entryAt(i);
    if (asid < 0 || <u32>load<u16>(e, IE_ASID) == <u32>asid) {
      const eiova = load<u64>(e, IE_IOVA);
      if ((iova & ~load<u64>(e, IE_MASK)) == eiova || (eiova & ~mask) == iova) {
        removeAt(i);
        continue;
      }
    }
    i++;
  }
}
