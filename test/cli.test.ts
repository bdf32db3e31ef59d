// The command line as a user meets it: every subcommand answers --help on stdout with exit 0,
// and rejects a bad flag and a bad value with one line on stderr (no stack trace) and exit 2;
// --json outputs match the schemas documented in docs/cli-json.md.

import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../src/cli-args.js';
import { declaredKeys, schemasIn, validate } from './json-schema.js';
import { qemuTest } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli.js');
const COMMANDS = readdirSync(path.join(ROOT, 'dist/src/commands')).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
const SCHEMAS = schemasIn(readFileSync(path.join(ROOT, 'docs/cli-json.md'), 'utf8'));

function vsmmu(args: string[], cwd = ROOT): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A user error: exit 2, nothing on stdout, one line on stderr naming `token`, no stack trace. */
function expectUsageError(r: ReturnType<typeof vsmmu>, cmd: string, token: string): void {
  expect(r.out).toBe('');
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.err.split('\n')).toEqual([expect.stringMatching(new RegExp(`^vsmmu( ${cmd})?: .+ \\(see vsmmu( ${cmd})? --help\\)$`)), '']);
  expect(r.err).toContain(token);
  expect(r.code).toBe(2);
}

/** A bad value per command: [args, a token the error line must name]. */
const BAD_VALUES: Record<string, [string[], string]> = {
  bench: [['--stream', 'nope'], 'nope'],
  fuzz: [['--mode', 'nope'], 'nope'],
  conformance: [['--count', 'abc'], 'abc'],
  record: [['--seed', 'x'], '--seed'],
  replay: [['/nonexistent'], '/nonexistent'],
  serve: [['--port', 'abc'], 'abc'],
  topo: [['--steps', 'abc'], 'abc'],
  'topo-traces': [['package.json/sub'], 'package.json/sub'],
};

test('the subcommands are the ones this test knows bad values for', () => {
  expect(COMMANDS).toEqual(Object.keys(BAD_VALUES).sort());
});

describe.each(COMMANDS)('vsmmu %s', (cmd) => {
  test('--help: usage with every option on stdout, exit 0, nothing created', async () => {
    const { command } = (await import(`../src/commands/${cmd}.js`)) as { command: Command };
    const cwd = mkdtempSync(path.join(tmpdir(), 'vsmmu-cli-'));
    try {
      for (const args of [[cmd, '--help'], [cmd, '-h'], ['help', cmd]]) {
        const r = vsmmu(args, cwd);
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        expect(r.out.startsWith(`usage: vsmmu ${cmd}`)).toBe(true);
        for (const o of Object.keys(command.options)) expect(r.out).toContain(`--${o}`);
      }
      expect(readdirSync(cwd)).toEqual([]); // topo-traces --help once created a folder named --help
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('a bad flag: one line, exit 2', () => {
    expectUsageError(vsmmu([cmd, '--bogus']), cmd, '--bogus');
  });

  test('a bad value: one line, exit 2', () => {
    const [args, token] = BAD_VALUES[cmd];
    expectUsageError(vsmmu([cmd, ...args]), cmd, token);
  });
});

test('vsmmu --help, help, --version; unknown commands and no command', () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const r = vsmmu(args);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
  }
  const v = vsmmu(['--version']);
  expect(v.out).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version + '\n');
  expect(v.code).toBe(0);
  expectUsageError(vsmmu(['nope']), 'nope', 'nope');
  expectUsageError(vsmmu(['help', 'nope']), 'help', 'nope');
  expectUsageError(vsmmu([]), '', 'no command');
  expectUsageError(vsmmu(['--bogus']), '', '--bogus');
});

test('more bad values: each named in one line', () => {
  expectUsageError(vsmmu(['topo', '--mode', 'eager']), 'topo', 'eager');
  expectUsageError(vsmmu(['topo', '--fault-rate', '2']), 'topo', '--fault-rate');
  expectUsageError(vsmmu(['topo', '--svg']), 'topo', '--svg');
  expectUsageError(vsmmu(['topo', '--json=yes']), 'topo', '--json');
  expectUsageError(vsmmu(['bench', '--runs', '0']), 'bench', '--runs');
  expectUsageError(vsmmu(['serve', '--port', '70000']), 'serve', '70000');
  expectUsageError(vsmmu(['replay']), 'replay', '<file-or-dir>');
  expectUsageError(vsmmu(['topo-traces', 'a', 'b']), 'topo-traces', '"b"');
  expectUsageError(vsmmu(['conformance', '--family', 'nope']), 'conformance', 'nope');
  expectUsageError(vsmmu(['serve', '--host', '']), 'serve', '--host');
  expectUsageError(vsmmu(['record', '--family', 'xlate', 'x.jsonl']), 'record', '--family');
  expectUsageError(vsmmu(['replay', 'docs']), 'replay', 'no .jsonl trace files in docs');
});

