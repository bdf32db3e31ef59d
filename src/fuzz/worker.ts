// Worker thread of `vsmmu fuzz`: runs the campaign and reports to the main thread, which
// watches for a round that never ends (a hang the per-call deadline cannot see).

import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runCampaign, type FuzzOptions } from './campaign.js';

export type WorkerMessage =
  | { type: 'beat'; round: number }
  | { type: 'progress'; commands: number; translations: number; rounds: number; compared: number; comparedCommands: number }
  | { type: 'done'; report: Awaited<ReturnType<typeof runCampaign>> }
  | { type: 'error'; message: string };

const port = parentPort!;
const o = workerData as Omit<FuzzOptions, 'progress' | 'heartbeat' | 'writeFile'>;
runCampaign({
  ...o,
  heartbeat: (round) => port.postMessage({ type: 'beat', round } satisfies WorkerMessage),
  progress: (p) => port.postMessage({ type: 'progress', ...p } satisfies WorkerMessage),
  writeFile: (path, text) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  },
}).then(
  (report) => port.postMessage({ type: 'done', report } satisfies WorkerMessage),
  (err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage),
);
