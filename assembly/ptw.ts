// VMSAv8-64 page-table walks. Stage 1 (QEMU smmu_ptw_64_s1): start level from the
// input size and granule, table/block/page descriptors, APTable/AP write checks (all
// accesses are privileged), access-flag and address-size checks when the profile has
// them. Stage 2 (QEMU 10.0 smmu_ptw_64_s2, IHI 0070 5.2 / Arm ARM D8): start level
// from S2SL0, concatenated start tables, S2AP, S2AFFD, S2PS. Nested: stage-1 table
// addresses through stage 2 (s2Translate: the IOTLB's ASID-less entries, then a walk).
// Results go to a TlbEntry, faults to a PtwInfo, both passed by the caller (translate.ts
// owns the transaction's, config.ts those of a nested configuration's decode).

import * as S from "./state";
import { ex, qmask } from "./bits";
import { gread64, readOk } from "./guestmem";
import { traceOn, tr } from "./trace";
import { CF_TT, CF_TTB, CF_OAS, CF_TBI, TT_DISABLED, TT_TSZ, TT_GRANULE, TT_HAD, CF_KIND, KIND_NESTED, CF_AFFD, CF_VMID,
  CF_S2_GRANULE, CF_S2_TSZ, CF_S2_LEVEL, CF_S2_PS, CF_S2_AFFD, CF_VTTB } from "./config";
import { iotlbFind, iotlbProbe, iotlbInsert, levelMask, asidHasEntries, IE_TA, IE_MASK, IE_PERM, IE_PPERM, IE_LEVEL, IE_GRANULE, KEY_NONE } from "./iotlb";
import { PTE_BYTES, PTE_VALID, PTE_TYPE, PTE_TYPE_TABLE, PTE_TYPE_PAGE, PTE_TYPE_L3_RESERVED, PTE_AP, PTE_AF, PTE_APTABLE, PTE_OA_TOP, AP_RDONLY } from "../src/arch/pte";
import { ACC_READ, ACC_WRITE, ST_WALK_READS, PF_AF, PF_ADDR_SIZE, PF_QEMU_BUGS, PF_V10 } from "../src/arch/abi";
import { T_GET_PTE, T_PTW_LEVEL, T_PTW_INVALID_PTE, T_PTW_PAGE_PTE, T_PTW_BLOCK_PTE } from "../src/arch/trace-events";

import { PtwInfo, PTW_OK, PTW_ERR_WALK_EABT, PTW_ERR_TRANSLATION, PTW_ERR_ADDR_SIZE, PTW_ERR_ACCESS, PTW_ERR_PERMISSION } from "./walkerr";
export { PtwInfo, PTW_OK, PTW_ERR_WALK_EABT, PTW_ERR_TRANSLATION, PTW_ERR_ADDR_SIZE, PTW_ERR_ACCESS, PTW_ERR_PERMISSION };

/**
 * A translated block (QEMU SMMUTLBEntry): what walk, walkS2 and s2Translate fill for
 * their caller, which owns it (allocated once, passed down).
 */
// @ts-ignore: decorator
@unmanaged export class TlbEntry {
  iova: u64 = 0; // IOVA (or IPA) of the block (key)
  ta: u64 = 0; // translated address of the block
  mask: u64 = 0;
  perm: u32 = 0;
  pperm: u32 = 0; // stage-2 permissions of a nested result (QEMU parent_perm)
  level: u32 = 0;
  granule: u32 = 0;

  /** The block of `addr` (its bits above `mask`) at level `level` of a `granule` table. */
  // @ts-ignore: decorator
  @inline set(addr: u64, ta: u64, mask: u64, perm: u32, pperm: u32, level: u32, granule: u32): void {
    this.iova = addr & ~mask;
    this.ta = ta;
    this.mask = mask;
    this.perm = perm;
    this.pperm = pperm;
    this.level = level;
    this.granule = granule;
  }
}

