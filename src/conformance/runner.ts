// The conformance runner: N seeded scenarios on QEMU and on the model side by side,
// spread over worker threads, with progress, coverage counts, a QEMU watchdog, and
// shrunk regress traces for the mismatches.

import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioOutcome, ScenarioTask } from './scenario-run.js';
import { QEMU72, describeTarget, type QemuTarget } from '../qtest/target.js';

export interface RunOptions {
  count: number;
  seed: number;
  jobs: number;
  /** Which QEMU and SMMU stages (default QEMU 7.2). */
  target?: QemuTarget;
  family?: string;
  /** Run exactly these scenario seeds instead of deriving them from `seed`. */
  seeds?: number[];
  shrink?: boolean;
  trace?: boolean;
  binary?: string;
  /** Where regress traces go (test/traces/regress). */
  regressDir?: string;
  /** At most this many regress traces per run (the shortest, one per kind of difference). */
  maxRegress?: number;
  /** Seconds a scenario may take before its QEMU is killed. */
  timeout?: number;
  log?: (line: string) => void;
  progress?: (done: number, total: number, text: string) => void;
  onOutcome?: (o: ScenarioOutcome) => void;
}

export interface RunSummary {
  seed: number;
  target: QemuTarget;
  scenarios: number;
  passed: number;
  mismatched: number;
  errors: number;
  minutes: number;
  perMinute: number;
  qemuSeconds: number;
  ops: number;
  expects: number;
  /** Live migrations performed (QEMU and model) across all scenarios. */
  migrations: number;
  families: Record<string, number>;
  opcodes: number[];
  commands: Record<string, number>;
  events: Record<string, number>;
  cerrors: Record<string, number>;
  traceDifferences: number;
  regressFiles: string[];
  failures: ScenarioOutcome[];
}

