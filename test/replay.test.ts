// Every trace kept in test/traces replays with zero mismatches: the QEMU 7.2 and
// QEMU 10.0 recordings (stage 1, stage 2, nested; qemu-10.0-local: nested faults
// recorded here on QEMU 10.0.2), the Linux 6.1 driver dumps (on 7.2,
// and on a stage-2 QEMU 10.0), the vIOMMU contract examples, our per-topology traces
// and the conformance harness's shrunk regressions.

import { readdirSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayText } from '../src/replay.js';

const ROOT = new URL('../../test/traces/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.jsonl') ? [p] : [];
  });
}

const all = files(ROOT);

test('the trace families are all there', () => {
  const dirs = new Set(all.map((f) => f.slice(ROOT.length).split('/')[0]));
  for (const d of ['qemu-7.2', 'qemu-10.0', 'linux', 'linux-qemu10', 'viommu', 'topologies', 'migrate', 'viommu-migrate']) expect(dirs.has(d)).toBe(true);
  expect(all.filter((f) => f.includes('/qemu-7.2/')).length).toBe(18);
  expect(all.filter((f) => f.includes('/migrate/')).length).toBe(6);
  expect(all.filter((f) => f.includes('/viommu-migrate/')).length).toBe(2);
  const q10 = all.filter((f) => f.includes('/qemu-10.0/'));
  expect(q10.length).toBe(42);
  // 19 stage-1, 13 stage-2 and 10 nested recordings
  const stages = q10.map((f) => String(JSON.parse(readFileSync(f, 'utf8').split('\n')[0]).stage ?? '1'));
  expect(['1', '2', 'nested'].map((s) => stages.filter((x) => x === s).length)).toEqual([19, 13, 10]);
});

test('the migration traces depend on the migrate op: without it most of them mismatch', async () => {
  const mig = all.filter((f) => /\/(viommu-)?migrate\//.test(f));
  let failing = 0;
  for (const f of mig) {
    const text = readFileSync(f, 'utf8').split('\n').filter((l) => !l.startsWith('{"op": "migrate"')).join('\n');
    // a mismatch, or a line that cannot run on the old topology (a backend it does not have)
    const r = await replayText(text, f);
    if (r.mismatches.length > 0 || r.error !== undefined) failing++;
  }
  expect(failing).toBeGreaterThanOrEqual(6);
});

test.each(all.map((f) => [f.slice(ROOT.length)]))('%s replays with zero mismatches', async (rel) => {
  const r = await replayText(readFileSync(join(ROOT, rel), 'utf8'), rel);
  expect(r.mismatches).toEqual([]);
  expect(r.expects).toBeGreaterThan(0);
});

test('a wrong expectation is reported with its line, op, expected and observed values', async () => {
  const text = readFileSync(join(ROOT, 'qemu-7.2/regs-reset.jsonl'), 'utf8').replace('"expect": "0xd40101a"', '"expect": "0xd40101b"');
  const r = await replayText(text + '{"op": "teleport"}\n', 'x');
  expect(r.mismatches).toEqual([{ line: 2, op: 'mmio_read', expect: '0xd40101b', got: '0xd40101a' }]);
  expect(r.error).toEqual({ line: 71, message: 'teleport: unknown op "teleport"' });
});