/** Shift of the region one descriptor at `level` maps (QEMU level_shift). */
// @ts-ignore: decorator
@inline export function levelShift(level: u32, granule: u32): u32 {
  return granule + (3 - level) * (granule - 3);
}

/** QEMU 10.0 get_start_level: the stage-2 start level of S2SL0 (4K: 2 - SL0, 16K and 64K: 3 - SL0). */
// @ts-ignore: decorator
@inline export function s2StartLevel(sl0: u32, granule: u32): u32 {
  return granule == 12 ? 2 - sl0 : 3 - sl0;
}

/**
 * Bits of an input size above the start level's index, i.e. how many concatenated start
 * tables it takes (QEMU pgd_concat_idx of the largest IPA + 1 = 1 << this, IHI 0070 Tables 12-13/12-14).
 */
// @ts-ignore: decorator
@inline export function concatBits(inputsize: u32, level: u32, granule: u32): i32 {
  return <i32>inputsize - <i32>(granule + (4 - level) * (granule - 3));
}

/** First walk level for an input size (64 - tsz) and granule (QEMU: 4 - (inputsize - 4) / stride). */
// @ts-ignore: decorator
@inline export function startLevel(tsz: u32, granule: u32): u32 {
  return 4 - (64 - tsz - 4) / (granule - 3);
}

/** Output address bits [47:shift] of a descriptor (QEMU PTE_ADDRESS). */
// @ts-ignore: decorator
@inline function pteAddress(pte: u64, shift: u32): u64 {
  return pte & (((<u64>1 << <u64>PTE_OA_TOP) - 1) & ~((<u64>1 << <u64>shift) - 1));
}

/**
 * Translation table `t` (0 or 1) of configuration `cfg` for an IOVA, as QEMU's
 * select_tt (whose TBI1 macro reads TBI0, kept here). -1 in the gap between ranges.
 * TTB0 covers IOVAs whose top bits are all zeros; TTB1 those whose top bits are all ones
 * (IHI 0070 3.4.1, QEMU 8.0 and later), all zeros on QEMU 7.2 (its select_tt tested TTB1
 * like TTB0).
 */
// @ts-ignore: decorator
@inline export function selectTt(cfg: usize, iova: u64): i32 {
  const tbi = <u64>(load<u8>(cfg, CF_TBI) & 1) * 8;
  const tsz0 = <u64>load<u8>(cfg + CF_TT, TT_TSZ);
  const tsz1 = <u64>load<u8>(cfg + CF_TT + 4, TT_TSZ);
  if (tsz0 != 0 && ((iova >> (64 - tsz0)) & ones64(tsz0 - tbi)) == 0) return 0;
  const tt1Top = (S.profile & PF_V10) != 0 ? ones64(tsz1 - tbi) : 0;
  if (tsz1 != 0 && ((iova >> (64 - tsz1)) & ones64(tsz1 - tbi)) == tt1Top) return 1;
  if (tsz0 == 0) return 0;
  if (tsz1 == 0) return 1;
  return -1;
}

// @ts-ignore: decorator
@inline function ones64(n: u64): u64 {
  return (<u64>-1) >> (64 - n);
}

/**
 * Walks table `t` of `cfg` for `iova`; PTW_OK fills `out`, a fault `info`. On a nested configuration the
 * table addresses are IPAs: the `qemu-10.0` profile translates each table's base address
 * through stage 2 and reads its descriptors at that PA + offset, reporting a stage-2
 * fault there as a stage-1 one (QEMU 10.0); `arch` translates every descriptor address
 * and reports such faults at stage 2 (IHI 0070 3.4, 7.3.12); `s2` receives those
 * translations (scratch for the caller).
 */