test('output through a pipe is whole at exit: replay --trace\'s stderr piped is what it writes to a file', () => {
  const args = [CLI, 'replay', '--trace', 'test/traces/linux'];
  const dir = mkdtempSync(path.join(tmpdir(), 'vsmmu-pipe-'));
  try {
    const file = path.join(dir, 'trace.txt');
    const fd = openSync(file, 'w');
    const toFile = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', fd], timeout: 120000 });
    closeSync(fd);
    const whole = readFileSync(file);
    expect([toFile.status, whole.length > 256 * 1024]).toEqual([0, true]); // more than a pipe holds
    for (let k = 0; k < 3; k++) {
      const piped = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28, timeout: 120000 });
      expect([k, piped.status, piped.stderr.length]).toEqual([k, 0, whole.length]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--debug shows the stack trace of a user error', () => {
  const r = vsmmu(['replay', '--debug', '/nonexistent']);
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/^\s+at /m);
});

test('serve on a busy port: one line, exit 2', async () => {
  const busy: Server = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--port', String(port)], { encoding: 'utf8', timeout: 20000 });
    expect(r.stderr).toBe(`vsmmu serve: 127.0.0.1:${port} is already in use (see vsmmu serve --help)\n`);
    expect(r.status).toBe(2);
  } finally {
    busy.close();
  }
});

describe('--json outputs match docs/cli-json.md', () => {
  test('the documented schemas use snake_case keys', () => {
    expect(Object.keys(SCHEMAS).sort()).toEqual(['bench', 'conformance', 'fuzz', 'replay', 'topo']);
    for (const s of Object.values(SCHEMAS)) for (const k of declaredKeys(s)) expect(k).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
  });

  test('replay --json: files and totals, a mismatch counted', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vsmmu-cli-'));
    try {
      const good = path.join(ROOT, 'test/traces/qemu-7.2/cmds-03.jsonl');
      const lines = readFileSync(good, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.includes('"mmio_read"') && l.includes('"expect"'));
      const op = JSON.parse(lines[i]);
      op.expect = op.expect === '0x1' ? '0x2' : '0x1';
      lines[i] = JSON.stringify(op);
      const bad = path.join(dir, 'bad.jsonl');
      writeFileSync(bad, lines.join('\n'));
      const r = vsmmu(['replay', '--json', good, bad]);
      expect(r.code).toBe(1);
      const j = JSON.parse(r.out);
      expect(validate(SCHEMAS.replay, j)).toEqual([]);
      expect(j.totals).toEqual({ files: 2, passed: 1, failed: 1, unusable: 0, expects: j.files[0].expects + j.files[1].expects, mismatches: 1 });
      expect(j.files[1].mismatches[0].line).toBe(i + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('topo --json', () => {
    const r = vsmmu(['topo', '--json', '--steps', '2', '--mode', 'lazy', '--fault-rate', '0.1']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(validate(SCHEMAS.topo, j)).toEqual([]);
    expect(j.workload.mode).toBe('lazy');
    expect(j.workload.fault_rate).toBe(0.1);
    expect(j.topologies).toHaveLength(7);
  });

  test('fuzz --json', () => {
    const r = vsmmu(['fuzz', '--json', '--seed', '3', '--commands', '2000', '--mode', 'callbacks']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(validate(SCHEMAS.fuzz, j)).toEqual([]);
    expect(j).toMatchObject({ seed: 3, mode: 'callbacks', failures: [] });
  });

  test('bench --json', () => {
    const r = vsmmu(['bench', '--json', '--quiet', '--no-qemu', '--runs', '1', '--commands', '400', '--stream', 'CMD_SYNC']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(validate(SCHEMAS.bench, j)).toEqual([]);
    expect(j.streams.map((s: { name: string }) => s.name)).toEqual(['CMD_SYNC']);
  });

  test('conformance --json names command errors (a summary with both CERRORs)', async () => {
    const { conformanceJson } = await import('../src/commands/conformance.js');
    const j = conformanceJson({
      seed: 1, target: { profile: 'qemu-7.2', stage: '1' }, scenarios: 1, passed: 0, mismatched: 1, errors: 0, minutes: 0.1, perMinute: 10, qemuSeconds: 1, ops: 5, expects: 2, migrations: 1,
      families: { cmdq: 1 }, opcodes: [1, 0x46], commands: { SMMU_CMD_SYNC: 1 }, events: { SMMU_EVT_F_TRANSLATION: 1 },
      cerrors: { 1: 2, 2: 1 }, traceDifferences: 0, regressFiles: [],
      failures: [{ name: 'cmdq-1', seed: 1, mismatches: [{ line: 3, op: 'mmio_read', expect: '0x1', got: '0x2' }] } as never],
    });
    expect(validate(SCHEMAS.conformance, j)).toEqual([]);
    expect(j.cerrors).toEqual({ CERROR_ILL: 2, CERROR_ABT: 1 });
  });

  qemuTest('cli.test.ts')('conformance --json', () => {
    const r = vsmmu(['conformance', '--json', '--count', '2', '--seed', '7', '--jobs', '1', '--no-shrink']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(validate(SCHEMAS.conformance, j)).toEqual([]);
    expect(j.scenarios).toBe(2);
  });
});
