// The conformance harness on QEMU 10.0: profile/stage selection, the machine per stage
// (IDR0 checked at start), the stage-2 and nested scenario families (safe for a whole
// QEMU machine, checked against QEMU's own trace log), and `vsmmu record` with 10.0.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, familiesOf, DEVICES } from '../src/conformance/generate.js';
import { recordOnQemu, touchesReserved } from '../src/conformance/record.js';
import { normalizeQemuLog, modelTrace } from '../src/conformance/trace-compare.js';
import { runScenario } from '../src/conformance/scenario-run.js';
import { unsafeAccesses } from '../src/conformance/audit.js';
import { parseTrace, traceText, type Op } from '../src/conformance/scenario.js';
import { startLevels, sl0Of } from '../src/conformance/stage2.js';
import { QemuMachine, machineArgs } from '../src/qtest/machine.js';
import { SPEC_IDR0, parseTarget, type QemuStage, type QemuTarget } from '../src/qtest/target.js';
import { command as recordCommand } from '../src/commands/record.js';
import { parseCommandArgs, UsageError } from '../src/cli-args.js';

/** `vsmmu record ARGS` as the CLI runs it: its exit status (2 for unusable input). */
async function record(args: string[]): Promise<number> {
  try {
    return await recordCommand.run(parseCommandArgs(recordCommand, args));
  } catch (err) {
    if (err instanceof UsageError) return 2;
    throw err;
  }
}
import { qemuTest } from './helpers.js';
import * as STE from '../src/arch/ste.js';
import * as CD from '../src/arch/cd.js';
import { World } from '../src/conformance/world.js';
import { field64 } from '../src/bits.js';

const STAGES: QemuStage[] = ['1', '2', 'nested'];
const q10 = (stage: QemuStage): QemuTarget => ({ profile: 'qemu-10.0', stage });
const qtest10 = qemuTest('qemu10.test', q10('nested'));

const NEW_FAMILIES: Array<[QemuStage, string]> = [
  ['2', 's2-walk'], ['2', 's2-ste-checks'], ['2', 's2-perm'], ['2', 's2-cache'], ['2', 'regs10'],
  ['nested', 'nested-walk'], ['nested', 'nested-faults'], ['nested', 'nested-cache'], ['nested', 's2-cache'], ['1', 'regs10'],
];

test('profile and stage: defaults, and the pairs QEMU 7.2 cannot give', () => {
  expect(parseTarget(undefined, undefined)).toEqual({ profile: 'qemu-7.2', stage: '1' });
  expect(parseTarget('qemu-10.0', undefined)).toEqual({ profile: 'qemu-10.0', stage: 'nested' });
  expect(() => parseTarget('qemu-7.2', '2')).toThrow(/qemu-7.2 has no stage 2/);
  expect(() => parseTarget('qemu-9', '1')).toThrow(/profile must be one of/);
  expect(() => parseTarget('qemu-10.0', '3')).toThrow(/stage must be one of/);
});

test('QEMU 10.0 runs virt-9.1 with -global stage for stages 1 and 2, plain virt for nested, with its data folder', () => {
  const a = machineArgs([0x18], '/k', q10('2'), '/opt/q/usr/bin/qemu-system-aarch64').join(' ');
  expect(a).toContain('-L /opt/q/usr/share/qemu');
  expect(a).toContain('-global arm-smmuv3.stage=2');
  expect(a).toContain('-machine virt-9.1,iommu=smmuv3,highmem=off');
  expect(machineArgs([0x18], '/k', q10('nested')).join(' ')).toContain('-machine virt,iommu=smmuv3,highmem=off');
  const old = machineArgs([0x18], '/k').join(' ');
  expect(old).toContain('-machine virt,iommu=smmuv3,highmem=off');
  expect(old).not.toContain('-global');
  expect(old).not.toContain('-L ');
});

