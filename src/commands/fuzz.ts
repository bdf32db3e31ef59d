// vsmmu fuzz --seed S --commands N [--mode ram|callbacks|viommu] [--json] [--deadline MS] [--regress DIR]
//
// The robustness campaign (src/fuzz/campaign.ts) in a worker thread, watched from here:
// a round that sends no heartbeat for the watchdog period is a hang (the worker is
// stopped and the failure reported). Progress goes to stderr; --json prints exactly one
// object on stdout. Exit 0 when there is no failure, 1 when there is one, 2 on bad arguments.
// Arguments: the shared CLI parser (../cli-args.ts), from the option table below.

import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { defineCommand } from '../cli-args.js';
import { FUZZ_MODES, type FuzzMode, type FuzzReport } from '../fuzz/campaign.js';
import type { WorkerMessage } from '../fuzz/worker.js';

export const DEFAULT_COMMANDS = 10_000_000;

interface FuzzArgs {
  seed: number;
  commands: number;
  mode: FuzzMode;
  json: boolean;
  deadlineMs: number;
  regressDir: string;
}

export const command = defineCommand({
  name: 'fuzz',
  summary: 'random commands, DMA and reference checks against hostile hosts; failures go to test/traces/regress/; exit 1 on a failure',
  options: {
    seed: { type: 'int', value: 'S', min: 0, max: 2 ** 32 - 1, default: 1, help: 'campaign seed' },
    commands: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER, default: DEFAULT_COMMANDS, help: 'commands to run' },
    mode: { type: 'choice', choices: FUZZ_MODES, default: 'ram', help: 'guest memory in the model, behind callbacks, or vIOMMU backends' },
    json: { type: 'boolean', help: 'print one JSON object (docs/cli-json.md) instead of text' },
    deadline: { type: 'int', value: 'MS', min: 1, max: 3_600_000, default: 5000, help: 'per-round deadline; a worker silent for 4 deadlines (>= 30 s) is a hang' },
    regress: { type: 'string', value: 'DIR', default: 'test/traces/regress', help: 'where failing rounds are written' },
  },
  async run({ values: v }) {
    const a: FuzzArgs = { seed: v.seed, commands: v.commands, mode: v.mode as FuzzMode, json: v.json, deadlineMs: v.deadline, regressDir: v.regress };
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
  },
});

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
