// Errors of the host side of the model: a callback that threw or answered outside its
// contract, a backend that failed, a call that re-entered the model from a callback.
// They reach the embedder through the onHostError option, or are thrown at the end of
// the call during which they happened (see README "Robustness").

/** Where a host error came from. */
export type HostErrorSource = 'memory' | 'irq' | 'trace' | 'backend' | 'reentry' | 'internal';

export class HostError extends Error {
  override name = 'HostError';
  constructor(
    /** The callback or party that failed. */
    readonly source: HostErrorSource,
    message: string,
    /** What the callback threw, when it threw. */
    readonly cause?: unknown,
    /** The backend's name (source 'backend'). */
    readonly backend?: string,
  ) {
    super(message);
  }
}
