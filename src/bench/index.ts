// `vsmmu bench`: command-queue consumption of the same streams by the wasm engine, the
// TypeScript reference, QEMU 7.2 and memcpy; translation throughput; memory growth; the
// release .wasm size. Medians of several runs; every ratio is taken within one run.

import { defaultWasmUrl } from '../wasm-source.js';
import { statSync } from 'node:fs';
import * as os from 'node:os';
import { ModelStreamBench, now, seconds } from './model.js';
import { ReferenceStreamBench } from './reference.js';
import { qemuAvailable, qemuStream } from './qemu.js';
import { translationBench, FULL_TRANSLATE_SIZES, type TranslateResults, type TranslateSizes } from './translate.js';
import { fullGc, growthBench, type GrowthResult } from './growth.js';
import { FULL_STREAM, STATE_NOTE, STREAMS, STREAM_LOG2, streamBytes, type StreamSpec } from './streams.js';

export interface BenchOptions {
  /** Commands per stream (default 2^19 - 1, a full queue). */
  commands?: number;
  /** Runs of the TypeScript reference and QEMU per stream; the engine and memcpy get 2 * runs + 1. */
  runs?: number;
  /** Run QEMU (default: when qemu-system-aarch64 is installed). */
  qemu?: boolean;
  /** Only the streams whose name contains one of these (case-insensitive). */
  streams?: string[];
  translate?: TranslateSizes;
  growth?: { commands: number; translations: number };
  log?: (line: string) => void;
}

export interface StreamResult {
  name: string;
  commands: number;
  wasm_mcmd_s: number;
  ts_mcmd_s: number;
  qemu_mcmd_s: number | null;
  memcpy_mcmd_s: number;
  note: string;
  /** Every run, Mcmd/s. */
  samples: { wasm: number[]; ts: number[]; qemu: number[] | null; memcpy: number[] };
  /** Mean qtest round trip subtracted from QEMU's times, microseconds. */
  qemu_rtt_us: number | null;
  /** Entries handed to the simulated pSMMUs per run (mixed stream; engine, reference). */
  forwarded?: { wasm: number; ts: number };
  /** Medians with the time spent inside the simulated pSMMUs left out (mixed stream). */
  excluding_backends?: { wasm_mcmd_s: number; ts_mcmd_s: number };
  /**
   * The dispatcher's share of the engine's time with the simulated pSMMUs: the time of the
   * same guest stream with null backends (the dispatcher, the crossing and the engine's own
   * work, nothing inside the pSMMUs) over the time with the simulated ones, medians of the
   * same run (= null-stream median time / this stream's median time). Set when both
   * streams ran.
   */
  dispatcher_share?: number;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_gib: number;
  os: string;
  node: string;
  qemu: string | null;
  date: string;
}

export interface TargetCheck {
  target: string;
  value: string;
  met: boolean;
}

export interface BenchResult {
  streams: StreamResult[];
  translate: TranslateResults;
  growth_bytes: number;
  growth: GrowthResult;
  wasm_bytes: number;
  machine: MachineInfo;
  state: string;
  memcpy: string;
  targets: TargetCheck[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function wasmFileBytes(): number {
  return statSync(defaultWasmUrl()).size; // the release engine as shipped (dist/src/vsmmu.wasm)
}

export function machineInfo(qemu: string | undefined): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    qemu: qemu ?? null,
    date: new Date().toISOString(),
  };
}

export const MEMCPY_NOTE = 'Uint8Array.prototype.set of the queue bytes (in the engine\'s memory) into a separate buffer of the same size';

/** Seconds each implementation may spend on one stream beyond its minimum of 3 runs. */
const BUDGET = { wasm: 6, ts: 12, qemu: 15 };

function runsWithin(budget: number, oneRun: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(budget / Math.max(oneRun, 1e-6))));
}

/** The engine's and the reference's timed runs of one stream, with memcpy for scale. */
class StreamSampler {
  readonly wasm: number[] = [];
  readonly ts: number[] = [];
  readonly cp: number[] = [];
  /** Runs without the backends' time (vIOMMU streams). */
  readonly wasmBe: number[] = [];
  readonly tsBe: number[] = [];
  /** Entries forwarded by the last run of each. */
  readonly fwd = { wasm: 0, ts: 0 };
  private readonly src: Uint8Array;
  private readonly dst: Uint8Array;

  constructor(readonly model: ModelStreamBench, readonly ref: ReferenceStreamBench, private readonly n: number) {
    this.src = model.queueBytes();
    this.dst = new Uint8Array(this.src.length);
  }

  /** Millions of commands per second for a run of `t` seconds. */
  mcmd(t: number): number {
    return this.n / t / 1e6;
  }

  memcpy(): number {
    const t0 = now();
    this.dst.set(this.src);
    return seconds(t0, now());
  }

