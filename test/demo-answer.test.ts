// The demo states its answer: on load it compares every topology on the default workload
// (the README's and `vsmmu topo`'s) and its summary panel gives the same recommendation as
// `vsmmu topo`; a comparison shows progress and can be cancelled; the page is readable at 400
// and 1600 px (no horizontal overflow, the answer on screen). Saves test-artifacts/demo-400.png
// and demo-1600.png.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/serve.js';
import { DEFAULT_STEPS, DEFAULT_WORKLOAD, exploreAll } from '../src/explorer.js';
import { topologyAnswer } from '../src/topo/answer.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumDescribe } from './helpers.js';

const ARTIFACTS = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'test-artifacts');

chromiumDescribe('demo-answer.test.ts')('the demo\'s answer (Chromium)', () => {
  let server: RunningServer;
  let ctx: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    server = await startServer({ port: 0 });
    profile = mkdtempSync(path.join(tmpdir(), 'vsmmu-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport: { width: 1600, height: 1000 }, args: CHROMIUM_ARGS });
    page = ctx.pages()[0] ?? await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    await page.goto(server.url);
  });

  afterAll(async () => {
    await ctx?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('on load: the default workload compared, the same recommendation as vsmmu topo', async () => {
    await page.waitForSelector('body[data-compared="7"]', { timeout: 90000 });
    expect(Number(await page.inputValue('#compare-steps'))).toBe(DEFAULT_STEPS);
    expect(Number(await page.inputValue('#fault-rate'))).toBe(DEFAULT_WORKLOAD.faultRate ?? 0);
    const expected = topologyAnswer(await exploreAll(DEFAULT_WORKLOAD, DEFAULT_STEPS), DEFAULT_WORKLOAD);
    expect(await page.textContent('#answer-recommendation')).toBe(expected.recommendation);
    expect(await page.$$eval('#answer-findings li', (ls) => ls.map((l) => l.textContent))).toEqual(expected.findings);
    expect(await page.$$eval('#answer tr.best', (rs) => rs.map((r) => (r as HTMLElement).dataset.topology))).toEqual(expected.hosts.map((h) => h.best));
    // the ratio panels start below the smallest value, and say so
    expect(await page.$$eval('#compare-svg text.axis-start', (t) => t.map((x) => x.textContent))).toEqual(['axis starts at 0.850, not 0']);
    expect(problems).toEqual([]);
  });

  test('Compare shows progress and can be cancelled', async () => {
    await page.fill('#compare-steps', '2000');
    await page.click('#compare');
    expect(await page.textContent('#compare')).toBe('Cancel');
    await page.waitForFunction(() => (document.getElementById('compare-progress') as HTMLProgressElement).value > 0);
    expect(await page.textContent('#compare-status')).toMatch(/\(1\/7\): \d+%/);
    await page.click('#compare');
    await page.waitForSelector('body[data-compared="cancelled"]');
    expect(await page.textContent('#compare-status')).toBe('cancelled');
    expect(await page.textContent('#compare')).toBe('Compare');
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    // the answer on screen is still the last finished comparison's
    expect(await page.textContent('#answer-recommendation')).toMatch(/^From this run: /);
    await page.fill('#compare-steps', String(DEFAULT_STEPS));
    expect(problems).toEqual([]);
  });

  test.each([400, 1600])('readable at %i px: no horizontal overflow, the answer on screen (screenshot)', async (width) => {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForFunction((w) => window.innerWidth === w, width);
    const overflow = await page.evaluate(() => {
      const vw = document.documentElement.clientWidth;
      const wide = Array.from(document.querySelectorAll('body *')).filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > vw + 1 && !e.closest('.scroll, .scroll-x, #compare-table');
      }).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`);
      return { scroll: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 5) };
    });
    expect(overflow.wide).toEqual([]);
    expect(overflow.scroll).toBeLessThanOrEqual(overflow.vw);
    const box = await page.locator('#answer-recommendation').boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(width);
    expect(await page.isVisible('#answer tr.best')).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `demo-${width}.png`), fullPage: true });
    expect(problems).toEqual([]);
  });
});
