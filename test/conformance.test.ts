// The differential conformance harness: the scenario generator (deterministic, safe
// for a whole QEMU machine), the shrinker, the trace-log comparison, and a few dozen
// scenarios run on QEMU and on the model with zero differences.

import { generate, familiesOf, DEVICES } from '../src/conformance/generate.js';
import { shrinkOps } from '../src/conformance/shrink.js';
import { canonical, firstDivergence, normalizeQemuLog, modelTrace } from '../src/conformance/trace-compare.js';
import { unsafeAccesses } from '../src/conformance/audit.js';
import { runScenario } from '../src/conformance/scenario-run.js';
import { runConformance, scenarioSeed } from '../src/conformance/runner.js';
import { parseTrace, traceText, type Op } from '../src/conformance/scenario.js';
import { touchesReserved } from '../src/conformance/record.js';
import { qemuTest } from './helpers.js';

const qtest = qemuTest('conformance.test');

const families = familiesOf().map(([f]) => f); // QEMU 7.2's (test/qemu10.test.ts has the QEMU 10.0 ones)

test('a seed always gives the same scenario', async () => {
  for (const seed of [1, 77, 4242]) {
    const a = await generate(seed);
    const b = await generate(seed);
    expect(a.name).toBe(b.name);
    expect(traceText({ name: a.name, devices: a.devices, origin: '' }, a.ops)).toBe(traceText({ name: b.name, devices: b.devices, origin: '' }, b.ops));
  }
  expect((await generate(5)).ops).not.toEqual((await generate(6)).ops);
});

test.each(families.map((f) => [f]))('family %s builds scenarios QEMU can run safely', async (family) => {
  for (let seed = 1; seed <= 6; seed++) {
    const sc = await generate(seed * 7919, family);
    expect(sc.family).toBe(family);
    expect(sc.devices).toEqual(DEVICES);
    expect(sc.ops.length).toBeGreaterThan(5);
    expect(sc.ops.some((o) => o.op === 'mmio_read' || o.op === 'mem_read' || o.op === 'mem_digest')).toBe(true);
    for (const o of sc.ops) {
      switch (o.op) {
        case 'mmio_read':
        case 'mmio_write':
          expect(o.size === 4 || o.size === 8).toBe(true);
          expect(o.offset % o.size).toBe(0); // a CPU cannot make a misaligned Device access
          expect(o.offset + o.size).toBeLessThanOrEqual(0x20000);
          break;
        case 'dma':
          expect(o.len).toBeGreaterThanOrEqual(1);
          expect(o.len).toBeLessThanOrEqual(4095); // what the edu device moves
          expect(DEVICES).toContain(o.sid);
          break;
        case 'mem_write':
          expect(touchesReserved(o.addr, o.size)).toBe(false);
          break;
        case 'mem_fill':
          expect(touchesReserved(o.addr, o.hex.length / 2)).toBe(false);
          break;
        case 'mem_read':
          expect(touchesReserved(o.addr, o.size)).toBe(false);
          break;
        case 'mem_digest':
          expect(touchesReserved(o.addr, o.len)).toBe(false);
          break;
      }
    }
  }
});

test('the SMMU only touches scenario RAM or unassigned memory for generated scenarios', async () => {
  for (const family of families) {
    for (const seed of [11, 12, 13]) {
      const sc = await generate(seed, family);
      expect(unsafeAccesses(await modelTrace(sc.devices, sc.ops))).toEqual([]);
    }
  }
  expect(unsafeAccesses(['smmuv3_get_ste STE addr: 0x600', 'smmuv3_get_cd CD addr: 0x40200000'])).toEqual(['STE at 0x600: smmuv3_get_ste STE addr: 0x600']);
});

test('scenarios round-trip through the trace format', async () => {
  const sc = await generate(99, 'stale');
  const ops: Op[] = sc.ops.map((o) => (o.op === 'mmio_read' ? { ...o, expect: 5n } : o.op === 'mem_digest' ? { ...o, expect: 'ab' } : o));
  const back = parseTrace(traceText({ name: sc.name, devices: sc.devices, origin: 'x' }, ops));
  expect(back.devices).toEqual(sc.devices);
  expect(back.ops).toEqual(ops);
});

