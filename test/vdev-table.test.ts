// The dispatcher's tables, checked against plain models: the passthrough-device (vdev)
// table under random binds, rebinds and unbinds (what CFGI_STE, CFGI_STE_RANGE, CFGI_CD
// and backend events reach), and the vASID table learned from linear and 2-level CD tables
// (what each TLBI_NH_ASID reaches), after CFGI_ALL forgets it, and across a snapshot.

import fc from 'fast-check';
import { machine, RAM_BASE, RAM_SIZE, Recorder, type Machine } from './helpers.js';
import { createSmmu } from '../src/index.js';
import { decodeSnapshot } from '../src/snapshot.js';
import * as SN from '../src/arch/snapshot.js';
import { CommandError } from '../src/guest/driver.js';
import * as R from '../src/arch/registers.js';
import * as STE from '../src/arch/ste.js';
import { cd, put, ste, cmdCfgiAll, cmdCfgiCd, cmdCfgiSte, cmdCfgiSteRange, cmdSync, cmdTlbiNhAsid, wordsToBytes } from '../src/guest/encode.js';
import * as A from '../src/arch/abi.js';
import * as E from '../src/arch/events.js';
import { field64 } from '../src/bits.js';


const VMID0 = 0x100;

async function vsmmu(nb: number, strtabLog2 = 8): Promise<{ m: Machine; recs: Recorder[] }> {
  const recs = Array.from({ length: nb }, (_, i) => new Recorder(`p${i}`));
  const m = await machine({ viommu: { backends: recs.map((backend, i) => ({ name: `p${i}`, vmid: VMID0 + i, backend })) } }, { strtab: { log2size: strtabLog2 } });
  for (const r of recs) r.got = [];
  return { m, recs };
}

/** What each backend received for `cmds`. */
function run(m: Machine, recs: Recorder[], cmds: bigint[][]): string[][] {
  for (const r of recs) r.got = [];
  m.driver.submit([...cmds, cmdSync()]);
  return recs.map((r) => r.got);
}

const hex = (w: bigint[]): string => `${w[0].toString(16)} ${w[1].toString(16)}`;

