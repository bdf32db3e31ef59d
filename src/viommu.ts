// Host side of the vIOMMU dispatcher: hands the engine's forwarding log to the
// physical SMMUs, one call per backend per run of entries (a guest batch, or the part
// of it before a CMD_SYNC), and reports back which guest command, if any, failed.
// Works with synchronous and Promise-returning backends alike.

import type { EngineExports } from './engine.js';
import type { BatchResult, PsmmuBackend } from './backends/types.js';
import * as A from './arch/abi.js';
import * as C from './arch/commands.js';


export interface BoundBackend {
  name: string;
  vmid: number;
  backend: PsmmuBackend;
}

interface Segment {
  kind: number; // FWK_INV or FWK_STE
  first: number; // index into the window's records of this backend
  count: number;
}

/** Runs `steps` in order; synchronous until a step returns a Promise, then chained. */
function runSteps(steps: Array<() => void | Promise<void>>): void | Promise<void> {
  for (let i = 0; i < steps.length; i++) {
    const r = steps[i]();
    if (r && typeof (r as Promise<void>).then === 'function') {
      return (r as Promise<void>).then(() => runSteps(steps.slice(i + 1)));
    }
  }
}

function settle(r: BatchResult | Promise<BatchResult>, count: number, onDone: (res: BatchResult) => void): void | Promise<void> {
  if (r && typeof (r as Promise<BatchResult>).then === 'function') {
    return (r as Promise<BatchResult>).then(onDone, (err: unknown) => onDone({ done: 0, error: String(err) }));
  }
  onDone(r as BatchResult);
}

export class Forwarder {
  /** Entries dropped because their device was unplugged before they went out. */
  staleDropped = 0;
  constructor(private readonly e: EngineExports, readonly backends: BoundBackend[]) {}

  /** Sends the pending log; completes the engine's window (fwd_done). */
  flush(): void | Promise<void> {
    const e = this.e;
    const n = e.fwd_count();
    const mem = e.memory.buffer;
    const base = e.fwd_log_ptr();
    const view = new DataView(mem, base, n * A.FW_BYTES);
    const bytes = new Uint8Array(mem, base, n * A.FW_BYTES).slice(); // stable copy while backends run
    const kind = new Uint8Array(n), backend = new Uint8Array(n);
    const seq = new Uint32Array(n), psid = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * A.FW_BYTES;
      backend[i] = view.getUint8(o + A.FW_BACKEND);
      kind[i] = view.getUint8(o + A.FW_KIND);
      seq[i] = view.getUint32(o + A.FW_SEQ, true);
      psid[i] = view.getUint32(o + A.FW_PSID, true);
    }
    let limit = Infinity;
    let failIndex = -1;
    if (n > 0 && kind[n - 1] === A.FWK_ERROR) {
      limit = seq[n - 1];
      failIndex = n - 1;
    }
    const fail = (i: number) => {
      if (seq[i] < limit) {
        limit = seq[i];
        failIndex = i;
      }
    };
    const steps: Array<() => void | Promise<void>> = [];
    for (let b = 0; b < this.backends.length; b++) {
      const target = this.backends[b].backend;
      let stopped = false;
      steps.push(() => {
        // records of this backend before the current failure limit, still bound
        const recs: number[] = [];
        for (let i = 0; i < n; i++) {
          if (backend[i] !== b || kind[i] === A.FWK_ERROR || seq[i] >= limit) continue;
          if (this.carriesSid(kind[i], bytes, i) && !e.vdev_has_psid(b, psid[i])) {
            this.staleDropped++;
            continue;
          }
          recs.push(i);
        }
        const segs: Segment[] = [];
        for (let j = 0; j < recs.length; j++) {
          const k = kind[recs[j]];
          const last = segs[segs.length - 1];
          if (k === A.FWK_INV && last && last.kind === A.FWK_INV) last.count++;
          else segs.push({ kind: k, first: j, count: 1 });
        }
        const segSteps = segs.map((s) => () => {
          if (stopped) return;
          const idx = recs.slice(s.first, s.first + s.count).filter((i) => seq[i] < limit);
          if (idx.length === 0) return;
          const onDone = (res: BatchResult) => {
            const done = Math.max(0, Math.min(idx.length, Math.floor(Number(res?.done ?? 0))));
            if (done < idx.length) {
              fail(idx[done]);
              stopped = true;
            }
          };
          let r: BatchResult | Promise<BatchResult>;
          try {
            if (s.kind === A.FWK_STE) {
              const o = idx[0] * A.FW_BYTES + A.FW_W0;
              r = target.installSte(psid[idx[0]], bytes.slice(o, o + 16));
            } else {
              const entries = new Uint8Array(idx.length * 16);
              idx.forEach((i, j) => entries.set(bytes.subarray(i * A.FW_BYTES + A.FW_W0, i * A.FW_BYTES + A.FW_W0 + 16), j * 16));
              r = target.invalidate(entries);
            }
          } catch (err) {
            r = { done: 0, error: String(err) };
          }
          return settle(r, idx.length, onDone);
        });
        return runSteps(segSteps);
      });
    }
    steps.push(() => e.fwd_done(failIndex));
    return runSteps(steps);
  }

  /** Whether a record names a physical StreamID (STE installs, CFGI_CD*, ATC_INV). */
  private carriesSid(kind: number, bytes: Uint8Array, i: number): boolean {
    if (kind === A.FWK_STE) return true;
    const op = bytes[i * A.FW_BYTES + A.FW_W0];
    return op === C.CMD_CFGI_CD || op === C.CMD_CFGI_CD_ALL || op === C.CMD_ATC_INV;
  }
}
