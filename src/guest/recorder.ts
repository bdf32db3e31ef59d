// Records what a guest driver does to the model as a vsmmu-trace (every register and
// memory read becomes an expectation with the model's answer), so that a program run
// once can be replayed as a regression trace.

import type { Smmu } from '../smmu.js';
import type { SimulatedPsmmu } from '../backends/simulated.js';
import type { GuestBus } from './driver.js';
import { opToJson, type Op } from '../conformance/scenario.js';
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

/** SHA-256 (hex) without node:crypto, so that recording also works in a browser. */
export function sha256Hex(data: Uint8Array): string {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const len = data.length;
  const padded = new Uint8Array(Math.ceil((len + 9) / 64) * 64);
  padded.set(data);
  padded[len] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, Math.floor(len / 0x20000000), false);
  dv.setUint32(padded.length - 4, (len * 8) >>> 0, false);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4, false);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('');
}
