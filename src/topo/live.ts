// Live time series of a running topology, for the browser demo: counters are sampled
// every few hundred milliseconds and turned into rates over each sampling interval
// (commands per second per pSMMU, forwarded vs filtered, broadcast vs targeted TLBIs,
// over-invalidation, hit rates, CMD_SYNC latency, queue occupancy).

import type { TopologyRun } from './explore.js';
import { lineChart, type Series } from './svg.js';

/** Cumulative counters of a run at one instant. */
export interface Snapshot {
  /** Milliseconds (any monotonic clock). */
  t: number;
  steps: number;
  commands: number;
  /** Entries that took effect on each pSMMU. */
  perPsmmu: Record<string, number>;
  forwarded: number;
  filtered: number;
  broadcast: number;
  targeted: number;
  overInvalidation: number;
  pIotlbHits: number;
  pIotlbMisses: number;
  s2Hits: number;
  s2Misses: number;
  mIotlbHits: number;
  mIotlbMisses: number;
  syncs: number;
  syncNs: number;
  doorbells: number;
  doorbellEntries: number;
  /** Largest CMDQ occupancy since the previous snapshot (read and reset). */
  peakOccupancy: number;
  backendCalls: number;
  events: number;
  faults: number;
}

/** Reads the counters of `run` (and resets the doorbell peaks: call it once per sample). */
export function snapshot(run: TopologyRun, t: number): Snapshot {
  const s: Snapshot = {
    t, steps: run.steps, commands: 0, perPsmmu: {}, forwarded: 0, filtered: 0, broadcast: 0, targeted: 0,
    overInvalidation: 0, pIotlbHits: 0, pIotlbMisses: 0, s2Hits: 0, s2Misses: 0, mIotlbHits: 0, mIotlbMisses: 0,
    syncs: run.syncs, syncNs: run.syncNs, doorbells: 0, doorbellEntries: 0, peakOccupancy: 0, backendCalls: 0,
    events: run.eventCount, faults: run.faultCount,
  };
  for (const n of run.vm.vsmmus) {
    const st = n.smmu.stats();
    s.commands += st.commands;
    s.forwarded += st.forwarded;
    s.filtered += st.filtered;
    s.broadcast += st.broadcastTlbi;
    s.targeted += st.targetedTlbi;
    s.mIotlbHits += st.iotlbHits;
    s.mIotlbMisses += st.iotlbMisses;
    s.doorbells += n.doorbells.count;
    s.doorbellEntries += n.doorbells.entries;
    s.peakOccupancy = Math.max(s.peakOccupancy, n.doorbells.peak);
    n.doorbells.peak = 0;
  }
  for (const [name, p] of run.vm.psmmus) {
    const c = p.counters;
    s.perPsmmu[name] = c.entries;
    s.overInvalidation += c.overInvalidations;
    s.pIotlbHits += c.iotlbHits;
    s.pIotlbMisses += c.iotlbMisses;
    s.s2Hits += c.s2Hits;
    s.s2Misses += c.s2Misses;
    s.backendCalls += c.batches;
  }
  return s;
}

export interface LiveChart {
  id: string;
  title: string;
  unit: string;
  series: Series[];
  yMax?: number;
  /** `ratio`: the y axis starts below the smallest value, not at 0 (rates compared). */
  yMin?: 'ratio';
}

const ratio = (a: number, b: number) => (b === 0 ? NaN : a / b);

/** A rolling window of samples of one run and the charts drawn from it. */
export class LiveSeries {
  private prev?: Snapshot;
  private readonly points: Array<{ dt: number; a: Snapshot; b: Snapshot }> = [];

  constructor(readonly run: TopologyRun, readonly capacity = 120) {}

  /** Takes a sample at time `t` (ms); returns false for the first one (no interval yet) or a zero interval. */
  sample(t: number): boolean {
    const s = snapshot(this.run, t);
    const prev = this.prev;
    this.prev = s;
    if (!prev || s.t <= prev.t) return false;
    this.points.push({ dt: (s.t - prev.t) / 1000, a: prev, b: s });
    if (this.points.length > this.capacity) this.points.shift();
    return true;
  }

