// The topology explorer: one workload, acted out by JavaScript guest drivers the way
// Linux's arm-smmu-v3 and io-pgtable-arm do it (map, DMA, unmap with strict, lazy or
// range invalidation), on each vIOMMU topology, with the counters that answer the
// seed's question (../../README.md, "What topologies cost").

import { buildVm, VM_RAM_BASE, type TopologySpec, type Vm, type VsmmuNode } from './vm.js';
import type { Domain } from '../guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdTlbiVa, type Words } from '../guest/encode.js';
import * as R from '../arch/registers.js';
import type { SmmuStats } from '../types.js';
import type { PsmmuCounters } from '../backends/simulated.js';
import { planMigration, migrateVm, type MigrationReport } from './migrate.js';

export type TopologyName = 'one-to-one' | 'split' | 'dedicated' | 'per-psmmu' | 'join-broadcast' | 'join-vasid' | 'dedicated-join';

/** The topologies, grouped by host: one pSMMU first, then `joinPsmmus` pSMMUs. */
export const TOPOLOGIES: Array<{ name: TopologyName; label: string }> = [
  { name: 'one-to-one', label: '1 vSMMU : 1 pSMMU (mixed)' },
  { name: 'split', label: 'split: 1 pSMMU under 2 vSMMUs' },
  { name: 'dedicated', label: 'dedicated passthrough vSMMU + emulated vSMMU' },
  { name: 'per-psmmu', label: 'one mixed vSMMU per pSMMU (2 vSMMUs on 2 pSMMUs)' },
  { name: 'join-broadcast', label: 'join: 1 vSMMU over 2 pSMMUs, broadcast' },
  { name: 'join-vasid', label: 'join: 1 vSMMU over 2 pSMMUs, vASID table' },
  { name: 'dedicated-join', label: 'dedicated passthrough vSMMU joined over 2 pSMMUs + emulated vSMMU' },
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
  /**
   * Invalidation after unmap: strict (each page unmapped on its own: TLBI_NH_VA + CMD_SYNC,
   * as iommu_dma_unmap_page), lazy (a flush queue per address space: TLBI_NH_ASID +
   * CMD_SYNC once `lazyBatch` unmaps are queued, as Linux's iova flush queue), range (a
   * device's expired pages unmapped together: one range TLBI_NH_VA (IDR3.RIL) per
   * contiguous run and one CMD_SYNC, as iommu_unmap of a buffer).
   */
  mode: 'strict' | 'lazy' | 'range';
  /** Unmaps an address space queues before its lazy flush. */
  lazyBatch: number;
  /** pSMMUs for the join topologies. */
  joinPsmmus: number;
  /** Data pages the devices share (the guest's page cache): the stage-2 working set. */
  sharedFrames: number;
  /** pSMMU IOTLB and stage-2 walk cache sizes. */
  iotlbEntries: number;
  s2CacheEntries: number;
  seed: number;
  /** Share of DMA accesses that go to an unmapped IOVA (a faulting device), raising events. */
  faultRate?: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  devices: 8, passthroughShare: 0.5, asidsPerDevice: 2, mapsPerStep: 4, dmaPerStep: 32, window: 2,
  mode: 'strict', lazyBatch: 32, joinPsmmus: 2, sharedFrames: 40, iotlbEntries: 256, s2CacheEntries: 64, seed: 1,
};

/** Steps (batches) of the default comparison: `vsmmu topo`, the README's table and the demo's Compare. */
export const DEFAULT_STEPS = 200;

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
  /** Faulting DMA accesses (emulated and passthrough). */
  faults: number;
  /** Event records the guests found in their event queues. */
  events: number;
}

/** An event record the guest driver read from a vSMMU's event queue. */
export interface ObservedEvent {
  vsmmu: string;
  step: number;
  type: number;
  sid: number;
  /** SubstreamID when SSV is set. */
  ssid?: number;
  /** Input address (IOVA) of the record. */
  addr: number;
}

interface Dev {
  sid: number;
  node: number;
  psmmu?: string;
  psid?: number;
  domains: Domain[];
  live: Array<{ step: number; d: number; iova: number; pa: number }>;
  nextIova: number[];
  /** Each device draws from its own generator, so every topology sees the same workload. */
  rand: () => number;
}

