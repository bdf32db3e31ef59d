// Host side of the vIOMMU dispatcher: hands each window of forwarded entries to the
// physical SMMUs and reports back which guest command, if any, failed.
//
// The engine writes every backend's entries contiguously in its memory, in the form the
// backend receives them, each tagged with its guest command (src/arch/abi.ts, FWH_*,
// FWT_*), and at the end of a window calls the host once (the fwd_flush import): each
// backend gets a view of its entries (no copy, no allocation: views are cached per
// backend and count), one invalidate() per run of invalidations, one installSte() per
// STE; the failed entry goes back to the engine as the import's result. A backend that returns a Promise makes the window wait
// (FWR_PENDING): the engine holds it, and the rest of the delivery follows the Promise,
// ending with fwd_done. Backend results are checked as they come: only a safe integer
// `done` in [0, count] counts; anything else (a throw, a getter that throws, NaN, a
// string, a thenable that is not a Promise, a rejection, a missed deadline, a cancel)
// fails the call at its first entry.

import type { EngineExports } from './engine.js';
import type { BatchResult, PsmmuBackend } from './backends/types.js';
import * as A from './arch/abi.js';


export interface BoundBackend {
  name: string;
  vmid: number;
  backend: PsmmuBackend;
}

/** Where a window's delivery stands (kept across a Promise-returning backend). */
interface Window {
  limit: number; // entries of commands with index >= limit are not sent (a failure, or a command error)
  result: number; // FWR_DONE, FWR_ERROR or the failed entry (backend * FW_CAPACITY + position)
  /** Arrival installs: a refused entry is skipped and reported to nobody (no command caused it). */
  arrival: boolean;
  b: number; // backend being served
  m: number; // its entries to send: positions [0, m) of its area, or pos[0..m) when filtered
  j: number; // next of them to send
  direct: boolean; // positions are the area's own (no entry filtered out)
  generation: number; // the device bindings this window was filtered with
  first: number; // the outstanding call's entries [first, end)
  end: number;
  promise: Promise<unknown> | null;
  abandoned: boolean;
}

function newWindow(): Window {
  return { limit: A.FWT_INDEX, result: A.FWR_DONE, arrival: false, b: 0, m: 0, j: 0, direct: true, generation: 0, first: 0, end: 0, promise: null, abandoned: false };
}

export interface ForwarderHooks {
  /** Deadline (ms) for a backend call that returned a Promise. */
  timeoutMs?: number;
  /** A backend call failed: `malformed` when the backend broke the interface (threw, bad result). */
  report(backend: string, message: string, malformed: boolean): void;
  /** Backends are being called (`label`) or no longer (null): the model refuses calls into it meanwhile. Returns the previous state. */
  inside(label: string | null): string | null;
  /** The forwarder itself failed (a bug): reported; the window's first command fails. */
  internal(err: unknown): void;
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

/** A backend's invalidate(): its answer, or the failure its throw is. */
function invalidate(target: PsmmuBackend, entries: Uint8Array): unknown {
  try {
    return target.invalidate(entries);
  } catch (err) {
    return broken(`threw: ${text(err)}`);
  }
}

/** Whether `res` says all `count` entries were done (the common answer, checked without allocating); else checkResult tells why not. */
function allDone(res: unknown, count: number): boolean {
  try {
    return res !== null && typeof res === 'object' && (res as BatchResult).done === count && typeof (res as { then?: unknown }).then !== 'function';
  } catch {
    return false;
  }
}

const FWH_WORDS = A.FWH_BYTES / 4;

export class Forwarder {
  /** Entries dropped because their device was unplugged before they went out. */
  staleDropped = 0;
  /** Device bindings changed this many times (a window that waited for a Promise re-filters when it changed). */
  private generation = 0;
  // Views of the engine's memory (re-made when memory.buffer changes): the log, the
  // per-backend header and areas, and each backend's entry views by first entry and count.
  private buf: ArrayBuffer = new ArrayBuffer(0);
  private mem8 = new Uint8Array(0);
  private mem32 = new Uint32Array(0);
  private hdr = 0; // word index of the header
  private views: Array<Array<Array<Uint8Array | undefined> | undefined>> = [];
  // Scratch for a window that waited for a Promise and then lost devices: its positions,
  // and the entries handed over (valid for the call, as types.ts says); an STE's 16 bytes.
  private pos = new Int32Array(0);
  private out = new Uint8Array(0);
  private readonly ste = new Uint8Array(16);
  private readonly ste32 = new Uint32Array(this.ste.buffer);

