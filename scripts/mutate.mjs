#!/usr/bin/env node
// npm run mutate -- [--budget SECONDS] [--files a.ts,b.ts] [--lines N,M] [--mutants FILE] [--emit DIR] [--json] [--seed N] [--jobs N] [--list]
//
// Mutation check of the engine: applies single-token mutations to assembly/ files
// (comparison and arithmetic operators, masks and constants, removed statements,
// swapped branches), rebuilds the release module for each (in memory, through the
// AssemblyScript compiler's API; the working tree is never modified), and runs a fast
// subset of the jest suites against it (VSMMU_ENGINE_WASM points the model at the
// mutant): one jest process per mutant, its suites in the listed order (fastest first,
// scripts/mutate-sequencer.cjs), stopping at the first failing suite, property tests
// seeded from --seed and not shrinking (scripts/mutate-setup.mjs). A mutant is
//   killed      when a test fails (or the run exceeds its time limit: a hang),
//   survived    when every test passes,
//   equivalent  when its release .wasm is byte-for-byte the original's (the optimiser
//               removed the difference, so no test can see it),
// and is not counted when it does not compile. Mutants are tried in a fixed pseudo-random
// order (--seed) interleaving the files, until the budget runs out.
//
// Needs `npm run build` first (the jest suites run from dist/).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The engine modules the check covers by default. */
const DEFAULT_FILES = ['assembly/cmdq.ts', 'assembly/iotlb.ts', 'assembly/dispatch.ts', 'assembly/translate.ts', 'assembly/ptw.ts', 'assembly/config.ts'];

/**
 * Jest suites per mutated file, in the order they run (fast and most killing first; one
 * jest process, --bail: the first failing suite ends the run, so a killed mutant costs its
 * build and usually one short suite). Every one runs in a few seconds with VSMMU_PROPERTY_RUNS
 * below; the engine-vs-reference suite, the slowest, comes last.
 */
const SUITES = {
  'assembly/cmdq.ts': ['cmdq-loops', 'cmdq', 'config-cache', 'iotlb-rules', 'iotlb-model', 'registers', 'iotlb', 'stage2', 'reference'],
  'assembly/iotlb.ts': ['iotlb-rules', 'iotlb-model', 'iotlb', 'translate', 'stage2', 'reference'],
  'assembly/dispatch.ts': ['dispatch-model', 'forward-trace', 'cmdq-loops', 'vdev-table', 'viommu', 'hostile-backend', 'viommu-property', 'reference', 'snapshot'],
  'assembly/translate.ts': ['translate', 'batch-export', 'translate-status', 'fault-state', 'untraced', 'iotlb-start-level', 'nested-hit', 'dma-unassigned', 'dma-high', 'trace-counters', 'table-select', 'input-range', 'unassigned-high', 'stage2', 'registers', 'iotlb'],
  'assembly/ptw.ts': ['translate', 'walk-reads', 'walk-checks', 'walk-trace', 's2-walk-trace', 'translate-status', 'fault-state', 'iotlb-start-level', 'nested-hit', 'nested-tables', 'table-select', 'input-range', 'stage2', 'dma-unassigned'],
  'assembly/config.ts': ['translate', 'config-hits', 'nested-cd-offset', 'nested-tables', 'config-decode', 'cd-decode', 'config-cache', 'trace-counters', 'stage2', 'cmdq', 'table-select', 'input-range', 'vdev-table', 'reference', 'snapshot'],
};
const DEFAULT_SUITES = ['registers', 'cmdq', 'translate', 'stage2', 'viommu', 'reference'];
/**
 * Tests that take most of their suite's time: they run in a second jest process, only when
 * everything else passed (a mutant the rest kills does not wait for them).
 */
const LAST_TESTS = ['engine and TypeScript reference agree on a stream with every opcode, on every SMMU variant'];
const PROPERTY_RUNS = '60';

const USAGE = 'usage: npm run mutate -- [--budget SECONDS] [--files assembly/a.ts,...] [--lines N,M,...] [--mutants FILE] [--emit DIR] [--json] [--seed N] [--jobs N] [--list]';

