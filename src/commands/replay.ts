// vsmmu replay [--json] [--trace] <file-or-dir>...
//
// Exit status: 0 every file passed, 1 some expectation mismatched, 2 some input was unusable
// (a path that cannot be read, a malformed header or line). Every file runs whatever happens
// to the others; each problem is one line naming file and line. When no path names anything
// readable there is nothing to replay: one usage error.

import { defineCommand, UsageError } from '../cli-args.js';
import { expandPaths, replayFile, type FileResult } from '../replay.js';

export interface ReplayTotals {
  files: number;
  passed: number;
  failed: number;
  unusable: number;
  expects: number;
  mismatches: number;
}

export function replayTotals(results: FileResult[]): ReplayTotals {
  const failed = results.filter((r) => r.mismatches.length > 0 || r.error).length;
  return {
    files: results.length,
    passed: results.length - failed,
    failed,
    unusable: results.filter((r) => r.error).length,
    expects: results.reduce((n, r) => n + r.expects, 0),
    mismatches: results.reduce((n, r) => n + r.mismatches.length, 0),
  };
}

export const command = defineCommand({
  name: 'replay',
  summary: 'replay vsmmu-trace files (docs/trace-format.md) against the model; exit 1 on a mismatch, 2 on an unusable file',
  args: { usage: '<file-or-dir>...', min: 1 },
  options: {
    json: { type: 'boolean', help: 'print one JSON object (docs/cli-json.md) instead of text' },
    trace: { type: 'boolean', help: "stream the model's decisions in QEMU's trace-event format to stderr" },
  },
  async run({ values, positionals }) {
    const results: FileResult[] = [];
    const files: string[] = [];
    const unreadable: unknown[] = [];
    for (const p of positionals) {
      try {
        files.push(...(await expandPaths([p])));
      } catch (err) {
        unreadable.push(err);
        results.push({ file: p, expects: 0, mismatches: [], error: { line: 0, message: `cannot read: ${(err as Error).message}` } });
      }
    }
    if (files.length === 0) {
      if (unreadable.length) throw unreadable[0]; // nothing to replay: one usage error naming the path
      throw new UsageError(`no .jsonl trace files in ${positionals.join(' ')}`);
    }
    if (!values.json) for (const r of results) process.stderr.write(`${r.file}: error: ${r.error!.message}\n`);
    for (const f of files) {
      const r = await replayFile(f, values.trace ? { trace: (l) => process.stderr.write(l + '\n') } : {});
      results.push(r);
      if (!values.json) {
        for (const m of r.mismatches) {
          process.stdout.write(`${f}:${m.line}: ${m.op}: expected ${JSON.stringify(m.expect)}, got ${JSON.stringify(m.got)}\n`);
        }
        if (r.error) process.stderr.write(`${f}${r.error.line ? `:${r.error.line}` : ''}: error: ${r.error.message.replace(/\s+/g, ' ')}\n`);
      }
    }
    const totals = replayTotals(results);
    if (values.json) process.stdout.write(JSON.stringify({ files: results, totals }) + '\n');
    else process.stdout.write(`${totals.passed} passed, ${totals.failed} failed${totals.unusable ? ` (${totals.unusable} unusable)` : ''}\n`);
    return totals.unusable > 0 ? 2 : totals.failed > 0 ? 1 : 0;
  },
});
