// The engine's cached state in the reference's terms, so that a ReferenceCmdq can start
// from the state the engine is in (the benchmark and the fuzz campaign compare the two
// on the same queue bytes from the same state).

import type { EngineExports } from '../engine.js';
import type { RefTlbEntry } from './iotlb.js';
import * as A from '../arch/abi.js';

/** IOTLB contents, as the reference's entries (the engine's KEY_NONE as -1). */
export function engineIotlb(e: EngineExports): RefTlbEntry[] {
  const out: RefTlbEntry[] = [];
  const key = (v: number): number => (v === A.KEY_NONE ? -1 : v);
  for (let i = 0; i < e.iotlb_count(); i++) {
    const dv = new DataView(e.memory.buffer, e.debug_iotlb_entry(i), A.IE_BYTES);
    out.push({
      asid: key(dv.getUint32(A.IE_ASIDKEY, true)),
      vmid: key(dv.getUint32(A.IE_VMID, true)),
      iova: dv.getBigUint64(A.IE_IOVA, true),
      tg: dv.getUint8(A.IE_TG),
      level: dv.getUint8(A.IE_LEVEL),
      ta: dv.getBigUint64(A.IE_TA, true),
      mask: dv.getBigUint64(A.IE_MASK, true),
      perm: dv.getUint8(A.IE_PERM),
    });
  }
  return out;
}

/** Which of `sids` have a cached configuration. */
export function engineConfigs(e: EngineExports, sids: readonly number[]): number[] {
  return sids.filter((s) => e.debug_config_cached(s) !== 0);
}

/** vASID -> backend mask learned by the dispatcher, and the wildcard mask. */
export function engineVasids(e: EngineExports): { vasid: Map<number, number>; wildcard: number } {
  const vasid = new Map<number, number>();
  for (let a = 0; a < 0x10000; a++) {
    const m = e.vasid_mask(a);
    if (m) vasid.set(a, m);
  }
  return { vasid, wildcard: e.wildcard_mask() };
}
