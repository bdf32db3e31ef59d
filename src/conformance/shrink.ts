// Shrinking a mismatching scenario. QEMU and the model are deterministic, so a prefix
// of the operations behaves on both exactly as the start of the full run: the shortest
// prefix that still differs ends at the first mismatching observation. Observations
// before it change nothing (register and memory reads have no side effects) and are
// dropped too. The result is re-recorded on QEMU to confirm the difference.

import { checkOps, type CheckResult } from './check.js';
import { isObservation, type Op } from './scenario.js';
import type { CheckOptions } from './check.js';

export interface ShrinkResult {
  ops: Op[];
  /** The confirming check of the shrunk scenario. */
  check: CheckResult;
  /** Operations before / after. */
  from: number;
  to: number;
}

/** Operation index (0-based, into ops) of a trace line number (line 1 is the header). */
export function opIndexOfLine(line: number): number {
  return line - 2;
}

/** The shortest prefix ending at the first mismatch, without the observations before it. */
export function shrinkOps(ops: readonly Op[], firstMismatchLine: number): Op[] {
  const k = opIndexOfLine(firstMismatchLine);
  const prefix = ops.slice(0, k + 1);
  return prefix.filter((o, i) => i === k || !isObservation(o));
}

/**
 * Shrinks and confirms on QEMU. Falls back to the plain prefix (with its observations)
 * and then to the whole scenario when the smaller one does not reproduce.
 */
export async function shrink(name: string, devices: number[], ops: readonly Op[], firstMismatchLine: number, opts: CheckOptions = {}): Promise<ShrinkResult> {
  const k = opIndexOfLine(firstMismatchLine);
  const candidates = [shrinkOps(ops, firstMismatchLine), ops.slice(0, k + 1), [...ops]];
  let last: CheckResult | undefined;
  for (const cand of candidates) {
    const check = await checkOps(name, devices, cand, opts);
    last = check;
    if (check.replay.mismatches.length > 0) return { ops: cand, check, from: ops.length, to: cand.length };
  }
  return { ops: [...ops], check: last!, from: ops.length, to: ops.length };
}
