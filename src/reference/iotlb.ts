// Readable TypeScript reference of QEMU 7.2's IOTLB (smmu-common.c) as the engine
// models it in assembly/iotlb.ts: entries keyed (ASID, IOVA, TG, level), at most 256,
// flushed entirely when an insert finds it full.

import * as T from '../arch/trace-events.js';

export interface RefTlbEntry {
  asid: number;
  iova: bigint;
  tg: number;
  level: number;
  ta: bigint;
  mask: bigint;
  perm: number;
}

export const REF_IOTLB_MAX = 256;

function key(asid: number, iova: bigint, tg: number, level: number): string {
  return `${asid}/${iova}/${tg}/${level}`;
}

export class RefIotlb {
  readonly entries = new Map<string, RefTlbEntry>();
  /** Receives smmu_iotlb_* trace records (ids of src/arch/trace-events.ts). */
  trace?: (id: number, args: bigint[]) => void;

  get size(): number {
    return this.entries.size;
  }

  find(asid: number, iova: bigint, tg: number, level: number): RefTlbEntry | undefined {
    return this.entries.get(key(asid, iova, tg, level));
  }

  insert(e: RefTlbEntry): void {
    if (this.entries.size >= REF_IOTLB_MAX) this.invAll();
    this.trace?.(T.T_IOTLB_INSERT, [BigInt(e.asid), e.iova, BigInt(e.tg), BigInt(e.level)]);
    this.entries.set(key(e.asid, e.iova, e.tg, e.level), e);
  }

  invAll(): void {
    this.trace?.(T.T_IOTLB_INV_ALL, []);
    this.entries.clear();
  }

  invAsid(asid: number): void {
    this.trace?.(T.T_IOTLB_INV_ASID, [BigInt(asid)]);
    for (const [k, e] of this.entries) if (e.asid === asid) this.entries.delete(k);
  }

  /** smmu_iotlb_inv_iova: exact key first when (TTL, one page, ASID), else containment in either direction. */
  invIova(asid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): void {
    const granule = BigInt(tg ? tg * 2 + 10 : 12);
    if (ttl && numPages === 1n && asid >= 0) {
      if (this.entries.delete(key(asid, iova, tg, ttl))) return;
    }
    const mask = BigInt.asUintN(64, (numPages << granule) - 1n);
    for (const [k, e] of this.entries) {
      if (asid >= 0 && e.asid !== asid) continue;
      if ((iova & ~e.mask & 0xffffffffffffffffn) === e.iova || (e.iova & ~mask & 0xffffffffffffffffn) === iova) this.entries.delete(k);
    }
  }
}
