// Stage 2 and nested translation (the qemu-10.0 profile and arch): ID registers per
// stage, STE S2 checks, the stage-2 walk for every granule and start level,
// concatenated start tables, stage-2 faults and their records, VMID-tagged IOTLB entries
// shared by the STEs of a VMID, TLBI_S2_IPA (ranges) and TLBI_S12_VMALL, nested
// combination, command legality per stage, and where qemu-10.0 and arch differ.

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { CommandError, type Domain } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiS2Ipa, cmdTlbiS12Vmall, cmdTlbiVa, cmdTlbiNhAll, cmdTlbiNhAsid, cmdCfgiSte, cmdCfgiCd } from '../src/guest/encode.js';
import type { Profile, Stage } from '../src/types.js';
import * as E from '../src/arch/events.js';
import * as R from '../src/arch/registers.js';

const PA = RAM_BASE + 0x900000;
/** Event record word 1 bits (IHI 0070 7.3): RnW [35], S2 [39], CLASS [41:40]. */
const S2_BIT = 1n << 39n;
const cls = (w1: bigint): number => Number((w1 >> 40n) & 3n);

async function m10(stage: Stage, profile: Profile = 'qemu-10.0'): Promise<Machine> {
  return machine({ profile, stage });
}

function s2(m: Machine, o: ConstructorParameters<typeof Stage2Tables>[1]): Stage2Tables {
  return new Stage2Tables(m.driver, o);
}

describe('ID registers and STE configs per stage (QEMU 10.0)', () => {
  test('IDR0 has VMID16 and the stages; IDR3 has XNX with stage 2', async () => {
    const want: Array<[Stage, number, number]> = [['1', 0x0d44101a, 0x1404], ['2', 0x0d441019, 0x1414], ['nested', 0x0d44101b, 0x1414]];
    for (const [stage, idr0, idr3] of want) {
      const m = await m10(stage, 'qemu-10.0');
      expect(m.smmu.mmioRead(R.R_IDR0, 4)).toBe(idr0);
      expect(m.smmu.mmioRead(R.R_IDR3, 4)).toBe(idr3);
    }
    expect((await machine({ profile: 'qemu-10.0' })).smmu.stage).toBe('nested'); // QEMU 10's virt
    await expect(machine({ profile: 'qemu-7.2', stage: '2' })).rejects.toThrow(/stage/);
    await expect(machine({ profile: 'qemu-10.0', stage: '3' as Stage })).rejects.toThrow(/stage/);
  });

  test('a stage the SMMU does not implement is C_BAD_STE', async () => {
    const one = await m10('1');
    one.driver.setSte(0x18, { config: 6, s2: s2(one, { vmid: 1 }).steFields() });
    expect(one.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_C_BAD_STE);
    const two = await m10('2');
    const d = two.driver.createDomain({ asid: 1 });
    two.driver.attach(0x18, d);
    expect(two.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_C_BAD_STE);
  });

  const bad: Array<[string, (t: Stage2Tables) => object]> = [
    ['S2TG reserved', (t) => ({ s2: { ...t.steFields(), tg: 3 } })],
    ['S2SL0 = 3', (t) => ({ s2: { ...t.steFields(), sl0: 3 } })],
    ['S2AA64 = 0 (QEMU 10.0 aborts)', (t) => ({ s2: { ...t.steFields(), aa64: false } })],
    ['S2ENDI = 1', (t) => ({ s2: { ...t.steFields(), endi: true } })],
    ['S2S = 1', (t) => ({ s2: { ...t.steFields(), s: true } })],
    ['S2T0SZ = 40', (t) => ({ s2: { ...t.steFields(), t0sz: 40 } })],
    ['S2T0SZ below 64 - S2PS', (t) => ({ s2: { ...t.steFields(), ps: 0, t0sz: 28 } })],
    ['S2TTB beyond S2PS', (t) => ({ s2: { ...t.steFields(), ps: 0, t0sz: 32, ttb: 0x100000000 } })],
    ['more than 16 concatenated tables', (t) => ({ s2: { ...t.steFields(), t0sz: 64 - 35, sl0: 0 } })],
    ['S1CDMax != 0 with stage 1 off', (t) => ({ s1cdmax: 1, s2: t.steFields() })],
    ['S1STALLD = 1 with stage 1 off', (t) => ({ s1stalld: true, s2: t.steFields() })],
  ];
  for (const [name, f] of bad) {
    test(`${name} is C_BAD_STE`, async () => {
      const m = await m10('2');
      const t = s2(m, { vmid: 1, ipaBits: 32 });
      t.map(0x1000, PA, 0x1000);
      m.driver.setSte(0x18, { config: 6, ...f(t) });
      const r = m.smmu.translate(0x18, 0x1000);
      expect(r.event).toBe(E.EVT_C_BAD_STE);
      expect(m.driver.events().map((e) => e.type)).toEqual([E.EVT_C_BAD_STE]);
    });
  }
});

