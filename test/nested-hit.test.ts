// Nested translations served from the IOTLB (QEMU 10.0 smmu_translate / smmu_iotlb_lookup,
// and the architecture's rules on `arch`):
// - a combined entry has the smaller of the two stages' pages, and a lookup tries the
//   stage-1 granule first, then the stage-2 one: the second access to a combined 4K entry
//   under a 16K or 64K stage-1 granule is a hit (no walk; a remap without invalidation is
//   not seen), an access to another 4K page of the same stage-1 page walks;
// - the permission a translation returns: QEMU 10.0 the stage-1 one, `arch` what both
//   stages allow (README "QEMU 10.0 departures");
// - permission checks on hits: QEMU checks writes only, a stage-1 refusal is a stage-1
//   fault, a stage-2 one a stage-2 fault with ADDR2 = 0 recorded as STE.S2R says; `arch`
//   faults a stage-1 refusal at stage 1 and walks again for a stage-2 one (the architected
//   fault with its IPA); reads are checked too.

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import type { Domain } from '../src/guest/driver.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const IPA = 0x80000000;
/** Event record word 1 bits (IHI 0070 7.3): S2 [39]. */
const S2_BIT = 1n << 39n;

interface Nested { m: Machine; t: Stage2Tables; d: Domain }

/** A nested SMMU whose stage 2 maps the driver heap IPA = PA, a domain of stage-1 `granule` and stage-2 `s2granule`. */
async function nested(profile: Profile, granule = 4096, s2granule = 4096, s2r = true): Promise<Nested> {
  const m = await machine({ profile, stage: 'nested' });
  const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40, granule: s2granule, ste: { r: s2r } });
  t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
  const d = m.driver.createDomain({ asid: 4, granule });
  return { m, t, d };
}
const attach = ({ m, t, d }: Nested): void => m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });

describe('combined entries: the smaller page, looked up with the stage-1 then the stage-2 granule', () => {
  for (const [s1g, s2g] of [[0x10000, 0x1000], [0x4000, 0x1000], [0x10000, 0x4000], [0x1000, 0x10000]]) {
    test(`stage-1 ${s1g >> 10}K over stage-2 ${s2g >> 10}K`, async () => {
      for (const profile of ['qemu-10.0', 'arch'] as const) {
        const n = await nested(profile, s1g, s2g);
        const { m, t, d } = n;
        const small = Math.min(s1g, s2g);
        const big = Math.max(s1g, s2g);
        m.driver.map(d, 0x100000, IPA, big, { blocks: false });
        t.map(IPA, PA, big);
        attach(n);
        const io = 0x100000 + small; // the second small page of the big one
        expect(m.smmu.translate(0x18, io + 0x10)).toMatchObject({ status: 'success', addr: PA + small + 0x10, size: small });
        t.map(IPA, PA + 0x40000, big); // remapped at stage 2 without invalidation
        const before = m.smmu.stats();
        expect(m.smmu.translate(0x18, io + 0x20, 'write')).toMatchObject({ status: 'success', addr: PA + small + 0x20, size: small });
        const after = m.smmu.stats();
        expect([after.iotlbHits - before.iotlbHits, after.iotlbMisses - before.iotlbMisses, after.walkReads - before.walkReads]).toEqual([1, 0, 0]);
        if (s1g > s2g) {
          // another stage-2 page of the same stage-1 page: not cached, walks and sees the remap
          expect(m.smmu.translate(0x18, io + small + 0x30).addr).toBe(PA + 0x40000 + 2 * small + 0x30);
          expect(m.smmu.stats().iotlbMisses).toBe(after.iotlbMisses + 1);
        }
      }
    });
  }
});

