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
// failing round is written out as a vsmmu-trace that `vsmmu replay` runs (repro.ts). The
// guest machine is in machine.ts, the reference comparison in reference-check.ts.

import type { Op } from '../ops.js';
import { Rng } from '../conformance/rng.js';
import * as enc from '../guest/encode.js';
import * as R from '../arch/registers.js';
import { deposit32, hex } from '../bits.js';
import { CMDQ_LOG2, EMULATED, IOVA0, IOVA_PAGES, Machine, randomCommand } from './machine.js';
import { compare, referenceFrom, runReference, type Snapshot } from './reference-check.js';
import { Failed, classify, reproText, shrink } from './repro.js';

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

/** Runs a campaign; never throws for what the model does (that is reported in the result). */
export async function runCampaign(o: FuzzOptions): Promise<FuzzReport> {
  const c = new Campaign(o, new Machine(o.mode));
  await c.m.start();
  c.last = c.m.smmu.stats();
  let round = 0;
  while (c.report.failures.length < c.maxFailures && c.report.commands < o.commands) {
    o.heartbeat?.(round);
    try {
      c.round(round);
      c.count();
    } catch (err) {
      c.count();
      await c.fail(round, classify(err));
      await c.freshMachine();
    }
    round++;
    if (round % 16 === 0) o.progress?.(c.progress(round));
  }
  c.addGrowth();
  const report = c.report;
  if (report.growth_bytes > 0) report.failures.push({ kind: 'growth', repro: '', message: `the engine's memory grew by ${report.growth_bytes} bytes` });
  o.progress?.(c.progress(round));
  c.m.smmu.dispose();
  return report;
}

const QUEUE_SIZE = 1 << CMDQ_LOG2;
const WRAP_MASK = (2 << CMDQ_LOG2) - 1;

/** The state of a campaign between rounds. */
class Campaign {
  readonly deadline: number;
  readonly compareEvery: number;
  readonly maxFailures: number;
  readonly report: FuzzReport;
  readonly rng: Rng;
  /** A round's commands, as the queue holds them. */
  readonly words = new Uint32Array(QUEUE_SIZE * 4);
  readonly bytes = new Uint8Array(this.words.buffer);
  memAfterWarmup = -1; // engine memory after the first round of the current machine
  compared = 0;
  comparedCommands = 0;
  last!: ReturnType<Machine['smmu']['stats']>;
  needSetup = true;
  setupRound = 0;

  constructor(readonly o: FuzzOptions, public m: Machine) {
    this.deadline = o.deadlineMs ?? 5000;
    this.compareEvery = o.compareEvery ?? 8;
    this.maxFailures = o.maxFailures ?? 5;
    this.report = {
      seed: o.seed, mode: o.mode, commands: 0, translations: 0, exceptions: 0, traps: 0, hangs: 0, mismatches: 0, growth_bytes: 0, failures: [],
    };
    this.rng = new Rng(o.seed);
  }

  /** Adds the engine's counters since the last call to the report. */
  count(): void {
    const now = this.m.smmu.stats();
    this.report.commands += now.commands - this.last.commands;
    this.report.translations += now.translations - this.last.translations;
    this.last = now;
  }

  progress(rounds: number): FuzzProgress {
    return { commands: this.report.commands, translations: this.report.translations, rounds, compared: this.compared, comparedCommands: this.comparedCommands };
  }

  /** Runs `f`; a call longer than the deadline is a hang. */
  timed<T>(what: string, f: () => T): T {
    const t0 = performance.now();
    const r = f();
    const dt = performance.now() - t0;
    if (dt > this.deadline) throw new Failed('hang', `${what} took ${dt.toFixed(0)} ms (deadline ${this.deadline} ms)`);
    return r;
  }

  /**
   * One round: maybe a fresh setup, device DMA, a batch of random commands at CONS, the
   * command errors acknowledged, more DMA; on a sampled round the reference runs the same
   * queue and must agree. Throws a Failed (or what the model threw).
   */
  round(round: number): void {
    const { m, rng } = this;
    const smmu = m.smmu;
    // a sampled round starts from a fresh setup, so that setup + round reproduce it alone
    const sampled = round % this.compareEvery === 0;
    if (this.needSetup || sampled || rng.chance(1 / 32) || round - this.setupRound >= 64) {
      this.timed('setup', () => m.setup(rng));
      this.setupRound = round;
    }
    this.needSetup = false;
    m.roundStart = m.log.length;
    if (smmu.busy) throw new Failed('stuck', 'a forwarding window is still open between rounds');
    const n = rng.int(1, sampled ? 1024 : rng.chance(0.5) ? 64 : QUEUE_SIZE - 1);
    // device DMA through the SMMU (fills the IOTLB the commands then invalidate): n / 16
    // short copies between (mostly) mapped IOVAs, half before the commands, half after
    const dmas = Math.max(2, n >> 4);
    const sids = m.mode === 'viommu' ? [...EMULATED, 0x40] : [...EMULATED, 0x7];
    this.dma(sampled ? 32 : dmas >> 1, sids); // a sampled round starts with a populated IOTLB
    const prod = this.queueCommands(n);
    let snap: Snapshot | undefined;
    if (sampled) {
      snap = referenceFrom(m, m.cons);
      for (const b of m.backends) { b.recording = true; b.got.length = 0; }
    }
    this.timed('CMDQ_PROD write', () => m.w32(R.R_CMDQ_PROD, prod));
    if (snap) {
      runReference(snap, prod);
      this.check(snap, `CMDQ_PROD = ${hex(prod)}`);
      this.compared++;
      this.comparedCommands += n;
    }
    this.skipErrors(prod, n, snap);
    for (const b of m.backends) b.recording = false;
    this.dma(dmas - (dmas >> 1), sids);
    // keep the event queue drained as a driver does
    m.w32(R.R_EVENTQ_CONS + R.SMMU_PAGE1, m.r32(R.R_EVENTQ_PROD + R.SMMU_PAGE1));
    if (m.hostErrors.length) throw new Failed('exception', `host error: ${m.hostErrors[0].message}`);
    if (this.memAfterWarmup < 0) this.memAfterWarmup = smmu.wasmMemoryBytes;
  }

