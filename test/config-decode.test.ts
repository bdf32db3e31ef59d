// Decoding a device's configuration at the edges of each field (QEMU decode_cd,
// decode_ste_s2_cfg, tg2granule, oas2bits): both translation tables of a CD field by
// field, as the smmuv3_decode_cd_tt trace records them (T*SZ 15/16/39/40, every TG0 and
// TG1 encoding, HAD, TTB at the output size), the CD flags that are stored (R, AFFD,
// ASID), and the stage-2 STE fields at their limits.

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { cd, put, wordsToBytes, pteLeaf, type CdFields, type S2Fields } from '../src/guest/encode.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import * as CD from '../src/arch/cd.js';
import * as E from '../src/arch/events.js';
import type { Profile } from '../src/types.js';

const PA = RAM_BASE + 0x900000;

/** QEMU tg2granule: granule shift for a TG0 (ttbr 0) or TG1 (ttbr 1) encoding, 0 reserved. */
const GRANULE = [[12, 16, 14, 0], [0, 14, 12, 16]];

/** A stage-1 device 0x18 whose CD is `words`; returns the decode trace lines of one translation and its result. */
function decodeOnce(m: Machine, cdAddr: number, words: bigint[], iova: bigint = 0x10010n): { lines: string[]; event: number; status: string } {
  m.smmu.writeMemory(cdAddr, wordsToBytes(words));
  m.driver.invalidateCd(0x18);
  const lines: string[] = [];
  m.smmu.setTrace((l) => { if (/smmuv3_decode_cd/.test(l)) lines.push(l.slice(l.indexOf('smmuv3'))); });
  const r = m.smmu.translate64(0x18, iova);
  m.smmu.setTrace(undefined);
  return { lines, event: r.event, status: r.status };
}

