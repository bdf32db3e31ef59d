// The WebAssembly engine side of a stream benchmark: a vSMMU with its guest RAM inside
// the engine, the guest set up by BenchGuest, the stream's bytes in the 2^19-entry queue,
// and one timed CMDQ_PROD write per run.

import { createSmmu, type Smmu } from '../smmu.js';
import { SimulatedPsmmu } from '../backends/simulated.js';
import { NullPsmmu } from '../backends/null.js';
import { engineExports } from '../engine-debug.js';
import type { EngineExports } from '../engine.js';
import * as R from '../arch/registers.js';
import type { RefTlbEntry } from '../reference/iotlb.js';
import { engineConfigs, engineIotlb, engineVasids } from '../reference/from-engine.js';
import type { BatchResult, PsmmuBackend } from '../backends/types.js';
import { BenchGuest } from './setup.js';
import { BACKENDS, EMULATED, ENGINE_RAM_SIZE, PASSTHROUGH, RAM_BASE, STREAM_QUEUE, type StreamSpec } from './streams.js';


/** The engine behind a model (for the state snapshots the reference starts from). */
export function engineOf(smmu: Smmu): EngineExports {
  return engineExports(smmu);
}

export function now(): bigint {
  return process.hrtime.bigint();
}

export function seconds(t0: bigint, t1: bigint): number {
  return Number(t1 - t0) / 1e9;
}

/**
 * A pSMMU backend that adds up the time spent inside another one (the simulated
 * pSMMU's own work), so that reports can show the vSMMU's share apart from it.
 */
export class TimedBackend implements PsmmuBackend {
  seconds = 0;
  calls = 0;
  constructor(readonly inner: PsmmuBackend) {}

  get name(): string {
    return this.inner.name;
  }

  // performance.now(): a double, no BigInt per call (the wrapper's own cost counts as the vSMMU's)
  invalidate(entries: Uint8Array): BatchResult | Promise<BatchResult> {
    const t0 = performance.now();
    const r = this.inner.invalidate(entries);
    this.seconds += (performance.now() - t0) / 1e3;
    this.calls++;
    return r;
  }

  installSte(psid: number, ste: Uint8Array): BatchResult | Promise<BatchResult> {
    const t0 = performance.now();
    const r = this.inner.installSte(psid, ste);
    this.seconds += (performance.now() - t0) / 1e3;
    this.calls++;
    return r;
  }

  subscribe(listener: (record: Uint8Array) => void): () => void {
    return this.inner.subscribe ? this.inner.subscribe(listener) : () => {};
  }
}

/** A simulated pSMMU; `log` is passed through an options object the simulator may not know yet (then it logs). */
export function simulatedPsmmu(name: string, log: boolean): SimulatedPsmmu {
  const options = { name, log };
  return new SimulatedPsmmu(options);
}

export class ModelStreamBench {
  /** The backends as the vSMMU sees them (timing wrappers around `backends`). */
  readonly timed: TimedBackend[];
  /** The null backends (a stream with backends: 'null'; then `backends` is empty and nothing is timed inside them). */
  readonly nulls: NullPsmmu[];

  private constructor(
    readonly spec: StreamSpec,
    readonly n: number,
    readonly smmu: Smmu,
    readonly guest: BenchGuest,
    readonly backends: SimulatedPsmmu[],
    timed: TimedBackend[],
    readonly log: boolean,
    nulls: NullPsmmu[],
  ) {
    this.timed = timed;
    this.nulls = nulls;
  }

  /** Seconds the last run spent inside the simulated pSMMUs. */
  backendSeconds = 0;

  /**
   * `log`: the simulated pSMMUs keep the text of every entry that took effect (for
   * checks); off when timing, where it is the simulator's bookkeeping, not pSMMU work.
   */
  static async create(spec: StreamSpec, bytes: Uint8Array, log = false): Promise<ModelStreamBench> {
    const nulls = spec.viommu && spec.backends === 'null' ? BACKENDS.map((b) => new NullPsmmu(b.name)) : [];
    const backends = spec.viommu && !nulls.length ? BACKENDS.map((b) => simulatedPsmmu(b.name, log)) : [];
    const timed = backends.map((b) => new TimedBackend(b));
    const bound: PsmmuBackend[] = nulls.length ? nulls : timed;
    const smmu = await createSmmu({
      ram: [{ base: RAM_BASE, size: ENGINE_RAM_SIZE }],
      devices: EMULATED,
      viommu: spec.viommu
        ? {
          backends: BACKENDS.map((b, i) => ({ name: b.name, vmid: b.vmid, backend: bound[i] })),
          devices: PASSTHROUGH.map((p) => ({ sid: p.sid, backend: p.backend, psid: p.psid })),
        }
        : undefined,
    });
    const guest = new BenchGuest(smmu, (sid, iova) => {
      const r = smmu.translate(sid, iova, 'read');
      if (!r.ok) throw new Error(`bench: set-up access of 0x${sid.toString(16)} at 0x${iova.toString(16)}: ${r.status}`);
    });
    guest.init();
    smmu.ram().set(bytes, STREAM_QUEUE - RAM_BASE);
    return new ModelStreamBench(spec, bytes.length / 16, smmu, guest, backends, timed, log, nulls);
  }

  /** The queue bytes as the engine reads them (inside its memory). */
  queueBytes(): Uint8Array {
    return this.smmu.ram().subarray(STREAM_QUEUE - RAM_BASE, STREAM_QUEUE - RAM_BASE + this.n * 16);
  }

  /** Untimed: caches filled, stream queue empty. */
  prepare(): void {
    this.guest.populate();
    this.guest.useStreamQueue();
    for (const b of this.backends) b.applied.length = 0;
  }

  /** One timed consumption of the whole stream; returns seconds. */
  run(): number {
    const c0 = this.smmu.stats().commands;
    for (const b of this.timed) b.seconds = 0;
    const t0 = now();
    this.smmu.mmioWrite(R.R_CMDQ_PROD, 4, this.n);
    const t1 = now();
    this.backendSeconds = this.timed.reduce((a, b) => a + b.seconds, 0);
    const st = this.guest.queueStatus();
    const done = this.smmu.stats().commands - c0;
    if (st.error || st.cons !== this.n || done !== this.n || this.smmu.busy) {
      throw new Error(`bench: engine consumed ${done} of ${this.n} commands of "${this.spec.name}" (CONS 0x${st.cons.toString(16)}${st.error ? ', command error' : ''})`);
    }
    return seconds(t0, t1);
  }

  /** IOTLB contents, as the reference's entries. */
  iotlb(): RefTlbEntry[] {
    return engineIotlb(engineOf(this.smmu));
  }

  /** Devices with a cached configuration. */
  cachedConfigs(): number[] {
    return engineConfigs(engineOf(this.smmu), [...EMULATED, ...PASSTHROUGH.map((p) => p.sid)]);
  }

  /** vASID -> backend mask learned by the dispatcher, and the wildcard mask. */
  learned(): { vasid: Map<number, number>; wildcard: number } {
    return this.spec.viommu ? engineVasids(engineOf(this.smmu)) : { vasid: new Map(), wildcard: 0 };
  }
}
