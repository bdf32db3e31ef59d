// The operations of a vsmmu-trace (docs/trace-format.md) as values, their JSON form, and
// one way to apply them to anything that answers them: the model, QEMU over qtest, or a
// recorder. Browser-safe (no node: imports).

import type { GuestBus } from './guest/driver.js';
import type { Smmu } from './smmu.js';
import { sha256Hex } from './sha256.js';
import { hex, parseNum } from './bits.js';
import { SMMU_MMIO_SIZE } from './arch/registers.js';

export type Op =
  | { op: 'mmio_write'; offset: number; size: number; value: bigint }
  | { op: 'mmio_read'; offset: number; size: number; expect?: bigint }
  | { op: 'mem_write'; addr: number; size: number; value: bigint }
  | { op: 'mem_fill'; addr: number; hex: string }
  | { op: 'mem_read'; addr: number; size: number; expect?: bigint }
  | { op: 'mem_digest'; addr: number; len: number; expect?: string }
  | { op: 'dma'; sid: number; src: bigint; dst: bigint; len: number }
  | { op: 'migrate' };

const hx = hex;

/** The trace format's JSON object for one operation. */
export function opToJson(o: Op): Record<string, unknown> {
  switch (o.op) {
    case 'mmio_write': return { op: o.op, offset: hx(o.offset), size: o.size, value: hx(o.value) };
    case 'mmio_read': return o.expect === undefined ? { op: o.op, offset: hx(o.offset), size: o.size } : { op: o.op, offset: hx(o.offset), size: o.size, expect: hx(o.expect) };
    case 'mem_write': return { op: o.op, addr: hx(o.addr), size: o.size, value: hx(o.value) };
    case 'mem_fill': return { op: o.op, addr: hx(o.addr), hex: o.hex };
    case 'mem_read': return o.expect === undefined ? { op: o.op, addr: hx(o.addr), size: o.size } : { op: o.op, addr: hx(o.addr), size: o.size, expect: hx(o.expect) };
    case 'mem_digest': return o.expect === undefined ? { op: o.op, addr: hx(o.addr), len: o.len } : { op: o.op, addr: hx(o.addr), len: o.len, expect: o.expect };
    case 'dma': return { op: o.op, sid: hx(o.sid), src: hx(o.src), dst: hx(o.dst), len: o.len };
    case 'migrate': return { op: o.op };
  }
}

