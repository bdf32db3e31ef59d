// A physical SMMU that accepts every entry and does nothing with it: what is left of a
// vIOMMU run is the vSMMU's own cost (the dispatcher and the crossing to the host), the
// `mixed vIOMMU null backends` stream of `vsmmu bench`.

import type { BatchResult, PsmmuBackend } from './types.js';

export class NullPsmmu implements PsmmuBackend {
  /** Invalidation entries and STE installs accepted. */
  entries = 0;
  /** Calls (invalidate and installSte). */
  calls = 0;

  // One result object, rewritten per call: the caller reads it before the next call
  // (types.ts), and a backend that does nothing should not allocate either.
  private readonly result: { done: number } = { done: 0 };

  constructor(readonly name: string) {}

  invalidate(entries: Uint8Array): BatchResult {
    const n = entries.length >>> 4;
    this.entries += n;
    this.calls++;
    this.result.done = n;
    return this.result;
  }

  installSte(): BatchResult {
    this.entries++;
    this.calls++;
    this.result.done = 1;
    return this.result;
  }
}
