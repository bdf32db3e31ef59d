// What one translation reports besides its address (QEMU smmuv3_translate's epilogue and
// event records, IHI 0070 7.3):
// - its trace record per outcome (smmuv3_translate_disable / _bypass / _abort / _success:
//   StreamID, IOVA, is_write = the access flag QEMU stores in entry.perm, none on abort);
// - the result block: a fault or an abort grants nothing (perm 0) even right after a
//   success; a bypass grants the access made, for one 4 KiB page;
// - RnW of walk faults (0 for a write) on every path: stage-1 walk, stage-2-only walk,
//   stage 2 of a nested walk;
// - the table QEMU's select_tt picks when one of TTB0/TTB1 is disabled (EPDx): an IOVA
//   outside the enabled range goes to the disabled table, which faults after an IOTLB
//   lookup (a miss is counted); an IOVA in the gap between two enabled ranges faults before
//   any lookup;
// - a stage-2 table outside RAM: F_WALK_EABT with ADDR2 = the descriptor's address.

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { cd, wordsToBytes, type CdFields } from '../src/guest/encode.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';
import * as R from '../src/arch/registers.js';

const PA = RAM_BASE + 0x900000;
const RNW = 1n << 35n;
const S2_BIT = 1n << 39n;

function traced(m: Machine, f: () => void): string[] {
  const lines: string[] = [];
  m.smmu.setTrace((l) => { if (/smmuv3_translate_/.test(l)) lines.push(l.slice(l.indexOf('smmuv3_translate_'))); });
  f();
  m.smmu.setTrace(undefined);
  return lines.map((l) => l.replace(/^(\S+) \S+ /, '$1 ')); // the region name is the host's
}

describe('trace records and results per outcome', () => {
  test('SMMU disabled: smmuv3_translate_disable, the access granted for a 4 KiB page', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    m.smmu.mmioWrite(R.R_CR0, 4, 0);
    for (const access of ['read', 'write'] as const) {
      const got: unknown[] = [];
      const lines = traced(m, () => got.push(m.smmu.translate(0x18, 0x12345, access)));
      expect(got[0]).toMatchObject({ status: 'disabled', addr: 0x12345, size: 0x1000, perm: access === 'read' ? 1 : 2, event: 0, recorded: false });
      expect(lines).toEqual(['smmuv3_translate_disable sid=0x18 bypass (smmu disabled) iova:0x12345 is_write=1']);
    }
  });
  test('GBPA.ABORT while disabled: an abort granting nothing, no record of a bypass', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    m.smmu.mmioWrite(R.R_CR0, 4, 0);
    expect(m.smmu.translate(0x18, 0x5000, 'write').perm).toBe(2);
    m.smmu.mmioWrite(R.R_GBPA, 4, (1 << 31) | (1 << 20));
    const got: unknown[] = [];
    const lines = traced(m, () => got.push(m.smmu.translate(0x18, 0x5000, 'write')));
    expect(got[0]).toMatchObject({ status: 'abort', ok: false, perm: 0, event: 0 });
    expect(lines).toEqual([]);
  });
  test('STE bypass: smmuv3_translate_bypass; STE abort: smmuv3_translate_abort (is_write=0: QEMU leaves entry.perm none), granting nothing', async () => {
    for (const profile of ['qemu-7.2', 'qemu-10.0'] as Profile[]) {
      const m = await machine({ profile, stage: '1' });
      m.driver.setSte(0x20, { config: 4 });
      m.driver.setSte(0x28, { config: 0 });
      const d = m.driver.createDomain({ asid: 1 });
      m.driver.map(d, 0x7000, PA, 0x1000);
      m.driver.attach(0x18, d);
      const got: Array<{ status: string; perm: number; size: number; addr: number; event: number; recorded: boolean }> = [];
      const lines = traced(m, () => {
        got.push(m.smmu.translate(0x20, 0xabc000, 'read'));
        got.push(m.smmu.translate(0x20, 0xabc008, 'write'));
        got.push(m.smmu.translate(0x18, 0x7010, 'write')); // a success first: its permission must not leak
        got.push(m.smmu.translate(0x28, 0x7010, 'write'));
      });
      expect(got.map((r) => [r.event, r.recorded])).toEqual([[0, false], [0, false], [0, false], [0, false]]);
      expect(got.map((r) => [r.status, r.addr, r.size, r.perm])).toEqual([
        ['bypass', 0xabc000, 0x1000, 1], ['bypass', 0xabc008, 0x1000, 2], ['success', PA + 0x10, 0x1000, 3], ['abort', 0, 0, 0],
      ]);
      expect(lines.slice(0, 2)).toEqual([
        'smmuv3_translate_bypass sid=0x20 STE bypass iova:0xabc000 is_write=1',
        'smmuv3_translate_bypass sid=0x20 STE bypass iova:0xabc008 is_write=1',
      ]);
      expect(lines[2]).toMatch(new RegExp(`^smmuv3_translate_success sid=0x18 iova=0x7010 translated=0x${(PA + 0x10).toString(16)} perm=`));
      expect(lines.slice(3)).toEqual(['smmuv3_translate_abort sid=0x28 abort on iova:0x7010 is_write=0']);
    }
  });
  test('a fault right after a success grants nothing; a success right after a fault reports no event', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x7000, PA, 0x1000);
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x7010, 'write').perm).toBe(3);
    expect(m.smmu.translate(0x18, 0x9010, 'write')).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION, perm: 0 });
    // an IOTLB hit: no event or record left over from the fault before it
    expect(m.smmu.translate(0x18, 0x7010, 'write')).toMatchObject({ status: 'success', perm: 3, event: 0, recorded: false });
    m.driver.setSte(0x18, { config: 4, valid: false });
    expect(m.smmu.translate(0x18, 0x7010, 'write')).toMatchObject({ status: 'fault', event: E.EVT_C_BAD_STE, perm: 0 });
  });
});