test('stage-2 start levels: at least one IPA bit, at most 16 concatenated tables, SL0 by granule', () => {
  expect(startLevels(12, 40)).toEqual([{ start: 0, concat: 1 }, { start: 1, concat: 2 }]);
  expect(startLevels(12, 33)).toEqual([{ start: 1, concat: 1 }, { start: 2, concat: 8 }]);
  expect(startLevels(16, 42)).toEqual([{ start: 2, concat: 1 }]); // level 1 resolves no bit, level 3 would need 512 tables
  expect(startLevels(14, 29)).toEqual([{ start: 2, concat: 1 }, { start: 3, concat: 16 }]);
  expect(sl0Of(12, 0)).toBe(2);
  expect(sl0Of(14, 3)).toBe(0);
});

test.each(NEW_FAMILIES)('stage %s family %s builds scenarios a QEMU 10.0 machine can run', async (stage, family) => {
  const target = q10(stage);
  expect(familiesOf(target).map(([f]) => f)).toContain(family);
  for (let seed = 1; seed <= 5; seed++) {
    const sc = await generate(seed * 104729, family, target);
    expect(sc.family).toBe(family);
    expect(sc.target).toEqual(target);
    expect(sc.ops.some((o) => o.op === 'mmio_read' || o.op === 'mem_read' || o.op === 'mem_digest')).toBe(true);
    for (const o of sc.ops) {
      if (o.op === 'dma') {
        expect(o.len).toBeLessThan(4096); // edu: 4096 is accepted by 10.0 but not by 7.2
        expect(DEVICES).toContain(o.sid);
      }
      if (o.op === 'mem_write' || o.op === 'mem_read') expect(touchesReserved(o.addr, o.size)).toBe(false);
      if (o.op === 'mem_fill') expect(touchesReserved(o.addr, o.hex.length / 2)).toBe(false);
      if (o.op === 'mmio_read' || o.op === 'mmio_write') expect(o.offset % o.size).toBe(0);
    }
  }
});

test('no STE that enables stage 2 has S2AA64 = 0 on an SMMU with stage 2 (QEMU 10.0 aborts), and no CD has IPS 6 or 7', async () => {
  // every STE and CD the generator writes, seen through the World's own encoders
  const stes: bigint[][] = [];
  const cds: bigint[][] = [];
  const writeSte = World.prototype.writeSte;
  const cdWords = World.prototype.cdWords;
  World.prototype.writeSte = function (this: World, sid: number, w: bigint[]) {
    stes.push([...w]);
    return writeSte.call(this, sid, w);
  };
  World.prototype.cdWords = function (this: World, ...args: Parameters<World['cdWords']>) {
    const w = cdWords.apply(this, args);
    cds.push(w);
    return w;
  };
  try {
    for (const stage of ['2', 'nested'] as const) {
      for (let seed = 1; seed <= 40; seed++) await generate(seed * 7331, undefined, q10(stage));
    }
  } finally {
    World.prototype.writeSte = writeSte;
    World.prototype.cdWords = cdWords;
  }
  const s2 = stes.filter((w) => field64(w, STE.STE_V) === 1n && (field64(w, STE.STE_CONFIG) & 6n) === 6n);
  expect(s2.length).toBeGreaterThan(50);
  expect(s2.filter((w) => field64(w, STE.STE_S2AA64) !== 1n)).toEqual([]);
  expect(cds.length).toBeGreaterThan(20);
  expect(cds.filter((w) => field64(w, CD.CD_IPS) > 5n)).toEqual([]);
});

test('the model, as the SMMU of each stage, only touches scenario RAM or unassigned memory for the new families', async () => {
  let lines = 0;
  for (const [stage, family] of NEW_FAMILIES) {
    for (const seed of [21, 22]) {
      const sc = await generate(seed, family, q10(stage));
      const log = await modelTrace(sc.devices, sc.ops, q10(stage));
      lines += log.length;
      expect(unsafeAccesses(log, { cdIpa: stage === 'nested' })).toEqual([]);
    }
  }
  expect(lines).toBeGreaterThan(1000);
});