  /** The window delivered synchronously (reused); one that waits for a Promise gets its own. */
  private win = newWindow();
  /** A window the engine holds (FWR_PENDING), to go on with from flush(). */
  private held: Window | null = null;
  /** The window being delivered and how to give up on its outstanding call. */
  private current: { w: Window; fail: (reason: string) => void } | null = null;
  private active: Window | null = null;

  constructor(private readonly e: EngineExports, readonly backends: BoundBackend[], private readonly hooks: ForwarderHooks) {}

  /** The device bindings changed (bind / unbind). */
  bindingsChanged(): void {
    this.generation++;
  }

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
    this.held = null;
    this.current?.fail(`abandoned: ${reason}`);
    this.current = null;
  }

  /**
   * The engine's fwd_flush import: delivers the window now (`limit`: see FWR_* in
   * src/arch/abi.ts). Returns the failed entry, FWR_DONE, FWR_ERROR, or FWR_PENDING when
   * a backend returned a Promise (the engine then holds the window; flush() goes on).
   */
  fromEngine(limit: number): number {
    try {
      this.refresh();
      if (limit === A.FWT_INDEX && !this.hasSte()) return this.common();
      const w = this.win;
      this.begin(w, limit, false);
      return this.deliver(w) ? w.result : this.hold(w);
    } catch (err) {
      this.hooks.internal(err);
      return 0;
    }
  }

  /** The engine holds window `w` (a backend answers later); the next synchronous window gets a fresh one. */
  private hold(w: Window): number {
    this.win = newWindow();
    this.held = w;
    return A.FWR_PENDING;
  }

  /** Whether any backend's area holds an STE install. */
  private hasSte(): boolean {
    for (let b = 0; b < this.backends.length; b++) if (this.mem32[this.hdr + b * FWH_WORDS + A.FWH_STES / 4] !== 0) return true;
    return false;
  }

  /**
   * The common window, delivered as deliver() would deliver it but in fewer steps: no
   * command error behind the entries (no limit) and no STE install, so each backend with
   * entries gets one invalidate() of its whole area, in backend order (what send() does
   * for such an area). At the first answer that is not "all done" (a failure, a throw, a
   * Promise) the window goes on in the general path, from that answer (settled()).
   */
  private common(): number {
    const m32 = this.mem32, h = this.hdr, nb = this.backends.length;
    const prev = this.hooks.inside('backend');
    let b = 0, c = 0;
    let r: unknown;
    try {
      for (; b < nb; b++) {
        c = m32[h + b * FWH_WORDS + A.FWH_COUNT / 4];
        if (c === 0) continue;
        r = invalidate(this.backends[b].backend, this.view(b, 0, c));
        if (r instanceof Promise || !allDone(r, c)) break;
      }
    } finally {
      this.hooks.inside(prev);
    }
    if (b === nb) return A.FWR_DONE;
    const w = this.win;
    this.begin(w, A.FWT_INDEX, false);
    w.b = b;
    this.select(w);
    if (r instanceof Promise) {
      w.first = 0;
      w.end = c;
      w.promise = r;
      return this.hold(w);
    }
    this.settled(w, 0, c, r);
    return this.deliver(w) ? w.result : this.hold(w);
  }

  /**
   * Completes the window the engine holds (CQ_FORWARD): the one a backend's Promise
   * holds, or the arrival installs of a restore (snap_arrive). Ends with fwd_done;
   * returns a Promise when a backend answers later.
   */
  flush(arrival = false): void | Promise<void> {
    const held = this.held;
    this.held = null;
    if (held) return this.await(held);
    const w = newWindow();
    this.begin(w, A.FWT_INDEX, arrival);
    if (this.deliver(w)) {
      this.active = null;
      this.e.fwd_done(w.result);
      return;
    }
    return this.await(w);
  }

