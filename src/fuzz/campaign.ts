// The robustness campaign behind `vsmmu fuzz`: a guest that programs the vSMMU as a
// driver would (stream table, CDs, page tables of random granules, mappings), then
// feeds it rounds of random commands (mostly well-formed, some malformed) and random
// device DMA, acknowledging command errors as Linux does (the failed command becomes a
// CMD_SYNC, then GERRORN). Every call is checked for exceptions, engine traps and
// deadline overruns; the engine's memory must not grow; and on sampled rounds the
// TypeScript reference (src/reference) consumes the same queue from the same state and
// must agree on CONS, GERROR, IOTLB, config cache and forwarded entries.
//
// Everything the campaign does to the model is a trace operation (src/ops.ts), so a
// failing round is written out as a vsmmu-trace that `vsmmu replay` runs.

import { createSmmu, type Smmu } from '../smmu.js';
import { GuestDriver, type Domain, type GuestBus } from '../guest/driver.js';
import * as enc from '../guest/encode.js';
import { applyOp, opToJson, smmuTarget, type Op, type OpTarget } from '../ops.js';
import { Rng } from '../conformance/rng.js';
import { ReferenceCmdq, type RefDispatchConfig, type RefForward } from '../reference/cmdq.js';
import { engineConfigs, engineIotlb, engineVasids } from '../reference/from-engine.js';
import { refKey } from '../reference/iotlb.js';
import { refDispatchConfig } from '../reference/dispatch-config.js';
import { engineOf } from '../bench/model.js';
import { HostError } from '../host-error.js';
import * as A from '../arch/abi.js';
import * as C from '../arch/commands.js';
import * as R from '../arch/registers.js';
import { deposit32, hex } from '../bits.js';
import type { BatchResult, PsmmuBackend } from '../backends/types.js';
import type { SmmuOptions } from '../types.js';

export type FuzzMode = 'ram' | 'callbacks' | 'viommu';
export const FUZZ_MODES: readonly FuzzMode[] = ['ram', 'callbacks', 'viommu'];

export type FailureKind = 'exception' | 'trap' | 'hang' | 'mismatch' | 'growth' | 'stuck';

export interface FuzzFailure {
  kind: FailureKind;
  /** Path of the reproduction written (a vsmmu-trace), or '' when none could be written. */
  repro: string;
  /** One line: what went wrong. */
  message: string;
}

export interface FuzzReport {
  seed: number;
  mode: FuzzMode;
  /** Commands consumed by the engine (its own counter). */
  commands: number;
  translations: number;
  exceptions: number;
  traps: number;
  hangs: number;
  mismatches: number;
  /** Growth of the engine's memory after the first round (bytes). */
  growth_bytes: number;
  failures: FuzzFailure[];
}

export interface FuzzProgress {
  commands: number;
  translations: number;
  rounds: number;
  compared: number;
  comparedCommands: number;
}

export interface FuzzOptions {
  seed: number;
  /** Commands the engine must consume (at least; the last round completes). */
  commands: number;
  mode: FuzzMode;
  /** Per-call deadline: a model call taking longer counts as a hang (ms). */
  deadlineMs?: number;
  /** Every this many rounds the reference consumes the round's queue too (default 8). */
  compareEvery?: number;
  /** Where failing rounds are written (default: no files). */
  regressDir?: string;
  /** Stop after this many failures (default 5). */
  maxFailures?: number;
  progress?: (p: FuzzProgress) => void;
  /** Called before each round (the command's watchdog). */
  heartbeat?: (round: number) => void;
  /** Writes a file (injected so that this module stays free of node: imports). */
  writeFile?: (path: string, text: string) => void;
}

// ---- the guest machine ------------------------------------------------------------

