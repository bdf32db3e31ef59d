// Guest-visible register state of the SMMU (QEMU 7.2's SMMUv3State fields) and the
// engine's counters. Only regs.ts writes registers from MMIO; the queues and the
// translation path update the fields the architecture lets them update.

import { ST_BYTES, IRQ_COUNTERS_BYTES } from "../src/arch/abi";

export let profile: u32 = 0;

export let idr0: u32 = 0;
export let idr1: u32 = 0;
export let idr3: u32 = 0;
export let idr5: u32 = 0;
export let iidr: u32 = 0;
export let aidr: u32 = 0;
export let cr0: u32 = 0;
export let cr0ack: u32 = 0;
export let cr1: u32 = 0;
export let cr2: u32 = 0;
export let statusr: u32 = 0;
export let gbpa: u32 = 0;
export let irqCtrl: u32 = 0;
export let gerror: u32 = 0;
export let gerrorn: u32 = 0;
export let gerrorIrqCfg0: u64 = 0;
export let gerrorIrqCfg1: u32 = 0;
export let gerrorIrqCfg2: u32 = 0;
export let strtabBase: u64 = 0;
export let strtabBaseCfg: u32 = 0;
/** QEMU's s->features: bit 0 = 2-level stream table, set by a STRTAB_BASE_CFG write with FMT=1 and never cleared by FMT=0. */
export let features: u32 = 0;
export let sidSplit: u32 = 0;
export let cmdqBase: u64 = 0;
export let cmdqProd: u32 = 0;
export let cmdqCons: u32 = 0;
export let cmdqLog2: u32 = 0;
export let eventqBase: u64 = 0;
export let eventqProd: u32 = 0;
export let eventqCons: u32 = 0;
export let eventqLog2: u32 = 0;
export let eventqIrqCfg0: u64 = 0;
export let eventqIrqCfg1: u32 = 0;
export let eventqIrqCfg2: u32 = 0;

export const FEATURE_2LVL_STE: u32 = 1;

/** Interrupt pulses not yet delivered by the host, one u32 per line. */
export const irqCounters = memory.data(IRQ_COUNTERS_BYTES);
/** Statistics (u64 each, offsets ST_* in abi.ts). */
export const stats = memory.data(ST_BYTES);

// @ts-ignore: decorator
@inline export function bump(offset: usize): void {
  store<u64>(stats + offset, load<u64>(stats + offset) + 1);
}