describe('the passthrough-device table', () => {
  const NB = 3;
  const arbSid = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 0x7f }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) });
  const arbPsid = fc.integer({ min: 0, max: 7 }).map((x) => 0x1000 + x);
  const arbOp = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('bind' as const), sid: arbSid, b: fc.integer({ min: 0, max: NB - 1 }), psid: arbPsid }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('unbind' as const), sid: arbSid }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('ste' as const), sid: arbSid }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('range' as const), sid: arbSid, range: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 31 })) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('cd' as const), sid: arbSid }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('event' as const), b: fc.integer({ min: 0, max: NB - 1 }), psid: arbPsid }) },
  );

  test('binds, rebinds and unbinds in any order: each command reaches exactly the bound devices, in ascending vSID order', async () => {
    await fc.assert(fc.asyncProperty(fc.array(arbOp, { minLength: 20, maxLength: 120 }), async (ops) => {
      const { m, recs } = await vsmmu(NB);
      const model = new Map<number, { b: number; psid: number }>();
      const sorted = (): number[] => [...model.keys()].sort((x, y) => x - y);
      for (const o of ops) {
        switch (o.op) {
          case 'bind':
            m.smmu.bindDevice({ sid: o.sid, backend: `p${o.b}`, psid: o.psid });
            model.set(o.sid, { b: o.b, psid: o.psid });
            break;
          case 'unbind':
            expect(m.smmu.unbindDevice(o.sid)).toBe(model.delete(o.sid));
            break;
          case 'ste': {
            // the guest STE is invalid (zeros, or beyond the stream table): installed as it is
            const want: string[][] = recs.map(() => []);
            const v = model.get(o.sid);
            if (v) want[v.b].push(`ste ${v.psid.toString(16)} 0 0`);
            expect(run(m, recs, [cmdCfgiSte(o.sid)])).toEqual(want);
            break;
          }
          case 'range': {
            const mask = 2 ** (o.range + 1) - 1;
            const start = o.sid - (o.sid % (mask + 1));
            const want: string[][] = recs.map(() => []);
            for (const s of sorted()) {
              const v = model.get(s)!;
              if (s >= start && s <= start + mask) want[v.b].push(`ste ${v.psid.toString(16)} 0 0`);
            }
            expect(run(m, recs, [cmdCfgiSteRange(o.sid, o.range)])).toEqual(want);
            break;
          }
          case 'cd': {
            const want: string[][] = recs.map(() => []);
            const v = model.get(o.sid);
            if (v) want[v.b].push(`inv ${hex(cmdCfgiCd(v.psid, 3))}`); // the physical StreamID in place of the virtual one
            expect(run(m, recs, [cmdCfgiCd(o.sid, 3)])).toEqual(want);
            break;
          }
          case 'event': {
            // delivered for the lowest vSID bound to (backend, pSID), else dropped
            const vsid = sorted().find((s) => model.get(s)!.b === o.b && model.get(s)!.psid === o.psid);
            const rec = wordsToBytes(put(put(put([0n, 0n, 0n, 0n], E.EVT_TYPE, E.EVT_F_TRANSLATION), E.EVT_SID, o.psid), E.EVT_ADDR, 0x1000n));
            m.driver.events();
            expect(m.smmu.backendEvent(`p${o.b}`, rec)).toBe(vsid !== undefined);
            expect(m.driver.events().map((e) => [e.type, e.sid, field64(e.words, E.EVT_ADDR)])).toEqual(vsid === undefined ? [] : [[E.EVT_F_TRANSLATION, vsid, 0x1000n]]);
            break;
          }
        }
      }
    }), { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 60) });
  });

  test(`at most ${A.MAX_VDEVS} devices: the next bind fails, a rebind of a bound one does not, and an unbind makes room`, async () => {
    const { m, recs } = await vsmmu(2);
    const sids = Array.from({ length: A.MAX_VDEVS }, (_, i) => (i * 7919) % 0x10000);
    for (const [i, sid] of sids.entries()) m.smmu.bindDevice({ sid, backend: `p${i & 1}`, psid: i });
    expect(() => m.smmu.bindDevice({ sid: 0x10000, backend: 'p0', psid: 1 })).toThrow(/at most/);
    m.smmu.bindDevice({ sid: sids[5], backend: 'p0', psid: 0xabc }); // rebind: p1 -> p0
    expect(m.smmu.unbindDevice(sids[9])).toBe(true);
    m.smmu.bindDevice({ sid: 0x10000, backend: 'p1', psid: 0xdef });
    // CFGI_ALL installs every one, in ascending vSID order per backend
    const model = new Map(sids.map((sid, i) => [sid, { b: i & 1, psid: i }]));
    model.set(sids[5], { b: 0, psid: 0xabc });
    model.delete(sids[9]);
    model.set(0x10000, { b: 1, psid: 0xdef });
    const want: string[][] = [[], []];
    for (const s of [...model.keys()].sort((x, y) => x - y)) want[model.get(s)!.b].push(`ste ${model.get(s)!.psid.toString(16)} 0 0`);
    const got = run(m, recs, [cmdCfgiAll()]);
    expect(got.map((g) => g.length)).toEqual(want.map((w) => w.length));
    expect(got).toEqual(want);
  });
});