/** Guest memory: 4 MiB across 2^32 (bit 31 set below it), so every address crosses the limits of 32-bit values. */
export const FUZZ_BASE = 0xfff00000;
export const FUZZ_SIZE = 0x400000;
const HEAP_SIZE = 0x300000; // driver structures and the queues; data frames above
const DATA = FUZZ_BASE + HEAP_SIZE;
const DATA_PAGES = (FUZZ_SIZE - HEAP_SIZE) / 4096;
const CMDQ_LOG2 = 14;
const EMULATED = [0x18, 0x20, 0x28, 0x30];
const PASSTHROUGH = [{ sid: 0x40, backend: 'p0', psid: 0x1040 }, { sid: 0x48, backend: 'p1', psid: 0x2048 }];
const BACKENDS = [{ name: 'p0', vmid: 0x101 }, { name: 'p1', vmid: 0x102 }];
const ASIDS = [1, 2, 3, 0x1234];
const IOVA_PAGES = 64; // mapped per domain, from IOVA 0x100000
const IOVA0 = 0x100000;

/** A backend that applies everything and remembers what it got while asked to. */
class FuzzBackend implements PsmmuBackend {
  recording = false;
  readonly got: string[] = [];
  entries = 0;
  constructor(readonly name: string) {}
  invalidate(entries: Uint8Array): BatchResult {
    this.entries += entries.length / 16;
    if (this.recording) {
      for (let i = 0; i < entries.length; i += 16) {
        const [w0, w1] = enc.bytesToWords(entries.subarray(i, i + 16));
        this.got.push(`inv ${hex(w0)} ${hex(w1)}`);
      }
    }
    return { done: entries.length / 16 };
  }
  installSte(psid: number, s: Uint8Array): BatchResult {
    this.entries++;
    if (this.recording) {
      const [w0, w1] = enc.bytesToWords(s);
      this.got.push(`ste ${hex(psid)} ${hex(w0)} ${hex(w1)}`);
    }
    return { done: 1 };
  }
}

/** Operations recorded since the last setup (the repro of a failure). */
type Recorded = Op | { op: 'bytes'; addr: number; bytes: Uint8Array };

class Machine {
  smmu!: Smmu;
  driver!: GuestDriver;
  domains: Domain[] = [];
  backends: FuzzBackend[] = [];
  /** Callback-mode guest memory (owned by the "emulator"). */
  readonly mem = new Uint8Array(FUZZ_SIZE);
  readonly log: Recorded[] = [];
  target!: OpTarget;
  cons = 0; // CMDQ_CONS as last read (index | wrap)
  setupEnd = 0; // log[0..setupEnd): the last setup
  roundStart = 0; // log[roundStart..]: the current round
  hostErrors: HostError[] = [];
  /** StreamIDs that did DMA: they exist as devices from then on (QEMU: an IOMMU region per PCI device). */
  readonly dmaSids = new Set<number>(EMULATED);

  constructor(readonly mode: FuzzMode) {}

  async start(): Promise<void> {
    const opts: SmmuOptions = {
      devices: EMULATED,
      onHostError: (e) => { this.hostErrors.push(e); },
    };
    if (this.mode === 'callbacks') {
      const inside = (a: number, n: number) => a >= FUZZ_BASE && a + n <= FUZZ_BASE + FUZZ_SIZE;
      opts.memory = {
        read: (a, dst) => {
          if (!inside(a, dst.length)) return false;
          dst.set(this.mem.subarray(a - FUZZ_BASE, a - FUZZ_BASE + dst.length));
          return true;
        },
        write: (a, src) => {
          if (!inside(a, src.length)) return false;
          this.mem.set(src, a - FUZZ_BASE);
          return true;
        },
      };
    } else {
      opts.ram = [{ base: FUZZ_BASE, size: FUZZ_SIZE }];
    }
    if (this.mode === 'viommu') {
      this.backends = BACKENDS.map((b) => new FuzzBackend(b.name));
      opts.viommu = { backends: BACKENDS.map((b, i) => ({ ...b, backend: this.backends[i] })), devices: PASSTHROUGH };
    }
    this.smmu = await createSmmu(opts);
    this.target = smmuTarget(this.smmu, { digest: false });
  }

  /** Applies one operation and records it. */
  apply(o: Op): bigint | string | undefined {
    this.log.push(o);
    if (o.op === 'dma') this.dmaSids.add(o.sid);
    return applyOp(this.target, o);
  }

