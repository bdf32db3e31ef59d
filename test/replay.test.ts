// Every trace kept in test/traces replays with zero mismatches: the QEMU 7.2
// recordings, the Linux 6.1 driver dumps, the vIOMMU contract examples, our per-
// topology traces and the conformance harness's shrunk regressions.

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
  for (const d of ['qemu-7.2', 'linux', 'viommu', 'topologies']) expect(dirs.has(d)).toBe(true);
  expect(all.filter((f) => f.includes('/qemu-7.2/')).length).toBe(18);
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
