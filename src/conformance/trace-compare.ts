// Side-by-side trace logs: QEMU's `-trace 'smmu*'` output and our model's trace lines
// for the same operations, normalised so that `diff` shows only real differences.

import { modelFor } from './builder.js';
import { QEMU72, type QemuTarget } from '../qtest/target.js';
import { applyOp, smmuTarget, type Op } from '../ops.js';

/** QEMU trace events the model does not produce (machine set-up, notifiers). */
const QEMU_ONLY = /^(smmu_add_mr|smmu_reset_exit|smmuv3_notify_flag_add|smmuv3_notify_flag_del|smmu_inv_notifiers_mr|smmuv3_inv_notifiers_iova)\b/;

/**
 * QEMU's log without the "pid@seconds.micros:" prefix some trace backends add, without
 * events of the machine set-up (the IDR0 check at start included), and without empty lines.
 */
export function normalizeQemuLog(text: string): string[] {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^\d+@\d+\.\d+:/, '').trimEnd())
    .filter((l) => l !== '' && !QEMU_ONLY.test(l));
  // the machine's IDR0 check at start (QemuMachine.start) is the first SMMU access: not the scenario's
  const first = lines.findIndex((l) => l.startsWith('smmuv3_'));
  if (first >= 0 && lines[first].startsWith('smmuv3_read_mmio addr: 0x0 ')) lines.splice(first, 1);
  return lines;
}

/** Our model's trace lines for `ops`, op by op, with each register write logged after its effects (as QEMU logs it). */
export async function modelTrace(devices: number[], ops: readonly Op[], qemu: QemuTarget = QEMU72): Promise<string[]> {
  const out: string[] = [];
  let cur: string[] = [];
  const opts = { devices, trace: (l: string) => cur.push(l) };
  let smmu = await modelFor(qemu, opts);
  let target = smmuTarget(smmu, { digest: false });
  for (const o of ops) {
    cur = [];
    if (o.op === 'migrate') {
      // as the replayer does: save, a fresh model, RAM carried over, restore (no trace lines)
      const next = await modelFor(qemu, opts);
      next.ram(0).set(smmu.ram(0));
      next.restore(smmu.save());
      smmu.dispose();
      smmu = next;
      target = smmuTarget(smmu, { digest: false });
      continue;
    }
    if (o.op !== 'mem_read' && o.op !== 'mem_digest') applyOp(target, o); // memory observations trace nothing
    if (o.op === 'mmio_write') {
      // QEMU traces smmuv3_write_mmio when the write has taken effect
      const i = cur.findIndex((l) => l.startsWith('smmuv3_write_mmio '));
      if (i >= 0) cur.push(...cur.splice(i, 1));
    }
    out.push(...cur.map((l) => l.trimEnd()));
  }
  smmu.dispose();
  return out;
}

export interface Divergence {
  /** 0-based line index of the first difference. */
  index: number;
  qemu: string[];
  model: string[];
}

/**
 * Puts runs of smmuv3_config_cache_inv lines in order: CFGI_STE_RANGE drops cached
 * configurations in the order of QEMU's GHashTable (keyed by pointers), which carries
 * no meaning and cannot be reproduced.
 */
export function canonical(lines: string[]): string[] {
  const out = [...lines];
  for (let i = 0; i < out.length; ) {
    if (!out[i].startsWith('smmuv3_config_cache_inv ')) {
      i++;
      continue;
    }
    let j = i;
    while (j < out.length && out[j].startsWith('smmuv3_config_cache_inv ')) j++;
    const run = out.slice(i, j).sort();
    out.splice(i, j - i, ...run);
    i = j;
  }
  return out;
}

/** The first place where the two logs differ (after canonical()), with a few lines of context, or undefined. */
export function firstDivergence(qemu0: string[], model0: string[], context = 5): Divergence | undefined {
  const qemu = canonical(qemu0);
  const model = canonical(model0);
  const n = Math.max(qemu.length, model.length);
  for (let i = 0; i < n; i++) {
    if (qemu[i] !== model[i]) {
      const from = Math.max(0, i - context);
      return { index: i, qemu: qemu.slice(from, i + context + 1), model: model.slice(from, i + context + 1) };
    }
  }
  return undefined;
}
