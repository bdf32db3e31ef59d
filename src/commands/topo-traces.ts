// vsmmu topo-traces <dir>: (re)writes the per-topology vIOMMU regression traces.

import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand } from '../cli-args.js';
import { TOPOLOGY_TRACES, recordTopologyTrace } from '../topo/traces.js';

export const command = defineCommand({
  name: 'topo-traces',
  summary: 'write the per-topology vIOMMU regression traces (the model\'s own output) into DIR',
  args: { usage: '<dir>', min: 1, max: 1 },
  options: {},
  async run({ positionals: [dir] }) {
    await mkdir(dir, { recursive: true });
    for (const t of TOPOLOGY_TRACES) {
      const file = join(dir, `${t.name}.jsonl`);
      await writeFile(file, await recordTopologyTrace(t));
      process.stdout.write(`${file}\n`);
    }
    return 0;
  },
});
