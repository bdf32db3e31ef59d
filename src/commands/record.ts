// vsmmu record: turns a scenario (a generated one, or the operations of a trace file)
// into a trace recorded on real QEMU.

import { readFileSync, writeFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand, UsageError } from '../cli-args.js';
import { generate } from '../conformance/generate.js';
import { recordOnQemu } from '../conformance/record.js';
import { parseTrace, traceText, type Op } from '../conformance/scenario.js';
import { qemuVersion } from '../qtest/qtest.js';
import { parseTarget, sameTarget, targetBinary, type QemuTarget } from '../qtest/target.js';

export const command = defineCommand({
  name: 'record',
  summary: 'record a scenario (generated from --seed, or the operations of a trace file) on QEMU as a vsmmu-trace',
  args: { usage: '[trace.jsonl]', min: 0, max: 1 },
  options: {
    profile: { type: 'choice', choices: ['qemu-7.2', 'qemu-10.0'], help: 'which QEMU records (default qemu-7.2; a trace file names its own)' },
    stage: { type: 'choice', choices: ['1', '2', 'nested'], help: 'the SMMU\'s stages (qemu-10.0; default nested)' },
    seed: { type: 'string', value: 'S', help: 'the generated scenario with this seed (or a name like xlate-1234)' },
    family: { type: 'string', value: 'F', help: 'scenario family (with --seed; vsmmu conformance --help lists them)' },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'write the trace here (default: stdout)' },
    name: { type: 'string', value: 'NAME', help: 'the trace header\'s name' },
    'qemu-trace': { type: 'string', value: 'FILE', help: "also write QEMU's -trace 'smmu*' log" },
  },
  async run({ values: v, positionals: files }) {
    if ((v.seed === undefined) === (files.length === 0)) throw new UsageError('give either --seed S or one trace file');
    if (v.family !== undefined && v.seed === undefined) throw new UsageError('--family chooses a generated scenario: it needs --seed');
    let seed: number | undefined;
    if (v.seed !== undefined) {
      seed = Number(v.seed.replace(/^.*-/, ''));
      if (v.seed.trim() === '' || !Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed: expected a non-negative integer (or a name like xlate-1234), got ${JSON.stringify(v.seed)}`);
    }
    let target: QemuTarget | undefined;
    try {
      if (v.profile !== undefined || v.stage !== undefined) target = parseTarget(v.profile, v.stage);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    let name: string;
    let devices: number[];
    let ops: Op[];
    if (seed !== undefined) {
      target ??= parseTarget(undefined, undefined);
      let sc;
      try {
        sc = await generate(seed, v.family, target);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      name = sc.name;
      devices = sc.devices;
      ops = sc.ops;
    } else {
      let t;
      try {
        t = parseTrace(readFileSync(files[0], 'utf8'));
      } catch (err) {
        throw new UsageError(`${files[0]}: ${(err as Error).message}`);
      }
      // the file's header says which SMMU it was written for; --profile/--stage may only repeat it
      if (target && !sameTarget(target, t.target)) throw new UsageError(`${files[0]} is a ${t.target.profile} stage ${t.target.stage} trace, not ${target.profile} stage ${target.stage}`);
      target = t.target;
      name = String(t.header.name ?? 'recorded');
      devices = t.devices;
      ops = t.ops.map((o) => {
        const { expect: _e, ...rest } = o as Op & { expect?: unknown };
        return rest as Op;
      });
    }
    if (!qemuVersion(targetBinary(target))) throw new UsageError(`cannot run ${targetBinary(target)} (${target.profile === 'qemu-10.0' ? 'run scripts/install-qemu10.sh, or set VSMMU_QEMU10_DIR' : "install Debian's qemu-system-arm, or set VSMMU_QEMU"})`);
    name = v.name ?? name;
    const qtrace = v['qemu-trace'];
    const dir = qtrace ? mkdtempSync(join(tmpdir(), 'vsmmu-rec-')) : undefined;
    try {
      const rec = await recordOnQemu(devices, ops, { target, traceFile: dir ? join(dir, 'qemu.log') : undefined });
      const text = traceText({ name, devices, target, origin: rec.origin }, rec.ops);
      if (v.out) writeFileSync(v.out, text);
      else process.stdout.write(text);
      if (dir && qtrace) copyFileSync(join(dir, 'qemu.log'), qtrace);
      process.stderr.write(`vsmmu record: ${name}: ${ops.length} operations recorded in ${rec.ms} ms${v.out ? ` -> ${v.out}` : ''}\n`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    return 0;
  },
});