describe('RnW of walk faults', () => {
  test('stage-2-only STE: a write fault has RnW = 0, a read fault RnW = 1', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await machine({ profile, stage: '2' });
      const t = new Stage2Tables(m.driver, { vmid: 2, ipaBits: 36 });
      t.map(0x80000000, PA, 0x1000, { s2ap: 1 });
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      expect(m.smmu.translate(0x18, 0x80000010, 'write').event).toBe(E.EVT_F_PERMISSION);
      expect(m.smmu.translate(0x18, 0x90000010, 'write').event).toBe(E.EVT_F_TRANSLATION);
      expect(m.smmu.translate(0x18, 0x90000010, 'read').event).toBe(E.EVT_F_TRANSLATION);
      expect(m.driver.events().map((e) => [e.type, e.words[1] & RNW, e.words[1] & S2_BIT])).toEqual([
        [E.EVT_F_PERMISSION, 0n, S2_BIT], [E.EVT_F_TRANSLATION, 0n, S2_BIT], [E.EVT_F_TRANSLATION, RNW, S2_BIT],
      ]);
    }
  });
  test('nested: a stage-2 write fault after stage 1 has RnW = 0', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: 'nested' });
    const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40 });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
    const d = m.driver.createDomain({ asid: 4 });
    m.driver.map(d, 0x1000, 0x80000000, 0x2000);
    t.map(0x80001000, PA, 0x1000, { s2ap: 1 });
    m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
    expect(m.smmu.translate(0x18, 0x1010, 'write').event).toBe(E.EVT_F_TRANSLATION);
    expect(m.smmu.translate(0x18, 0x2010, 'write').event).toBe(E.EVT_F_PERMISSION);
    expect(m.smmu.translate(0x18, 0x1010, 'read').event).toBe(E.EVT_F_TRANSLATION);
    expect(m.driver.events().map((e) => [e.type, e.words[1] & RNW, e.words[1] & S2_BIT, e.words[3]])).toEqual([
      [E.EVT_F_TRANSLATION, 0n, S2_BIT, 0x80000010n], [E.EVT_F_PERMISSION, 0n, S2_BIT, 0x80001010n], [E.EVT_F_TRANSLATION, RNW, S2_BIT, 0x80000010n],
    ]);
  });
});

