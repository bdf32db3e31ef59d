// vsmmu record: turns a scenario (a generated one, or the operations of a trace file)
// into a trace recorded on real QEMU.

import { readFileSync, writeFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../conformance/generate.js';
import { recordOnQemu } from '../conformance/record.js';
import { parseTrace, traceText, type Op } from '../conformance/scenario.js';
import { qemuVersion } from '../qtest/qtest.js';
import { parseTarget, sameTarget, targetBinary, type QemuTarget } from '../qtest/target.js';

export const usage = 'vsmmu record [--profile qemu-7.2|qemu-10.0] [--stage 1|2|nested] (--seed S [--family F] | <trace.jsonl>) [-o out.jsonl] [--name NAME] [--qemu-trace log]   record a scenario on QEMU as a vsmmu-trace';

function opt(args: string[], ...names: string[]): string | undefined {
  for (const name of names) {
    const i = args.indexOf(name);
    if (i >= 0) return args[i + 1];
  }
  return undefined;
}

export async function run(args: string[]): Promise<number> {
  const seedArg = opt(args, '--seed');
  const valued = new Set(['--seed', '--family', '-o', '--out', '--name', '--qemu-trace', '--profile', '--stage']);
  const files = args.filter((a, i) => !a.startsWith('-') && !valued.has(args[i - 1] ?? ''));
  if ((seedArg === undefined) === (files.length === 0) || files.length > 1) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  let target: QemuTarget | undefined;
  try {
    if (opt(args, '--profile') !== undefined || opt(args, '--stage') !== undefined) target = parseTarget(opt(args, '--profile'), opt(args, '--stage'));
  } catch (err) {
    process.stderr.write(`vsmmu record: ${(err as Error).message}\n`);
    return 2;
  }
  let name: string;
  let devices: number[];
  let ops: Op[];
  if (seedArg !== undefined) {
    const seed = Number(seedArg.replace(/^.*-/, ''));
    if (!Number.isInteger(seed) || seed < 0) {
      process.stderr.write(`vsmmu record: bad seed ${seedArg}\n`);
      return 2;
    }
    target ??= parseTarget(undefined, undefined);
    let sc;
    try {
      sc = await generate(seed, opt(args, '--family'), target);
    } catch (err) {
      process.stderr.write(`vsmmu record: ${(err as Error).message}\n`);
      return 2;
    }
    name = sc.name;
    devices = sc.devices;
    ops = sc.ops;
  } else {
    let t;
    try {
      t = parseTrace(readFileSync(files[0], 'utf8'));
    } catch (err) {
      process.stderr.write(`vsmmu record: ${files[0]}: ${(err as Error).message}\n`);
      return 2;
    }
    // the file's header says which SMMU it was written for; --profile/--stage may only repeat it
    if (target && !sameTarget(target, t.target)) {
      process.stderr.write(`vsmmu record: ${files[0]} is a ${t.target.profile} stage ${t.target.stage} trace, not ${target.profile} stage ${target.stage}\n`);
      return 2;
    }
    target = t.target;
    name = String(t.header.name ?? 'recorded');
    devices = t.devices;
    ops = t.ops.map((o) => {
      const { expect: _e, ...rest } = o as Op & { expect?: unknown };
      return rest as Op;
    });
  }
  name = opt(args, '--name') ?? name;
  if (!qemuVersion(targetBinary(target))) {
    process.stderr.write(`vsmmu record: cannot run ${targetBinary(target)} (${target.profile === 'qemu-10.0' ? 'run scripts/install-qemu10.sh, or set VSMMU_QEMU10_DIR' : "install Debian's qemu-system-arm, or set VSMMU_QEMU"})\n`);
    return 2;
  }
  const qtrace = opt(args, '--qemu-trace');
  const dir = qtrace ? mkdtempSync(join(tmpdir(), 'vsmmu-rec-')) : undefined;
  try {
    const rec = await recordOnQemu(devices, ops, { target, traceFile: dir ? join(dir, 'qemu.log') : undefined });
    const text = traceText({ name, devices, target, origin: rec.origin }, rec.ops);
    const out = opt(args, '-o', '--out');
    if (out) writeFileSync(out, text);
    else process.stdout.write(text);
    if (dir && qtrace) copyFileSync(join(dir, 'qemu.log'), qtrace);
    process.stderr.write(`vsmmu record: ${name}: ${ops.length} operations recorded in ${rec.ms} ms${out ? ` -> ${out}` : ''}\n`);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}
