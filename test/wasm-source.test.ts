// createSmmu({ wasm }): every form of handing over the engine, and clear errors for the rest.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createSmmu, SimulatedPsmmu } from '../src/index.js';
import type { WasmSource } from '../src/index.js';

const WASM = new URL('../src/vsmmu.wasm', import.meta.url); // dist/src/vsmmu.wasm, beside the loader
const bytes = () => new Uint8Array(readFileSync(WASM));

/** A device made from `wasm` works: an emulated device with SMMUEN = 0 bypasses. */
async function works(wasm: WasmSource): Promise<string> {
  const smmu = await createSmmu({ devices: [8], wasm });
  return smmu.translate(8, 0x1000, 'read').status;
}

test.each<[string, () => WasmSource | Promise<WasmSource>]>([
  ['a file: URL', () => WASM],
  ['a URL string', () => WASM.href],
  ['a Uint8Array', bytes],
  ['an ArrayBuffer', () => bytes().slice().buffer],
  ['a DataView over part of a buffer', () => { const b = new Uint8Array(bytes().length + 8); b.set(bytes(), 8); return new DataView(b.buffer, 8); }],
  ['a Response', () => new Response(bytes())],
  ['a promise of a Response', () => Promise.resolve(new Response(bytes()))],
  ['a WebAssembly.Module', () => WebAssembly.compile(bytes())],
])('wasm: %s', async (_name, make) => {
  expect(await works(await make())).toBe('disabled');
});

test('the default: vsmmu.wasm beside the module', async () => {
  expect(await works(undefined as unknown as WasmSource)).toBe('disabled');
});

test('bad engines: errors that name the problem and the way out', async () => {
  await expect(createSmmu({ wasm: 42 as unknown as WasmSource })).rejects.toThrow(/wasm must be a URL, bytes, a Response or a WebAssembly.Module, got \[object Number\]/);
  await expect(createSmmu({ wasm: 'vsmmu.wasm' })).rejects.toThrow(/not a URL: "vsmmu.wasm"/);
  await expect(createSmmu({ wasm: new Uint8Array([1, 2, 3, 4]) })).rejects.toThrow(/the given bytes is not a WebAssembly module/);
  const missing = pathToFileURL('/nonexistent/vsmmu.wasm');
  await expect(createSmmu({ wasm: missing })).rejects.toThrow(/cannot read the engine file:\/\/\/nonexistent\/vsmmu.wasm: .*createSmmu\(\{ wasm \}\)/);
  await expect(createSmmu({ wasm: new Response('nope', { status: 404 }) })).rejects.toThrow(/HTTP 404/);
});

test('a backend is the embedder\'s choice: none is made up', async () => {
  await expect(createSmmu({ viommu: { backends: [{ name: 'p0', vmid: 1 } as never] } })).rejects.toThrow(/backend "p0" must implement invalidate/);
  const smmu = await createSmmu({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }] } });
  expect(smmu.backends.map((b) => b.name)).toEqual(['p0']);
});
