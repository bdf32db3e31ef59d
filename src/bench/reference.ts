// The TypeScript reference side of a stream benchmark: ReferenceCmdq (src/reference)
// consuming the same queue bytes (read from the model's RAM) from the same state the
// engine starts from (its IOTLB, config cache and learned vASIDs, copied before each
// run). With the dispatcher on, each window of forwarded entries is handed to simulated
// pSMMUs exactly as the host's Forwarder batches them (one call per backend and run of
// invalidations, one per STE install).

import { ReferenceCmdq, type RefDispatchConfig, type RefForward } from '../reference/cmdq.js';
import type { SimulatedPsmmu } from '../backends/simulated.js';
import { NullPsmmu } from '../backends/null.js';
import type { PsmmuBackend } from '../backends/types.js';
import { refDispatchConfig } from '../reference/dispatch-config.js';
import * as A from '../arch/abi.js';
import * as R from '../arch/registers.js';
import { deposit32 } from '../bits.js';
import type { ModelStreamBench } from './model.js';
import { now, seconds, simulatedPsmmu, TimedBackend } from './model.js';
import { BACKENDS, EMULATED, PASSTHROUGH, RAM_BASE, STREAM_LOG2, STREAM_QUEUE } from './streams.js';

export class ReferenceStreamBench {
  readonly backends: SimulatedPsmmu[];
  private readonly timed: TimedBackend[];
  /** Null backends (a stream with backends: 'null'). */
  readonly nulls: NullPsmmu[];
  /** What the deliveries call: the timed simulated pSMMUs, or the null ones. */
  private readonly targets: PsmmuBackend[];
  /** Seconds the last run spent inside the simulated pSMMUs. */
  backendSeconds = 0;
  private readonly ram: Uint8Array;
  private readonly dv: DataView;
  private readonly devices = new Set(EMULATED);
  /** The last run's reference (for checks). */
  last?: ReferenceCmdq;
  /** Entries the last run handed to the backends. */
  forwarded = 0;

  constructor(readonly model: ModelStreamBench) {
    this.ram = model.smmu.ram();
    this.dv = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    this.nulls = model.spec.viommu && model.spec.backends === 'null' ? BACKENDS.map((b) => new NullPsmmu(b.name)) : [];
    this.backends = model.spec.viommu && !this.nulls.length ? BACKENDS.map((b) => simulatedPsmmu(b.name, model.log)) : [];
    this.timed = this.backends.map((b) => new TimedBackend(b));
    this.targets = this.nulls.length ? this.nulls : this.timed;
  }

  private u64(addr: bigint): bigint | null {
    const o = Number(addr) - RAM_BASE;
    if (o < 0 || o + 8 > this.ram.length) return null;
    return this.dv.getBigUint64(o, true);
  }

  private dispatch(): RefDispatchConfig | undefined {
    if (!this.model.spec.viommu) return undefined;
    const drv = this.model.guest.driver;
    return refDispatchConfig({ backends: BACKENDS, passthrough: PASSTHROUGH }, (vsid) => drv.steAddr(vsid), (a) => this.u64(a));
  }

  /** A reference in the state the engine is in now (call after model.prepare()). */
  private fresh(): ReferenceCmdq {
    const ram = this.ram;
    const ref = new ReferenceCmdq(
      {
        cr0: deposit32(0, R.CR0_CMDQEN, 1), irqCtrl: 0, gerror: 0, gerrorn: 0,
        base: BigInt(STREAM_QUEUE) | BigInt(STREAM_LOG2), prod: 0, cons: 0, log2: STREAM_LOG2,
      },
      {
        read: (addr) => {
          const o = Number(addr) - RAM_BASE;
          return o >= 0 && o + 16 <= ram.length ? ram.subarray(o, o + 16) : null;
        },
        isDevice: (sid) => this.devices.has(sid),
      },
      this.dispatch(),
    );
    for (const e of this.model.iotlb()) ref.iotlb.insert(e);
    for (const s of this.model.cachedConfigs()) ref.configs.add(s);
    const l = this.model.learned();
    for (const [a, m] of l.vasid) ref.vasid.set(a, m);
    ref.wildcard = l.wildcard;
    return ref;
  }

  private loaded?: ReferenceCmdq;

  /** Copies the engine's state now (after model.prepare(), before the model runs). */
  load(): void {
    this.loaded = this.fresh();
  }

  /** One timed consumption from the state load() copied; returns seconds. */
  run(): number {
    const ref = this.loaded;
    if (!ref) throw new Error('bench: reference run without load()');
    this.loaded = undefined;
    for (const b of this.backends) b.applied.length = 0;
    this.forwarded = 0;
    for (const b of this.timed) b.seconds = 0;
    const n = this.model.n;
    const t0 = now();
    ref.s.prod = n;
    let st = ref.consume();
    while (st === A.CQ_FORWARD) {
      this.deliver(ref.forwarded);
      ref.forwardDone(-1);
      st = ref.consume();
    }
    const t1 = now();
    this.backendSeconds = this.timed.reduce((a, b) => a + b.seconds, 0);
    if (ref.s.cons !== n || ((ref.s.gerror ^ ref.s.gerrorn) & 1) !== 0) {
      throw new Error(`bench: reference consumed ${ref.s.cons} of ${n} commands of "${this.model.spec.name}"`);
    }
    this.last = ref;
    return seconds(t0, t1);
  }

  /** The Forwarder's batching: per backend, one invalidate() per run of entries, one installSte() per STE. */
  private deliver(fw: RefForward[]): void {
    this.forwarded += fw.length;
    for (let b = 0; b < this.targets.length; b++) {
      const mine = fw.filter((f) => f.backend === b);
      let i = 0;
      while (i < mine.length) {
        if (mine[i].kind === A.FWK_STE) {
          const s = new Uint8Array(16);
          const dv = new DataView(s.buffer);
          dv.setBigUint64(0, mine[i].w0, true);
          dv.setBigUint64(8, mine[i].w1, true);
          this.targets[b].installSte(mine[i].psid, s);
          i++;
          continue;
        }
        let j = i;
        while (j < mine.length && mine[j].kind === A.FWK_INV) j++;
        const bytes = new Uint8Array((j - i) * 16);
        const dv = new DataView(bytes.buffer);
        for (let k = i; k < j; k++) {
          dv.setBigUint64((k - i) * 16, BigInt.asUintN(64, mine[k].w0), true);
          dv.setBigUint64((k - i) * 16 + 8, BigInt.asUintN(64, mine[k].w1), true);
        }
        this.targets[b].invalidate(bytes);
        i = j;
      }
    }
  }
}
