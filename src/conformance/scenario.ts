// Scenarios: a machine (devices) and a list of trace operations
// (../../shared/spec/vsmmu-trace.md). Observation operations get their `expect`
// when the scenario is recorded on QEMU; the result is a vsmmu-trace file.

import { RAM_BASE, RAM_SIZE, SMMU_BASE } from '../qtest/machine.js';

export type Op =
  | { op: 'mmio_write'; offset: number; size: number; value: bigint }
  | { op: 'mmio_read'; offset: number; size: number; expect?: bigint }
  | { op: 'mem_write'; addr: number; size: number; value: bigint }
  | { op: 'mem_fill'; addr: number; hex: string }
  | { op: 'mem_read'; addr: number; size: number; expect?: bigint }
  | { op: 'mem_digest'; addr: number; len: number; expect?: string }
  | { op: 'dma'; sid: number; src: bigint; dst: bigint; len: number };

export interface Scenario {
  /** File-name friendly name: <family>-<seed>. */
  name: string;
  family: string;
  seed: number;
  /** StreamIDs of the DMA engines. */
  devices: number[];
  ops: Op[];
  /** Opcodes the scenario published to the command queue (coverage). */
  opcodes: number[];
}

const hx = (v: number | bigint): string => '0x' + v.toString(16);

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
  }
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(BigInt(v));
  throw new Error(`not a number: ${JSON.stringify(v)}`);
}

function big(v: unknown): bigint {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  throw new Error(`not a number: ${JSON.stringify(v)}`);
}

/** Parses one trace operation (the inverse of opToJson; expects are kept). */
export function opFromJson(j: Record<string, unknown>): Op {
  switch (j.op) {
    case 'mmio_write': return { op: 'mmio_write', offset: num(j.offset), size: num(j.size), value: big(j.value) };
    case 'mmio_read': return { op: 'mmio_read', offset: num(j.offset), size: num(j.size), ...(j.expect !== undefined ? { expect: big(j.expect) } : {}) };
    case 'mem_write': return { op: 'mem_write', addr: num(j.addr), size: num(j.size), value: big(j.value) };
    case 'mem_fill': return { op: 'mem_fill', addr: num(j.addr), hex: String(j.hex) };
    case 'mem_read': return { op: 'mem_read', addr: num(j.addr), size: num(j.size), ...(j.expect !== undefined ? { expect: big(j.expect) } : {}) };
    case 'mem_digest': return { op: 'mem_digest', addr: num(j.addr), len: num(j.len), ...(j.expect !== undefined ? { expect: String(j.expect) } : {}) };
    case 'dma': return { op: 'dma', sid: num(j.sid), src: big(j.src), dst: big(j.dst), len: num(j.len) };
  }
  throw new Error(`unsupported op ${JSON.stringify(j.op)} (QEMU recording knows the plain profile's ops only)`);
}

export interface TraceHeaderInfo {
  name: string;
  devices: number[];
  origin: string;
}

export function traceHeader(h: TraceHeaderInfo): Record<string, unknown> {
  return {
    format: 'vsmmu-trace',
    version: 1,
    profile: 'qemu-7.2',
    name: h.name,
    smmu_base: hx(SMMU_BASE),
    ram: [{ base: hx(RAM_BASE), size: hx(RAM_SIZE) }],
    devices: h.devices.map((sid) => ({ sid: hx(sid) })),
    origin: h.origin,
  };
}

/** A vsmmu-trace file (JSON Lines) for a header and operations. */
export function traceText(h: TraceHeaderInfo, ops: readonly Op[]): string {
  return [JSON.stringify(traceHeader(h)), ...ops.map((o) => JSON.stringify(opToJson(o)))].join('\n') + '\n';
}

/** Parses a vsmmu-trace file into header info and operations. */
export function parseTrace(text: string): { header: Record<string, unknown>; devices: number[]; ops: Op[] } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = JSON.parse(lines[0]) as Record<string, unknown>;
  if (header.format !== 'vsmmu-trace') throw new Error('not a vsmmu-trace file');
  if (header.viommu) throw new Error('vIOMMU traces cannot be recorded on QEMU');
  const devices = ((header.devices ?? []) as Array<{ sid: unknown }>).map((d) => num(d.sid));
  return { header, devices, ops: lines.slice(1).map((l) => opFromJson(JSON.parse(l))) };
}

/** Whether an operation observes something (gets an expect when recorded). */
export function isObservation(o: Op): boolean {
  return o.op === 'mmio_read' || o.op === 'mem_read' || o.op === 'mem_digest';
}
