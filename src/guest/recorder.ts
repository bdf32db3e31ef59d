// Records what a guest driver does to the model as a vsmmu-trace (every register and
// memory read becomes an expectation with the model's answer), so that a program run
// once can be replayed as a regression trace.

import type { Smmu } from '../smmu.js';
import type { SimulatedPsmmu } from '../backends/simulated.js';
import type { GuestBus } from './driver.js';
import { opToJson, type Op } from '../ops.js';
import { sha256Hex } from '../sha256.js';
import { toHex } from '../backends/simulated.js';

export class TraceRecorder implements GuestBus {
  readonly lines: Array<Record<string, unknown>> = [];
  private readonly seen = new Map<string, number>();

  constructor(readonly smmu: Smmu, readonly backends: Map<string, SimulatedPsmmu> = new Map()) {}

  private push(o: Op): void {
    this.lines.push(opToJson(o));
  }

  mmioRead(offset: number, size: number): number | bigint {
    const v = this.smmu.mmioRead(offset, size);
    this.push({ op: 'mmio_read', offset, size, expect: BigInt(v) });
    return v;
  }

  mmioWrite(offset: number, size: number, value: number | bigint): void {
    this.push({ op: 'mmio_write', offset, size, value: BigInt.asUintN(size * 8, BigInt(value)) });
    this.smmu.mmioWrite(offset, size, value);
  }

  readMemory(addr: number, length: number): Uint8Array {
    const b = this.smmu.readMemory(addr, length);
    if (length === 1 || length === 2 || length === 4 || length === 8) {
      let v = 0n;
      for (let i = length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
      this.push({ op: 'mem_read', addr, size: length, expect: v });
    } else if (length > 0) {
      this.lines.push({ op: 'mem_digest', addr: '0x' + addr.toString(16), len: length, expect: sha256Hex(b) });
    }
    return b;
  }

  writeMemory(addr: number, data: Uint8Array): void {
    if (data.length === 8) {
      let v = 0n;
      for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(data[i]);
      this.push({ op: 'mem_write', addr, size: 8, value: v });
    } else if (data.length > 0) {
      this.push({ op: 'mem_fill', addr, hex: toHex(data) });
    }
    this.smmu.writeMemory(addr, data);
  }

  /** The device `sid` copies `len` bytes from IOVA `src` to IOVA `dst` (the trace spec's dma op). */
  dma(sid: number, src: number, dst: number, len: number): void {
    this.push({ op: 'dma', sid, src: BigInt(src), dst: BigInt(dst), len });
    const buf = new Uint8Array(len);
    this.smmu.dma(sid, src, 'read', buf);
    this.smmu.dma(sid, dst, 'write', buf);
  }

  /** backend_expect for every backend: what took effect there since the last one. */
  expectBackends(): void {
    for (const [name, b] of this.backends) {
      const from = this.seen.get(name) ?? 0;
      this.lines.push({ op: 'backend_expect', backend: name, expect: b.applied.slice(from) });
      this.seen.set(name, b.applied.length);
    }
  }

  /** backend_fail: backend `name` refuses the `at`-th entry it is given from now on. */
  failBackend(name: string, at: number): void {
    this.lines.push({ op: 'backend_fail', backend: name, at });
    this.backends.get(name)!.failAt(at);
  }

  /** backend_event: backend `name` reports a physical event record. */
  backendEvent(name: string, record: Uint8Array): void {
    this.lines.push({ op: 'backend_event', backend: name, record: toHex(record) });
    this.smmu.backendEvent(name, record);
  }

  /** The trace as JSON Lines with `header` first. */
  toJsonl(header: Record<string, unknown>): string {
    return [header, ...this.lines].map((l) => JSON.stringify(l)).join('\n') + '\n';
  }
}
