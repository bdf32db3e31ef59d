// Seeded scenario generator: each seed picks a family (the shared traces' families and
// the ones they miss) and builds a small scenario a guest SMMU driver could produce,
// careful, careless or hostile. Same seed, same scenario.

import { withMigrationPoints } from './migration-points.js';
import { Builder } from './builder.js';
import { Rng } from './rng.js';
import { World } from './world.js';
import type { Scenario } from './scenario.js';
import * as S1 from './families-s1.js';
import * as S2 from './families-s2.js';
import { installS2Fallback } from './stage2.js';
import { QEMU72, describeTarget, type QemuTarget } from '../qtest/target.js';

/** The DMA engines every scenario has: edu devices in slots 3, 4, 5 and 31. */
export const DEVICES: readonly number[] = [0x18, 0x20, 0x28, 0xf8];

export const FAMILIES: Record<string, { weight: number; run: S1.Family; lowIova?: number }> = {
  xlate: { weight: 5, run: S1.xlate, lowIova: 0.2 },
  stale: { weight: 5, run: S1.stale, lowIova: 0.1 },
  config: { weight: 3, run: S1.config },
  strtab: { weight: 2, run: S1.strtab },
  cmdq: { weight: 3, run: S1.cmdq },
  evtq: { weight: 2, run: S1.evtq },
  regs: { weight: 2, run: S1.regs },
  disabled: { weight: 1, run: S1.disabled },
  iotlb: { weight: 0.5, run: S1.iotlb },
  mixed: { weight: 4, run: S1.mixed },
  // an SMMU with stage 2 (QEMU 10.0); these never let a device bypass
  's2-walk': { weight: 5, run: S2.s2Walk, lowIova: 1 },
  's2-ste-checks': { weight: 3, run: S2.s2SteChecks, lowIova: 1 },
  's2-perm': { weight: 3, run: S2.s2Perm, lowIova: 1 },
  's2-cache': { weight: 4, run: S2.s2Cache, lowIova: 1 },
  'nested-walk': { weight: 5, run: S2.nestedWalk, lowIova: 1 },
  'nested-faults': { weight: 4, run: S2.nestedFaults, lowIova: 1 },
  'nested-cache': { weight: 4, run: S2.nestedCache, lowIova: 1 },
  regs10: { weight: 1, run: S2.regs10 },
};

const STAGE1_FAMILIES = ['xlate', 'stale', 'config', 'strtab', 'cmdq', 'evtq', 'regs', 'disabled', 'iotlb', 'mixed'];
const S2_FAMILIES = ['s2-walk', 's2-ste-checks', 's2-perm', 's2-cache'];
const NESTED_FAMILIES = ['nested-walk', 'nested-faults', 'nested-cache'];

/**
 * The families a target runs, with weights. On an SMMU with stage 2 the families that
 * may read STEs from arbitrary guest memory (strtab, regs) are left out: an STE with
 * stage 2 and S2AA64 = 0 aborts QEMU 10.0 (regs10 probes the registers instead); stage-1
 * families run there too, at a lower weight, since a nested SMMU takes stage-1 STEs.
 */
export function familiesOf(target: QemuTarget = QEMU72): Array<[string, number]> {
  const w = (names: string[], scale = 1): Array<[string, number]> => names.map((n) => [n, FAMILIES[n].weight * scale]);
  if (target.profile === 'qemu-7.2') return w(STAGE1_FAMILIES);
  if (target.stage === '1') return [...w(STAGE1_FAMILIES), ...w(['regs10'])];
  const s1 = STAGE1_FAMILIES.filter((f) => f !== 'strtab' && f !== 'regs');
  if (target.stage === '2') return [...w(S2_FAMILIES, 2), ...w(['cmdq', 'evtq', 'disabled'], 0.5), ...w(['regs10'])];
  return [...w(NESTED_FAMILIES, 2), ...w(S2_FAMILIES), ...w(s1, 0.3), ...w(['regs10'])];
}

/** The family a seed selects (unless one is forced). */
export function familyOf(seed: number, forced?: string, target: QemuTarget = QEMU72): string {
  const fams = familiesOf(target);
  if (forced) {
    if (!fams.some(([f]) => f === forced)) throw new Error(`unknown family "${forced}" for ${describeTarget(target)} (one of ${fams.map(([f]) => f).join(', ')})`);
    return forced;
  }
  const r = new Rng(seed ^ 0x5bd1e995);
  return r.weighted(fams.map(([k, v]) => [v, k] as const));
}

/** Builds the scenario of `seed` for `target` (QEMU 7.2 by default). */
export async function generate(seed: number, forced?: string, target: QemuTarget = QEMU72): Promise<Scenario> {
  const family = familyOf(seed, forced, target);
  const f = FAMILIES[family];
  const r = new Rng(seed);
  const b = await Builder.create(r, [...DEVICES], target);
  try {
    const w = new World(b, { lowIova: r.chance(f.lowIova ?? 0), chaos: r.pick([0.05, 0.1, 0.2]), target });
    if (w.hasS2) installS2Fallback(w);
    f.run(w);
    // live migration points on QEMU 7.2 (the migration harness drives that QEMU's command line)
    const ops = target.profile === 'qemu-7.2' ? withMigrationPoints(seed, b.ops) : b.ops;
    return { name: `${family}-${seed}`, family, seed, target, devices: [...DEVICES], ops, opcodes: [...b.opcodes].sort((x, y) => x - y) };
  } finally {
    b.dispose();
  }
}
