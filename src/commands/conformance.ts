// vsmmu conformance: differential runs of seeded random scenarios on QEMU and on the model.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { defineCommand, UsageError } from '../cli-args.js';
import { runConformance, describeSummary, type RunSummary } from '../conformance/runner.js';
import { familiesOf } from '../conformance/generate.js';
import { qemuVersion } from '../qtest/qtest.js';
import { describeTarget, parseTarget, targetBinary } from '../qtest/target.js';
import { cerrorName } from '../trace.js';

/** `vsmmu conformance --json` (docs/cli-json.md): snake_case keys, command errors by name. */
export function conformanceJson(s: RunSummary): Record<string, unknown> {
  return {
    seed: s.seed, scenarios: s.scenarios, passed: s.passed, mismatched: s.mismatched, errors: s.errors,
    minutes: s.minutes, per_minute: s.perMinute, qemu_seconds: s.qemuSeconds, ops: s.ops, expects: s.expects,
    families: s.families, opcodes: s.opcodes, commands: s.commands, events: s.events,
    cerrors: Object.fromEntries(Object.entries(s.cerrors).map(([k, v]) => [/^\d+$/.test(k) ? cerrorName(Number(k)) : k, v])),
    trace_differences: s.traceDifferences, regress_files: s.regressFiles,
    failures: s.failures.map((f) => ({ name: f.name, seed: f.seed, mismatches: f.mismatches, error: f.error ?? null })),
  };
}

/** Seeds from `--scenario 12,xlate-34`. */
function scenarioSeeds(list: string | undefined): number[] | undefined {
  if (list === undefined) return undefined;
  const seeds = list.split(',').map((s) => Number(s.replace(/^.*-/, '')));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new UsageError('--scenario: seeds are non-negative integers (or scenario names like xlate-1234)');
  return seeds;
}

export const command = defineCommand({
  name: 'conformance',
  summary: 'run random scenarios on QEMU (qtest) and the model side by side; exit 1 on any mismatch',
  notes: () => [
    'QEMU 7.2: qemu-system-aarch64 on PATH (or $VSMMU_QEMU); QEMU 10.0: $VSMMU_QEMU10_DIR (default /opt/qemu-10.0, see scripts/install-qemu10.sh); --stage defaults to nested for qemu-10.0',
    `families (qemu-7.2): ${familiesOf().map(([f]) => f).join(', ')}`,
    `families (qemu-10.0 stage 2): ${familiesOf({ profile: 'qemu-10.0', stage: '2' }).map(([f]) => f).join(', ')}`,
    `families (qemu-10.0 nested): ${familiesOf({ profile: 'qemu-10.0', stage: 'nested' }).map(([f]) => f).join(', ')}`,
  ],
  options: {
    profile: { type: 'choice', choices: ['qemu-7.2', 'qemu-10.0'], help: 'which QEMU is the oracle (default qemu-7.2)' },
    stage: { type: 'choice', choices: ['1', '2', 'nested'], help: 'the SMMU\'s stages (qemu-10.0; default nested)' },
    count: { type: 'int', min: 0, default: 100, help: 'scenarios to run' },
    seed: { type: 'int', value: 'S', min: 0, help: 'first seed (default: from the clock)' },
    jobs: { type: 'int', value: 'J', min: 1, max: 64, help: 'parallel QEMU processes (default: CPU count)' },
    family: { type: 'string', value: 'F', help: 'only scenarios of this family (listed below per SMMU)' },
    scenario: { type: 'string', value: 'SEED,...', help: 'run exactly these seeds (or names like xlate-1234)' },
    trace: { type: 'boolean', help: "compare QEMU's -trace 'smmu*' log with ours" },
    'trace-dir': { type: 'string', value: 'DIR', help: 'where --trace writes both logs (default test-artifacts/traces)' },
    'no-shrink': { type: 'boolean', help: 'do not shrink mismatching scenarios' },
    'regress-dir': { type: 'string', value: 'DIR', default: join('test', 'traces', 'regress'), help: 'where shrunk mismatches are written' },
    'max-regress': { type: 'int', value: 'K', min: 0, default: 5, help: 'at most K regress traces per run' },
    timeout: { type: 'int', value: 'SEC', min: 1, default: 300, help: 'per-scenario timeout' },
    json: { type: 'boolean', help: 'print the summary as JSON (docs/cli-json.md)' },
  },
  async run({ values: v }) {
    const seeds = scenarioSeeds(v.scenario);
    let target;
    try {
      target = parseTarget(v.profile, v.stage);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const fams = familiesOf(target).map(([f]) => f);
    if (v.family !== undefined && !fams.includes(v.family)) throw new UsageError(`--family: "${v.family}" is not one of ${fams.join(', ')} for ${describeTarget(target)}`);
    const version = qemuVersion(targetBinary(target));
    if (!version) throw new UsageError(`cannot run ${targetBinary(target)} (${target.profile === 'qemu-10.0' ? 'run scripts/install-qemu10.sh, or set VSMMU_QEMU10_DIR' : "install Debian's qemu-system-arm, or set VSMMU_QEMU"})`);
    const seed = v.seed ?? Math.floor(Date.now() / 1000) % 1000000;
    const jobs = v.jobs ?? Math.max(1, cpus().length);
    const traceDir = v['trace-dir'] ?? join('test-artifacts', 'traces');
    const tty = process.stderr.isTTY;
    const total = seeds ? seeds.length : v.count;
    const err = (s: string) => process.stderr.write(s + '\n');
    err(`vsmmu conformance: ${version}, ${describeTarget(target)}; ${total} scenarios, seed ${seed}, ${jobs} jobs${v.family ? `, family ${v.family}` : ''}`);
    let lastPrint = 0;
    const summary = await runConformance({
      count: v.count, seed, jobs, target, family: v.family, seeds, trace: v.trace, shrink: !v['no-shrink'],
      regressDir: v['regress-dir'], maxRegress: v['max-regress'], timeout: v.timeout,
      log: (l) => err((tty ? '\r\x1b[K' : '') + l),
      progress: (done, total, text) => {
        if (tty) process.stderr.write(`\r\x1b[K${text}`);
        else if (done === total || Date.now() - lastPrint > 15000) {
          lastPrint = Date.now();
          err(text);
        }
      },
      onOutcome: (o) => {
        if (!v.trace || !o.qemuLog || !o.modelLog) return;
        const d = o.traceDiff;
        // both logs of every scenario in small runs (and with --trace-dir), else only the differing ones
        if (d || total <= 10 || v['trace-dir'] !== undefined) {
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
    if (v.json) process.stdout.write(JSON.stringify(conformanceJson(summary)) + '\n');
    else for (const l of describeSummary(summary)) process.stdout.write(l + '\n');
    return summary.mismatched + summary.errors > 0 ? 1 : 0;
  },
});
