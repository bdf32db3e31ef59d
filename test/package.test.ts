// The package as a consumer gets it: `npm pack`, installed into a fresh project, then used
// from Node ESM, TypeScript strict, CommonJS (the documented `await import()`), an esbuild
// bundle for Node and an esbuild bundle for the browser run in Chromium. The quickstart of the
// README (examples/quickstart.mjs) is the program each of them runs.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS, chromiumDescribe } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const QUICKSTART_OUTPUT = ['success 0x40900abc', 'hello through the SMMU', 'irq eventq x1', 'fault event 0x10', 'event 0x10 sid 0x18'];
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir: string; // the consumer project
let tarball: string;

function run(cmd: string, args: string[], cwd = dir): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const lines = (s: string) => s.trim().split('\n');

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vsmmu-consumer-'));
  // the tree is built (npm test builds first); --ignore-scripts skips prepack's rebuild
  const packed = JSON.parse(run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(dir, packed[0].filename);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball]);
  copyFileSync(path.join(ROOT, 'examples/quickstart.mjs'), path.join(dir, 'quickstart.mjs'));
}, 180000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball: LICENSE, the wasm beside its loader, source maps with their sources, no tests', () => {
  const files = lines(run('tar', ['-tzf', tarball])).map((f) => f.replace(/^package\//, ''));
  expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts',
    'dist/src/vsmmu.wasm', 'dist/src/cli.js', 'cjs/esm-only.cjs', 'web/index.html']));
  expect(files.filter((f) => f.startsWith('dist/test') || f.startsWith('src/') || f.startsWith('docs/api'))).toEqual([]);
  const pkg = path.join(dir, 'node_modules/vsmmu');
  expect(readFileSync(path.join(pkg, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the vsmmu authors/);
  for (const m of files.filter((f) => f.endsWith('.js.map'))) {
    const map = JSON.parse(readFileSync(path.join(pkg, m), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    expect({ m, n: map.sourcesContent?.filter((s) => typeof s === 'string' && s.length > 0).length }).toEqual({ m, n: map.sources.length });
  }
});

test('Node ESM: the quickstart', () => {
  expect(lines(run(process.execPath, ['quickstart.mjs']))).toEqual(QUICKSTART_OUTPUT);
});

test('Node ESM: the subpath entries and the bin', () => {
  writeFileSync(path.join(dir, 'entries.mjs'), [
    "import * as lib from 'vsmmu';",
    "import * as explorer from 'vsmmu/explorer';",
    "import * as views from 'vsmmu/views';",
    "console.log(['createSmmu', 'GuestDriver', 'SimulatedPsmmu', 'encode', 'cerrorName'].every((k) => k in lib));",
    "console.log(['TopologyRun', 'lineChart', 'LiveSeries', 'cmdqView', 'buildVm'].filter((k) => k in lib).join(',') || 'none');",
    "console.log(typeof explorer.TopologyRun, typeof explorer.buildVm, typeof views.LiveSeries, typeof views.lineChart);",
  ].join('\n'));
  expect(lines(run(process.execPath, ['entries.mjs']))).toEqual(['true', 'none', 'function function function function']);
  expect(run(path.join(dir, 'node_modules/.bin/vsmmu'), ['--version'])).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version + '\n');
});

test('TypeScript strict (module nodenext): every public type importable, the quickstart type-checks and runs', () => {
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], outDir: 'out', skipLibCheck: false, types: [] },
    files: ['consumer.mts'],
  }));
  writeFileSync(path.join(dir, 'consumer.mts'), [
    "import { createSmmu, GuestDriver, SimulatedPsmmu, encode, type EventRecord, type SmmuOptions, type TranslateResult, type PsmmuBackend, type WasmSource, type Domain } from 'vsmmu';",
    "import { TopologyRun, type Workload } from 'vsmmu/explorer';",
    "const opts: SmmuOptions = { ram: [{ base: 0x40000000, size: 0x1000000 }], devices: [0x18] };",
    "const smmu = await createSmmu(opts);",
    "const driver = new GuestDriver(smmu, { heap: { base: 0x40100000, size: 0x800000 } });",
    'driver.init();',
    'const domain: Domain = driver.createDomain({ asid: 1 });',
    'driver.map(domain, 0x100000, 0x40900000, 0x1000);',
    'driver.attach(0x18, domain);',
    "driver.submit([...driver.unmap(domain, 0x100000, 0x1000), encode.cmdSync()]);",
    "const r: TranslateResult = smmu.translate(0x18, 0x100000, 'read');",
    'const events: EventRecord[] = driver.events();',
    "const backend: PsmmuBackend = new SimulatedPsmmu({ name: 'p0' });",
    "const source: WasmSource = new URL('https://example.invalid/vsmmu.wasm');",
    "const w: Partial<Workload> = { mode: 'lazy' };",
    "console.log(r.status, events.length, typeof backend.invalidate, source instanceof URL, w.mode, typeof TopologyRun);",
  ].join('\n'));
  run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.']);
  expect(lines(run(process.execPath, ['out/consumer.mjs']))).toEqual(['fault 1 function true lazy function']);
});

