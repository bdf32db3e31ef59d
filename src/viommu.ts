// Host side of the vIOMMU dispatcher: hands the engine's forwarding log to the
// physical SMMUs, one call per backend per run of entries (a guest batch, or the part
// of it before a CMD_SYNC), and reports back which guest command, if any, failed.
// Works with synchronous and Promise-returning backends alike. Backend results are
// checked as they come: only a safe integer `done` in [0, count] counts; anything else
// (a throw, a getter that throws, NaN, a string, a thenable that is not a Promise, a
// rejection, a missed deadline, a cancel) fails the call at its first entry.

import type { EngineExports } from './engine.js';
import type { BatchResult, PsmmuBackend } from './backends/types.js';
import * as A from './arch/abi.js';
import * as C from './arch/commands.js';


export interface BoundBackend {
  name: string;
  vmid: number;
  backend: PsmmuBackend;
}

/** Where a window's delivery stands (kept across a Promise-returning backend). */
interface Window {
  n: number;
  limit: number; // records with seq >= limit are not sent (a failure, or the error marker)
  failIndex: number;
  /** Arrival installs: a refused entry is skipped and reported to nobody (no command caused it). */
  arrival: boolean;
  b: number; // backend being served
  m: number; // its records, in recs[0..m)
  j: number; // next of them to send
  abandoned?: boolean;
}

export interface ForwarderHooks {
  /** Deadline (ms) for a backend call that returned a Promise. */
  timeoutMs?: number;
  /** A backend call failed: `malformed` when the backend broke the interface (threw, bad result). */
  report(backend: string, message: string, malformed: boolean): void;
}

/** A checked result (or a failure found by the forwarder itself). */
class Outcome {
  constructor(readonly done: number, readonly error?: string, readonly malformed = false) {}
}
const broken = (error: string): Outcome => new Outcome(0, error, true);

function text(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'an unprintable value';
  }
}

/** A backend's answer for `count` entries, checked against the interface. */
export function checkResult(res: unknown, count: number): Outcome {
  let done: unknown;
  let error: unknown;
  try {
    if (res === null || typeof res !== 'object') return broken(`returned ${res === null ? 'null' : typeof res} instead of { done, error }`);
    if (typeof (res as { then?: unknown }).then === 'function') return broken('returned a thenable that is not a Promise');
    done = (res as BatchResult).done;
    error = (res as BatchResult).error;
  } catch (err) {
    return broken(`its result threw when read: ${text(err)}`);
  }
  if (typeof done !== 'number' || !Number.isSafeInteger(done) || done < 0 || done > count) {
    return broken(`returned done = ${typeof done === 'string' ? JSON.stringify(done) : String(done)}, not an integer in [0, ${count}]`);
  }
  if (done < count) return new Outcome(done, typeof error === 'string' && error !== '' ? error : `entry ${done} of ${count} failed (no error text)`);
  return new Outcome(done);
}

export class Forwarder {
  /** Entries dropped because their device was unplugged before they went out. */
  staleDropped = 0;
  // Scratch reused from window to window (one window at a time; grown on demand): the
  // records' fields, one backend's records, a stable copy of the log, and the entries
  // handed to a backend (valid for the duration of the call, as types.ts says).
  private cap = 0;
  private kind = new Uint8Array(0);
  private backend = new Uint8Array(0);
  private seq = new Uint32Array(0);
  private psid = new Uint32Array(0);
  private sid = new Uint8Array(0);
  private recs = new Int32Array(0);
  private log = new Uint8Array(0);
  private log32 = new Uint32Array(0);
  private out = new Uint8Array(0);
  private out32 = new Uint32Array(0);

  /** The window being delivered and how to give up on its outstanding call. */
  private current: { w: Window; fail: (reason: string) => void } | null = null;
  private active: Window | null = null;

  constructor(private readonly e: EngineExports, readonly backends: BoundBackend[], private readonly hooks?: ForwarderHooks) {}

  /** Fails the outstanding asynchronous backend call (cancel / hung pSMMU); false when none. */
  cancel(reason: string): boolean {
    if (!this.current) return false;
    this.current.fail(`cancelled: ${reason}`);
    return true;
  }

  /** Drops the window altogether (device reset): nothing more is sent, fwd_done is not called. */
  abandon(reason: string): void {
    if (this.active) this.active.abandoned = true;
    this.active = null;
    this.current?.fail(`abandoned: ${reason}`);
    this.current = null;
  }

  /**
   * Sends the pending log; completes the engine's window (fwd_done). Backend by backend,
   * in order: its records before the current failure limit (minus those of unplugged
   * devices), one invalidate() per run of invalidations, one installSte() per STE; a
   * refused entry lowers the limit for the backends after it. Synchronous unless a
   * backend returns a Promise; from then on the rest follows it.
   */
  flush(arrival = false): void | Promise<void> {
    const e = this.e;
    const n = e.fwd_count();
    if (n > this.cap) this.grow(n);
    const log = this.log, log32 = this.log32;
    log.set(new Uint8Array(e.memory.buffer, e.fwd_log_ptr(), n * A.FW_BYTES)); // stable copy while backends run
    for (let i = 0; i < n; i++) {
      const o = i * A.FW_BYTES;
      const k = log[o + A.FW_KIND];
      this.backend[i] = log[o + A.FW_BACKEND];
      this.kind[i] = k;
      this.seq[i] = log32[(o + A.FW_SEQ) >> 2];
      this.psid[i] = log32[(o + A.FW_PSID) >> 2];
      const op = log[o + A.FW_W0];
      this.sid[i] = k === A.FWK_STE || (k === A.FWK_INV && (op === C.CMD_CFGI_CD || op === C.CMD_CFGI_CD_ALL || op === C.CMD_ATC_INV)) ? 1 : 0;
    }
    const w: Window = { n, limit: Infinity, failIndex: -1, arrival, b: 0, m: 0, j: 0 };
    if (n > 0 && this.kind[n - 1] === A.FWK_ERROR) {
      w.limit = this.seq[n - 1];
      w.failIndex = n - 1;
    }
    this.active = w;
    this.select(w);
    return this.drive(w);
  }