function fail(msg) {
  process.stderr.write(`mutate: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { budget: 600, files: DEFAULT_FILES, json: false, seed: 1, jobs: 1, list: false, lines: null, emit: null, mutants: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--json') o.json = true;
    else if (a === '--list') o.list = true;
    else if (a === '--budget') {
      const v = value();
      o.budget = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v) || !(o.budget > 0)) fail(`--budget must be a positive number of seconds, got "${v}"`);
    } else if (a === '--seed') {
      const v = value();
      o.seed = Number(v);
      if (!/^\d+$/.test(v)) fail(`--seed must be a non-negative integer, got "${v}"`);
    } else if (a === '--jobs') {
      const v = value();
      o.jobs = Number(v);
      if (!/^\d+$/.test(v) || o.jobs < 1 || o.jobs > 16) fail(`--jobs must be an integer from 1 to 16, got "${v}"`);
    } else if (a === '--files') {
      o.files = value().split(',').filter(Boolean).map((f) => relative(ROOT, resolve(ROOT, f)).split('\\').join('/'));
      if (o.files.length === 0) fail('--files needs at least one file');
      for (const f of o.files) {
        if (!f.startsWith('assembly/') || !f.endsWith('.ts')) fail(`--files: ${f} is not an engine source (assembly/*.ts)`);
        if (!existsSync(join(ROOT, f))) fail(`--files: ${f} does not exist`);
      }
    } else if (a === '--lines') {
      // only the mutants on these (1-based) lines of the --files: to re-check a survivor
      const v = value();
      if (!/^\d+(,\d+)*$/.test(v)) fail(`--lines must be line numbers separated by commas, got "${v}"`);
      o.lines = new Set(v.split(',').map(Number));
    } else if (a === '--mutants') {
      // only the mutants listed in this file, one per line as the survivors are printed
      // ("assembly/x.ts:LINE: kind: mutation"): to re-check a run's survivors on a later tree
      const f = resolve(value());
      if (!existsSync(f)) fail(`--mutants: ${f} does not exist`);
      o.mutants = new Set(readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean));
    } else if (a === '--emit') {
      // write every survivor's .wasm here (load it with VSMMU_ENGINE_WASM to watch a new test fail on it)
      o.emit = resolve(value());
      if (!existsSync(o.emit)) fail(`--emit: ${o.emit} does not exist`);
    } else fail(`unknown argument ${a}`);
  }
  return o;
}

// ---- mutants ------------------------------------------------------------------------------

const OPERATORS = {
  '==': ['!='], '!=': ['=='], '<': ['<='], '<=': ['<'], '>': ['>='], '>=': ['>'],
  '<<': ['>>'], '>>': ['<<'], '+': ['-'], '-': ['+'], '*': ['/'], '/': ['*'],
  '&': ['|'], '|': ['&'], '^': ['|'], '&&': ['||'], '||': ['&&'],
  '+=': ['-='], '-=': ['+='], '|=': ['&='], '&=': ['|='],
};

/** The code part of a line (no comment), or null for lines mutations leave alone. */
function codeOf(line) {
  const t = line.trim();
  if (t === '' || t.startsWith('//') || t.startsWith('*') || t.startsWith('/*') || t.startsWith('@') || t.startsWith('import ') || t.startsWith('export {') || t.startsWith('} from') || line.includes('"')) return null;
  const c = line.indexOf('//');
  return c >= 0 ? line.slice(0, c) : line;
}

function constantMutation(tok) {
  const v = BigInt(tok);
  const n = v === 0n ? 1n : v === 1n ? 0n : v - 1n;
  return tok.startsWith('0x') ? `0x${n.toString(16)}` : n.toString();
}

/** The close paren matching the open one at `open`, on the same line, or -1. */
function matchParen(s, open) {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Every single-token mutant of a file: {file, line (1-based), kind, desc, text (the mutated source)}. */
export function mutantsOf(file, source) {
  const lines = source.split('\n');
  const out = [];
  const add = (i, kind, newLine, desc) => {
    const copy = lines.slice();
    copy[i] = newLine;
    out.push({ file, line: i + 1, kind, desc, code: lines[i].trim(), text: copy.join('\n') });
  };
  let prevCode = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const code = codeOf(line);
    if (code === null) continue;
    const rest = line.slice(code.length);
    // binary operators, written with a space either side (casts and generics are not)
    for (const m of code.matchAll(/ (==|!=|<=|>=|<<|>>|&&|\|\||\+=|-=|\|=|&=|<|>|\+|-|\*|\/|&|\||\^) /g)) {
      for (const r of OPERATORS[m[1]] ?? []) {
        const at = m.index + 1;
        add(i, 'operator', code.slice(0, at) + r + code.slice(at + m[1].length) + rest, `${m[1]} -> ${r} (column ${at + 1})`);
      }
    }
    // integer constants (masks, shifts, sizes), not parts of names or types
    for (const m of code.matchAll(/(?<![\w.$])(0x[0-9a-fA-F]+|\d+)(?![\w.])/g)) {
      const r = constantMutation(m[1]);
      add(i, 'constant', code.slice(0, m.index) + r + code.slice(m.index + m[1].length) + rest, `${m[1]} -> ${r} (column ${m.index + 1})`);
    }
    for (const m of code.matchAll(/\b(true|false)\b/g)) {
      const r = m[1] === 'true' ? 'false' : 'true';
      add(i, 'constant', code.slice(0, m.index) + r + code.slice(m.index + m[1].length) + rest, `${m[1]} -> ${r} (column ${m.index + 1})`);
    }
    // swapped branches: if (c) -> if (!(c)); a negation removed
    for (const m of code.matchAll(/\bif \(/g)) {
      const open = m.index + 3;
      const close = matchParen(code, open);
      if (close < 0) continue;
      add(i, 'branch', code.slice(0, open) + '(!' + code.slice(open, close + 1) + ')' + code.slice(close + 1) + rest, `if condition negated (column ${m.index + 1})`);
    }
    for (const m of code.matchAll(/!(?!=)/g)) {
      add(i, 'branch', code.slice(0, m.index) + code.slice(m.index + 1) + rest, `! removed (column ${m.index + 1})`);
    }
    // removed statements: a whole single-line statement after a statement or a block start
    const t = code.trim();
    const statement = t.endsWith(';') && !/^(const|let|var|return|break|continue|case|default|export|function|type|declare)\b/.test(t) &&
      (t.match(/\(/g) ?? []).length === (t.match(/\)/g) ?? []).length && /[;{}]\s*$/.test(prevCode);
    if (statement) add(i, 'statement', line.replace(t, `/* ${t.replace(/\*\//g, '* /')} */`), 'statement removed');
    prevCode = code.trim() === '' ? prevCode : code;
  }
  return out;
}

/**
 * Mutants declared behaviourally equivalent, with a reason each
 * (scripts/mutate-equivalents.json: [{file, code, mutation, reason}], `code` the original
 * line trimmed, `mutation` the runner's description with or without its "(column N)"). A
 * declared mutant is still built and tested: one a test kills counts as killed (the
 * declaration was wrong); one that survives counts as equivalent ("declared"), not as a
 * survivor. A declaration names the code, not a line number, so it stops applying when
 * that line changes.
 */
export function readEquivalents(text) {
  const list = JSON.parse(text);
  if (!Array.isArray(list)) throw new Error('mutate-equivalents.json: expected an array');
  list.forEach((e, i) => {
    for (const k of ['file', 'code', 'mutation', 'reason']) {
      if (typeof e?.[k] !== 'string' || e[k].trim() === '') throw new Error(`mutate-equivalents.json: entry ${i} needs a non-empty "${k}"`);
    }
  });
  return list;
}

function declaredEquivalent(m, equivalents) {
  const bare = m.desc.replace(/ \(column \d+\)$/, '');
  return equivalents.find((e) => e.file === m.file && e.code === m.code && (e.mutation === m.desc || e.mutation === bare));
}

/** Deterministic shuffle (xorshift32). */
function shuffle(items, seed) {
  let x = (seed >>> 0) || 1;
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The files' mutants shuffled per file, then interleaved so that every file gets its share of any budget. */
function order(byFile, seed) {
  const queues = byFile.map((ms, k) => shuffle(ms, seed + k));
  const out = [];
  for (let i = 0; queues.some((q) => i < q.length); i++) for (const q of queues) if (i < q.length) out.push(q[i]);
  return out;
}

// ---- build and test ------------------------------------------------------------------

let ascMain;
let building = Promise.resolve();

/** The release module built with `override` in place of one source file; null when it does not compile. One build at a time. */
function build(override) {
  const b = building.then(() => buildNow(override));
  building = b.catch(() => {});
  return b;
}

async function buildNow(override) {
  if (!ascMain) ascMain = (await import('assemblyscript/asc')).main;
  let wasm = null;
  const sink = { write() {}, toString: () => '' };
  const { error } = await ascMain(['assembly/index.ts', '--target', 'release', '--config', 'asconfig.json', '--outFile', 'mutant.wasm'], {
    stdout: sink,
    stderr: sink,
    readFile: (name, base) => {
      const p = resolve(ROOT, base, name);
      if (override && p === resolve(ROOT, override.file)) return override.text;
      return existsSync(p) ? readFileSync(p, 'utf8') : null;
    },
    writeFile: (name, contents) => {
      if (name.endsWith('.wasm')) wasm = contents;
    },
    listFiles: () => [],
  });
  return error ? null : Buffer.from(wasm);
}

/** The suites that exist (a suite named in SUITES but not built is skipped, e.g. on an older tree). */
function existing(suites) {
  return suites.filter((s) => existsSync(join(ROOT, `dist/test/${s}.test.js`)));
}

const escape = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LAST = LAST_TESTS.map(escape).join('|');

/**
 * Runs the suites against `wasmFile` and resolves to 'pass', 'fail' or 'timeout': first
 * every test but LAST_TESTS, in suite order, in one jest process; then, when they pass,
 * LAST_TESTS.
 */
async function runSuites(suites, wasmFile, limitMs, seed) {
  const t0 = Date.now();
  const first = await jest(suites, ['--testNamePattern', `^(?!.*(${LAST}))`], wasmFile, limitMs, seed);
  if (first !== 'pass') return first;
  const withLast = suites.filter((s) => s === 'reference');
  if (withLast.length === 0) return 'pass';
  return jest(withLast, ['--testNamePattern', `(${LAST})`], wasmFile, Math.max(1000, limitMs - (Date.now() - t0)), seed);
}

/** One jest process over `suites` (in that order, stopping at the first failing suite). */
function jest(suites, extra, wasmFile, limitMs, seed) {
  return new Promise((done) => {
    const files = suites.map((s) => `dist/test/${s}.test.js`);
    const child = spawn(process.execPath, ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--runInBand', '--bail', '--silent', ...extra,
      `--testSequencer=${join(ROOT, 'scripts/mutate-sequencer.cjs')}`, `--setupFilesAfterEnv=${join(ROOT, 'scripts/mutate-setup.mjs')}`, '--', ...files], {
      cwd: ROOT,
      env: { ...process.env, VSMMU_ENGINE_WASM: wasmFile, VSMMU_PROPERTY_RUNS: PROPERTY_RUNS, VSMMU_MUTATE_ORDER: suites.join(','), VSMMU_MUTATE_SEED: String(seed) },
      stdio: 'ignore',
      detached: true,
    });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      done('timeout');
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done(code === 0 ? 'pass' : 'fail');
    });
  });
}

// ---- main ------------------------------------------------------------------------------

/** A mutant as --list, the log and the survivors print it (and --mutants reads it back). */
const label = (file, line, kind, desc) => `${file}:${line}: ${kind}: ${desc}`;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const byFile = o.files.map((f) => mutantsOf(f, readFileSync(join(ROOT, f), 'utf8'))
    .filter((m) => (!o.lines || o.lines.has(m.line)) && (!o.mutants || o.mutants.has(label(m.file, m.line, m.kind, m.desc)))));
  if (o.list) {
    for (const ms of byFile) for (const m of ms) process.stdout.write(`${label(m.file, m.line, m.kind, m.desc)}\n`);
    return 0;
  }
  if (!existsSync(join(ROOT, 'dist/test'))) {
    process.stderr.write('mutate: dist/test is missing: run `npm run build` first\n');
    return 2;
  }
  const t0 = Date.now();
  const deadline = t0 + o.budget * 1000;
  const log = (s) => { if (!o.json) process.stderr.write(`${s}\n`); };
  const tmp = mkdtempSync(join(tmpdir(), 'vsmmu-mutate-'));
  try {
    const original = await build(null);
    if (!original) throw new Error('the unmutated engine does not compile');
    const origFile = join(tmp, 'original.wasm');
    writeFileSync(origFile, original);
    const suitesOf = (f) => existing(SUITES[f] ?? DEFAULT_SUITES);
    // baseline: every suite passes on the original, and how long it takes (the hang limit)
    const limits = new Map();
    for (const f of o.files) {
      const key = suitesOf(f).join(',');
      if (limits.has(key)) continue;
      const s0 = Date.now();
      const r = await runSuites(suitesOf(f), origFile, 600000, o.seed);
      if (r !== 'pass') {
        process.stderr.write(`mutate: the suites ${key} fail on the unmutated engine; fix them first\n`);
        return 1;
      }
      limits.set(key, Math.max(30000, 4 * (Date.now() - s0)));
    }
    const eqFile = join(ROOT, 'scripts/mutate-equivalents.json');
    const equivalents = existsSync(eqFile) ? readEquivalents(readFileSync(eqFile, 'utf8')) : [];
    const stats = new Map(o.files.map((f) => [f, { file: f, killed: 0, survived: 0, equivalent: 0, declared: 0, invalid: 0, timeouts: 0, total: 0 }]));
    for (let k = 0; k < o.files.length; k++) stats.get(o.files[k]).total = byFile[k].length;
    const survivors = [];
    const queue = order(byFile, o.seed);
    let tried = 0;
    let next = 0;
    // --jobs workers take mutants in order; builds share this thread, test runs are processes
    const worker = async (w) => {
      while (next < queue.length && Date.now() < deadline) {
        const m = queue[next++];
        tried++;
        const st = stats.get(m.file);
        const wasm = await build(m);
        let verdict;
        if (!wasm) verdict = 'invalid';
        else if (wasm.equals(original)) verdict = 'equivalent';
        else {
          const f = join(tmp, `mutant${w}.wasm`);
          writeFileSync(f, wasm);
          const suites = suitesOf(m.file);
          let r = await runSuites(suites, f, limits.get(suites.join(',')), o.seed);
          // a timeout is tried once more: a mutant that loops times out again, a process
          // the machine stalled does not
          if (r === 'timeout') {
            st.timeouts++;
            r = await runSuites(suites, f, limits.get(suites.join(',')), o.seed);
          }
          verdict = r === 'pass' ? 'survived' : 'killed';
        }
        const declared = verdict === 'survived' ? declaredEquivalent(m, equivalents) : undefined;
        if (declared) {
          st.equivalent++;
          st.declared++;
          log(`equivalent ${label(m.file, m.line, m.kind, m.desc)} (declared: ${declared.reason})`);
          continue;
        }
        st[verdict]++;
        if (verdict === 'survived') {
          survivors.push({ file: m.file, line: m.line, kind: m.kind, mutation: m.desc });
          if (o.emit) writeFileSync(join(o.emit, `${m.file.replace(/^assembly\//, '').replace(/\.ts$/, '')}-${m.line}-${survivors.length}.wasm`), wasm);
        }
        log(`${verdict.padEnd(10)} ${label(m.file, m.line, m.kind, m.desc)}`);
      }
    };
    await Promise.all(Array.from({ length: o.jobs }, (_, w) => worker(w)));
    const files = [...stats.values()];
    if (o.json) {
      process.stdout.write(`${JSON.stringify({
        files: files.map(({ file, killed, survived, equivalent, declared, timeouts }) => ({ file, killed, survived, equivalent, declared, timeouts })),
        survivors,
        tried,
        seconds: Math.round((Date.now() - t0) / 1000),
      })}\n`);
    } else {
      for (const s of files) {
        const scored = s.killed + s.survived;
        const score = scored ? `${((100 * s.killed) / scored).toFixed(1)}% killed` : 'none scored';
        const raw = s.killed + s.survived + s.declared;
        process.stdout.write(`${s.file}: killed ${s.killed}, survived ${s.survived}, equivalent ${s.equivalent} (${s.declared} declared) (${score}; ${raw ? ((100 * s.killed) / raw).toFixed(1) : '-'}% counting declared ones as survivors; ${s.invalid} did not compile; ${s.timeouts} timed out and were tried again; ${s.total} mutants in all)\n`);
      }
      const k = files.reduce((a, s) => a + s.killed, 0), sv = files.reduce((a, s) => a + s.survived, 0);
      const dc = files.reduce((a, s) => a + s.declared, 0);
      process.stdout.write(`total: killed ${k}, survived ${sv}, equivalent ${files.reduce((a, s) => a + s.equivalent, 0)} (${dc} declared); ${k + sv ? ((100 * k) / (k + sv)).toFixed(1) : '-'}% of non-equivalent mutants killed (${k + sv + dc ? ((100 * k) / (k + sv + dc)).toFixed(1) : '-'}% counting declared ones as survivors); ${tried} tried in ${Math.round((Date.now() - t0) / 1000)} s\n`);
      if (survivors.length) {
        process.stdout.write('survivors:\n');
        for (const s of survivors) process.stdout.write(`  ${label(s.file, s.line, s.kind, s.mutation)}\n`);
      }
    }
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main().then((code) => {
  process.exitCode = code; // (not process.exit: a long --list piped to another program would lose its end)
}, (e) => {
  process.stderr.write(`mutate: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
