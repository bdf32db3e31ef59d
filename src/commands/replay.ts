// vsmmu replay [--json] [--trace] <file-or-dir>...

import { expandPaths, replayFile, type FileResult } from '../replay.js';

export const usage = 'vsmmu replay [--json] [--trace] <file-or-dir>...   replay vsmmu-trace files against the model';

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const trace = args.includes('--trace');
  const paths = args.filter((a) => !a.startsWith('--'));
  if (paths.length === 0) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  const files = await expandPaths(paths);
  const results: FileResult[] = [];
  for (const f of files) {
    const r = await replayFile(f, trace ? { trace: (l) => process.stderr.write(l + '\n') } : {});
    results.push(r);
    if (!json) {
      for (const m of r.mismatches) {
        process.stdout.write(`${f}:${m.line}: ${m.op}: expected ${JSON.stringify(m.expect)}, got ${JSON.stringify(m.got)}\n`);
      }
    }
  }
  const failed = results.filter((r) => r.mismatches.length > 0).length;
  if (json) process.stdout.write(JSON.stringify({ files: results }) + '\n');
  else process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}