// One scenario per stage end to end (generate, record on QEMU 10.0, replay on the model):
// the comparison runs; its verdict is the conformance run's business (ENGINE-MISMATCHES.md).
qtest10.each(STAGES)('a stage-%s scenario is recorded on QEMU 10.0 and compared with the model', async (stage) => {
  const o = await runScenario({ index: 0, seed: 31, target: q10(stage), shrink: false });
  expect(o.error).toBeUndefined();
  expect(o.expects).toBeGreaterThan(10);
  expect(o.family).toBe(await generate(31, undefined, q10(stage)).then((s) => s.family));
  expect(o.regress === undefined).toBe(o.mismatchCount === 0);
});

qtest10.each(STAGES)('QEMU 10.0 starts with a stage-%s SMMU whose IDR0 is the spec\'s', async (stage) => {
  const m = await QemuMachine.start({ devices: [0x18], target: q10(stage) });
  try {
    expect(Number(m.mmioRead(0, 4)) >>> 0).toBe(SPEC_IDR0['qemu-10.0'][stage]);
  } finally {
    await m.close();
  }
});

qtest10('a QEMU whose SMMU has other stages than asked for is refused at start', async () => {
  const started = QemuMachine.start({ devices: [0x18], target: q10('1'), extraArgs: ['-global', 'arm-smmuv3.stage=2'] });
  // a machine that starts anyway is stopped before the test fails
  started.then((m) => m.close(), () => undefined);
  await expect(started).rejects.toThrow(/SMMU_IDR0 0xd441019, but qemu-10.0 stage 1 has 0xd44101a/);
});

// The new families on QEMU 10.0 itself: no QEMU error, expectations recorded, and QEMU's own
// smmu* log shows no access outside scenario RAM or unassigned memory.
qtest10.each(NEW_FAMILIES)('stage %s family %s runs on QEMU 10.0 and stays in safe memory', async (stage, family) => {
  const target = q10(stage);
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-q10-'));
  try {
    for (const seed of [11, 12]) {
      const sc = await generate(seed, family, target);
      const log = join(dir, `${sc.name}.log`);
      const rec = await recordOnQemu(sc.devices, sc.ops, { target, traceFile: log });
      expect(rec.ops.filter((o) => 'expect' in o && o.expect !== undefined).length).toBeGreaterThan(5);
      const lines = normalizeQemuLog(readFileSync(log, 'utf8'));
      expect(lines.length).toBeGreaterThan(10);
      expect(unsafeAccesses(lines, { cdIpa: stage === 'nested' })).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

qtest10('vsmmu record on QEMU 10.0: header with profile and stage, and a re-recording gives the same expectations', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-rec10-'));
  const out = (s: string) => join(dir, s);
  const err = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    expect(await record(['--profile', 'qemu-10.0', '--stage', '2', '--seed', '4242', '--family', 's2-cache', '-o', out('a.jsonl')])).toBe(0);
    const a = parseTrace(readFileSync(out('a.jsonl'), 'utf8'));
    expect(a.header.profile).toBe('qemu-10.0');
    expect(a.header.stage).toBe('2');
    expect(String(a.header.origin)).toContain('-machine virt-9.1,iommu=smmuv3,highmem=off -global arm-smmuv3.stage=2');
    expect(a.target).toEqual(q10('2'));
    // the recorded file is recorded again (its header picks the QEMU): same expectations
    expect(await record([out('a.jsonl'), '-o', out('b.jsonl')])).toBe(0);
    const b = parseTrace(readFileSync(out('b.jsonl'), 'utf8'));
    expect(traceText({ name: 'x', devices: b.devices, origin: '', target: b.target }, b.ops)).toBe(traceText({ name: 'x', devices: a.devices, origin: '', target: a.target }, a.ops));
    // a header and a command line that disagree are refused
    expect(await record([out('a.jsonl'), '--profile', 'qemu-10.0', '--stage', 'nested', '-o', out('c.jsonl')])).toBe(2);
    expect(await record(['--profile', 'qemu-7.2', '--stage', 'nested', '--seed', '1'])).toBe(2);
  } finally {
    process.stderr.write = err;
    rmSync(dir, { recursive: true, force: true });
  }
});
