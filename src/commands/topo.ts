// vsmmu topo [--json] [--svg FILE] [--steps N] [--mode strict|lazy|range] [--devices N] ...

import { writeFile } from 'node:fs/promises';
import { DEFAULT_WORKLOAD, TOPOLOGIES, exploreAll, exploreMigrations, type Workload } from '../topo/explore.js';
import { topologySvg } from '../topo/svg.js';

export { topologySvg };

export const usage = 'vsmmu topo [--json] [--svg FILE] [--steps N] [--mode strict|lazy|range] [--devices N] [--passthrough-share F] [--asids N] [--maps N] [--dma N] [--lazy-batch N] [--join-psmmus N] [--fault-rate F] [--seed N] [--migrate-steps N]   run the topology explorer headless (the demo\'s comparison)';

const NUMERIC: Record<string, keyof Workload> = {
  '--devices': 'devices', '--passthrough-share': 'passthroughShare', '--asids': 'asidsPerDevice', '--maps': 'mapsPerStep',
  '--dma': 'dmaPerStep', '--window': 'window', '--lazy-batch': 'lazyBatch', '--join-psmmus': 'joinPsmmus',
  '--shared-frames': 'sharedFrames', '--iotlb': 'iotlbEntries', '--s2-cache': 's2CacheEntries', '--seed': 'seed',
  '--fault-rate': 'faultRate',
};

export async function run(args: string[]): Promise<number> {
  const w: Workload = { ...DEFAULT_WORKLOAD };
  let steps = 50;
  let svg: string | undefined;
  let json = false;
  let migrateSteps = 5;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--svg') svg = args[++i];
    else if (a === '--steps') steps = Number(args[++i]);
    else if (a === '--migrate-steps') migrateSteps = Number(args[++i]);
    else if (a === '--mode') {
      const m = args[++i];
      if (m !== 'strict' && m !== 'lazy' && m !== 'range') throw new Error(`--mode must be strict, lazy or range, got ${m}`);
      w.mode = m;
    } else if (a in NUMERIC) {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      (w as unknown as Record<string, number>)[NUMERIC[a]] = v;
    } else {
      process.stderr.write(`unknown argument ${a}\nusage: ${usage}\n`);
      return 2;
    }
  }
  if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be a positive integer');
  if (!Number.isInteger(migrateSteps) || migrateSteps < 0) {
    process.stderr.write('vsmmu topo: --migrate-steps must be a non-negative integer (0: no migration experiment)\n');
    return 2;
  }
  const m = await exploreAll(w, steps, TOPOLOGIES.map((t) => t.name));
  if (svg) await writeFile(svg, topologySvg(m, w, steps));
  // the seed's migration argument: each topology moved to hosts with 1, 2 and 3 pSMMUs
  const mig = migrateSteps > 0 ? await exploreMigrations(w, migrateSteps) : [];
  if (json) {
    const byName = new Map(mig.map((x) => [x.name, { from_psmmus: x.from, steps_each_side: migrateSteps, to: x.migrations }]));
    process.stdout.write(JSON.stringify({ workload: w, steps, topologies: m.map((x) => ({ ...x, migration: byName.get(x.name) })) }) + '\n');
    return 0;
  }
  const rows = m.map((x) => ({
    topology: x.label,
    commands: x.commands,
    forwarded: Object.entries(x.forwarded).map(([k, v]) => `${k}:${v}`).join(' '),
    calls: x.backend_calls,
    'broadcast/targeted': `${x.broadcast_tlbi}/${x.targeted_tlbi}`,
    'over-inval': x.over_invalidation,
    'iotlb hit': x.iotlb_hit_rate.toFixed(3),
    's2 hit': x.s2_hit_rate.toFixed(3),
    'sync µs': x.sync_latency_us.toFixed(2),
  }));
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String((r as Record<string, unknown>)[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i])).join('  ');
  process.stdout.write(line(cols) + '\n' + rows.map((r) => line(cols.map((c) => String((r as Record<string, unknown>)[c])))).join('\n') + '\n');
  if (mig.length) {
    process.stdout.write(`\nmigration to a host with 1 / 2 / 3 pSMMUs (${migrateSteps} steps before and after): STE installs, host calls at arrival, broadcast TLBIs last step before -> first step after\n`);
    for (const x of mig) {
      const cells = x.migrations.map((r) => (r.migrated ? `${r.to}: ${r.guest_noticed ? 'NOTICED' : 'unnoticed'}, ${r.ste_installs} STE, ${r.arrival_calls} calls, bcast ${r.broadcast_tlbi_last_step_before}->${r.broadcast_tlbi_first_step_after}` : `${r.to}: cannot (${r.reason})`));
      process.stdout.write(`  ${x.label} [${x.from} pSMMU${x.from === 1 ? '' : 's'}]\n    ${cells.join('\n    ')}\n`);
    }
  }
  return 0;
}
