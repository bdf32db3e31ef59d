// vsmmu conformance: differential runs of seeded random scenarios on QEMU and on the model.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runConformance, describeSummary } from '../conformance/runner.js';
import { familiesOf } from '../conformance/generate.js';
import { qemuVersion } from '../qtest/qtest.js';
import { describeTarget, parseTarget, targetBinary, type QemuTarget } from '../qtest/target.js';

export const usage =
  'vsmmu conformance [--profile qemu-7.2|qemu-10.0] [--stage 1|2|nested] [--count N] [--seed S] [--jobs J] [--family F] [--scenario SEED,...] [--trace] [--trace-dir DIR] [--no-shrink] [--regress-dir DIR] [--max-regress K] [--timeout SEC] [--json]   run random scenarios on QEMU and the model side by side';

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

function intOpt(args: string[], name: string, def: number): number {
  const v = opt(args, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: not a non-negative integer: ${v}`);
  return n;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: ${usage}\n` +
      'QEMU 7.2: qemu-system-aarch64 on PATH (or $VSMMU_QEMU); QEMU 10.0: $VSMMU_QEMU10_DIR (default /opt/qemu-10.0, see scripts/install-qemu10.sh); --stage defaults to nested for qemu-10.0\n' +
      `families (qemu-7.2): ${familiesOf().map(([f]) => f).join(', ')}\n` +
      `families (qemu-10.0 stage 2): ${familiesOf({ profile: 'qemu-10.0', stage: '2' }).map(([f]) => f).join(', ')}\n` +
      `families (qemu-10.0 nested): ${familiesOf({ profile: 'qemu-10.0', stage: 'nested' }).map(([f]) => f).join(', ')}\n`);
    return 0;
  }
  let count: number, seed: number, jobs: number, maxRegress: number, timeout: number;
  let family: string | undefined, seeds: number[] | undefined, target: QemuTarget;
  try {
    target = parseTarget(opt(args, '--profile'), opt(args, '--stage'));
    count = intOpt(args, '--count', 100);
    seed = intOpt(args, '--seed', Math.floor(Date.now() / 1000) % 1000000);
    jobs = intOpt(args, '--jobs', Math.max(1, cpus().length));
    maxRegress = intOpt(args, '--max-regress', 5);
    timeout = intOpt(args, '--timeout', 300);
    family = opt(args, '--family');
    const fams = familiesOf(target).map(([f]) => f);
    if (family !== undefined && !fams.includes(family)) throw new Error(`--family: one of ${fams.join(', ')} for ${describeTarget(target)}`);
    const sc = opt(args, '--scenario');
    if (sc !== undefined) seeds = sc.split(',').map((s) => Number(s.replace(/^.*-/, '')));
    if (seeds && seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error('--scenario: seeds are non-negative integers (or scenario names like xlate-1234)');
  } catch (err) {
    process.stderr.write(`vsmmu conformance: ${(err as Error).message}\nusage: ${usage}\n`);
    return 2;
  }
  const version = qemuVersion(targetBinary(target));
  if (!version) {
    process.stderr.write(`vsmmu conformance: cannot run ${targetBinary(target)} (${target.profile === 'qemu-10.0' ? 'run scripts/install-qemu10.sh, or set VSMMU_QEMU10_DIR' : "install Debian's qemu-system-arm, or set VSMMU_QEMU"})\n`);
    return 2;
  }
  const json = args.includes('--json');
  const trace = args.includes('--trace');
  const traceDir = opt(args, '--trace-dir') ?? join('test-artifacts', 'traces');
  const regressDir = opt(args, '--regress-dir') ?? join('test', 'traces', 'regress');
  const tty = process.stderr.isTTY;
  const total = seeds ? seeds.length : count;
  const err = (s: string) => process.stderr.write(s + '\n');
  err(`vsmmu conformance: ${version}, ${describeTarget(target)}; ${seeds ? seeds.length : count} scenarios, seed ${seed}, ${jobs} jobs${family ? `, family ${family}` : ''}`);
  let lastPrint = 0;
  const summary = await runConformance({
    count, seed, jobs, target, family, seeds, trace, shrink: !args.includes('--no-shrink'), regressDir, maxRegress, timeout,
    log: (l) => err((tty ? '\r\x1b[K' : '') + l),
    progress: (done, total, text) => {
      if (tty) process.stderr.write(`\r\x1b[K${text}`);
      else if (done === total || Date.now() - lastPrint > 15000) {
        lastPrint = Date.now();
        err(text);
      }
    },
    onOutcome: (o) => {
      if (!trace || !o.qemuLog || !o.modelLog) return;
      const d = o.traceDiff;
      // both logs of every scenario in small runs (and with --trace-dir), else only the differing ones
      if (d || total <= 10 || args.includes('--trace-dir')) {
        mkdirSync(traceDir, { recursive: true });
        writeFileSync(join(traceDir, `${o.name}.qemu.log`), o.qemuLog.join('\n') + '\n');
        writeFileSync(join(traceDir, `${o.name}.model.log`), o.modelLog.join('\n') + '\n');
      }
      const pre = tty ? '\r\x1b[K' : '';
      if (!d && total > 10) return;
      if (!d) {
        err(`${pre}trace ${o.name}: QEMU's and our logs agree (${o.qemuLog.length} lines): ${join(traceDir, o.name)}.{qemu,model}.log`);
      } else {
        err(`${pre}trace ${o.name}: logs differ from line ${d.index + 1} (QEMU ${d.qemuLines} lines, model ${d.modelLines}); diff ${join(traceDir, o.name)}.qemu.log ${join(traceDir, o.name)}.model.log`);
        err('  QEMU:  ' + d.qemu.join('\n  QEMU:  '));
        err('  model: ' + d.model.join('\n  model: '));
      }
    },
  });
  if (tty) process.stderr.write('\n');
  if (json) process.stdout.write(JSON.stringify({ ...summary, failures: summary.failures.map((f) => ({ name: f.name, seed: f.seed, mismatches: f.mismatches, error: f.error, regress: f.regress ? { from: f.regress.from, to: f.regress.to, line: f.regress.line } : undefined })) }) + '\n');
  else for (const l of describeSummary(summary)) process.stdout.write(l + '\n');
  return summary.mismatched + summary.errors > 0 ? 1 : 0;
}