describe.each(['qemu-7.2', 'qemu-10.0'] as Profile[])('%s: CD translation-table fields', (profile) => {
  async function setup(): Promise<{ m: Machine; root: number; cdAddr: number }> {
    const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
    const d = m.driver.createDomain({ asid: 3 });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.attach(0x18, d);
    return { m, root: d.root, cdAddr: d.cdAddr };
  }

  test('T0SZ and T1SZ 16 to 39 and every TG0/TG1 encoding: decoded as QEMU tg2granule says, traced per table; others C_BAD_CD', async () => {
    const { m, root, cdAddr } = await setup();
    const wrong: string[] = [];
    for (const tt of [0, 1]) {
      for (const tsz of [15, 16, 17, 38, 39, 40]) {
        for (let tg = 0; tg < 4; tg++) {
          for (const had of [0, 1]) {
            // the other table is disabled; TTB of the table under test: the domain's root (+ a recognisable offset)
            const ttb = root + 0x40 * (tg + 1);
            const f: CdFields = tt === 0
              ? { asid: 3, ttb0: ttb, t0sz: tsz, tg0: tg }
              : { asid: 3, ttb0: 0, t0sz: 0, tg0: 0, epd0: true, epd1: false, ttb1: ttb, t1sz: tsz, tg1: tg };
            const w = cd(f);
            if (had) put(w, tt === 0 ? CD.CD_HAD0 : CD.CD_HAD1, 1);
            const r = decodeOnce(m, cdAddr, w);
            const g = GRANULE[tt][tg];
            const ok = tsz >= 16 && tsz <= 39 && g !== 0;
            const want = ok
              ? ['smmuv3_decode_cd oas=44', `smmuv3_decode_cd_tt TT[${tt}]:tsz:${tsz} ttb:0x${ttb.toString(16)} granule_sz:${g} had:${had}`]
              : ['smmuv3_decode_cd oas=44'];
            const gotBad = r.event === E.EVT_C_BAD_CD;
            if (JSON.stringify(r.lines) !== JSON.stringify(want) || gotBad === ok) {
              wrong.push(`TT${tt} tsz ${tsz} tg ${tg} had ${had}: ${JSON.stringify(r.lines)} event ${r.event}`);
            }
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test('both tables enabled: both traced in order; a bad TT1 makes the CD bad after TT0 was decoded; ENDI is checked per enabled table', async () => {
    const { m, root, cdAddr } = await setup();
    const base: CdFields = { asid: 3, ttb0: root, t0sz: 20, tg0: 0, epd1: false, ttb1: root + 0x1000, t1sz: 30, tg1: 3 };
    let r = decodeOnce(m, cdAddr, cd(base));
    expect(r.lines).toEqual([
      'smmuv3_decode_cd oas=44',
      `smmuv3_decode_cd_tt TT[0]:tsz:20 ttb:0x${root.toString(16)} granule_sz:12 had:0`,
      `smmuv3_decode_cd_tt TT[1]:tsz:30 ttb:0x${(root + 0x1000).toString(16)} granule_sz:16 had:0`,
    ]);
    r = decodeOnce(m, cdAddr, cd({ ...base, t1sz: 41 }));
    expect([r.event, r.lines.length]).toEqual([E.EVT_C_BAD_CD, 2]);
    // ENDI with both tables disabled is not looked at
    r = decodeOnce(m, cdAddr, cd({ ...base, epd0: true, epd1: true, endi: true, t0sz: 0, t1sz: 0 }));
    expect([r.event, r.lines]).toEqual([E.EVT_F_TRANSLATION, ['smmuv3_decode_cd oas=44']]);
    r = decodeOnce(m, cdAddr, cd({ ...base, epd0: true, endi: true, t0sz: 0 }));
    expect([r.event, r.lines]).toEqual([E.EVT_C_BAD_CD, ['smmuv3_decode_cd oas=44']]);
  });

  test('a TTB must fit the output size (IPS, at most 44 bits): the last 16-byte aligned address below 2^oas is accepted, 2^oas is not', async () => {
    const { m, cdAddr } = await setup();
    const IPS_BITS = [32, 36, 40, 42, 44, 48];
    for (let ips = 0; ips < 6; ips++) {
      const oas = Math.min(IPS_BITS[ips], 44);
      for (const tt of [0, 1]) {
        for (const [ttb, ok] of [[(1n << BigInt(oas)) - 16n, true], [1n << BigInt(oas), false], [1n << BigInt(oas - 1), true]] as const) {
          const f: CdFields = tt === 0
            ? { asid: 3, ttb0: ttb, t0sz: 16, tg0: 0, ips }
            : { asid: 3, ttb0: 0, t0sz: 0, tg0: 0, epd0: true, epd1: false, ttb1: ttb, t1sz: 16, tg1: 2, ips };
          const r = decodeOnce(m, cdAddr, cd(f), tt === 0 ? 0x10010n : 0xffff000000010010n);
          expect([ips, tt, ttb, r.event === E.EVT_C_BAD_CD]).toEqual([ips, tt, ttb, !ok]);
          if (ok) expect(r.lines[1]).toBe(`smmuv3_decode_cd_tt TT[${tt}]:tsz:16 ttb:0x${ttb.toString(16)} granule_sz:12 had:0`);
        }
      }
    }
  });
});

describe('CD fields the translation uses', () => {
  async function page(over: Partial<CdFields>, af: boolean): Promise<Machine> {
    const m = await machine({ profile: 'arch', stage: '1' });
    const d = m.driver.createDomain({ asid: 9 });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.attach(0x18, d);
    const leaf = m.driver.tableFor(d, 0x10000, 3, false)! + 8 * 0x10;
    m.smmu.writeMemory(leaf, wordsToBytes([pteLeaf({ addr: PA, af }, 3)]));
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 9, ttb0: d.root, t0sz: 16, tg0: 0, ...over })));
    m.driver.invalidateCd(0x18);
    return m;
  }

  test('AFFD: an access-flag fault only with AFFD = 0; recorded as CD.R says', async () => {
    for (const affd of [false, true]) {
      for (const r of [false, true]) {
        const m = await page({ affd, r }, false);
        const t = m.smmu.translate(0x18, 0x10010);
        if (affd) expect([t.status, t.addr]).toEqual(['success', PA + 0x10]);
        else expect([t.status, t.event, t.recorded]).toEqual(['fault', r ? E.EVT_F_ACCESS : 0, r]); // (an unrecorded fault reports no event)
        expect(m.driver.events().length).toBe(!affd && r ? 1 : 0);
      }
    }
  });

  test('TTB1 translates the upper range through its own table (the second TTB of the configuration)', async () => {
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const lo = m.driver.createDomain({ asid: 4 });
    const hi = m.driver.createDomain({ asid: 4 });
    m.driver.map(lo, 0x10000, PA, 0x1000);
    m.driver.map(hi, 0x10000, PA + 0x3000, 0x1000);
    m.driver.attach(0x18, lo);
    m.smmu.writeMemory(lo.cdAddr, wordsToBytes(cd({ asid: 4, ttb0: lo.root, t0sz: 16, tg0: 0, epd1: false, ttb1: hi.root, t1sz: 16, tg1: 2 })));
    m.driver.invalidateCd(0x18);
    expect(m.smmu.translate64(0x18, 0xffff000000010020n).addr64).toBe(BigInt(PA + 0x3020));
    expect(m.smmu.translate64(0x18, 0x10020n).addr64).toBe(BigInt(PA + 0x20));
  });

  test('TTB0 keeps its bits between 16 and the size of a small top table (2 entries: T0SZ 24, 4K), with TT1 enabled beside it', async () => {
    for (const profile of ['qemu-7.2', 'arch'] as const) {
      const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
      const d = m.driver.createDomain({ asid: 4, vaBits: 40 }); // level 0 holds 2 entries: a 16-byte table in a 64-byte block
      m.driver.map(d, 0x10000, PA, 0x1000);
      m.driver.attach(0x18, d);
      // the top table moved 0x30 bytes up, its old place cleared
      m.smmu.writeMemory(d.root + 0x30, m.smmu.readMemory(d.root, 16));
      m.smmu.writeMemory(d.root, new Uint8Array(16));
      m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 4, ttb0: d.root + 0x30, t0sz: 24, tg0: 0, epd1: false, ttb1: d.root, t1sz: 25, tg1: 2 })));
      m.driver.invalidateCd(0x18);
      expect([profile, m.smmu.translate(0x18, 0x10020).addr]).toEqual([profile, PA + 0x20]);
    }
  });

  test('a configuration that fails to decode is not cached: every transaction reports its event again', async () => {
    // a CD with a reserved IPS encoding (QEMU 10.0: C_BAD_CD)
    const m = await machine({ profile: 'qemu-10.0', stage: '1' });
    const d = m.driver.createDomain({ asid: 4, cd: { ips: 7 } });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.attach(0x18, d);
    // a stage-2 STE whose S2TTB is beyond S2PS (C_BAD_STE)
    const m2 = await machine({ profile: 'qemu-10.0', stage: '2' });
    const t2 = new Stage2Tables(m2.driver, { vmid: 1, ipaBits: 32, ste: { ps: 0 } });
    t2.map(0x1000, PA, 0x1000);
    m2.driver.setSte(0x18, { config: 6, s2: { ...t2.steFields(), ttb: 2 ** 32 } });
    for (const [mm, iova, want] of [[m, 0x10010, E.EVT_C_BAD_CD], [m2, 0x1010, E.EVT_C_BAD_STE]] as const) {
      const got = [mm.smmu.translate(0x18, iova).event, mm.smmu.translate(0x18, iova).event];
      expect([want, got, mm.driver.events().map((e) => e.type)]).toEqual([want, [want, want], [want, want]]);
    }
  });
});

