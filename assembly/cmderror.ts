// Command errors (IHI 0070, 4.8; QEMU 7.2 smmuv3_cmdq_consume's error exit): CMDQ_CONS.ERR
// takes the error and GERROR.CMDQ_ERR toggles; CONS stays on the failing command. Raised
// by the consume loops and, when forwarded entries were pending, by the dispatcher.

import * as S from "./state";
import { dp32, fmask } from "./bits";
import { triggerIrq } from "./irq";
import { traceOn, tr } from "./trace";
import { GERROR_CMDQ_ERR, CMDQ_CONS_ERR, IRQ_GERROR } from "../src/arch/registers";
import { T_CMDQ_CONSUME_ERROR } from "../src/arch/trace-events";

/** CONS.ERR = err and GERROR.CMDQ_ERR toggled; CONS stays on the failing command (opcode `type`). */
export function raiseCommandError(err: u32, type: u32): void {
  if (traceOn) tr(T_CMDQ_CONSUME_ERROR, type, err);
  S.cmdqCons = dp32(S.cmdqCons, CMDQ_CONS_ERR, err);
  triggerIrq(IRQ_GERROR, <u32>fmask(GERROR_CMDQ_ERR));
}