export function walk(cfg: usize, t: i32, iova: u64, access: u32, out: TlbEntry, s2: TlbEntry, info: PtwInfo): u32 {
  const tt = cfg + CF_TT + <usize>(t << 2);
  info.stage = 1;
  if (load<u8>(tt, TT_DISABLED) != 0) return PTW_ERR_TRANSLATION;
  const granule = <u32>load<u8>(tt, TT_GRANULE);
  const tsz = <u32>load<u8>(tt, TT_TSZ);
  const had = load<u8>(tt, TT_HAD) != 0;
  const write = (access & ACC_WRITE) != 0;
  const stride = granule - 3;
  const inputsize = 64 - tsz;
  let level = startLevel(tsz, granule);
  const indexmask = (<u64>1 << <u64>(inputsize - stride * (4 - level))) - 1;
  let base = (load<u64>(cfg + CF_TTB + <usize>(t << 3)) & ((<u64>1 << 48) - 1)) & ~indexmask;
  const oasBits = <i32>load<u8>(cfg, CF_OAS);
  const oasMask = ~qmask(oasBits);
  const checks = S.profile;
  const nested = load<u8>(cfg, CF_KIND) == KIND_NESTED;
  const perDescriptor = nested && (checks & PF_QEMU_BUGS) == 0;

  while (level <= 3) {
    const shift = levelShift(level, granule);
    const mask = (<u64>1 << <u64>shift) - 1;
    const offset = ((iova & qmask(<i32>inputsize)) >> <u64>shift) & ((<u64>1 << <u64>stride) - 1);
    let pteAddr = base + offset * PTE_BYTES;
    if (perDescriptor) {
      const r = descriptorIpa(cfg, pteAddr, s2, info);
      if (r != PTW_OK) return r;
      pteAddr = s2.ta + (pteAddr & s2.mask);
    }
    const pte = gread64(pteAddr);
    S.bump(ST_WALK_READS);
    if (!readOk) {
      info.addr = pteAddr; // info.stage is 1: set on entry and after each stage-2 translation
      return PTW_ERR_WALK_EABT;
    }
    if (traceOn) {
      tr(T_GET_PTE, base, offset, pteAddr, pte);
      tr(T_PTW_LEVEL, level, iova, mask + 1, base, offset, pte);
    }
    const type = <u32>ex(pte, PTE_TYPE);
    if (ex(pte, PTE_VALID) == 0 || (level == 3 && type == PTE_TYPE_L3_RESERVED)) {
      if (traceOn) tr(T_PTW_INVALID_PTE, 1, level, base, pteAddr, offset, pte);
      break;
    }
    let gpa: u64;
    if (level < 3 && type == PTE_TYPE_TABLE) {
      const apt = <u32>ex(pte, PTE_APTABLE);
      if (write && (apt & AP_RDONLY) != 0 && !had) return PTW_ERR_PERMISSION;
      base = pteAddress(pte, granule);
      // table addresses: checked by the architecture, not by QEMU 10.0
      if ((checks & (PF_ADDR_SIZE | PF_QEMU_BUGS)) == PF_ADDR_SIZE && (base & oasMask) != 0) return PTW_ERR_ADDR_SIZE;
      if (nested && !perDescriptor) {
        const r = tableIpa(cfg, base, oasBits, s2, info);
        if (r != PTW_OK) return r;
        base = s2.ta + (base & s2.mask);
      }
      level++;
      continue;
    } else if (level == 3) {
      gpa = pteAddress(pte, granule);
      if (traceOn) tr(T_PTW_PAGE_PTE, 1, level, iova, base, pteAddr, pte, gpa);
    } else {
      gpa = pteAddress(pte, shift);
      if (traceOn) tr(T_PTW_BLOCK_PTE, 1, level, base, pteAddr, pte, iova, gpa, (mask + 1) >> 20);
    }
    const fault = leafFault(cfg, pte, gpa, oasMask, write);
    if (fault != PTW_OK) return fault;
    const perm = (<u32>ex(pte, PTE_AP) & AP_RDONLY) != 0 ? ACC_READ : ACC_READ | ACC_WRITE;
    out.set(iova, gpa, mask, perm, perm, level, granule);
    return PTW_OK;
  }
  return PTW_ERR_TRANSLATION;
}