  writeBytes(addr: number, bytes: Uint8Array): void {
    this.log.push({ op: 'bytes', addr, bytes });
    this.smmu.writeMemory(addr, bytes);
  }

  /** Register reads have no side effects: they are not recorded. */
  r32(off: number): number {
    return Number(this.smmu.mmioRead(off, 4));
  }

  w32(off: number, v: number): void {
    this.apply({ op: 'mmio_write', offset: off, size: 4, value: BigInt(v >>> 0) });
  }

  /** A bus for the guest driver that records what it does. */
  bus(): GuestBus {
    return {
      mmioRead: (off, size) => this.smmu.mmioRead(off, size),
      mmioWrite: (off, size, v) => { this.apply({ op: 'mmio_write', offset: off, size, value: BigInt.asUintN(size * 8, BigInt(v)) }); },
      readMemory: (a, n) => this.smmu.readMemory(a, n),
      writeMemory: (a, d) => this.writeBytes(a, d.slice()),
    };
  }

  /** Device reset, then a driver's probe and a random set of domains, mappings and attachments. */
  setup(rng: Rng): void {
    this.log.length = 0;
    this.smmu.reset();
    this.log.push({ op: 'mmio_write', offset: R.R_CR0, size: 4, value: 0n }); // (reset is implied at the start of a trace)
    const d = new GuestDriver(this.bus(), { heap: { base: FUZZ_BASE, size: HEAP_SIZE }, cmdqLog2: CMDQ_LOG2, evtqLog2: 7 });
    d.init();
    this.driver = d;
    this.domains = ASIDS.map((asid) => d.createDomain({ asid, granule: rng.pick([4096, 16384, 65536]), vaBits: rng.pick([32, 39, 48]) }));
    // mappings over [IOVA0, IOVA0 + IOVA_PAGES * 4 KiB), granule pages, 80% of them present, some read-only
    for (const dom of this.domains) {
      const frames = (DATA_PAGES * 4096) / dom.granule;
      for (let off = 0; off < IOVA_PAGES * 4096; off += dom.granule) {
        if (rng.chance(0.8)) d.map(dom, IOVA0 + off, DATA + rng.int(0, frames - 1) * dom.granule, dom.granule, { readOnly: rng.chance(0.2) });
      }
    }
    for (const sid of [...EMULATED, ...(this.mode === 'viommu' ? PASSTHROUGH.map((p) => p.sid) : [])]) {
      const k = rng.int(0, 9);
      if (k < 7) d.attach(sid, this.domains[rng.int(0, this.domains.length - 1)]);
      else if (k < 9 || EMULATED.includes(sid)) d.setSte(sid, { config: k === 7 ? 4 : k === 8 ? 0 : 6 }); // (iommufd refuses stage 2 for a passthrough device)
    }
    this.cons = this.r32(R.R_CMDQ_CONS);
    this.setupEnd = this.log.length;
  }
}

// ---- commands --------------------------------------------------------------------

/** Opcodes by weight (of 100): mostly what drivers send, whole-cache flushes rarely, 3% anything at all. */
const MIX: ReadonlyArray<readonly [number, number]> = [
  [10, C.CMD_SYNC], [20, C.CMD_TLBI_NH_VA], [10, C.CMD_TLBI_NH_VAA], [10, C.CMD_TLBI_NH_ASID], [10, C.CMD_CFGI_STE],
  [5, C.CMD_CFGI_STE_RANGE], [8, C.CMD_CFGI_CD], [4, C.CMD_CFGI_CD_ALL], [2, C.CMD_PREFETCH_CONFIG], [2, C.CMD_PREFETCH_ADDR],
  [4, C.CMD_ATC_INV], [2, C.CMD_TLBI_NH_ALL], [1, C.CMD_TLBI_NSNH_ALL], [9, -1], [3, -2],
];
const MIX_TABLE: number[] = MIX.flatMap(([w, op]) => new Array<number>(w).fill(op));