describe('table selection with a disabled table (EPD0 / EPD1)', () => {
  /** A 39-bit table as TTB0 (EPD0 as given) and TTB1 (T1SZ = 25, EPD1 as given). */
  async function epd(profile: Profile, over: Partial<CdFields>): Promise<Machine> {
    const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
    const d = m.driver.createDomain({ asid: 1, vaBits: 39 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.attach(0x18, d);
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 1, ttb0: d.root, t0sz: 25, tg0: 0, ttb1: d.root, t1sz: 25, tg1: 2, ...over })));
    m.driver.invalidateCd(0x18);
    return m;
  }
  const misses = (m: Machine): number => m.smmu.stats().iotlbMisses;

  for (const profile of ['qemu-7.2', 'qemu-10.0', 'arch'] as Profile[]) {
    const v72 = profile === 'qemu-7.2';
    // TTB1's range: top 25 bits all ones (all zeros on QEMU 7.2, where it shadows nothing TTB0 takes first)
    const inTtb1 = v72 ? 0x1000n : 0xffffff8000001000n;
    test(`${profile}: EPD0 = 1: TTB1's range translates, every other IOVA faults in the disabled TTB0 after an IOTLB miss`, async () => {
      const m = await epd(profile, { epd0: true, epd1: false });
      expect(m.smmu.translate64(0x18, inTtb1 + 0x10n)).toMatchObject({ status: 'success', addr: PA + 0x10 });
      const hits = m.smmu.stats().iotlbHits;
      expect(m.smmu.translate64(0x18, inTtb1 + 0x20n)).toMatchObject({ status: 'success', addr: PA + 0x20 }); // TTB1's entry is looked up
      expect(m.smmu.stats().iotlbHits).toBe(hits + 1);
      const other = v72 ? 0x8000001000n : 0x1000n; // outside TTB1's range; TTB1's table would map it
      const before = misses(m);
      expect(m.smmu.translate64(0x18, other)).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION });
      expect(misses(m)).toBe(before + 1);
    });
    test(`${profile}: EPD1 = 1: IOVAs outside TTB0's range fault in the disabled TTB1 after an IOTLB miss`, async () => {
      const m = await epd(profile, { epd0: false, epd1: true });
      expect(m.smmu.translate(0x18, 0x1010)).toMatchObject({ status: 'success', addr: PA + 0x10 });
      const before = misses(m);
      expect(m.smmu.translate64(0x18, 0xffffff8000001000n)).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION });
      expect(misses(m)).toBe(before + 1);
    });
    test(`${profile}: both enabled: an IOVA in neither range faults before any IOTLB lookup`, async () => {
      const m = await epd(profile, { epd0: false, epd1: false });
      const before = misses(m);
      expect(m.smmu.translate64(0x18, 0x0000800000001000n)).toMatchObject({ status: 'fault', event: E.EVT_F_TRANSLATION });
      expect(misses(m)).toBe(before);
    });
  }
});

describe('stage-2 walk external abort', () => {
  test('a stage-2 table outside RAM: F_WALK_EABT with ADDR2 = the descriptor address', async () => {
    for (const profile of ['qemu-10.0', 'arch'] as const) {
      const m = await machine({ profile, stage: '2' });
      const t = new Stage2Tables(m.driver, { vmid: 2, ipaBits: 36, ste: { ttb: 0x100000000 } });
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      // 4K granule, 36-bit IPA: start level 1 (S2SL0 = 1), index bits [35:30]
      expect(m.smmu.translate(0x18, 0x80000000).event).toBe(E.EVT_F_WALK_EABT);
      expect(m.smmu.translate(0x18, 0x8c0000000).event).toBe(E.EVT_F_WALK_EABT);
      expect(m.driver.events().map((e) => e.words[3])).toEqual([0x100000000n + 2n * 8n, 0x100000000n + 0x23n * 8n]);
    }
  });
});

