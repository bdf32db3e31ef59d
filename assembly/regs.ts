// Register file (IHI 0070, 6.3) exactly as QEMU 7.2 presents it: 32-bit registers
// (4-byte accesses), 64-bit registers (8-byte accesses or 32-bit halves), page 1
// aliasing page 0, unimplemented offsets reading zero and ignoring writes, and the
// write side effects (CR0, GERRORN and CMDQ_PROD start command consumption).

import * as S from "./state";
import { ex32, fmask } from "./bits";
import { writeGerrorn } from "./irq";
import { cmdqConsume } from "./cmdq";
import { visibleCons } from "./dispatch";
import { flushAllConfigs } from "./config";
import { iotlbInvAll } from "./iotlb";
import {
  SMMU_PAGE1, R_IDR0, R_IDR1, R_IDR2, R_IDR3, R_IDR4, R_IDR5, R_IIDR, R_AIDR, R_CR0, R_CR0ACK, R_CR1,
  R_CR2, R_STATUSR, R_GBPA, R_IRQ_CTRL, R_IRQ_CTRLACK, R_GERROR, R_GERRORN, R_GERROR_IRQ_CFG0,
  R_GERROR_IRQ_CFG1, R_GERROR_IRQ_CFG2, R_STRTAB_BASE, R_STRTAB_BASE_CFG, R_CMDQ_BASE, R_CMDQ_PROD,
  R_CMDQ_CONS, R_EVENTQ_BASE, R_EVENTQ_PROD, R_EVENTQ_CONS, R_EVENTQ_IRQ_CFG0, R_EVENTQ_IRQ_CFG1,
  R_EVENTQ_IRQ_CFG2, R_IDREGS, CR0_ACK_MASK, STRTAB_CFG_FMT, STRTAB_CFG_SPLIT, STRTAB_FMT_2LEVEL,
  Q_BASE_LOG2SIZE, QEMU_CMDQS, QEMU_EVENTQS, QEMU_SIDSIZE, QEMU_OAS, QEMU_AIDR, GBPA_UPDATE, GBPA_WRITABLE,
  GBPA_RESET, IDR0_S1P, IDR0_S2P, IDR0_VMID16, IDR3_XNX, IDR0_TTF, IDR0_COHACC, IDR0_ASID16, IDR0_TTENDIAN, IDR0_STALL_MODEL,
  IDR0_TERM_MODEL, IDR0_ST_LEVEL, IDR1_SIDSIZE, IDR1_EVENTQS, IDR1_CMDQS, IDR3_RIL, IDR3_HAD, IDR3_BBML,
  IDR5_GRAN4K, IDR5_GRAN16K, IDR5_GRAN64K, IDR5_OAS,
} from "../src/arch/registers";
import { CQ_IDLE, PF_GBPA, PF_V10, PF_S2P, PF_NO_S1P, PF_QEMU_BUGS } from "../src/arch/abi";
import { dp } from "./bits";

/** CoreLink peripheral/component ID registers at 0xfd0 (QEMU smmuv3_ids: an MMU-600). */
const IDREGS: StaticArray<u8> = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1];

// @ts-ignore: decorator
@inline function f32(v: u32, f: i32, x: u32): u32 { return <u32>dp(<u64>v, f, <u64>x); }

/** Power-on state: everything zero, then the device reset. */
export function powerOn(profile: u32): void {
  S.profile = profile;
  S.cr1 = 0; S.cr2 = 0; S.gbpa = 0;
  S.gerrorIrqCfg0 = 0; S.gerrorIrqCfg1 = 0; S.gerrorIrqCfg2 = 0;
  S.strtabBase = 0; S.strtabBaseCfg = 0; S.sidSplit = 0;
  S.cmdqBase = 0; S.cmdqLog2 = 0; S.eventqBase = 0; S.eventqLog2 = 0;
  S.eventqIrqCfg0 = 0; S.eventqIrqCfg1 = 0; S.eventqIrqCfg2 = 0;
  deviceReset();
}

/**
 * Device reset as QEMU 7.2 does it (smmu_base_reset + smmuv3_init_regs): caches
 * emptied, ID registers set, queues' LOG2SIZE fields set to the maximum in the base
 * registers, PROD/CONS/CR0/IRQ_CTRL/GERROR* cleared. CR1, CR2, STRTAB_BASE(_CFG),
 * the IRQ_CFG registers and the queues' effective sizes keep their values.
 */
