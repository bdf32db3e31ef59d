// Interrupt lines and the global error register (QEMU 7.2 smmuv3_trigger_irq,
// smmuv3_write_gerrorn). Pulses are counted; the host delivers them after each call.

import * as S from "./state";
import { ex32 } from "./bits";
import {
  IRQ_EVTQ, IRQ_CMD_SYNC, IRQ_GERROR, IRQ_CTRL_EVENTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN,
} from "../src/arch/registers";
import { T_TRIGGER_IRQ, T_WRITE_GERROR, T_WRITE_GERRORN } from "../src/arch/trace-events";
import { traceOn, tr } from "./trace";

/** Pulse `irq` if enabled; for GERROR, toggle the bits of `gerrorMask` that are not already pending. */
export function triggerIrq(irq: u32, gerrorMask: u32): void {
  let pulse = false;
  if (irq == IRQ_EVTQ) {
    pulse = ex32(S.irqCtrl, IRQ_CTRL_EVENTQ_IRQEN) != 0;
  } else if (irq == IRQ_CMD_SYNC) {
    pulse = true;
  } else if (irq == IRQ_GERROR) {
    const pending = S.gerror ^ S.gerrorn;
    const fresh = ~pending & gerrorMask;
    if (fresh == 0) return; // only toggle errors that are not pending
    S.gerror = S.gerror ^ fresh;
    if (traceOn) tr(T_WRITE_GERROR, fresh, S.gerror);
    pulse = ex32(S.irqCtrl, IRQ_CTRL_GERROR_IRQEN) != 0;
  } // IRQ_PRIQ: PRI is not implemented (QEMU logs LOG_UNIMP)
  if (pulse) {
    if (traceOn) tr(T_TRIGGER_IRQ, irq);
    const p = S.irqCounters + (<usize>irq << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
}

/** GERRORN write: acknowledges whatever the guest toggled (toggling non-pending bits is CONSTRAINED UNPREDICTABLE and accepted). */
export function writeGerrorn(value: u32): void {
  const pending = S.gerror ^ S.gerrorn;
  const toggled = S.gerrorn ^ value;
  S.gerrorn = value;
  if (traceOn) tr(T_WRITE_GERRORN, toggled & pending, S.gerrorn);
}
