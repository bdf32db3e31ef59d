// One conformance scenario from seed to verdict: generate, record on QEMU, replay on
// the model, count what it exercised, shrink and (on request) compare trace logs.
// Used by the worker threads of the runner and directly by tests.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from './generate.js';
import { recordOnQemu, type RecordOptions } from './record.js';
import { replayRecorded } from './check.js';
import { shrink } from './shrink.js';
import { traceText } from './scenario.js';
import { firstDivergence, modelTrace, normalizeQemuLog, type Divergence } from './trace-compare.js';
import type { Mismatch } from '../replay.js';
import { setEngineBytes } from '../engine.js';
import { unsafeAccesses } from './audit.js';
import { QEMU72, type QemuTarget } from '../qtest/target.js';

export interface ScenarioTask {
  index: number;
  seed: number;
  family?: string;
  /** Which QEMU and SMMU stages (default QEMU 7.2). */
  target?: QemuTarget;
  shrink?: boolean;
  /** Also run QEMU with -trace 'smmu*' and compare its log with the model's. */
  trace?: boolean;
  binary?: string;
}

export interface ScenarioOutcome {
  index: number;
  seed: number;
  name: string;
  family: string;
  ops: number;
  expects: number;
  /** Live migrations in the scenario. */
  migrations: number;
  mismatches: Mismatch[];
  mismatchCount: number;
  qemuMs: number;
  totalMs: number;
  qtestRequests: number;
  /** Opcodes published to the command queue. */
  opcodes: number[];
  /** Commands consumed, by QEMU's name (smmuv3_cmdq_opcode). */
  commands: Record<string, number>;
  /** Events recorded, by QEMU's name (smmuv3_record_event). */
  events: Record<string, number>;
  /** Command errors raised, by CERROR code. */
  cerrors: Record<string, number>;
  /** The recorded trace of the (shrunk) mismatching scenario. */
  regress?: { text: string; from: number; to: number; line: number; mismatch: Mismatch };
  /** First difference between QEMU's trace log and ours (with --trace). */
  traceDiff?: Divergence & { qemuLines: number; modelLines: number };
  qemuLog?: string[];
  modelLog?: string[];
  error?: string;
  /** For a mismatch: accesses outside safe memory (a generator bug, not a model bug). */
  unsafe?: string[];
  /** With --trace: accesses outside safe memory in QEMU's own log (a generator bug). */
  qemuUnsafe?: string[];
}

let engineChecked = false;

/** VSMMU_ENGINE_WASM=<file> runs the model on another engine build (e.g. to check that a fix was needed). */
function engineOverride(): void {
  if (engineChecked) return;
  engineChecked = true;
  const f = process.env.VSMMU_ENGINE_WASM;
  if (f) setEngineBytes(new Uint8Array(readFileSync(f)));
}

export async function runScenario(task: ScenarioTask, hooks: { onStart?: (pid: number) => void } = {}): Promise<ScenarioOutcome> {
  engineOverride();
  const t0 = Date.now();
  const target = task.target ?? QEMU72;
  const sc = await generate(task.seed, task.family, target);
  const out: ScenarioOutcome = {
    index: task.index, seed: task.seed, name: sc.name, family: sc.family, ops: sc.ops.length, expects: 0, migrations: sc.ops.filter((o) => o.op === 'migrate').length, mismatches: [], mismatchCount: 0,
    qemuMs: 0, totalMs: 0, qtestRequests: 0, opcodes: sc.opcodes, commands: {}, events: {}, cerrors: {},
  };
  let dir: string | undefined;
  try {
    const ropts: RecordOptions = { target, binary: task.binary, onStart: hooks.onStart };
    if (task.trace) {
      dir = mkdtempSync(join(tmpdir(), 'vsmmu-trace-'));
      ropts.traceFile = join(dir, 'qemu.log');
    }
    const rec = await recordOnQemu(sc.devices, sc.ops, ropts);
    out.qemuMs = rec.ms;
    out.qtestRequests = rec.qtestRequests;
    const text = traceText({ name: sc.name, devices: sc.devices, target, origin: rec.origin }, rec.ops);
    const { replay, modelTrace: lines } = await replayRecorded(sc.name, text, true);
    const head = replay.mismatches[0];
    if (head && head.op === 'header') {
      // the model cannot be configured as this SMMU (a profile or stage it lacks): nothing was compared
      throw new Error(`the model cannot run this trace: ${head.got}`);
    }
    out.expects = replay.expects;
    out.mismatchCount = replay.mismatches.length;
    out.mismatches = replay.mismatches.slice(0, 5);
    for (const l of lines ?? []) {
      if (l.startsWith('smmuv3_record_event ')) {
        const k = l.split(' ')[1];
        out.events[k] = (out.events[k] ?? 0) + 1;
      } else if (l.startsWith('smmuv3_cmdq_opcode ')) {
        const k = l.slice(l.indexOf('<--- ') + 5);
        out.commands[k] = (out.commands[k] ?? 0) + 1;
      } else if (l.startsWith('smmuv3_cmdq_consume_error ')) {
        const k = l.slice(l.lastIndexOf(' ') + 1);
        out.cerrors[k] = (out.cerrors[k] ?? 0) + 1;
      }
    }
    if (task.trace && ropts.traceFile) {
      const qemu = normalizeQemuLog(readFileSync(ropts.traceFile, 'utf8'));
      out.qemuUnsafe = unsafeAccesses(qemu, { cdIpa: target.stage === 'nested' }).slice(0, 5);
      if (out.qemuUnsafe.length === 0) delete out.qemuUnsafe;
      const model = await modelTrace(sc.devices, sc.ops, target);
      out.qemuLog = qemu;
      out.modelLog = model;
      const d = firstDivergence(qemu, model);
      if (d) out.traceDiff = { ...d, qemuLines: qemu.length, modelLines: model.length };
    }
    if (replay.mismatches.length > 0) {
      // a scenario that reached memory outside RAM would compare machines, not SMMUs: say so
      const unsafe = unsafeAccesses(lines ?? []);
      if (unsafe.length > 0) out.unsafe = unsafe.slice(0, 5);
      const first = replay.mismatches[0];
      if (task.shrink !== false) {
        const note = `shrunk from scenario ${sc.name} (${sc.ops.length} ops; vsmmu conformance --scenario ${sc.seed}), where QEMU and the model first differed at line ${first.line} (${first.op}: QEMU ${JSON.stringify(first.expect)}, model ${JSON.stringify(first.got)})`;
        const s = await shrink(`regress-${sc.name}`, sc.devices, sc.ops, first.line, { target, binary: task.binary, note });
        const m = s.check.replay.mismatches[0] ?? first;
        out.regress = { text: s.check.text, from: s.from, to: s.to, line: m.line, mismatch: m };
      } else {
        out.regress = { text: traceText({ name: `regress-${sc.name}`, devices: sc.devices, target, origin: rec.origin }, rec.ops), from: sc.ops.length, to: sc.ops.length, line: first.line, mismatch: first };
      }
    }
  } catch (err) {
    out.error = (err as Error).stack ?? String(err);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  out.totalMs = Date.now() - t0;
  return out;
}