  /** The engine's memory as seen now (a grown memory detaches the old buffer: its views read as empty). */
  private refresh(): void {
    if (this.mem32.length !== 0) return;
    const buf = this.e.memory.buffer;
    this.buf = buf;
    this.mem8 = new Uint8Array(buf);
    this.mem32 = new Uint32Array(buf);
    this.hdr = this.e.fwd_out_ptr() >> 2;
    this.views = this.backends.map(() => []);
  }

  private begin(w: Window, limit: number, arrival: boolean): void {
    this.refresh();
    w.limit = limit;
    w.result = limit < A.FWT_INDEX ? A.FWR_ERROR : A.FWR_DONE;
    w.arrival = arrival;
    w.b = 0;
    w.generation = this.generation;
    w.promise = null;
    w.abandoned = false;
    this.active = w;
    this.select(w);
  }

  /** Tag (FWT_*) of entry `p` of backend b's area. */
  private tag(b: number, p: number): number {
    return this.mem32[(this.mem32[this.hdr + b * FWH_WORDS + A.FWH_TAGS / 4] >> 2) + p];
  }

  /** Physical StreamID of entry `p` of backend b's area (an FWT_PSID entry). */
  private psid(b: number, p: number): number {
    return this.mem32[(this.mem32[this.hdr + b * FWH_WORDS + A.FWH_PSIDS / 4] >> 2) + p];
  }

  /** Area position of the window's k-th entry to send. */
  private at(w: Window, k: number): number {
    return w.direct ? k : this.pos[k];
  }

  /** Backend w.b's entries to send (at the start of its turn): those before the failure limit, of devices still bound. */
  private select(w: Window): void {
    w.j = 0;
    w.m = 0;
    w.direct = true;
    if (w.b >= this.backends.length) return;
    const b = w.b;
    let c = this.mem32[this.hdr + b * FWH_WORDS + A.FWH_COUNT / 4];
    if (c === 0) return;
    if (w.limit < A.FWT_INDEX) {
      // guest order: the entries before the limit are a prefix
      let k = 0;
      while (k < c && (this.tag(b, k) & A.FWT_INDEX) < w.limit) k++;
      c = k;
    }
    if (w.generation !== this.generation) this.refilter(w, c);
    else w.m = c;
  }

  /** Bindings changed while the window waited: entries naming a physical StreamID no longer bound are dropped. */
  private refilter(w: Window, c: number): void {
    if (this.pos.length < c) this.pos = new Int32Array(Math.max(c, 2 * this.pos.length));
    let m = 0;
    for (let p = 0; p < c; p++) {
      if (this.tag(w.b, p) & A.FWT_PSID && !this.e.vdev_has_psid(w.b, this.psid(w.b, p))) {
        this.staleDropped++;
        continue;
      }
      this.pos[m++] = p;
    }
    w.m = m;
    w.direct = false;
  }

  /** Backend calls until the window is complete (true) or a backend returned a Promise (false, w.promise). */
  private deliver(w: Window): boolean {
    const prev = this.hooks.inside('backend');
    try {
      const nb = this.backends.length;
      while (w.b < nb) {
        if (w.abandoned) return true;
        if (w.j < w.m) {
          if (!this.send(w)) return false;
          continue;
        }
        w.b++;
        this.select(w);
      }
      return true;
    } finally {
      this.hooks.inside(prev);
    }
  }

  /** Entries [first, first + count) of backend b's area, as a view of the engine's memory (cached). */
  private view(b: number, first: number, count: number): Uint8Array {
    const byFirst = this.views[b];
    const cache = byFirst[first] ?? (byFirst[first] = []);
    let v = cache[count];
    if (v === undefined) {
      const base = this.mem32[this.hdr + b * FWH_WORDS + A.FWH_ENTRIES / 4] + first * A.FW_ENTRY_BYTES;
      v = cache[count] = new Uint8Array(this.buf, base, count * A.FW_ENTRY_BYTES);
    }
    return v;
  }


