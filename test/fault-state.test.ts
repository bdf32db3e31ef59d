// Each fault is reported from its own transaction (QEMU smmuv3_translate: a fresh event and
// SMMUPTWEventInfo per call): nothing of an earlier fault (its type, CLASS, ADDR2, S2) leaks
// into a later one, on every path a translation can fail by (IOTLB miss, IOTLB hit refused,
// the gap between TTB0 and TTB1, stage 2 only), whether the configuration was cached or not.
// The earlier fault is an external abort on a table outside RAM (always recorded, ADDR2 =
// the descriptor address); the later one is of a stage whose faults are not recorded
// (CD.R = 0 / STE.S2R = 0), so a leaked event type would show up as a second record.
// Also: a stage-1 fault of a nested walk whose table addresses went through stage 2 has
// ADDR2 = 0 (QEMU sets the fault address only on the stage-2 walk's error paths).

import { machine, RAM_BASE, type Machine, s1Desc } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { cd, cmdCfgiSte, cmdSync, pteTable, wordsToBytes } from '../src/guest/encode.js';
import type { Domain } from '../src/guest/driver.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const OUTSIDE = 0x100000000; // no RAM, no memory callback: reads abort
const S2_BIT = 1n << 39n;
const cls = (w1: bigint): number => Number((w1 >> 40n) & 3n);


/** Stage 1 with CD.R = 0 (and TTB1 for the gap): 0x1000 read-only, 0x201000 under a level-3 table outside RAM. */
async function quietStage1(profile: Profile, r = false): Promise<{ m: Machine; d: Domain }> {
  const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
  const d = m.driver.createDomain({ asid: 1, vaBits: 39 });
  m.driver.map(d, 0x1000, PA, 0x1000, { readOnly: true });
  m.driver.write64(s1Desc(m, d, 0x200000, 2), pteTable({ addr: OUTSIDE }));
  m.driver.attach(0x18, d);
  m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 1, ttb0: d.root, t0sz: 25, tg0: 0, ttb1: d.root, t1sz: 25, tg1: 2, epd1: false, r })));
  m.driver.invalidateCd(0x18);
  return { m, d };
}

describe.each(['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[])('%s', (profile) => {
  // [what, the later access]: a miss in TTB0, an IOTLB hit refusing a write, the gap between the ranges
  const later: Array<[string, bigint, 'read' | 'write']> = [
    ['an IOTLB miss that faults', 0x5000n, 'read'],
    ['a write refused by an IOTLB hit', 0x1010n, 'write'],
    ['an IOVA between TTB0 and TTB1', 0x0000800000001000n, 'read'],
  ];
  for (const [what, iova, access] of later) {
    test(`after an external abort, ${what} with CD.R = 0 records nothing`, async () => {
      for (const cached of [false, true]) {
        const { m } = await quietStage1(profile);
        expect(m.smmu.translate(0x18, 0x1000).status).toBe('success'); // fills the IOTLB (and the config cache)
        expect(m.smmu.translate(0x18, 0x201000)).toMatchObject({ status: 'fault', event: E.EVT_F_WALK_EABT, recorded: true });
        if (!cached) m.driver.submit([cmdCfgiSte(0x18), cmdSync()]); // the later access decodes the configuration again
        expect(m.smmu.translate64(0x18, iova, access)).toMatchObject({ status: 'fault', event: 0, recorded: false });
        const ev = m.driver.events();
        expect(ev.map((e) => [e.type, e.words[3]])).toEqual([[E.EVT_F_WALK_EABT, BigInt(OUTSIDE + 8)]]);
      }
    });
  }
  test('after an external abort, a recorded translation fault has CLASS and ADDR2 of its own', async () => {
    const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
    const d = m.driver.createDomain({ asid: 1, vaBits: 39 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.write64(s1Desc(m, d, 0x200000, 2), pteTable({ addr: OUTSIDE }));
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x201000).event).toBe(E.EVT_F_WALK_EABT);
    expect(m.smmu.translate(0x18, 0x5000).event).toBe(E.EVT_F_TRANSLATION);
    const ev = m.driver.events();
    expect(ev.map((e) => [e.type, cls(e.words[1]), e.words[1] & S2_BIT, e.words[3]])).toEqual([
      [E.EVT_F_WALK_EABT, E.EVT_CLASS_TT, 0n, BigInt(OUTSIDE + 8)],
      [E.EVT_F_TRANSLATION, profile === 'qemu-7.2' ? 0 : E.EVT_CLASS_IN, 0n, 0n],
    ]);
  });
});

