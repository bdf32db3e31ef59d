// Loads the WebAssembly engine (build/vsmmu.wasm) in Node or in a browser, once per
// process, and instantiates it per device with the host's imports.

// The boundary with the engine, written once: the signature of every function the module
// exports and imports, as a string of value types ('i' = i32, a JS number; 'j' = i64, a
// bigint), '>' and the result ('v' = none). The TypeScript types below are derived from
// these tables, and test/boundary.test.ts checks them against the built modules (names,
// kinds, parameter and result types), so neither side can drift from the other.

/** Exported functions (parameters in the comment); the module also exports its `memory`. */
export const ENGINE_FUNCTIONS = {
  init: 'i>v', // (profile: PF_*)
  device_reset: '>v',
  mmio_read32: 'i>i', // (offset)
  mmio_read64: 'i>j', // (offset)
  mmio_write32: 'ii>i', // (offset, value) -> CQ_*
  mmio_write64: 'ij>i', // (offset, value) -> CQ_*
  cmdq_consume: '>i', // -> CQ_*
  add_ram: 'iiii>i', // (baseLo, baseHi, sizeLo, sizeHi) -> pointer to the region, 0 when refused
  set_host_memory: 'i>v', // (on)
  set_local_caches: 'i>v', // (on)
  set_device: 'ii>v', // (sid, present)
  translate: 'iiii>i', // (sid, iovaLo, iovaHi, access: ACC_*) -> XS_*, result at xo_ptr()
  xo_ptr: '>i',
  translate_batch: 'i>v', // (n requests at batch_ptr())
  batch_ptr: '>i',
  dma_run: 'iiiii>i', // (sid, iovaLo, iovaHi, len, write) -> bytes done
  dma_buf_ptr: '>i',
  dma_failed: '>i',
  irq_ptr: '>i',
  stats_ptr: '>i',
  iotlb_count: '>i',
  set_trace: 'i>v', // (on)
  trace_ptr: '>i',
  trace_take: '>i', // -> records waiting at trace_ptr()
  heap_top: '>i',
  set_backend: 'ii>i', // (index, vmid) -> 0 when refused
  vdev_bind: 'iii>i', // (vsid, backend, psid) -> 0 when refused
  vdev_unbind: 'i>i', // (vsid)
  vdev_has_psid: 'ii>i', // (backend, psid)
  vasid_mask: 'i>i', // (asid) -> backends that learned it
  wildcard_mask: '>i',
  set_vasid_table: 'i>v', // (on)
  fwd_log_ptr: '>i',
  fwd_count: '>i',
  fwd_done: 'i>v', // (failIndex: -1 when every entry was applied)
  bev_ptr: '>i',
  backend_event: 'i>i', // (backend) -> 1 when delivered
  debug_iotlb_insert: 'ijiijji>v', // (asid, iova, tg, level, ta, mask, perm)
  debug_iotlb_entry: 'i>i', // (index) -> pointer to the IE_* entry
  debug_config_cached: 'i>i', // (sid)
  debug_config_load: 'i>i', // (sid)
} as const;

/** Functions the module imports from "env" (parameters in the comment). */
export const ENGINE_IMPORTS = {
  host_read: 'iiii>i', // (addrLo, addrHi, len, dst) -> 1 when read
  host_write: 'iiii>i', // (addrLo, addrHi, len, src) -> 1 when written
  trace_flush: 'i>v', // (count of records at trace_ptr())
} as const;

type Value<C> = C extends 'j' ? bigint : number;
type Params<S> = S extends `${infer C}${infer R}` ? [Value<C>, ...Params<R>] : [];
type Fn<S> = S extends `${infer P}>${infer R}` ? (...args: Params<P>) => R extends 'v' ? void : Value<R> : never;

/** The engine's exports, as ENGINE_FUNCTIONS declares them. */
export type EngineExports = { memory: WebAssembly.Memory } & {
  readonly [K in keyof typeof ENGINE_FUNCTIONS]: Fn<(typeof ENGINE_FUNCTIONS)[K]>;
};

/** What the host provides. */
export type EngineImports = {
  [K in keyof typeof ENGINE_IMPORTS]: Fn<(typeof ENGINE_IMPORTS)[K]>;
};

let compiled: Promise<WebAssembly.Module> | undefined;
let wasmOverride: Uint8Array | undefined;

/** Uses these bytes instead of build/vsmmu.wasm (e.g. the debug build in tests). */
export function setEngineBytes(bytes: Uint8Array): void {
  wasmOverride = bytes;
  compiled = undefined;
}

async function loadBytes(): Promise<Uint8Array> {
  if (wasmOverride) return wasmOverride;
  const url = new URL('../../build/vsmmu.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    // VSMMU_ENGINE_WASM=<file>: another build of the engine (the mutation check's mutants, a bisect)
    const other = typeof process === 'undefined' ? undefined : process.env.VSMMU_ENGINE_WASM;
    return new Uint8Array(await fs.readFile(other || url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`vsmmu: cannot load the engine from ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export function compileEngine(): Promise<WebAssembly.Module> {
  if (!compiled) compiled = loadBytes().then((b) => WebAssembly.compile(b as BufferSource));
  return compiled;
}

export async function instantiateEngine(imports: EngineImports): Promise<EngineExports> {
  const module = await compileEngine();
  // exactly ENGINE_IMPORTS (the release and debug builds import no `abort`: no assertions are compiled in)
  const env: EngineImports = {
    host_read: (lo, hi, len, dst) => imports.host_read(lo, hi, len, dst),
    host_write: (lo, hi, len, src) => imports.host_write(lo, hi, len, src),
    trace_flush: (n) => imports.trace_flush(n),
  };
  const inst = await WebAssembly.instantiate(module, { env });
  return inst.exports as unknown as EngineExports;
}
