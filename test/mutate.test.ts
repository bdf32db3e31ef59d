// `npm run mutate` (scripts/mutate.mjs) without running a mutant: the mutants it lists, the
// arguments it refuses, and the declared equivalents, each of which must still name a
// mutant the tool generates (a declaration left behind by a code change would match
// nothing and hide nothing, or match a line it was not written for).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENGINE = ['assembly/cmdq.ts', 'assembly/iotlb.ts', 'assembly/dispatch.ts', 'assembly/translate.ts', 'assembly/ptw.ts', 'assembly/config.ts'];

function mutate(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/mutate.mjs'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Listed { file: string; line: number; kind: string; desc: string; code: string }

function listed(files: string[]): Listed[] {
  const r = mutate(['--list', '--files', files.join(',')]);
  expect([r.code, r.err]).toEqual([0, '']);
  const sources = new Map(files.map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8').split('\n')]));
  return r.out.trim().split('\n').map((l) => {
    const m = /^(assembly\/[a-z0-9-]+\.ts):(\d+): ([a-z]+): (.+)$/.exec(l);
    if (!m) throw new Error(`unexpected --list line: ${l}`);
    const line = Number(m[2]);
    return { file: m[1], line, kind: m[3], desc: m[4], code: sources.get(m[1])![line - 1].trim() };
  });
}

test('--list: the mutants of each engine module, each on a line of that file, the same on every call', () => {
  const all = listed(ENGINE);
  for (const f of ENGINE) expect([f, all.filter((m) => m.file === f).length > 100]).toEqual([f, true]);
  expect(new Set(all.map((m) => m.kind))).toEqual(new Set(['operator', 'constant', 'statement', 'branch']));
  expect(all.every((m) => m.code !== '' && !m.code.startsWith('//'))).toBe(true);
  expect(listed(['assembly/cmdq.ts'])).toEqual(all.filter((m) => m.file === 'assembly/cmdq.ts'));
});

test('every declared equivalent names a mutant the tool generates, and gives a reason', () => {
  const declared = JSON.parse(readFileSync(path.join(ROOT, 'scripts/mutate-equivalents.json'), 'utf8')) as Array<{ file: string; code: string; mutation: string; reason: string }>;
  const all = listed([...new Set(declared.map((e) => e.file))]);
  const orphans = declared.filter((e) => !all.some((m) => m.file === e.file && m.code === e.code && (m.desc === e.mutation || m.desc.replace(/ \(column \d+\)$/, '') === e.mutation)));
  expect(orphans).toEqual([]);
  expect(declared.filter((e) => e.reason.length < 20)).toEqual([]);
});

test('unusable arguments: exit 2 with the reason and the usage on stderr', () => {
  for (const [args, why] of [
    [['--budget', 'soon'], /--budget must be a positive number/],
    [['--jobs', '0'], /--jobs must be an integer from 1 to 16/],
    [['--seed', '-1'], /--seed must be a non-negative integer/],
    [['--files', 'src/smmu.ts'], /is not an engine source/],
    [['--files', 'assembly/nothing.ts'], /does not exist/],
    [['--lines', '1,x'], /--lines must be line numbers/],
    [['--mutants', '/nonexistent/list'], /--mutants: .* does not exist/],
    [['--budget'], /--budget needs a value/],
    [['--frobnicate'], /unknown argument --frobnicate/],
  ] as Array<[string[], RegExp]>) {
    const r = mutate(args);
    expect([args, r.code, r.out]).toEqual([args, 2, '']);
    expect(r.err).toMatch(why);
    expect(r.err).toMatch(/^usage: npm run mutate/m);
  }
  const help = mutate(['--help']);
  expect([help.code, help.err]).toEqual([0, '']);
  expect(help.out).toMatch(/^usage: npm run mutate/);
});
