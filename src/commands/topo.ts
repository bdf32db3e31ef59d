// vsmmu topo [--json] [--svg FILE] [--steps N] [--mode strict|lazy|range] [workload knobs]

import { writeFile } from 'node:fs/promises';
import { defineCommand, type NumberOpt } from '../cli-args.js';
import { DEFAULT_STEPS, DEFAULT_WORKLOAD, TOPOLOGIES, WORKLOAD_LIMITS, exploreAll, exploreMigrations, type TopologyMetrics, type Workload } from '../topo/explore.js';
import { topologySvg } from '../topo/svg.js';
import { answerText, topologyAnswer } from '../topo/answer.js';

export { topologySvg };

/** Command-line names of the numeric workload knobs. */
const KNOBS = {
  devices: 'devices', 'passthrough-share': 'passthroughShare', asids: 'asidsPerDevice', maps: 'mapsPerStep',
  dma: 'dmaPerStep', window: 'window', 'lazy-batch': 'lazyBatch', 'join-psmmus': 'joinPsmmus',
  'shared-frames': 'sharedFrames', iotlb: 'iotlbEntries', 's2-cache': 's2CacheEntries', seed: 'seed', 'fault-rate': 'faultRate',
} as const satisfies Record<string, keyof Workload>;

const KNOB_HELP: Record<keyof typeof KNOBS, string> = {
  devices: 'devices in the VM', 'passthrough-share': 'share of passthrough devices', asids: 'ASIDs per passthrough device',
  maps: 'map+unmap per device and step', dma: 'DMA reads per device and step', window: 'steps a mapping lives',
  'lazy-batch': 'unmaps per flush (lazy mode)', 'join-psmmus': 'pSMMUs in the join topologies', 'shared-frames': 'shared data frames',
  iotlb: 'pSMMU IOTLB entries', 's2-cache': 'pSMMU stage-2 walk-cache entries', seed: 'workload seed', 'fault-rate': 'share of faulting DMA',
};

/** The knob options, their limits and defaults from WORKLOAD_LIMITS and DEFAULT_WORKLOAD. */
function knobOptions(): Record<keyof typeof KNOBS, NumberOpt> {
  const out = {} as Record<keyof typeof KNOBS, NumberOpt>;
  for (const [flag, key] of Object.entries(KNOBS) as Array<[keyof typeof KNOBS, keyof Workload]>) {
    const [min, max, int] = WORKLOAD_LIMITS[key] ?? [0, Infinity, false];
    out[flag] = { type: int ? 'int' : 'number', value: int ? 'N' : 'F', min, max, default: (DEFAULT_WORKLOAD[key] as number | undefined) ?? 0, help: KNOB_HELP[flag] };
  }
  return out;
}

/** A camelCase key in snake_case (the CLI's JSON naming convention). */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** `vsmmu topo --json` (docs/cli-json.md). */
export function topoJson(w: Workload, steps: number, m: TopologyMetrics[], mig: Migrations = [], migrateSteps = 0): Record<string, unknown> {
  const workload = Object.fromEntries(Object.entries({ faultRate: 0, ...w }).map(([k, v]) => [snakeCase(k), v]));
  const byName = new Map(mig.map((x) => [x.name, { from_psmmus: x.from, steps_each_side: migrateSteps, to: x.migrations }]));
  return { workload, steps, topologies: m.map((x) => ({ ...x, migration: byName.get(x.name) })), answer: topologyAnswer(m, w) };
}

type Migrations = Awaited<ReturnType<typeof exploreMigrations>>;

export const command = defineCommand({
  name: 'topo',
  summary: 'run the topology explorer headless on every topology (the demo\'s Compare) and print what each costs',
  options: {
    json: { type: 'boolean', help: 'print one JSON object (docs/cli-json.md) instead of the table' },
    svg: { type: 'string', value: 'FILE', help: 'also write the comparison charts as SVG' },
    steps: { type: 'int', min: 1, max: 100000, default: DEFAULT_STEPS, help: 'workload steps (batches)' },
    mode: { type: 'choice', choices: ['strict', 'lazy', 'range'], default: DEFAULT_WORKLOAD.mode, help: 'invalidation mode' },
    'migrate-steps': { type: 'int', value: 'N', min: 0, max: 100000, default: 5, help: 'steps before and after moving each topology to hosts with 1, 2 and 3 pSMMUs (0: no migration experiment)' },
    ...knobOptions(),
  },
  async run({ values }) {
    const w: Workload = { ...DEFAULT_WORKLOAD, mode: values.mode as Workload['mode'] };
    for (const [flag, key] of Object.entries(KNOBS) as Array<[keyof typeof KNOBS, keyof Workload]>) {
      const v = values[flag];
      if (v !== undefined) (w as unknown as Record<string, number>)[key] = v;
    }
    const steps = values.steps;
    const m = await exploreAll(w, steps, TOPOLOGIES.map((t) => t.name));
    if (values.svg) await writeFile(values.svg, topologySvg(m, w, steps));
    // the seed's migration argument: each topology moved to hosts with 1, 2 and 3 pSMMUs
    const migrateSteps = values['migrate-steps'];
    const mig = migrateSteps > 0 ? await exploreMigrations(w, migrateSteps) : [];
    if (values.json) {
      process.stdout.write(JSON.stringify(topoJson(w, steps, m, mig, migrateSteps)) + '\n');
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
    process.stdout.write(answerText(topologyAnswer(m, w)).join('\n') + '\n');
    if (mig.length) {
      process.stdout.write(`\nmigration to a host with 1 / 2 / 3 pSMMUs (${migrateSteps} steps before and after): STE installs, host calls at arrival, broadcast TLBIs last step before -> first step after\n`);
      for (const x of mig) {
        const cells = x.migrations.map((r) => (r.migrated ? `${r.to}: ${r.guest_noticed ? 'NOTICED' : 'unnoticed'}, ${r.ste_installs} STE, ${r.arrival_calls} calls, bcast ${r.broadcast_tlbi_last_step_before}->${r.broadcast_tlbi_first_step_after}` : `${r.to}: cannot (${r.reason})`));
        process.stdout.write(`  ${x.label} [${x.from} pSMMU${x.from === 1 ? '' : 's'}]\n    ${cells.join('\n    ')}\n`);
      }
    }
    return 0;
  },
});