  private grow(n: number): void {
    const cap = Math.max(n, Math.min(A.FW_CAPACITY, Math.max(2 * this.cap, 64)));
    this.cap = cap;
    this.kind = new Uint8Array(cap);
    this.backend = new Uint8Array(cap);
    this.seq = new Uint32Array(cap);
    this.psid = new Uint32Array(cap);
    this.sid = new Uint8Array(cap);
    this.recs = new Int32Array(cap);
    this.log = new Uint8Array(cap * A.FW_BYTES);
    this.log32 = new Uint32Array(this.log.buffer);
    this.out = new Uint8Array(cap * 16);
    this.out32 = new Uint32Array(this.out.buffer);
  }

  /** Backend w.b's records to send (at the start of its turn). */
  private select(w: Window): void {
    let m = 0;
    for (let i = 0; i < w.n; i++) {
      if (this.backend[i] !== w.b || this.kind[i] === A.FWK_ERROR || this.seq[i] >= w.limit) continue;
      if (this.sid[i] && !this.e.vdev_has_psid(w.b, this.psid[i])) {
        this.staleDropped++;
        continue;
      }
      this.recs[m++] = i;
    }
    w.m = m;
    w.j = 0;
  }

  private drive(w: Window): void | Promise<void> {
    const nb = this.backends.length;
    while (w.b < nb) {
      if (w.abandoned) return;
      if (w.j < w.m) {
        const target = this.backends[w.b].backend;
        const first = w.j;
        let end = first + 1;
        let r: unknown;
        try {
          if (this.kind[this.recs[first]] === A.FWK_STE) {
            const o = (this.recs[first] * A.FW_BYTES + A.FW_W0) >> 2;
            for (let q = 0; q < 4; q++) this.out32[q] = this.log32[o + q];
            const psid = this.psid[this.recs[first]], ste = this.out.subarray(0, 16);
            r = target.installSte(psid, ste);
          } else {
            while (end < w.m && this.kind[this.recs[end]] === A.FWK_INV) end++;
            const out32 = this.out32, log32 = this.log32;
            for (let k = first, q = 0; k < end; k++, q += 4) {
              const o = (this.recs[k] * A.FW_BYTES + A.FW_W0) >> 2;
              out32[q] = log32[o];
              out32[q + 1] = log32[o + 1];
              out32[q + 2] = log32[o + 2];
              out32[q + 3] = log32[o + 3];
            }
            const entries = this.out.subarray(0, (end - first) * 16);
            r = target.invalidate(entries);
          }
        } catch (err) {
          r = broken(`threw: ${text(err)}`);
        }
        if (r instanceof Promise) return this.await(w, first, end, r);
        this.settled(w, first, end, r);
        continue;
      }
      w.b++;
      if (w.b < nb) this.select(w);
    }
    if (w.abandoned) return;
    this.active = null;
    this.e.fwd_done(w.failIndex);
  }

  /** Waits for a backend's Promise, its deadline or a cancel, whichever comes first; then goes on. */
  private await(w: Window, first: number, end: number, p: Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let over = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (o: unknown): void => {
        if (over) return; // a late result after a deadline or cancel is ignored
        over = true;
        if (timer !== undefined) clearTimeout(timer);
        if (this.current?.w === w) this.current = null;
        if (w.abandoned) return resolve();
        try {
          this.settled(w, first, end, o);
          const next = this.drive(w);
          if (next) next.then(resolve, reject);
          else resolve();
        } catch (err) {
          reject(err);
        }
      };
      this.current = { w, fail: (reason) => finish(broken(reason)) };
      const ms = this.hooks?.timeoutMs;
      if (ms !== undefined) timer = setTimeout(() => finish(broken(`no answer within ${ms} ms (deadline)`)), ms);
      p.then(finish, (err: unknown) => finish(broken(`rejected: ${text(err)}`)));
    });
  }

  /** Records recs[first..end) of backend w.b went out with result `res` (checked here). */
  private settled(w: Window, first: number, end: number, res: unknown): void {
    const count = end - first;
    const o = res instanceof Outcome ? res : checkResult(res, count);
    const done = o.done;
    if (done < count) this.hooks?.report(this.backends[w.b].name, o.error ?? 'failed', o.malformed === true);
    if (done < count && w.arrival) {
      w.j = first + done + 1; // arrival: skip the refused entry, go on with the next (no command caused it)
    } else if (done < count) {
      const i = this.recs[first + done];
      if (this.seq[i] < w.limit) {
        w.limit = this.seq[i];
        w.failIndex = i;
      }
      w.j = w.m; // this backend stops
    } else {
      w.j = end;
    }
  }
}
