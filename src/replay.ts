// Trace replayer (../shared/spec/vsmmu-trace.md): builds the machine a trace header
// describes, applies its operations in order and compares every expectation.

import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createSmmu, type Smmu } from './smmu.js';
import { SimulatedPsmmu, toHex } from './backends/simulated.js';
import { applyOp, opFromJson, smmuTarget, hexToBytes, num, type OpTarget } from './ops.js';
import { hex } from './bits.js';
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
}

export interface ReplayOptions {
  /** Diagnostic trace sink (QEMU trace-event lines). */
  trace?: (line: string) => void;
}

type Op = Record<string, unknown> & { op: string };

/**
 * The recording machine's other memory (QEMU `virt`): its two 64 MiB flash banks at 0,
 * empty (zeros) as the recordings leave them, readable by DMA (a table walk there reads
 * zeros rather than aborting); writes are taken and dropped. Anything else is unassigned.
 */
const VIRT_FLASH_END = 0x8000000;
const VIRT_FLASH = {
  read(addr: number, dst: Uint8Array): boolean {
    if (addr + dst.length > VIRT_FLASH_END) return false;
    dst.fill(0);
    return true;
  },
  write(addr: number, src: Uint8Array): boolean {
    return addr + src.length <= VIRT_FLASH_END;
  },
};

/** Replays one trace given as text. */
export async function replayText(text: string, file: string, options: ReplayOptions = {}): Promise<FileResult> {
  const result: FileResult = { file, expects: 0, mismatches: [] };
  const lines = text.split('\n');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(lines[0]);
  } catch (err) {
    result.mismatches.push({ line: 1, op: 'header', expect: 'a vsmmu-trace header', got: String(err) });
    return result;
  }
  if (header.format !== 'vsmmu-trace' || header.version !== 1) {
    result.mismatches.push({ line: 1, op: 'header', expect: 'format vsmmu-trace version 1', got: `${String(header.format)} ${String(header.version)}` });
    return result;
  }
  let smmu: Smmu;
  const sims = new Map<string, SimulatedPsmmu>();
  try {
    const opts: SmmuOptions = {
      profile: (header.profile ?? 'qemu-7.2') as Profile,
      stage: String(header.stage ?? '1') as Stage, // the trace spec: absent means stage 1 only
      ram: ((header.ram ?? []) as Array<{ base: unknown; size: unknown }>).map((r) => ({ base: num(r.base, 'ram.base'), size: num(r.size, 'ram.size') })),
      devices: ((header.devices ?? []) as Array<{ sid: unknown }>).map((d) => num(d.sid, 'devices.sid')),
      trace: options.trace,
      memory: VIRT_FLASH,
    };
    const v = header.viommu as undefined | { backends: Array<{ name: string; vmid: unknown }>; devices: Array<{ sid: unknown; kind: string; backend?: string; psid?: unknown }> };
    if (v) {
      opts.viommu = {
        backends: v.backends.map((b) => {
          const sim = new SimulatedPsmmu({ name: b.name });
          sims.set(b.name, sim);
          return { name: b.name, vmid: num(b.vmid, 'viommu.backends.vmid'), backend: sim };
        }),
        devices: v.devices.filter((d) => d.kind === 'passthrough').map((d) => ({ sid: num(d.sid, 'sid'), backend: String(d.backend), psid: num(d.psid, 'psid') })),
      };
      opts.devices = [...(opts.devices ?? []), ...v.devices.filter((d) => d.kind === 'emulated').map((d) => num(d.sid, 'sid'))];
    }
    smmu = await createSmmu(opts);
  } catch (err) {
    result.mismatches.push({ line: 1, op: 'header', expect: 'a machine the model can build', got: String(err) });
    return result;
  }
  const seen = new Map<string, number>();
  const target = smmuTarget(smmu);
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const text = lines[i].trim();
    if (text === '') continue;
    let op: Op;
    try {
      op = JSON.parse(text);
    } catch (err) {
      result.mismatches.push({ line: lineNo, op: 'parse', expect: 'a JSON object', got: String(err) });
      continue;
    }
    if ('expect' in op) result.expects++;
    try {
      const m = applyLine(smmu, target, sims, seen, op);
      if (m) result.mismatches.push({ line: lineNo, op: op.op, ...m });
    } catch (err) {
      result.mismatches.push({ line: lineNo, op: String(op.op), expect: 'op applied', got: (err as Error).message });
    }
  }
  smmu.dispose();
  return result;
}

const TRACE_OPS = new Set(['mmio_write', 'mmio_read', 'mem_write', 'mem_fill', 'mem_read', 'mem_digest', 'dma']);

function applyLine(smmu: Smmu, target: OpTarget, sims: Map<string, SimulatedPsmmu>, seen: Map<string, number>, op: Op): { expect: unknown; got: unknown } | undefined {
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

export async function replayFile(file: string, options: ReplayOptions = {}): Promise<FileResult> {
  return replayText(await readFile(file, 'utf8'), file, options);
}

export { toHex };
