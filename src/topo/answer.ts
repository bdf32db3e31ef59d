// The seed's question answered from a comparison run: what each topology costs (entries and
// host calls to the pSMMUs, broadcast TLBIs, CMD_SYNC wait, stage-2 walk-cache hit rate) and
// which one to build, per host size. Pure: the same function writes the demo's summary panel
// and the answer `vsmmu topo` prints, so page and command line state the same thing.

import { topologySpec, type TopologyMetrics, type TopologyName, type Workload } from './explore.js';

export interface TopologyCost {
  name: TopologyName;
  label: string;
  /** pSMMUs on the host this topology is built for. */
  psmmus: number;
  /** Invalidation entries and STE installs that took effect on the pSMMUs. */
  entries: number;
  host_calls: number;
  broadcast_tlbi: number;
  sync_wait_us: number;
  s2_hit_rate: number;
  walk_reads: number;
}

export interface HostAnswer {
  psmmus: number;
  /** The cheapest topology for this host: fewest entries, then shortest wait, then best S2 hit rate. */
  best: TopologyName;
  costs: TopologyCost[];
}

export interface TopologyAnswer {
  hosts: HostAnswer[];
  /** Comparisons the seed's thread asks about (split, join, vASID table, dedicated), in numbers. */
  findings: string[];
  recommendation: string;
}

const total = (m: TopologyMetrics) => Object.values(m.forwarded).reduce((a, b) => a + b, 0);

export function topologyCost(m: TopologyMetrics, w: Workload): TopologyCost {
  return {
    name: m.name, label: m.label, psmmus: topologySpec(m.name, w).psmmus.length, entries: total(m), host_calls: m.backend_calls,
    broadcast_tlbi: m.broadcast_tlbi, sync_wait_us: m.sync_latency_us, s2_hit_rate: m.s2_hit_rate, walk_reads: m.walk_reads,
  };
}

/** Orders by cost: entries, CMD_SYNC wait, then the higher S2 walk-cache hit rate. */
function cheaper(a: TopologyCost, b: TopologyCost): number {
  return a.entries - b.entries || a.sync_wait_us - b.sync_wait_us || b.s2_hit_rate - a.s2_hit_rate || a.walk_reads - b.walk_reads;
}

const n = (v: number) => v.toLocaleString('en-US');
const us = (v: number) => `${v.toFixed(2)} µs`;
const rate = (v: number) => v.toFixed(3);
const times = (a: number, b: number) => (b === 0 ? '–' : `×${(a / b).toFixed(2)}`);
const pct = (a: number, b: number) => (b === 0 ? '–' : `${a >= b ? '+' : '−'}${Math.abs((100 * (a - b)) / b).toFixed(1)}%`);

function describe(c: TopologyCost): string {
  return `${n(c.entries)} entries in ${n(c.host_calls)} host calls, ${n(c.broadcast_tlbi)} broadcast TLBIs, ${us(c.sync_wait_us)} mean CMD_SYNC wait, S2 walk-cache hit ${rate(c.s2_hit_rate)}`;
}

/** The answer a comparison run (`exploreAll`, the demo's Compare) gives. */
export function topologyAnswer(m: TopologyMetrics[], w: Workload): TopologyAnswer {
  const costs = m.map((x) => topologyCost(x, w));
  const by = new Map(costs.map((c) => [c.name, c]));
  const sizes = [...new Set(costs.map((c) => c.psmmus))].sort((a, b) => a - b);
  const hosts = sizes.map((psmmus) => {
    const cs = costs.filter((c) => c.psmmus === psmmus);
    return { psmmus, best: [...cs].sort(cheaper)[0].name, costs: cs };
  });
  const findings: string[] = [];
  const one = by.get('one-to-one'), split = by.get('split'), ded = by.get('dedicated');
  const per = by.get('per-psmmu'), bc = by.get('join-broadcast'), va = by.get('join-vasid'), dj = by.get('dedicated-join');
  if (one && split) {
    findings.push(`Split (1p → 2v): entries ${n(one.entries)} → ${n(split.entries)}, CMD_SYNC wait ${us(one.sync_wait_us)} → ${us(split.sync_wait_us)}; ` +
      `each vSMMU has its own VMID, so S2 walk-cache hit ${rate(one.s2_hit_rate)} → ${rate(split.s2_hit_rate)} and table-walk reads ${pct(split.walk_reads, one.walk_reads)}.`);
  }
  if (per && bc) {
    findings.push(`Join (${per.psmmus}p → 1v) by broadcast, against one vSMMU per pSMMU: entries ${n(per.entries)} → ${n(bc.entries)} (${times(bc.entries, per.entries)}), ` +
      `host calls ${n(per.host_calls)} → ${n(bc.host_calls)}, CMD_SYNC wait ${us(per.sync_wait_us)} → ${us(bc.sync_wait_us)}.`);
  }
  if (per && va) {
    findings.push(`Join with the vASID table: ${n(va.entries)} entries (${times(va.entries, per.entries)} of one vSMMU per pSMMU), ` +
      `${n(va.broadcast_tlbi)} TLBIs still broadcast (ASIDs no pSMMU is known to hold), ${us(va.sync_wait_us)} wait.`);
  }
  for (const d of [ded, dj]) {
    const base = d === ded ? one : per;
    if (!d || !base) continue;
    findings.push(`Dedicated passthrough vSMMU${d === dj ? ` joined over ${d.psmmus} pSMMUs` : ''}: ${n(d.entries)} entries ` +
      `(${times(d.entries, base.entries)} of ${d === ded ? 'one mixed vSMMU' : 'one mixed vSMMU per pSMMU'}), ${n(d.broadcast_tlbi)} broadcast TLBIs, ${us(d.sync_wait_us)} wait.`);
  }
  const recommendation = 'From this run: ' + hosts.map((h) => {
    const b = by.get(h.best)!;
    return `on a host with ${h.psmmus} pSMMU${h.psmmus > 1 ? 's' : ''}, build “${b.label}” (${describe(b)})`;
  }).join('; ') + '.';
  return { hosts, findings, recommendation };
}

/** The answer as text lines (`vsmmu topo`). */
export function answerText(a: TopologyAnswer): string[] {
  return ['', ...a.findings, '', a.recommendation];
}