describe('translation table base and StreamIDs at the edges', () => {
  test('TTB0 bits below the start table\'s size are ignored (QEMU: baseaddr &= ~indexmask)', async () => {
    for (const [granule, vaBits] of [[0x1000, 48], [0x1000, 39], [0x4000, 47], [0x10000, 48], [0x10000, 42]]) {
      const m = await machine({ profile: 'qemu-10.0', stage: '1' });
      const d = m.driver.createDomain({ asid: 1, granule, vaBits });
      m.driver.map(d, granule, PA, granule);
      m.driver.attach(0x18, d);
      const g = Math.log2(granule);
      const start = 4 - Math.floor((vaBits - 4) / (g - 3));
      const rootBytes = 8 * 2 ** (vaBits - (g + (3 - start) * (g - 3)));
      for (const low of [0x10, rootBytes - 0x10]) {
        m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 1, ttb0: d.root + low, t0sz: 64 - vaBits, tg0: granule === 0x1000 ? 0 : granule === 0x10000 ? 1 : 2 })));
        m.driver.invalidateCd(0x18);
        expect([granule, vaBits, low, m.smmu.translate(0x18, granule + 0x10).addr]).toEqual([granule, vaBits, low, PA + 0x10]);
      }
    }
  });
  test('a StreamID at or above 2^16 is C_BAD_STREAMID, whatever StreamID 0 has cached', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1', devices: [0] });
    m.driver.setSte(0, { config: 4 });
    expect(m.smmu.translate(0, 0x1000).status).toBe('bypass'); // cached
    for (const sid of [0x10000, 0x10018, 0xffffffff]) {
      expect(m.smmu.translate(sid, 0x1000)).toMatchObject({ status: 'fault', event: E.EVT_C_BAD_STREAMID, recorded: true });
    }
    expect(m.driver.events().map((e) => [e.type, e.sid])).toEqual([[E.EVT_C_BAD_STREAMID, 0x10000], [E.EVT_C_BAD_STREAMID, 0x10018], [E.EVT_C_BAD_STREAMID, 0xffffffff]]);
    expect(m.smmu.translate(0, 0x1000).status).toBe('bypass');
  });
});

describe('the result block\'s walk level (XO_LEVEL of src/arch/abi.ts)', () => {
  test('the level of the entry that translated: 3 for a page, 2 and 1 for blocks, walked or hit; 0 when passed through', async () => {
    const { engineExports } = await import('../src/engine-debug.js');
    const A = await import('../src/arch/abi.js');
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const e = engineExports(m.smmu);
    const level = (): number => new DataView(e.memory.buffer, e.xo_ptr() + A.XO_LEVEL, 4).getUint32(0, true);
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.map(d, 0x40000000, 0x80000000, 0x40000000); // a level-1 block
    m.driver.map(d, 0x200000, 0x200000, 0x200000); // a level-2 block
    m.driver.attach(0x18, d);
    m.driver.setSte(0x20, { config: 4 });
    for (let i = 0; i < 2; i++) {
      const got: number[] = [];
      for (const iova of [0x1010, 0x40001000, 0x201000]) {
        expect(m.smmu.translate(0x18, iova).status).toBe('success');
        got.push(level());
      }
      expect(got).toEqual([3, 1, 2]);
    }
    expect(m.smmu.translate(0x20, 0x1000).status).toBe('bypass');
    expect(level()).toBe(0);
    m.smmu.translate(0x18, 0x1010);
    m.smmu.mmioWrite(R.R_CR0, 4, 0);
    expect(m.smmu.translate(0x18, 0x1010).status).toBe('disabled');
    expect(level()).toBe(0);
  });
});