describe('stage-2 walk: every granule and start level', () => {
  // [granule, S2SL0, IPA bits]: the start level is 2 - SL0 (4K) or 3 - SL0 (16K, 64K)
  const configs: Array<[number, number, number]> = [
    [4096, 0, 30], [4096, 1, 39], [4096, 2, 44],
    [16384, 0, 25], [16384, 1, 36], [16384, 2, 44],
    [65536, 0, 29], [65536, 1, 42], [65536, 2, 44],
  ];
  for (const profile of ['qemu-10.0', 'arch'] as const) {
    for (const [granule, sl0, bits] of configs) {
      test(`${profile}: ${granule / 1024}K granule, S2SL0 ${sl0}, ${bits}-bit IPA`, async () => {
        const m = await m10('2', profile);
        const t = s2(m, { vmid: 3, granule, ipaBits: bits, sl0 });
        const top = 2 ** bits - 3 * granule; // the last start-table entry
        t.map(top, PA, granule);
        t.map(granule, PA + granule, granule);
        m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
        expect(m.smmu.translate(0x18, top + 0x123, 'write')).toMatchObject({ status: 'success', addr: PA + 0x123, size: granule });
        expect(m.smmu.translate(0x18, granule + 8)).toMatchObject({ status: 'success', addr: PA + granule + 8 });
        expect(m.smmu.translate(0x18, 2 * granule).status).toBe('fault');
      });
    }
  }

  test('blocks at levels 1 and 2 (4K granule)', async () => {
    const m = await m10('2');
    const t = s2(m, { vmid: 1, granule: 4096, ipaBits: 40 });
    t.map(0x40000000, 0x40000000, 0x40000000, { level: 1 }); // 1 GiB block: RAM identity
    t.map(0x80200000, PA & ~0x1fffff, 0x200000, { level: 2 });
    m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    expect(m.smmu.translate(0x18, 0x40001234)).toMatchObject({ status: 'success', addr: 0x40001234, size: 0x40000000 });
    expect(m.smmu.translate(0x18, 0x80212345)).toMatchObject({ status: 'success', addr: (PA & ~0x1fffff) + 0x12345, size: 0x200000 });
  });

  test('a block\'s output address bits below the block size (RES0) are ignored', async () => {
    const m = await m10('2');
    const t = s2(m, { vmid: 1, granule: 4096, ipaBits: 40 });
    t.map(0x80200000, PA & ~0x1fffff, 0x200000, { level: 2 });
    const desc = t.descriptor(0x80200000, 2);
    m.driver.write64(desc, m.driver.read64(desc) | 0x1ff000n);
    m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    expect(m.smmu.translate(0x18, 0x80212345)).toMatchObject({ status: 'success', addr: (PA & ~0x1fffff) + 0x12345, size: 0x200000 });
  });
});

