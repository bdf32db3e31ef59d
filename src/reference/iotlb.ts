// Readable TypeScript reference of QEMU's IOTLB (smmu-common.c) as the engine models it
// in assembly/iotlb.ts: entries keyed (ASID, VMID, IOVA, TG, level), at most 256, flushed
// entirely when an insert finds it full. ASID -1: a stage-2 entry; VMID -1: an SMMU
// without stage 2 (QEMU 7.2 has neither: every key has -1 for the VMID).

import * as T from '../arch/trace-events.js';

export interface RefTlbEntry {
  asid: number;
  /** -1 on an SMMU without stage 2. */
  vmid: number;
  iova: bigint;
  tg: number;
  level: number;
  ta: bigint;
  mask: bigint;
  perm: number;
}

export const REF_IOTLB_MAX = 256;

/** The key of an entry: `asid/vmid/iova/tg/level` (-1 for no ASID or VMID). */
export function refKey(asid: number, vmid: number, iova: bigint, tg: number, level: number): string {
  return `${asid}/${vmid}/${iova}/${tg}/${level}`;
}

const M64 = 0xffffffffffffffffn;

export class RefIotlb {
  readonly entries = new Map<string, RefTlbEntry>();
  /** Receives smmu_iotlb_* trace records (ids of src/arch/trace-events.ts). */
  trace?: (id: number, args: bigint[]) => void;

  get size(): number {
    return this.entries.size;
  }

  find(asid: number, vmid: number, iova: bigint, tg: number, level: number): RefTlbEntry | undefined {
    return this.entries.get(refKey(asid, vmid, iova, tg, level));
  }

  insert(e: RefTlbEntry): void {
    if (this.entries.size >= REF_IOTLB_MAX) this.invAll();
    this.trace?.(T.T_IOTLB_INSERT, [BigInt(e.asid < 0 ? 0x10000 : e.asid), e.iova, BigInt(e.tg), BigInt(e.level)]);
    this.entries.set(refKey(e.asid, e.vmid, e.iova, e.tg, e.level), e);
  }

  invAll(): void {
    this.trace?.(T.T_IOTLB_INV_ALL, []);
    this.entries.clear();
  }

  /** smmu_iotlb_inv_asid_vmid (7.2: smmu_iotlb_inv_asid, every key's VMID being -1). */
  invAsid(asid: number, vmid: number): void {
    this.trace?.(T.T_IOTLB_INV_ASID, [BigInt(asid)]);
    for (const [k, e] of this.entries) if (e.asid === asid && e.vmid === vmid) this.entries.delete(k);
  }

  /** smmu_iotlb_inv_vmid, or with `s1Only` smmu_iotlb_inv_vmid_s1 (entries with an ASID). */
  invVmid(vmid: number, s1Only: boolean): void {
    for (const [k, e] of this.entries) if (e.vmid === vmid && (!s1Only || e.asid >= 0)) this.entries.delete(k);
  }

  private static covers(e: RefTlbEntry, iova: bigint, mask: bigint): boolean {
    return (iova & ~e.mask & M64) === e.iova || (e.iova & ~mask & M64) === iova;
  }

  /** smmu_iotlb_inv_iova: exact key first when (TTL, one page, ASID), else containment in either direction; -1 = any. */
  invIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): void {
    const granule = BigInt(tg ? tg * 2 + 10 : 12);
    if (ttl && numPages === 1n && asid >= 0) {
      if (this.entries.delete(refKey(asid, vmid, iova, tg, ttl))) return;
    }
    const mask = BigInt.asUintN(64, (numPages << granule) - 1n);
    for (const [k, e] of this.entries) {
      if (asid >= 0 && e.asid !== asid) continue;
      if (vmid >= 0 && e.vmid !== vmid) continue;
      if (RefIotlb.covers(e, iova, mask)) this.entries.delete(k);
    }
  }

  /** smmu_iotlb_inv_ipa: the same for the stage-2 entries (ASID -1) of one VMID. */
  invIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): void {
    const granule = BigInt(tg ? tg * 2 + 10 : 12);
    if (ttl && numPages === 1n) {
      if (this.entries.delete(refKey(-1, vmid, ipa, tg, ttl))) return;
    }
    const mask = BigInt.asUintN(64, (numPages << granule) - 1n);
    for (const [k, e] of this.entries) {
      if (e.asid >= 0 || e.vmid !== vmid) continue;
      if (RefIotlb.covers(e, ipa, mask)) this.entries.delete(k);
    }
  }
}
