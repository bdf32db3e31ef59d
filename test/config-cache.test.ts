// The configuration cache (QEMU bc->configs): which StreamIDs hold a decoded
// configuration under any mix of translations and CFGI_STE / CFGI_STE_RANGE / CFGI_CD /
// CFGI_ALL (against a plain model, with the hit/miss counters), and the cached entries a
// snapshot carries: every entry a decode produces, at the edges of its fields, restores
// and is used without decoding again; an entry a decode cannot produce is refused
// (docs/snapshot-format.md). The entry's layout is the engine's: each field is found here
// by decoding two configurations that differ only in that field and comparing the
// snapshot records, never by offsets written in the test.

import fc from 'fast-check';
import { machine, RAM_BASE, type Machine } from './helpers.js';
import { engineDebug } from '../src/engine-debug.js';
import { SnapshotError } from '../src/index.js';
import { decodeSnapshot, encodeSnapshot } from '../src/snapshot.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { cd, put, wordsToBytes, cmdSync, cmdCfgiSte, cmdCfgiSteRange, cmdCfgiAll, cmdCfgiCd, cmdCfgiCdAll, type CdFields, type S2Fields } from '../src/guest/encode.js';
import * as CD from '../src/arch/cd.js';
import * as SN from '../src/arch/snapshot.js';
import * as A from '../src/arch/abi.js';
import type { SmmuOptions } from '../src/types.js';

const PA = RAM_BASE + 0x900000;

