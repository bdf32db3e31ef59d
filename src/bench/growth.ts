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
}

function spaces(): Record<string, number> {
  const o: Record<string, number> = {};
  for (const s of v8.getHeapSpaceStatistics()) o[s.space_name] = s.space_used_size;
  return o;
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

  const runs = Math.max(1, Math.ceil(commands / n));
  const xlates = Math.max(1, translations);
  const oneRun = () => {
    guest.resetStreamQueue();
    smmu.mmioWrite(R.R_CMDQ_PROD, 4, n);
  };
  const iovas = new Float64Array(CACHED_PAGES);
  for (let p = 0; p < CACHED_PAGES; p++) iovas[p] = IOVA_BASE + p * 4096;
  let sink = 0;
  const translateMany = (count: number) => {
    for (let k = 0; k < count; k++) sink += smmu.translate(TLB_DEVICE, iovas[k & (CACHED_PAGES - 1)], 'read').addr;
  };

  const workload = () => {
    for (let i = 0; i < runs; i++) oneRun();
    translateMany(xlates);
  };
  // warm-up: the same work once (staging buffer, config and IOTLB entries, JIT and OSR code)
  workload();
  fullGc();
  const sp0 = spaces();
  const heap0 = process.memoryUsage().heapUsed;
  const wasm0 = smmu.wasmMemoryBytes;
  const c0 = smmu.stats().commands;
  const x0 = smmu.stats().translations;
  workload();
  fullGc();
  const heap1 = process.memoryUsage().heapUsed;
  const sp1 = spaces();
  if (process.env.VSMMU_GROWTH_DEBUG) for (const k in sp1) if (sp1[k] !== sp0[k]) console.error('growth', k, sp1[k] - sp0[k]);
  const wasm1 = smmu.wasmMemoryBytes;
  const done = smmu.stats().commands - c0;
  const xdone = smmu.stats().translations - x0;
  if (done !== runs * n || xdone !== xlates || !Number.isFinite(sink)) {
    throw new Error(`bench: growth run did ${done} commands and ${xdone} translations, wanted ${runs * n} and ${xlates}`);
  }
  const heapBytes = heap1 - heap0;
  const wasmBytes = wasm1 - wasm0;
  return { commands: done, translations: xdone, heapBytes, wasmBytes, growthBytes: Math.max(0, heapBytes) + wasmBytes };
}