test('CommonJS: await import() works, require() explains that the package is ESM-only', () => {
  writeFileSync(path.join(dir, 'consumer.cjs'), [
    "try { require('vsmmu'); } catch (e) { console.log(e.code, /await import\\('vsmmu'\\)/.test(e.message)); }",
    '(async () => {',
    "  const { createSmmu } = await import('vsmmu');",
    '  const smmu = await createSmmu({ devices: [0x18] });',
    "  console.log(smmu.translate(0x18, 0x1000, 'read').status);",
    '})();',
  ].join('\n'));
  expect(lines(run(process.execPath, ['consumer.cjs']))).toEqual(['ERR_REQUIRE_ESM true', 'disabled']);
});

/** esbuild (the repository's devDependency) on a file of the consumer project. */
async function esbuild(entry: string, platform: 'node' | 'browser', outfile: string): Promise<Record<string, number>> {
  const { build } = await import('esbuild');
  const r = await build({ entryPoints: [entry], bundle: true, platform, format: 'esm', outfile, absWorkingDir: dir, logLevel: 'error', metafile: true });
  // bytes each module contributes to the bundle
  return Object.fromEntries(Object.entries(Object.values(r.metafile.outputs)[0].inputs).map(([k, v]) => [k, v.bytesInOutput]));
}

let browserModules: Record<string, number> = {};

async function bundle(platform: 'node' | 'browser', outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, 'quickstart.js');
  const modules = await esbuild('quickstart.mjs', platform, out);
  if (platform === 'browser') browserModules = modules;
  // esbuild does not copy `new URL('./x', import.meta.url)` assets: the engine goes beside the bundle
  copyFileSync(path.join(dir, 'node_modules/vsmmu/dist/src/vsmmu.wasm'), path.join(outDir, 'vsmmu.wasm'));
  return out;
}

test('esbuild --platform=node: the bundled quickstart runs', async () => {
  const out = await bundle('node', path.join(dir, 'bundle-node'));
  expect(lines(run(process.execPath, [out]))).toEqual(QUICKSTART_OUTPUT);
});