/**
 * The checks of a stage-1 leaf descriptor `pte` with output `gpa`: the architecture's
 * address size, access flag (unless CD.AFFD), then permission; QEMU 10.0 checks the
 * address size last.
 */
// @ts-ignore: decorator
@inline function leafFault(cfg: usize, pte: u64, gpa: u64, oasMask: u64, write: bool): u32 {
  const checks = S.profile;
  const sizeFault = (checks & PF_ADDR_SIZE) != 0 && (gpa & oasMask) != 0;
  if (sizeFault && (checks & PF_QEMU_BUGS) == 0) return PTW_ERR_ADDR_SIZE;
  if ((checks & PF_AF) != 0 && ex(pte, PTE_AF) == 0 && load<u8>(cfg, CF_AFFD) == 0) return PTW_ERR_ACCESS;
  if (write && (<u32>ex(pte, PTE_AP) & AP_RDONLY) != 0) return PTW_ERR_PERMISSION;
  if (sizeFault) return PTW_ERR_ADDR_SIZE;
  return PTW_OK;
}

/**
 * `arch`, nested: descriptor address `pteAddr` is an IPA, translated through stage 2
 * into `s2`; a fault is reported at its stage with CLASS = TT (ADDR2 = the IPA unless
 * an external abort).
 */
function descriptorIpa(cfg: usize, pteAddr: u64, s2: TlbEntry, info: PtwInfo): u32 {
  const r = s2Translate(cfg, pteAddr, ACC_READ, S2_IAS_ARCH, s2, info);
  if (r != PTW_OK) {
    info.ipaDesc = true; // (a stage-2 fault's info.addr is already the IPA, pteAddr; an abort's the descriptor's PA)
    return r;
  }
  info.stage = 1;
  return PTW_OK;
}

/**
 * QEMU 10.0 translate_table_addr_ipa: a nested walk's next table base `ipa` (not each
 * descriptor) through stage 2 into `s2`, with the CD's IPS (`oasBits`) as the input
 * bound; a failure keeps the stage-2 fault type but is reported at stage 1.
 */
function tableIpa(cfg: usize, ipa: u64, oasBits: i32, s2: TlbEntry, info: PtwInfo): u32 {
  const r = s2Translate(cfg, ipa, ACC_READ, oasBits, s2, info);
  info.stage = 1;
  if (r != PTW_OK) {
    info.ipaDesc = true;
    info.addr = ipa;
  }
  return r;
}

/** The input bound of a descriptor-address translation in the `arch` profile: the SMMU's IAS (= OAS, 44 bits). */
export const S2_IAS_ARCH: i32 = 44;

/**
 * Stage-2 walk of `ipa` for configuration `cfg` (QEMU 10.0 smmu_ptw_64_s2); PTW_OK fills
 * `out`, a fault `info`. The start table: `qemu-10.0` masks the concatenated table's offset away again
 * (so every IPA is looked up in the first table, and a start level deeper than the IPA
 * size needs reads the table at 0), `arch` indexes the concatenated tables.
 */
