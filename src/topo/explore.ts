// The topology explorer: one workload, acted out by JavaScript guest drivers the way
// Linux's arm-smmu-v3 and io-pgtable-arm do it (map, DMA, unmap with strict, lazy or
// range invalidation), on each vIOMMU topology, with the counters that answer the
// seed's question (../../README.md, "What topologies cost").

import { buildVm, VM_RAM_BASE, type TopologySpec, type Vm, type VsmmuNode } from './vm.js';
import type { Domain } from '../guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdTlbiVa, type Words } from '../guest/encode.js';
import type { SmmuStats } from '../types.js';
import type { PsmmuCounters } from '../backends/simulated.js';

export type TopologyName = 'one-to-one' | 'join-vasid' | 'join-broadcast' | 'split' | 'dedicated';

export const TOPOLOGIES: Array<{ name: TopologyName; label: string }> = [
  { name: 'one-to-one', label: '1 vSMMU : 1 pSMMU (mixed)' },
  { name: 'join-vasid', label: 'join: 1 vSMMU over 2 pSMMUs, vASID table' },
  { name: 'join-broadcast', label: 'join: 1 vSMMU over 2 pSMMUs, broadcast' },
  { name: 'split', label: 'split: 1 pSMMU under 2 vSMMUs' },
  { name: 'dedicated', label: 'dedicated passthrough vSMMU + emulated vSMMU' },
];

export interface Workload {
  /** Devices in the VM. */
  devices: number;
  /** Share of them that are passthrough (0..1). */
  passthroughShare: number;
  /** Address spaces (CDs, one ASID each) per passthrough device; emulated devices have one (QEMU 7.2). */
  asidsPerDevice: number;
  /** Pages each device maps (and later unmaps) per step. */
  mapsPerStep: number;
  /** DMA accesses per device per step, spread over its live mappings. */
  dmaPerStep: number;
  /** Steps a mapping lives before it is unmapped. */
  window: number;
  /** Invalidation after unmap: strict (TLBI_NH_VA + CMD_SYNC per page), lazy (TLBI_NH_ASID per batch), range (one range TLBI). */
  mode: 'strict' | 'lazy' | 'range';
  /** Unmaps per flush in lazy mode. */
  lazyBatch: number;
  /** pSMMUs for the join topologies. */
  joinPsmmus: number;
  /** Data pages the devices share (the guest's page cache): the stage-2 working set. */
  sharedFrames: number;
  /** pSMMU IOTLB and stage-2 walk cache sizes. */
  iotlbEntries: number;
  s2CacheEntries: number;
  seed: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  devices: 8, passthroughShare: 0.5, asidsPerDevice: 2, mapsPerStep: 4, dmaPerStep: 32, window: 2,
  mode: 'strict', lazyBatch: 32, joinPsmmus: 2, sharedFrames: 40, iotlbEntries: 256, s2CacheEntries: 64, seed: 1,
};

export interface TopologyMetrics {
  name: TopologyName;
  label: string;
  steps: number;
  /** Commands the guests wrote to their command queues. */
  commands: number;
  /** Invalidation entries and STE installs that took effect on each pSMMU. */
  forwarded: Record<string, number>;
  /** Guest commands no pSMMU needed (emulated devices, CMD_SYNC, ...). */
  filtered: number;
  broadcast_tlbi: number;
  targeted_tlbi: number;
  /** pSMMU IOTLB entries dropped although the guest still had them mapped. */
  over_invalidation: number;
  /** pSMMU IOTLB hit rate of passthrough DMA. */
  iotlb_hit_rate: number;
  /** Model IOTLB hit rate of emulated DMA. */
  model_iotlb_hit_rate: number;
  /** pSMMU stage-2 walk-cache hit rate. */
  s2_hit_rate: number;
  /** Mean modelled time a guest CMD_SYNC waits for the pSMMUs (ioctl + entries + physical syncs). */
  sync_latency_us: number;
  /** Host calls (ioctls) to pSMMUs. */
  backend_calls: number;
  walk_reads: number;
  dma: number;
  faults: number;
}

