// stats() counts configuration-cache hits and misses the same whether tracing is on (the
// hit goes through getConfig, which traces it) or off (the translate path's inline hit).

import { machine, RAM_BASE } from './helpers.js';

test.each([false, true])('traced %s: a miss, then hits, counted in stats()', async (traced) => {
  const m = await machine(traced ? { trace: () => {} } : {});
  const d = m.driver.createDomain({ asid: 3 });
  m.driver.map(d, 0x10000, RAM_BASE + 0x200000, 0x1000);
  m.driver.attach(0x18, d);
  const s0 = m.smmu.stats();
  for (let i = 0; i < 3; i++) expect(m.smmu.translate(0x18, 0x10000 + 8 * i).status).toBe('success');
  const s1 = m.smmu.stats();
  expect([traced, s1.configMisses - s0.configMisses, s1.configHits - s0.configHits]).toEqual([traced, 1, 2]);
});