describe('stage-2 STE fields at their limits (QEMU 10.0 decode_ste_s2_cfg)', () => {
  const OAS_BITS = [32, 36, 40, 42, 44];

  /** Stage-2 device 0x18 with `ipaBits` of IPA over a page at IPA 0x1000; the result of a translation there. */
  async function s2dev(profile: Profile, o: ConstructorParameters<typeof Stage2Tables>[1], over: Partial<S2Fields> = {}): Promise<{ event: number; status: string }> {
    const m = await machine({ profile, stage: '2' });
    const t = new Stage2Tables(m.driver, o);
    t.map(0x1000, PA, 0x1000);
    m.driver.setSte(0x18, { config: 6, s2: { ...t.steFields(), ...over } });
    const r = m.smmu.translate(0x18, 0x1010);
    return { event: r.event, status: r.status };
  }

  test('S2PS, capped at the 44-bit OAS (reserved encodings too): an IPA of that size is accepted, one bit more is C_BAD_STE', async () => {
    for (let ps = 0; ps < 8; ps++) {
      const bits = OAS_BITS[Math.min(ps, 4)];
      expect([ps, await s2dev('qemu-10.0', { vmid: 1, ipaBits: bits, ste: { ps } })]).toEqual([ps, { event: 0, status: 'success' }]);
      expect([ps, (await s2dev('qemu-10.0', { vmid: 1, ipaBits: bits + 1, ste: { ps } })).event]).toEqual([ps, E.EVT_C_BAD_STE]);
    }
  });

  test('S2T0SZ 39 (a 25-bit IPA) is accepted, S2TTB must fit S2PS: 2^PS - 16 KiB is decoded (the walk then fails outside RAM), 2^PS is C_BAD_STE', async () => {
    expect(await s2dev('qemu-10.0', { vmid: 1, ipaBits: 25 })).toEqual({ event: 0, status: 'success' });
    for (const ps of [0, 4]) {
      const bits = OAS_BITS[ps];
      const fits = await s2dev('qemu-10.0', { vmid: 1, ipaBits: 32, ste: { ps } }, { ttb: 2 ** bits - 0x4000 });
      expect([ps, fits.event]).toEqual([ps, E.EVT_F_WALK_EABT]);
      expect([ps, (await s2dev('qemu-10.0', { vmid: 1, ipaBits: 32, ste: { ps } }, { ttb: 2 ** bits })).event]).toEqual([ps, E.EVT_C_BAD_STE]);
    }
  });

  test('at most 16 concatenated start tables, for every granule: 16 translate, 32 are C_BAD_STE', async () => {
    // S2SL0 = 0: start level 2 (4K) or 3 (16K, 64K); one table there covers 30, 25, 29 bits of IPA
    for (const [granule, one] of [[4096, 30], [16384, 25], [65536, 29]]) {
      expect([granule, await s2dev('qemu-10.0', { vmid: 1, granule, ipaBits: one + 4, sl0: 0 })]).toEqual([granule, { event: 0, status: 'success' }]);
      expect([granule, (await s2dev('qemu-10.0', { vmid: 1, granule, ipaBits: one + 5, sl0: 0 })).event]).toEqual([granule, E.EVT_C_BAD_STE]);
    }
  });

  test('arch: a start level above what the IPA size reaches is C_BAD_STE (4K level 0 needs more than 39 bits); QEMU 10.0 walks it', async () => {
    // 4K granule, S2SL0 = 2: level 0, whose entries cover 2^39 bytes
    for (const [profile, bits, ok] of [['arch', 40, true], ['arch', 39, false], ['qemu-10.0', 39, true], ['qemu-10.0', 38, true]] as const) {
      const r = await s2dev(profile, { vmid: 1, ipaBits: bits, sl0: 2 });
      expect([profile, bits, r.event]).toEqual([profile, bits, ok ? 0 : E.EVT_C_BAD_STE]);
    }
    // 64K granule, S2SL0 = 2: level 1, whose entries cover 2^42 bytes
    for (const [bits, ok] of [[43, true], [42, false]] as const) {
      const r = await s2dev('arch', { vmid: 1, granule: 65536, ipaBits: bits, sl0: 2 });
      expect([bits, r.event]).toEqual([bits, ok ? 0 : E.EVT_C_BAD_STE]);
    }
  });

  test('S2AFFD: a stage-2 page without the access flag faults only with S2AFFD = 0', async () => {
    for (const affd of [false, true]) {
      const m = await machine({ profile: 'qemu-10.0', stage: '2' });
      const t = new Stage2Tables(m.driver, { vmid: 1, ipaBits: 32, ste: { affd } });
      t.map(0x1000, PA, 0x1000, { af: false });
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      expect([affd, m.smmu.translate(0x18, 0x1010).status]).toEqual([affd, affd ? 'success' : 'fault']);
    }
  });
});