describe('which StreamIDs hold a configuration', () => {
  // StreamIDs over the whole 12-bit table, bunched so that ranges cover several
  const SIDS = [0x0, 0x1, 0x2, 0x3, 0x7, 0x8, 0x10, 0x18, 0x1f, 0x20, 0x3f, 0x40, 0x41, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0x7ff, 0x800, 0xabc, 0xfff];
  const arbSid = fc.constantFrom(...SIDS);
  const arbHi = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff }) });
  const arbOp = fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('translate' as const), sid: arbSid }) },
    // a command's StreamID is 32 bits; QEMU finds the device by its low 16 (bus, devfn)
    { weight: 2, arbitrary: fc.record({ op: fc.constant('ste' as const), sid: arbSid, hi: arbHi }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('range' as const), sid: arbSid, hi: arbHi, range: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 31 })) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('cd' as const), sid: arbSid, hi: arbHi, all: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('all' as const) }) },
  );

  test('after any mix of translations and CFGI_STE, CFGI_STE_RANGE, CFGI_CD(_ALL), CFGI_ALL: exactly the translated and not since invalidated; hits and misses counted', async () => {
    const m = await machine({ devices: SIDS }, { strtab: { log2size: 12 } });
    const d = m.driver.createDomain({ asid: 5 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    // stage 1, bypass and abort STEs: every kind is cached
    SIDS.forEach((sid, i) => m.driver.setSte(sid, i % 3 === 0 ? { config: 4 } : i % 3 === 1 ? { config: 0 } : { config: 5, s1ctxptr: d.cdAddr }, false));
    m.driver.submit([cmdCfgiAll(), cmdSync()]);
    const dbg = engineDebug(m.smmu);
    await fc.assert(fc.asyncProperty(fc.array(arbOp, { minLength: 10, maxLength: 80 }), async (ops) => {
      m.driver.submit([cmdCfgiAll(), cmdSync()]);
      const cached = new Set<number>();
      for (const o of ops) {
        switch (o.op) {
          case 'translate': {
            const s0 = m.smmu.stats();
            m.smmu.translate(o.sid, 0x1000);
            const s1 = m.smmu.stats();
            expect([o.sid, s1.configHits - s0.configHits, s1.configMisses - s0.configMisses]).toEqual([o.sid, cached.has(o.sid) ? 1 : 0, cached.has(o.sid) ? 0 : 1]);
            cached.add(o.sid);
            break;
          }
          case 'ste': m.driver.submit([cmdCfgiSte(o.sid + o.hi * 0x10000), cmdSync()]); cached.delete(o.sid); break;
          case 'cd': m.driver.submit([o.all ? cmdCfgiCdAll(o.sid + o.hi * 0x10000) : cmdCfgiCd(o.sid + o.hi * 0x10000, 0), cmdSync()]); cached.delete(o.sid); break;
          case 'all': m.driver.submit([cmdCfgiAll(), cmdSync()]); cached.clear(); break;
          case 'range': {
            const span = 2 ** (o.range + 1);
            const full = o.sid + o.hi * 0x10000;
            const start = full - (full % span);
            m.driver.submit([cmdCfgiSteRange(full, o.range), cmdSync()]);
            for (const s of [...cached]) if (s >= start && s < start + span) cached.delete(s);
            break;
          }
        }
        expect(SIDS.filter((s) => dbg.configCached(s))).toEqual(SIDS.filter((s) => cached.has(s)));
      }
    }), { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 40) });
  });

  test('smmuv3_config_cache_inv: CFGI_STE and CFGI_CD name the device by its 16-bit StreamID whether cached or not; CFGI_STE_RANGE names each cached one in its range', async () => {
    const m = await machine({ devices: [0x18, 0x20, 0x1234, 0xffff] }, { strtab: { log2size: 16 } });
    const d = m.driver.createDomain({ asid: 5 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    for (const sid of [0x18, 0x20, 0x1234, 0xffff]) m.driver.setSte(sid, { config: 5, s1ctxptr: d.cdAddr }, false);
    const traced = (cmds: bigint[][]): string[] => {
      const lines: string[] = [];
      m.smmu.setTrace((l) => { if (l.includes('smmuv3_config_cache_inv')) lines.push(l.slice(l.indexOf('sid='))); });
      m.driver.submit([...cmds, cmdSync()]);
      m.smmu.setTrace(undefined);
      return lines;
    };
    const cacheAll = (): void => { for (const sid of [0x18, 0x20, 0x1234, 0xffff]) expect(m.smmu.translate(sid, 0x1000).addr).toBe(PA); };
    expect(traced([cmdCfgiSte(0x18), cmdCfgiSte(0x10020), cmdCfgiCd(0xabcd1234, 0), cmdCfgiSte(0x19)])).toEqual(['sid=0x18', 'sid=0x20', 'sid=0x1234']);
    cacheAll();
    expect(traced([cmdCfgiSte(0x7fff0018)])).toEqual(['sid=0x18']);
    expect(engineDebug(m.smmu).configCached(0x18)).toBe(false);
    expect(engineDebug(m.smmu).configCached(0x20)).toBe(true);
    // 0x1000-0x1fff: only 0x1234 is cached there; a range above 16 bits holds none of them
    expect(traced([cmdCfgiSteRange(0x1800, 11), cmdCfgiSteRange(0x10000, 15)])).toEqual(['sid=0x1234']);
    cacheAll();
    // CFGI_ALL: every cached one, 0xffff included
    expect(traced([cmdCfgiAll()]).sort()).toEqual(['sid=0x1234', 'sid=0x18', 'sid=0x20', 'sid=0xffff']);
  });

  test('smmuv3_cmdq_cfgi_cd: traced for a device\'s StreamID only (QEMU finds no device for the others and skips the command)', async () => {
    const m = await machine({ devices: [0x18] });
    const lines: string[] = [];
    m.smmu.setTrace((l) => { if (l.includes('smmuv3_cmdq_cfgi_cd')) lines.push(l.slice(l.indexOf('smmuv3'))); });
    m.driver.submit([cmdCfgiCd(0x19, 0), cmdCfgiCd(0x18, 0), cmdCfgiCd(0x20, 0), cmdSync()]);
    expect(lines).toEqual(['smmuv3_cmdq_cfgi_cd sid=0x18']);
  });
});

// ---- cached entries in snapshots ----------------------------------------------------------

const NESTED: Partial<SmmuOptions> = { profile: 'qemu-10.0', stage: 'nested' };
const S2_BASE: S2Fields = { vmid: 1, ttb: RAM_BASE + 0x200000, t0sz: 32, sl0: 0, tg: 0, ps: 1, affd: false, r: false };
const TTB = RAM_BASE + 0x300000;

type Setup = (m: Machine) => void;
/** Stage 1: a CD (the domain's root as TTB0 unless `over` says otherwise). */
const s1 = (over: Partial<CdFields>, had1 = false): Setup => (m) => {
  const d = m.driver.createDomain({ asid: 3, cd: { t0sz: 20, ips: 0, ttb0: TTB, ...over } });
  if (had1) {
    const w = cd({ asid: 3, ttb0: TTB, t0sz: 20, tg0: 0, ips: 0, ...over });
    put(w, CD.CD_HAD1, 1);
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(w));
  }
  m.driver.attach(0x18, d);
};
const s2 = (over: Partial<S2Fields>): Setup => (m) => m.driver.setSte(0x18, { config: 6, s2: { ...S2_BASE, ...over } });
/** Nested: a CD behind an identity stage 2 of the driver's heap. */
const nested = (over: Partial<CdFields>, s2o: Partial<S2Fields> = {}): Setup => (m) => {
  const t = new Stage2Tables(m.driver, { vmid: 7, ipaBits: 40, ste: s2o });
  t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
  const d = m.driver.createDomain({ asid: 3, cd: { t0sz: 20, ...over } });
  m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
};