describe('concatenated start tables', () => {
  // 4K granule, 33-bit IPA, S2SL0 = 0: start level 2 with 8 concatenated tables
  async function concat(profile: Profile) {
    const m = await m10('2', profile);
    const t = s2(m, { vmid: 1, granule: 4096, ipaBits: 33 });
    expect(t.startLevel).toBe(2);
    t.map(0x1000, PA, 0x1000); // first table
    t.map(0x140000000, PA + 0x1000, 0x1000); // sixth table, index 0
    m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    return m;
  }
  test('arch: each IPA is looked up in its table', async () => {
    const m = await concat('arch');
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x18, 0x140000010).addr).toBe(PA + 0x1010);
  });
  test('qemu-10.0: the start-table mask sends every IPA to the first table', async () => {
    const m = await concat('qemu-10.0');
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    const r = m.smmu.translate(0x18, 0x140000010);
    expect(r).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION });
    const [ev] = m.driver.events();
    expect(ev.words[1] & S2_BIT).toBe(S2_BIT);
    expect(ev.words[3]).toBe(0x140000010n);
  });
  test('qemu-10.0: a start level deeper than the IPA size needs reads the table at 0; arch refuses the STE', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await m10('2', profile);
      const t = s2(m, { vmid: 1, granule: 4096, ipaBits: 32, sl0: 2 }); // level 0 for a 32-bit IPA
      t.map(0x1000, PA, 0x1000);
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      // nothing at PA 0 in this machine: QEMU's read of it aborts the walk here (QEMU's virt has zeroed flash there)
      expect(m.smmu.translate(0x18, 0x1000).event).toBe(profile === 'arch' ? E.EVT_C_BAD_STE : E.EVT_F_WALK_EABT);
    }
  });
});

describe('stage-2 faults', () => {
  async function one(o: { s2ap?: number; af?: boolean; ste?: object } = {}) {
    const m = await m10('2');
    const t = s2(m, { vmid: 2, ipaBits: 36, ste: o.ste });
    t.map(0x80000000, PA, 0x1000, { s2ap: o.s2ap, af: o.af });
    m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    return m;
  }
  test('translation fault: S2 = 1, CLASS = IN, ADDR = IOVA, ADDR2 = IPA, RnW', async () => {
    const m = await one();
    expect(m.smmu.translate(0x18, 0x80001234, 'read').event).toBe(E.EVT_F_TRANSLATION);
    const [ev] = m.driver.events();
    expect(ev.words[1] & S2_BIT).toBe(S2_BIT);
    expect(cls(ev.words[1])).toBe(E.EVT_CLASS_IN);
    expect((ev.words[1] >> 35n) & 1n).toBe(1n);
    expect(ev.words[2]).toBe(0x80001234n);
    expect(ev.words[3]).toBe(0x80001234n);
  });
  test('S2AP: a write to a read-only page is F_PERMISSION at stage 2; S2R = 0 records nothing', async () => {
    const m = await one({ s2ap: 1 });
    expect(m.smmu.translate(0x18, 0x80000010, 'write').event).toBe(E.EVT_F_PERMISSION);
    const [ev] = m.driver.events();
    expect([ev.words[1] & S2_BIT, ev.words[3]]).toEqual([S2_BIT, 0x80000010n]);
    const quiet = await one({ s2ap: 1, ste: { r: false } });
    expect(quiet.smmu.translate(0x18, 0x80000010, 'write')).toMatchObject({ status: 'fault', recorded: false });
    expect(quiet.driver.events()).toEqual([]);
  });
  test('S2AP: a read of a write-only page is F_PERMISSION', async () => {
    const m = await one({ s2ap: 2 });
    expect(m.smmu.translate(0x18, 0x80000010, 'read').event).toBe(E.EVT_F_PERMISSION);
    expect(m.smmu.translate(0x18, 0x80000010, 'write').status).toBe('success');
  });
  test('access flag: F_ACCESS at stage 2 unless S2AFFD', async () => {
    const m = await one({ af: false, ste: { affd: false } });
    expect(m.smmu.translate(0x18, 0x80000010).event).toBe(E.EVT_F_ACCESS);
    expect((await one({ af: false })).smmu.translate(0x18, 0x80000010).status).toBe('success');
  });
  test('an IPA beyond S2T0SZ is F_TRANSLATION at stage 2; one beyond the 44-bit IAS a stage-1 fault never recorded', async () => {
    const m = await one();
    expect(m.smmu.translate64(0x18, 1n << 36n).event).toBe(E.EVT_F_TRANSLATION);
    expect(m.driver.events()[0].words[3]).toBe(1n << 36n);
    expect(m.smmu.translate64(0x18, 1n << 44n)).toMatchObject({ status: 'fault', recorded: false });
    expect(m.driver.events()).toEqual([]);
  });
  test('a stage-2 table outside RAM is F_WALK_EABT at stage 2, recorded even with S2R = 0', async () => {
    const m = await one({ ste: { r: false, ttb: 0x100000000 } });
    expect(m.smmu.translate(0x18, 0x80000000).event).toBe(E.EVT_F_WALK_EABT);
    const [ev] = m.driver.events();
    expect(ev.words[1] & S2_BIT).toBe(S2_BIT);
    expect(cls(ev.words[1])).toBe(E.EVT_CLASS_IN);
  });
});

