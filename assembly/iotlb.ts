// IOTLB with QEMU's observable behaviour (smmu-common.c): entries keyed by
// (ASID, VMID, IOVA, TG, level), at most 256, the whole cache flushed when an insert finds
// it full; invalidation by ASID, by address range (with QEMU's matching rule) or all.
// QEMU 7.2 has no VMID (every key has KEY_NONE); from 8.x stage-2 entries have ASID
// KEY_NONE (QEMU's -1) and, on an SMMU with stage 2, every entry has its STE's VMID.
// Entries live in a dense array; an open-addressing hash (linear probing, backward-
// shift deletion) finds them; per-ASID and per-level counts let lookups and
// invalidations skip work that cannot match, and a list per ASID (through the entries)
// lets invalidation by ASID, or by address within an ASID, visit that ASID's entries only.

import { halloc } from "./heap";
import * as S from "./state";
import { traceOn, tr } from "./trace";
import { PF_V10, PF_QEMU_BUGS } from "../src/arch/abi";
import { ST_IOTLB_FLUSH_FULL, IE_IOVA, IE_TA, IE_MASK, IE_ASID, IE_TG, IE_LEVEL, IE_PERM, IE_GRANULE, IE_SLOT, IE_BYTES, IE_ASIDKEY, IE_VMID, IE_PPERM, KEY_NONE } from "../src/arch/abi";
export { IE_TA, IE_MASK, IE_PERM, IE_LEVEL, IE_PPERM, IE_GRANULE, KEY_NONE };
import { T_IOTLB_INV_ALL, T_IOTLB_INV_ASID, T_IOTLB_INSERT } from "../src/arch/trace-events";

export const IOTLB_MAX: u32 = 256; // SMMU_IOTLB_MAX_SIZE
const SLOT_BITS: u32 = 12; // 4096 slots for at most 256 entries: nearly every lookup probes one slot
const SLOTS: u32 = 1 << SLOT_BITS;
const SLOT_MASK: u32 = SLOTS - 1;
/** ASIDs with at most this many entries are searched along their list rather than through the hash. */
const SHORT_LIST: u32 = 8;


let entries: usize = 0;
let slots: usize = 0; // u16: entry index + 1, 0 = empty
let asidCount: usize = 0; // u16 per ASID
let asidSpan: usize = 0; // 2 x u64 per ASID: lowest and highest address its entries may match (never narrowed while it has entries)
let asidHead: usize = 0; // u16 per ASID: first entry of its list (index + 1, 0 = none)
let nextOf: usize = 0; // u16 per entry: next entry of the same ASID (index + 1, 0 = none)
let prevOf: usize = 0; // u16 per entry: previous entry of the same ASID (index + 1, 0 = list head)
const levelCount = memory.data(8 * 4); // u32 per level 0..3 (and spare)
export let iotlbCount: u32 = 0;
/** Bit l set when level l (0..3) has entries. */
export let levelMask: u32 = 0;

export function iotlbInit(): void {
  entries = halloc(<usize>IOTLB_MAX * IE_BYTES, 64);
  slots = halloc(<usize>SLOTS * 2, 64);
  // one more slot than there are ASIDs: KEY_NONE (stage-2 entries)
  asidCount = halloc((KEY_NONE + 1) * 2, 64);
  asidHead = halloc((KEY_NONE + 1) * 2, 64);
  asidSpan = halloc((KEY_NONE + 1) * 16, 64);
  nextOf = halloc(<usize>IOTLB_MAX * 2, 64);
  prevOf = halloc(<usize>IOTLB_MAX * 2, 64);
}

// @ts-ignore: decorator
@inline function link(p: usize, i: u32): u32 { return <u32>load<u16>(p + (<usize>i << 1)); }
// @ts-ignore: decorator
@inline function setLink(p: usize, i: u32, v: u32): void { store<u16>(p + (<usize>i << 1), <u16>v); }

