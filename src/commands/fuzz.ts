// vsmmu fuzz --seed S --commands N [--mode ram|callbacks|viommu] [--json] [--deadline MS] [--regress DIR]
//
// The robustness campaign (src/fuzz/campaign.ts) in a worker thread, watched from here:
// a round that sends no heartbeat for the watchdog period is a hang (the worker is
// stopped and the failure reported). Progress goes to stderr; --json prints exactly one
// object on stdout. Exit 0 when there is no failure, 1 when there is one, 2 on bad arguments.
// (Argument parsing is local and small on purpose: the shared CLI parser can replace it.)

import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { FUZZ_MODES, type FuzzMode, type FuzzReport } from '../fuzz/campaign.js';
import type { WorkerMessage } from '../fuzz/worker.js';

export const usage = 'vsmmu fuzz --seed S --commands N [--mode ram|callbacks|viommu] [--json] [--deadline MS] [--regress DIR]   random commands, DMA and reference checks; failures go to test/traces/regress/';

export const DEFAULT_COMMANDS = 10_000_000;

interface FuzzArgs {
  seed: number;
  commands: number;
  mode: FuzzMode;
  json: boolean;
  deadlineMs: number;
  regressDir: string;
}

class UsageError extends Error {}

export function parseFuzzArgs(args: string[]): FuzzArgs {
  const out: FuzzArgs = { seed: 1, commands: DEFAULT_COMMANDS, mode: 'ram', json: false, deadlineMs: 5000, regressDir: 'test/traces/regress' };
  const int = (name: string, v: string | undefined, max: number): number => {
    if (v === undefined || !/^[0-9]+$/.test(v) || Number(v) > max) throw new UsageError(`${name} needs an integer in [0, ${max}], got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
    return Number(v);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    switch (a) {
      case '--seed': out.seed = int('--seed', args[++i], 2 ** 32 - 1); break;
      case '--commands': out.commands = int('--commands', args[++i], Number.MAX_SAFE_INTEGER); break;
      case '--deadline': out.deadlineMs = Math.max(1, int('--deadline', args[++i], 3_600_000)); break;
      case '--mode': {
        const m = args[++i];
        if (!FUZZ_MODES.includes(m as FuzzMode)) throw new UsageError(`--mode must be one of ${FUZZ_MODES.join(', ')}, got ${m === undefined ? 'nothing' : JSON.stringify(m)}`);
        out.mode = m as FuzzMode;
        break;
      }
      case '--regress': {
        const d = args[++i];
        if (!d) throw new UsageError('--regress needs a directory');
        out.regressDir = d;
        break;
      }
      case '--json': out.json = true; break;
      default: throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return out;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  let a: FuzzArgs;
  try {
    a = parseFuzzArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`vsmmu fuzz: ${err.message}\nusage: ${usage}\n`);
    return 2;
  }
  const report = await runWatched(a);
  if (a.json) process.stdout.write(JSON.stringify({
    seed: report.seed, mode: report.mode, commands: report.commands, translations: report.translations,
    exceptions: report.exceptions, traps: report.traps, hangs: report.hangs, mismatches: report.mismatches,
    growth_bytes: report.growth_bytes, failures: report.failures.map((f) => ({ kind: f.kind, repro: f.repro })),
  }) + '\n');
  else {
    for (const f of report.failures) process.stdout.write(`${f.kind}: ${f.message}${f.repro ? ` (repro: ${f.repro})` : ''}\n`);
    process.stdout.write(`fuzz ${report.mode} seed ${report.seed}: ${report.commands} commands, ${report.translations} translations, ` +
      `${report.exceptions} exceptions, ${report.traps} traps, ${report.hangs} hangs, ${report.mismatches} mismatches, ` +
      `growth ${report.growth_bytes} bytes: ${report.failures.length ? 'FAILED' : 'ok'}\n`);
  }
  return report.failures.length ? 1 : 0;
}

/** The campaign in a worker; a worker silent for 4 deadlines (at least 30 s) is a hang. */
function runWatched(a: FuzzArgs): Promise<FuzzReport> {
  const watchdogMs = Math.max(30_000, 4 * a.deadlineMs);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const worker = new Worker(new URL('../fuzz/worker.js', import.meta.url), {
      workerData: { seed: a.seed, commands: a.commands, mode: a.mode, deadlineMs: a.deadlineMs, regressDir: a.regressDir },
    });
    let round = 0;
    let lastProgress = 0;
    let finished = false;
    const empty = (): FuzzReport => ({ seed: a.seed, mode: a.mode, commands: 0, translations: 0, exceptions: 0, traps: 0, hangs: 0, mismatches: 0, growth_bytes: 0, failures: [] });
    let last = empty();
    const finish = (r: FuzzReport): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(r);
    };
    let timer = setTimeout(onSilence, watchdogMs);
    function onSilence(): void {
      // the worker is stuck inside one call: stop it, and say where
      const repro = `${a.regressDir}/fuzz-${a.mode}-${a.seed}-${round}-hang.json`;
      let written = '';
      try {
        mkdirSync(a.regressDir, { recursive: true });
        writeFileSync(repro, JSON.stringify({ command: `vsmmu fuzz --seed ${a.seed} --mode ${a.mode} --commands ${a.commands}`, round, note: `no heartbeat for ${watchdogMs} ms during round ${round}` }) + '\n');
        written = repro;
      } catch { /* reported without a file */ }
      void worker.terminate();
      finish({ ...last, hangs: last.hangs + 1, failures: [...last.failures, { kind: 'hang', repro: written, message: `round ${round} did not finish within ${watchdogMs} ms` }] });
    }
    const beat = (): void => {
      clearTimeout(timer);
      timer = setTimeout(onSilence, watchdogMs);
    };
    worker.on('message', (msg: WorkerMessage) => {
      beat();
      if (msg.type === 'beat') round = msg.round;
      else if (msg.type === 'progress') {
        last = { ...last, commands: msg.commands, translations: msg.translations };
        const now = Date.now();
        if (now - lastProgress > 2000) {
          lastProgress = now;
          const s = (now - t0) / 1000;
          process.stderr.write(`fuzz ${a.mode}: ${msg.commands} commands (${(msg.commands / s / 1e6).toFixed(2)} M/s), ${msg.translations} translations, ` +
            `${msg.rounds} rounds, reference compared on ${msg.compared} rounds / ${msg.comparedCommands} commands, ${s.toFixed(0)} s\n`);
        }
      } else if (msg.type === 'done') {
        process.stderr.write(`fuzz ${a.mode}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
        finish(msg.report);
      } else {
        finish({ ...last, exceptions: last.exceptions + 1, failures: [...last.failures, { kind: 'exception', repro: '', message: `campaign error: ${msg.message}` }] });
      }
    });
    worker.on('error', (err) => finish({ ...last, exceptions: last.exceptions + 1, failures: [...last.failures, { kind: 'exception', repro: '', message: `worker error: ${err.message}` }] }));
    worker.on('exit', (code) => {
      if (!finished) finish({ ...last, exceptions: last.exceptions + 1, failures: [...last.failures, { kind: 'exception', repro: '', message: `worker exited with ${code}` }] });
    });
  });
}
