// Inspection of a device's engine for the differential tests and the benchmarks: the
// IOTLB and configuration-cache contents, the dispatcher's learned vASIDs, and the hooks
// that fill the caches as a walk would. Reached through engineDebug(smmu), never through
// the device's private fields; not exported by the library entry.

import type { EngineExports } from './engine.js';
import type { RefTlbEntry } from './reference/iotlb.js';
import { engineConfigs, engineIotlb } from './reference/from-engine.js';

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

/** The engine's exports behind a device (for code that reads the engine's state in bulk). */
export function engineExports(device: object): EngineExports {
  const e = engines.get(device);
  if (!e) throw new Error('vsmmu: engineDebug needs a device made by createSmmu');
  return e;
}

export function engineDebug(device: object): EngineDebug {
  const e = engineExports(device);
  return {
    iotlbInsert: (t) => e.debug_iotlb_insert(t.asid, t.iova, t.tg, t.level, t.ta, t.mask, t.perm),
    iotlb: () => engineIotlb(e),
    configCached: (sid) => engineConfigs(e, [sid]).length === 1,
    loadConfig: (sid) => e.debug_config_load(sid) !== 0,
    vasidMask: (asid) => e.vasid_mask(asid),
    wildcardMask: () => e.wildcard_mask(),
  };
}
