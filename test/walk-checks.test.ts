// The checks a walk makes, in their order, per profile (QEMU 10.0 smmu_ptw_64_s1/_s2,
// IHI 0070 3.4 and 5.2, Arm ARM D8):
// - a stage-1 leaf: QEMU 10.0 checks the access flag (unless CD.AFFD), then AP, then the
//   output against the CD's IPS; the architecture reports the address size fault first;
//   QEMU 7.2 checks AP only;
// - a stage-1 table address beyond IPS: an address size fault on `arch` only (QEMU reads it);
// - a descriptor of type 0b01 at level 3 is reserved (a translation fault); at level 2 it
//   is a block;
// - a stage-2 leaf: the access flag (unless STE.S2AFFD), then S2AP, then S2PS, each with
//   ADDR2 = the IPA;
// - the stage-2 input bound (S2T0SZ): the last IPA below it translates, the first at it is
//   a translation fault even where IPA 0 is mapped;
// - a nested (QEMU 10.0) stage-1 table whose IPA is beyond the CD's IPS: a stage-1 address
//   size fault (S2 = 0, CLASS = TT, ADDR2 = that IPA).

import { machine, RAM_BASE, type Machine, s1Desc } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { pteLeaf, pteS2Leaf, pteTable } from '../src/guest/encode.js';
import type { Domain } from '../src/guest/driver.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const S2_BIT = 1n << 39n;
const cls = (w1: bigint): number => Number((w1 >> 40n) & 3n);

async function stage1(profile: Profile): Promise<Machine> {
  return profile === 'qemu-7.2' ? machine({ profile }) : machine({ profile, stage: '1' });
}