/** A snapshot (caches kept) of a model whose only cached configuration is device 0x18's, decoded from `setup`. */
async function snapOf(setup: Setup, opts: Partial<SmmuOptions> = NESTED): Promise<Uint8Array> {
  const m = await machine(opts);
  setup(m);
  expect(engineDebug(m.smmu).loadConfig(0x18)).toBe(true);
  return m.smmu.save({ caches: true });
}

/** The cached entry in a snapshot. */
function entryOf(snap: Uint8Array): Uint8Array {
  const r = decodeSnapshot(snap).records[SN.SEC_CONFIGS];
  expect(r.length).toBe(A.REC_CONFIG_BYTES);
  return r.subarray(SN.REC_CONFIG_ENTRY, SN.REC_CONFIG_ENTRY + A.CF_ENTRY_BYTES);
}

/** Where two entries differ (byte positions). */
function diff(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

/** The one byte in which the entries of two decodes differ. */
async function fieldByte(a: Setup, b: Setup, opts: Partial<SmmuOptions> = NESTED): Promise<number> {
  const d = diff(entryOf(await snapOf(a, opts)), entryOf(await snapOf(b, opts)));
  expect(d).toHaveLength(1);
  return d[0];
}

/** `snap` with `bytes` written at `at` of its cached entry (little-endian `value`). */
function patched(snap: Uint8Array, at: number, value: bigint, bytes: number): Uint8Array {
  const p = decodeSnapshot(snap);
  const rec = p.records[SN.SEC_CONFIGS].slice();
  for (let i = 0; i < bytes; i++) rec[SN.REC_CONFIG_ENTRY + at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  const records = p.records.slice();
  records[SN.SEC_CONFIGS] = rec;
  return encodeSnapshot({ ...p, records });
}

/** 'ok', or the SnapshotError code of restoring `snap` (caches kept) into a fresh model. */
async function restoreCode(snap: Uint8Array, opts: Partial<SmmuOptions> = NESTED): Promise<string> {
  const m = await machine(opts);
  try {
    m.smmu.restore(snap, { caches: 'keep', arrival: false });
    return 'ok';
  } catch (e) {
    if (!(e instanceof SnapshotError)) throw e;
    return e.code;
  }
}

/** Restores `snap` with each value at the field and reports which were refused. */
async function verdicts(snap: Uint8Array, at: number, values: Array<[number | bigint, boolean]>, bytes = 1, opts: Partial<SmmuOptions> = NESTED): Promise<string[]> {
  const out: string[] = [];
  for (const [v, ok] of values) {
    const code = await restoreCode(patched(snap, at, BigInt(v), bytes), opts);
    if ((code === 'ok') !== ok) out.push(`${v}: ${code}, expected ${ok ? 'ok' : 'a refusal'}`);
    else if (!ok && code !== 'corrupt') out.push(`${v}: refused as ${code}, expected corrupt`);
  }
  return out;
}

describe('cached configurations in snapshots', () => {
  test('every kind of entry, at the edges of what a decode produces, restores and is used as it is (a configuration-cache hit, the same translation)', async () => {
    const cases: Array<[string, Partial<SmmuOptions>, (m: Machine) => number]> = [];
    const s1case = (name: string, over: Partial<CdFields>, opts: Partial<SmmuOptions> = NESTED, had1 = false) =>
      cases.push([name, opts, (m) => {
        const d = m.driver.createDomain({ asid: 0xffff, vaBits: 64 - (over.t0sz ?? 16), cd: { ...over } });
        m.driver.map(d, 0x10000, PA, 0x1000);
        if (over.epd1 === false) {
          const w = cd({ asid: 0xffff, ttb0: d.root, t0sz: 16, tg0: 0, ...over, ttb1: d.root });
          if (had1) put(w, CD.CD_HAD1, 1);
          m.smmu.writeMemory(d.cdAddr, wordsToBytes(w));
        }
        m.driver.attach(0x18, d);
        return 0x10010;
      }]);
    s1case('stage 1, T0SZ 16, 48-bit IPS capped at 44, TBI 3, HAD0, R = 0, AFFD', { t0sz: 16, ips: 5, tbi: 3, had0: true, r: false, affd: true });
    s1case('stage 1, T0SZ 39, 32-bit IPS', { t0sz: 39, ips: 0 });
    s1case('stage 1 on QEMU 7.2 (no VMID)', { t0sz: 25, tbi: 1 }, {});
    for (const [tg1, t1sz] of [[1, 39], [2, 16], [3, 30]]) s1case(`stage 1 with TTB1: TG1 ${tg1}, T1SZ ${t1sz}, HAD1`, { t0sz: 25, epd1: false, tg1, t1sz }, NESTED, true);
    const s2case = (name: string, o: ConstructorParameters<typeof Stage2Tables>[1]) => cases.push([name, NESTED, (m) => {
      const t = new Stage2Tables(m.driver, o);
      t.map(0, PA, t.granule);
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      return 0x1010;
    }]);
    s2case('stage 2: 4K, level 0, 44 bits, VMID 0xffff, S2R, S2AFFD', { vmid: 0xffff, granule: 4096, ipaBits: 44, sl0: 2, ste: { r: true, affd: true } });
    s2case('stage 2: 16K, level 3, 25 bits, 32-bit S2PS', { vmid: 0, granule: 16384, ipaBits: 25, sl0: 0, ste: { ps: 0, r: false, affd: false } });
    s2case('stage 2: 64K, level 1, 42 bits', { vmid: 2, granule: 65536, ipaBits: 42, sl0: 2 });
    cases.push(['nested', NESTED, (m) => {
      const t = new Stage2Tables(m.driver, { vmid: 7, ipaBits: 40 });
      t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
      t.map(0x80000000, PA, 0x1000);
      const d = m.driver.createDomain({ asid: 3 });
      m.driver.map(d, 0x1000, 0x80000000, 0x1000);
      m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
      return 0x1010;
    }]);
    cases.push(['abort', NESTED, (m) => { m.driver.setSte(0x18, { config: 0 }); return 0x1010; }]);
    cases.push(['bypass', NESTED, (m) => { m.driver.setSte(0x18, { config: 4 }); return 0x1010; }]);
    for (const [name, opts, setup] of cases) {
      const a = await machine(opts);
      const iova = setup(a);
      expect([name, engineDebug(a.smmu).loadConfig(0x18)]).toEqual([name, true]);
      const snap = a.smmu.save({ caches: true });
      const want = a.smmu.translate(0x18, iova);
      const b = await machine(opts);
      setup(b); // the same tables in b's memory
      expect([name, await restoreCode(snap, opts)]).toEqual([name, 'ok']);
      b.smmu.restore(snap, { caches: 'keep', arrival: false });
      // the STE and CD in b's memory are not a's: a decode would not give a's translation
      m0(b);
      const s0 = b.smmu.stats();
      expect([name, b.smmu.translate(0x18, iova)]).toEqual([name, want]);
      expect([name, b.smmu.stats().configHits - s0.configHits, b.smmu.stats().configMisses - s0.configMisses]).toEqual([name, 1, 0]);
    }
  });

  test('restored entries are invalidated like decoded ones: by CFGI_STE, CFGI_STE_RANGE and CFGI_ALL, whether restored over cached ones or into an empty cache', async () => {
    const sids = [0x10, 0x18, 0x20, 0x28, 0x30];
    /** A model whose guest attached every device (the same commands each time, so a snapshot's queue matches the driver). */
    const guest = async (): Promise<Machine> => {
      const m = await machine({ devices: sids });
      const d = m.driver.createDomain({ asid: 5 });
      m.driver.map(d, 0x1000, PA, 0x1000);
      for (const sid of sids) m.driver.attach(sid, d);
      return m;
    };
    const a = await guest();
    for (const sid of [0x28, 0x10, 0x30, 0x18]) expect(a.smmu.translate(sid, 0x1000).status).toBe('success');
    const snap = a.smmu.save({ caches: true });
    for (const [before, times] of [[[], 1], [[0x18, 0x20], 1], [[0x10, 0x18, 0x28, 0x30], 1], [[], 2], [[0x20, 0x30], 2]] as Array<[number[], number]>) {
      const b = await guest();
      const dbg = engineDebug(b.smmu);
      const cachedNow = (): number[] => sids.filter((s) => dbg.configCached(s));
      for (const sid of before) expect(dbg.loadConfig(sid)).toBe(true);
      for (let k = 0; k < times; k++) b.smmu.restore(snap, { caches: 'keep', arrival: false });
      expect(cachedNow()).toEqual([0x10, 0x18, 0x28, 0x30]);
      b.driver.submit([cmdCfgiSte(0x28), cmdSync()]);
      expect(cachedNow()).toEqual([0x10, 0x18, 0x30]);
      b.driver.submit([cmdCfgiSteRange(0x10, 3), cmdSync()]); // 0x10-0x1f
      expect(cachedNow()).toEqual([0x30]);
      expect(b.smmu.translate(0x20, 0x1000).status).toBe('success');
      b.driver.submit([cmdCfgiAll(), cmdSync()]);
      expect(cachedNow()).toEqual([]);
    }
  });

  test('a snapshot naming one StreamID twice: one entry cached for it, and invalidations still find every entry', async () => {
    const sids = [0x10, 0x18, 0x20];
    const guest = async (): Promise<Machine> => {
      const m = await machine({ devices: sids });
      const d = m.driver.createDomain({ asid: 5 });
      m.driver.map(d, 0x1000, PA, 0x1000);
      for (const sid of sids) m.driver.attach(sid, d);
      return m;
    };
    const a = await guest();
    for (const sid of [0x20, 0x10, 0x18]) expect(a.smmu.translate(sid, 0x1000).status).toBe('success');
    const p = decodeSnapshot(a.smmu.save({ caches: true }));
    const recs = p.records[SN.SEC_CONFIGS];
    const one = (sid: number): Uint8Array => recs.slice(...((i) => [i * A.REC_CONFIG_BYTES, (i + 1) * A.REC_CONFIG_BYTES])(
      Array.from({ length: recs.length / A.REC_CONFIG_BYTES }, (_, i) => new DataView(recs.buffer, recs.byteOffset).getUint32(i * A.REC_CONFIG_BYTES + SN.REC_CONFIG_SID, true)).indexOf(sid)));
    const dup = new Uint8Array(4 * A.REC_CONFIG_BYTES);
    [0x10, 0x20, 0x10, 0x18].forEach((sid, i) => dup.set(one(sid), i * A.REC_CONFIG_BYTES));
    const state = p.state.slice();
    new DataView(state.buffer).setUint32(SN.SN_N_CONFIGS, 4, true);
    const records = p.records.slice();
    records[SN.SEC_CONFIGS] = dup;
    const snap = encodeSnapshot({ ...p, state, records });
    const b = await guest();
    const dbg = engineDebug(b.smmu);
    b.smmu.restore(snap, { caches: 'keep', arrival: false });
    const cachedNow = (): number[] => sids.filter((s) => dbg.configCached(s));
    expect(cachedNow()).toEqual([0x10, 0x18, 0x20]);
    b.driver.submit([cmdCfgiSte(0x10), cmdSync()]);
    expect(cachedNow()).toEqual([0x18, 0x20]);
    b.driver.submit([cmdCfgiSteRange(0x18, 0), cmdSync()]); // 0x18-0x19
    expect(cachedNow()).toEqual([0x20]);
    b.driver.submit([cmdCfgiAll(), cmdSync()]);
    expect(cachedNow()).toEqual([]);
  });

  test('whether a StreamID is a device is the model\'s, not the snapshot entry\'s: a restored entry claiming otherwise is still invalidated by CFGI_STE', async () => {
    const setup = (m: Machine): void => m.driver.setSte(0x18, { config: 4 });
    const withDev = await snapOf(setup, { devices: [0x18] });
    const noDev = await snapOf(setup, { devices: [0x20] });
    const d = diff(entryOf(withDev), entryOf(noDev));
    expect(d).toHaveLength(1);
    for (const v of [0n, 2n]) {
      const b = await machine({ devices: [0x18] });
      b.driver.setSte(0x18, { config: 4 });
      b.smmu.restore(patched(withDev, d[0], v, 1), { caches: 'keep', arrival: false });
      expect(engineDebug(b.smmu).configCached(0x18)).toBe(true);
      b.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
      expect(engineDebug(b.smmu).configCached(0x18)).toBe(false);
    }
  });

  test('an entry holds only its own configuration: decoded after any other one for the same StreamID, it saves byte for byte as after an abort STE', async () => {
    const rich: Array<[string, Setup]> = [
      ['stage 1 with TTB1, TBI, HAD, AFFD', s1({ epd1: false, t1sz: 20, tg1: 3, ttb1: TTB + 0x1000, tbi: 3, had0: true, affd: true, asid: 0xffff } as Partial<CdFields>, true)],
      ['stage 2 with S2R and S2AFFD', s2({ vmid: 0xfff, r: true, affd: true, tg: 1, sl0: 1, t0sz: 28, ps: 4, ttb: TTB + 0x10000 })],
      ['nested', nested({ tbi: 1 }, { r: true })],
    ];
    const plain: Array<[string, Setup]> = [
      ['stage 1 without TTB1', s1({ tbi: 0, affd: false, r: false })],
      ['stage 2', s2({})],
      ['abort', (m) => m.driver.setSte(0x18, { config: 0 })],
      ['bypass', (m) => m.driver.setSte(0x18, { config: 4 })],
    ];
    const entryAfter = async (first: Setup, then: Setup): Promise<Uint8Array> => {
      const m = await machine(NESTED);
      first(m);
      expect(engineDebug(m.smmu).loadConfig(0x18)).toBe(true);
      m.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
      then(m);
      expect(engineDebug(m.smmu).loadConfig(0x18)).toBe(true);
      return entryOf(m.smmu.save({ caches: true }));
    };
    for (const [name, then] of plain) {
      const want = await entryAfter((m) => m.driver.setSte(0x18, { config: 0 }), then);
      for (const [prev, first] of rich) expect([name, prev, diff(await entryAfter(first, then), want)]).toEqual([name, prev, []]);
    }
  });

  test('stage-1 fields beyond what decode_cd produces are refused: T0SZ, T1SZ, granules, EPD, HAD, TBI, AFFD, CD.R, OAS, the TTB beyond the OAS', async () => {
    const base = s1({});
    const snap = await snapOf(base);
    const T1 = { epd1: false, t1sz: 20, tg1: 2, ttb1: TTB + 0x1000 };
    const tt1 = s1(T1);
    const snap1 = await snapOf(tt1);
    const tsz0 = await fieldByte(base, s1({ t0sz: 21 }));
    const tsz1 = await fieldByte(tt1, s1({ ...T1, t1sz: 21 }));
    const g0 = await fieldByte(base, s1({ tg0: 2 }));
    const g1 = await fieldByte(tt1, s1({ ...T1, tg1: 1 }));
    const had0 = await fieldByte(base, s1({ had0: true }));
    const had1 = await fieldByte(tt1, s1(T1, true));
    const tbi = await fieldByte(base, s1({ tbi: 1 }));
    const rec = await fieldByte(base, s1({ r: false }));
    const oas = await fieldByte(base, s1({ ips: 1 }));
    const affd = await fieldByte(base, s1({ affd: false }));
    const ttb0 = await fieldByte(base, s1({ ttb0: TTB + 0x40 }));
    const ttb1 = await fieldByte(tt1, s1({ ...T1, ttb1: TTB + 0x1040 }));
    // TT1's disabled flag: what else differs between TT1 enabled and disabled
    const known = new Set([tsz1, g1, had1, ...Array.from({ length: 8 }, (_, i) => ttb1 + i)]);
    const epd = diff(entryOf(snap), entryOf(snap1)).filter((i) => !known.has(i));
    expect(epd).toHaveLength(1);
    const bad = [
      ...await verdicts(snap, tsz0, [[16, true], [39, true], [15, false], [40, false]]),
      ...await verdicts(snap1, tsz1, [[16, true], [39, true], [15, false], [40, false]]),
      ...await verdicts(snap, g0, [[12, true], [14, true], [16, true], [0, false], [11, false], [13, false], [15, false], [17, false]]),
      ...await verdicts(snap1, g1, [[12, true], [16, true], [11, false], [13, false], [15, false], [17, false]]),
      ...await verdicts(snap, had0, [[1, true], [2, false]]),
      ...await verdicts(snap1, had1, [[1, true], [2, false]]),
      ...await verdicts(snap1, epd[0], [[1, true], [2, false]]),
      ...await verdicts(snap, tbi, [[3, true], [4, false]]),
      ...await verdicts(snap, affd, [[0, true], [1, true], [2, false]]),
      ...await verdicts(snap, rec, [[0, true], [1, true], [2, false]]),
      ...await verdicts(snap, oas, [[32, true], [44, true], [31, false], [45, false], [0, false]]),
      // the 32-bit OAS of the snapshot's entry: its TTB must lie below 2^32
      ...await verdicts(snap, ttb0, [[0xfffffff0n, true], [0x100000000n, false], [1n << 44n, false]], 8),
      ...await verdicts(snap1, ttb1, [[0xfffffff0n, true], [0x100000000n, false]], 8),
    ];
    expect(bad).toEqual([]);
  });

  test('stage-2 fields beyond what decode_ste_s2_cfg produces are refused, for stage-2 and nested entries; the kind and the VMID must be ones a decode gives', async () => {
    const base = s2({});
    const snap = await snapOf(base);
    const r = await fieldByte(base, s2({ r: true }));
    const affd = await fieldByte(base, s2({ affd: true }));
    const level = await fieldByte(base, s2({ sl0: 1 }));
    const tsz = await fieldByte(base, s2({ t0sz: 31 }));
    const ps = await fieldByte(base, s2({ ps: 2 }));
    // 4K at S2SL0 0 and 16K at S2SL0 1 both start at level 2
    const g = await fieldByte(base, s2({ tg: 2, sl0: 1 }));
    const vmid = await fieldByte(base, s2({ vmid: 2 }));
    const kind = await fieldByte((m) => m.driver.setSte(0x18, { config: 0 }), (m) => m.driver.setSte(0x18, { config: 4 }));
    const nest = await snapOf(nested({}));
    const bad = [
      ...await verdicts(snap, r, [[1, true], [2, false]]),
      ...await verdicts(snap, affd, [[1, true], [2, false]]),
      ...await verdicts(snap, level, [[3, true], [4, false]]),
      ...await verdicts(snap, tsz, [[39, true], [40, false]]),
      ...await verdicts(snap, ps, [[44, true], [45, false]]),
      ...await verdicts(snap, g, [[14, true], [16, true], [11, false], [13, false], [15, false], [17, false]]),
      ...await verdicts(nest, g, [[16, true], [13, false], [17, false]]),
      ...await verdicts(nest, level, [[4, false]]),
      ...await verdicts(nest, r, [[2, false]]),
      ...await verdicts(snap, vmid, [[0xffff, true], [A.KEY_NONE, true], [A.KEY_NONE + 1, false]], 4),
      ...await verdicts(snap, kind, [[5, false], [0xff, false]]),
    ];
    expect(bad).toEqual([]);
  });
});

/** Overwrites the STE of 0x18 in `m`'s memory with an abort STE (no invalidation): only the cached configuration can translate. */
function m0(m: Machine): void {
  m.smmu.writeMemory(m.driver.steAddr(0x18), new Uint8Array(64));
}