/** One random command into `out` at word offset `o` (four u32 words). */
function randomCommand(rng: Rng, m: Machine, out: Uint32Array, o: number): void {
  let op = MIX_TABLE[rng.u32() % MIX_TABLE.length];
  let words: bigint[];
  if (op === -2) {
    // anything at all
    words = [rng.u64(), rng.u64()];
  } else {
    if (op === -1) op = rng.int(0, 0x4f); // any opcode of the command space QEMU decodes, with driver-like fields
    const sids = m.mode === 'viommu' ? [...EMULATED, 0x40, 0x48, 0x7] : [...EMULATED, 0x7, 0x10018];
    const sid = rng.chance(0.95) ? rng.pick(sids) : rng.u32();
    const asid = rng.chance(0.9) ? rng.pick(ASIDS) : rng.u32() & 0xffff;
    switch (op) {
      case C.CMD_SYNC: words = enc.cmdSync(rng.int(0, 3)); break;
      case C.CMD_TLBI_NH_VA: case C.CMD_TLBI_NH_VAA: {
        const range = rng.chance(0.3);
        words = enc.cmdTlbiVa({
          asid: op === C.CMD_TLBI_NH_VA ? asid : undefined, vmid: rng.int(0, 3),
          addr: BigInt(IOVA0 + rng.int(0, IOVA_PAGES * 4) * 4096), leaf: rng.chance(0.5),
          tg: range ? rng.int(0, 3) : 0, ttl: rng.int(0, 3), num: range ? rng.int(0, 31) : 0, scale: range ? rng.int(0, 31) : 0,
        });
        break;
      }
      case C.CMD_TLBI_NH_ASID: words = enc.cmdTlbiNhAsid(asid, rng.int(0, 3)); break;
      case C.CMD_TLBI_NH_ALL: words = enc.cmdTlbiNhAll(rng.int(0, 3)); break;
      case C.CMD_TLBI_NSNH_ALL: words = enc.cmdTlbiNsnhAll(); break;
      case C.CMD_CFGI_STE: words = enc.cmdCfgiSte(sid, rng.chance(0.5)); break;
      case C.CMD_CFGI_STE_RANGE: words = enc.cmdCfgiSteRange(sid, rng.int(0, 31)); break;
      case C.CMD_CFGI_CD: words = enc.cmdCfgiCd(sid, 0, rng.chance(0.5)); break;
      case C.CMD_CFGI_CD_ALL: words = enc.cmdCfgiCdAll(sid); break;
      case C.CMD_ATC_INV: words = enc.cmdAtcInv(sid, BigInt(rng.u32()) << 12n, rng.int(0, 52)); break;
      default: words = enc.put(enc.put(enc.cmdRaw(op), C.CMD_SID, sid), C.CMD_ASID, asid); break;
    }
    if (rng.chance(0.01)) words = enc.put(words, C.CMD_SSEC, 1);
  }
  out[o] = Number(words[0] & 0xffffffffn);
  out[o + 1] = Number(words[0] >> 32n);
  out[o + 2] = Number(words[1] & 0xffffffffn);
  out[o + 3] = Number(words[1] >> 32n);
}

// ---- the reference on the same queue -----------------------------------------------

interface Snapshot {
  ref: ReferenceCmdq;
  sent: string[][];
}