export function deviceReset(): void {
  flushAllConfigs();
  iotlbInvAll();
  let i0: u32 = 0;
  const v10 = (S.profile & PF_V10) != 0;
  i0 = f32(i0, IDR0_S1P, v10 && (S.profile & PF_NO_S1P) != 0 ? 0 : 1);
  i0 = f32(i0, IDR0_S2P, v10 && (S.profile & PF_S2P) != 0 ? 1 : 0);
  if (v10) i0 = f32(i0, IDR0_VMID16, 1); // QEMU 10.0 (16-bit VMIDs)
  i0 = f32(i0, IDR0_TTF, 2); // AArch64 tables only
  i0 = f32(i0, IDR0_COHACC, 1);
  i0 = f32(i0, IDR0_ASID16, 1);
  i0 = f32(i0, IDR0_TTENDIAN, 2); // little endian
  i0 = f32(i0, IDR0_STALL_MODEL, 1); // stall not supported
  i0 = f32(i0, IDR0_TERM_MODEL, 1);
  i0 = f32(i0, IDR0_ST_LEVEL, 1); // 2-level stream table
  S.idr0 = i0;
  S.idr1 = f32(f32(f32(0, IDR1_SIDSIZE, QEMU_SIDSIZE), IDR1_EVENTQS, QEMU_EVENTQS), IDR1_CMDQS, QEMU_CMDQS);
  S.idr3 = f32(f32(f32(0, IDR3_RIL, 1), IDR3_HAD, 1), IDR3_BBML, 2);
  if (v10 && (S.profile & PF_S2P) != 0) S.idr3 = f32(S.idr3, IDR3_XNX, 1); // QEMU 10.0 with stage 2
  S.idr5 = f32(f32(f32(f32(0, IDR5_GRAN4K, 1), IDR5_GRAN16K, 1), IDR5_GRAN64K, 1), IDR5_OAS, QEMU_OAS);
  S.iidr = 0;
  S.aidr = QEMU_AIDR;
  S.cmdqBase = dp(S.cmdqBase, Q_BASE_LOG2SIZE, QEMU_CMDQS);
  S.cmdqProd = 0;
  S.cmdqCons = 0;
  S.eventqBase = dp(S.eventqBase, Q_BASE_LOG2SIZE, QEMU_EVENTQS);
  S.eventqProd = 0;
  S.eventqCons = 0;
  S.features = 0;
  S.sidSplit = 0;
  S.cr0 = 0;
  S.cr0ack = 0;
  S.irqCtrl = 0;
  S.gerror = 0;
  S.gerrorn = 0;
  S.statusr = 0;
  S.gbpa = (S.profile & PF_GBPA) != 0 ? GBPA_RESET : 0;
}

/** 4-byte register read (QEMU smmu_readl). */
export function mmioRead32(offset: u32): u32 {
  const off = offset & ~SMMU_PAGE1;
  if (off >= <u32>R_IDREGS && off < <u32>(R_IDREGS + 0x30)) return <u32>unchecked(IDREGS[(off - R_IDREGS) >> 2]);
  switch (off) {
    case R_IDR0: return S.idr0;
    case R_IDR1: return S.idr1;
    case R_IDR2: return 0;
    case R_IDR3: return S.idr3;
    case R_IDR4: return 0;
    case R_IDR5: return S.idr5;
    case R_IIDR: return S.iidr;
    case R_AIDR: return S.aidr;
    case R_CR0: return S.cr0;
    case R_CR0ACK: return S.cr0ack;
    case R_CR1: return S.cr1;
    case R_CR2: return S.cr2;
    case R_STATUSR: return S.statusr;
    case R_GBPA: return (S.profile & PF_GBPA) != 0 ? S.gbpa : 0;
    case R_IRQ_CTRL:
    case R_IRQ_CTRLACK: return S.irqCtrl;
    case R_GERROR: return S.gerror;
    case R_GERRORN: return S.gerrorn;
    case R_GERROR_IRQ_CFG0: return <u32>S.gerrorIrqCfg0;
    case R_GERROR_IRQ_CFG0 + 4: return <u32>(S.gerrorIrqCfg0 >> 32);
    case R_GERROR_IRQ_CFG1: return S.gerrorIrqCfg1;
    case R_GERROR_IRQ_CFG2: return S.gerrorIrqCfg2;
    case R_STRTAB_BASE: return <u32>S.strtabBase;
    case R_STRTAB_BASE + 4: return <u32>(S.strtabBase >> 32);
    case R_STRTAB_BASE_CFG: return S.strtabBaseCfg;
    case R_CMDQ_BASE: return <u32>S.cmdqBase;
    case R_CMDQ_BASE + 4: return <u32>(S.cmdqBase >> 32);
    case R_CMDQ_PROD: return S.cmdqProd;
    case R_CMDQ_CONS: return visibleCons(S.cmdqCons);
    case R_EVENTQ_BASE: return <u32>S.eventqBase;
    case R_EVENTQ_BASE + 4: return <u32>(S.eventqBase >> 32);
    case R_EVENTQ_PROD: return S.eventqProd;
    case R_EVENTQ_CONS: return S.eventqCons;
  }
  return 0; // unimplemented (EVENTQ_IRQ_CFG*, PRIQ_*, ...): RAZ
}