  /** `k` short DMA copies by devices of `sids`, between (mostly) mapped IOVAs. */
  dma(k: number, sids: readonly number[]): void {
    const rng = this.rng;
    for (let i = 0; i < k; i++) {
      const iova = () => BigInt(rng.chance(0.9) ? IOVA0 + rng.int(0, IOVA_PAGES * 4096 - 1) : rng.u32() * 4096);
      const op: Op = { op: 'dma', sid: rng.pick(sids), src: iova(), dst: iova(), len: rng.int(1, 48) };
      this.timed('dma', () => this.m.apply(op));
    }
  }

  /** Writes `n` random commands into the queue at CONS; returns the PROD that publishes them. */
  queueCommands(n: number): number {
    const { m, words, bytes } = this;
    for (let i = 0; i < n; i++) randomCommand(this.rng, m, words, i * 4);
    const idx = m.cons & (QUEUE_SIZE - 1);
    const first = Math.min(n, QUEUE_SIZE - idx);
    m.writeBytes(m.driver.cmdqBase + idx * 16, bytes.slice(0, first * 16));
    if (n > first) m.writeBytes(m.driver.cmdqBase, bytes.slice(first * 16, n * 16));
    return (m.cons + n) & WRAP_MASK;
  }

  /** Throws a mismatch when the engine and the reference differ (the repro then checks what the reference says). */
  check(snap: Snapshot, after: string): void {
    const m = this.m;
    const diffs = compare(m, snap);
    if (diffs.length) {
      m.log.push({ op: 'mmio_read', offset: R.R_CMDQ_CONS, size: 4, expect: BigInt(snap.ref.s.cons) });
      m.log.push({ op: 'mmio_read', offset: R.R_GERROR, size: 4, expect: BigInt(snap.ref.s.gerror) });
      throw new Failed('mismatch', `engine and reference differ after ${after}: ${diffs.join('; ')}`);
    }
  }

  /**
   * Command errors until the queue reaches `prod`: the failed command becomes a CMD_SYNC
   * (arm_smmu_cmdq_skip_err), then GERRORN; the reference of a sampled round follows
   * through every error.
   */
  skipErrors(prod: number, n: number, snap: Snapshot | undefined): void {
    const m = this.m;
    for (let guard = 0; ; guard++) {
      const cons = m.r32(R.R_CMDQ_CONS);
      m.cons = cons & WRAP_MASK;
      if ((cons & WRAP_MASK) === prod) break;
      const gerror = m.r32(R.R_GERROR), gerrorn = m.r32(R.R_GERRORN);
      const pending = ((gerror ^ gerrorn) & deposit32(0, R.GERROR_CMDQ_ERR, 1)) !== 0;
      if (!pending || guard > n + 1) throw new Failed('stuck', `the queue stopped at CONS ${hex(cons)} before PROD ${hex(prod)} without a command error`);
      m.writeBytes(m.driver.cmdqBase + (cons & (QUEUE_SIZE - 1)) * 16, enc.wordsToBytes(enc.cmdSync()));
      this.timed('GERRORN write', () => m.w32(R.R_GERRORN, gerror));
      if (snap) {
        snap.ref.writeGerrorn(gerror);
        runReference(snap, prod);
        this.check(snap, `GERRORN = ${hex(gerror)}`);
      }
    }
  }

  /** Counts failure `f` of `round` and writes its (shrunk) reproduction when asked to. */
  async fail(round: number, f: Failed): Promise<void> {
    const { o, report } = this;
    if (f.kind === 'exception') report.exceptions++;
    else if (f.kind === 'trap') report.traps++;
    else if (f.kind === 'hang') report.hangs++;
    else if (f.kind === 'mismatch') report.mismatches++;
    let repro = '';
    if (o.regressDir && o.writeFile) {
      repro = `${o.regressDir}/fuzz-${o.mode}-${o.seed}-${round}-${f.kind}.jsonl`;
      try {
        const ops = f.kind === 'mismatch' ? this.m.log : await shrink(this.m, f, this.deadline); // a mismatch is found on a round right after a setup
        o.writeFile(repro, reproText(o.mode, o.seed, round, ops, f.message));
      } catch {
        repro = '';
      }
    }
    report.failures.push({ kind: f.kind, repro, message: f.message });
  }

  /** Counts the memory growth of the current machine. */
  addGrowth(): void {
    this.report.growth_bytes += this.memAfterWarmup < 0 ? 0 : Math.max(0, this.m.smmu.wasmMemoryBytes - this.memAfterWarmup);
    this.memAfterWarmup = -1;
  }

  /** A fresh machine for the rest of the campaign (after a failure). */
  async freshMachine(): Promise<void> {
    this.addGrowth();
    this.m.smmu.dispose();
    this.m = new Machine(this.o.mode);
    await this.m.start();
    this.last = this.m.smmu.stats();
    this.needSetup = true;
  }
}