test('esbuild --platform=browser: no Node built-in, no simulator, no explorer in the bundle', async () => {
  const out = await bundle('browser', path.join(dir, 'bundle-browser'));
  const js = readFileSync(out, 'utf8');
  // esbuild would have failed on an unresolvable built-in; none is even imported as external
  expect(js.match(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["'](?:node:|fs\b|path\b|url\b|os\b|child_process\b)[^"']*["']/g) ?? []).toEqual([]);
  expect(js).toContain('new URL("./vsmmu.wasm", import.meta.url)');
  // the device core does not pull in the simulated pSMMU, nor the explorer
  const included = Object.entries(browserModules).filter(([, n]) => n > 0).map(([k]) => k.replace(/^.*node_modules\/vsmmu\//, ''));
  expect(included).toEqual(expect.arrayContaining(['dist/src/smmu.js', 'dist/src/wasm-source.js', 'dist/src/guest/driver.js']));
  expect(included.filter((k) => /simulated|topo\/|reference\//.test(k))).toEqual([]);
});

chromiumDescribe('package.test.ts')('the esbuild browser bundle in Chromium', () => {
  test('runs the quickstart, with the engine beside the bundle and handed over as bytes, Response or Module', async () => {
    const outDir = path.join(dir, 'bundle-browser');
    if (!existsSync(path.join(outDir, 'quickstart.js'))) await bundle('browser', outDir);
    // a second program: createSmmu({ wasm }) in each form, the engine served from elsewhere
    writeFileSync(path.join(dir, 'wasm-forms.mjs'), [
      "import { createSmmu } from 'vsmmu';",
      "const url = new URL('/engine/v.wasm', location.href);",
      'const forms = {',
      '  url: () => url, string: () => url.href, response: () => fetch(url), promise: () => fetch(url),',
      '  bytes: async () => new Uint8Array(await (await fetch(url)).arrayBuffer()),',
      '  module: async () => WebAssembly.compileStreaming(fetch(url)),',
      '};',
      'for (const [k, f] of Object.entries(forms)) {',
      "  const smmu = await createSmmu({ devices: [8], wasm: await f() });",
      "  console.log(k, smmu.translate(8, 0x1000, 'read').status);",
      '}',
      "try { await createSmmu({ wasm: new URL('/missing.wasm', location.href) }); } catch (e) { console.log('missing', /HTTP 404/.test(e.message)); }",
    ].join('\n'));
    await esbuild('wasm-forms.mjs', 'browser', path.join(outDir, 'wasm-forms.js'));
    const files: Record<string, [string, string]> = {
      '/quickstart.js': [path.join(outDir, 'quickstart.js'), 'text/javascript'],
      // not beside vsmmu.wasm: /forms/vsmmu.wasm is a 404, so only the handed-over engine can work
      '/forms/wasm-forms.js': [path.join(outDir, 'wasm-forms.js'), 'text/javascript'],
      '/vsmmu.wasm': [path.join(outDir, 'vsmmu.wasm'), 'application/wasm'],
      '/engine/v.wasm': [path.join(outDir, 'vsmmu.wasm'), 'application/wasm'],
    };
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const runPage = async (script: string, expected: number): Promise<string[]> => {
        const page = await browser.newPage();
        const logs: string[] = [];
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() !== 'error') logs.push(m.text());
          else if (!/Failed to load resource.*404/.test(m.text())) problems.push(m.text()); // the deliberate /missing.wasm
        });
        page.on('pageerror', (e) => problems.push(e.message));
        await page.route('http://vsmmu.test/**', async (route) => {
          const p = new URL(route.request().url()).pathname;
          if (p === '/') return route.fulfill({ contentType: 'text/html', body: `<!doctype html><script type="module" src="${script}"></script>` });
          const f = files[p];
          return f ? route.fulfill({ contentType: f[1], body: readFileSync(f[0]) }) : route.fulfill({ status: 404, body: 'not found' });
        });
        await page.goto('http://vsmmu.test/');
        // wait on state: until the program has printed its lines (or failed)
        while (logs.length < expected && problems.length === 0) await page.waitForEvent('console', { timeout: 20000 });
        await page.close();
        return [...logs.flatMap((l) => l.split('\n')), ...problems];
      };
      expect(await runPage('/quickstart.js', 5)).toEqual(QUICKSTART_OUTPUT);
      expect(await runPage('/forms/wasm-forms.js', 7)).toEqual(['url disabled', 'string disabled', 'response disabled', 'promise disabled',
        'bytes disabled', 'module disabled', 'missing true']);
    } finally {
      await browser.close();
    }
  }, 60000);
});