describe('qemu-10.0 nested: stage-2 faults on the configuration\'s own addresses are recorded as S2R says', () => {
  for (const what of ['CD', 'TTB0'] as const) {
    test(`${what}: CLASS ${what === 'CD' ? 'CD' : 'TT'}, recorded only with S2R = 1 (CD.R is not decoded yet)`, async () => {
      for (const r of [false, true]) {
        for (const cdR of [false, true]) {
          const m = await machine({ profile: 'qemu-10.0', stage: 'nested' });
          const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40, ste: { r } });
          t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
          const d = m.driver.createDomain({ asid: 4, cd: { r: cdR } });
          m.driver.map(d, 0x1000, 0x80000000, 0x1000);
          t.map(0x80000000, PA, 0x1000);
          t.unmap((what === 'CD' ? d.cdAddr : d.root) & ~0xfff, 0x1000);
          m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
          const res = m.smmu.translate(0x18, 0x1010);
          const ev = m.driver.events();
          expect([r, cdR, res.status, res.recorded, ev.length]).toEqual([r, cdR, 'fault', r, r ? 1 : 0]);
          // RnW [35] = 1: the SMMU's own read (QEMU translates the address IOMMU_RO)
          if (r) expect([ev[0].type, Number((ev[0].words[1] >> 40n) & 3n), Number((ev[0].words[1] >> 35n) & 1n)]).toEqual([E.EVT_F_TRANSLATION, what === 'CD' ? E.EVT_CLASS_CD : E.EVT_CLASS_TT, 1]);
        }
      }
    });
  }
});