describe('VMID-tagged IOTLB entries and stage-2 invalidation', () => {
  async function shared() {
    const m = await m10('2');
    const t = s2(m, { vmid: 5, ipaBits: 36 });
    t.map(0x100000, PA, 0x4000);
    m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    m.driver.setSte(0x20, { config: 6, s2: t.steFields() });
    m.driver.setSte(0x28, { config: 6, s2: { ...t.steFields(), vmid: 6 } });
    for (let p = 0; p < 4; p++) expect(m.smmu.translate(0x18, 0x100000 + p * 0x1000).addr).toBe(PA + p * 0x1000);
    t.map(0x100000, PA + 0x10000, 0x4000); // remapped without invalidation
    return { m, t };
  }
  const at = (m: Machine, sid: number, p: number): number => m.smmu.translate(sid, 0x100000 + p * 0x1000).addr - PA;

  test('every STE of a VMID shares the entries; another VMID walks', async () => {
    const { m } = await shared();
    expect(at(m, 0x20, 0)).toBe(0); // stale: the entry device 0x18 filled
    expect(at(m, 0x28, 0)).toBe(0x10000);
  });
  test('TLBI_S2_IPA with a range drops the pages of that VMID in the range only', async () => {
    const { m } = await shared();
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 6, addr: 0x100000, tg: 1, num: 3 }), cmdSync()]); // another VMID
    expect([0, 1, 2, 3].map((p) => at(m, 0x18, p))).toEqual([0, 0x1000, 0x2000, 0x3000]);
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 5, addr: 0x101000, tg: 1, num: 1 }), cmdSync()]); // pages 1 and 2
    expect([0, 1, 2, 3].map((p) => at(m, 0x20, p))).toEqual([0, 0x11000, 0x12000, 0x3000]);
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 5, addr: 0x103000 }), cmdSync()]); // one page, no range
    expect(at(m, 0x20, 3)).toBe(0x13000);
  });
  test('TLBI_S12_VMALL drops every entry of the VMID', async () => {
    const { m } = await shared();
    m.driver.submit([cmdTlbiS12Vmall(5), cmdSync()]);
    expect([0, 1, 2, 3].map((p) => at(m, 0x18, p))).toEqual([0x10000, 0x11000, 0x12000, 0x13000]);
  });
  test('TLBI_NH_VAA (any ASID): QEMU 10.0 also drops stage-2 entries of its VMID whose IPA is the address; arch does not', async () => {
    const am = await m10('nested', 'arch');
    const at2 = s2(am, { vmid: 5, ipaBits: 36 });
    at2.map(0x100000, PA, 0x1000);
    am.driver.setSte(0x18, { config: 6, s2: at2.steFields() });
    am.smmu.translate(0x18, 0x100000);
    at2.map(0x100000, PA + 0x10000, 0x1000);
    am.driver.submit([cmdTlbiVa({ vmid: 5, addr: 0x100000 }), cmdSync()]);
    expect(at(am, 0x18, 0)).toBe(0);
    const nm = await m10('nested');
    expect(nm.smmu.stage).toBe('nested');
    // stage-2 STEs on a nested SMMU (TLBI_NH_* are legal there)
    const t = s2(nm, { vmid: 5, ipaBits: 36 });
    t.map(0x100000, PA, 0x2000);
    nm.driver.setSte(0x18, { config: 6, s2: t.steFields() });
    nm.smmu.translate(0x18, 0x100000);
    nm.smmu.translate(0x18, 0x101000);
    t.map(0x100000, PA + 0x10000, 0x2000);
    nm.driver.submit([cmdTlbiVa({ vmid: 5, addr: 0x101000 }), cmdSync()]);
    expect([0, 1].map((p) => at(nm, 0x18, p))).toEqual([0, 0x11000]);
  });
});