  runWasm(): number {
    const model = this.model;
    const f0 = model.smmu.stats().forwarded;
    const t = model.run();
    this.fwd.wasm = model.smmu.stats().forwarded - f0;
    this.wasm.push(this.mcmd(t));
    this.wasmBe.push(this.mcmd(Math.max(t - model.backendSeconds, 1e-9)));
    return t;
  }

  runTs(): number {
    const t = this.ref.run();
    this.fwd.ts = this.ref.forwarded;
    this.ts.push(this.mcmd(t));
    this.tsBe.push(this.mcmd(Math.max(t - this.ref.backendSeconds, 1e-9)));
    return t;
  }

  /** Drops the last sample of an implementation (a warm-up run). */
  forget(which: 'wasm' | 'ts'): void {
    (which === 'wasm' ? this.wasm : this.ts).pop();
    (which === 'wasm' ? this.wasmBe : this.tsBe).pop();
  }

  /**
   * Warm-up (wasm tier-up, JIT): one run each, two more for the engine when its runs are
   * short. A run longer than a second is warm enough and counts as a sample. Returns the
   * last run times.
   */
  warmUp(): { tWasm: number; tTs: number } {
    this.model.prepare();
    this.ref.load();
    let tWasm = this.runWasm();
    this.memcpy();
    const tTs = this.runTs();
    if (tTs <= 1) this.forget('ts');
    if (tWasm <= 1) {
      this.forget('wasm');
      for (let i = 0; i < 2; i++) {
        this.model.prepare();
        tWasm = this.runWasm();
        this.forget('wasm');
        this.memcpy();
      }
    }
    return { tWasm, tTs };
  }

  /** Samples both implementations, as many runs as their budgets allow, memcpy in between. */
  sample(runs: number, tWasm: number, tTs: number): void {
    const wasmRuns = tWasm < 0.1 ? 2 * runs + 1 : runsWithin(BUDGET.wasm, tWasm, Math.min(3, 2 * runs + 1), 2 * runs + 1);
    const tsRuns = runsWithin(BUDGET.ts, tTs, Math.min(3, runs), runs);
    while (this.wasm.length < wasmRuns || this.ts.length < tsRuns) {
      this.model.prepare();
      const withTs = this.ts.length < tsRuns;
      if (withTs) this.ref.load();
      if (this.wasm.length < wasmRuns) this.runWasm();
      for (let k = 0; k < 3; k++) this.cp.push(this.mcmd(this.memcpy())); // (short and noisy: more samples)
      if (withTs) this.runTs();
    }
  }
}

/** One stream on every implementation. */
export async function benchStream(spec: StreamSpec, n: number, runs: number, useQemu: boolean, log: (s: string) => void): Promise<StreamResult> {
  const bytes = streamBytes(spec, n);
  let qemu: { runs: number[]; rtt: number } | null = null;
  if (useQemu) {
    log(`${spec.name}: QEMU`);
    qemu = await qemuStream(spec, bytes, runs, log, BUDGET.qemu);
  }
  log(`${spec.name}: engine, reference, memcpy`);
  const model = await ModelStreamBench.create(spec, bytes);
  const s = new StreamSampler(model, new ReferenceStreamBench(model), n);
  const { tWasm, tTs } = s.warmUp();
  fullGc();
  s.sample(runs, tWasm, tTs);
  const out = streamResult(spec, n, s, qemu);
  model.smmu.dispose();
  return out;
}

function streamResult(spec: StreamSpec, n: number, s: StreamSampler, qemu: { runs: number[]; rtt: number } | null): StreamResult {
  const qemuRuns = qemu ? qemu.runs.map((t) => s.mcmd(t)) : null;
  const out: StreamResult = {
    name: spec.name,
    commands: n,
    wasm_mcmd_s: median(s.wasm),
    ts_mcmd_s: median(s.ts),
    qemu_mcmd_s: qemuRuns ? median(qemuRuns) : null,
    memcpy_mcmd_s: median(s.cp),
    note: spec.note,
    samples: { wasm: s.wasm, ts: s.ts, qemu: qemuRuns, memcpy: s.cp },
    qemu_rtt_us: qemu ? qemu.rtt * 1e6 : null,
  };
  if (spec.viommu) out.forwarded = s.fwd;
  if (spec.viommu && spec.backends !== 'null') out.excluding_backends = { wasm_mcmd_s: median(s.wasmBe), ts_mcmd_s: median(s.tsBe) };
  return out;
}

