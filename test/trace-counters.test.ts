// The hit and miss counters QEMU prints in its cache trace records: per device for the
// configuration cache (smmuv3_config_cache_hit/miss: sdev->cfg_cache_hits/misses, kept
// across invalidations) and per decoded configuration for the IOTLB (smmu_iotlb_lookup_hit/
// miss: cfg->iotlb_hits/misses, from 0 again when the configuration is decoded afresh),
// each with its integer hit rate. The expected lines are counted here, step by step.

import { machine, RAM_BASE } from './helpers.js';
import { cmdCfgiSte, cmdSync, cmdTlbiNhAsid } from '../src/guest/encode.js';

const PA = RAM_BASE + 0x900000;
const rate = (h: number, m: number): number => Math.floor((100 * h) / (h + m));

test('config cache and IOTLB hit/miss counters and rates, per device and per decoded configuration', async () => {
  const m = await machine();
  const sids = [0x18, 0x20];
  sids.forEach((sid, i) => {
    const d = m.driver.createDomain({ asid: 1 + i });
    m.driver.map(d, 0x10000, PA + i * 0x10000, 0x4000, { blocks: false });
    m.driver.attach(sid, d);
  });
  const dev = new Map(sids.map((s) => [s, { hits: 0, misses: 0, cached: false }]));
  const cfg = new Map(sids.map((s) => [s, { hits: 0, misses: 0 }]));
  const pages = new Map(sids.map((s) => [s, new Set<number>()]));
  const got: string[] = [];
  const want: string[] = [];
  m.smmu.setTrace((l) => { if (/smmuv3_config_cache_(hit|miss)|smmu_iotlb_lookup_(hit|miss)/.test(l)) got.push(l.slice(l.indexOf('smmu'))); });
  const translate = (sid: number, iova: number): void => {
    const d = dev.get(sid)!, c = cfg.get(sid)!, p = pages.get(sid)!;
    if (d.cached) {
      d.hits++;
      want.push(`smmuv3_config_cache_hit Config cache HIT for sid=0x${sid.toString(16)} (hits=${d.hits}, misses=${d.misses}, hit rate=${rate(d.hits, d.misses)})`);
    } else {
      d.misses++;
      want.push(`smmuv3_config_cache_miss Config cache MISS for sid=0x${sid.toString(16)} (hits=${d.hits}, misses=${d.misses}, hit rate=${rate(d.hits, d.misses)})`);
      d.cached = true;
      c.hits = 0;
      c.misses = 0;
    }
    const page = iova & ~0xfff;
    const asid = sid === 0x18 ? 1 : 2;
    if (p.has(page)) {
      c.hits++;
      want.push(`smmu_iotlb_lookup_hit IOTLB cache HIT asid=${asid} addr=0x${page.toString(16)} hit=${c.hits} miss=${c.misses} hit rate=${rate(c.hits, c.misses)}`);
    } else {
      c.misses++;
      want.push(`smmu_iotlb_lookup_miss IOTLB cache MISS asid=${asid} addr=0x${page.toString(16)} hit=${c.hits} miss=${c.misses} hit rate=${rate(c.hits, c.misses)}`);
      p.add(page);
    }
    expect(m.smmu.translate(sid, iova).status).toBe('success');
  };
  const iovas = [0x10000, 0x10010, 0x11000, 0x10020, 0x12000, 0x11008, 0x13000, 0x13ff0, 0x10000];
  for (const iova of iovas) for (const sid of sids) translate(sid, iova);
  // a CFGI_STE: the device's configuration is decoded again (its IOTLB counters restart), the device's counters go on
  m.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
  dev.get(0x18)!.cached = false;
  // TLBI_NH_ASID of the second device's ASID: its pages miss again, its counters go on
  m.driver.submit([cmdTlbiNhAsid(2), cmdSync()]);
  pages.get(0x20)!.clear();
  for (const iova of iovas.slice(0, 5)) for (const sid of sids) translate(sid, iova);
  m.smmu.setTrace(undefined);
  expect(got).toEqual(want);
});