describe('the nested STE check (iommufd: STRTAB_STE_0/1_NESTING_ALLOWED)', () => {
  test('a valid stage-1 STE with any one more bit of words 0-1 is installed when the bit is allowed, else CFGI_STE is CERROR_ILL', async () => {
    const { m, recs } = await vsmmu(1);
    m.smmu.bindDevice({ sid: 0x30, backend: 'p0', psid: 0x77 });
    const allowed = [(BigInt(STE.STE0_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE0_NESTING_ALLOWED_LO), (BigInt(STE.STE1_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE1_NESTING_ALLOWED_LO)];
    const wrong: string[] = [];
    for (let bit = 4; bit < 128; bit++) { // (bits 0-3, V and Config, are the STE's own: valid, stage 1)
      const w = ste({ config: 5, s1ctxptr: RAM_BASE + 0x700000 });
      w[bit >> 6] |= 1n << BigInt(bit & 63);
      m.smmu.writeMemory(m.driver.steAddr(0x30), wordsToBytes(w));
      const ok = ((allowed[bit >> 6] >> BigInt(bit & 63)) & 1n) === 1n;
      recs[0].got = [];
      let refused = false;
      try {
        m.driver.submit([cmdCfgiSte(0x30), cmdSync()]);
      } catch (e) {
        if (!(e instanceof CommandError) || e.code !== R.CERROR_ILL) throw e;
        refused = true;
        m.driver.skipFailed();
        m.driver.ackErrors();
      }
      const got = refused ? 'refused' : recs[0].got.join();
      const want = ok ? `ste 77 ${w[0].toString(16)} ${w[1].toString(16)}` : 'refused';
      if (got !== want) wrong.push(`bit ${bit}: ${got}, expected ${want}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('CFGI_STE_RANGE failing at a later device', () => {
  test('an STE failing the check after installs for other backends: CERROR_ILL, and none of the command\'s installs reaches a backend', async () => {
    const { m, recs } = await vsmmu(3);
    // ascending vSIDs on backends 1, 2, 0: the failing one comes last
    const devs = [{ sid: 0x30, b: 1, psid: 0x71 }, { sid: 0x31, b: 2, psid: 0x72 }, { sid: 0x32, b: 0, psid: 0x70 }];
    for (const d of devs) m.smmu.bindDevice({ sid: d.sid, backend: `p${d.b}`, psid: d.psid });
    const good = ste({ config: 5, s1ctxptr: RAM_BASE + 0x700000 });
    const allowed1 = (BigInt(STE.STE1_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE1_NESTING_ALLOWED_LO);
    const bit = [...Array(64).keys()].find((k) => ((allowed1 >> BigInt(k)) & 1n) === 0n)!;
    const bad = [good[0], good[1] | (1n << BigInt(bit)), ...good.slice(2)];
    for (const d of devs) m.smmu.writeMemory(m.driver.steAddr(d.sid), wordsToBytes(d.sid === 0x32 ? bad : good));
    let code = -1;
    try {
      run(m, recs, [cmdCfgiSteRange(0x30, 1)]);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      code = e.code;
      m.driver.skipFailed();
      m.driver.ackErrors();
    }
    expect([code, recs.map((r) => r.got)]).toEqual([R.CERROR_ILL, [[], [], []]]);
    // with the STE fixed, the same command installs all three, each on its backend
    m.smmu.writeMemory(m.driver.steAddr(0x32), wordsToBytes(good));
    const want = [0, 1, 2].map((b) => devs.filter((d) => d.b === b).map((d) => `ste ${d.psid.toString(16)} ${good[0].toString(16)} ${good[1].toString(16)}`));
    expect(run(m, recs, [cmdCfgiSteRange(0x30, 1)])).toEqual(want);
  });
});

describe('the vASID table', () => {
  interface Ctx { vsid: number; b: number; cdmax: number; fmt: number; ptr: number; asids: Map<number, number> }

  /**
   * A CD table for `vsid`: linear (fmt 0, or cdmax 0), or 2-level with 4 KiB (fmt 1: 64 CDs)
   * or 64 KiB (fmt 2: 1024 CDs) leaves, some L1 descriptors invalid; CDs valid at random.
   * Returns which ASIDs its valid, reachable CDs hold (index -> ASID).
   */
  function cdTable(m: Machine, r: () => number, vsid: number, b: number, cdmax: number, fmt: number): Ctx {
    const n = 2 ** cdmax;
    const asids = new Map<number, number>();
    const writeCd = (addr: number, index: number): void => {
      const asid = r() % 0x10000;
      const valid = r() % 4 !== 0;
      m.smmu.writeMemory(addr, wordsToBytes(cd({ asid, ttb0: RAM_BASE, t0sz: 16, tg0: 0, valid })));
      if (valid) asids.set(index, asid);
    };
    if (cdmax === 0 || fmt === 0) {
      const ptr = m.driver.alloc(64 * n, 64 * n);
      for (let i = 0; i < n; i++) writeCd(ptr + 64 * i, i);
      return { vsid, b, cdmax, fmt, ptr, asids };
    }
    const split = fmt === 1 ? 6 : 10;
    const l1n = cdmax > split ? 2 ** (cdmax - split) : 1;
    const per = cdmax > split ? 2 ** split : n;
    const ptr = m.driver.alloc(8 * l1n, 64);
    for (let j = 0; j < l1n; j++) {
      const l2 = m.driver.alloc(64 * per, 4096);
      const valid = j === 0 || r() % 3 !== 0;
      m.smmu.writeMemory(ptr + 8 * j, wordsToBytes([valid ? BigInt(l2) | 1n : BigInt(l2)]));
      for (let k = 0; k < per; k++) writeCd(l2 + 64 * k, valid ? j * per + k : -1 - k);
    }
    for (const [i] of asids) if (i < 0) asids.delete(i);
    return { vsid, b, cdmax, fmt, ptr, asids };
  }

  /** ASID -> backend mask the contexts hold; `wild`: backends with a table too large to read. */
  function expected(ctxs: Ctx[]): { mask: Map<number, number>; wild: number } {
    const mask = new Map<number, number>();
    let wild = 0;
    for (const c of ctxs) {
      if (2 ** c.cdmax > A.LEARN_CD_LIMIT) wild |= 1 << c.b;
      else for (const a of c.asids.values()) mask.set(a, (mask.get(a) ?? 0) | (1 << c.b));
    }
    return { mask, wild };
  }

  function expectHolders(smmu: Machine['smmu'], want: { mask: Map<number, number>; wild: number }, probe: number[], nb: number): void {
    const names = (x: number): string[] => Array.from({ length: nb }, (_, i) => i).filter((i) => (x >>> i) & 1).map((i) => `p${i}`);
    const bad: string[] = [];
    for (const a of new Set([...want.mask.keys(), ...probe])) {
      const got = smmu.asidHolders(a).join(',');
      const w = names((want.mask.get(a) ?? 0) | want.wild).join(',');
      if (got !== w) bad.push(`ASID ${a}: ${got} (expected ${w})`);
    }
    expect(bad).toEqual([]);
  }

  const LAYOUTS: Array<[number, number]> = [[0, 0], [5, 0], [3, 1], [8, 1], [6, 2], [11, 2], [12, 1], [13, 0]];

  test('learned from linear and 2-level CD tables; CFGI_ALL forgets what the tables no longer hold; TLBI_NH_ASID goes to the holders', async () => {
    const NB = 3;
    const { m, recs } = await vsmmu(NB);
    let x = 12345;
    const r = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
    const probe = Array.from({ length: 64 }, () => r() % 0x10000);
    const attach = ([cdmax, fmt]: [number, number], i: number): Ctx => {
      const vsid = 0x40 + i;
      const c = cdTable(m, r, vsid, i % NB, cdmax, fmt);
      m.smmu.bindDevice({ sid: vsid, backend: `p${i % NB}`, psid: 0x2000 + i });
      m.driver.setSte(vsid, { config: 5, s1ctxptr: c.ptr, s1cdmax: cdmax, s1fmt: fmt });
      return c;
    };
    // without the table too large to read (no wildcard yet); each new (ASID, backend) pair is traced once
    const learnLines: string[] = [];
    m.smmu.setTrace((l) => { if (l.includes('vsmmu_vasid_learn')) learnLines.push(l.slice(l.indexOf('vsmmu_'))); });
    let ctxs = LAYOUTS.slice(0, 7).map(attach);
    m.smmu.setTrace(undefined);
    const pairsLearned = new Set<string>();
    for (const c of ctxs) for (const a of c.asids.values()) pairsLearned.add(`vsmmu_vasid_learn backend=${c.b} asid=0x${a.toString(16)}`);
    expect(learnLines.sort()).toEqual([...pairsLearned].sort());
    let want = expected(ctxs);
    expect(want.mask.size).toBeGreaterThan(300);
    expectHolders(m.smmu, want, probe, NB);
    // TLBI_NH_ASID: to the holders with their VMIDs, or to every backend for an ASID nobody holds
    const held = [...want.mask.keys()].find((a) => want.mask.get(a) !== 7)!;
    const nobody = probe.find((a) => !want.mask.has(a))!;
    for (const a of [held, nobody]) {
      const mask = want.mask.get(a) ?? 7;
      expect(run(m, recs, [cmdTlbiNhAsid(a)])).toEqual(recs.map((_, b) => ((mask >>> b) & 1 ? [`inv ${hex(cmdTlbiNhAsid(a, VMID0 + b))}`] : [])));
    }
    // new tables (other ASIDs) behind the same STEs: CFGI_ALL forgets the old ASIDs and learns the new
    ctxs = ctxs.map((c) => cdTable(m, r, c.vsid, c.b, c.cdmax, c.fmt));
    ctxs.forEach((c) => m.driver.setSte(c.vsid, { config: 5, s1ctxptr: c.ptr, s1cdmax: c.cdmax, s1fmt: c.fmt }, false));
    const old = want;
    run(m, recs, [cmdCfgiAll()]);
    want = expected(ctxs);
    expectHolders(m.smmu, want, [...old.mask.keys(), ...probe], NB);
    // CFGI_CD learns the device's ASIDs again (without forgetting the rest)
    const grown = cdTable(m, r, 0x40, 0, 5, 0);
    m.driver.setSte(0x40, { config: 5, s1ctxptr: grown.ptr, s1cdmax: 5, s1fmt: 0 }, false);
    run(m, recs, [cmdCfgiCd(0x40)]);
    for (const a of grown.asids.values()) want.mask.set(a, (want.mask.get(a) ?? 0) | 1);
    expectHolders(m.smmu, want, probe, NB);
    // a table too large to read: its backend is assumed to hold every ASID, until CFGI_ALL finds it gone
    const big = attach(LAYOUTS[7], 7);
    expectHolders(m.smmu, { mask: want.mask, wild: 1 << big.b }, probe, NB);
    m.driver.setSte(big.vsid, { config: 4 }, false);
    run(m, recs, [cmdCfgiAll()]);
    ctxs = ctxs.map((c) => (c.vsid === 0x40 ? grown : c));
    expectHolders(m.smmu, expected(ctxs), probe, NB);
  });

  test('a snapshot keeps the learned table: the restored model reaches the same backends for every ASID', async () => {
    const NB = 2;
    const { m } = await vsmmu(NB);
    let x = 99;
    const r = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
    const ctxs = LAYOUTS.slice(0, 6).map(([cdmax, fmt], i) => {
      const c = cdTable(m, r, 0x60 + i, i % NB, cdmax, fmt);
      m.smmu.bindDevice({ sid: c.vsid, backend: `p${c.b}`, psid: 0x3000 + i });
      m.driver.setSte(c.vsid, { config: 5, s1ctxptr: c.ptr, s1cdmax: cdmax, s1fmt: fmt });
      return c;
    });
    const want = expected(ctxs);
    const probe = Array.from({ length: 32 }, () => r() % 0x10000);
    expectHolders(m.smmu, want, probe, NB);
    const recs = [new Recorder('p0'), new Recorder('p1')];
    const b = await createSmmu({ ram: [{ base: RAM_BASE, size: RAM_SIZE }], devices: [0x18, 0x20, 0x28], viommu: {
      backends: recs.map((backend, i) => ({ name: `p${i}`, vmid: VMID0 + i, backend })),
      devices: ctxs.map((c, i) => ({ sid: c.vsid, backend: `p${c.b}`, psid: 0x3000 + i })),
    } });
    const snap = m.smmu.save();
    b.restore(snap);
    expectHolders(b, want, probe, NB);
    // the records as the format says: passthrough devices in ascending vSID (vSID, backend, pSID), learned vASIDs (ASID, mask)
    const parts = decodeSnapshot(snap);
    const u32s = (r: Uint8Array): number[] => Array.from({ length: r.length / 4 }, (_, i) => new DataView(r.buffer, r.byteOffset).getUint32(4 * i, true));
    expect(u32s(parts.records[SN.SEC_VDEVS])).toEqual(ctxs.flatMap((c, i) => [c.vsid, c.b, 0x3000 + i]));
    const pairs = u32s(parts.records[SN.SEC_VASIDS]);
    const learned = new Map(Array.from({ length: pairs.length / 2 }, (_, i) => [pairs[2 * i], pairs[2 * i + 1]]));
    expect(learned.size).toBe(pairs.length / 2);
    expect([...learned].sort((x, y) => x[0] - y[0])).toEqual([...want.mask].sort((x, y) => x[0] - y[0]));
  });
});
