// vsmmu replay [--json] [--trace] <file-or-dir>...

import { expandPaths, replayFile, type FileResult } from '../replay.js';

export const usage = 'vsmmu replay [--json] [--trace] <file-or-dir>...   replay vsmmu-trace files against the model';

/**
 * Exit status: 0 every file passed, 1 some expectation mismatched, 2 some input was
 * unusable (a path that cannot be read, a malformed header or line). Every file runs
 * whatever happens to the others; each problem is one line naming file and line.
 */
export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const trace = args.includes('--trace');
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--json' && a !== '--trace');
  const paths = args.filter((a) => !a.startsWith('--'));
  if (paths.length === 0 || unknown.length > 0) {
    process.stderr.write(`${unknown.length ? `vsmmu replay: unknown option ${unknown[0]}\n` : ''}usage: ${usage}\n`);
    return 2;
  }
  const results: FileResult[] = [];
  const files: string[] = [];
  for (const p of paths) {
    try {
      files.push(...(await expandPaths([p])));
    } catch (err) {
      results.push({ file: p, expects: 0, mismatches: [], error: { line: 0, message: `cannot read: ${(err as Error).message}` } });
    }
  }
  for (const r of results) if (!json) process.stderr.write(`${r.file}: error: ${r.error!.message}\n`);
  for (const f of files) {
    const r = await replayFile(f, trace ? { trace: (l) => process.stderr.write(l + '\n') } : {});
    results.push(r);
    if (!json) {
      for (const m of r.mismatches) {
        process.stdout.write(`${f}:${m.line}: ${m.op}: expected ${JSON.stringify(m.expect)}, got ${JSON.stringify(m.got)}\n`);
      }
      if (r.error) process.stderr.write(`${f}${r.error.line ? `:${r.error.line}` : ''}: error: ${r.error.message.replace(/\s+/g, ' ')}\n`);
    }
  }
  const unusable = results.filter((r) => r.error).length;
  const failed = results.filter((r) => r.mismatches.length > 0 || r.error).length;
  if (json) process.stdout.write(JSON.stringify({ files: results }) + '\n');
  else process.stdout.write(`${results.length - failed} passed, ${failed} failed${unusable ? ` (${unusable} unusable)` : ''}\n`);
  return unusable > 0 ? 2 : failed > 0 ? 1 : 0;
}
