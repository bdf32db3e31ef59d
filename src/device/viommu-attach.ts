// The vSMMU's attachment to physical SMMUs (vIOMMU): the backends with their VMIDs, their
// event subscriptions, the forwarder that sends them the guest's commands, and the
// forwarded work an asynchronous backend still holds.

import type { EngineExports } from '../engine.js';
import { Forwarder, type BoundBackend } from '../viommu.js';
import { HostError } from '../host-error.js';
import * as A from '../arch/abi.js';
import type { ViommuBackendConfig } from '../types.js';
import type { PsmmuBackend } from '../backends/types.js';
import { checkInt, errorText, type HostCalls } from './host-calls.js';

/** The backends of one vSMMU. */
export class ViommuAttachment {
  private readonly byName = new Map<string, number>();
  private readonly bound: BoundBackend[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private fwd?: Forwarder;
  /** The backend call a CMD_SYNC waits for (asynchronous backends), until it settles. */
  private pending: Promise<void> | null = null;
  private generation = 0;

  constructor(private readonly host: HostCalls, private readonly timeoutMs: number | undefined) {}

  /** The forwarder, once there is a backend. */
  get forwarder(): Forwarder | undefined {
    return this.fwd;
  }

  /** The backends, in the order they were added (their index is the engine's). */
  get list(): BoundBackend[] {
    return this.bound;
  }

  /** True while an asynchronous backend holds a CMD_SYNC. */
  get busy(): boolean {
    return this.pending !== null;
  }

  /** The engine's index of backend `name`. */
  index(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** Adds a backend; `deliver` takes the event records it publishes. */
  add(e: EngineExports, cfg: ViommuBackendConfig, deliver: (index: number, record: Uint8Array) => void): PsmmuBackend {
    if (!cfg || typeof cfg.name !== 'string' || cfg.name === '') throw new TypeError('vsmmu: backend name must be a non-empty string');
    if (this.byName.has(cfg.name)) throw new RangeError(`vsmmu: backend "${cfg.name}" already exists`);
    checkInt(cfg.vmid, `vmid of backend "${cfg.name}"`, 0xffff);
    const index = this.bound.length;
    if (index >= A.MAX_BACKENDS) throw new RangeError(`vsmmu: at most ${A.MAX_BACKENDS} backends per vSMMU`);
    const backend = cfg.backend;
    if (!backend || typeof backend.invalidate !== 'function' || typeof backend.installSte !== 'function') {
      throw new TypeError(`vsmmu: backend "${cfg.name}" must implement invalidate(entries) and installSte(psid, ste)`);
    }
    e.set_backend(index, cfg.vmid);
    this.bound.push({ name: cfg.name, vmid: cfg.vmid, backend });
    this.byName.set(cfg.name, index);
    if (backend.subscribe) this.unsubscribe.push(backend.subscribe((rec) => deliver(index, rec)));
    const host = this.host;
    this.fwd = new Forwarder(e, this.bound, {
      timeoutMs: this.timeoutMs,
      report: (name, message, malformed) => this.backendFailed(name, message, malformed),
      inside: (label) => host.swap(label),
      internal: (err) => host.report('internal', `vsmmu: forwarding failed: ${errorText(err)}`, err),
    });
    return backend;
  }

  /** A backend call failed (refused an entry, threw, returned something malformed, timed out). */
  private backendFailed(name: string, message: string, malformed: boolean): void {
    const text = `backend "${name}": ${message}`;
    if (malformed) this.host.report('backend', text, undefined, undefined, name);
    else if (this.host.hooked) this.host.report('backend', text, undefined, undefined, name); // a refusal: the guest sees CERROR_ILL
  }

  /**
   * Holds an asynchronous backend call as `pending` until it settles, then runs `next`.
   * The forwarder turns every backend outcome into a result; what goes wrong after it (a
   * throwing callback without onHostError) is kept for whenIdle(), never left as an
   * unhandled rejection. A reset in between abandons it (generation).
   */
  track(r: Promise<void>, next: () => void): void {
    const generation = ++this.generation;
    this.pending = r.then(() => {
      if (generation !== this.generation) return; // abandoned (reset)
      this.pending = null;
      next();
    }).catch((err: unknown) => {
      if (generation === this.generation) this.pending = null;
      this.host.defer(err instanceof HostError ? err : new HostError('internal', `vsmmu: ${errorText(err)}`, err));
    }).then(() => this.host.keepForIdle());
  }

  /** Gives up on the outstanding backend call (its result is ignored when it comes). */
  abandon(reason: string): void {
    this.generation++;
    this.fwd?.abandon(reason);
    this.pending = null;
  }

  /** Resolves when no forwarded commands are outstanding; rejects with a host error kept meanwhile. */
  whenIdle(): Promise<void> {
    const take = (): void => {
      const err = this.host.takeAsyncError();
      if (err) throw err;
    };
    return this.pending ? this.pending.then(() => (this.pending ? this.whenIdle() : take())) : Promise.resolve().then(take);
  }

  /** Detaches from backends' event streams. */
  dispose(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}
