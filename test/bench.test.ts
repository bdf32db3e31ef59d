// The benchmark machinery on tiny sizes: every implementation consumes exactly the
// commands written, from the same state, ending in the same state; the report and the
// JSON are complete. No timing is asserted. Also: the engine's untraced command loop
// (the one the benchmark times) agrees with the TypeScript reference on random streams.

import fc from 'fast-check';
import { createSmmu } from '../src/index.js';
import { ReferenceCmdq } from '../src/reference/cmdq.js';
import { ModelStreamBench } from '../src/bench/model.js';
import { engineDebug, engineExports } from '../src/engine-debug.js';
import { engineIotlb } from '../src/reference/from-engine.js';
import { ReferenceStreamBench } from '../src/bench/reference.js';
import { qemuStream } from '../src/bench/qemu.js';
import { qemuTest } from './helpers.js';
import { runBench } from '../src/bench/index.js';
import { toJson, toText } from '../src/bench/report.js';
import {
  STREAMS, streamBytes, opcodeCounts, IOTLB_ENTRIES, EMULATED, SYNC_EVERY, FULL_STREAM, CACHED_ASIDS,
} from '../src/bench/streams.js';
import * as A from '../src/arch/abi.js';
import * as C from '../src/arch/commands.js';
import * as R from '../src/arch/registers.js';
import { wordsToBytes } from '../src/guest/encode.js';
import { refKey, type RefTlbEntry } from '../src/reference/iotlb.js';

const N = 1200;
const key = (e: RefTlbEntry) => `${e.asid}/${e.iova}/${e.tg}/${e.level}/${e.ta}/${e.mask}/${e.perm}`;

test('the streams hold what they say', () => {
  const byName = new Map(STREAMS.map((s) => [s.name, opcodeCounts(streamBytes(s, N))]));
  expect(FULL_STREAM).toBe(2 ** 19 - 1);
  expect([...byName.get('CMD_SYNC')!]).toEqual([[C.CMD_SYNC, N]]);
  expect([...byName.get('TLBI_NH_VA many ASIDs')!]).toEqual([[C.CMD_TLBI_NH_VA, N]]);
  expect([...byName.get('TLBI_NH_ASID')!]).toEqual([[C.CMD_TLBI_NH_ASID, N]]);
  expect([...byName.get('CFGI_STE')!]).toEqual([[C.CMD_CFGI_STE, N]]);
  const s17 = byName.get('TLBI_NH_VA + SYNC/17')!;
  expect(s17.get(C.CMD_SYNC)).toBe(Math.floor(N / SYNC_EVERY));
  expect(s17.get(C.CMD_TLBI_NH_VA)).toBe(N - Math.floor(N / SYNC_EVERY));
  const mixed = byName.get('mixed vIOMMU')!;
  expect(mixed.get(C.CMD_SYNC)).toBe(Math.floor(N / SYNC_EVERY));
  expect([...mixed.keys()].sort((a, b) => a - b)).toEqual([C.CMD_CFGI_STE, C.CMD_CFGI_CD, C.CMD_TLBI_NH_ASID, C.CMD_TLBI_NH_VA, C.CMD_SYNC]);
});