// @ts-ignore: decorator
@inline function home(asid: u32, vmid: u32, iova: u64, tg: u32, level: u32): u32 {
  const k = iova * 0x9E3779B97F4A7C15 + (<u64>(asid | (tg << 17) | (level << 24)) | (<u64>vmid << 32)) * 0xC2B2AE3D27D4EB4F;
  return <u32>(k >> (64 - SLOT_BITS));
}

/** The (ASID key, VMID key) pair of an entry as one u64, compared in one go. */
// @ts-ignore: decorator
@inline function ids(asid: u32, vmid: u32): u64 {
  return <u64>asid | (<u64>vmid << 32);
}

// @ts-ignore: decorator
@inline export function entryAt(i: u32): usize {
  return entries + <usize>(i * IE_BYTES);
}

// @ts-ignore: decorator
@inline export function levelHasEntries(level: u32): bool {
  return load<u32>(levelCount + (<usize>level << 2)) != 0;
}

/** Whether no entry of `asid` (which has some) can match an invalidation of [first, last]. */
// @ts-ignore: decorator
@inline export function spanMisses(asid: u32, first: u64, last: u64): bool {
  const sp = asidSpan + (<usize>asid << 4);
  return last < load<u64>(sp) || first > load<u64>(sp, 8);
}

/** The u16 entry count per ASID (for loops that test many ASIDs). */
// @ts-ignore: decorator
@inline export function asidCounts(): usize {
  return asidCount;
}

// @ts-ignore: decorator
@inline export function asidHasEntries(asid: u32): bool {
  return load<u16>(asidCount + (<usize>asid << 1)) != 0;
}

/** Entry with exactly this key (ASID and VMID keys: 0..0xffff or KEY_NONE), or 0. */
export function iotlbFind(asid: u32, vmid: u32, iova: u64, tg: u32, level: u32): usize {
  if (asid > <u32>KEY_NONE || vmid > <u32>KEY_NONE || (tg | level) > 0xff) return 0; // no entry has such a key (only the debug hook passes more)
  return iotlbProbe(asid, vmid, iova, tg, level);
}

/** iotlbFind inline, for keys an entry can have (a TG and level below 256: the lookups). */
// @ts-ignore: decorator
@inline export function iotlbProbe(asid: u32, vmid: u32, iova: u64, tg: u32, level: u32): usize {
  let s = home(asid, vmid, iova, tg, level);
  const k2 = ids(asid, vmid);
  while (true) {
    const v = <u32>load<u16>(slots + (<usize>s << 1));
    if (v == 0) return 0;
    const e = entryAt(v - 1);
    // asid low bits (u16 at 24), tg (u8 at 26), level (u8 at 27) compared as one u32, the full keys as one u64
    if (((load<u64>(e, IE_IOVA) ^ iova) | <u64>(load<u32>(e, IE_ASID) ^ ((asid & 0xffff) | (tg << 16) | (level << 24))) |
        (load<u64>(e, IE_ASIDKEY) ^ k2)) == 0) return e;
    s = (s + 1) & SLOT_MASK;
  }
  return 0;
}

/**
 * QEMU smmu_iotlb_insert: flush everything first when 256 entries are cached. `perm` is
 * the entry's own (stage-1, or stage-2 for a stage-2 entry) permission, `pperm` QEMU's
 * parent_perm (stage 2 of a nested entry; equal to `perm` otherwise).
 */
