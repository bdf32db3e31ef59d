// Trace replayer (../shared/spec/vsmmu-trace.md): builds the machine a trace header
// describes, applies its operations in order and compares every expectation.

import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createSmmu, type Smmu } from './smmu.js';
import { SimulatedPsmmu, toHex } from './backends/simulated.js';
import { applyOp, opFromJson, smmuTarget, hexToBytes, num, type OpTarget } from './ops.js';
import { hex } from './bits.js';
import { virtMachineMemory } from './virt.js';
import type { Profile, SmmuOptions, Stage } from './types.js';

export interface Mismatch {
  line: number;
  op: string;
  expect: unknown;
  got: unknown;
}

export interface FileResult {
  file: string;
  expects: number;
  mismatches: Mismatch[];
  /** The first line that made the file unusable (malformed JSON or operation, a machine that cannot be built); the rest of the file is not run. */
  error?: { line: number; message: string };
}

/** Biggest trace file the replayer reads (a trace is text; recorded ones are a few hundred KiB). */
export const MAX_TRACE_FILE_BYTES = 256 << 20;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describeJson = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface ReplayOptions {
  /** Diagnostic trace sink (QEMU trace-event lines). */
  trace?: (line: string) => void;
}

type Op = Record<string, unknown> & { op: string };

/** Replays one trace given as text. */
export async function replayText(text: string, file: string, options: ReplayOptions = {}): Promise<FileResult> {
  const result: FileResult = { file, expects: 0, mismatches: [] };
  const lines = text.split('\n');
  let parsed: unknown;
  try {
    parsed = JSON.parse(lines[0]);
  } catch (err) {
    result.error = { line: 1, message: `header: not JSON (${messageOf(err)})` };
    return result;
  }
  if (!isObject(parsed)) {
    result.error = { line: 1, message: `header: expected a JSON object, got ${describeJson(parsed)}` };
    return result;
  }
  const header = parsed;
  if (header.format !== 'vsmmu-trace' || header.version !== 1) {
    result.error = { line: 1, message: `header: expected format "vsmmu-trace" version 1, got ${JSON.stringify(header.format)} ${JSON.stringify(header.version)}` };
    return result;
  }
  const m: Machine = { smmu: undefined as unknown as Smmu, target: undefined as unknown as OpTarget, sims: new Map(), seen: new Map(), opts: {} };
  try {
    m.opts = {
      profile: (header.profile ?? 'qemu-7.2') as Profile,
      stage: String(header.stage ?? '1') as Stage, // the trace spec: absent means stage 1 only
      ram: ((header.ram ?? []) as Array<{ base: unknown; size: unknown }>).map((r) => ({ base: num(r.base, 'ram.base'), size: num(r.size, 'ram.size') })),
      devices: ((header.devices ?? []) as Array<{ sid: unknown }>).map((d) => num(d.sid, 'devices.sid')),
      trace: options.trace,
      memory: virtMachineMemory(),
    };
    topology(m, header.viommu as TraceViommu | undefined);
    m.smmu = await createSmmu(m.opts);
    m.target = smmuTarget(m.smmu);
  } catch (err) {
    result.error = { line: 1, message: `header: not a machine the model can build: ${messageOf(err)}` };
    return result;
  }
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const text = lines[i].trim();
    if (text === '') continue;
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch (err) {
      result.error = { line: lineNo, message: `not JSON (${messageOf(err)})` };
      break;
    }
    if (!isObject(j) || typeof j.op !== 'string') {
      result.error = { line: lineNo, message: `expected an operation object {"op": ...}, got ${isObject(j) ? 'an object without a string "op"' : describeJson(j)}` };
      break;
    }
    const op = j as Op;
    if ('expect' in op) result.expects++;
    try {
      if (op.op === 'migrate') {
        await migrate(m, op.viommu as TraceViommu | undefined);
        continue;
      }
      const r = applyLine(m, op);
      if (r) result.mismatches.push({ line: lineNo, op: op.op, ...r });
    } catch (err) {
      // a malformed operation (or one the model refuses as host misuse): the file is unusable from here
      result.error = { line: lineNo, message: `${op.op}: ${messageOf(err)}` };
      break;
    }
  }
  m.smmu.dispose();
  return result;
}

type TraceViommu = { backends: Array<{ name: string; vmid: unknown }>; devices: Array<{ sid: unknown; kind: string; backend?: string; psid?: unknown }> };

/** The model being replayed, its simulated backends (by name) and what each backend_expect has seen. */
interface Machine {
  smmu: Smmu;
  target: OpTarget;
  sims: Map<string, SimulatedPsmmu>;
  seen: Map<string, number>;
  opts: SmmuOptions;
}

