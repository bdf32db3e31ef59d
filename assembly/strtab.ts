// Stream table lookup and STE decoding (IHI 0070, 5.1-5.2) with QEMU 7.2's checks
// (smmu_find_ste, decode_ste) and the events they raise.

import * as S from "./state";
import { ex, ex32, ld, qmask } from "./bits";
import { gread, gread64, readOk } from "./guestmem";
import { baseAddr } from "./queue";
import { EventInfo, unrecorded } from "./evtq";
import { traceOn, tr } from "./trace";
import { QEMU_SIDSIZE, STRTAB_CFG_LOG2SIZE } from "../src/arch/registers";
import {
  STE_BYTES, L1STD_BYTES, L1STD_SPAN, STE_V, STE_CONFIG, STE_S1CDMAX, STE_S1STALLD,
  STE_CFG_ENABLE_BIT, STE_CFG_BYPASS, STE_CFG_S2_BIT, STE_CFG_S1_BIT,
} from "../src/arch/ste";
import { PF_V10, PF_S2P, PF_NO_S1P } from "../src/arch/abi";
import { EVT_C_BAD_STREAMID, EVT_F_STE_FETCH, EVT_C_BAD_STE } from "../src/arch/events";
import { T_FIND_STE, T_FIND_STE_2LVL, T_GET_STE } from "../src/arch/trace-events";

/** The STE read by the last successful findSte. */
export const steBuf = memory.data(STE_BYTES);

/** QEMU 7.2 keeps bits 63:5 of a level-1 descriptor as the L2 table pointer. */
const L1STD_L2PTR_QEMU_MASK: u64 = ~<u64>0x1f;

/** No STE address (STE addresses are at least 32-byte aligned). */
export const STE_NOWHERE: u64 = ~<u64>0;

/**
 * Reads the STE of `sid` into steBuf (QEMU smmu_find_ste). On failure `ev` holds
 * C_BAD_STREAMID, F_STE_FETCH or C_BAD_STE and false is returned.
 */
export function findSte(sid: u32, ev: EventInfo = unrecorded): bool {
  const addr = steAddr(sid, ev);
  if (addr == STE_NOWHERE) return false;
  if (!gread(addr, steBuf, STE_BYTES)) {
    ev.type = EVT_F_STE_FETCH;
    ev.addr2 = addr;
    return false;
  }
  return true;
}

/**
 * Where `sid`'s STE is (smmu_find_ste up to the read, its trace records included), or
 * STE_NOWHERE with `ev` saying why (C_BAD_STREAMID, F_STE_FETCH of the L1 descriptor,
 * C_BAD_STE). The vIOMMU dispatcher reads only STE word 0 from it.
 */
export function steAddr(sid: u32, ev: EventInfo = unrecorded): u64 {
  if (traceOn) tr(T_FIND_STE, sid, S.features, S.sidSplit);
  const log2size = ex32(S.strtabBaseCfg, STRTAB_CFG_LOG2SIZE);
  const limit = log2size < <u32>QEMU_SIDSIZE ? log2size : <u32>QEMU_SIDSIZE;
  if (<u64>sid >= (<u64>1 << <u64>limit)) {
    ev.type = EVT_C_BAD_STREAMID;
    return STE_NOWHERE;
  }
  let addr: u64;
  if ((S.features & S.FEATURE_2LVL_STE) != 0) {
    const split = S.sidSplit;
    // Align the base to the L1 table size, ignoring the SIDSIZE bound (QEMU).
    let shift = <i32>log2size - <i32>split - 1 + 3;
    if (shift < 5) shift = 5;
    const base = baseAddr(S.strtabBase) & ~qmask(shift);
    const l1Off = <u64>(split >= 32 ? 0 : sid >> split);
    const l2Off = <u64>(sid & <u32>((<u64>1 << <u64>split) - 1));
    const l1ptr = base + l1Off * L1STD_BYTES;
    const l1 = gread64(l1ptr);
    if (!readOk) {
      ev.type = EVT_F_STE_FETCH;
      ev.addr2 = l1ptr;
      return STE_NOWHERE;
    }
    const span = <u32>ex(l1, L1STD_SPAN);
    if (span == 0) {
      ev.type = EVT_C_BAD_STREAMID; // L2 pointer not valid
      return STE_NOWHERE;
    }
    const maxL2 = (<u64>1 << <u64>span) - 1;
    const l2ptr = l1 & L1STD_L2PTR_QEMU_MASK;
    if (traceOn) tr(T_FIND_STE_2LVL, S.strtabBase, l1ptr, l1Off, l2ptr, l2Off, maxL2);
    if (l2Off > maxL2) {
      ev.type = EVT_C_BAD_STE;
      return STE_NOWHERE;
    }
    addr = l2ptr + l2Off * STE_BYTES;
  } else {
    const base = baseAddr(S.strtabBase) & ~qmask(<i32>log2size + 5);
    addr = base + <u64>sid * STE_BYTES;
  }
  if (traceOn) tr(T_GET_STE, addr);
  return addr;
}

export const STE_DECODED_S1: u32 = 0;
export const STE_DECODED_ABORT: u32 = 1;
export const STE_DECODED_BYPASS: u32 = 2;
export const STE_DECODED_BAD: u32 = 3;
export const STE_DECODED_S2: u32 = 4;
export const STE_DECODED_NESTED: u32 = 5;

/**
 * QEMU decode_ste without the stage-2 fields (config.ts decodes those): a stage the SMMU
 * does not implement is C_BAD_STE (IHI 0070 5.2; QEMU 7.2 implements stage 1 only); one
 * CD, no stall, also when stage 1 is off (QEMU 10.0). `ste`: the entry's 64 bytes; a bad
 * STE sets `ev`.
 */
export function decodeSte(ste: usize, ev: EventInfo): u32 {
  if (ld(ste, STE_V) == 0) {
    ev.type = EVT_C_BAD_STE;
    return STE_DECODED_BAD;
  }
  const config = <u32>ld(ste, STE_CONFIG);
  if ((config & STE_CFG_ENABLE_BIT) == 0) return STE_DECODED_ABORT;
  if (config == STE_CFG_BYPASS) return STE_DECODED_BYPASS;
  const s1 = (config & STE_CFG_S1_BIT) != 0, s2 = (config & STE_CFG_S2_BIT) != 0;
  const v10 = (S.profile & PF_V10) != 0;
  const s1p = v10 ? (S.profile & PF_NO_S1P) == 0 : true;
  const s2p = v10 && (S.profile & PF_S2P) != 0;
  if ((s1 && !s1p) || (s2 && !s2p) || ld(ste, STE_S1CDMAX) != 0 || ld(ste, STE_S1STALLD) != 0) {
    ev.type = EVT_C_BAD_STE;
    return STE_DECODED_BAD;
  }
  return s1 && s2 ? STE_DECODED_NESTED : s2 ? STE_DECODED_S2 : STE_DECODED_S1;
}
