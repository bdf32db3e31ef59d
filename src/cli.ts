#!/usr/bin/env node
// vsmmu command line: replay traces (and the tools later issues add).

import { expandPaths, replayFile, type FileResult } from './replay.js';

const USAGE = `usage:
  vsmmu replay [--json] [--trace] <file-or-dir>...   replay vsmmu-trace files against the model
`;

async function replay(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const trace = args.includes('--trace');
  const paths = args.filter((a) => !a.startsWith('--'));
  if (paths.length === 0) {
    process.stderr.write(USAGE);
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
  if (json) {
    process.stdout.write(JSON.stringify({ files: results }) + '\n');
  } else {
    process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  }
  return failed > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'replay':
      return replay(rest);
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`vsmmu: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
