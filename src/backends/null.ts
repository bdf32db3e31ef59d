// A physical SMMU that accepts every entry and does nothing with it: what is left of a
// vIOMMU run is the vSMMU's own cost (the dispatcher and the crossing to the host), the
// `mixed vIOMMU null backends` stream of `vsmmu bench`.

import type { BatchResult, PsmmuBackend } from './types.js';

export class NullPsmmu implements PsmmuBackend {
  /** Invalidation entries and STE installs accepted. */
  entries = 0;
  /** Calls (invalidate and installSte). */
  calls = 0;

  constructor(readonly name: string) {}

  invalidate(entries: Uint8Array): BatchResult {
    const n = entries.length >>> 4;
    this.entries += n;
    this.calls++;
    return { done: n };
  }

  installSte(): BatchResult {
    this.entries++;
    this.calls++;
    return { done: 1 };
  }
}