describe('stage-1 leaf checks and their order', () => {
  // the leaf at 0x1000: read-only, AF as given, output 0x100000000 (beyond IPS 0: 32 bits)
  const want: Record<Profile, Record<string, number | 'success'>> = {
    'qemu-7.2': { 'af0 read': 'success', 'af0 write': E.EVT_F_PERMISSION, 'af1 read': 'success', 'af1 write': E.EVT_F_PERMISSION },
    'qemu-10.0': { 'af0 read': E.EVT_F_ACCESS, 'af0 write': E.EVT_F_ACCESS, 'af1 read': E.EVT_F_ADDR_SIZE, 'af1 write': E.EVT_F_PERMISSION },
    arch: { 'af0 read': E.EVT_F_ADDR_SIZE, 'af0 write': E.EVT_F_ADDR_SIZE, 'af1 read': E.EVT_F_ADDR_SIZE, 'af1 write': E.EVT_F_ADDR_SIZE },
  };
  for (const profile of ['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[]) {
    test(`${profile}: a read-only leaf beyond IPS, with and without AF`, async () => {
      for (const af of [false, true]) {
        for (const access of ['read', 'write'] as const) {
          const m = await stage1(profile);
          const d = m.driver.createDomain({ asid: 1, cd: { ips: 0, affd: false } });
          m.driver.map(d, 0x1000, PA, 0x1000);
          m.driver.write64(s1Desc(m, d, 0x1000, 3), pteLeaf({ addr: 0x100000000, af, readOnly: true }, 3));
          m.driver.attach(0x18, d);
          const r = m.smmu.translate(0x18, 0x1010, access);
          const w = want[profile][`af${af ? 1 : 0} ${access}`];
          expect([af, access, w === 'success' ? r.status : r.event]).toEqual([af, access, w]);
          // and with CD.AFFD = 1 the access flag is not checked
          if (profile === 'qemu-10.0' && !af && access === 'read') {
            const m2 = await stage1(profile);
            const d2 = m2.driver.createDomain({ asid: 1, cd: { ips: 0, affd: true } });
            m2.driver.map(d2, 0x1000, PA, 0x1000);
            m2.driver.write64(s1Desc(m2, d2, 0x1000, 3), pteLeaf({ addr: 0x100000000, af: false, readOnly: true }, 3));
            m2.driver.attach(0x18, d2);
            expect(m2.smmu.translate(0x18, 0x1010).event).toBe(E.EVT_F_ADDR_SIZE);
          }
        }
      }
    });
  }
  test('the last output page below IPS translates on every profile', async () => {
    for (const profile of ['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[]) {
      const m = await stage1(profile);
      const d = m.driver.createDomain({ asid: 1, cd: { ips: 0, affd: false } });
      m.driver.map(d, 0x1000, 0xfffff000, 0x1000);
      m.driver.attach(0x18, d);
      expect(m.smmu.translate(0x18, 0x1ff8, 'write')).toMatchObject({ status: 'success', addr: 0xfffffff8 });
    }
  });
});

describe('stage-1 tables', () => {
  test('a table address beyond IPS: F_ADDR_SIZE on arch; QEMU reads there (outside RAM: F_WALK_EABT)', async () => {
    for (const profile of ['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[]) {
      const m = await stage1(profile);
      const d = m.driver.createDomain({ asid: 1, cd: { ips: 0 } });
      m.driver.map(d, 0x1000, PA, 0x1000);
      m.driver.write64(s1Desc(m, d, 0x200000, 2), pteTable({ addr: 0x100000000 }));
      m.driver.attach(0x18, d);
      expect(m.smmu.translate(0x18, 0x200010).event).toBe(profile === 'arch' ? E.EVT_F_ADDR_SIZE : E.EVT_F_WALK_EABT);
      expect(m.smmu.translate(0x18, 0x1010).status).toBe('success');
    }
  });
  test('descriptor type 0b01: reserved at level 3 (F_TRANSLATION), a block at level 2', async () => {
    for (const profile of ['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[]) {
      const m = await stage1(profile);
      const d = m.driver.createDomain({ asid: 1 });
      m.driver.map(d, 0x1000, PA, 0x1000);
      m.driver.write64(s1Desc(m, d, 0x2000, 3), pteLeaf({ addr: PA }, 3) & ~2n);
      m.driver.write64(s1Desc(m, d, 0x400000, 2), pteLeaf({ addr: 0x80000000 }, 2));
      m.driver.attach(0x18, d);
      expect(m.smmu.translate(0x18, 0x2010).event).toBe(E.EVT_F_TRANSLATION);
      expect(m.smmu.translate(0x18, 0x412345)).toMatchObject({ status: 'success', addr: 0x80012345, size: 0x200000 });
    }
  });
});

describe('stage-2 leaf checks and their order', () => {
  // 32-bit IPA, S2PS = 0 (32 bits); the leaf at IPA 0x1000: S2AP read-only, output beyond S2PS
  for (const profile of ['qemu-10.0', 'arch'] as const) {
    test(`${profile}: access flag, then S2AP, then S2PS, each with ADDR2 = IPA`, async () => {
      const cases: Array<[boolean, boolean, 'read' | 'write', number]> = [
        [false, false, 'write', E.EVT_F_ACCESS], [false, false, 'read', E.EVT_F_ACCESS],
        [true, false, 'write', E.EVT_F_PERMISSION], [true, false, 'read', E.EVT_F_ADDR_SIZE],
        [false, true, 'write', E.EVT_F_PERMISSION], [false, true, 'read', E.EVT_F_ADDR_SIZE],
      ];
      for (const [af, affd, access, ev] of cases) {
        const m = await machine({ profile, stage: '2' });
        const t = new Stage2Tables(m.driver, { vmid: 1, ipaBits: 32, ste: { ps: 0, affd } });
        t.map(0x1000, PA, 0x1000);
        m.driver.write64(t.descriptor(0x1000, 3), pteS2Leaf({ addr: 0x100000000, s2ap: 1, af }, 3));
        m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
        expect([af, affd, access, m.smmu.translate(0x18, 0x1234, access).event]).toEqual([af, affd, access, ev]);
        expect(m.driver.events().map((e) => [e.words[1] & S2_BIT, e.words[3]])).toEqual([[S2_BIT, 0x1234n]]);
      }
    });
  }
  test('descriptor type 0b01 at level 3 is reserved at stage 2 too', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await machine({ profile, stage: '2' });
      const t = new Stage2Tables(m.driver, { vmid: 1, ipaBits: 36 });
      t.map(0x1000, PA, 0x2000);
      m.driver.write64(t.descriptor(0x2000, 3), pteS2Leaf({ addr: PA + 0x1000 }, 3) & ~2n);
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
      expect(m.smmu.translate(0x18, 0x2010).event).toBe(E.EVT_F_TRANSLATION);
    }
  });
});

describe('the stage-2 input bound', () => {
  // [granule, IPA bits, S2SL0]: start tables that need no concatenation (QEMU 10.0 looks up the first one only)
  for (const [granule, bits, sl0] of [[0x1000, 32, 1], [0x1000, 39, 1], [0x4000, 36, 1], [0x10000, 42, 1]]) {
    test(`${granule >> 10}K granule, ${bits}-bit IPA: the last page below 2^${bits} translates, 2^${bits} faults though IPA 0 is mapped`, async () => {
      for (const profile of ['qemu-10.0', 'arch'] as const) {
        const m = await machine({ profile, stage: '2' });
        const t = new Stage2Tables(m.driver, { vmid: 1, granule, ipaBits: bits, sl0 });
        t.map(0, PA, granule);
        t.map(2 ** bits - granule, PA + granule, granule);
        m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
        const top = BigInt(2 ** bits);
        expect(m.smmu.translate64(0x18, top - 8n, 'write')).toMatchObject({ status: 'success', addr: PA + 2 * granule - 8 });
        expect(m.smmu.translate64(0x18, top)).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION });
        expect(m.smmu.translate64(0x18, 0x10n).addr).toBe(PA + 0x10);
        expect(m.driver.events().map((e) => e.words[3])).toEqual([top]);
      }
    });
  }
});

describe('nested (QEMU 10.0): stage-1 table addresses bounded by the CD\'s IPS', () => {
  test('a table IPA at 2^32 with IPS 0: F_ADDR_SIZE, S2 = 0, CLASS = TT, ADDR2 = the IPA; below it translates', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: 'nested' });
    const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40 });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
    const d = m.driver.createDomain({ asid: 4, cd: { ips: 0 } });
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x1000);
    // a level-3 table for 0x200000 at IPA 2^32 (mapped at stage 2 to a copy of the real one)
    const l3 = Number(m.driver.read64(s1Desc(m, d, 0x1000, 2)) & 0x0000fffffffff000n);
    t.map(0x100000000, l3, 0x1000);
    m.driver.write64(s1Desc(m, d, 0x200000, 2), pteTable({ addr: 0x100000000 }));
    // and one for 0x400000 at the last page below 2^32
    t.map(0xfffff000, l3, 0x1000);
    m.driver.write64(s1Desc(m, d, 0x400000, 2), pteTable({ addr: 0xfffff000 }));
    m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x18, 0x401010).addr).toBe(PA + 0x10); // the same level-3 table, reached through 0xfffff000
    expect(m.smmu.translate(0x18, 0x201010).event).toBe(E.EVT_F_ADDR_SIZE);
    const ev = m.driver.events();
    expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, cls(e.words[1]), e.words[2], e.words[3]])).toEqual([[E.EVT_F_ADDR_SIZE, 0n, E.EVT_CLASS_TT, 0x201010n, 0x100000000n]]);
  });
});
