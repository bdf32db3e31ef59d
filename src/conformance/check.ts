// One differential check: record a scenario on QEMU, replay the recording on the
// model, report the mismatches.

import { replayText, type FileResult } from '../replay.js';
import { recordOnQemu, type RecordOptions, type Recording } from './record.js';
import { traceText, type Op } from './scenario.js';

export interface CheckResult {
  recording: Recording;
  /** The recorded trace (what a regress trace holds). */
  text: string;
  replay: FileResult;
  /** Our model's trace lines (when asked for). */
  modelTrace?: string[];
}

export interface CheckOptions extends RecordOptions {
  /** Collect the model's trace lines (QEMU trace-event format). */
  modelTrace?: boolean;
  /** Appended to the trace header's origin. */
  note?: string;
}

export async function checkOps(name: string, devices: number[], ops: readonly Op[], opts: CheckOptions = {}): Promise<CheckResult> {
  const recording = await recordOnQemu(devices, ops, opts);
  const text = traceText({ name, devices, origin: opts.note ? `${recording.origin}; ${opts.note}` : recording.origin }, recording.ops);
  const lines: string[] = [];
  const replay = withError(await replayText(text, name, opts.modelTrace ? { trace: (l) => lines.push(l) } : {}));
  return { recording, text, replay, modelTrace: opts.modelTrace ? lines : undefined };
}

/** Replays an already recorded trace on the model. */
export async function replayRecorded(name: string, text: string, modelTrace = false): Promise<{ replay: FileResult; modelTrace?: string[] }> {
  const lines: string[] = [];
  const replay = withError(await replayText(text, name, modelTrace ? { trace: (l) => lines.push(l) } : {}));
  return { replay, modelTrace: modelTrace ? lines : undefined };
}

/** A line the model could not run counts as a difference from QEMU here (QEMU ran it). */
function withError(r: FileResult): FileResult {
  if (r.error) r.mismatches.push({ line: r.error.line, op: 'error', expect: 'the operation applied', got: r.error.message });
  return r;
}