/** 8-byte register read (QEMU smmu_readll). */
export function mmioRead64(offset: u32): u64 {
  switch (offset & ~SMMU_PAGE1) {
    case R_GERROR_IRQ_CFG0: return S.gerrorIrqCfg0;
    case R_STRTAB_BASE: return S.strtabBase;
    case R_CMDQ_BASE: return S.cmdqBase;
    case R_EVENTQ_BASE: return S.eventqBase;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function lo(r: u64, v: u32): u64 { return (r & 0xffffffff00000000) | <u64>v; }
// @ts-ignore: decorator
@inline function hi(r: u64, v: u32): u64 { return (r & 0xffffffff) | (<u64>v << 32); }

function queueLog2(base: u64, max: u32): u32 {
  const l = <u32>(base & 0x1f);
  return l > max ? max : l;
}

/** 4-byte register write (QEMU smmu_writel); returns CQ_* for the host. */
export function mmioWrite32(offset: u32, v: u32): u32 {
  switch (offset & ~SMMU_PAGE1) {
    case R_CR0: {
      S.cr0 = v;
      S.cr0ack = v & CR0_ACK_MASK;
      return cmdqConsume(); // the command queue may just have been enabled
    }
    case R_CR1: S.cr1 = v; break;
    case R_CR2: S.cr2 = v; break;
    case R_GBPA: {
      // QEMU 10.0 keeps every bit but Update, reserved ones included; the architecture the writable fields
      if ((S.profile & PF_GBPA) != 0 && ex32(v, GBPA_UPDATE) != 0) S.gbpa = (S.profile & PF_QEMU_BUGS) != 0 ? v & ~<u32>fmask(GBPA_UPDATE) : v & GBPA_WRITABLE;
      break;
    }
    case R_IRQ_CTRL: S.irqCtrl = v; break;
    case R_GERRORN: {
      writeGerrorn(v);
      return cmdqConsume(); // acknowledging CMDQ_ERR lets consumption resume
    }
    case R_GERROR_IRQ_CFG0: S.gerrorIrqCfg0 = lo(S.gerrorIrqCfg0, v); break;
    case R_GERROR_IRQ_CFG0 + 4: S.gerrorIrqCfg0 = hi(S.gerrorIrqCfg0, v); break;
    case R_GERROR_IRQ_CFG1: S.gerrorIrqCfg1 = v; break;
    case R_GERROR_IRQ_CFG2: S.gerrorIrqCfg2 = v; break;
    case R_STRTAB_BASE: S.strtabBase = lo(S.strtabBase, v); break;
    case R_STRTAB_BASE + 4: S.strtabBase = hi(S.strtabBase, v); break;
    case R_STRTAB_BASE_CFG: {
      S.strtabBaseCfg = v;
      if (ex32(v, STRTAB_CFG_FMT) == STRTAB_FMT_2LEVEL) {
        S.sidSplit = ex32(v, STRTAB_CFG_SPLIT);
        S.features |= S.FEATURE_2LVL_STE;
      }
      break;
    }
    case R_CMDQ_BASE: {
      S.cmdqBase = lo(S.cmdqBase, v);
      S.cmdqLog2 = queueLog2(S.cmdqBase, QEMU_CMDQS);
      break;
    }
    case R_CMDQ_BASE + 4: S.cmdqBase = hi(S.cmdqBase, v); break;
    case R_CMDQ_PROD: {
      S.cmdqProd = v;
      return cmdqConsume();
    }
    case R_CMDQ_CONS: S.cmdqCons = v; break;
    case R_EVENTQ_BASE: {
      S.eventqBase = lo(S.eventqBase, v);
      S.eventqLog2 = queueLog2(S.eventqBase, QEMU_EVENTQS);
      break;
    }
    case R_EVENTQ_BASE + 4: S.eventqBase = hi(S.eventqBase, v); break;
    case R_EVENTQ_PROD: S.eventqProd = v; break;
    case R_EVENTQ_CONS: S.eventqCons = v; break;
    case R_EVENTQ_IRQ_CFG0: S.eventqIrqCfg0 = lo(S.eventqIrqCfg0, v); break;
    case R_EVENTQ_IRQ_CFG0 + 4: S.eventqIrqCfg0 = hi(S.eventqIrqCfg0, v); break;
    case R_EVENTQ_IRQ_CFG1: S.eventqIrqCfg1 = v; break;
    case R_EVENTQ_IRQ_CFG2: S.eventqIrqCfg2 = v; break;
  }
  return CQ_IDLE;
}

/** 8-byte register write (QEMU smmu_writell). */
export function mmioWrite64(offset: u32, v: u64): u32 {
  switch (offset & ~SMMU_PAGE1) {
    case R_GERROR_IRQ_CFG0: S.gerrorIrqCfg0 = v; break;
    case R_STRTAB_BASE: S.strtabBase = v; break;
    case R_CMDQ_BASE: {
      S.cmdqBase = v;
      S.cmdqLog2 = queueLog2(v, QEMU_CMDQS);
      break;
    }
    case R_EVENTQ_BASE: {
      S.eventqBase = v;
      S.eventqLog2 = queueLog2(v, QEMU_EVENTQS);
      break;
    }
    case R_EVENTQ_IRQ_CFG0: S.eventqIrqCfg0 = v; break;
  }
  return CQ_IDLE;
}

