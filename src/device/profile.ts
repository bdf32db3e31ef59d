// Which SMMU a model is: the QEMU version (or the architecture) it behaves like and the
// translation stages it implements, as the engine's profile flags.

import * as A from '../arch/abi.js';
import type { Profile, Stage } from '../types.js';
import { describe } from './host-calls.js';

export const PROFILES: Record<Profile, number> = { 'qemu-7.2': A.PF_QEMU_72, 'qemu-10.0': A.PF_QEMU_10, arch: A.PF_ARCH };
/** Profile flags of the translation stages an SMMU implements (IDR0.S1P/S2P; QEMU 10's `stage` property). */
export const STAGES: Record<Stage, number> = { '1': 0, '2': A.PF_S2P | A.PF_NO_S1P, nested: A.PF_S2P };
/** The stages of a profile when the options name none: QEMU 10's `virt` machine is nested; QEMU 7.2 has stage 1 only. */
export const DEFAULT_STAGE: Record<Profile, Stage> = { 'qemu-7.2': '1', 'qemu-10.0': 'nested', arch: '1' };

/** The engine's profile flags (PF_* of src/arch/abi.ts) for a profile and the stages it implements. */
export function profileFlags(profile: Profile, stage: Stage): number {
  // arch: the stages' ID registers and command rules are QEMU 10.0's (architected)
  return PROFILES[profile] | STAGES[stage] | (profile === 'arch' ? A.PF_V10 : 0);
}

/** The profile and stages options name (checked), the defaults when they name none. */
export function checkProfile(profile: unknown, stage: unknown): { profile: Profile; stage: Stage } {
  const p = profile ?? 'qemu-7.2';
  if (typeof p !== 'string' || !Object.hasOwn(PROFILES, p)) throw new RangeError(`vsmmu: profile must be one of ${Object.keys(PROFILES).join(', ')}, got ${describe(p)}`);
  const st = stage ?? DEFAULT_STAGE[p as Profile];
  if (typeof st !== 'string' || !Object.hasOwn(STAGES, st)) throw new RangeError(`vsmmu: stage must be one of ${Object.keys(STAGES).join(', ')}, got ${describe(st)}`);
  if (p === 'qemu-7.2' && st !== '1') throw new RangeError(`vsmmu: QEMU 7.2 implements stage 1 only, got stage ${st}`);
  return { profile: p as Profile, stage: st as Stage };
}
