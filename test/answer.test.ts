// The answer the demo's summary panel and `vsmmu topo` state: computed from a comparison run,
// on the README's workload it reproduces the README's table, and a comparison reports its
// progress and can be cancelled.

import { readFileSync } from 'node:fs';
import { DEFAULT_STEPS, DEFAULT_WORKLOAD, TOPOLOGIES, exploreAll, type TopologyMetrics } from '../src/explorer.js';
import { topologyAnswer, topologyCost } from '../src/topo/answer.js';
import { compareTopologies, type CompareProgress } from '../src/topo/compare.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
let m: TopologyMetrics[];

beforeAll(async () => {
  m = await exploreAll(DEFAULT_WORKLOAD, DEFAULT_STEPS);
});

test('on the default workload and steps, the costs are the README\'s table', () => {
  // | host | topology | entries | broadcast / targeted | wait | S2 hits | walk reads |
  const rows = README.slice(README.indexOf('## What topologies cost')).split('\n').filter((l) => /^\| [12] pSMMUs? \|/.test(l));
  expect(rows).toHaveLength(TOPOLOGIES.length);
  const readme = rows.map((r) => r.split('|').slice(3, 8).map((c) => c.trim()));
  const ours = m.map((x) => {
    const c = topologyCost(x, DEFAULT_WORKLOAD);
    return [c.entries.toLocaleString('en-US'), `${x.broadcast_tlbi.toLocaleString('en-US')} / ${x.targeted_tlbi.toLocaleString('en-US')}`,
      `${c.sync_wait_us.toFixed(2)} µs`, c.s2_hit_rate.toFixed(3), c.walk_reads.toLocaleString('en-US')];
  });
  expect(ours).toEqual(readme);
});

test('the answer: the cheapest topology per host, the comparisons in numbers', () => {
  const a = topologyAnswer(m, DEFAULT_WORKLOAD);
  expect(a.hosts.map((h) => [h.psmmus, h.best, h.costs.length])).toEqual([[1, 'dedicated', 3], [2, 'dedicated-join', 4]]);
  for (const h of a.hosts) {
    const best = h.costs.find((c) => c.name === h.best)!;
    for (const c of h.costs) expect(best.entries).toBeLessThanOrEqual(c.entries);
  }
  expect(a.findings).toHaveLength(5);
  expect(a.findings[0]).toContain('S2 walk-cache hit 0.975 → 0.947');
  expect(a.findings[1]).toContain('entries 6,376 → 12,744 (×2.00)');
  expect(a.recommendation).toMatch(/1 pSMMU, build “dedicated passthrough vSMMU \+ emulated vSMMU” \(3,192 entries/);
  expect(a.recommendation).toMatch(/2 pSMMUs, build “dedicated passthrough vSMMU joined over 2 pSMMUs/);
});

test('the answer follows the numbers: a workload where the table cannot help', async () => {
  // no passthrough device: nothing reaches a pSMMU, the topologies differ only in the model
  const w = { ...DEFAULT_WORKLOAD, passthroughShare: 0 };
  const a = topologyAnswer(await exploreAll(w, 3), w);
  for (const h of a.hosts) for (const c of h.costs) expect(c.entries).toBe(0);
  expect(a.recommendation).toContain('0 entries');
});

test('compareTopologies: the same metrics as exploreAll, progress to the total, cancellable', async () => {
  const w = { ...DEFAULT_WORKLOAD, devices: 4 };
  const seen: CompareProgress[] = [];
  const got = await compareTopologies(w, 12, { chunk: 5, onProgress: (p) => seen.push(p) });
  expect(got).toEqual(await exploreAll(w, 12));
  expect(seen.map((p) => p.done)).toEqual(TOPOLOGIES.flatMap((_, i) => [5, 10, 12].map((d) => i * 12 + d)));
  expect(seen.every((p) => p.total === 12 * TOPOLOGIES.length)).toBe(true);
  const ac = new AbortController();
  const stopped: CompareProgress[] = [];
  const run = compareTopologies(w, 12, { chunk: 5, signal: ac.signal, onProgress: (p) => { stopped.push(p); if (p.done >= 10) ac.abort(new Error('cancelled')); } });
  await expect(run).rejects.toThrow('cancelled');
  expect(stopped.map((p) => p.done)).toEqual([5, 10]);
});