  /** Restarts the interval at time `t` without adding a point (after a pause). */
  rebase(t: number): void {
    this.prev = snapshot(this.run, t);
  }

  get length(): number {
    return this.points.length;
  }

  /** The latest cumulative snapshot. */
  get latest(): Snapshot | undefined {
    return this.prev;
  }

  private rate(f: (s: Snapshot) => number): number[] {
    return this.points.map((p) => (f(p.b) - f(p.a)) / p.dt);
  }

  private within(num: (s: Snapshot) => number, den: (s: Snapshot) => number): number[] {
    return this.points.map((p) => ratio(num(p.b) - num(p.a), den(p.b) - den(p.a)));
  }

  /** The chart data: one entry per live chart of the demo. */
  charts(): LiveChart[] {
    const names = Object.keys(this.prev?.perPsmmu ?? {});
    const hitRate = (h: keyof Snapshot, m: keyof Snapshot) =>
      this.within((s) => s[h] as number, (s) => (s[h] as number) + (s[m] as number));
    return [
      {
        id: 'psmmu-rate', title: 'Commands per second: guest and each pSMMU', unit: '/s',
        series: [{ name: 'guest CMDQ', values: this.rate((s) => s.commands) },
          ...names.map((n) => ({ name: `pSMMU ${n}`, values: this.rate((s) => s.perPsmmu[n] ?? 0) }))],
      },
      {
        id: 'forwarded', title: 'Forwarded vs filtered guest commands', unit: '/s',
        series: [{ name: 'forwarded entries', values: this.rate((s) => s.forwarded) }, { name: 'filtered (kept in the model)', values: this.rate((s) => s.filtered) }],
      },
      {
        id: 'tlbi', title: 'TLBIs: broadcast to every pSMMU vs targeted', unit: '/s',
        series: [{ name: 'broadcast', values: this.rate((s) => s.broadcast) }, { name: 'targeted', values: this.rate((s) => s.targeted) }],
      },
      {
        id: 'overinval', title: 'Over-invalidation: pSMMU IOTLB entries dropped while still mapped', unit: '/s',
        series: [{ name: 'over-invalidated', values: this.rate((s) => s.overInvalidation) }],
      },
      {
        id: 'hit', title: 'Hit rates (per interval)', unit: '', yMax: 1, yMin: 'ratio',
        series: [
          { name: 'model IOTLB (emulated)', values: hitRate('mIotlbHits', 'mIotlbMisses') },
          { name: 'pSMMU IOTLB', values: hitRate('pIotlbHits', 'pIotlbMisses') },
          { name: 'pSMMU S2 walk cache', values: hitRate('s2Hits', 's2Misses') },
        ],
      },
      {
        id: 'sync', title: 'CMD_SYNC latency (modelled wait for the pSMMUs)', unit: ' µs',
        series: [{ name: 'mean per guest CMD_SYNC', values: this.within((s) => s.syncNs / 1000, (s) => s.syncs) }],
      },
      {
        id: 'occupancy', title: 'Queue occupancy (entries)', unit: '',
        series: [
          { name: 'CMDQ at doorbell, mean', values: this.within((s) => s.doorbellEntries, (s) => s.doorbells) },
          { name: 'CMDQ peak', values: this.points.map((p) => p.b.peakOccupancy) },
          { name: 'pSMMU entries per host call', values: this.within((s) => Object.values(s.perPsmmu).reduce((a, b) => a + b, 0), (s) => s.backendCalls) },
        ],
      },
      {
        id: 'events', title: 'Event queue: records the guest consumed', unit: '/s',
        series: [{ name: 'event records', values: this.rate((s) => s.events) }, { name: 'faulting DMA', values: this.rate((s) => s.faults) }],
      },
    ];
  }
}

/** The SVG of one live chart. */
export function liveChartSvg(c: LiveChart, slots: number, seconds: number, width = 440, height = 190): string {
  return lineChart(c.title, c.series, width, height, c.unit, { yMax: c.yMax, yMin: c.yMin, slots, xLabel: `last ${Math.round(seconds)} s` });
}