function referenceFrom(m: Machine, prodBefore: number): Snapshot {
  const e = engineOf(m.smmu);
  const smmu = m.smmu;
  const read16 = (addr: bigint): Uint8Array | null => {
    if (addr < BigInt(FUZZ_BASE) || addr + 16n > BigInt(FUZZ_BASE + FUZZ_SIZE)) return null;
    return smmu.readMemory(Number(addr), 16);
  };
  const u64 = (addr: bigint): bigint | null => {
    if (addr < BigInt(FUZZ_BASE) || addr + 8n > BigInt(FUZZ_BASE + FUZZ_SIZE)) return null;
    return enc.bytesToWords(smmu.readMemory(Number(addr), 8))[0];
  };
  let dispatch: RefDispatchConfig | undefined;
  if (m.mode === 'viommu') {
    dispatch = refDispatchConfig({ backends: BACKENDS, passthrough: PASSTHROUGH }, (vsid) => m.driver.steAddr(vsid), u64);
  }
  const q = BigInt(smmu.mmioRead(R.R_CMDQ_BASE, 8));
  const ref = new ReferenceCmdq(
    {
      cr0: Number(smmu.mmioRead(R.R_CR0, 4)), irqCtrl: Number(smmu.mmioRead(R.R_IRQ_CTRL, 4)),
      gerror: Number(smmu.mmioRead(R.R_GERROR, 4)), gerrorn: Number(smmu.mmioRead(R.R_GERRORN, 4)),
      base: q, prod: prodBefore, cons: Number(smmu.mmioRead(R.R_CMDQ_CONS, 4)), log2: Math.min(Number(q & 0x1fn), R.QEMU_CMDQS),
    },
    { read: read16, isDevice: (sid) => m.dmaSids.has(sid) },
    dispatch,
  );
  for (const t of engineIotlb(e)) ref.iotlb.insert(t);
  for (const s of engineConfigs(e, [...EMULATED, ...PASSTHROUGH.map((p) => p.sid)])) ref.configs.add(s);
  if (dispatch) {
    const l = engineVasids(e);
    for (const [a, mk] of l.vasid) ref.vasid.set(a, mk);
    ref.wildcard = l.wildcard;
  }
  return { ref, sent: BACKENDS.map(() => []) };
}

/** Runs the reference up to where the engine stops by itself (idle, or a command error). */
function runReference(s: Snapshot, prod: number): void {
  const ref = s.ref;
  ref.s.prod = prod;
  let st = ref.consume();
  while (st === A.CQ_FORWARD) {
    const fw: RefForward[] = ref.forwarded.slice();
    const marker = fw.findIndex((f) => f.kind === A.FWK_ERROR);
    for (const f of fw) {
      if (f.kind === A.FWK_ERROR || (marker >= 0 && f.seq >= fw[marker].seq)) continue;
      s.sent[f.backend].push(f.kind === A.FWK_STE ? `ste ${hex(f.psid)} ${hex(BigInt.asUintN(64, f.w0))} ${hex(BigInt.asUintN(64, f.w1))}` : `inv ${hex(BigInt.asUintN(64, f.w0))} ${hex(BigInt.asUintN(64, f.w1))}`);
    }
    ref.forwardDone(marker);
    st = ref.consume();
  }
}

/** Differences between the engine now and the reference after the same consumption. */
function compare(m: Machine, s: Snapshot): string[] {
  const e = engineOf(m.smmu);
  const out: string[] = [];
  const cons = Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4));
  const gerror = Number(m.smmu.mmioRead(R.R_GERROR, 4));
  if (cons !== s.ref.s.cons) out.push(`CMDQ_CONS ${hex(cons)} vs reference ${hex(s.ref.s.cons)}`);
  if (gerror !== s.ref.s.gerror) out.push(`GERROR ${hex(gerror)} vs reference ${hex(s.ref.s.gerror)}`);
  const tlb = engineIotlb(e).map((t) => refKey(t.asid, t.vmid, t.iova, t.tg, t.level)).sort();
  const rt = [...s.ref.iotlb.entries.keys()].sort();
  if (tlb.join() !== rt.join()) out.push(`IOTLB ${tlb.length} entries vs reference ${rt.length}`);
  const sids = [...EMULATED, ...PASSTHROUGH.map((p) => p.sid)];
  const cfg = engineConfigs(e, sids).join();
  const rc = sids.filter((x) => s.ref.configs.has(x)).join();
  if (cfg !== rc) out.push(`config cache [${cfg}] vs reference [${rc}]`);
  m.backends.forEach((b, i) => {
    if (b.got.join('|') !== s.sent[i].join('|')) out.push(`backend ${b.name}: ${b.got.length} entries vs reference ${s.sent[i].length}`);
  });
  return out;
}

// ---- the campaign ----------------------------------------------------------------

class Failed extends Error {
  constructor(readonly kind: FailureKind, message: string) {
    super(message);
  }
}

