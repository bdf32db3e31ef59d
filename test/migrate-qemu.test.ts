// The migrate op against real QEMU 7.2: the harness migrates QEMU over QMP (stop,
// migrate to a file, a new QEMU with -incoming defer, migrate-incoming, cont at paused,
// edu BARs re-programmed) and reproduces the shared QEMU migration traces; generated
// scenarios get random migration points and agree with the model across them.

import { readFileSync } from 'node:fs';
import { generate } from '../src/conformance/generate.js';
import { withMigrationPoints, MIGRATING_SHARE } from '../src/conformance/migration-points.js';
import { recordOnQemu } from '../src/conformance/record.js';
import { runScenario } from '../src/conformance/scenario-run.js';
import { parseTrace, type Op } from '../src/conformance/scenario.js';
import { qemuTest } from './helpers.js';

const qtest = qemuTest('migrate-qemu.test');
const TRACES = new URL('../../test/traces/migrate/', import.meta.url).pathname;

test('migration points: deterministic per seed, in about the intended share of scenarios, never first', () => {
  const ops: Op[] = Array.from({ length: 50 }, (_, i) => ({ op: 'mmio_read', offset: 4 * i, size: 4 }));
  let migrating = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const a = withMigrationPoints(seed, ops);
    expect(withMigrationPoints(seed, ops)).toEqual(a);
    expect(a.filter((o) => o.op !== 'migrate')).toEqual(ops);
    expect(a[0].op).not.toBe('migrate');
    expect(a[a.length - 1].op).not.toBe('migrate');
    if (a.length > ops.length) migrating++;
  }
  expect(migrating / 400).toBeGreaterThan(MIGRATING_SHARE - 0.1);
  expect(migrating / 400).toBeLessThan(MIGRATING_SHARE + 0.1);
});

test('generated scenarios carry their migration points', async () => {
  const sc = await generate(15);
  expect(sc.ops.filter((o) => o.op === 'migrate').length).toBe(3);
});

const expectsOf = (ops: Op[]) => ops.map((o) => String((o as { expect?: unknown }).expect ?? '-'));

qtest.each([['migrate-stale-1-2816'], ['migrate-cmderr-1-29745']])('QEMU migrated by the harness reproduces %s', async (name) => {
  const t = parseTrace(readFileSync(`${TRACES}${name}.jsonl`, 'utf8'));
  const bare = t.ops.map((o) => ({ ...o, expect: undefined }) as Op);
  const rec = await recordOnQemu(t.devices, bare);
  expect(expectsOf(rec.ops)).toEqual(expectsOf(t.ops));
  // and the migrations mattered: the same operations without them give other answers on QEMU
  const still = await recordOnQemu(t.devices, bare.filter((o) => o.op !== 'migrate'));
  expect(expectsOf(still.ops)).not.toEqual(expectsOf(t.ops.filter((o) => o.op !== 'migrate')));
});

qtest.each([[15], [19]])('generated scenario %i with migrations: QEMU and the model agree, trace logs too', async (seed) => {
  const o = await runScenario({ index: 0, seed, trace: true, shrink: false });
  expect(o.error).toBeUndefined();
  expect(o.migrations).toBeGreaterThan(0);
  expect(o.mismatches).toEqual([]);
  expect(o.traceDiff).toBeUndefined();
});