/** Descriptor address of the stage-1 table holding `iova`'s entry at `level` (read through guest memory). */
function s1Table(m: Machine, d: Domain, iova: number, level: number): number {
  let table = d.root;
  for (let l = d.startLevel; l < level; l++) {
    const idx = Math.floor(iova / 2 ** (12 + (3 - l) * 9)) % 512;
    table = Number(m.driver.read64(table + idx * 8) & 0x0000fffffffff000n);
  }
  return table;
}

describe('nested translation', () => {
  /** A nested SMMU whose stage 2 maps the driver heap IPA = PA (so stage-1 structures are where the driver put them). */
  async function nested(profile: Profile = 'qemu-10.0', s2o: { r?: boolean } = {}) {
    const m = await m10('nested', profile);
    const t = s2(m, { vmid: 9, ipaBits: 40, ste: { r: s2o.r } });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000); // pages, so that one can be taken away
    const d = m.driver.createDomain({ asid: 4 });
    return { m, t, d };
  }
  const attach = (m: Machine, t: Stage2Tables, d: Domain, sid = 0x18): void =>
    m.driver.setSte(sid, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });

  test('a stage-1 page over a stage-2 block, and a stage-1 block over stage-2 pages: the smaller page', async () => {
    const { m, t, d } = await nested();
    const block = RAM_BASE + 0xa00000; // 2 MiB aligned
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, block, 0x200000, { level: 2 });
    m.driver.map(d, 0x200000, 0x80200000, 0x200000); // a stage-1 2 MiB block
    t.map(0x80200000, block + 0x1000, 0x4000); // stage-2 pages
    attach(m, t, d);
    expect(m.smmu.translate(0x18, 0x1234)).toMatchObject({ status: 'success', addr: block + 0x234, size: 0x1000 });
    expect(m.smmu.translate(0x18, 0x201234)).toMatchObject({ status: 'success', addr: block + 0x2234, size: 0x1000 });
    expect(m.smmu.translate(0x18, 0x1234).addr).toBe(block + 0x234); // from the IOTLB
  });
  test('a stage-2 fault after stage 1: S2 = 1, CLASS = IN, ADDR2 = IPA, recorded as S2R says', async () => {
    for (const r of [true, false]) {
      const { m, t, d } = await nested('qemu-10.0', { r });
      m.driver.map(d, 0x1000, 0x80000000, 0x1000);
      attach(m, t, d);
      expect(m.smmu.translate(0x18, 0x1010)).toMatchObject({ status: 'fault', recorded: r });
      const ev = m.driver.events();
      if (!r) {
        expect(ev).toEqual([]);
        continue;
      }
      expect(ev[0].type).toBe(E.EVT_F_TRANSLATION);
      expect([ev[0].words[1] & S2_BIT, cls(ev[0].words[1]), ev[0].words[2], ev[0].words[3]]).toEqual([S2_BIT, E.EVT_CLASS_IN, 0x1010n, 0x80000010n]);
    }
  });
  test('the CD address goes through stage 2 (CLASS = CD), at config decode: nothing cached after a fault', async () => {
    const { m, t, d } = await nested();
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x1000);
    t.unmap(d.cdAddr & ~0xfff, 0x1000);
    attach(m, t, d);
    for (let i = 0; i < 2; i++) expect(m.smmu.translate(0x18, 0x1010).event).toBe(E.EVT_F_TRANSLATION);
    const ev = m.driver.events();
    expect(ev).toHaveLength(2);
    expect([ev[0].words[1] & S2_BIT, cls(ev[0].words[1]), ev[0].words[2], ev[0].words[3]]).toEqual([S2_BIT, E.EVT_CLASS_CD, 0x1010n, BigInt(d.cdAddr)]);
  });
  test('qemu-10.0: a stage-2 fault on a stage-1 table is reported with S2 = 0, CLASS = TT; arch: S2 = 1', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const { m, t, d } = await nested(profile);
      m.driver.map(d, 0x1000, 0x80000000, 0x1000);
      t.map(0x80000000, PA, 0x1000);
      const l3 = s1Table(m, d, 0x1000, 3);
      t.unmap(l3, 0x1000);
      attach(m, t, d);
      expect(m.smmu.translate(0x18, 0x1010).event).toBe(E.EVT_F_TRANSLATION);
      const [ev] = m.driver.events();
      expect(cls(ev.words[1])).toBe(E.EVT_CLASS_TT);
      expect(ev.words[1] & S2_BIT).toBe(profile === 'arch' ? S2_BIT : 0n);
      expect(ev.words[3]).toBe(BigInt(profile === 'arch' ? l3 + 8 : l3)); // arch: the descriptor's IPA; QEMU: the table's
    }
  });
  test('qemu-10.0: a moved stage-1 table is seen only after TLBI_S2_IPA of its IPA (the stage-2 entry is cached)', async () => {
    const { m, t, d } = await nested();
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x2000);
    attach(m, t, d);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    const l3 = s1Table(m, d, 0x1000, 3);
    const copy = m.driver.alloc(0x1000);
    m.smmu.writeMemory(copy, m.smmu.readMemory(l3, 0x1000));
    m.driver.write64(copy + 8, m.driver.read64(l3 + 8) + 0x1000n); // the moved table maps the next page
    t.map(l3, copy, 0x1000); // the table's IPA now leads to the copy
    m.driver.submit([cmdTlbiVa({ asid: 4, vmid: 9, addr: 0x1000 }), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10); // the stage-2 entry of the table's IPA still holds
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 9, addr: l3 }), cmdTlbiVa({ asid: 4, vmid: 9, addr: 0x1000 }), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x1010);
  });
  test('TLBI_S2_IPA leaves combined entries; TLBI_NH_ASID with the VMID drops them; stage-1 STEs carry S2VMID', async () => {
    const { m, t, d } = await nested();
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x1000);
    attach(m, t, d);
    m.driver.setSte(0x20, { config: 5, s1ctxptr: d.cdAddr, s2: { ...t.steFields(), vmid: 3 } }); // stage 1 only, VMID 3
    m.driver.map(d, 0x2000, PA + 0x2000, 0x1000);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x20, 0x2010).addr).toBe(PA + 0x2010);
    t.map(0x80000000, PA + 0x5000, 0x1000);
    m.driver.map(d, 0x2000, PA + 0x6000, 0x1000);
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 9, addr: 0x80000000 }), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10); // combined entry stays
    m.driver.submit([cmdTlbiNhAsid(4, 0), cmdSync()]); // Linux's VMID 0 misses both
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x20, 0x2010).addr).toBe(PA + 0x2010);
    m.driver.submit([cmdTlbiNhAsid(4, 9), cmdTlbiNhAll(3), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x5010);
    expect(m.smmu.translate(0x20, 0x2010).addr).toBe(PA + 0x6010);
  });
  test('CFGI_CD alone does not see a moved CD: its stage-2 translation is cached too', async () => {
    const { m, t, d } = await nested();
    m.driver.map(d, 0x1000, 0x80000000, 0x1000);
    t.map(0x80000000, PA, 0x1000);
    attach(m, t, d);
    expect(m.smmu.translate(0x18, 0x1010).status).toBe('success');
    const page = d.cdAddr & ~0xfff;
    t.map(page, RAM_BASE + 0xf00000, 0x1000); // the CD's IPA now leads to an empty page
    m.driver.submit([cmdCfgiCd(0x18), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).status).toBe('success');
    m.driver.submit([cmdTlbiS2Ipa({ vmid: 9, addr: page }), cmdCfgiSte(0x18), cmdSync()]);
    expect(m.smmu.translate(0x18, 0x1010).event).toBe(E.EVT_C_BAD_CD); // an all-zero CD
  });
});

