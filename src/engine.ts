// Loads the WebAssembly engine (vsmmu.wasm beside this module, or the embedder's
// `createSmmu({ wasm })`, see ./wasm-source.ts) once per process, and instantiates it per
// device with the host's imports.

import { compileWasm, defaultWasmUrl, type WasmSource } from './wasm-source.js';

export interface EngineExports {
  memory: WebAssembly.Memory;
  init(profile: number): void;
  device_reset(): void;
  mmio_read32(offset: number): number;
  mmio_read64(offset: number): bigint;
  mmio_write32(offset: number, value: number): number;
  mmio_write64(offset: number, value: bigint): number;
  cmdq_consume(): number;
  add_ram(baseLo: number, baseHi: number, sizeLo: number, sizeHi: number): number;
  set_host_memory(on: number): void;
  set_local_caches(on: number): void;
  set_device(sid: number, present: number): void;
  translate(sid: number, iovaLo: number, iovaHi: number, access: number): number;
  xo_ptr(): number;
  translate_batch(n: number): void;
  batch_ptr(): number;
  dma_run(sid: number, iovaLo: number, iovaHi: number, len: number, write: number): number;
  dma_buf_ptr(): number;
  dma_failed(): number;
  irq_ptr(): number;
  stats_ptr(): number;
  iotlb_count(): number;
  set_trace(on: number): void;
  trace_ptr(): number;
  trace_take(): number;
  heap_top(): number;
  set_backend(index: number, vmid: number): number;
  vdev_bind(vsid: number, backend: number, psid: number): number;
  vdev_unbind(vsid: number): number;
  vdev_has_psid(backend: number, psid: number): number;
  vasid_mask(asid: number): number;
  wildcard_mask(): number;
  set_vasid_table(on: number): void;
  fwd_log_ptr(): number;
  fwd_count(): number;
  fwd_done(failIndex: number): void;
  bev_ptr(): number;
  backend_event(backend: number): number;
  snap_ptr(): number;
  snap_chunk_ptr(): number;
  snap_chunk_records(section: number): number;
  snap_save(withCaches: number): number;
  snap_export(section: number, first: number): number;
  snap_check(): number;
  snap_check_records(section: number, n: number): number;
  snap_apply(): void;
  snap_import(section: number, n: number): void;
  snap_import_wildcard(): void;
  snap_arrive(): number;
  drop_caches(): void;
  debug_iotlb_insert(asid: number, iova: bigint, tg: number, level: number, ta: bigint, mask: bigint, perm: number): void;
  debug_iotlb_insert_key(asid: number, vmid: number, iova: bigint, tg: number, level: number, ta: bigint, mask: bigint, perm: number): void;
  debug_iotlb_entry(i: number): number;
  debug_config_cached(sid: number): number;
  debug_config_load(sid: number): number;
}

/**
 * The host side of the engine's imports, with unsigned arguments: `addr` is the 64-bit
 * guest physical address as a non-negative bigint, `len` and the pointer are u32 values
 * as non-negative numbers (WebAssembly hands i32 to JavaScript signed; that conversion
 * happens here, once, for every import).
 */
export interface EngineImports {
  host_read(addr: bigint, len: number, dst: number): number;
  host_write(addr: bigint, len: number, src: number): number;
  trace_flush(count: number): void;
}

/**
 * Exports whose result is a u32 (pointers into the engine's memory, counts, masks):
 * WebAssembly returns them as signed i32, so a pointer past 2^31 (RAM regions of 2 GiB
 * and more) would arrive negative. They are wrapped to read unsigned, once, here.
 */
const UNSIGNED_RESULTS = [
  'add_ram', 'xo_ptr', 'batch_ptr', 'dma_buf_ptr', 'irq_ptr', 'stats_ptr', 'trace_ptr', 'fwd_log_ptr', 'bev_ptr',
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

/** The engine module: from `source` when given, else the packaged one (compiled once). */
export function compileEngine(source?: WasmSource): Promise<WebAssembly.Module> {
  if (source !== undefined) return compileWasm(source);
  if (!compiled) {
    compiled = compileWasm(wasmOverride ?? defaultWasmUrl());
    compiled.catch(() => { compiled = undefined; }); // a failed load is retried on the next call
  }
  return compiled;
}

export async function instantiateEngine(imports: EngineImports, source?: WasmSource): Promise<EngineExports> {
  const module = await compileEngine(source);
  const env = {
    host_read: (addr: bigint, len: number, dst: number) => imports.host_read(BigInt.asUintN(64, addr), len >>> 0, dst >>> 0),
    host_write: (addr: bigint, len: number, src: number) => imports.host_write(BigInt.asUintN(64, addr), len >>> 0, src >>> 0),
    trace_flush: (n: number) => imports.trace_flush(n >>> 0),
    abort: (msg: number, file: number, line: number, col: number) => {
      throw new Error(`vsmmu engine assertion failed at ${line}:${col}`);
    },
  };
  const inst = await WebAssembly.instantiate(module, { env });
  const raw = inst.exports as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...raw };
  for (const name of UNSIGNED_RESULTS) {
    const f = raw[name] as (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => number;
    out[name] = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown) => f(a, b, c, d, e) >>> 0; // (at most 5 parameters)
  }
  return out as unknown as EngineExports;
}