  /** One backend call: an STE, or a run of invalidations. False when it returned a Promise. */
  private send(w: Window): boolean {
    const b = w.b;
    const target = this.backends[b].backend;
    const first = w.j;
    const p0 = this.at(w, first);
    let end = first + 1;
    let r: unknown;
    try {
      if (this.tag(b, p0) & A.FWT_STE) {
        const q = (this.mem32[this.hdr + b * FWH_WORDS + A.FWH_ENTRIES / 4] >> 2) + p0 * 4;
        for (let k = 0; k < 4; k++) this.ste32[k] = this.mem32[q + k];
        r = target.installSte(this.psid(b, p0), this.ste);
      } else {
        if (w.direct && this.mem32[this.hdr + b * FWH_WORDS + A.FWH_STES / 4] === 0) end = w.m;
        else while (end < w.m && !(this.tag(b, this.at(w, end)) & A.FWT_STE)) end++;
        r = invalidate(target, w.direct ? this.view(b, first, end - first) : this.gather(w, first, end));
      }
    } catch (err) {
      r = broken(`threw: ${text(err)}`);
    }
    if (r instanceof Promise) {
      w.first = first;
      w.end = end;
      w.promise = r;
      return false;
    }
    this.settled(w, first, end, r);
    return true;
  }

  /** Entries first..end of a filtered window, copied together. */
  private gather(w: Window, first: number, end: number): Uint8Array {
    const bytes = (end - first) * A.FW_ENTRY_BYTES;
    if (this.out.length < bytes) this.out = new Uint8Array(Math.max(bytes, 2 * this.out.length));
    const base = this.mem32[this.hdr + w.b * FWH_WORDS + A.FWH_ENTRIES / 4];
    for (let k = first; k < end; k++) {
      const o = base + this.pos[k] * A.FW_ENTRY_BYTES;
      this.out.set(this.mem8.subarray(o, o + A.FW_ENTRY_BYTES), (k - first) * A.FW_ENTRY_BYTES);
    }
    return this.out.subarray(0, bytes);
  }

  /** Waits for a backend's Promise, its deadline or a cancel, whichever comes first; then goes on; ends with fwd_done. */
  private await(w: Window): Promise<void> {
    const p = w.promise!;
    const first = w.first, end = w.end;
    w.promise = null;
    this.active = w;
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
          this.refresh();
          this.settled(w, first, end, o);
          if (!this.deliver(w)) {
            this.await(w).then(resolve, reject);
            return;
          }
          if (!w.abandoned) {
            this.active = null;
            this.e.fwd_done(w.result);
          }
          resolve();
        } catch (err) {
          reject(err);
        }
      };
      this.current = { w, fail: (reason) => finish(broken(reason)) };
      const ms = this.hooks.timeoutMs;
      if (ms !== undefined) timer = setTimeout(() => finish(broken(`no answer within ${ms} ms (deadline)`)), ms);
      p.then(finish, (err: unknown) => finish(broken(`rejected: ${text(err)}`)));
    });
  }

  /** Entries first..end of backend w.b went out with result `res` (checked here). */
  private settled(w: Window, first: number, end: number, res: unknown): void {
    const count = end - first;
    if (!(res instanceof Outcome) && allDone(res, count)) {
      w.j = end;
      return;
    }
    const o = res instanceof Outcome ? res : checkResult(res, count);
    const done = o.done;
    if (done < count) this.hooks.report(this.backends[w.b].name, o.error ?? 'failed', o.malformed === true);
    if (done < count && w.arrival) {
      w.j = first + done + 1; // arrival: skip the refused entry, go on with the next (no command caused it)
    } else if (done < count) {
      const p = this.at(w, first + done);
      const k = this.tag(w.b, p) & A.FWT_INDEX;
      if (k < w.limit) {
        w.limit = k;
        w.result = w.b * A.FW_CAPACITY + p;
      }
      w.j = w.m; // this backend stops
    } else {
      w.j = end;
    }
  }
}
