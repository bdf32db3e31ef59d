// Worker thread of the conformance runner: runs the scenarios it is sent, one at a
// time (the qtest client blocks this thread while QEMU works), and reports QEMU's pid
// before each recording so that the main thread can stop a QEMU that hangs.

import { parentPort } from 'node:worker_threads';
import { runScenario, type ScenarioTask } from './scenario-run.js';

if (!parentPort) throw new Error('conformance worker: not in a worker thread');
const port = parentPort;

port.on('message', (task: ScenarioTask | null) => {
  if (task === null) {
    port.close();
    return;
  }
  runScenario(task, { onStart: (pid) => port.postMessage({ type: 'pid', index: task.index, pid }) }).then(
    (outcome) => port.postMessage({ type: 'result', outcome }),
    (err) => port.postMessage({ type: 'result', outcome: { index: task.index, seed: task.seed, error: String(err) } }),
  );
});
