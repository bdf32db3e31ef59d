// The demo's static server: what it serves, with which types, and what it refuses.

import { request } from 'node:http';
import { startServer, resolveRequest, PACKAGE_ROOT, type RunningServer } from '../src/serve.js';

let s: RunningServer;
beforeAll(async () => { s = await startServer({ port: 0 }); });
afterAll(async () => { await s.close(); });

/** A raw GET (no URL normalisation by a client library). */
function get(path: string, method = 'GET'): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves the page, the modules and the engine with their MIME types', async () => {
  expect(s.url).toBe(`http://127.0.0.1:${s.port}/`);
  const index = await get('/');
  expect(index.status).toBe(200);
  expect(index.type).toMatch(/^text\/html/);
  expect(index.body.toString()).toContain('/web/main.js');
  expect((await get('/web/main.js')).type).toMatch(/^text\/javascript/);
  expect((await get('/web/demo.css')).type).toMatch(/^text\/css/);
  const mod = await get('/dist/src/web/demo.js');
  expect(mod.status).toBe(200);
  expect(mod.type).toMatch(/^text\/javascript/);
  const wasm = await get('/build/vsmmu.wasm');
  expect(wasm.status).toBe(200);
  expect(wasm.type).toBe('application/wasm');
  expect([...wasm.body.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
  const head = await get('/build/vsmmu.wasm', 'HEAD');
  expect(head.status).toBe(200);
  expect(head.body.length).toBe(0);
});

test('refuses traversal, other folders, directories and other methods', async () => {
  for (const p of ['/../package.json', '/web/../package.json', '/web/%2e%2e/package.json', '/dist/..%2f..%2fetc/passwd',
    '/web/..%5c..%5cpackage.json', '/src/serve.ts', '/node_modules/jest/package.json', '/package.json', '/web/', '/dist',
    '/web/index.html%00.js', '/%E0%A4%A']) {
    expect([p, (await get(p)).status]).toEqual([p, 404]);
  }
  expect((await get('/', 'POST')).status).toBe(405);
  expect(resolveRequest(PACKAGE_ROOT, '/web/../../etc/passwd')).toBeNull();
  expect(resolveRequest(PACKAGE_ROOT, '/build/vsmmu.wasm')).toBe(`${PACKAGE_ROOT}build/vsmmu.wasm`);
});

test('nothing the page imports reaches for node: modules', async () => {
  // walk the module graph from the page's entry the way a browser does
  const seen = new Set<string>();
  const queue = ['/dist/src/web/demo.js'];
  while (queue.length) {
    const p = queue.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    const r = await get(p);
    expect([p, r.status]).toEqual([p, 200]);
    const src = r.body.toString();
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1];
      expect([p, spec.startsWith('node:')]).toEqual([p, false]);
      queue.push(new URL(spec, `http://x${p}`).pathname);
    }
  }
  expect(seen.size).toBeGreaterThan(10);
});