/** A trace number (hex string or integer) as a number / a bigint. */
export function num(v: unknown, what = 'operation field'): number {
  const b = parseNum(v, what);
  if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: ${hex(b)} is beyond 2^53`);
  return Number(b);
}
const big = (v: unknown, what = 'operation field'): bigint => parseNum(v, what);

/**
 * Most bytes one operation may move or hash (mem_fill, mem_digest, dma): 16 MiB, 4096
 * times what recorded traces use; larger values are refused as they are read.
 */
export const MAX_OP_BYTES = 1 << 24;
const ACCESS_SIZES = [1, 2, 4, 8];

function size(v: unknown): number {
  const n = num(v, 'size');
  if (!ACCESS_SIZES.includes(n)) throw new Error(`size: must be 1, 2, 4 or 8, got ${n}`);
  return n;
}
function length(v: unknown, what: string): number {
  const n = num(v, what);
  if (n > MAX_OP_BYTES) throw new Error(`${what}: ${n} bytes is over the limit of ${MAX_OP_BYTES}`);
  return n;
}
function address(v: unknown, what: string, len: number): number {
  const a = num(v, what);
  if (a + len > Number.MAX_SAFE_INTEGER + 1) throw new Error(`${what}: ${hex(a)} + ${len} bytes passes 2^53`);
  return a;
}
function value(v: unknown, bytes: number, what: string): bigint {
  const b = big(v, what);
  if (b >> BigInt(8 * bytes) !== 0n) throw new Error(`${what}: ${hex(b)} does not fit ${bytes} bytes`);
  return b;
}
function offset(v: unknown, bytes: number): number {
  const o = num(v, 'offset');
  if (o + bytes > SMMU_MMIO_SIZE) throw new Error(`offset: ${hex(o)} + ${bytes} is outside the 128 KiB register region`);
  return o;
}

/** Parses one trace operation (the inverse of opToJson; expects are kept); every field is checked. */
export function opFromJson(j: Record<string, unknown>): Op {
  switch (j.op) {
    case 'mmio_write': { const sz = size(j.size); return { op: 'mmio_write', offset: offset(j.offset, sz), size: sz, value: value(j.value, sz, 'value') }; }
    case 'mmio_read': { const sz = size(j.size); return { op: 'mmio_read', offset: offset(j.offset, sz), size: sz, ...(j.expect !== undefined ? { expect: value(j.expect, sz, 'expect') } : {}) }; }
    case 'mem_write': { const sz = size(j.size); return { op: 'mem_write', addr: address(j.addr, 'addr', sz), size: sz, value: value(j.value, sz, 'value') }; }
    case 'mem_fill': {
      if (typeof j.hex !== 'string' || j.hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(j.hex)) throw new Error('hex: expected an even-length hex string');
      if (j.hex.length / 2 > MAX_OP_BYTES) throw new Error(`hex: ${j.hex.length / 2} bytes is over the limit of ${MAX_OP_BYTES}`);
      return { op: 'mem_fill', addr: address(j.addr, 'addr', j.hex.length / 2), hex: j.hex };
    }
    case 'mem_read': { const sz = size(j.size); return { op: 'mem_read', addr: address(j.addr, 'addr', sz), size: sz, ...(j.expect !== undefined ? { expect: value(j.expect, sz, 'expect') } : {}) }; }
    case 'mem_digest': {
      const len = length(j.len, 'len');
      if (j.expect !== undefined && (typeof j.expect !== 'string' || j.expect.length > 64)) throw new Error('expect: a mem_digest expects a SHA-256 as a hex string');
      return { op: 'mem_digest', addr: address(j.addr, 'addr', len), len, ...(j.expect !== undefined ? { expect: j.expect as string } : {}) };
    }
    case 'dma': {
      const sid = num(j.sid, 'sid');
      if (sid > 0xffffffff) throw new Error(`sid: ${hex(sid)} is not a 32-bit StreamID`);
      const len = length(j.len, 'len');
      const src = big(j.src, 'src'), dst = big(j.dst, 'dst');
      if (src >> 64n || dst >> 64n) throw new Error('src/dst: IOVAs are 64-bit');
      return { op: 'dma', sid, src, dst, len };
    }
    case 'migrate':
      if (j.viommu !== undefined) break; // the vIOMMU form exists on the model only
      return { op: 'migrate' };
  }
  throw new Error(`unsupported op ${JSON.stringify(j.op)} (QEMU recording knows the plain profile's ops only)`);
}

export function leBytes(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

export function fromLe(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error('hex: expected an even-length hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

/** What the operations act on. The optional methods override the generic paths. */
export interface OpTarget extends GuestBus {
  /** The device `sid` copies `len` bytes from IOVA `src` to IOVA `dst` (read all, then write all). */
  dmaCopy(sid: number, src: bigint, dst: bigint, len: number): void;
  /** A CPU store of `size` bytes (else writeMemory of the little-endian bytes). */
  memWrite?(addr: number, size: number, value: bigint): void;
  /** A CPU load of `size` bytes (else readMemory). */
  memRead?(addr: number, size: number): bigint;
  /** SHA-256 of guest memory; without it mem_digest observes nothing (''). */
  digest?(addr: number, len: number): string;
}

/** Applies one operation; returns the observed value of an observation (mmio_read, mem_read, mem_digest). */
export function applyOp(t: OpTarget, o: Op): bigint | string | undefined {
  switch (o.op) {
    case 'mmio_write':
      t.mmioWrite(o.offset, o.size, o.value);
      return undefined;
    case 'mmio_read':
      return BigInt(t.mmioRead(o.offset, o.size));
    case 'mem_write':
      if (t.memWrite) t.memWrite(o.addr, o.size, o.value);
      else t.writeMemory(o.addr, leBytes(o.value, o.size));
      return undefined;
    case 'mem_fill':
      t.writeMemory(o.addr, hexToBytes(o.hex));
      return undefined;
    case 'mem_read':
      return t.memRead ? t.memRead(o.addr, o.size) : fromLe(t.readMemory(o.addr, o.size));
    case 'mem_digest':
      return t.digest ? t.digest(o.addr, o.len) : '';
    case 'dma':
      t.dmaCopy(o.sid, o.src, o.dst, o.len);
      return undefined;
    case 'migrate':
      // moving a machine is asynchronous: the caller does it (replay.ts, conformance/record.ts)
      throw new Error('migrate: applied by the caller, not by applyOp');
  }
}

/** The model as an operation target (`digest: false` skips hashing where nobody looks). */
export function smmuTarget(smmu: Smmu, opts: { digest?: boolean } = {}): OpTarget {
  return {
    mmioRead: (off, size) => smmu.mmioRead(off, size),
    mmioWrite: (off, size, v) => smmu.mmioWrite(off, size, v),
    readMemory: (a, n) => smmu.readMemory(a, n),
    writeMemory: (a, d) => smmu.writeMemory(a, d),
    dmaCopy: (sid, src, dst, len) => {
      const buf = new Uint8Array(len);
      smmu.dma64(sid, src, 'read', buf);
      smmu.dma64(sid, dst, 'write', buf);
    },
    digest: opts.digest === false ? undefined : (a, n) => sha256Hex(smmu.readMemory(a, n)),
  };
}
