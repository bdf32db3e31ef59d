// Where the engine's WebAssembly comes from: by default `vsmmu.wasm` next to this module,
// referenced as `new URL('./vsmmu.wasm', import.meta.url)` (the form Vite, webpack, Rollup and
// Parcel rewrite into an asset URL); or whatever the embedder hands to `createSmmu({ wasm })`.
// No Node built-in is imported: a `file:` URL (Node, or a bundle run by Node) is read through
// `process.getBuiltinModule('node:fs/promises')` at run time, so a browser bundle never
// reaches node:fs, and everything else is fetched.

/**
 * The engine's WebAssembly, as `createSmmu({ wasm })` accepts it: a URL (or URL string) to
 * fetch (`file:` URLs are read in Node), the bytes, a `Response` (or a promise of one, e.g.
 * `fetch(...)`), or a compiled `WebAssembly.Module`.
 */
export type WasmSource = URL | string | ArrayBuffer | ArrayBufferView | Response | PromiseLike<Response> | WebAssembly.Module;

/** The engine shipped with the package: `vsmmu.wasm` beside this module. */
export function defaultWasmUrl(): URL {
  return new URL('./vsmmu.wasm', import.meta.url);
}

interface NodeFs { readFile(path: URL): Promise<Uint8Array> }

function nodeFs(): NodeFs | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.('node:fs/promises') as NodeFs | undefined;
}

const HINT = 'pass the engine to createSmmu({ wasm }) as a URL, bytes, a Response or a WebAssembly.Module (README "Bundlers")';

async function fromUrl(url: URL): Promise<WebAssembly.Module> {
  if (url.protocol === 'file:') {
    const fs = nodeFs();
    if (!fs) throw new Error(`vsmmu: cannot read ${url.href} here (no node:fs); ${HINT}`);
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(url);
    } catch (err) {
      throw new Error(`vsmmu: cannot read the engine ${url.href}: ${(err as Error).message}; ${HINT}`);
    }
    return compileBytes(bytes, url.href);
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`vsmmu: cannot fetch the engine ${url.href}: ${(err as Error).message}; ${HINT}`);
  }
  return fromResponse(res);
}

async function fromResponse(res: Response): Promise<WebAssembly.Module> {
  if (!res.ok) throw new Error(`vsmmu: cannot load the engine from ${res.url || 'a Response'}: HTTP ${res.status}; ${HINT}`);
  return compileBytes(new Uint8Array(await res.arrayBuffer()), res.url || 'a Response');
}

async function compileBytes(bytes: Uint8Array, what: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as BufferSource);
  } catch (err) {
    throw new Error(`vsmmu: ${what} is not a WebAssembly module: ${(err as Error).message}`);
  }
}

const isResponse = (s: unknown): s is Response => typeof Response !== 'undefined' && s instanceof Response;

/** Compiles the engine from any `WasmSource`. */
export async function compileWasm(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof URL) return fromUrl(source);
  if (typeof source === 'string') {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    if (!URL.canParse(source, base)) throw new TypeError(`vsmmu: wasm: not a URL: ${JSON.stringify(source)} (give an absolute URL, a URL object, or the bytes)`);
    return fromUrl(new URL(source, base));
  }
  if (source instanceof ArrayBuffer) return compileBytes(new Uint8Array(source), 'the given bytes');
  if (ArrayBuffer.isView(source)) return compileBytes(new Uint8Array(source.buffer, source.byteOffset, source.byteLength), 'the given bytes');
  if (isResponse(source)) return fromResponse(source);
  if (source && typeof (source as PromiseLike<Response>).then === 'function') {
    const r = await source;
    if (isResponse(r)) return fromResponse(r);
  }
  throw new TypeError(`vsmmu: wasm must be a URL, bytes, a Response or a WebAssembly.Module, got ${Object.prototype.toString.call(source)}`);
}
