// The browser demo in Debian's Chromium, driven by playwright-core: the page loads the
// same wasm as Node, runs every topology for a few seconds, its counters move, its SVG
// charts render, the comparison view draws every topology, and the console stays clean.
// Saves test-artifacts/demo.png. Runs when /usr/bin/chromium exists; with
// VSMMU_REQUIRE_CHROMIUM=1 (CI) a missing Chromium is a failure, not a skip.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/serve.js';
import { TOPOLOGIES, DEFAULT_WORKLOAD, topologySpec, type TopologyName } from '../src/topo/explore.js';

const CHROMIUM = process.env.VSMMU_CHROMIUM ?? '/usr/bin/chromium';
const REQUIRED = process.env.VSMMU_REQUIRE_CHROMIUM === '1';
const HAVE = existsSync(CHROMIUM);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const RUN_MS = 1500;

if (!HAVE && !REQUIRED) {
  console.warn(`test/web.test.ts: skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium; set VSMMU_REQUIRE_CHROMIUM=1 to make this a failure)`);
}

const suite = HAVE || REQUIRED ? describe : describe.skip;

suite('browser demo (playwright-core + Debian chromium)', () => {
  let server: RunningServer;
  let ctx: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!HAVE) throw new Error(`VSMMU_REQUIRE_CHROMIUM=1 but there is no Chromium at ${CHROMIUM}: install it with apt-get install -y chromium (or set VSMMU_CHROMIUM)`);
    const { chromium } = await import('playwright-core');
    server = await startServer({ port: 0 });
    profile = mkdtempSync(path.join(tmpdir(), 'vsmmu-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    page = ctx.pages()[0] ?? await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 20000 });
  });

  afterAll(async () => {
    await ctx?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const metric = async (key: string) => (await page.textContent(`#metrics [data-key="${key}"]`)) ?? '';
  const num = (s: string) => Number(s.replace(/[^0-9.]/g, ''));

  /** How many data points the polylines of a chart have, per series. */
  const chartPoints = (id: string) => page.$$eval(`#chart-${id} svg polyline`, (ls) => ls.map((l) => (l.getAttribute('points') ?? '').trim().split(/\s+/).length));

  test('loads the engine and draws the first state', async () => {
    expect(await page.$$eval('#topology option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(TOPOLOGIES.map((t) => t.name));
    expect(await page.$$eval('#charts figure svg', (s) => s.length)).toBe(8);
    expect(await page.$$eval('#diagram svg rect', (s) => s.length)).toBeGreaterThanOrEqual(2);
    expect(num(await metric('commands'))).toBeGreaterThan(0); // the driver's probe already ran in the page
    expect(problems).toEqual([]);
  });

  // join-vasid last, so the screenshot shows the seed's case
  const order = [...TOPOLOGIES.map((t) => t.name).filter((n) => n !== 'join-vasid'), 'join-vasid'];
  test.each(order)('runs %s: counters move, charts draw, tables fill', async (name) => {
    await page.selectOption('#topology', name);
    await page.waitForSelector('body[data-state="ready"]');
    await page.fill('#fault-rate', '0.01');
    await page.dispatchEvent('#fault-rate', 'change');
    await page.waitForTimeout(300); // the rebuild is debounced
    await page.waitForSelector('body[data-state="ready"]');
    const before = num(await metric('commands'));
    await page.click('#run');
    await page.waitForSelector('body[data-state="running"]');
    await page.waitForTimeout(RUN_MS);
    await page.click('#pause');
    await page.waitForSelector('body[data-state="paused"]');
    const steps = num(await metric('steps'));
    expect(steps).toBeGreaterThan(5);
    expect(num(await metric('commands'))).toBeGreaterThan(before);
    expect(num(await metric('dma'))).toBeGreaterThan(0);
    const fwd = await metric('forwarded');
    expect(fwd).toMatch(/p0: [1-9]/);
    const psmmus = topologySpec(name as TopologyName, DEFAULT_WORKLOAD).psmmus.length;
    if (psmmus > 1) expect(fwd).toMatch(/p1: [1-9]/);
    // one step moves the counter by exactly one
    await page.click('#step');
    expect(num(await metric('steps'))).toBe(steps + 1);
    // live charts: a line per series, with several points
    const rate = await chartPoints('psmmu-rate');
    expect(rate.length).toBe(1 + psmmus); // guest + each pSMMU
    expect(Math.min(...rate)).toBeGreaterThanOrEqual(3);
    for (const id of ['forwarded', 'tlbi', 'hit', 'sync', 'occupancy', 'events']) expect((await chartPoints(id)).length).toBeGreaterThan(0);
    // the CMDQ ring view decodes commands and marks PROD/CONS
    const ring = await page.$$eval('#cmdq tbody tr', (rs) => rs.map((r) => r.textContent ?? ''));
    expect(ring.length).toBeGreaterThan(5);
    expect(ring.some((r) => /TLBI_NH_VA\s*ASID=\d+/.test(r))).toBe(true);
    expect(ring.at(-1)).toMatch(/PROD CONS/);
    expect(await page.textContent('#evtq')).toMatch(/F_TRANSLATION/);
    expect(await page.$$eval('#vasid tbody tr', (rs) => rs.length)).toBeGreaterThan(0);
    if (name !== 'join-broadcast') expect(await page.textContent('#vasid')).toMatch(/passthrough\s*p0/);
    expect(await page.$$eval('#vdev tbody tr', (rs) => rs.length)).toBe(4);
    expect(problems).toEqual([]);
  });

  test('migrates the running VM to hosts with 3 and 1 pSMMUs; one vSMMU per pSMMU cannot move; saves a screenshot', async () => {
    await page.selectOption('#topology', 'per-psmmu');
    await page.waitForSelector('body[data-state="ready"]');
    await page.selectOption('#migrate-to', '3');
    await page.click('#migrate');
    await page.waitForSelector('body[data-migrated="no"]');
    expect(await page.textContent('#migrate-result')).toMatch(/Cannot migrate.*guest has 2 vSMMUs.*appear/);
    expect(await page.$$eval('#vdev tbody tr', (rs) => rs.map((r) => r.textContent ?? '').join(' '))).not.toMatch(/p2/);

    await page.selectOption('#topology', 'join-vasid');
    await page.waitForSelector('body[data-state="ready"]');
    await page.click('#run');
    await page.waitForSelector('body[data-state="running"]');
    await page.waitForTimeout(RUN_MS);
    await page.click('#migrate'); // while running: the VM moves and goes on
    await page.waitForSelector('body[data-migrated="yes"][data-migrations="1"]');
    const text = await page.textContent('#migrate-result');
    expect(text).toMatch(/from 2 to 3 pSMMUs/);
    expect(text).toMatch(/noticed nothing/);
    expect(text).toMatch(/4 STE installs/);
    expect(await page.$$eval('#vdev tbody tr', (rs) => rs.map((r) => r.textContent ?? '').join(' '))).toMatch(/p2/);
    await page.waitForSelector('body[data-state="running"]');
    await page.waitForTimeout(RUN_MS);
    await page.click('#pause');
    await page.waitForSelector('body[data-state="paused"]');
    expect(await metric('forwarded')).toMatch(/p2: [1-9]/); // the new host's third pSMMU works
    expect((await chartPoints('psmmu-rate')).length).toBe(1 + 3);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'migrate.png'), fullPage: true });
    expect(existsSync(path.join(ARTIFACTS, 'migrate.png'))).toBe(true);

    await page.selectOption('#migrate-to', '1');
    await page.click('#migrate');
    await page.waitForSelector('body[data-migrations="2"]');
    expect(await page.textContent('#migrate-result')).toMatch(/from 3 to 1 pSMMU \(2 so far\).*noticed nothing/);

    // the whole matrix: only one vSMMU per pSMMU cannot change its pSMMU count
    await page.click('#migrate-all');
    await page.waitForSelector(`body[data-matrix="${TOPOLOGIES.length}"]`, { timeout: 60000 });
    const cells = await page.$$eval('#migrate-table tbody tr', (rs) => rs.map((r) => Array.from(r.querySelectorAll('td'), (c) => c.textContent ?? '')));
    expect(cells.length).toBe(TOPOLOGIES.length);
    const cannot = cells.flatMap((r, i) => r.slice(1).map((c, k) => (c.startsWith('cannot') ? `${TOPOLOGIES[i].name}->${k + 1}` : ''))).filter(Boolean);
    expect(cannot).toEqual(['per-psmmu->1', 'per-psmmu->3']);
    expect(cells.flatMap((r) => r.slice(1)).filter((c) => c.startsWith('unnoticed')).length).toBe(3 * TOPOLOGIES.length - 2);
    await page.screenshot({ path: path.join(ARTIFACTS, 'migrate-matrix.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  test('compares every topology and saves a screenshot', async () => {
    await page.fill('#compare-steps', '60');
    await page.click('#compare');
    await page.waitForSelector(`body[data-compared="${TOPOLOGIES.length}"]`, { timeout: 60000 });
    await page.waitForSelector('body[data-state="paused"]');
    expect(await page.$$eval('#compare-svg svg rect.bar', (r) => r.length)).toBe(8 * TOPOLOGIES.length);
    expect(await page.$$eval('#compare-table tbody tr', (r) => r.length)).toBe(TOPOLOGIES.length);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo.png'), fullPage: true });
    expect(existsSync(path.join(ARTIFACTS, 'demo.png'))).toBe(true);
    expect(problems).toEqual([]);
  });
});
