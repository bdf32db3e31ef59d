// Failures of the robustness campaign and their reproductions: a vsmmu-trace of the
// operations since the last setup, shrunk to the shortest prefix that fails the same way.

import { applyOp, opToJson } from '../ops.js';
import { hex } from '../bits.js';
import type { FailureKind, FuzzMode } from './campaign.js';
import { BACKENDS, EMULATED, FUZZ_BASE, FUZZ_SIZE, Machine, PASSTHROUGH, type Recorded } from './machine.js';

/** A failure of a round, by kind. */
export class Failed extends Error {
  constructor(readonly kind: FailureKind, message: string) {
    super(message);
  }
}

/** The failure an exception from the model stands for. */
export function classify(err: unknown): Failed {
  if (err instanceof Failed) return err;
  if (err instanceof WebAssembly.RuntimeError || (err instanceof Error && /engine assertion failed/.test(err.message))) {
    return new Failed('trap', `engine trap: ${err.message}`);
  }
  return new Failed('exception', `exception: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
}

/** Trace text of the operations since the last setup (a reproduction for `vsmmu replay`). */
export function reproText(mode: FuzzMode, seed: number, round: number, ops: readonly Recorded[], message: string): string {
  const header: Record<string, unknown> = {
    format: 'vsmmu-trace', version: 1, profile: 'qemu-7.2', name: `fuzz-${mode}-${seed}-${round}`,
    ram: [{ base: hex(FUZZ_BASE), size: hex(FUZZ_SIZE) }],
    devices: EMULATED.map((s) => ({ sid: hex(s) })),
    origin: `vsmmu fuzz --seed ${seed} --mode ${mode}, round ${round}: ${message}` +
      (mode === 'callbacks' ? ' (guest memory was given by callbacks; the trace places it in RAM)' : '') +
      '; zero fills of fresh structures are left out (RAM starts zeroed)',
  };
  if (mode === 'viommu') {
    header.devices = [];
    header.viommu = {
      backends: BACKENDS.map((b) => ({ name: b.name, vmid: hex(b.vmid) })),
      devices: [...EMULATED.map((s) => ({ sid: hex(s), kind: 'emulated' })), ...PASSTHROUGH.map((p) => ({ sid: hex(p.sid), kind: 'passthrough', backend: p.backend, psid: hex(p.psid) }))],
    };
  }
  const lines = [JSON.stringify(header)];
  for (const o of ops) {
    if (o.op === 'bytes' && o.bytes.every((b) => b === 0)) continue; // the driver zeroing fresh structures: a trace's RAM starts zeroed
    if (o.op === 'bytes') lines.push(JSON.stringify({ op: 'mem_fill', addr: hex(o.addr), hex: Buffer.from(o.bytes).toString('hex') }));
    else lines.push(JSON.stringify(opToJson(o)));
  }
  return lines.join('\n') + '\n';
}

/** Runs the operations on a fresh machine; the failure they cause, or null. */
async function reproduce(mode: FuzzMode, ops: readonly Recorded[], deadline: number): Promise<Failed | null> {
  const m = new Machine(mode);
  await m.start();
  try {
    for (const o of ops) {
      const t0 = performance.now();
      if (o.op === 'bytes') m.smmu.writeMemory(o.addr, o.bytes);
      else applyOp(m.target, o);
      const dt = performance.now() - t0;
      if (dt > deadline) throw new Failed('hang', `${o.op} took ${dt.toFixed(0)} ms (deadline ${deadline} ms)`);
      if (m.hostErrors.length) throw new Failed('exception', `host error: ${m.hostErrors[0].message}`);
    }
    return null;
  } catch (err) {
    return classify(err);
  } finally {
    m.smmu.dispose();
  }
}

/**
 * The shortest reproduction of failure `f` found: the setup and the failing round alone
 * when they still fail (else every round since the setup), cut to the shortest prefix of
 * operations that fails the same way.
 */
export async function shrink(m: Machine, f: Failed, deadline: number): Promise<Recorded[]> {
  const setup = m.log.slice(0, m.setupEnd);
  const short = [...setup, ...m.log.slice(m.roundStart)];
  let ops = m.log.slice();
  if ((await reproduce(m.mode, short, deadline))?.kind === f.kind) ops = short;
  else if ((await reproduce(m.mode, ops, deadline))?.kind !== f.kind) return short; // not reproducible alone: the round as it ran
  let lo = 1, hi = ops.length; // the shortest failing prefix is in [lo, hi]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((await reproduce(m.mode, ops.slice(0, mid), deadline))?.kind === f.kind) hi = mid;
    else lo = mid + 1;
  }
  return ops.slice(0, hi);
}
