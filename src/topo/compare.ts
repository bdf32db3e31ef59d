// A comparison run (every topology on one workload) that reports progress, yields to the
// event loop between chunks of steps (a page stays responsive), and can be cancelled.

import { TOPOLOGIES, TopologyRun, type TopologyMetrics, type TopologyName, type Workload } from './explore.js';

export interface CompareProgress {
  /** Steps run so far over all topologies, and in all. */
  done: number;
  total: number;
  /** The topology running now and its index. */
  topology: TopologyName;
  index: number;
}

export interface CompareOptions {
  topologies?: TopologyName[];
  onProgress?: (p: CompareProgress) => void;
  /** Stops the run at the next chunk; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Steps between two yields to the event loop (default 10). */
  chunk?: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Runs `steps` steps of `w` on each topology and returns their metrics, in order. */
export async function compareTopologies(w: Workload, steps: number, opts: CompareOptions = {}): Promise<TopologyMetrics[]> {
  const names = opts.topologies ?? TOPOLOGIES.map((t) => t.name);
  const chunk = Math.max(1, opts.chunk ?? 10);
  const total = names.length * steps;
  const out: TopologyMetrics[] = [];
  for (const [index, topology] of names.entries()) {
    opts.signal?.throwIfAborted();
    const run = await TopologyRun.create(topology, w);
    for (let i = 0; i < steps; i += chunk) {
      for (let k = i; k < Math.min(steps, i + chunk); k++) run.step();
      opts.onProgress?.({ done: index * steps + Math.min(steps, i + chunk), total, topology, index });
      await yieldToEventLoop();
      opts.signal?.throwIfAborted();
    }
    out.push(run.metrics());
  }
  return out;
}