export function checkTargets(r: Omit<BenchResult, 'targets'>): TargetCheck[] {
  const t: TargetCheck[] = [];
  const x = (v: number) => `${v.toFixed(1)}x`;
  for (const s of r.streams) {
    if (s.qemu_mcmd_s !== null) t.push({ target: `${s.name}: >= 5x QEMU 7.2`, value: x(s.wasm_mcmd_s / s.qemu_mcmd_s), met: s.wasm_mcmd_s >= 5 * s.qemu_mcmd_s });
    t.push({ target: `${s.name}: >= 25% of memcpy`, value: `${((100 * s.wasm_mcmd_s) / s.memcpy_mcmd_s).toFixed(1)}%`, met: s.wasm_mcmd_s >= 0.25 * s.memcpy_mcmd_s });
    t.push({ target: `${s.name}: >= 2x the TS reference`, value: x(s.wasm_mcmd_s / s.ts_mcmd_s), met: s.wasm_mcmd_s >= 2 * s.ts_mcmd_s });
  }
  // the vIOMMU path (issue 16): its own cost against the plain path, in the same run
  const plain = r.streams.find((s) => s.name === 'TLBI_NH_VA + SYNC/17');
  const nul = r.streams.find((s) => s.name === 'mixed vIOMMU null backends');
  if (plain && nul) {
    t.push({ target: 'mixed vIOMMU null backends: >= 10% of TLBI_NH_VA + SYNC/17', value: `${((100 * nul.wasm_mcmd_s) / plain.wasm_mcmd_s).toFixed(1)}%`, met: nul.wasm_mcmd_s >= 0.1 * plain.wasm_mcmd_s });
  }
  for (const s of r.streams) {
    if (s.dispatcher_share === undefined) continue;
    t.push({ target: `${s.name}: dispatcher share < 25% (time with null backends / time)`, value: `${(100 * s.dispatcher_share).toFixed(1)}%`, met: s.dispatcher_share < 0.25 });
  }
  t.push({ target: 'IOTLB hit, batched: >= 50 M/s', value: r.translate.hit_batch_m_s.toFixed(1), met: r.translate.hit_batch_m_s >= 50 });
  t.push({ target: 'IOTLB hit, single calls: >= 10 M/s', value: r.translate.hit_single_m_s.toFixed(1), met: r.translate.hit_single_m_s >= 10 });
  t.push({ target: '4-level walk miss: >= 5 M/s', value: r.translate.miss_m_s.toFixed(1), met: r.translate.miss_m_s >= 5 });
  t.push({ target: 'memory growth: 0 bytes', value: `${r.growth_bytes} B`, met: r.growth_bytes === 0 });
  t.push({ target: 'release .wasm <= 64 KiB', value: `${r.wasm_bytes} B`, met: r.wasm_bytes <= 65536 });
  return t;
}

/** dispatcher_share of each simulated vIOMMU stream whose null-backend twin (the same guest stream) ran too. */
export function setDispatcherShare(streams: StreamResult[]): void {
  for (const s of streams) {
    const twin = streams.find((x) => x.name === `${s.name} null backends`);
    if (twin && s.excluding_backends) s.dispatcher_share = s.wasm_mcmd_s / twin.wasm_mcmd_s;
  }
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const log = opts.log ?? (() => {});
  const n = opts.commands ?? FULL_STREAM;
  if (!Number.isInteger(n) || n < 1 || n >= 1 << STREAM_LOG2) throw new RangeError(`bench: commands must be in [1, ${(1 << STREAM_LOG2) - 1}]`);
  const runs = opts.runs ?? 5;
  const qemuVersion = opts.qemu === false ? undefined : qemuAvailable();
  if (opts.qemu === true && !qemuVersion) throw new Error('bench: --qemu given but qemu-system-aarch64 cannot be run');
  const filter = opts.streams?.map((s) => s.toLowerCase());
  const specs = STREAMS.filter((s) => !filter || filter.some((f) => s.name.toLowerCase().includes(f)));
  // translation first, in a fresh process; a full collection before each part, so that
  // no concurrent GC work from the previous part runs during the next one
  log('translation');
  fullGc();
  const translate = await translationBench(opts.translate ?? FULL_TRANSLATE_SIZES);
  const streams: StreamResult[] = [];
  for (const spec of specs) {
    fullGc();
    streams.push(await benchStream(spec, n, runs, qemuVersion !== undefined, log));
  }
  setDispatcherShare(streams);
  log('memory growth');
  fullGc();
  const g = opts.growth ?? { commands: 1e7, translations: 1e7 };
  const growth = await growthBench(STREAMS.find((s) => s.name === 'TLBI_NH_VA + SYNC/17')!, n, g.commands, g.translations);
  const base = {
    streams,
    translate,
    growth_bytes: growth.growthBytes,
    growth,
    wasm_bytes: wasmFileBytes(),
    machine: machineInfo(qemuVersion),
    state: STATE_NOTE,
    memcpy: MEMCPY_NOTE,
  };
  return { ...base, targets: checkTargets(base) };
}