export function iotlbInsert(asid: u32, vmid: u32, iova: u64, tg: u32, level: u32, ta: u64, mask: u64, perm: u32, pperm: u32, granule: u32): void {
  if (iotlbCount >= IOTLB_MAX) {
    S.bump(ST_IOTLB_FLUSH_FULL);
    iotlbInvAll();
  }
  if (traceOn) tr(T_IOTLB_INSERT, asid, iova, tg, level);
  if (asid > <u32>KEY_NONE) asid &= 0xffff; // what the entry stores (only the debug hook could pass more)
  if (vmid > <u32>KEY_NONE) vmid &= 0xffff;
  let e = iotlbFind(asid, vmid, iova, tg, level);
  const fresh = e == 0 && load<u16>(asidCount + (<usize>asid << 1)) == 0;
  if (e == 0) {
    const idx = iotlbCount++;
    e = entryAt(idx);
    let s = home(asid, vmid, iova, tg, level);
    while (load<u16>(slots + (<usize>s << 1)) != 0) s = (s + 1) & SLOT_MASK;
    store<u16>(slots + (<usize>s << 1), <u16>(idx + 1));
    store<u16>(e, <u16>s, IE_SLOT);
    store<u64>(e, iova, IE_IOVA);
    store<u16>(e, <u16>asid, IE_ASID);
    store<u32>(e, asid, IE_ASIDKEY);
    store<u32>(e, vmid, IE_VMID);
    store<u8>(e, <u8>tg, IE_TG);
    store<u8>(e, <u8>level, IE_LEVEL);
    const ap = asidCount + (<usize>asid << 1);
    store<u16>(ap, load<u16>(ap) + 1);
    const lp = levelCount + (<usize>level << 2);
    store<u32>(lp, load<u32>(lp) + 1);
    if (level < 4) levelMask |= <u32>1 << level;
    // front of its ASID's list
    const h = link(asidHead, asid);
    setLink(nextOf, idx, h);
    setLink(prevOf, idx, 0);
    if (h != 0) setLink(prevOf, h - 1, idx + 1);
    setLink(asidHead, asid, idx + 1);
  }
  store<u64>(e, ta, IE_TA);
  store<u64>(e, mask, IE_MASK);
  store<u8>(e, <u8>perm, IE_PERM);
  store<u8>(e, <u8>pperm, IE_PPERM);
  store<u8>(e, <u8>granule, IE_GRANULE);
  // the ASID's span grows to cover this entry (key iova, and the block around it)
  const sp = asidSpan + (<usize>asid << 4);
  const lo = iova & ~mask, hi = iova | mask;
  if (fresh || lo < load<u64>(sp)) store<u64>(sp, lo);
  if (fresh || hi > load<u64>(sp, 8)) store<u64>(sp, hi, 8);
}

/** Removes entry `idx` (dense position); the last entry moves into its place. */
function removeAt(idx: u32): void {
  const e = entryAt(idx);
  const asid = load<u32>(e, IE_ASIDKEY);
  const level = <u32>load<u8>(e, IE_LEVEL);
  const ap = asidCount + (<usize>asid << 1);
  store<u16>(ap, load<u16>(ap) - 1);
  const lp = levelCount + (<usize>level << 2);
  const left = load<u32>(lp) - 1;
  store<u32>(lp, left);
  if (left == 0 && level < 4) levelMask &= ~(<u32>1 << level);
  // ASID list: unlink
  const nx = link(nextOf, idx), pv = link(prevOf, idx);
  if (pv != 0) setLink(nextOf, pv - 1, nx);
  else setLink(asidHead, asid, nx);
  if (nx != 0) setLink(prevOf, nx - 1, pv);
  // hash: backward-shift deletion
  let i = <u32>load<u16>(e, IE_SLOT);
  let j = i;
  while (true) {
    j = (j + 1) & SLOT_MASK;
    const v = <u32>load<u16>(slots + (<usize>j << 1));
    if (v == 0) break;
    const m = entryAt(v - 1);
    const k = home(load<u32>(m, IE_ASIDKEY), load<u32>(m, IE_VMID), load<u64>(m, IE_IOVA), <u32>load<u8>(m, IE_TG), <u32>load<u8>(m, IE_LEVEL));
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
    // the moved entry keeps its place in its ASID's list
    const mn = link(nextOf, last), mp = link(prevOf, last);
    setLink(nextOf, idx, mn);
    setLink(prevOf, idx, mp);
    if (mp != 0) setLink(nextOf, mp - 1, idx + 1);
    else setLink(asidHead, load<u32>(e, IE_ASIDKEY), idx + 1);
    if (mn != 0) setLink(prevOf, mn - 1, idx + 1);
  }
}

