// stats().walkReads counts every translation-table descriptor the walker reads: a stage-2
// walk of a page reads one descriptor per level from its start level to level 3.

import { machine, RAM_BASE } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';

const IPA = 0x80000000;
const PA = RAM_BASE + 0x900000;

test.each([0x1000, 0x4000, 0x10000])('stage 2 only, %i-byte granule: a miss reads one descriptor per level, a hit none', async (granule) => {
  const m = await machine({ profile: 'qemu-10.0', stage: '2' });
  const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40, granule });
  t.map(IPA, PA, granule);
  m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
  const s0 = m.smmu.stats();
  expect(m.smmu.translate(0x18, IPA + 0x10)).toMatchObject({ status: 'success', addr: PA + 0x10 });
  const s1 = m.smmu.stats();
  expect([granule, t.startLevel, s1.walkReads - s0.walkReads]).toEqual([granule, t.startLevel, 4 - t.startLevel]);
  expect(m.smmu.translate(0x18, IPA + 0x20)).toMatchObject({ status: 'success', addr: PA + 0x20 });
  expect(m.smmu.stats().walkReads).toBe(s1.walkReads);
});