describe.each(STREAMS.map((s) => [s.name, s] as const))('stream %s', (_name, spec) => {
  test('engine and reference consume every command from the same state and end in the same state', async () => {
    const model = await ModelStreamBench.create(spec, streamBytes(spec, N), true);
    const ref = new ReferenceStreamBench(model);
    for (let round = 0; round < 2; round++) {
      model.prepare();
      // the state every implementation starts from: a full IOTLB and the emulated devices' configs
      const before = model.iotlb();
      expect(before).toHaveLength(IOTLB_ENTRIES);
      expect(new Set(before.map((e) => e.asid))).toEqual(new Set(CACHED_ASIDS));
      expect(model.cachedConfigs()).toEqual(EMULATED);
      ref.load();
      const entries0 = [...model.backends, ...ref.backends].map((b) => b.counters.entries);
      const nulls0 = [...model.nulls, ...ref.nulls].map((b) => b.entries);
      const c0 = model.smmu.stats().commands;
      model.run(); // throws unless CONS = N, no command error, and N commands counted
      expect(model.smmu.stats().commands - c0).toBe(N);
      ref.run(); // throws unless the reference consumed N
      expect(ref.last!.s.cons).toBe(N);
      expect(model.iotlb().map(key).sort()).toEqual([...ref.last!.iotlb.entries.values()].map(key).sort());
      expect(model.cachedConfigs()).toEqual(EMULATED.filter((s) => ref.last!.configs.has(s)));
      if (spec.viommu) {
        expect(model.smmu.stats().forwarded).toBeGreaterThan(0);
        // null backends: each got every entry the reference's got
        expect(model.nulls.length).toBe(spec.backends === 'null' ? 2 : 0);
        const got = [...model.nulls, ...ref.nulls].map((b, i) => b.entries - nulls0[i]);
        expect(got.slice(2)).toEqual(got.slice(0, 2)); // engine = reference, per backend
        for (const n of got) expect(n).toBeGreaterThan(0);
        for (let b = 0; b < model.backends.length; b++) {
          const nb = model.backends.length;
          expect(model.backends[b].counters.entries - entries0[b]).toBe(ref.backends[b].counters.entries - entries0[nb + b]);
          expect(model.backends[b].applied.length).toBeGreaterThan(0);
          expect(model.backends[b].applied).toEqual(ref.backends[b].applied);
        }
      }
    }
    if (spec.name.startsWith('TLBI_NH')) expect(model.iotlb()).toHaveLength(0); // the tails remove every cached entry
    model.smmu.dispose();
  });
});

test('runBench on tiny sizes: every field, counts that add up', async () => {
  const r = await runBench({
    commands: 400, runs: 1, qemu: false,
    translate: { batchPerSample: A.XB_CAPACITY, singlePerSample: 1000, missPerSample: A.XB_CAPACITY, dmaPerSample: 100, samples: 2 },
    growth: { commands: 4000, translations: 4000 },
  });
  const j = JSON.parse(JSON.stringify(toJson(r)));
  expect(j.streams.map((s: { name: string }) => s.name)).toEqual(STREAMS.map((s) => s.name));
  for (const s of j.streams) {
    for (const f of ['name', 'commands', 'wasm_mcmd_s', 'ts_mcmd_s', 'qemu_mcmd_s', 'memcpy_mcmd_s']) expect(s).toHaveProperty(f);
    expect(s.commands).toBe(400);
    expect(s.qemu_mcmd_s).toBeNull();
    for (const f of ['wasm_mcmd_s', 'ts_mcmd_s', 'memcpy_mcmd_s']) expect(s[f]).toBeGreaterThan(0);
    expect(s.samples.wasm).toHaveLength(3);
    expect(s.samples.ts).toHaveLength(1);
  }
  const mixed = j.streams.find((s: { name: string }) => s.name === 'mixed vIOMMU');
  const nul = j.streams.find((s: { name: string }) => s.name === 'mixed vIOMMU null backends');
  expect(mixed.forwarded.wasm).toBeGreaterThan(0);
  expect(nul.forwarded).toEqual(mixed.forwarded); // the same guest stream, the same entries
  expect(nul.excluding_backends).toBeUndefined();
  expect(mixed.dispatcher_share).toBeGreaterThan(0);
  const targets = j.targets.map((t: { target: string }) => t.target);
  expect(targets).toContain('mixed vIOMMU null backends: >= 10% of TLBI_NH_VA + SYNC/17');
  expect(targets).toContain('mixed vIOMMU: dispatcher share < 25% (time with null backends / time)');
  expect(mixed.dispatcher_share).toBeCloseTo(mixed.wasm_mcmd_s / nul.wasm_mcmd_s, 1);
  expect(targets).toContain('mixed vIOMMU: >= 2x the TS reference');
  for (const f of ['hit_batch_m_s', 'hit_single_m_s', 'miss_m_s', 'dma_4k_m_s']) expect(j.translate[f]).toBeGreaterThan(0);
  expect(j.translate.counts).toEqual({ hit_batch: 2 * A.XB_CAPACITY, hit_single: 2000, miss: 2 * A.XB_CAPACITY, dma_pages: 200 });
  expect(typeof j.growth_bytes).toBe('number');
  expect(j.growth.wasm_bytes).toBe(0);
  expect(j.growth.commands).toBeGreaterThanOrEqual(4000);
  expect(j.growth.translations).toBe(4000);
  expect(j.wasm_bytes).toBeGreaterThan(1000);
  for (const f of ['cpu', 'cores', 'node', 'date']) expect(j.machine).toHaveProperty(f);
  expect(j.machine.qemu).toBeNull();
  expect(j.targets.length).toBeGreaterThan(STREAMS.length);
  const text = toText(r);
  expect(text).toContain('| stream (Mcmd/s) | wasm | TS ref | QEMU 7.2 | memcpy |');
  for (const s of STREAMS) expect(text).toContain(`| ${s.name} |`);
  expect(text.match(/ {2}spread \(min \/ median \/ max Mcmd\/s\): wasm [\d.]+ \/ [\d.]+ \/ [\d.]+; TS /g)).toHaveLength(STREAMS.length);
});

