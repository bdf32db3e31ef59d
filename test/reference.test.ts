// The WebAssembly engine and the readable TypeScript reference (src/reference) run the
// same random command streams from the same state; everything observable must agree:
// registers, interrupts, QEMU-named trace records, IOTLB and config-cache contents, and
// what each backend receives.

import fc from 'fast-check';
import { createSmmu } from '../src/index.js';
import { engineDebug, engineExports } from '../src/engine-debug.js';
import { profileFlags } from '../src/smmu.js';
import { engineIotlb } from '../src/reference/from-engine.js';
import { refKey, type RefTlbEntry } from '../src/reference/iotlb.js';
import type { Profile, Stage } from '../src/types.js';
import { ReferenceCmdq, type RefForward } from '../src/reference/cmdq.js';
import { formatTrace } from '../src/trace.js';
import * as A from '../src/arch/abi.js';
import * as C from '../src/arch/commands.js';
import * as R from '../src/arch/registers.js';
import { cd, ste, wordsToBytes, bytesToWords } from '../src/guest/encode.js';
import { Recorder } from './helpers.js';

const RAM = 0x40000000;
const STRTAB = RAM + 0x10000; // linear, 256 entries
const CDS = RAM + 0x20000;
const CMDQ = RAM + 0x40000;
const DEVICES = [0x18, 0x20, 0x28, 0x30];
const SIDS = [0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x10018, 0xffff, 0x7];
const ASIDS = [0, 1, 7, 0x1234, 0xffff];
const IGNORED = /^(smmuv3_(read|write)_mmio|smmuv3_config_cache_inv|smmuv3_find_ste|smmuv3_get_ste)/;

const KNOWN = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x18, 0x1a, 0x20, 0x21, 0x22, 0x23, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45, 0x46];

/** Pages of IOTLB entries: mostly the first few (so that commands meet them), sometimes anywhere. */
const arbPage = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3ff }) });

/** log2 of the block a level-`level` entry maps with granule TG (4K, 16K, 64K). */
function blockShift(tg: number, level: number): number {
  const g = tg * 2 + 10;
  return g + (3 - level) * (g - 3);
}

/** An address `delta` granules from the start of block `page` (never below 0). */
function blockEdge(a: { tg: number; level: number; page: number; delta: number }): bigint {
  const v = (BigInt(a.page) << BigInt(blockShift(a.tg, a.level))) + BigInt(a.delta) * (1n << BigInt(a.tg * 2 + 10));
  return v < 0n ? 0n : v & ((1n << 64n) - 0x1000n);
}

const arbCommand = fc.record({
  op: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...KNOWN) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  ssec: fc.integer({ min: 0, max: 9 }).map((x) => (x === 0 ? 1 : 0)),
  sid: fc.constantFrom(...SIDS),
  asid: fc.constantFrom(...ASIDS),
  vmid: fc.oneof(fc.constantFrom(0, 1, 5), fc.integer({ min: 0, max: 0xffff })),
  lo: fc.integer({ min: 0, max: 0xfff }), // bits 11:0 of word 0 above the opcode mixed in
  num: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 31 })), // 0: one granule, or a power of two with SCALE
  scale: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 31 })),
  cs: fc.integer({ min: 0, max: 3 }),
  addr: fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(0n, 0x1000n, 0x200000n, 0x40000000n) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((x) => x << 12n) },
    // at and around the edges of what the IOTLB holds: a few granules either side of a block the entries can have
    { weight: 4, arbitrary: fc.record({ tg: fc.integer({ min: 1, max: 3 }), level: fc.integer({ min: 1, max: 3 }), page: arbPage, delta: fc.integer({ min: -4, max: 4 }) }).map(blockEdge) },
  ),
  ttl: fc.integer({ min: 0, max: 3 }),
  tg: fc.integer({ min: 0, max: 3 }),
  leaf: fc.boolean(),
  range: fc.integer({ min: 0, max: 31 }),
});

type Cmd = typeof arbCommand extends fc.Arbitrary<infer T> ? T : never;