/** The seed of scenario `i` of a run with seed `base` (splitmix32). */
export function scenarioSeed(base: number, i: number): number {
  let z = (Math.imul(base >>> 0, 0x9e3779b1) + Math.imul(i + 1, 0x85ebca77)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function add(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

/** What kind of difference an outcome shows (for choosing which regress traces to keep). */
function signature(o: ScenarioOutcome): string {
  const m = o.regress?.mismatch ?? o.mismatches[0];
  return `${o.family}:${m?.op ?? 'error'}`;
}

export async function runConformance(opts: RunOptions): Promise<RunSummary> {
  const seeds = opts.seeds ?? Array.from({ length: opts.count }, (_, i) => scenarioSeed(opts.seed, i));
  const total = seeds.length;
  const jobs = Math.max(1, Math.min(opts.jobs, total));
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const outcomes: ScenarioOutcome[] = [];
  const summary: RunSummary = {
    seed: opts.seed, target: opts.target ?? QEMU72, scenarios: total, passed: 0, mismatched: 0, errors: 0, minutes: 0, perMinute: 0, qemuSeconds: 0, ops: 0, expects: 0, migrations: 0,
    families: {}, opcodes: [], commands: {}, events: {}, cerrors: {}, traceDifferences: 0, regressFiles: [], failures: [],
  };
  const opcodes = new Set<number>();
  let next = 0;
  let done = 0;

  const status = () => {
    const min = (Date.now() - t0) / 60000;
    return `${done}/${total} scenarios, ${(done / Math.max(min, 1e-9)).toFixed(1)}/min, ${summary.mismatched} mismatching, ${summary.errors} errors`;
  };

  await new Promise<void>((resolve, reject) => {
    let alive = jobs;
    for (let j = 0; j < jobs; j++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url));
      let timer: NodeJS.Timeout | undefined;
      let current = -1;
      const feed = () => {
        if (next >= total) {
          worker.postMessage(null);
          return;
        }
        current = next++;
        const task: ScenarioTask = { index: current, seed: seeds[current], family: opts.family, target: opts.target, shrink: opts.shrink, trace: opts.trace, binary: opts.binary };
        worker.postMessage(task);
      };
      worker.on('message', (msg: { type: string; pid?: number; index?: number; outcome?: ScenarioOutcome }) => {
        if (msg.type === 'pid' && msg.pid) {
          const pid = msg.pid;
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => {
            log(`conformance: scenario ${seeds[msg.index!]} exceeded ${opts.timeout ?? 300} s; stopping its QEMU (pid ${pid})`);
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, (opts.timeout ?? 300) * 1000);
          return;
        }
        if (msg.type !== 'result' || !msg.outcome) return;
        if (timer) clearTimeout(timer);
        const o = msg.outcome;
        outcomes.push(o);
        done++;
        tally(summary, opcodes, o, log);
        opts.onOutcome?.(o);
        opts.progress?.(done, total, status());
        feed();
      });
      worker.on('error', (err) => reject(err));
      worker.on('exit', () => {
        if (timer) clearTimeout(timer);
        if (--alive === 0) resolve();
      });
      feed();
    }
  });

  summary.minutes = (Date.now() - t0) / 60000;
  summary.perMinute = total / Math.max(summary.minutes, 1e-9);
  summary.opcodes = [...opcodes].sort((a, b) => a - b);

  if (opts.regressDir) summary.regressFiles = writeRegress(outcomes, opts.regressDir, opts.maxRegress ?? 5);
  return summary;
}

/** Adds scenario outcome `o` to the summary (and its opcodes to `opcodes`), logging a failure. */
function tally(summary: RunSummary, opcodes: Set<number>, o: ScenarioOutcome, log: (line: string) => void): void {
  summary.ops += o.ops ?? 0;
  summary.migrations += o.migrations ?? 0;
  summary.expects += o.expects ?? 0;
  summary.qemuSeconds += (o.qemuMs ?? 0) / 1000;
  if (o.family) summary.families[o.family] = (summary.families[o.family] ?? 0) + 1;
  for (const x of o.opcodes ?? []) opcodes.add(x);
  add(summary.commands, o.commands);
  add(summary.events, o.events);
  add(summary.cerrors, o.cerrors);
  if (o.traceDiff) summary.traceDifferences++;
  if (o.error) {
    summary.errors++;
    summary.failures.push(o);
    log(`conformance: scenario ${o.name ?? o.seed} failed to run: ${o.error.split('\n')[0]}`);
  } else if (o.mismatchCount > 0) {
    summary.mismatched++;
    summary.failures.push(o);
    const m = o.regress?.mismatch ?? o.mismatches[0];
    log(`conformance: MISMATCH in ${o.name} (${o.mismatchCount} differences; first at line ${m.line}, ${m.op}: QEMU ${JSON.stringify(m.expect)}, model ${JSON.stringify(m.got)})` +
      (o.regress ? `; shrunk ${o.regress.from} -> ${o.regress.to} ops` : ''));
    if (o.unsafe) log(`conformance:   but the scenario reached memory outside RAM (a generator bug): ${o.unsafe[0]}`);
  } else {
    summary.passed++;
  }
  if (o.qemuUnsafe) log(`conformance: ${o.name} made QEMU reach memory outside RAM (a generator bug): ${o.qemuUnsafe[0]}`);
}

/**
 * Regress traces: the shortest shrunk scenario of each kind of difference, at most `max`,
 * written to `dir` (an existing file is kept). Returns their paths.
 */
function writeRegress(outcomes: readonly ScenarioOutcome[], dir: string, max: number): string[] {
  const bySig = new Map<string, ScenarioOutcome>();
  for (const o of outcomes) {
    if (!o.regress) continue;
    const s = signature(o);
    const cur = bySig.get(s);
    if (!cur || o.regress.to < cur.regress!.to) bySig.set(s, o);
  }
  if (bySig.size === 0) return [];
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const chosen = [...bySig.values()].sort((a, b) => a.regress!.to - b.regress!.to).slice(0, max);
  for (const o of chosen) {
    const file = join(dir, `regress-${o.name}.jsonl`);
    if (!existsSync(file)) writeFileSync(file, o.regress!.text);
    files.push(file);
  }
  return files;
}

/** Human-readable summary lines. */
export function describeSummary(s: RunSummary): string[] {
  const lines: string[] = [];
  const pct = (n: number) => (s.scenarios ? ((100 * n) / s.scenarios).toFixed(1) : '0');
  lines.push(`conformance: ${describeTarget(s.target)}, seed ${s.seed}: ${s.scenarios} scenarios in ${s.minutes.toFixed(1)} min (${s.perMinute.toFixed(1)}/min; QEMU ${s.qemuSeconds.toFixed(0)} s), ${s.ops} ops, ${s.expects} expectations, ${s.migrations} live migrations`);
  lines.push(`  passed ${s.passed} (${pct(s.passed)}%), mismatching ${s.mismatched}, errors ${s.errors}` + (s.traceDifferences ? `, trace-log differences ${s.traceDifferences}` : ''));
  lines.push(`  families: ${Object.entries(s.families).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const missing: string[] = [];
  for (let i = 0; i < 256; i++) if (!s.opcodes.includes(i)) missing.push('0x' + i.toString(16));
  lines.push(`  opcodes published: ${s.opcodes.length}/256` + (missing.length ? ` (missing ${missing.length > 16 ? missing.slice(0, 16).join(' ') + ' ...' : missing.join(' ')})` : ''));
  lines.push(`  commands consumed: ${Object.entries(s.commands).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.replace('SMMU_CMD_', '')} ${v}`).join(', ')}`);
  lines.push(`  command errors: ${Object.entries(s.cerrors).map(([k, v]) => `${k === '1' ? 'CERROR_ILL' : k === '2' ? 'CERROR_ABT' : k} ${v}`).join(', ') || 'none'}`);
  lines.push(`  events recorded: ${Object.entries(s.events).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.replace('SMMU_EVT_', '')} ${v}`).join(', ') || 'none'}`);
  for (const f of s.regressFiles) lines.push(`  regress trace: ${f}`);
  return lines;
}
