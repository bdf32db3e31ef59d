// The seed's migration argument in the topology explorer: moving the running VM to a host
// with 1, 2 or 3 pSMMUs. One vSMMU over many pSMMUs, split and dedicated layouts move
// without the guest noticing (same registers, passthrough DMA keeps working: arrival
// installs every passthrough STE); one vSMMU per pSMMU cannot change its pSMMU count.

import { execFileSync } from 'node:child_process';
import { TopologyRun, DEFAULT_WORKLOAD, TOPOLOGIES } from '../src/topo/explore.js';

const W = { ...DEFAULT_WORKLOAD, devices: 6, mapsPerStep: 2, dmaPerStep: 8 };

test.each(TOPOLOGIES.map((t) => [t.name]))('%s moves to hosts with 1, 2 and 3 pSMMUs, or says why it cannot', async (name) => {
  for (const to of [1, 2, 3]) {
    const run = await TopologyRun.create(name, W);
    for (let i = 0; i < 3; i++) run.step();
    const from = run.vm.psmmus.size;
    const passthrough = run.vm.vsmmus.reduce((a, n) => a + n.spec.passthrough.length, 0);
    const r = await run.migrate(to);
    if (name === 'per-psmmu' && to !== from) {
      expect(r.migrated).toBe(false);
      expect(r.reason).toMatch(to > from ? /appear/ : /vanish/);
      expect(run.vm.psmmus.size).toBe(from); // nothing moved
      continue;
    }
    expect(r.migrated).toBe(true);
    expect(r.guest_noticed).toBe(false);
    expect(run.vm.psmmus.size).toBe(to);
    expect(r.ste_installs).toBe(passthrough);
    expect(r.arrival_entries).toBe(passthrough); // nothing but the STE installs at arrival
    const faults = run.faultCount;
    for (let i = 0; i < 3; i++) run.step();
    expect(run.faultCount).toBe(faults); // every passthrough device still translates on the new host
    const m = run.metrics();
    expect(Object.keys(m.forwarded).length).toBe(to);
  }
});

test('vsmmu topo --json reports the migration per topology', () => {
  const out = execFileSync(process.execPath, [new URL('../../dist/src/cli.js', import.meta.url).pathname, 'topo', '--json', '--steps', '2', '--migrate-steps', '2', '--devices', '4', '--dma', '4'], { encoding: 'utf8' });
  const j = JSON.parse(out) as { topologies: Array<{ name: string; migration: { from_psmmus: number; to: Array<{ to: number; migrated: boolean; reason?: string; ste_installs: number }> } }> };
  expect(j.topologies.length).toBe(TOPOLOGIES.length);
  for (const t of j.topologies) {
    expect(t.migration.to.map((r) => r.to)).toEqual([1, 2, 3]);
    const cannot = t.migration.to.filter((r) => !r.migrated).map((r) => r.to);
    expect(cannot).toEqual(t.name === 'per-psmmu' ? [1, 3] : []);
  }
});
