// Inspection of a device's engine for the differential tests and the benchmarks: the
// IOTLB and configuration-cache contents, the dispatcher's learned vASIDs, and the hooks
// that fill the caches as a walk would. Reached through engineDebug(smmu), never through
// the device's private fields; not exported by the library entry.

import type { EngineExports } from './engine.js';
import type { RefTlbEntry } from './reference/iotlb.js';
import * as A from './arch/abi.js';

export interface EngineDebug {
  /** Inserts an IOTLB entry as a walk would (QEMU smmu_iotlb_insert, flush-when-full included). */
  iotlbInsert(t: RefTlbEntry): void;
  /** The IOTLB entries, in the engine's order. */
  iotlb(): RefTlbEntry[];
  /** Whether StreamID `sid` has a cached configuration. */
  configCached(sid: number): boolean;
  /** Decodes and caches the configuration of `sid` now (as a translation would); false on a decode error. */
  loadConfig(sid: number): boolean;
  /** Backends the dispatcher learned hold `asid` (a mask). */
  vasidMask(asid: number): number;
  /** Backends assumed to hold every ASID (a mask). */
  wildcardMask(): number;
}

const engines = new WeakMap<object, EngineExports>();

/** Called by the device once its engine is instantiated. */
export function attachEngine(device: object, e: EngineExports): void {
  engines.set(device, e);
}

export function engineDebug(device: object): EngineDebug {
  const e = engines.get(device);
  if (!e) throw new Error('vsmmu: engineDebug needs a device made by createSmmu');
  return {
    iotlbInsert: (t) => e.debug_iotlb_insert(t.asid, t.iova, t.tg, t.level, t.ta, t.mask, t.perm),
    iotlb: () => {
      const out: RefTlbEntry[] = [];
      for (let i = 0; i < e.iotlb_count(); i++) {
        const dv = new DataView(e.memory.buffer, e.debug_iotlb_entry(i), A.IE_BYTES);
        out.push({
          asid: dv.getUint16(A.IE_ASID, true),
          iova: dv.getBigUint64(A.IE_IOVA, true),
          tg: dv.getUint8(A.IE_TG),
          level: dv.getUint8(A.IE_LEVEL),
          ta: dv.getBigUint64(A.IE_TA, true),
          mask: dv.getBigUint64(A.IE_MASK, true),
          perm: dv.getUint8(A.IE_PERM),
        });
      }
      return out;
    },
    configCached: (sid) => e.debug_config_cached(sid) !== 0,
    loadConfig: (sid) => e.debug_config_load(sid) !== 0,
    vasidMask: (asid) => e.vasid_mask(asid),
    wildcardMask: () => e.wildcard_mask(),
  };
}
