// Scenarios: a machine (devices) and a list of trace operations
// (../../shared/spec/vsmmu-trace.md). Observation operations get their `expect`
// when the scenario is recorded on QEMU; the result is a vsmmu-trace file.

import { RAM_BASE, RAM_SIZE, SMMU_BASE } from '../qtest/machine.js';
import { opToJson, opFromJson, num, type Op } from '../ops.js';
import { hex } from '../bits.js';
import { QEMU72, parseTarget, type QemuTarget } from '../qtest/target.js';

export type { Op } from '../ops.js';
export { opToJson, opFromJson } from '../ops.js';

export interface Scenario {
  /** File-name friendly name: <family>-<seed>. */
  name: string;
  family: string;
  seed: number;
  /** The QEMU (and SMMU stages) the scenario is written for. */
  target: QemuTarget;
  /** StreamIDs of the DMA engines. */
  devices: number[];
  ops: Op[];
  /** Opcodes the scenario published to the command queue (coverage). */
  opcodes: number[];
}

const hx = hex;

export interface TraceHeaderInfo {
  name: string;
  devices: number[];
  origin: string;
  /** Profile and stage of the header (default qemu-7.2, whose headers have no stage field). */
  target?: QemuTarget;
}

export function traceHeader(h: TraceHeaderInfo): Record<string, unknown> {
  const t = h.target ?? QEMU72;
  return {
    format: 'vsmmu-trace',
    version: 1,
    profile: t.profile,
    ...(t.profile === 'qemu-7.2' ? {} : { stage: t.stage }),
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
export function parseTrace(text: string): { header: Record<string, unknown>; target: QemuTarget; devices: number[]; ops: Op[] } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = JSON.parse(lines[0]) as Record<string, unknown>;
  if (header.format !== 'vsmmu-trace') throw new Error('not a vsmmu-trace file');
  if (header.viommu) throw new Error('vIOMMU traces cannot be recorded on QEMU');
  const devices = ((header.devices ?? []) as Array<{ sid: unknown }>).map((d) => num(d.sid));
  const target = parseTarget(header.profile === undefined ? undefined : String(header.profile), header.stage === undefined ? (header.profile === 'qemu-10.0' ? '1' : undefined) : String(header.stage));
  return { header, target, devices, ops: lines.slice(1).map((l) => opFromJson(JSON.parse(l))) };
}

/** Whether an operation observes something (gets an expect when recorded). */
export function isObservation(o: Op): boolean {
  return o.op === 'mmio_read' || o.op === 'mem_read' || o.op === 'mem_digest';
}
