// Loads the WebAssembly engine (vsmmu.wasm beside this module, or the embedder's
// `createSmmu({ wasm })`, see ./wasm-source.ts) once per process, and instantiates it per
// device with the host's imports.

import { compileWasm, defaultWasmUrl, type WasmSource } from './wasm-source.js';

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
  fwd_count: '>i',
  fwd_out_ptr: '>i', // -> per-backend output header (FWH_*)
  fwd_done: 'i>v', // (result: FWR_DONE, FWR_ERROR or the failed entry, as fwd_flush answers)
  bev_ptr: '>i',
  backend_event: 'i>i', // (backend) -> 1 when delivered
  snap_ptr: '>i',
  snap_chunk_ptr: '>i',
  snap_chunk_records: 'i>i', // (section)
  snap_save: 'i>i', // (withCaches)
  snap_export: 'ii>i', // (section, first)
  snap_check: '>i',
  snap_check_records: 'ii>i', // (section, n)
  snap_apply: '>v',
  snap_import: 'ii>v', // (section, n)
  snap_import_wildcard: '>v',
  snap_arrive: '>i',
  drop_caches: '>v',
  debug_iotlb_insert: 'ijiijji>v', // (asid, iova, tg, level, ta, mask, perm)
  debug_iotlb_insert_key: 'iijiijji>v', // (asid, vmid, iova, tg, level, ta, mask, perm): ASID/VMID 0..0xffff or KEY_NONE
  debug_iotlb_entry: 'i>i', // (index) -> pointer to the IE_* entry
  debug_config_cached: 'i>i', // (sid)
  debug_config_load: 'i>i', // (sid)
} as const;

/** Functions the module imports from "env" (parameters in the comment). */
export const ENGINE_IMPORTS = {
  host_read: 'jii>i', // (addr, len, dst) -> 1 when read
  host_write: 'jii>i', // (addr, len, src) -> 1 when written
  trace_flush: 'i>v', // (count of records at trace_ptr())
  fwd_flush: 'i>i', // (limit: command index of a command error behind the entries, FWT_INDEX when none) -> FWR_* or the failed entry
} as const;

type Value<C> = C extends 'j' ? bigint : number;
type Params<S> = S extends `${infer C}${infer R}` ? [Value<C>, ...Params<R>] : [];
type Fn<S> = S extends `${infer P}>${infer R}` ? (...args: Params<P>) => R extends 'v' ? void : Value<R> : never;

/** The engine's exports, as ENGINE_FUNCTIONS declares them. */
export type EngineExports = { memory: WebAssembly.Memory } & {
  readonly [K in keyof typeof ENGINE_FUNCTIONS]: Fn<(typeof ENGINE_FUNCTIONS)[K]>;
};

/**
 * The host side of the engine's imports (ENGINE_IMPORTS), with unsigned arguments: `addr`
 * is the 64-bit guest physical address as a non-negative bigint, `len` and the pointer are
 * u32 values as non-negative numbers (WebAssembly hands i32 to JavaScript signed; that
 * conversion happens here, once, for every import).
 */
export type EngineImports = {
  [K in keyof typeof ENGINE_IMPORTS]: Fn<(typeof ENGINE_IMPORTS)[K]>;
};

/**
 * Exports whose result is a u32 (pointers into the engine's memory, counts, masks):
 * WebAssembly returns them as signed i32, so a pointer past 2^31 (RAM regions of 2 GiB
 * and more) would arrive negative. They are wrapped to read unsigned, once, here.
 */
const UNSIGNED_RESULTS = [
  'add_ram', 'xo_ptr', 'batch_ptr', 'dma_buf_ptr', 'irq_ptr', 'stats_ptr', 'trace_ptr', 'fwd_out_ptr', 'bev_ptr',
  'heap_top', 'debug_iotlb_entry', 'dma_run', 'dma_failed', 'fwd_count', 'iotlb_count', 'trace_take',
  'vasid_mask', 'wildcard_mask', 'snap_ptr', 'snap_chunk_ptr', 'snap_chunk_records', 'snap_save', 'snap_export',
  'snap_check', 'snap_check_records', 'snap_arrive',
] as const;

let compiled: Promise<WebAssembly.Module> | undefined;
let wasmOverride: Uint8Array | undefined;

/** Uses these bytes instead of the packaged vsmmu.wasm (e.g. the debug build in tests). */
export function setEngineBytes(bytes: Uint8Array): void {
  wasmOverride = bytes;
  compiled = undefined;
}

/** VSMMU_ENGINE_WASM=<absolute path> (Node): another build of the engine (the mutation check's mutants, a bisect). */
function envWasm(): URL | undefined {
  const f = typeof process === 'undefined' ? undefined : process.env?.VSMMU_ENGINE_WASM;
  return f ? new URL(`file://${f.startsWith('/') ? '' : '/'}${f}`) : undefined;
}

/** The engine module: from `source` when given, else the packaged one (compiled once). */
export function compileEngine(source?: WasmSource): Promise<WebAssembly.Module> {
  if (source !== undefined) return compileWasm(source);
  if (!compiled) {
    compiled = compileWasm(wasmOverride ?? envWasm() ?? defaultWasmUrl());
    compiled.catch(() => { compiled = undefined; }); // a failed load is retried on the next call
  }
  return compiled;
}

/**
 * Awaits `p` with a timer holding the event loop open. A WebAssembly compile or
 * instantiation settles through V8's own task queue, not through a libuv handle: with
 * nothing else pending, Node's loop counts as empty, and Node 20 then blocks until every
 * V8 background job is done (NodePlatform::DrainTasks). That deadlocks when one of them,
 * a concurrent optimisation, waits for the main thread to collect garbage
 * (nodejs/node#54918; seen here as a rare hang of `vsmmu topo`, which creates many models).
 */
async function holdingLoop<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1 << 30);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}

export async function instantiateEngine(imports: EngineImports, source?: WasmSource): Promise<EngineExports> {
  const module = await holdingLoop(compileEngine(source));
  // exactly ENGINE_IMPORTS (no `abort`: neither build compiles assertions in)
  const env: EngineImports = {
    host_read: (addr: bigint, len: number, dst: number) => imports.host_read(BigInt.asUintN(64, addr), len >>> 0, dst >>> 0),
    host_write: (addr: bigint, len: number, src: number) => imports.host_write(BigInt.asUintN(64, addr), len >>> 0, src >>> 0),
    trace_flush: (n: number) => imports.trace_flush(n >>> 0),
    fwd_flush: (n: number) => imports.fwd_flush(n >>> 0),
  };
  const inst = await holdingLoop(WebAssembly.instantiate(module, { env }));
  const raw = inst.exports as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...raw };
  for (const name of UNSIGNED_RESULTS) {
    const f = raw[name] as (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => number;
    out[name] = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => f(a, b, c, d, e) >>> 0; // (at most 5 parameters)
  }
  return out as unknown as EngineExports;
}
