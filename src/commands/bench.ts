// vsmmu bench [--json] [--runs N] [--commands N] [--no-qemu] [--stream NAME]... [--quiet]

import { defineCommand, UsageError } from '../cli-args.js';
import { runBench } from '../bench/index.js';
import { toJson, toText } from '../bench/report.js';
import { STREAMS } from '../bench/streams.js';

export const command = defineCommand({
  name: 'bench',
  summary: 'time the command-queue engine against the TypeScript reference, QEMU 7.2 and memcpy',
  options: {
    json: { type: 'boolean', help: 'print one JSON object (docs/cli-json.md) instead of the tables' },
    runs: { type: 'int', min: 1, max: 1000, help: 'runs per stream of the reference and QEMU (the engine gets 2N+1)' },
    commands: { type: 'int', min: 1, max: (1 << 19) - 1, help: 'commands per stream (default: a full 2^19-entry queue)' },
    'no-qemu': { type: 'boolean', help: 'leave QEMU out even when it is installed' },
    stream: { type: 'string', value: 'NAME', multiple: true, help: 'only the streams whose name contains NAME (case-insensitive)' },
    quiet: { type: 'boolean', help: 'no progress on stderr' },
  },
  notes: () => ['streams: ' + STREAMS.map((s) => s.name).join(', ')],
  async run({ values }) {
    for (const f of values.stream) {
      if (!STREAMS.some((s) => s.name.toLowerCase().includes(f.toLowerCase()))) {
        throw new UsageError(`--stream: no stream matches ${JSON.stringify(f)} (streams: ${STREAMS.map((s) => s.name).join(', ')})`);
      }
    }
    const result = await runBench({
      runs: values.runs,
      commands: values.commands,
      qemu: values['no-qemu'] ? false : undefined,
      streams: values.stream.length ? values.stream : undefined,
      log: values.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
    });
    process.stdout.write(values.json ? JSON.stringify(toJson(result)) + '\n' : toText(result));
    return 0;
  },
});
