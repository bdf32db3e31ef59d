// Memory growth of a long-running model: the JS heap (after full collections) and the
// engine's WebAssembly memory, before and after many commands and translations, once
// warmed up. The model runs in callback-memory mode (guest RAM belongs to the host and
// is reached through the memory callbacks), the mode in which the engine stages queue
// entries in a buffer it allocates on first use.

import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { createSmmu } from '../smmu.js';
import * as R from '../arch/registers.js';
import { BenchGuest } from './setup.js';
import { EMULATED, ENGINE_RAM_SIZE, IOVA_BASE, RAM_BASE, STREAM_QUEUE, CACHED_PAGES, TLB_DEVICE, type StreamSpec, streamBytes } from './streams.js';

export interface GrowthResult {
  commands: number;
  translations: number;
  heapBytes: number;
  wasmBytes: number;
  /** heapBytes (when positive) + wasmBytes. */
  growthBytes: number;
  /** JS heap growth of each measured window (the smallest is heapBytes). */
  attempts: number[];
}

let gcFn: (() => void) | undefined;

/** A full garbage collection (exposes V8's gc() on first use). */
export function fullGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  for (let i = 0; i < 4; i++) gcFn!();
}

/**
 * `commands` commands of `spec` (runs of `n`) and `translations` translate() calls (IOTLB
 * hits of an emulated device) on a warmed-up model; the growth of its memory.
 */
export async function growthBench(spec: StreamSpec, n: number, commands: number, translations: number): Promise<GrowthResult> {
  const host = new Uint8Array(ENGINE_RAM_SIZE);
  const inRam = (a: number, len: number) => a >= RAM_BASE && a + len <= RAM_BASE + host.length;
  const smmu = await createSmmu({
    devices: EMULATED,
    memory: {
      read: (a, dst) => {
        if (!inRam(a, dst.length)) return false;
        dst.set(host.subarray(a - RAM_BASE, a - RAM_BASE + dst.length));
        return true;
      },
      write: (a, src) => {
        if (!inRam(a, src.length)) return false;
        host.set(src, a - RAM_BASE);
        return true;
      },
    },
  });
  const guest = new BenchGuest(smmu, (sid, iova) => {
    if (!smmu.translate(sid, iova, 'read').ok) throw new Error('bench: growth set-up access failed');
  });
  guest.init();
  host.set(streamBytes(spec, n), STREAM_QUEUE - RAM_BASE);
  guest.populate();
  guest.useStreamQueue();

  const oneRun = () => {
    guest.resetStreamQueue();
    smmu.mmioWrite(R.R_CMDQ_PROD, 4, n);
  };
  const iovas = new Float64Array(CACHED_PAGES);
  for (let p = 0; p < CACHED_PAGES; p++) iovas[p] = IOVA_BASE + p * 4096;
  let sink = 0;
  const workload = (cmds: number, xlates: number) => {
    for (let i = 0, runs = Math.ceil(cmds / n); i < runs; i++) oneRun();
    for (let k = 0; k < xlates; k++) sink += smmu.translate(TLB_DEVICE, iovas[k & (CACHED_PAGES - 1)], 'read').addr;
  };
  const heap = () => {
    fullGc();
    return process.memoryUsage().heapUsed;
  };

  // Warm-up in chunks of a tenth of the work until the heap stops moving: the staging
  // buffer, config and IOTLB entries, and V8's own settling (optimised code, feedback).
  const chunkCmds = Math.max(1, Math.ceil(commands / 10)), chunkXlates = Math.max(1, Math.ceil(translations / 10));
  let prev = heap();
  for (let i = 0, still = 0; i < 40 && still < 3; i++) {
    workload(chunkCmds, chunkXlates);
    const h = heap();
    still = h === prev ? still + 1 : 0;
    prev = h;
  }
  // Then the whole work; a one-off V8 allocation can still land in a window, so up to
  // three windows are measured and the smallest growth counts (a leak shows in each).
  const wasm0 = smmu.wasmMemoryBytes;
  const c0 = smmu.stats().commands;
  const x0 = smmu.stats().translations;
  const attempts: number[] = [];
  for (let a = 0; a < 3; a++) {
    const h0 = heap();
    workload(commands, translations);
    attempts.push(heap() - h0);
    if (attempts[a] <= 0) break;
  }
  const wasm1 = smmu.wasmMemoryBytes;
  const done = smmu.stats().commands - c0;
  const xdone = smmu.stats().translations - x0;
  const runsPer = Math.ceil(commands / n);
  if (done !== attempts.length * runsPer * n || xdone !== attempts.length * translations || !Number.isFinite(sink)) {
    throw new Error(`bench: growth run did ${done} commands and ${xdone} translations, wanted ${attempts.length * runsPer * n} and ${attempts.length * translations}`);
  }
  const heapBytes = Math.min(...attempts);
  const wasmBytes = wasm1 - wasm0;
  return { commands: runsPer * n, translations, heapBytes, wasmBytes, growthBytes: Math.max(0, heapBytes) + wasmBytes, attempts };
}