test('shrinking keeps the prefix up to the first mismatch and drops the observations before it', () => {
  const ops: Op[] = [
    { op: 'mmio_write', offset: 0x20, size: 4, value: 8n },
    { op: 'mmio_read', offset: 0x24, size: 4 },
    { op: 'dma', sid: 0x18, src: 0n, dst: 0n, len: 4 },
    { op: 'mem_digest', addr: 0x41000000, len: 64 },
    { op: 'mmio_read', offset: 0x9c, size: 4 },
    { op: 'mmio_write', offset: 0x20, size: 4, value: 0n },
  ];
  // line 6 of the trace is ops[4]
  expect(shrinkOps(ops, 6)).toEqual([ops[0], ops[2], ops[4]]);
});

test('scenario seeds of a run are spread and reproducible', () => {
  const s = Array.from({ length: 1000 }, (_, i) => scenarioSeed(12345, i));
  expect(new Set(s).size).toBe(1000);
  expect(scenarioSeed(12345, 7)).toBe(s[7]);
  expect(scenarioSeed(12346, 7)).not.toBe(s[7]);
});

test('trace logs are normalised and compared', () => {
  const qemu = normalizeQemuLog([
    '123@1700000000.000001:smmu_add_mr smmuv3-iommu-memory-region-0-0',
    '123@1700000000.000002:smmuv3_cmdq_consume_out prod:0, cons:0, prod_wrap:0, cons_wrap:0 ',
    'smmuv3_config_cache_inv Config cache INV for sid=0x20',
    'smmuv3_config_cache_inv Config cache INV for sid=0x18',
    '',
  ].join('\n'));
  expect(qemu).toEqual([
    'smmuv3_cmdq_consume_out prod:0, cons:0, prod_wrap:0, cons_wrap:0',
    'smmuv3_config_cache_inv Config cache INV for sid=0x20',
    'smmuv3_config_cache_inv Config cache INV for sid=0x18',
  ]);
  // the machine's IDR0 check at start is dropped; a scenario's own IDR0 reads later are kept
  const probe = 'smmuv3_read_mmio addr: 0x0 val:0xd40101a size: 0x4(0)';
  expect(normalizeQemuLog(['smmu_reset_exit ', probe, probe, 'smmuv3_write_mmio addr: 0x20 val:0x0 size: 0x4(0)'].join('\n'))).toEqual([probe, 'smmuv3_write_mmio addr: 0x20 val:0x0 size: 0x4(0)']);
  const model = [qemu[0], qemu[2], qemu[1]];
  expect(canonical(model)).toEqual(canonical(qemu));
  expect(firstDivergence(qemu, model)).toBeUndefined();
  const d = firstDivergence(qemu, [qemu[0], 'smmuv3_trigger_irq irq=2'], 1);
  expect(d?.index).toBe(1);
});

// A couple of scenarios per family on QEMU and on the model, compared.
const QEMU_SEEDS = families.flatMap((f, i) => [[f, 1000 + i], [f, 2000 + i * 3]] as Array<[string, number]>);

qtest.each(QEMU_SEEDS)('%s scenario %i: QEMU and the model agree', async (family, seed) => {
  const o = await runScenario({ index: 0, seed, family, shrink: false });
  expect(o.error).toBeUndefined();
  expect(o.expects).toBeGreaterThan(0);
  expect(o.mismatches).toEqual([]);
});

qtest('with --trace, QEMU\'s smmu* log and our trace lines agree line for line', async () => {
  for (const [family, seed] of [['xlate', 31], ['cmdq', 32], ['evtq', 33]] as const) {
    const o = await runScenario({ index: 0, seed, family, trace: true, shrink: false });
    expect(o.error).toBeUndefined();
    expect(o.qemuLog!.length).toBeGreaterThan(10);
    expect(o.traceDiff).toBeUndefined();
  }
});

qtest('the runner spreads scenarios over worker threads and sums up coverage', async () => {
  const lines: string[] = [];
  const s = await runConformance({ count: 4, seed: 777, jobs: 2, log: (l) => lines.push(l) });
  expect(s.scenarios).toBe(4);
  expect(s.passed).toBe(4);
  expect(s.mismatched + s.errors).toBe(0);
  expect(s.opcodes.length).toBeGreaterThan(0);
  expect(Object.values(s.families).reduce((a, b) => a + b, 0)).toBe(4);
  expect(lines).toEqual([]);
});
