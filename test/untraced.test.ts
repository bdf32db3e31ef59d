// What translations do while no trace sink is set (the engine's untraced fast paths) that
// shows later: QEMU counts every configuration-cache and IOTLB hit and miss whether or not
// its trace events are enabled, so the first traced record after untraced translations
// carries their counts (smmuv3_config_cache_hit: sdev->cfg_cache_hits/misses;
// smmu_iotlb_lookup_hit/miss: cfg->iotlb_hits/misses), and stats() counts them too.
// Also: a StreamID that does DMA is a device from then on (QEMU creates the SMMUDevice
// when the PCI device asks for its address space), so CFGI_STE reaches it; and the batch
// API translates exactly the first n requests, reporting an output address for the
// statuses that let the access through (success, disabled, bypass) and 0 for the others.

import { machine, RAM_BASE } from './helpers.js';
import { cmdCfgiSte, cmdSync } from '../src/guest/encode.js';
import * as A from '../src/arch/abi.js';
import * as R from '../src/arch/registers.js';

const PA = RAM_BASE + 0x900000;
const rate = (h: number, m: number): number => Math.floor((100 * h) / (h + m));

test('counts of untraced configuration-cache and IOTLB hits show in the next traced records and in stats()', async () => {
  for (const profile of ['qemu-7.2', 'qemu-10.0'] as const) {
    const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
    const d = m.driver.createDomain({ asid: 3 });
    m.driver.map(d, 0x10000, PA, 0x4000, { blocks: false });
    m.driver.attach(0x18, d);
    const s0 = m.smmu.stats();
    // untraced: 1 config miss + 6 hits; IOTLB: 2 misses (two pages), 5 hits
    for (const iova of [0x10000, 0x10010, 0x11000, 0x10020, 0x11008, 0x10030, 0x11010]) expect(m.smmu.translate(0x18, iova).status).toBe('success');
    const s1 = m.smmu.stats();
    expect([s1.configHits - s0.configHits, s1.configMisses - s0.configMisses, s1.iotlbHits - s0.iotlbHits, s1.iotlbMisses - s0.iotlbMisses]).toEqual([6, 1, 5, 2]);
    const got: string[] = [];
    m.smmu.setTrace((l) => { if (/smmuv3_config_cache_(hit|miss)|smmu_iotlb_lookup_(hit|miss)/.test(l)) got.push(l.slice(l.indexOf('smmu'))); });
    m.smmu.translate(0x18, 0x10040); // config hit 7, IOTLB hit 6
    m.smmu.translate(0x18, 0x12000); // config hit 8, IOTLB miss 3
    m.smmu.setTrace(undefined);
    expect(got).toEqual([
      `smmuv3_config_cache_hit Config cache HIT for sid=0x18 (hits=7, misses=1, hit rate=${rate(7, 1)})`,
      `smmu_iotlb_lookup_hit IOTLB cache HIT asid=3 addr=0x10000 hit=6 miss=2 hit rate=${rate(6, 2)}`,
      `smmuv3_config_cache_hit Config cache HIT for sid=0x18 (hits=8, misses=1, hit rate=${rate(8, 1)})`,
      `smmu_iotlb_lookup_miss IOTLB cache MISS asid=3 addr=0x12000 hit=6 miss=3 hit rate=${rate(6, 3)}`,
    ]);
  }
});

test('a StreamID not named in `devices` becomes a device when it does DMA: CFGI_STE then reaches it', async () => {
  const m = await machine({ devices: [] });
  const d = m.driver.createDomain({ asid: 1 });
  m.driver.map(d, 0x1000, PA, 0x1000);
  const sid = 0x30;
  m.driver.attach(sid, d);
  expect(m.smmu.translate(sid, 0x1010).addr).toBe(PA + 0x10); // the configuration is cached
  m.driver.setSte(sid, { config: 0 }); // abort, with CFGI_STE
  m.driver.submit([cmdCfgiSte(sid), cmdSync()]);
  expect(m.smmu.translate(sid, 0x1010).status).toBe('abort');
  // a StreamID that never did DMA is not a device: nothing is cached for it either way
  const other = 0x38;
  m.driver.attach(other, d);
  m.driver.setSte(other, { config: 4 });
  expect(m.smmu.translate(other, 0x1010).status).toBe('bypass');
});

describe('the batch API', () => {
  test('run(n) translates exactly the first n requests; each status with its output address', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.attach(0x18, d);
    m.driver.setSte(0x20, { config: 4 });
    m.driver.setSte(0x28, { config: 0 });
    const b = m.smmu.batch();
    const reqs: Array<[number, number, number]> = [
      [0x18, 0x1010, A.ACC_READ], [0x28, 0x1010, A.ACC_READ], [0x18, 0x1020, A.ACC_WRITE], [0x18, 0x5000, A.ACC_READ],
      [0x20, 0x777000, A.ACC_WRITE], [0x18, 0x1ff8, A.ACC_WRITE],
    ];
    reqs.forEach(([sid, iova, acc], i) => { b.sid[i] = sid; b.iova[i] = iova; b.access[i] = acc; });
    b.sid[reqs.length] = 0x18; b.iova[reqs.length] = 0x1000; b.access[reqs.length] = A.ACC_READ;
    b.status[reqs.length] = 0xee;
    b.addr[reqs.length] = 1234;
    const before = m.smmu.stats().translations;
    b.run(reqs.length);
    expect(m.smmu.stats().translations - before).toBe(reqs.length);
    expect(Array.from(b.status.subarray(0, reqs.length + 1))).toEqual([A.XS_SUCCESS, A.XS_ABORT, A.XS_SUCCESS, A.XS_ERROR, A.XS_BYPASS, A.XS_SUCCESS, 0xee]);
    expect(Array.from(b.addr.subarray(0, reqs.length + 1))).toEqual([PA + 0x10, 0, PA + 0x20, 0, 0x777000, PA + 0xff8, 1234]);
    // SMMU disabled: every request passes through with its own address
    m.smmu.mmioWrite(R.R_CR0, 4, 0);
    b.run(2);
    expect([Array.from(b.status.subarray(0, 2)), Array.from(b.addr.subarray(0, 2))]).toEqual([[A.XS_DISABLE, A.XS_DISABLE], [0x1010, 0x1010]]);
  });
  test('run(capacity) translates every slot', async () => {
    const m = await machine();
    m.driver.setSte(0x20, { config: 4 });
    const b = m.smmu.batch();
    for (let i = 0; i < b.capacity; i++) { b.sid[i] = 0x20; b.iova[i] = i * 8; b.access[i] = A.ACC_READ; }
    b.run(b.capacity);
    expect(Array.from(b.addr)).toEqual(Array.from({ length: b.capacity }, (_, i) => i * 8));
    expect(b.status.every((s) => s === A.XS_BYPASS)).toBe(true);
  });
});