interface Dev {
  sid: number;
  node: number;
  psmmu?: string;
  psid?: number;
  domains: Domain[];
  live: Array<{ step: number; d: number; iova: number; pa: number }>;
  nextIova: number[];
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The VM layout of a topology for a workload: which device sits where. */
export function topologySpec(name: TopologyName, w: Workload): TopologySpec {
  const npt = Math.round(w.devices * w.passthroughShare);
  const pOpts = { iotlbEntries: w.iotlbEntries, s2CacheEntries: w.s2CacheEntries };
  const joinN = Math.max(2, w.joinPsmmus);
  const pt = (i: number) => ({ sid: 0x100 + i * 8, psid: 0x1000 + i });
  const em = (i: number) => 0x08 + i * 8;
  const devs = Array.from({ length: w.devices }, (_, i) => i);
  switch (name) {
    case 'one-to-one':
      return {
        psmmus: [{ name: 'p0', ...pOpts }],
        vsmmus: [{ name: 'v0', emulated: devs.filter((i) => i >= npt).map(em), passthrough: devs.filter((i) => i < npt).map((i) => ({ ...pt(i), psmmu: 'p0' })) }],
      };
    case 'join-vasid':
    case 'join-broadcast':
      return {
        psmmus: Array.from({ length: joinN }, (_, j) => ({ name: `p${j}`, ...pOpts })),
        vsmmus: [{
          name: 'v0', vasidTable: name === 'join-vasid',
          emulated: devs.filter((i) => i >= npt).map(em),
          passthrough: devs.filter((i) => i < npt).map((i) => ({ ...pt(i), psmmu: `p${i % joinN}` })),
        }],
      };
    case 'split':
      return {
        psmmus: [{ name: 'p0', ...pOpts }],
        vsmmus: [0, 1].map((v) => ({
          name: `v${v}`,
          emulated: devs.filter((i) => i >= npt && i % 2 === v).map(em),
          passthrough: devs.filter((i) => i < npt && i % 2 === v).map((i) => ({ ...pt(i), psmmu: 'p0' })),
        })),
      };
    case 'dedicated':
      return {
        psmmus: [{ name: 'p0', ...pOpts }],
        vsmmus: [
          { name: 'v0', emulated: [], passthroughOnly: true, passthrough: devs.filter((i) => i < npt).map((i) => ({ ...pt(i), psmmu: 'p0' })) },
          { name: 'v1', emulated: devs.filter((i) => i >= npt).map(em), passthrough: [] },
        ],
      };
  }
}

const DATA_BASE = VM_RAM_BASE + 0x3000000;
const IOVA_BASE = 0x10000000;
const IOVA_SPAN = 0x400000; // IOVAs cycle through 4 MiB per address space

/** One topology running the workload; step() acts out one batch of guest work. */
export class TopologyRun {
  readonly label: string;
  steps = 0;
  syncs = 0;
  syncNs = 0;
  dmaCount = 0;
  private devs: Dev[] = [];
  private rand: () => number;
  private pendingLazy: Array<Map<number, number>> = [];

  private constructor(readonly name: TopologyName, readonly w: Workload, readonly vm: Vm) {
    this.label = TOPOLOGIES.find((t) => t.name === name)!.label;
    this.rand = rng(w.seed);
  }

  static async create(name: TopologyName, w: Workload = DEFAULT_WORKLOAD): Promise<TopologyRun> {
    const vm = await buildVm(topologySpec(name, w));
    const run = new TopologyRun(name, w, vm);
    run.attachAll();
    return run;
  }

  private attachAll(): void {
    let asid = 1;
    this.vm.vsmmus.forEach((n, ni) => {
      this.pendingLazy.push(new Map());
      const add = (sid: number, count: number, pt?: { psmmu: string; psid: number }) => {
        const domains = Array.from({ length: count }, () => n.driver.createDomain({ asid: asid++ }));
        if (count === 1) n.driver.attach(sid, domains[0]);
        else n.driver.attachTable(sid, domains);
        this.devs.push({ sid, node: ni, psmmu: pt?.psmmu, psid: pt?.psid, domains, live: [], nextIova: domains.map(() => 0) });
      };
      for (const sid of n.spec.emulated) add(sid, 1);
      for (const d of n.spec.passthrough) add(d.sid, Math.max(1, this.w.asidsPerDevice), d);
    });
  }

  private submit(n: VsmmuNode, cmds: Words[]): void {
    const before = this.backendNs();
    n.driver.submit(cmds);
    const syncs = cmds.filter((c) => (c[0] & 0xffn) === 0x46n).length;
    this.syncs += syncs;
    this.syncNs += this.backendNs() - before;
  }

  private backendNs(): number {
    let t = 0;
    for (const p of this.vm.psmmus.values()) t += p.counters.commandNs;
    return t;
  }