describe.each(['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[])('%s, CD.R = 1', (profile) => {
  test('after an external abort, an IOVA between TTB0 and TTB1 records a translation fault with CLASS and ADDR2 of its own', async () => {
    for (const cached of [false, true]) {
      const { m } = await quietStage1(profile, true);
      expect(m.smmu.translate(0x18, 0x201000).event).toBe(E.EVT_F_WALK_EABT);
      if (!cached) m.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
      expect(m.smmu.translate64(0x18, 0x0000800000001000n)).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION, recorded: true });
      expect(m.driver.events().map((e) => [e.type, cls(e.words[1]), e.words[3]])).toEqual([
        [E.EVT_F_WALK_EABT, E.EVT_CLASS_TT, BigInt(OUTSIDE + 8)],
        [E.EVT_F_TRANSLATION, profile === 'qemu-7.2' ? 0 : E.EVT_CLASS_IN, 0n],
      ]);
    }
  });
});

describe('stage 2 only (QEMU 10.0 and arch)', () => {
  test('after an external abort, a translation fault with S2R = 0 records nothing', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      for (const cached of [false, true]) {
        const m = await machine({ profile, stage: '2' });
        const t = new Stage2Tables(m.driver, { vmid: 2, ipaBits: 36, ste: { r: false } });
        t.map(0x1000, PA, 0x1000);
        m.driver.write64(t.descriptor(0x40000000, 1), pteTable({ addr: OUTSIDE })); // IPA [1G, 2G): a table outside RAM
        m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
        expect(m.smmu.translate(0x18, 0x1000).status).toBe('success');
        expect(m.smmu.translate(0x18, 0x40201000)).toMatchObject({ status: 'fault', event: E.EVT_F_WALK_EABT, recorded: true });
        if (!cached) m.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
        expect(m.smmu.translate(0x18, 0x5000)).toMatchObject({ status: 'fault', event: 0, recorded: false });
        const ev = m.driver.events();
        expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, e.words[3]])).toEqual([[E.EVT_F_WALK_EABT, S2_BIT, BigInt(OUTSIDE + 8)]]);
      }
    }
  });
});

describe('nested (QEMU 10.0)', () => {
  async function nested() {
    const m = await machine({ profile: 'qemu-10.0', stage: 'nested' });
    const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40 });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
    const d = m.driver.createDomain({ asid: 4 });
    return { m, t, d };
  }
  test('a stage-1 translation fault after the tables went through stage 2: S2 = 0, CLASS = IN, ADDR2 = 0', async () => {
    const { m, t, d } = await nested();
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x1000);
    m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
    expect(m.smmu.translate(0x18, 0x3010).event).toBe(E.EVT_F_TRANSLATION); // cold: every table's IPA walked at stage 2
    expect(m.smmu.translate(0x18, 0x3010).event).toBe(E.EVT_F_TRANSLATION); // warm
    const ev = m.driver.events();
    expect(ev.map((e) => [e.words[1] & S2_BIT, cls(e.words[1]), e.words[2], e.words[3]])).toEqual([[0n, E.EVT_CLASS_IN, 0x3010n, 0n], [0n, E.EVT_CLASS_IN, 0x3010n, 0n]]);
  });
  test('after a fault on a stage-1 table (CLASS = TT), a write refused by a cached entry is CLASS = IN with ADDR2 = 0, at the stage that refused it', async () => {
    for (const [ro, s2ap, s2] of [[true, 3, 0n], [false, 1, S2_BIT]] as const) {
      const { m, t, d } = await nested();
      m.driver.map(d, 0x1000, 0x80000000, 0x1000, { readOnly: ro });
      m.driver.map(d, 0x40000000, 0x80200000, 0x1000); // its level-3 table: taken away from stage 2 below
      t.map(0x80000000, PA, 0x1000, { s2ap });
      t.map(0x80200000, PA, 0x1000);
      const l3 = Number(m.driver.read64(s1Desc(m, d, 0x40000000, 2)) & 0x0000fffffffff000n);
      t.unmap(l3, 0x1000);
      m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
      expect(m.smmu.translate(0x18, 0x1000, 'read').status).toBe('success');
      expect(m.smmu.translate(0x18, 0x40000010).event).toBe(E.EVT_F_TRANSLATION);
      expect(m.smmu.translate(0x18, 0x1010, 'write').event).toBe(E.EVT_F_PERMISSION);
      const ev = m.driver.events();
      expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, cls(e.words[1]), e.words[3]])).toEqual([
        [E.EVT_F_TRANSLATION, 0n, E.EVT_CLASS_TT, BigInt(l3)],
        [E.EVT_F_PERMISSION, s2, E.EVT_CLASS_IN, 0n],
      ]);
    }
  });
});
