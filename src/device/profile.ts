// Which SMMU a model is: the QEMU version (or the architecture) it behaves like and the
// translation stages it implements, as the engine's profile flags.

import * as A from '../arch/abi.js';
import type { Profile, Stage } from '../types.js';

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
