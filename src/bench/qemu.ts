// The QEMU 7.2 side of a stream benchmark: one qemu-system-aarch64 per stream (machine
// of the trace spec, driven over qtest by src/qtest), the same guest set-up as the model
// (caches filled by real edu DMA through the SMMU), the stream's bytes written into the
// 2^19-entry queue in guest RAM, then per run: caches refilled, queue emptied, and the
// time from the CMDQ_PROD write to the reply of the CMDQ_CONS read that follows it, minus
// the mean time of the same two requests when the queue is empty.

import { QemuMachine, SMMU_BASE } from '../qtest/machine.js';
import { qemuBinary, qemuVersion } from '../qtest/qtest.js';
import * as R from '../arch/registers.js';
import { BenchGuest } from './setup.js';
import { now, seconds } from './model.js';
import { EMULATED, STREAM_QUEUE, type StreamSpec } from './streams.js';

export interface QemuStreamResult {
  /** Seconds of consumption per run (round trip subtracted). */
  runs: number[];
  /** Mean qtest round trip of the PROD write + CONS read pair, seconds. */
  rtt: number;
}

/** The QEMU version line, or undefined when no usable qemu-system-aarch64 is installed. */
export function qemuAvailable(): string | undefined {
  return qemuVersion(qemuBinary());
}

const hex = (v: number) => '0x' + v.toString(16);

/** `runs` timed runs of the stream (fewer, but at least 3, when they would take more than `budget` seconds). */
export async function qemuStream(spec: StreamSpec, bytes: Uint8Array, runs: number, log: (s: string) => void = () => {}, budget = Infinity): Promise<QemuStreamResult> {
  const n = bytes.length / 16;
  const m = await QemuMachine.start({ devices: EMULATED });
  try {
    const guest = new BenchGuest(m, (sid, iova) => m.dma(sid, BigInt(iova), BigInt(iova), 64));
    guest.init();
    m.writeMemory(STREAM_QUEUE, bytes);
    const q = m.q;
    const prod = `writel ${hex(SMMU_BASE + R.R_CMDQ_PROD)} `;
    const cons = `readl ${hex(SMMU_BASE + R.R_CMDQ_CONS)}`;

    // the same request pair with nothing to consume (CONS = PROD = 0)
    guest.useStreamQueue();
    q.flush();
    const pair = () => {
      const t0 = now();
      q.send(prod + '0x0');
      q.query(cons);
      return seconds(t0, now());
    };
    for (let i = 0; i < 20; i++) pair();
    let sum = 0;
    const K = 200;
    for (let i = 0; i < K; i++) sum += pair();
    const rtt = sum / K;

    const out: number[] = [];
    let want = runs;
    for (let r = 0; r < want; r++) {
      guest.populate();
      guest.useStreamQueue();
      q.flush();
      const t0 = now();
      q.send(prod + hex(n));
      const c = Number(BigInt(q.query(cons)) & 0xffffffffn);
      const dt = seconds(t0, now());
      const st = guest.queueStatus();
      if (c !== n || st.error) throw new Error(`bench: QEMU consumed 0x${c.toString(16)} of 0x${n.toString(16)} commands of "${spec.name}"${st.error ? ' (command error)' : ''}`);
      out.push(Math.max(dt - rtt, 1e-9));
      if (r === 0) want = Math.max(Math.min(runs, 3), Math.min(runs, Math.floor(budget / dt)));
      log(`  qemu run ${r + 1}/${want}: ${(n / Math.max(dt - rtt, 1e-9) / 1e6).toFixed(2)} Mcmd/s (${(dt * 1e3).toFixed(2)} ms - rtt ${(rtt * 1e6).toFixed(1)} us)`);
    }
    return { runs: out, rtt };
  } finally {
    await m.close();
  }
}
