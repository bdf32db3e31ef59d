// The host callbacks' side of the device: which callback the engine is inside (calls into
// the model are refused meanwhile), and where host-side failures go (onHostError, or
// thrown at the end of the public call that raised them).

import { HostError, type HostErrorSource } from '../host-error.js';
import type { SmmuOptions } from '../types.js';

/** The message of a thrown value, whatever it is. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'an unprintable value';
  }
}

/** A short description of a value a host callback returned or an option held, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return typeof (v as { then?: unknown }).then === 'function' ? 'a thenable (Promise)' : 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${String(v)}`;
}

/** Checks an integer argument in [0, max]. */
export function checkInt(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`vsmmu: ${what} must be an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Checks the host callbacks of a device's options (irq, memory, trace, onHostError). */
export function checkCallbacks(options: SmmuOptions): void {
  if (options.irq !== undefined && typeof options.irq !== 'function') throw new TypeError('vsmmu: irq must be a function (line, count) => void');
  if (options.memory && (typeof options.memory.read !== 'function' || typeof options.memory.write !== 'function')) {
    throw new TypeError('vsmmu: memory must have read(addr, dst) and write(addr, src) functions');
  }
  if (options.trace !== undefined && typeof options.trace !== 'function') throw new TypeError('vsmmu: trace must be a function (line) => void');
  if (options.onHostError !== undefined && typeof options.onHostError !== 'function') throw new TypeError('vsmmu: onHostError must be a function (error) => void');
}

/** Re-entry guard and host-error reporting of one device. */
export class HostCalls {
  /**
   * Which host callback the engine is inside (memory, trace sink, onHostError, a backend
   * call); calls into the model are refused while set (a backend may still read and write
   * guest memory, as a pSMMU's walks do). Irq callbacks run with the engine idle: calls
   * from them are allowed.
   */
  private inCallback: string | null = null;
  /** Host errors raised during the current call, thrown at its end when there is no onHostError hook. */
  private deferred: HostError[] = [];
  /** A host error raised while an asynchronous backend completed (no hook): whenIdle() rejects with it. */
  private asyncError: HostError | null = null;

  constructor(private readonly onHostError?: (err: HostError) => void) {}

  /** The callback the engine is inside, or null. */
  get current(): string | null {
    return this.inCallback;
  }

  /** Whether an onHostError hook takes the reports. */
  get hooked(): boolean {
    return this.onHostError !== undefined;
  }

  /** Whether host errors wait for the end of the current call. */
  get hasDeferred(): boolean {
    return this.deferred.length > 0;
  }

  /** Marks the engine as inside callback `label` (null: outside); returns the previous mark. */
  swap(label: string | null): string | null {
    const outer = this.inCallback;
    this.inCallback = label;
    return outer;
  }

  /**
   * Start of a public call. Refused (with an error that is also reported) while the engine
   * is inside a host callback: the call would run in the middle of the engine's work.
   */
  enter(what: string): void {
    if (this.inCallback === null) return;
    const err = new HostError('reentry', `vsmmu: ${what}() called from inside a ${this.inCallback} callback: re-entry is refused (call it after the callback returns)`);
    this.report('reentry', err.message, undefined, err);
    throw err;
  }

  /** End of a public call: errors raised by host callbacks meanwhile are thrown when there is no hook. */
  leave(): void {
    if (this.deferred.length === 0 || this.inCallback !== null) return;
    const errs = this.deferred.splice(0);
    if (errs.length > 1) errs[0].message += ` (and ${errs.length - 1} more host error${errs.length > 2 ? 's' : ''})`;
    throw errs[0];
  }

  /** Reports a host-side failure: to onHostError, or deferred to the end of the call. */
  report(source: HostErrorSource, message: string, cause?: unknown, error?: HostError, backend?: string): void {
    const err = error ?? new HostError(source, message.startsWith('vsmmu:') ? message : `vsmmu: ${message}`, cause, backend);
    if (this.onHostError) {
      const outer = this.inCallback;
      this.inCallback = 'onHostError';
      try {
        this.onHostError(err);
        return;
      } catch (hookErr) {
        err.message += ` (onHostError threw: ${errorText(hookErr)})`;
      } finally {
        this.inCallback = outer;
      }
    }
    this.deferred.push(err);
  }

  /** Defers an error raised outside any public call (an asynchronous backend's completion). */
  defer(err: HostError): void {
    this.deferred.push(err);
  }

  /** After an asynchronous completion: the first error it deferred is kept for whenIdle(). */
  keepForIdle(): void {
    const errs = this.deferred.splice(0);
    if (errs.length && !this.asyncError) this.asyncError = errs[0];
  }

  /** The error kept for whenIdle(), cleared. */
  takeAsyncError(): HostError | null {
    const err = this.asyncError;
    this.asyncError = null;
    return err;
  }
}