  /** One batch: every device maps, does DMA over its live mappings, and unmaps what expired. */
  step(): void {
    const w = this.w;
    for (const dev of this.devs) {
      const n = this.vm.vsmmus[dev.node];
      for (let m = 0; m < w.mapsPerStep; m++) {
        const d = Math.floor(this.rand() * dev.domains.length);
        const iova = IOVA_BASE + dev.nextIova[d];
        dev.nextIova[d] = (dev.nextIova[d] + 0x1000) % IOVA_SPAN;
        const pa = DATA_BASE + Math.floor(this.rand() * Math.max(1, w.sharedFrames)) * 0x1000;
        n.driver.map(dev.domains[d], iova, pa, 0x1000, { blocks: false });
        dev.live.push({ step: this.steps, d, iova, pa });
      }
      for (let k = 0; k < w.dmaPerStep && dev.live.length; k++) {
        const m = dev.live[Math.floor(this.rand() * dev.live.length)];
        const off = Math.floor(this.rand() * 4096) & ~7;
        this.dmaCount++;
        if (dev.psmmu !== undefined) this.vm.psmmus.get(dev.psmmu)!.dma(dev.psid!, m.iova + off, 'read', m.d);
        else n.smmu.translate(dev.sid, m.iova + off, 'read');
      }
      const expired = dev.live.filter((m) => this.steps - m.step >= w.window - 1);
      dev.live = dev.live.filter((m) => this.steps - m.step < w.window - 1);
      for (const m of expired) this.unmap(n, dev, m);
    }
    this.steps++;
  }

  private unmap(n: VsmmuNode, dev: Dev, m: { d: number; iova: number }): void {
    const dom = dev.domains[m.d];
    const strictCmds = n.driver.unmap(dom, m.iova, 0x1000, this.w.mode === 'strict');
    if (this.w.mode === 'strict') this.submit(n, [...strictCmds, cmdSync()]);
    else if (this.w.mode === 'range') this.submit(n, [cmdTlbiVa({ asid: dom.asid, addr: m.iova, tg: 1, num: 0, ttl: 3, leaf: true }), cmdSync()]);
    else {
      const pend = this.pendingLazy[dev.node];
      pend.set(dom.asid, (pend.get(dom.asid) ?? 0) + 1);
      let total = 0;
      for (const c of pend.values()) total += c;
      if (total >= this.w.lazyBatch) {
        this.submit(n, [...[...pend.keys()].map((a) => cmdTlbiNhAsid(a)), cmdSync()]);
        pend.clear();
      }
    }
  }

  metrics(): TopologyMetrics {
    const stats = this.vm.vsmmus.map((n) => n.smmu.stats());
    const sum = (f: (s: SmmuStats) => number) => stats.reduce((a, s) => a + f(s), 0);
    const ps = [...this.vm.psmmus.entries()];
    const psum = (f: (c: PsmmuCounters) => number) => ps.reduce((a, [, p]) => a + f(p.counters), 0);
    const rate = (h: number, m: number) => (h + m === 0 ? 0 : h / (h + m));
    return {
      name: this.name,
      label: this.label,
      steps: this.steps,
      commands: sum((s) => s.commands),
      forwarded: Object.fromEntries(ps.map(([k, p]) => [k, p.counters.entries])),
      filtered: sum((s) => s.filtered),
      broadcast_tlbi: sum((s) => s.broadcastTlbi),
      targeted_tlbi: sum((s) => s.targetedTlbi),
      over_invalidation: psum((c) => c.overInvalidations),
      iotlb_hit_rate: rate(psum((c) => c.iotlbHits), psum((c) => c.iotlbMisses)),
      model_iotlb_hit_rate: rate(sum((s) => s.iotlbHits), sum((s) => s.iotlbMisses)),
      s2_hit_rate: rate(psum((c) => c.s2Hits), psum((c) => c.s2Misses)),
      sync_latency_us: this.syncs ? this.syncNs / this.syncs / 1000 : 0,
      backend_calls: psum((c) => c.batches),
      walk_reads: psum((c) => c.walkReads),
      dma: this.dmaCount,
      faults: psum((c) => c.faults),
    };
  }
}

/** Runs every topology for `steps` steps of workload `w`. */
export async function exploreAll(w: Workload = DEFAULT_WORKLOAD, steps = 50, names: TopologyName[] = TOPOLOGIES.map((t) => t.name)): Promise<TopologyMetrics[]> {
  const out: TopologyMetrics[] = [];
  for (const name of names) {
    const run = await TopologyRun.create(name, w);
    for (let i = 0; i < steps; i++) run.step();
    out.push(run.metrics());
  }
  return out;
}