describe('where qemu-10.0 and arch differ on cached entries', () => {
  test('a write after a read of a stage-2 read-only page: QEMU 10.0 drops it unrecorded, arch records F_PERMISSION', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await m10('2', profile);
      const t = s2(m, { vmid: 2, ipaBits: 36 });
      t.map(0x80000000, PA, 0x1000, { s2ap: 1 });
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      expect(m.smmu.translate(0x18, 0x80000000, 'read').status).toBe('success');
      expect(m.smmu.translate(0x18, 0x80000010, 'write').status).toBe('fault');
      const ev = m.driver.events();
      if (profile === 'qemu-10.0') expect(ev).toEqual([]);
      else expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, e.words[3]])).toEqual([[E.EVT_F_PERMISSION, S2_BIT, 0x80000010n]]);
    }
  });
  test('a read after a write of a stage-2 write-only page: QEMU 10.0 translates, the DMA reads zeros; arch faults', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await m10('2', profile);
      const t = s2(m, { vmid: 2, ipaBits: 36 });
      t.map(0x80000000, PA, 0x1000, { s2ap: 2 });
      m.smmu.writeMemory(PA, new Uint8Array([1, 2, 3, 4]));
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      expect(m.smmu.translate(0x18, 0x80000100, 'write').status).toBe('success');
      const buf = new Uint8Array(4);
      m.smmu.dma(0x18, 0x80000000, 'read', buf);
      expect(buf).toEqual(new Uint8Array(4));
      expect(m.driver.events().map((e) => e.type)).toEqual(profile === 'qemu-10.0' ? [] : [E.EVT_F_PERMISSION]);
    }
  });
});

