// vsmmu topo-traces <dir>: (re)writes the per-topology vIOMMU regression traces.

import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TOPOLOGY_TRACES, recordTopologyTrace } from '../topo/traces.js';

export const usage = 'vsmmu topo-traces <dir>   write the per-topology vIOMMU snapshot traces (test/snapshots/topologies)';

export async function run(args: string[]): Promise<number> {
  const dir = args[0];
  if (!dir) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  await mkdir(dir, { recursive: true });
  for (const t of TOPOLOGY_TRACES) {
    const file = join(dir, `${t.name}.jsonl`);
    await writeFile(file, await recordTopologyTrace(t));
    process.stdout.write(`${file}\n`);
  }
  return 0;
}
