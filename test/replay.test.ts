// Every trace kept in test/traces replays with zero mismatches: the QEMU 7.2 recordings,
// the Linux 6.1 driver runs recorded on QEMU, the vIOMMU contract examples and the
// conformance harness's shrunk regressions. test/snapshots holds the model's own output
// (per-topology vIOMMU traces written by `vsmmu topo-traces`): they replay too, as a
// regression check, but are not evidence of agreeing with QEMU and are counted apart.

import { existsSync, readdirSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayText } from '../src/replay.js';

const ROOT = new URL('../../test/traces/', import.meta.url).pathname;
const SNAPSHOTS = new URL('../../test/snapshots/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.jsonl') ? [p] : [];
  });
}

const all = files(ROOT);
const snapshots = files(SNAPSHOTS);

test('the trace families are all there, each with a note of where it comes from', () => {
  const dirs = new Set(all.map((f) => f.slice(ROOT.length).split('/')[0]));
  expect([...dirs].sort()).toEqual(['linux', 'migrate', 'qemu-7.2', 'regress', 'viommu', 'viommu-migrate']);
  const note = (d: string) => ['README.md', 'ORIGIN.md'].map((n) => join(d, n)).find((f) => existsSync(f));
  for (const d of dirs) expect(readFileSync(note(join(ROOT, d)) ?? join(ROOT, d, 'README.md'), 'utf8').length).toBeGreaterThan(100);
  expect(readFileSync(join(SNAPSHOTS, 'topologies', 'README.md'), 'utf8')).toMatch(/^# /);
  expect(all.filter((f) => f.includes('/qemu-7.2/')).length).toBe(18);
  expect(all.filter((f) => f.includes('/migrate/')).length).toBe(6);
  expect(all.filter((f) => f.includes('/viommu-migrate/')).length).toBe(2);
  expect(snapshots.length).toBeGreaterThan(0);
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

test.each(snapshots.map((f) => [f.slice(SNAPSHOTS.length)]))('snapshot %s replays with zero mismatches', async (rel) => {
  const r = await replayText(readFileSync(join(SNAPSHOTS, rel), 'utf8'), rel);
  expect(r.mismatches).toEqual([]);
  expect(r.expects).toBeGreaterThan(0);
});

test('a wrong expectation is reported with its line, op, expected and observed values', async () => {
  const text = readFileSync(join(ROOT, 'qemu-7.2/regs-reset.jsonl'), 'utf8').replace('"expect": "0xd40101a"', '"expect": "0xd40101b"');
  const r = await replayText(text + '{"op": "teleport"}\n', 'x');
  expect(r.mismatches).toEqual([{ line: 2, op: 'mmio_read', expect: '0xd40101b', got: '0xd40101a' }]);
  expect(r.error).toEqual({ line: 71, message: 'teleport: unknown op "teleport"' });
});
