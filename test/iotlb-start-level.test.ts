// The levels a translation's IOTLB lookup tries (QEMU smmu_iotlb_lookup_all_levels): from
// the walk's start level for the CD's T0SZ and granule (QEMU: 4 - (inputsize - 4) / stride)
// to level 3. An entry of the same ASID and granule at the start level (or below it) is a
// hit; one at a level above the start level, left there by a context with a larger input
// size sharing the ASID, is not looked up: the translation walks its own tables. Checked
// for every T0SZ from 16 to 39 and each granule, with entries put in the IOTLB the way a
// walk inserts them (engineDebug), and for blocks a walk itself inserted.

import { machine, RAM_BASE } from './helpers.js';
import { engineDebug } from '../src/engine-debug.js';
import { cmdSync, cmdTlbiNhAll } from '../src/guest/encode.js';
import type { Profile } from '../src/types.js';

const PA = RAM_BASE + 0x900000;
const TG: Record<number, number> = { 12: 1, 14: 2, 16: 3 }; // IOTLB TG: (log2 granule - 10) / 2

/** QEMU's stage-1 start level for an input size of 64 - tsz bits. */
const startLevel = (tsz: number, g: number): number => 4 - Math.floor((64 - tsz - 4) / (g - 3));
const shiftAt = (level: number, g: number): number => g + (3 - level) * (g - 3);

for (const profile of ['qemu-7.2', 'arch'] as Profile[]) {
  for (const g of [12, 14, 16]) {
    test(`${profile}, ${1 << (g - 10)}K granule: entries from the start level of every T0SZ are hits, above it misses`, async () => {
      const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
      const dbg = engineDebug(m.smmu);
      for (let tsz = 16; tsz <= 39; tsz++) {
        const asid = tsz;
        const d = m.driver.createDomain({ asid, granule: 1 << g, vaBits: 64 - tsz });
        m.driver.attach(0x18, d); // nothing mapped: a walk faults
        const start = startLevel(tsz, g);
        const iova = 0x1234560 % 2 ** (64 - tsz);
        for (let level = Math.max(0, start - 1); level <= 3; level++) {
          const mask = 2n ** BigInt(shiftAt(level, g)) - 1n;
          const ta = 0x7000000000n + BigInt(level) * 0x100000000n;
          const base = BigInt(iova) & ~mask;
          m.driver.submit([cmdTlbiNhAll(), cmdSync()]);
          dbg.iotlbInsert({ asid, vmid: -1, iova: base, tg: TG[g], level, ta, mask, perm: 3 });
          const r = m.smmu.translate64(0x18, BigInt(iova));
          if (level >= start) expect([level, r.status, r.addr64]).toEqual([level, 'success', ta + (BigInt(iova) & mask)]);
          else expect([level, r.status]).toEqual([level, 'fault']);
        }
      }
    });
  }
}

test('blocks a walk inserted at the start level are hits (4K level 1, 16K and 64K level 2)', async () => {
  for (const [granule, vaBits, level] of [[0x1000, 39, 1], [0x1000, 48, 1], [0x4000, 36, 2], [0x4000, 47, 2], [0x10000, 42, 2], [0x10000, 48, 2]]) {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const g = Math.log2(granule);
    const d = m.driver.createDomain({ asid: 1, granule, vaBits });
    const size = 2 ** shiftAt(level, g);
    m.driver.map(d, size, 2 * size, size); // one block (its output need not be RAM)
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, size + 0x1230)).toMatchObject({ status: 'success', addr: 2 * size + 0x1230, size });
    const before = m.smmu.stats();
    m.driver.map(d, size, PA & ~(size - 1), size); // remapped without invalidation: not seen
    expect(m.smmu.translate(0x18, 2 * size - 8)).toMatchObject({ status: 'success', addr: 3 * size - 8 });
    const after = m.smmu.stats();
    expect([after.iotlbHits - before.iotlbHits, after.walkReads - before.walkReads]).toEqual([1, 0]);
  }
});