/** Sets the machine's vIOMMU topology (fresh simulated backends) from a trace's `viommu` object. */
function topology(m: Machine, v: TraceViommu | undefined): void {
  if (!v) return;
  m.sims = new Map();
  m.seen = new Map();
  if (!Array.isArray(v.backends) || !Array.isArray(v.devices)) throw new Error('viommu: backends and devices must be lists');
  m.opts.viommu = {
    backends: v.backends.map((b) => {
      const sim = new SimulatedPsmmu({ name: b.name });
      m.sims.set(b.name, sim);
      return { name: b.name, vmid: num(b.vmid, 'viommu.backends.vmid'), backend: sim };
    }),
    devices: v.devices.filter((d) => d.kind === 'passthrough').map((d) => ({ sid: num(d.sid, 'sid'), backend: String(d.backend), psid: num(d.psid, 'psid') })),
  };
  const emulated = v.devices.filter((d) => d.kind === 'emulated').map((d) => num(d.sid, 'sid'));
  m.opts.devices = [...new Set([...(m.opts.devices ?? []), ...emulated])];
}

/**
 * The migrate op: save, a fresh model from the header (and, for the vIOMMU form, the new
 * host's topology), guest RAM carried over as the emulator's, restore, go on. The plain
 * form stays on the same backends; the vIOMMU form arrives on new ones.
 */
async function migrate(m: Machine, v: TraceViommu | undefined): Promise<void> {
  const old = m.smmu;
  await old.whenIdle();
  const snap = old.save();
  const rams = (m.opts.ram ?? []).map((_, i) => old.ram(i));
  old.dispose();
  if (v) {
    m.opts.devices = ((m.opts.devices ?? []) as number[]).filter((sid) => !m.opts.viommu?.devices?.some((d) => d.sid === sid));
    topology(m, v);
  }
  const smmu = await createSmmu(m.opts);
  rams.forEach((r, i) => smmu.ram(i).set(r));
  smmu.restore(snap, { arrival: v !== undefined });
  await smmu.whenIdle();
  m.smmu = smmu;
  m.target = smmuTarget(smmu);
}

const TRACE_OPS = new Set(['mmio_write', 'mmio_read', 'mem_write', 'mem_fill', 'mem_read', 'mem_digest', 'dma']);

function applyLine(m: Machine, op: Op): { expect: unknown; got: unknown } | undefined {
  const { smmu, target, sims, seen } = m;
  if (TRACE_OPS.has(op.op)) {
    const o = opFromJson(op);
    const got = applyOp(target, o);
    if (o.op === 'mmio_read' || o.op === 'mem_read') {
      if (o.expect === undefined) throw new Error('expect is missing');
      return got === o.expect ? undefined : { expect: op.expect, got: hex(got as bigint) };
    }
    if (o.op === 'mem_digest') return got === o.expect ? undefined : { expect: op.expect, got };
    return undefined;
  }
  switch (op.op) {
    case 'backend_expect': {
      const name = String(op.backend);
      const sim = sims.get(name);
      if (!sim) throw new Error(`no backend named "${name}"`);
      const from = seen.get(name) ?? 0;
      const got = sim.applied.slice(from);
      seen.set(name, sim.applied.length);
      const exp = op.expect as string[];
      const same = Array.isArray(exp) && exp.length === got.length && exp.every((s, k) => s === got[k]);
      return same ? undefined : { expect: exp, got };
    }
    case 'backend_fail': {
      const sim = sims.get(String(op.backend));
      if (!sim) throw new Error(`no backend named "${String(op.backend)}"`);
      sim.failAt(num(op.at, 'at'));
      return;
    }
    case 'backend_event': {
      smmu.backendEvent(String(op.backend), hexToBytes(String(op.record)));
      return;
    }
    default:
      throw new Error(`unknown op "${String(op.op)}"`);
  }
}

/** Trace files named by `paths` (directories contribute their *.jsonl files, recursively, sorted). */
export async function expandPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const s = await stat(p);
    if (s.isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const d of entries) {
        if (d.isDirectory()) out.push(...(await expandPaths([join(p, d.name)])));
        else if (d.name.endsWith('.jsonl')) out.push(join(p, d.name));
      }
    } else {
      out.push(p);
    }
  }
  return out;
}

/** Replays one file; a file that cannot be read is reported as unusable (never thrown). */
export async function replayFile(file: string, options: ReplayOptions = {}): Promise<FileResult> {
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_TRACE_FILE_BYTES) throw new Error(`${st.size} bytes is over the limit of ${MAX_TRACE_FILE_BYTES}`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { file, expects: 0, mismatches: [], error: { line: 0, message: `cannot read: ${messageOf(err)}` } };
  }
  return replayText(text, file, options);
}

export { toHex };