qemuTest('test/bench.test.ts')('QEMU 7.2 consumes every command of every stream', async () => {
  for (const spec of STREAMS) {
    const r = await qemuStream(spec, streamBytes(spec, 300), 1); // throws unless CONS reaches 300 without an error
    expect(r.runs).toHaveLength(1);
    expect(r.rtt).toBeGreaterThan(0);
  }
}, 300000);

// ---- the untraced command loop against the reference ------------------------------------

const RAM = 0x40000000;
const STRTAB = RAM + 0x10000;
const CMDQ = RAM + 0x40000;
const DEVICES = [0x18, 0x20, 0x28];
const ASIDS = [1, 7, 0x1234];
const OPS = [C.CMD_SYNC, C.CMD_TLBI_NH_VA, C.CMD_TLBI_NH_VAA, C.CMD_TLBI_NH_ASID, C.CMD_TLBI_NH_ALL, C.CMD_CFGI_STE, C.CMD_CFGI_CD, C.CMD_CFGI_STE_RANGE, C.CMD_PREFETCH_CONFIG];

const arbCmd = fc.record({
  op: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...OPS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  ssec: fc.integer({ min: 0, max: 15 }).map((x) => (x === 0 ? 1 : 0)),
  cs: fc.integer({ min: 0, max: 3 }),
  sid: fc.constantFrom(...DEVICES, 0x30, 0x10018),
  asid: fc.constantFrom(...ASIDS, 0x99),
  page: fc.integer({ min: 0, max: 7 }),
  tg: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 3 })), // the entries are 4 KiB-granule ones
  ttl: fc.integer({ min: 0, max: 3 }),
  num: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 31 })), // 0: one granule, or a power of two with SCALE
  scale: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 31 })),
  vmid: fc.integer({ min: 0, max: 0xffff }),
  leaf: fc.boolean(),
  // the address: `page` blocks of a level-`lvl` entry, `delta` 4 KiB pages away (across the edges of the cached blocks)
  lvl: fc.integer({ min: 1, max: 3 }),
  delta: fc.integer({ min: -2, max: 2 }),
  range: fc.integer({ min: 0, max: 31 }),
});
type Cmd = typeof arbCmd extends fc.Arbitrary<infer T> ? T : never;

function encodeCmd(c: Cmd): bigint[] {
  let w0 = BigInt(c.op) | (BigInt(c.ssec) << 10n);
  let w1 = 0n;
  if (c.op === C.CMD_SYNC) w0 |= BigInt(c.cs) << 12n;
  else if (c.op >= 0x10 && c.op <= 0x13) {
    w0 |= (BigInt(c.num) << 12n) | (BigInt(c.scale) << 20n) | (BigInt(c.vmid) << 32n) | (BigInt(c.asid) << 48n);
    const addr = (BigInt(c.page) << BigInt(12 + (3 - c.lvl) * 9)) + BigInt(c.delta) * 0x1000n;
    w1 = (addr < 0n ? 0n : addr) | BigInt(c.leaf ? 1 : 0) | (BigInt(c.ttl) << 8n) | (BigInt(c.tg) << 10n);
  } else {
    w0 |= BigInt(c.sid) << 32n;
    w1 = BigInt(c.range) | 0x100n;
  }
  return [w0, w1];
}