describe('commands legal per implemented stage (QEMU 10.0)', () => {
  const illegal = async (stage: Stage, cmd: bigint[]): Promise<boolean> => {
    const m = await m10(stage);
    try {
      m.driver.submit([cmd, cmdSync()]);
      return false;
    } catch (e) {
      return e instanceof CommandError && e.code === R.CERROR_ILL;
    }
  };
  test('stage-2 TLBIs need stage 2, stage-1 TLBIs stage 1', async () => {
    expect(await illegal('1', cmdTlbiS2Ipa({ vmid: 1, addr: 0 }))).toBe(true);
    expect(await illegal('1', cmdTlbiS12Vmall(1))).toBe(true);
    expect(await illegal('2', cmdTlbiVa({ asid: 1, addr: 0 }))).toBe(true);
    expect(await illegal('2', cmdTlbiNhAsid(1))).toBe(true);
    expect(await illegal('2', cmdTlbiNhAll())).toBe(true);
    expect(await illegal('nested', cmdTlbiS2Ipa({ vmid: 1, addr: 0 }))).toBe(false);
    expect(await illegal('nested', cmdTlbiVa({ asid: 1, addr: 0 }))).toBe(false);
    const old = await machine({ profile: 'qemu-7.2' });
    old.driver.submit([cmdTlbiS2Ipa({ vmid: 1, addr: 0 }), cmdSync()]); // QEMU 7.2: a no-op
  });
});