function classify(err: unknown): Failed {
  if (err instanceof Failed) return err;
  if (err instanceof WebAssembly.RuntimeError || (err instanceof Error && /engine assertion failed/.test(err.message))) {
    return new Failed('trap', `engine trap: ${err.message}`);
  }
  return new Failed('exception', `exception: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
}

/** Trace text of the operations since the last setup (a reproduction for `vsmmu replay`). */
export function reproText(mode: FuzzMode, seed: number, round: number, ops: readonly Recorded[], message: string): string {
  const header: Record<string, unknown> = {
    format: 'vsmmu-trace', version: 1, profile: 'qemu-7.2', name: `fuzz-${mode}-${seed}-${round}`,
    ram: [{ base: hex(FUZZ_BASE), size: hex(FUZZ_SIZE) }],
    devices: EMULATED.map((s) => ({ sid: hex(s) })),
    origin: `vsmmu fuzz --seed ${seed} --mode ${mode}, round ${round}: ${message}` +
      (mode === 'callbacks' ? ' (guest memory was given by callbacks; the trace places it in RAM)' : '') +
      '; zero fills of fresh structures are left out (RAM starts zeroed)',
  };
  if (mode === 'viommu') {
    header.devices = [];
    header.viommu = {
      backends: BACKENDS.map((b) => ({ name: b.name, vmid: hex(b.vmid) })),
      devices: [...EMULATED.map((s) => ({ sid: hex(s), kind: 'emulated' })), ...PASSTHROUGH.map((p) => ({ sid: hex(p.sid), kind: 'passthrough', backend: p.backend, psid: hex(p.psid) }))],
    };
  }
  const lines = [JSON.stringify(header)];
  for (const o of ops) {
    if (o.op === 'bytes' && o.bytes.every((b) => b === 0)) continue; // the driver zeroing fresh structures: a trace's RAM starts zeroed
    if (o.op === 'bytes') lines.push(JSON.stringify({ op: 'mem_fill', addr: hex(o.addr), hex: Buffer.from(o.bytes).toString('hex') }));
    else lines.push(JSON.stringify(opToJson(o)));
  }
  return lines.join('\n') + '\n';
}

/** Runs the operations on a fresh machine; the failure they cause, or null. */
async function reproduce(mode: FuzzMode, ops: readonly Recorded[], deadline: number): Promise<Failed | null> {
  const m = new Machine(mode);
  await m.start();
  try {
    for (const o of ops) {
      const t0 = performance.now();
      if (o.op === 'bytes') m.smmu.writeMemory(o.addr, o.bytes);
      else applyOp(m.target, o);
      const dt = performance.now() - t0;
      if (dt > deadline) throw new Failed('hang', `${o.op} took ${dt.toFixed(0)} ms (deadline ${deadline} ms)`);
      if (m.hostErrors.length) throw new Failed('exception', `host error: ${m.hostErrors[0].message}`);
    }
    return null;
  } catch (err) {
    return classify(err);
  } finally {
    m.smmu.dispose();
  }
}

/**
 * The shortest reproduction of failure `f` found: the setup and the failing round alone
 * when they still fail (else every round since the setup), cut to the shortest prefix of
 * operations that fails the same way.
 */
async function shrink(m: Machine, f: Failed, deadline: number): Promise<Recorded[]> {
  const setup = m.log.slice(0, m.setupEnd);
  const short = [...setup, ...m.log.slice(m.roundStart)];
  let ops = m.log.slice();
  if ((await reproduce(m.mode, short, deadline))?.kind === f.kind) ops = short;
  else if ((await reproduce(m.mode, ops, deadline))?.kind !== f.kind) return short; // not reproducible alone: the round as it ran
  let lo = 1, hi = ops.length; // the shortest failing prefix is in [lo, hi]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((await reproduce(m.mode, ops.slice(0, mid), deadline))?.kind === f.kind) hi = mid;
    else lo = mid + 1;
  }
  return ops.slice(0, hi);
}

/** Runs a campaign; never throws for what the model does (that is reported in the result). */
export async function runCampaign(o: FuzzOptions): Promise<FuzzReport> {
  const deadline = o.deadlineMs ?? 5000;
  const compareEvery = o.compareEvery ?? 8;
  const maxFailures = o.maxFailures ?? 5;
  const report: FuzzReport = {
    seed: o.seed, mode: o.mode, commands: 0, translations: 0, exceptions: 0, traps: 0, hangs: 0, mismatches: 0, growth_bytes: 0, failures: [],
  };
  const rng = new Rng(o.seed);
  let m = new Machine(o.mode);
  await m.start();
  const size = 1 << CMDQ_LOG2;
  const wrapMask = (2 << CMDQ_LOG2) - 1;
  const words = new Uint32Array(size * 4);
  const bytes = new Uint8Array(words.buffer);
  let memAfterWarmup = -1; // engine memory after the first round of the current machine
  let compared = 0, comparedCommands = 0;
  let last = m.smmu.stats();
  const count = (): void => {
    const now = m.smmu.stats();
    report.commands += now.commands - last.commands;
    report.translations += now.translations - last.translations;
    last = now;
  };

  const timed = <T>(what: string, f: () => T): T => {
    const t0 = performance.now();
    const r = f();
    const dt = performance.now() - t0;
    if (dt > deadline) throw new Failed('hang', `${what} took ${dt.toFixed(0)} ms (deadline ${deadline} ms)`);
    return r;
  };

  const fail = async (round: number, f: Failed): Promise<void> => {
    if (f.kind === 'exception') report.exceptions++;
    else if (f.kind === 'trap') report.traps++;
    else if (f.kind === 'hang') report.hangs++;
    else if (f.kind === 'mismatch') report.mismatches++;
    let repro = '';
    if (o.regressDir && o.writeFile) {
      repro = `${o.regressDir}/fuzz-${o.mode}-${o.seed}-${round}-${f.kind}.jsonl`;
      try {
        const ops = f.kind === 'mismatch' ? m.log : await shrink(m, f, deadline); // a mismatch is found on a round right after a setup
        o.writeFile(repro, reproText(o.mode, o.seed, round, ops, f.message));
      } catch {
        repro = '';
      }
    }
    report.failures.push({ kind: f.kind, repro, message: f.message });
  };

  let round = 0;
  let needSetup = true;
  let setupRound = 0;
  while (report.failures.length < maxFailures && report.commands < o.commands) {
    o.heartbeat?.(round);
    const smmu = m.smmu;
    // a sampled round starts from a fresh setup, so that setup + round reproduce it alone
    const sampled = round % compareEvery === 0;
    try {
      if (needSetup || sampled || rng.chance(1 / 32) || round - setupRound >= 64) {
        timed('setup', () => m.setup(rng));
        setupRound = round;
      }
      needSetup = false;
      m.roundStart = m.log.length;
      if (smmu.busy) throw new Failed('stuck', 'a forwarding window is still open between rounds');
      const n = rng.int(1, sampled ? 1024 : rng.chance(0.5) ? 64 : size - 1);
      // device DMA through the SMMU (fills the IOTLB the commands then invalidate): n / 16
      // short copies between (mostly) mapped IOVAs, half before the commands, half after
      const dmas = Math.max(2, n >> 4);
      const sids = m.mode === 'viommu' ? [...EMULATED, 0x40] : [...EMULATED, 0x7];
      const dma = (k: number): void => {
        for (let i = 0; i < k; i++) {
          const iova = () => BigInt(rng.chance(0.9) ? IOVA0 + rng.int(0, IOVA_PAGES * 4096 - 1) : rng.u32() * 4096);
          const op: Op = { op: 'dma', sid: rng.pick(sids), src: iova(), dst: iova(), len: rng.int(1, 48) };
          timed('dma', () => m.apply(op));
        }
      };
      dma(sampled ? 32 : dmas >> 1); // a sampled round starts with a populated IOTLB
      // a batch of commands into the queue, at CONS
      for (let i = 0; i < n; i++) randomCommand(rng, m, words, i * 4);
      const idx = m.cons & (size - 1);
      const first = Math.min(n, size - idx);
      m.writeBytes(m.driver.cmdqBase + idx * 16, bytes.slice(0, first * 16));
      if (n > first) m.writeBytes(m.driver.cmdqBase, bytes.slice(first * 16, n * 16));
      const prod = (m.cons + n) & wrapMask;
      let snap: Snapshot | undefined;
      if (sampled) {
        snap = referenceFrom(m, m.cons);
        for (const b of m.backends) { b.recording = true; b.got.length = 0; }
      }
      timed('CMDQ_PROD write', () => m.w32(R.R_CMDQ_PROD, prod));
      const check = (after: string): void => {
        if (!snap) return;
        const diffs = compare(m, snap);
        if (diffs.length) {
          // the repro checks what the reference says
          m.log.push({ op: 'mmio_read', offset: R.R_CMDQ_CONS, size: 4, expect: BigInt(snap.ref.s.cons) });
          m.log.push({ op: 'mmio_read', offset: R.R_GERROR, size: 4, expect: BigInt(snap.ref.s.gerror) });
          throw new Failed('mismatch', `engine and reference differ after ${after}: ${diffs.join('; ')}`);
        }
      };
      if (snap) {
        runReference(snap, prod);
        check(`CMDQ_PROD = ${hex(prod)}`);
        compared++;
        comparedCommands += n;
      }
      // errors: the failed command becomes a CMD_SYNC (arm_smmu_cmdq_skip_err), then GERRORN;
      // on a sampled round the reference follows through every error
      for (let guard = 0; ; guard++) {
        const cons = m.r32(R.R_CMDQ_CONS);
        m.cons = cons & wrapMask;
        if ((cons & wrapMask) === prod) break;
        const gerror = m.r32(R.R_GERROR), gerrorn = m.r32(R.R_GERRORN);
        const pending = ((gerror ^ gerrorn) & deposit32(0, R.GERROR_CMDQ_ERR, 1)) !== 0;
        if (!pending || guard > n + 1) throw new Failed('stuck', `the queue stopped at CONS ${hex(cons)} before PROD ${hex(prod)} without a command error`);
        m.writeBytes(m.driver.cmdqBase + (cons & (size - 1)) * 16, enc.wordsToBytes(enc.cmdSync()));
        timed('GERRORN write', () => m.w32(R.R_GERRORN, gerror));
        if (snap) {
          snap.ref.writeGerrorn(gerror);
          runReference(snap, prod);
          check(`GERRORN = ${hex(gerror)}`);
        }
      }
      for (const b of m.backends) b.recording = false;
      dma(dmas - (dmas >> 1));
      // keep the event queue drained as a driver does
      m.w32(R.R_EVENTQ_CONS + R.SMMU_PAGE1, m.r32(R.R_EVENTQ_PROD + R.SMMU_PAGE1));
      if (m.hostErrors.length) throw new Failed('exception', `host error: ${m.hostErrors[0].message}`);
      if (memAfterWarmup < 0) memAfterWarmup = smmu.wasmMemoryBytes;
      count();
    } catch (err) {
      count();
      await fail(round, classify(err));
      // a fresh machine for the rest of the campaign
      report.growth_bytes += memAfterWarmup < 0 ? 0 : Math.max(0, m.smmu.wasmMemoryBytes - memAfterWarmup);
      memAfterWarmup = -1;
      m.smmu.dispose();
      m = new Machine(o.mode);
      await m.start();
      last = m.smmu.stats();
      needSetup = true;
    }
    round++;
    if (round % 16 === 0) o.progress?.({ commands: report.commands, translations: report.translations, rounds: round, compared, comparedCommands });
  }
  report.growth_bytes += memAfterWarmup < 0 ? 0 : Math.max(0, m.smmu.wasmMemoryBytes - memAfterWarmup);
  if (report.growth_bytes > 0) report.failures.push({ kind: 'growth', repro: '', message: `the engine's memory grew by ${report.growth_bytes} bytes` });
  o.progress?.({ commands: report.commands, translations: report.translations, rounds: round, compared, comparedCommands });
  m.smmu.dispose();
  return report;
}