export function walkS2(cfg: usize, ipa: u64, access: u32, out: TlbEntry, info: PtwInfo): u32 {
  info.stage = 2;
  const granule = <u32>load<u8>(cfg, CF_S2_GRANULE);
  const inputsize = 64 - <u32>load<u8>(cfg, CF_S2_TSZ);
  let level = <u32>load<u8>(cfg, CF_S2_LEVEL);
  const stride = granule - 3;
  const ps = <i32>load<u8>(cfg, CF_S2_PS);
  const vttb = load<u64>(cfg, CF_VTTB) & qmask(ps);
  // concatenated start table index (QEMU pgd_concat_idx: the IPA bits above the start level)
  const idx = ipa >> <u64>(granule + (4 - level) * stride);
  const tableBytes = <u64>PTE_BYTES << <u64>stride;
  const indexmask = (<u64>1 << <u64>(concatBits(inputsize, level, granule) + <i32>(stride + 3) & 63)) - 1;
  let base: u64;
  if ((S.profile & PF_QEMU_BUGS) != 0) base = (vttb + idx * tableBytes) & ~indexmask;
  else base = (vttb & ~indexmask) + idx * tableBytes;
  if (ipa >= (<u64>1 << <u64>inputsize)) {
    info.addr = ipa;
    return PTW_ERR_TRANSLATION;
  }
  const need: u32 = (access & ACC_WRITE) != 0 ? ACC_WRITE : ACC_READ;
  while (level <= 3) {
    const shift = levelShift(level, granule);
    const mask = (<u64>1 << <u64>shift) - 1;
    const offset = ((ipa & qmask(<i32>inputsize)) >> <u64>shift) & ((<u64>1 << <u64>stride) - 1);
    const pteAddr = base + offset * PTE_BYTES;
    const pte = gread64(pteAddr);
    S.bump(ST_WALK_READS);
    if (!readOk) {
      info.addr = pteAddr;
      return PTW_ERR_WALK_EABT;
    }
    if (traceOn) {
      tr(T_GET_PTE, base, offset, pteAddr, pte);
      tr(T_PTW_LEVEL, level, ipa, mask + 1, base, offset, pte);
    }
    const type = <u32>ex(pte, PTE_TYPE);
    if (ex(pte, PTE_VALID) == 0 || (level == 3 && type == PTE_TYPE_L3_RESERVED)) {
      if (traceOn) tr(T_PTW_INVALID_PTE, 2, level, base, pteAddr, offset, pte);
      break;
    }
    if (level < 3 && type == PTE_TYPE_TABLE) {
      base = pteAddress(pte, granule);
      level++;
      continue;
    }
    const gpa = level == 3 ? pteAddress(pte, granule) : pteAddress(pte, shift);
    if (traceOn) {
      if (level == 3) tr(T_PTW_PAGE_PTE, 2, level, ipa, base, pteAddr, pte, gpa);
      else tr(T_PTW_BLOCK_PTE, 2, level, base, pteAddr, pte, ipa, gpa, (mask + 1) >> 20);
    }
    // access flag (unless STE.S2AFFD), then S2AP, then the S2PS output bound (IHI 0070 5.2)
    info.addr = ipa;
    if (ex(pte, PTE_AF) == 0 && load<u8>(cfg, CF_S2_AFFD) == 0) return PTW_ERR_ACCESS;
    const s2ap = <u32>ex(pte, PTE_AP);
    if ((s2ap & need) == 0) return PTW_ERR_PERMISSION;
    if ((gpa & ~qmask(ps)) != 0) return PTW_ERR_ADDR_SIZE;
    info.addr = 0;
    out.set(ipa, gpa, mask, s2ap, s2ap, level, granule);
    return PTW_OK;
  }
  info.addr = ipa;
  return PTW_ERR_TRANSLATION;
}

/**
 * QEMU 10.0 smmu_translate for a stage-2-only lookup (a stage-2 STE's transaction, or a
 * nested configuration's CD or table address): the IOTLB's entries of (no ASID, VMID),
 * else a walk inserted there. `ias`: input addresses at or above 2^ias are a stage-1
 * address size fault (QEMU checks the configuration's current OAS). PTW_OK fills `out`,
 * a fault `info`.
 */