function encode(c: Cmd): [bigint, bigint] {
  let w0 = BigInt(c.op) | (BigInt(c.ssec) << 10n);
  let w1 = 0n;
  if (c.op === C.CMD_SYNC) w0 |= BigInt(c.cs) << 12n;
  else if (c.op === C.CMD_TLBI_NH_VA || c.op === C.CMD_TLBI_NH_VAA || c.op === C.CMD_TLBI_NH_ASID || c.op === C.CMD_TLBI_NH_ALL ||
      c.op === C.CMD_TLBI_S2_IPA || c.op === C.CMD_TLBI_S12_VMALL) {
    w0 |= (BigInt(c.num) << 12n) | (BigInt(c.scale) << 20n) | (BigInt(c.vmid) << 32n) | (BigInt(c.asid) << 48n);
    w1 = c.addr | BigInt(c.leaf ? 1 : 0) | (BigInt(c.ttl) << 8n) | (BigInt(c.tg) << 10n);
  } else {
    w0 |= (BigInt(c.lo & 0xff0) << 4n) | (BigInt(c.sid) << 32n);
    w1 = BigInt(c.range) | (c.leaf ? 0n : 0x100n);
  }
  return [w0, w1];
}

/** The SMMUs compared: QEMU 7.2, and QEMU 10.0 with each set of stages. */
const VARIANTS: Array<[Profile, Stage]> = [['qemu-7.2', '1'], ['qemu-10.0', '1'], ['qemu-10.0', '2'], ['qemu-10.0', 'nested']];

const arbTlb = fc.record({
  asid: fc.constantFrom(...ASIDS),
  vmid: fc.constantFrom<number>(0, 1, 5),
  s2: fc.boolean(), // a stage-2 entry (no ASID), where the SMMU has stage 2
  level: fc.integer({ min: 1, max: 3 }),
  tg: fc.integer({ min: 1, max: 3 }),
  page: arbPage,
  ro: fc.boolean(),
});

/**
 * A crowded IOTLB: two ASIDs with many entries each (beyond the short per-ASID lists the
 * engine scans, through its hash), sometimes past the 256 entries that flush everything.
 */
const arbTlbDense = fc.array(fc.record({
  asid: fc.constantFrom(7, 0x1234),
  vmid: fc.constantFrom<number>(0, 5),
  s2: fc.boolean(),
  level: fc.integer({ min: 1, max: 3 }),
  tg: fc.integer({ min: 1, max: 3 }),
  page: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 15 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3ff }) }),
  ro: fc.boolean(),
}), { minLength: 9, maxLength: 320, size: 'max' });

const arbPassthrough = fc.record({
  backends: fc.integer({ min: 1, max: 3 }),
  devices: fc.uniqueArray(fc.record({ sid: fc.constantFrom(0x40, 0x48, 0x50, 0x7), backend: fc.integer({ min: 0, max: 2 }), psid: fc.integer({ min: 0, max: 0xfffff }) }), { selector: (d) => d.sid, maxLength: 3 }),
  steKind: fc.array(fc.constantFrom('s1', 'bypass', 'abort', 'bad-bits', 'bad-config', 'invalid', 'stray-bit'), { minLength: 4, maxLength: 4 }),
  /**
   * For 'stray-bit': one more bit set in words 0-1 of a valid stage-1 STE (iommufd allows some, refuses the rest): word 0
   * above S1ContextPtr and below S1CDMax (the fields that place the CDs stay as the comparison reads them), or word 1.
   */
  strayBit: fc.array(fc.oneof(fc.integer({ min: 52, max: 58 }), fc.integer({ min: 64, max: 127 })), { minLength: 4, maxLength: 4 }),
  cdmax: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
  cdAsid: fc.array(fc.constantFrom(...ASIDS), { minLength: 16, maxLength: 16 }),
  cdValid: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
});

interface Scenario {
  log2: number;
  cons: number;
  cmds: Cmd[];
  tlb: Array<typeof arbTlb extends fc.Arbitrary<infer T> ? T : never>;
  cached: number[];
  irqCtrl: number;
  ack: boolean;
  pt: (typeof arbPassthrough extends fc.Arbitrary<infer T> ? T : never) | null;
  variant?: number;
  /** Trace on (the general loop) or off (the fast loop, when no backend is attached). */
  traced: boolean;
}

