// vsmmu replay [--json] [--trace] <file-or-dir>...

import { defineCommand, UsageError } from '../cli-args.js';
import { expandPaths, replayFile, type FileResult } from '../replay.js';

export interface ReplayTotals {
  files: number;
  passed: number;
  failed: number;
  expects: number;
  mismatches: number;
}

export function replayTotals(results: FileResult[]): ReplayTotals {
  const failed = results.filter((r) => r.mismatches.length > 0).length;
  return {
    files: results.length,
    passed: results.length - failed,
    failed,
    expects: results.reduce((n, r) => n + r.expects, 0),
    mismatches: results.reduce((n, r) => n + r.mismatches.length, 0),
  };
}

export const command = defineCommand({
  name: 'replay',
  summary: 'replay vsmmu-trace files (docs/trace-format.md) against the model; exit 1 on any mismatch',
  args: { usage: '<file-or-dir>...', min: 1 },
  options: {
    json: { type: 'boolean', help: 'print one JSON object (docs/cli-json.md) instead of text' },
    trace: { type: 'boolean', help: "stream the model's decisions in QEMU's trace-event format to stderr" },
  },
  async run({ values, positionals }) {
    const files = await expandPaths(positionals);
    if (files.length === 0) throw new UsageError(`no .jsonl trace files in ${positionals.join(' ')}`);
    const results: FileResult[] = [];
    for (const f of files) {
      const r = await replayFile(f, values.trace ? { trace: (l) => process.stderr.write(l + '\n') } : {});
      results.push(r);
      if (!values.json) {
        for (const m of r.mismatches) {
          process.stdout.write(`${f}:${m.line}: ${m.op}: expected ${JSON.stringify(m.expect)}, got ${JSON.stringify(m.got)}\n`);
        }
      }
    }
    const totals = replayTotals(results);
    if (values.json) process.stdout.write(JSON.stringify({ files: results, totals }) + '\n');
    else process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
    return totals.failed > 0 ? 1 : 0;
  },
});