test('untraced command loop and reference agree on random streams', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 4 }).chain((log2) => fc.record({
      log2: fc.constant(log2),
      cons: fc.integer({ min: 0, max: (2 << log2) - 1 }),
      cmds: fc.array(arbCmd, { maxLength: 1 << log2 }),
      tlb: fc.array(fc.record({ asid: fc.constantFrom(...ASIDS), page: fc.integer({ min: 0, max: 7 }), level: fc.integer({ min: 1, max: 3 }) }), { maxLength: 24 }),
      cached: fc.subarray(DEVICES),
      ack: fc.boolean(),
    })),
    async (sc) => {
      const irqs = [0, 0, 0, 0];
      const lines = ['eventq', 'priq', 'cmd-sync', 'gerror'];
      const smmu = await createSmmu({ ram: [{ base: RAM, size: 0x100000 }], devices: DEVICES, irq: (line, n) => { irqs[lines.indexOf(line)] += n; } });
      const dbg = engineDebug(smmu);
      const e = engineExports(smmu);
      smmu.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(STRTAB));
      smmu.mmioWrite(R.R_STRTAB_BASE_CFG, 4, 8);
      for (const sid of DEVICES) smmu.writeMemory(STRTAB + sid * 64, wordsToBytes([9n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])); // V, bypass
      for (const sid of sc.cached) expect(dbg.loadConfig(sid)).toBe(true);
      const ref = new ReferenceCmdq(
        { cr0: 8, irqCtrl: 7, gerror: 0, gerrorn: 0, base: BigInt(CMDQ) | BigInt(sc.log2), prod: sc.cons, cons: sc.cons, log2: sc.log2 },
        {
          read: (a) => smmu.readMemory(Number(a), 16),
          isDevice: (sid) => DEVICES.includes(sid),
        },
      );
      for (const sid of sc.cached) ref.configs.add(sid);
      for (const t of sc.tlb) {
        const shift = 12 + (3 - t.level) * 9;
        const iova = BigInt(t.page) << BigInt(shift);
        e.debug_iotlb_insert(t.asid, iova, 1, t.level, 0x40000000n, (1n << BigInt(shift)) - 1n, 3);
        ref.iotlb.insert({ asid: t.asid, vmid: -1, iova, tg: 1, level: t.level, ta: 0x40000000n, mask: (1n << BigInt(shift)) - 1n, perm: 3 });
      }
      const size = 1 << sc.log2;
      sc.cmds.forEach((c, i) => smmu.writeMemory(CMDQ + ((sc.cons + i) & (size - 1)) * 16, wordsToBytes(encodeCmd(c))));
      const prod = (sc.cons + sc.cmds.length) & ((2 << sc.log2) - 1);
      smmu.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(CMDQ) | BigInt(sc.log2));
      smmu.mmioWrite(R.R_CMDQ_CONS, 4, sc.cons);
      smmu.mmioWrite(R.R_CMDQ_PROD, 4, sc.cons);
      smmu.mmioWrite(R.R_IRQ_CTRL, 4, 7);
      smmu.mmioWrite(R.R_CR0, 4, 8);
      const irq0 = [...irqs];
      const st0 = smmu.stats();
      smmu.mmioWrite(R.R_CMDQ_PROD, 4, prod);
      ref.s.prod = prod;
      ref.consume();
      if (sc.ack) {
        smmu.mmioWrite(R.R_GERRORN, 4, Number(smmu.mmioRead(R.R_GERROR, 4)));
        ref.writeGerrorn(ref.s.gerror);
        ref.consume();
      }
      const st1 = smmu.stats();
      expect(Number(smmu.mmioRead(R.R_CMDQ_CONS, 4))).toBe(ref.s.cons);
      expect(Number(smmu.mmioRead(R.R_GERROR, 4))).toBe(ref.s.gerror);
      const got = engineIotlb(e).map((x) => refKey(x.asid, x.vmid, x.iova, x.tg, x.level));
      expect(got.sort()).toEqual([...ref.iotlb.entries.keys()].sort());
      expect(st1.iotlbEntries).toBe(ref.iotlb.size);
      expect(DEVICES.filter((s) => dbg.configCached(s))).toEqual(DEVICES.filter((s) => ref.configs.has(s)));
      expect(irqs.map((v, i) => v - irq0[i])).toEqual(ref.irqs);
      // every consumed command counted once, every consumed CMD_SYNC once
      const consumed = consumedIndices(sc.cons, ref.s.cons, sc.log2);
      expect(st1.commands - st0.commands).toBe(consumed.length);
      expect(st1.syncs - st0.syncs).toBe(consumed.filter((i) => sc.cmds[i].op === C.CMD_SYNC).length);
    },
  ), { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 200) });
});

/** Stream positions of the commands consumed (CONS moved past them; a failing command is not). */
function consumedIndices(cons0: number, cons1: number, log2: number): number[] {
  const done = (cons1 - cons0) & ((2 << log2) - 1);
  return Array.from({ length: done }, (_, i) => i);
}