const arbScenario: fc.Arbitrary<Scenario> = fc.integer({ min: 0, max: 5 }).chain((log2) =>
  fc.record({
    log2: fc.constant(log2),
    cons: fc.integer({ min: 0, max: (2 << log2) - 1 }),
    cmds: fc.array(arbCommand, { minLength: 0, maxLength: 1 << log2 }),
    tlb: fc.oneof({ weight: 2, arbitrary: fc.array(arbTlb, { maxLength: 40 }) }, { weight: 1, arbitrary: arbTlbDense }),
    cached: fc.subarray(DEVICES),
    irqCtrl: fc.integer({ min: 0, max: 7 }),
    ack: fc.boolean(),
    pt: fc.option(arbPassthrough, { nil: null }),
    variant: fc.integer({ min: 0, max: VARIANTS.length - 1 }),
    traced: fc.boolean(),
  }),
);


function steFor(kind: string, sid: number, cdmax: number, stray = 0): bigint[] {
  const ctx = CDS + (sid & 0xff) * 0x100;
  switch (kind) {
    case 's1': return ste({ config: 5, s1ctxptr: ctx, s1cdmax: cdmax });
    case 'bypass': return ste({ config: 4 });
    case 'abort': return ste({ config: 0 });
    case 'bad-bits': { const w = ste({ config: 5, s1ctxptr: ctx }); w[1] |= 1n << 40n; return w; }
    case 'bad-config': return ste({ config: 6 });
    case 'stray-bit': { const w = ste({ config: 5, s1ctxptr: ctx, s1cdmax: cdmax }); w[stray >> 6] |= 1n << BigInt(stray & 63); return w; }
    default: return ste({ config: 5, valid: false, s1ctxptr: ctx });
  }
}

/** IOTLB entries as comparable lines, sorted by key. */
function sortedEntries(list: RefTlbEntry[]): string[] {
  return list.map((x) => `${refKey(x.asid, x.vmid, x.iova, x.tg, x.level)} ${x.ta.toString(16)} ${x.mask.toString(16)} ${x.perm}`).sort();
}

