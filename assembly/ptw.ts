// Stage-1 VMSAv8-64 page-table walk (QEMU 7.2 smmu_ptw_64): start level from the
// input size and granule, table/block/page descriptors, APTable/AP write checks
// (all accesses are privileged), no access-flag or address-size checks unless the
// profile asks for the architected ones.

import * as S from "./state";
import { ex, qmask } from "./bits";
import { gread64, readOk } from "./guestmem";
import { traceOn, tr } from "./trace";
import { CF_TT, CF_TTB, CF_OAS, CF_TBI, TT_DISABLED, TT_TSZ, TT_GRANULE, TT_HAD } from "./config";
import { PTE_BYTES, PTE_VALID, PTE_TYPE, PTE_TYPE_TABLE, PTE_TYPE_PAGE, PTE_TYPE_L3_RESERVED, PTE_AP, PTE_AF, PTE_APTABLE, PTE_OA_TOP, AP_RDONLY } from "../src/arch/pte";
import { ACC_READ, ACC_WRITE, ST_WALK_READS, PF_AF, PF_ADDR_SIZE } from "../src/arch/abi";
import { T_GET_PTE, T_PTW_LEVEL, T_PTW_INVALID_PTE, T_PTW_PAGE_PTE, T_PTW_BLOCK_PTE } from "../src/arch/trace-events";

// Walk errors (QEMU SMMUPTWEventType)
export const PTW_OK: u32 = 0;
export const PTW_ERR_WALK_EABT: u32 = 1;
export const PTW_ERR_TRANSLATION: u32 = 2;
export const PTW_ERR_ADDR_SIZE: u32 = 3;
export const PTW_ERR_ACCESS: u32 = 4;
export const PTW_ERR_PERMISSION: u32 = 5;

// Walk result (QEMU SMMUTLBEntry / SMMUPTWEventInfo)
export let wIova: u64 = 0; // IOVA of the block (key)
export let wTa: u64 = 0; // translated address of the block
export let wMask: u64 = 0;
export let wPerm: u32 = 0;
export let wLevel: u32 = 0;
export let wGranule: u32 = 0;
export let wFaultAddr: u64 = 0; // descriptor address of an external abort

/** Shift of the region one descriptor at `level` maps (QEMU level_shift). */
// @ts-ignore: decorator
@inline export function levelShift(level: u32, granule: u32): u32 {
  return granule + (3 - level) * (granule - 3);
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
 */
export function selectTt(cfg: usize, iova: u64): i32 {
  const tbi = <u64>(load<u8>(cfg, CF_TBI) & 1) * 8;
  const tsz0 = <u64>load<u8>(cfg + CF_TT, TT_TSZ);
  const tsz1 = <u64>load<u8>(cfg + CF_TT + 4, TT_TSZ);
  if (tsz0 != 0 && ((iova >> (64 - tsz0)) & ones64(tsz0 - tbi)) == 0) return 0;
  if (tsz1 != 0 && ((iova >> (64 - tsz1)) & ones64(tsz1 - tbi)) == 0) return 1;
  if (tsz0 == 0) return 0;
  if (tsz1 == 0) return 1;
  return -1;
}

// @ts-ignore: decorator
@inline function ones64(n: u64): u64 {
  return (<u64>-1) >> (64 - n);
}

/** Walks table `t` of `cfg` for `iova` (already aligned to the granule); PTW_OK fills w*. */
export function walk(cfg: usize, t: i32, iova: u64, access: u32): u32 {
  const tt = cfg + CF_TT + <usize>(t << 2);
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
  const oasMask = ~qmask(<i32>load<u8>(cfg, CF_OAS));
  const checks = S.profile;

  while (level <= 3) {
    const shift = levelShift(level, granule);
    const mask = (<u64>1 << <u64>shift) - 1;
    const offset = ((iova & qmask(<i32>inputsize)) >> <u64>shift) & ((<u64>1 << <u64>stride) - 1);
    const pteAddr = base + offset * PTE_BYTES;
    const pte = gread64(pteAddr);
    S.bump(ST_WALK_READS);
    if (!readOk) {
      wFaultAddr = pteAddr;
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
      if ((checks & PF_ADDR_SIZE) != 0 && (base & oasMask) != 0) return PTW_ERR_ADDR_SIZE;
      level++;
      continue;
    } else if (level == 3) {
      gpa = pteAddress(pte, granule);
      if (traceOn) tr(T_PTW_PAGE_PTE, 1, level, iova, base, pteAddr, pte, gpa);
    } else {
      gpa = pteAddress(pte, shift);
      if (traceOn) tr(T_PTW_BLOCK_PTE, 1, level, base, pteAddr, pte, iova, gpa, (mask + 1) >> 20);
    }
    // Architected priority: address size, then access flag, then permission.
    if ((checks & PF_ADDR_SIZE) != 0 && (gpa & oasMask) != 0) return PTW_ERR_ADDR_SIZE;
    if ((checks & PF_AF) != 0 && ex(pte, PTE_AF) == 0) return PTW_ERR_ACCESS;
    const ap = <u32>ex(pte, PTE_AP);
    if (write && (ap & AP_RDONLY) != 0) return PTW_ERR_PERMISSION;
    wTa = gpa;
    wIova = iova & ~mask;
    wMask = mask;
    wPerm = (ap & AP_RDONLY) != 0 ? ACC_READ : ACC_READ | ACC_WRITE;
    wLevel = level;
    wGranule = granule;
    return PTW_OK;
  }
  return PTW_ERR_TRANSLATION;
}