describe('the permission a nested translation returns', () => {
  // [stage-1 read-only, S2AP, access]: QEMU 10.0 returns the stage-1 permission, arch both stages'
  const cases: Array<[boolean, number, 'read' | 'write', number, number]> = [
    [false, 1, 'read', 3, 1],
    [false, 2, 'write', 3, 2],
    [true, 3, 'read', 1, 1],
    [false, 3, 'write', 3, 3],
    [true, 1, 'read', 1, 1],
  ];
  for (const [ro, s2ap, access, qemu, arch] of cases) {
    test(`stage 1 ${ro ? 'read-only' : 'read-write'}, S2AP ${s2ap}, a ${access}: QEMU 10.0 ${qemu}, arch ${arch}, walked and hit`, async () => {
      for (const profile of ['qemu-10.0', 'arch'] as const) {
        const n = await nested(profile);
        n.m.driver.map(n.d, 0x1000, IPA, 0x1000, { readOnly: ro });
        n.t.map(IPA, PA, 0x1000, { s2ap });
        attach(n);
        const want = profile === 'arch' ? arch : qemu;
        for (let i = 0; i < 2; i++) expect(n.m.smmu.translate(0x18, 0x1010, access)).toMatchObject({ status: 'success', perm: want });
        expect(n.m.smmu.stats().iotlbHits).toBe(1);
      }
    });
  }
  test('a stage-2-only STE returns S2AP on both profiles', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      for (const s2ap of [1, 2, 3]) {
        const m = await machine({ profile, stage: '2' });
        const t = new Stage2Tables(m.driver, { vmid: 2, ipaBits: 36 });
        t.map(IPA, PA, 0x1000, { s2ap });
        m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
        const access = s2ap === 2 ? 'write' : 'read';
        for (let i = 0; i < 2; i++) expect(m.smmu.translate(0x18, IPA + 8, access)).toMatchObject({ status: 'success', perm: s2ap });
      }
    }
  });
});

describe('permission checks on a cached nested entry', () => {
  test('a write after a read of a stage-1 read-only page: F_PERMISSION at stage 1 on both profiles, as CD.R says', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const n = await nested(profile);
      n.m.driver.map(n.d, 0x1000, IPA, 0x1000, { readOnly: true });
      n.t.map(IPA, PA, 0x1000);
      attach(n);
      expect(n.m.smmu.translate(0x18, 0x1000, 'read').status).toBe('success');
      const before = n.m.smmu.stats();
      expect(n.m.smmu.translate(0x18, 0x1010, 'write')).toMatchObject({ status: 'fault', event: E.EVT_F_PERMISSION, recorded: true, perm: 0 });
      expect(n.m.smmu.stats().iotlbHits).toBe(before.iotlbHits + 1);
      expect(n.m.smmu.stats().walkReads).toBe(before.walkReads);
      const ev = n.m.driver.events();
      expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, e.words[2], (e.words[1] >> 35n) & 1n])).toEqual([[E.EVT_F_PERMISSION, 0n, 0x1010n, 0n]]);
    }
  });
  test('a write after a read of a stage-2 read-only page: QEMU 10.0 a stage-2 fault with ADDR2 = 0 as S2R says; arch walks and reports the IPA', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      for (const s2r of [true, false]) {
        const n = await nested(profile, 4096, 4096, s2r);
        n.m.driver.map(n.d, 0x1000, IPA, 0x1000);
        n.t.map(IPA, PA, 0x1000, { s2ap: 1 });
        attach(n);
        expect(n.m.smmu.translate(0x18, 0x1000, 'read').status).toBe('success');
        const before = n.m.smmu.stats();
        // an unrecorded fault reports no event (QEMU's event type stays 'none')
        expect(n.m.smmu.translate(0x18, 0x1010, 'write')).toMatchObject({ status: 'fault', event: s2r ? E.EVT_F_PERMISSION : 0, recorded: s2r, perm: 0 });
        const walked = n.m.smmu.stats().walkReads - before.walkReads;
        if (profile === 'arch') expect(walked).toBeGreaterThan(0);
        else expect(walked).toBe(0);
        const ev = n.m.driver.events();
        if (!s2r) {
          expect(ev).toEqual([]);
          continue;
        }
        expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, e.words[2], e.words[3]])).toEqual([[E.EVT_F_PERMISSION, S2_BIT, 0x1010n, profile === 'arch' ? BigInt(IPA + 0x10) : 0n]]);
      }
    }
  });
  test('a read after a write of a stage-2 write-only page: QEMU 10.0 translates (no check of reads), arch faults at stage 2', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const n = await nested(profile);
      n.m.driver.map(n.d, 0x1000, IPA, 0x1000);
      n.t.map(IPA, PA, 0x1000, { s2ap: 2 });
      attach(n);
      expect(n.m.smmu.translate(0x18, 0x1000, 'write').status).toBe('success');
      const r = n.m.smmu.translate(0x18, 0x1010, 'read');
      if (profile === 'qemu-10.0') {
        expect(r).toMatchObject({ status: 'success', addr: PA + 0x10, perm: 3 });
        expect(n.m.driver.events()).toEqual([]);
      } else {
        expect(r).toMatchObject({ status: 'fault', event: E.EVT_F_PERMISSION, perm: 0 });
        expect(n.m.driver.events().map((e) => [e.words[1] & S2_BIT, e.words[3]])).toEqual([[S2_BIT, BigInt(IPA + 0x10)]]);
      }
    }
  });
});