export function s2Translate(cfg: usize, ipa: u64, access: u32, ias: i32, out: TlbEntry, info: PtwInfo): u32 {
  const vmid = load<u32>(cfg, CF_VMID);
  const granule = <u32>load<u8>(cfg, CF_S2_GRANULE);
  const hit = lookup(KEY_NONE, vmid, ipa, granule, <u32>load<u8>(cfg, CF_S2_TSZ));
  if (hit != 0) {
    const perm = <u32>load<u8>(hit, IE_PERM), pperm = <u32>load<u8>(hit, IE_PPERM);
    const ok = hitAllows(perm, pperm, access, false, info);
    if (ok == HIT_OK) {
      out.set(ipa, load<u64>(hit, IE_TA), load<u64>(hit, IE_MASK), perm, pperm, <u32>load<u8>(hit, IE_LEVEL), <u32>load<u8>(hit, IE_GRANULE));
      return PTW_OK;
    }
    if (ok != HIT_WALK) return PTW_ERR_PERMISSION;
  }
  if (ipa >= (<u64>1 << <u64>(ias & 63))) {
    info.reset(); // a stage-1 fault with no address of its own (QEMU's zeroed ptw_info)
    return PTW_ERR_ADDR_SIZE;
  }
  const r = walkS2(cfg, ipa, access, out, info);
  if (r == PTW_OK) iotlbInsert(KEY_NONE, vmid, out.iova, (out.granule - 10) >> 1, out.level, out.ta, out.mask, out.perm, out.pperm, out.granule);
  return r;
}

export const HIT_OK: u32 = 0;
export const HIT_WALK: u32 = 1;
export const HIT_FAULT: u32 = 2;

/**
 * Whether a cached entry serves `access` (`s1`: the entry has stage-1 permissions, i.e.
 * an ASID). QEMU (7.2 and 10.0) checks writes only, against both stages' permissions,
 * and reports a refused write at stage 1 when the stage-1 permission lacks it, else at
 * stage 2 (`info`; ADDR2 = 0). `arch` refuses at stage 1 what the stage-1 permission
 * lacks and walks again for what only stage 2 refuses (the walk reports the architected
 * stage-2 fault with its IPA).
 */
// @ts-ignore: decorator
@inline export function hitAllows(perm: u32, pperm: u32, access: u32, s1: bool, info: PtwInfo): u32 {
  const need: u32 = (access & ACC_WRITE) != 0 ? ACC_WRITE : ACC_READ;
  // the common case first: both stages allow the access
  if ((need & perm & pperm) != 0) return HIT_OK;
  return hitRefused(perm, need, s1, info);
}

/** hitAllows when a stage's permission lacks the access. */
function hitRefused(perm: u32, need: u32, s1: bool, info: PtwInfo): u32 {
  if (qemuRules()) {
    if (need != ACC_WRITE) return HIT_OK; // reads are not checked
    info.stage = (perm & ACC_WRITE) == 0 ? 1 : 2;
  } else if (s1 && (perm & need) == 0) {
    info.stage = 1;
  } else {
    return HIT_WALK;
  }
  info.addr = 0;
  info.ipaDesc = false;
  return HIT_FAULT;
}

/** Whether QEMU's rules apply (7.2, or 10.0 with its departures) rather than the architecture's. */
// @ts-ignore: decorator
@inline export function qemuRules(): bool {
  return (S.profile & PF_QEMU_BUGS) != 0 || (S.profile & PF_V10) == 0;
}

/**
 * QEMU smmu_iotlb_lookup_all_levels: the entry of (asid, vmid) covering `iova` at each
 * level from the start level of (tsz, granule) to 3, or 0.
 */
export function lookup(asid: u32, vmid: u32, iova: u64, granule: u32, tsz: u32): usize {
  if (!asidHasEntries(asid)) return 0;
  return lookupFrom(asid, vmid, iova, granule, startLevel(tsz, granule));
}

/** lookup from level `start`: the levels from there to 3 that hold entries, in ascending order. */
// @ts-ignore: decorator
@inline export function lookupFrom(asid: u32, vmid: u32, iova: u64, granule: u32, start: u32): usize {
  const tg = (granule - 10) >> 1;
  let lv: u32 = start <= 3 ? levelMask & (<u32>0xf << start) : 0;
  while (lv != 0) {
    const level = ctz(lv);
    lv &= lv - 1;
    const m = (<u64>1 << <u64>levelShift(level, granule)) - 1;
    const e = iotlbProbe(asid, vmid, iova & ~m, tg, level);
    if (e != 0) return e;
  }
  return 0;
}