/** QEMU smmu_iotlb_inv_all. */
export function iotlbInvAll(): void {
  if (traceOn) tr(T_IOTLB_INV_ALL);
  for (let i: u32 = 0; i < iotlbCount; i++) {
    const asid = <usize>load<u32>(entryAt(i), IE_ASIDKEY);
    store<u16>(asidCount + (asid << 1), 0);
    store<u16>(asidHead + (asid << 1), 0);
  }
  iotlbCount = 0;
  memory.fill(slots, 0, <usize>SLOTS * 2);
  memory.fill(levelCount, 0, 16);
  levelMask = 0;
}

/** QEMU smmu_iotlb_inv_asid (7.2) / smmu_iotlb_inv_asid_vmid: the entries of (ASID, VMID) keys exactly. */
// @ts-ignore: decorator
@inline export function iotlbInvAsid(asid: u32, vmid: u32): void {
  if (traceOn) tr(T_IOTLB_INV_ASID, asid);
  if (link(asidHead, asid) != 0) invAsid(asid, vmid); // inline at the callers: most ASIDs have no entries
}

function invAsid(asid: u32, vmid: u32): void {
  let cur = link(asidHead, asid);
  while (cur != 0) {
    const i = cur - 1;
    cur = link(nextOf, i);
    if (load<u32>(entryAt(i), IE_VMID) == vmid) {
      if (cur == iotlbCount) cur = i + 1; // the last entry (next in this list) moves into slot i
      removeAt(i);
    }
  }
}

/** QEMU smmu_iotlb_inv_vmid (TLBI_S12_VMALL), or with `s1Only` smmu_iotlb_inv_vmid_s1 (TLBI_NH_ALL with stage 2). */
export function iotlbInvVmid(vmid: u32, s1Only: bool): void {
  let i: u32 = 0;
  while (i < iotlbCount) {
    const e = entryAt(i);
    if (load<u32>(e, IE_VMID) == vmid && (!s1Only || load<u32>(e, IE_ASIDKEY) != KEY_NONE)) {
      removeAt(i);
      continue;
    }
    i++;
  }
}

/**
 * QEMU smmu_iotlb_inv_ipa (TLBI_S2_IPA): like iotlbInvIova for the stage-2 entries
 * (ASID KEY_NONE) of one VMID; combined stage-1+2 entries are not touched.
 */
export function iotlbInvIpa(vmid: u32, ipa: u64, tg: u32, numPages: u64, ttl: u32): void {
  if (!asidHasEntries(KEY_NONE)) return;
  const granule = invGranule(tg);
  if (ttl != 0 && numPages == 1) {
    const e = iotlbFind(KEY_NONE, vmid, ipa, tg, ttl);
    if (e != 0) {
      removeAt(<u32>((e - entries) / IE_BYTES));
      return;
    }
  }
  const mask = (numPages << granule) - 1;
  let cur = link(asidHead, KEY_NONE);
  while (cur != 0) {
    const i = cur - 1;
    cur = link(nextOf, i);
    const e = entryAt(i);
    const eiova = load<u64>(e, IE_IOVA);
    if (load<u32>(e, IE_VMID) == vmid && ((ipa & ~load<u64>(e, IE_MASK)) == eiova || (eiova & ~mask) == ipa)) {
      if (cur == iotlbCount) cur = i + 1;
      removeAt(i);
    }
  }
}

/**
 * QEMU smmu_iotlb_inv_iova: `asid` < 0 matches every ASID (stage-2 entries included),
 * `vmid` KEY_NONE every VMID. With a TTL, one page and an ASID, the exact key
 * (asid, vmid, iova, tg, ttl) is tried first; otherwise (or when that key is absent)
 * every entry that contains `iova`, or that lies inside the invalidated range, goes.
 */