async function runBoth(sc: Scenario): Promise<void> {
  const recorders = [0, 1, 2].map((i) => new Recorder(`p${i}`));
  const nb = sc.pt?.backends ?? 0;
  const vdevs = new Map<number, { backend: number; psid: number }>();
  for (const d of sc.pt?.devices ?? []) if (d.backend < nb) vdevs.set(d.sid, { backend: d.backend, psid: d.psid });
  const [profile, stage] = VARIANTS[sc.variant ?? 0];
  const flags = profileFlags(profile, stage);
  const s2p = (flags & A.PF_S2P) !== 0;
  const irqs = [0, 0, 0, 0];
  const irqLines = ['eventq', 'priq', 'cmd-sync', 'gerror'];
  const smmu = await createSmmu({
    profile,
    stage,
    ram: [{ base: RAM, size: 0x100000 }],
    devices: DEVICES,
    irq: (line, n) => { irqs[irqLines.indexOf(line)] += n; },
    viommu: nb ? {
      backends: recorders.slice(0, nb).map((r, i) => ({ name: r.name, vmid: 0x100 + i, backend: r })),
      devices: [...vdevs].map(([sid, v]) => ({ sid, backend: `p${v.backend}`, psid: v.psid })),
    } : undefined,
  });
  const dbg = engineDebug(smmu);
  const e = engineExports(smmu);
  // guest structures: linear stream table with bypass STEs for the emulated devices
  smmu.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(STRTAB));
  smmu.mmioWrite(R.R_STRTAB_BASE_CFG, 4, 8);
  for (const sid of DEVICES) smmu.writeMemory(STRTAB + sid * 64, wordsToBytes(ste({ config: 4 })));
  const steWords = new Map<number, bigint[]>();
  [...vdevs.keys()].forEach((sid, i) => {
    const kind = sc.pt!.steKind[i];
    const w = steFor(kind, sid, sc.pt!.cdmax[i], sc.pt!.strayBit[i]);
    steWords.set(sid, w);
    smmu.writeMemory(STRTAB + sid * 64, wordsToBytes(w));
    for (let k = 0; k < 4; k++) {
      const j = (i * 4 + k) % 16;
      smmu.writeMemory(CDS + (sid & 0xff) * 0x100 + k * 64, wordsToBytes(cd({ asid: sc.pt!.cdAsid[j], ttb0: RAM, t0sz: 16, tg0: 0, valid: sc.pt!.cdValid[j] })));
    }
  });
  for (const sid of sc.cached) expect(dbg.loadConfig(sid)).toBe(true);
  // the same entries into both IOTLBs (ta and perm differ per insertion, so a re-insertion shows whether the key was found)
  let inserted = 0;
  const insertTlb = (): void => {
    for (const t of sc.tlb) {
      const g = t.tg * 2 + 10;
      const shift = BigInt(g + (3 - t.level) * (g - 3));
      const iova = BigInt(t.page) << shift;
      const ta = 0x40000000n + (BigInt(++inserted) << shift);
      e.debug_iotlb_insert_key(s2p && t.s2 ? A.KEY_NONE : t.asid, s2p ? t.vmid : A.KEY_NONE, iova, t.tg, t.level, ta, (1n << shift) - 1n, t.ro ? 1 : 3);
      ref.iotlb.insert({ asid: s2p && t.s2 ? -1 : t.asid, vmid: s2p ? t.vmid : -1, iova, tg: t.tg, level: t.level, ta, mask: (1n << shift) - 1n, perm: t.ro ? 1 : 3 });
    }
  };
  // queue contents
  const size = 1 << sc.log2;
  const wrapIdx = (2 << sc.log2) - 1;
  const prod = (sc.cons + sc.cmds.length) & wrapIdx;
  sc.cmds.forEach((c, i) => smmu.writeMemory(CMDQ + ((sc.cons + i) & (size - 1)) * 16, wordsToBytes(encode(c))));
  smmu.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(CMDQ) | BigInt(sc.log2));
  smmu.mmioWrite(R.R_CMDQ_CONS, 4, sc.cons);
  smmu.mmioWrite(R.R_CMDQ_PROD, 4, sc.cons); // empty until enabled
  smmu.mmioWrite(R.R_IRQ_CTRL, 4, sc.irqCtrl);
  smmu.mmioWrite(R.R_CR0, 4, 8); // CMDQEN
  const ram = smmu.ram();

  // reference, from the same state
  const ref = new ReferenceCmdq(
    { cr0: 8, irqCtrl: sc.irqCtrl, gerror: 0, gerrorn: 0, base: BigInt(CMDQ) | BigInt(sc.log2), prod: sc.cons, cons: sc.cons, log2: sc.log2, flags },
    {
      read: (addr) => (addr >= BigInt(RAM) && addr + 16n <= BigInt(RAM + 0x100000) ? ram.slice(Number(addr) - RAM, Number(addr) - RAM + 16) : null),
      isDevice: (sid) => DEVICES.includes(sid),
      trace: (id, args) => refLines.push(formatTrace(id, args, smmu.regionName)),
    },
    nb ? {
      vmids: [0x100, 0x101, 0x102].slice(0, nb),
      vdevs,
      readSte: (sid) => { const w = steWords.get(sid); return w ? [w[0], w[1]] : null; },
      cdAsids: (sid) => {
        const w = steWords.get(sid)!;
        if ((w[0] & 1n) === 0n || Number((w[0] >> 1n) & 7n) !== 5) return [];
        const n = 1 << Number(w[0] >> 59n);
        const out: number[] = [];
        for (let k = 0; k < n; k++) {
          const c = bytesToWords(ram.slice(CDS - RAM + (sid & 0xff) * 0x100 + k * 64, CDS - RAM + (sid & 0xff) * 0x100 + k * 64 + 8))[0];
          if ((c >> 31n) & 1n) out.push(Number(c >> 48n));
        }
        return out;
      },
    } : undefined,
  );
  const refLines: string[] = [];
  for (const sid of sc.cached) ref.configs.add(sid);
  insertTlb();
  const refSent: string[][] = [[], [], []];
  const refRun = () => {
    let st = ref.consume();
    while (st === A.CQ_FORWARD) {
      const fw: RefForward[] = ref.forwarded.slice();
      const marker = fw.findIndex((f) => f.kind === A.FWK_ERROR);
      for (const f of fw) {
        if (f.kind === A.FWK_ERROR || (marker >= 0 && f.seq >= fw[marker].seq)) continue;
        refSent[f.backend].push(f.kind === A.FWK_STE ? `ste ${f.psid.toString(16)} ${f.w0.toString(16)} ${f.w1.toString(16)}` : `inv ${f.w0.toString(16)} ${f.w1.toString(16)}`);
      }
      ref.forwardDone(marker);
      st = ref.consume(); // as the host does after every window

    }
  };

  refLines.length = 0; // from here on both sides trace (when the scenario traces)
  const lines: string[] = [];
  if (sc.traced) smmu.setTrace((l) => lines.push(l));
  const irq0 = [...irqs];
  const refIrq0 = [...ref.irqs];
  const st0 = smmu.stats();
  smmu.mmioWrite(R.R_CMDQ_PROD, 4, prod);
  ref.s.prod = prod;
  refRun();
  if (sc.ack) {
    smmu.mmioWrite(R.R_GERRORN, 4, Number(smmu.mmioRead(R.R_GERROR, 4)));
    ref.writeGerrorn(ref.s.gerror);
    refRun();
  }
  smmu.setTrace(undefined);

  expect(Number(smmu.mmioRead(R.R_CMDQ_CONS, 4))).toBe(ref.s.cons);
  expect(Number(smmu.mmioRead(R.R_GERROR, 4))).toBe(ref.s.gerror);
  if (sc.traced) expect(lines.filter((l) => !IGNORED.test(l))).toEqual(refLines.filter((l) => !IGNORED.test(l)));
  expect(irqs.map((v, i) => v - irq0[i])).toEqual(ref.irqs.map((v, i) => v - refIrq0[i]));
  const st1 = smmu.stats();
  const done = (ref.s.cons - sc.cons) & ((2 << sc.log2) - 1);
  expect(st1.commands - st0.commands).toBe(done);
  expect(st1.syncs - st0.syncs).toBe(sc.cmds.slice(0, done).filter((c) => c.op === C.CMD_SYNC).length);
  expect(sortedEntries(engineIotlb(e))).toEqual(sortedEntries([...ref.iotlb.entries.values()]));
  // the entries left, found again by key after the invalidations (the hash's deletions), updated in place
  insertTlb();
  expect(sortedEntries(engineIotlb(e))).toEqual(sortedEntries([...ref.iotlb.entries.values()]));
  expect(DEVICES.filter((s) => dbg.configCached(s))).toEqual(DEVICES.filter((s) => ref.configs.has(s)));
  for (let b = 0; b < nb; b++) expect(recorders[b].got).toEqual(refSent[b]);

  // arrival on a new host (a restore with arrival): STE installs in ascending vSID order, vASIDs re-learned
  if (nb) {
    const enabled = (sc.cons & 1) === 1;
    smmu.mmioWrite(R.R_CR0, 4, enabled ? 9 : 8);
    ref.s.cr0 = enabled ? 9 : 8;
    const snap = smmu.save();
    smmu.restore(snap, { arrival: true });
    const before = ref.forwarded.length;
    ref.arrive(enabled);
    for (const f of ref.forwarded.slice(before)) refSent[f.backend].push(`ste ${f.psid.toString(16)} ${f.w0.toString(16)} ${f.w1.toString(16)}`);
    ref.forwarded.length = before;
    for (let b = 0; b < nb; b++) expect(recorders[b].got).toEqual(refSent[b]);
    const names = recorders.slice(0, nb).map((r) => r.name);
    for (const a of new Set([...sc.pt!.cdAsid, ...ref.vasid.keys()])) {
      const m = (ref.vasid.get(a) ?? 0) | ref.wildcard;
      expect(smmu.asidHolders(a)).toEqual(names.filter((_, i) => (m >>> i) & 1));
    }
  }
}

test('engine and TypeScript reference agree on random command streams', async () => {
  await fc.assert(fc.asyncProperty(arbScenario, runBoth), { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 300) });
});

test('engine and TypeScript reference agree on a stream with every opcode, on every SMMU variant', async () => {
  const cmds: Cmd[] = [];
  for (let op = 0; op < 256; op++) {
    cmds.push({ op, ssec: 0, sid: 0x18, asid: 7, vmid: 1, lo: 0, num: 3, scale: 1, cs: 1, addr: 0x200000n, ttl: 3, tg: 1, leaf: true, range: 4 });
  }
  // one command per batch so that CERROR_ILL on unknown opcodes does not stop the rest
  const tlb = [5, 1].flatMap((vmid) => [false, true].map((s2) => ({ asid: 7, vmid, s2, level: 3, tg: 1, page: 0x200, ro: false })));
  for (let variant = 0; variant < VARIANTS.length; variant++) {
    for (const c of cmds) {
      for (const traced of [true, false]) await runBoth({ log2: 2, cons: 3, cmds: [c], tlb, cached: [0x18], irqCtrl: 7, ack: true, pt: null, traced, variant });
    }
  }
}, 600000); // 2048 fresh models: ~10 s alone, minutes on a machine shared with other jobs
