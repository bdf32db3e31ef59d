// Which real QEMU the harness runs as its oracle: QEMU 7.2 (Debian 12, stage 1 only) or
// QEMU 10.0.2 (bookworm-backports, unpacked by scripts/install-qemu10.sh) with an SMMU of
// stage 1, stage 2 or both ("nested"). The spec's section "The qemu-10.0 profile and the
// stage field" (../../shared/spec/vsmmu-trace.md) fixes the machine per stage: from QEMU
// 9.2 on, `virt` forces its SMMU to nested after -global applies, so stages 1 and 2 use
// `virt-9.1`. A launched QEMU is checked against the spec's IDR0 for its stage.

import { dirname, join } from 'node:path';
import { qemuBinary } from './qtest.js';

export type QemuProfile = 'qemu-7.2' | 'qemu-10.0';
export type QemuStage = '1' | '2' | 'nested';

export interface QemuTarget {
  profile: QemuProfile;
  /** Translation stages the SMMU implements (the trace header's `stage`). */
  stage: QemuStage;
}

export const QEMU_PROFILES: readonly QemuProfile[] = ['qemu-7.2', 'qemu-10.0'];
export const QEMU_STAGES: readonly QemuStage[] = ['1', '2', 'nested'];

/** QEMU 7.2 with its stage-1-only SMMU: what the harness ran before QEMU 10 (and still runs by default). */
export const QEMU72: QemuTarget = { profile: 'qemu-7.2', stage: '1' };

/**
 * SMMU_IDR0 of each target as the spec's table gives it (IHI 0070 6.3.1: S2P bit 0,
 * S1P bit 1, VMID16 bit 18 from QEMU 8 on). A QEMU whose IDR0 differs runs the wrong
 * machine or stage, and its recordings would describe another SMMU.
 */
export const SPEC_IDR0: Readonly<Record<QemuProfile, Partial<Record<QemuStage, number>>>> = {
  'qemu-7.2': { '1': 0x0d40101a },
  'qemu-10.0': { '1': 0x0d44101a, '2': 0x0d441019, nested: 0x0d44101b },
};

/** Folder QEMU 10.0 is unpacked into (scripts/install-qemu10.sh's DEST): $VSMMU_QEMU10_DIR or /opt/qemu-10.0. */
export function qemu10Dir(): string {
  return process.env.VSMMU_QEMU10_DIR || '/opt/qemu-10.0';
}

/** The binary that runs `t` (7.2: $VSMMU_QEMU or qemu-system-aarch64 on PATH; 10.0: inside qemu10Dir()). */
export function targetBinary(t: QemuTarget): string {
  return t.profile === 'qemu-10.0' ? join(qemu10Dir(), 'usr', 'bin', 'qemu-system-aarch64') : qemuBinary();
}

/** -L <data folder> for an unpacked QEMU (its firmware and option ROMs are not where the binary expects them). */
export function dataDirArgs(t: QemuTarget, binary = targetBinary(t)): string[] {
  if (t.profile !== 'qemu-10.0') return [];
  return ['-L', join(dirname(dirname(binary)), 'share', 'qemu')];
}

/** The -machine value and -global options that give the SMMU the target's stages. */
export function machineOptions(t: QemuTarget): { machine: string; globals: string[] } {
  if (t.profile === 'qemu-7.2') return { machine: 'virt,iommu=smmuv3,highmem=off', globals: [] };
  const machine = t.stage === 'nested' ? 'virt,iommu=smmuv3,highmem=off' : 'virt-9.1,iommu=smmuv3,highmem=off';
  return { machine, globals: ['-global', `arm-smmuv3.stage=${t.stage}`] };
}

/** Checks a profile/stage pair (CLI arguments, trace headers); throws an Error naming the problem. */
export function parseTarget(profile: string | undefined, stage: string | undefined): QemuTarget {
  const p = (profile ?? 'qemu-7.2') as QemuProfile;
  if (!QEMU_PROFILES.includes(p)) throw new Error(`profile must be one of ${QEMU_PROFILES.join(', ')}, got "${profile}"`);
  const s = (stage ?? (p === 'qemu-10.0' ? 'nested' : '1')) as QemuStage;
  if (!QEMU_STAGES.includes(s)) throw new Error(`stage must be one of ${QEMU_STAGES.join(', ')}, got "${stage}"`);
  if (SPEC_IDR0[p][s] === undefined) throw new Error(`${p} has no stage ${s} (its SMMU translates stage 1 only)`);
  return { profile: p, stage: s };
}

/** "qemu-10.0 stage 2" */
export function describeTarget(t: QemuTarget): string {
  return `${t.profile} stage ${t.stage}`;
}

/** Same target? */
export function sameTarget(a: QemuTarget, b: QemuTarget): boolean {
  return a.profile === b.profile && a.stage === b.stage;
}