// @ts-ignore: decorator
@inline export function iotlbInvIova(asid: i32, vmid: u32, iova: u64, tg: u32, numPages: u64, ttl: u32): void {
  // the tests that usually end it, inline at every caller: nothing cached, nothing for that
  // ASID, or every entry this can remove (the exact key too) meets [iova, iova + mask] and
  // that range misses the span of the ASID's entries
  if (iotlbCount == 0) return;
  const mask = (numPages << invGranule(tg)) - 1;
  if (asid >= 0) {
    if (!asidHasEntries(<u32>asid)) return;
    let last = iova + mask;
    if (last < iova) last = <u64>-1;
    if (spanMisses(<u32>asid, iova, last)) return;
  }
  invIova(asid, vmid, iova, tg, numPages, ttl, mask);
}

/** Granule shift of an invalidation: TG (4K, 16K, 64K), or 4 KiB when TG = 0. */
// @ts-ignore: decorator
@inline function invGranule(tg: u32): u64 { return tg != 0 ? <u64>(tg * 2 + 10) : 12; }

function invIova(asid: i32, vmid: u32, iova: u64, tg: u32, numPages: u64, ttl: u32, mask: u64): void {
  const exactKey = ttl != 0 && numPages == 1;
  if (asid >= 0) {
    const a = <u32>asid;
    if (<u32>load<u16>(asidCount + (<usize>a << 1)) <= SHORT_LIST) {
      // a few entries: one pass finds the exact key (QEMU's first try) or whether anything matches at all
      let any = false;
      let cur = link(asidHead, a);
      while (cur != 0) {
        const i = cur - 1;
        const e = entryAt(i);
        const eiova = load<u64>(e, IE_IOVA);
        const vm = load<u32>(e, IE_VMID);
        if (exactKey && eiova == iova && <u32>load<u8>(e, IE_TG) == tg && <u32>load<u8>(e, IE_LEVEL) == ttl && vm == vmid) {
          removeAt(i);
          return;
        }
        if ((vmid == KEY_NONE || vm == vmid) && ((iova & ~load<u64>(e, IE_MASK)) == eiova || (eiova & ~mask) == iova)) any = true;
        cur = link(nextOf, i);
      }
      if (!any) return;
    } else if (exactKey) {
      const e = iotlbFind(a, vmid, iova, tg, ttl);
      if (e != 0) {
        removeAt(<u32>((e - entries) / IE_BYTES));
        return;
      }
    }
    // every entry of that ASID containing iova or inside the range
    let cur = link(asidHead, a);
    while (cur != 0) {
      const i = cur - 1;
      cur = link(nextOf, i);
      const e = entryAt(i);
      const eiova = load<u64>(e, IE_IOVA);
      if ((vmid == KEY_NONE || load<u32>(e, IE_VMID) == vmid) && ((iova & ~load<u64>(e, IE_MASK)) == eiova || (eiova & ~mask) == iova)) {
        if (cur == iotlbCount) cur = i + 1; // the last entry (next in this list) moves into slot i
        removeAt(i);
      }
    }
    return;
  }
  // any ASID: QEMU includes the stage-2 entries (no ASID); the architecture (4.4.4) stage-1 ones only
  const s2too = (S.profile & (PF_V10 | PF_QEMU_BUGS)) != PF_V10;
  let i: u32 = 0;
  while (i < iotlbCount) {
    const e = entryAt(i);
    const eiova = load<u64>(e, IE_IOVA);
    if ((vmid == KEY_NONE || load<u32>(e, IE_VMID) == vmid) && (s2too || load<u32>(e, IE_ASIDKEY) != KEY_NONE) &&
        ((iova & ~load<u64>(e, IE_MASK)) == eiova || (eiova & ~mask) == iova)) {
      removeAt(i);
      continue;
    }
    i++;
  }
}