describe('a vIOMMU on a nested vSMMU', () => {
  test('passthrough STE installs carry words 0-1 of a stage-1 STE only; a nested or stage-2 STE is refused; emulated devices translate through both stages', async () => {
    const { SimulatedPsmmu } = await import('../src/backends/simulated.js');
    const { createSmmu } = await import('../src/index.js');
    const { GuestDriver } = await import('../src/guest/driver.js');
    const { ste: steWords, wordsToBytes } = await import('../src/guest/encode.js');
    const p0 = new SimulatedPsmmu({ name: 'p0' });
    const smmu = await createSmmu({
      profile: 'qemu-10.0', // nested by default
      ram: [{ base: RAM_BASE, size: 0x1000000 }],
      devices: [0x18],
      viommu: { backends: [{ name: 'p0', vmid: 7, backend: p0 }], devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] },
    });
    const driver = new GuestDriver(smmu, { heap: { base: RAM_BASE + 0x100000, size: 0x800000 } });
    driver.init();
    const t = new Stage2Tables(driver, { vmid: 9, ipaBits: 40 });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
    t.map(0x80000000, PA, 0x1000);
    const d = driver.createDomain({ asid: 4 });
    driver.map(d, 0x1000, 0x80000000, 0x1000);
    const before = p0.applied.length;
    for (const config of [7, 6]) {
      expect(() => driver.setSte(0x20, { config, s1ctxptr: d.cdAddr, s2: t.steFields() })).toThrow(CommandError);
      driver.skipFailed();
      driver.ackErrors();
    }
    expect(p0.applied.length).toBe(before);
    // a stage-1 STE with its S2VMID (as Linux writes on a nested SMMU): words 0-1 go to the pSMMU
    const s1 = { config: 5, s1ctxptr: d.cdAddr, s2: { ...t.steFields(), vmid: 0 } };
    driver.setSte(0x20, s1);
    const w = steWords(s1);
    expect(p0.applied.slice(before)).toEqual([`ste:0x1020:${Buffer.from(wordsToBytes(w.slice(0, 2))).toString('hex')}`]);
    expect(w[2]).not.toBe(0n);
    expect(smmu.asidHolders(4)).toEqual(['p0']);
    // the emulated device: full nested translation on the same vSMMU
    driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
    expect(smmu.translate(0x18, 0x1010)).toMatchObject({ status: 'success', addr: PA + 0x10 });
  });
});

describe('what aborts QEMU 10.0', () => {
  test('CD.IPS 6 or 7: C_BAD_CD (QEMU 10.0 asserts; QEMU 7.2 caps it at 44 bits and translates)', async () => {
    for (const profile of ['qemu-10.0', 'qemu-7.2'] as const) {
      for (const ips of [6, 7]) {
        const m = await machine({ profile, stage: '1' });
        const d = m.driver.createDomain({ asid: 1, cd: { ips } });
        m.driver.map(d, 0x1000, PA, 0x1000);
        m.driver.attach(0x18, d);
        const r = m.smmu.translate(0x18, 0x1000);
        if (profile === 'qemu-10.0') expect(r.event).toBe(E.EVT_C_BAD_CD);
        else expect(r).toMatchObject({ status: 'success', addr: PA });
      }
    }
  });
});