/** Limits of each workload knob: [min, max, integer]. */
export const WORKLOAD_LIMITS: Record<keyof Workload, [number, number, boolean] | null> = {
  devices: [1, 30, true], passthroughShare: [0, 1, false], asidsPerDevice: [1, 16, true], mapsPerStep: [1, 64, true],
  dmaPerStep: [0, 1024, true], window: [1, 16, true], mode: null, lazyBatch: [1, 4096, true], joinPsmmus: [2, 8, true],
  sharedFrames: [1, 4096, true], iotlbEntries: [1, 1 << 16, true], s2CacheEntries: [1, 1 << 16, true],
  seed: [0, 0xffffffff, true], faultRate: [0, 1, false],
};

/** Throws a RangeError naming the first workload knob out of its limits. */
export function checkWorkload(w: Workload): Workload {
  for (const [k, lim] of Object.entries(WORKLOAD_LIMITS) as Array<[keyof Workload, [number, number, boolean] | null]>) {
    const v = w[k];
    if (lim === null) continue;
    if (v === undefined && k === 'faultRate') continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lim[0] || v > lim[1] || (lim[2] && !Number.isInteger(v))) {
      throw new RangeError(`workload: ${k} must be ${lim[2] ? 'an integer' : 'a number'} in [${lim[0]}, ${lim[1]}], got ${String(v)}`);
    }
  }
  if (w.mode !== 'strict' && w.mode !== 'lazy' && w.mode !== 'range') throw new RangeError(`workload: mode must be strict, lazy or range, got ${String(w.mode)}`);
  return w;
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
    case 'per-psmmu':
      // Jason's layout: as many vSMMUs as pSMMUs; no command is replicated across pSMMUs
      return {
        psmmus: Array.from({ length: joinN }, (_, j) => ({ name: `p${j}`, ...pOpts })),
        vsmmus: Array.from({ length: joinN }, (_, j) => ({
          name: `v${j}`,
          emulated: devs.filter((i) => i >= npt && i % joinN === j).map(em),
          passthrough: devs.filter((i) => i < npt && i % joinN === j).map((i) => ({ ...pt(i), psmmu: `p${j}` })),
        })),
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
    case 'dedicated-join':
      return {
        psmmus: Array.from({ length: joinN }, (_, j) => ({ name: `p${j}`, ...pOpts })),
        vsmmus: [
          { name: 'v0', emulated: [], passthroughOnly: true, passthrough: devs.filter((i) => i < npt).map((i) => ({ ...pt(i), psmmu: `p${i % joinN}` })) },
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
  faultCount = 0;
  eventCount = 0;
  /** The latest event records the guests consumed (newest last). */
  readonly eventLog: ObservedEvent[] = [];
  /** Most records kept in eventLog. */
  eventLogSize = 256;
  /** Migrations so far (each to a new host). */
  migrations = 0;
  private devs: Dev[] = [];
  /** Lazy flush queues: unmaps queued per ASID, per vSMMU. */
  private pendingLazy: Array<Map<number, number>> = [];
  private readonly dmaBuf = new Uint8Array(8); // a descriptor read: a faulting one raises two events (QEMU faults each 4 bytes)

  private constructor(readonly name: TopologyName, readonly w: Workload, readonly vm: Vm) {
    this.label = TOPOLOGIES.find((t) => t.name === name)!.label;
  }

  static async create(name: TopologyName, w: Workload = DEFAULT_WORKLOAD): Promise<TopologyRun> {
    checkWorkload(w);
    if (!TOPOLOGIES.some((t) => t.name === name)) throw new RangeError(`topology must be one of ${TOPOLOGIES.map((t) => t.name).join(', ')}, got ${String(name)}`);
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
        this.devs.push({ sid, node: ni, psmmu: pt?.psmmu, psid: pt?.psid, domains, live: [], nextIova: domains.map(() => 0), rand: rng(Math.imul(this.w.seed, 0x9e3779b1) ^ (sid * 0x85ebca6b)) });
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

  /** The devices of the run: StreamID, vSMMU index, pSMMU and pSID (passthrough), ASIDs. */
  devices(): Array<{ sid: number; vsmmu: number; psmmu?: string; psid?: number; asids: number[]; domains: Domain[] }> {
    return this.devs.map((d) => ({ sid: d.sid, vsmmu: d.node, psmmu: d.psmmu, psid: d.psid, asids: d.domains.map((x) => x.asid), domains: [...d.domains] }));
  }

  /**
   * One batch: every device maps, does DMA over its live mappings (emulated devices
   * through the vSMMU, passthrough devices through their pSMMU), and unmaps what expired;
   * then the guest drains its event queues.
   */
  step(): void {
    const w = this.w;
    const faultRate = w.faultRate ?? 0;
    for (const dev of this.devs) {
      const n = this.vm.vsmmus[dev.node];
      for (let m = 0; m < w.mapsPerStep; m++) {
        const d = Math.floor(dev.rand() * dev.domains.length);
        const iova = IOVA_BASE + dev.nextIova[d];
        dev.nextIova[d] = (dev.nextIova[d] + 0x1000) % IOVA_SPAN;
        const pa = DATA_BASE + Math.floor(dev.rand() * Math.max(1, w.sharedFrames)) * 0x1000;
        n.driver.map(dev.domains[d], iova, pa, 0x1000, { blocks: false });
        dev.live.push({ step: this.steps, d, iova, pa });
      }
      for (let k = 0; k < w.dmaPerStep && dev.live.length; k++) {
        const m = dev.live[Math.floor(dev.rand() * dev.live.length)];
        const off = Math.floor(dev.rand() * 4096) & ~7;
        // a faulting access goes past the IOVA window, where nothing is ever mapped
        const iova = faultRate > 0 && dev.rand() < faultRate ? IOVA_BASE + IOVA_SPAN + off : m.iova + off;
        this.dmaCount++;
        if (dev.psmmu !== undefined) {
          if (!this.vm.psmmus.get(dev.psmmu)!.dma(dev.psid!, iova, 'read', m.d).ok) this.faultCount++;
        } else if (n.smmu.dma(dev.sid, iova, 'read', this.dmaBuf) > 0) this.faultCount++;
      }
      const expired = dev.live.filter((m) => this.steps - m.step >= w.window - 1);
      dev.live = dev.live.filter((m) => this.steps - m.step < w.window - 1);
      if (w.mode === 'range') this.unmapRange(n, dev, expired);
      else for (const m of expired) this.unmap(n, dev, m);
    }
    this.drainEvents();
    this.steps++;
  }

  /** The guest's event-queue handler: reads the records and moves CONS. */
  private drainEvents(): void {
    this.vm.vsmmus.forEach((n) => {
      const prod = Number(n.smmu.mmioRead(R.R_EVENTQ_PROD + R.SMMU_PAGE1, 4));
      const cons = Number(n.smmu.mmioRead(R.R_EVENTQ_CONS + R.SMMU_PAGE1, 4));
      if (prod === cons) return;
      for (const e of n.driver.events()) {
        this.eventCount++;
        const ssv = (e.words[0] >> 11n) & 1n;
        this.eventLog.push({
          vsmmu: n.spec.name, step: this.steps, type: e.type, sid: e.sid,
          ssid: ssv ? Number((e.words[0] >> 12n) & 0xfffffn) : undefined,
          addr: Number(e.words[2]),
        });
      }
      if (this.eventLog.length > this.eventLogSize) this.eventLog.splice(0, this.eventLog.length - this.eventLogSize);
    });
  }

  /** Range mode: each contiguous run of expired pages of an address space is one range TLBI; one CMD_SYNC per device. */
  private unmapRange(n: VsmmuNode, dev: Dev, expired: Array<{ d: number; iova: number }>): void {
    if (expired.length === 0) return;
    const cmds: Words[] = [];
    const byDomain = new Map<number, number[]>();
    for (const m of expired) {
      n.driver.unmap(dev.domains[m.d], m.iova, 0x1000, false);
      byDomain.set(m.d, [...(byDomain.get(m.d) ?? []), m.iova]);
    }
    for (const [d, iovas] of byDomain) {
      iovas.sort((a, b) => a - b);
      let start = 0;
      for (let i = 1; i <= iovas.length; i++) {
        if (i < iovas.length && iovas[i] === iovas[i - 1] + 0x1000) continue;
        cmds.push(...rangeTlbi(dev.domains[d].asid, iovas[start], i - start));
        start = i;
      }
    }
    this.submit(n, [...cmds, cmdSync()]);
  }

  private unmap(n: VsmmuNode, dev: Dev, m: { d: number; iova: number }): void {
    const dom = dev.domains[m.d];
    const strictCmds = n.driver.unmap(dom, m.iova, 0x1000, this.w.mode === 'strict');
    if (this.w.mode === 'strict') this.submit(n, [...strictCmds, cmdSync()]);
    else {
      // Linux's flush queue is per address space: when it is full, arm_smmu_tlb_inv_context
      const pend = this.pendingLazy[dev.node];
      const c = (pend.get(dom.asid) ?? 0) + 1;
      if (c >= Math.max(1, this.w.lazyBatch)) {
        this.submit(n, [cmdTlbiNhAsid(dom.asid), cmdSync()]);
        pend.delete(dom.asid);
      } else pend.set(dom.asid, c);
    }
  }

  /**
   * Moves the running VM to a host with `to` pSMMUs (topo/migrate.ts) and goes on there.
   * A topology with one vSMMU per pSMMU cannot change its pSMMU count: reported, not done.
   */
  async migrate(to: number): Promise<MigrationReport> {
    if (!Number.isInteger(to) || to < 1 || to > 8) throw new RangeError(`migrate: pSMMUs must be an integer in [1, 8], got ${String(to)}`);
    const plan = planMigration(this.name === 'per-psmmu' ? 'one-per-psmmu' : 'any', this.vm.vsmmus.length, this.vm.psmmus.size, to);
    const r = await migrateVm(this.vm, plan, to, { iotlbEntries: this.w.iotlbEntries, s2CacheEntries: this.w.s2CacheEntries }, this.migrations + 1);
    if (!r.migrated) return r;
    this.migrations++;
    for (const dev of this.devs) {
      const d = this.vm.vsmmus[dev.node].spec.passthrough.find((x) => x.sid === dev.sid);
      if (d) {
        dev.psmmu = d.psmmu;
        dev.psid = d.psid;
      }
    }
    return r;
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
      faults: this.faultCount,
      events: this.eventCount,
    };
  }
}

/**
 * Range TLBI_NH_VA commands covering `pages` 4 KiB pages from `iova`, as
 * arm_smmu_tlb_inv_range_cmd builds them with IDR3.RIL: NUM/SCALE chunks, TTL 3 (leaf).
 */
export function rangeTlbi(asid: number, iova: number, pages: number): Words[] {
  const out: Words[] = [];
  let left = pages;
  let addr = iova;
  while (left > 0) {
    const scale = Math.min(31, Math.log2(left & -left));
    const num = Math.floor(left / 2 ** scale) % 32; // NUM is 5 bits; odd, so never 0
    out.push(cmdTlbiVa({ asid, addr, tg: 1, ttl: 3, num: num - 1, scale, leaf: true }));
    const covered = num * 2 ** scale;
    left -= covered;
    addr += covered * 0x1000;
  }
  return out;
}

/** One topology's migration to a host with `to` pSMMUs, with broadcast TLBIs per step before and after. */
export interface MigrationOutcome extends MigrationReport {
  /** Broadcast TLBIs in the last step before the move and in the first one after (while the vASID table is re-learned). */
  broadcast_tlbi_last_step_before: number;
  broadcast_tlbi_first_step_after: number;
  /** Passthrough DMA that faulted after the move (a missed STE or stale table would show here). */
  faults_after: number;
}

const broadcasts = (run: TopologyRun) => run.vm.vsmmus.reduce((a, n) => a + n.smmu.stats().broadcastTlbi, 0);

/**
 * For each topology and each pSMMU count in `targets`: `steps` steps on the original host,
 * a migration, `steps` steps on the new one.
 */
export async function exploreMigrations(w: Workload = DEFAULT_WORKLOAD, steps = 5, targets = [1, 2, 3], names: TopologyName[] = TOPOLOGIES.map((t) => t.name)): Promise<Array<{ name: TopologyName; label: string; from: number; migrations: MigrationOutcome[] }>> {
  const out = [];
  for (const name of names) {
    const migrations: MigrationOutcome[] = [];
    let from = 0;
    for (const to of targets) {
      const run = await TopologyRun.create(name, w);
      from = run.vm.psmmus.size;
      for (let i = 1; i < steps; i++) run.step();
      const b0 = broadcasts(run);
      run.step();
      const before = broadcasts(run) - b0;
      const faults0 = run.faultCount;
      const r = await run.migrate(to);
      let after = 0;
      if (r.migrated) {
        run.step(); // the new dispatchers' counters start at 0
        after = broadcasts(run);
        for (let i = 1; i < steps; i++) run.step();
      }
      migrations.push({ ...r, broadcast_tlbi_last_step_before: before, broadcast_tlbi_first_step_after: after, faults_after: run.faultCount - faults0 });
    }
    out.push({ name, label: TOPOLOGIES.find((t) => t.name === name)!.label, from, migrations });
  }
  return out;
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
