// The engine's translation outputs read on the host: one translation's result block (XO_*)
// and the device's statistics counters (ST_*).

import type { EngineExports } from '../engine.js';
import * as A from '../arch/abi.js';
import type { SmmuStats, TranslateResult, TranslateStatus } from '../types.js';

const TWO32 = 2 ** 32;
/** Host names of the engine's translation statuses, indexed by XS_*. */
const STATUS: TranslateStatus[] = [];
STATUS[A.XS_SUCCESS] = 'success';
STATUS[A.XS_DISABLE] = 'disabled';
STATUS[A.XS_BYPASS] = 'bypass';
STATUS[A.XS_ABORT] = 'abort';
STATUS[A.XS_ERROR] = 'fault';
STATUS[A.XS_GBPA_ABORT] = 'abort';

/** The result of a translation that ended with `status`, from the engine's result block `x`. */
export function translateResult(x: Uint32Array, status: number): TranslateResult {
  const ok = status === A.XS_SUCCESS || status === A.XS_DISABLE || status === A.XS_BYPASS;
  const mask = x[A.XO_MASK / 4] + x[A.XO_MASK / 4 + 1] * TWO32;
  return {
    status: STATUS[status],
    ok,
    addr: ok ? x[A.XO_ADDR / 4] + x[A.XO_ADDR / 4 + 1] * TWO32 : 0,
    size: ok ? mask + 1 : 0,
    perm: x[A.XO_PERM / 4],
    event: x[A.XO_EVENT / 4],
    recorded: x[A.XO_RECORDED / 4] !== 0,
  };
}

/** The output address of a successful translation as a bigint (64-bit IOVAs). */
export function translateAddr64(x: Uint32Array): bigint {
  return (BigInt(x[A.XO_ADDR / 4 + 1]) << 32n) | BigInt(x[A.XO_ADDR / 4]);
}

function stat(e: EngineExports, off: number): number {
  const v = new DataView(e.memory.buffer, e.stats_ptr() + off, 8);
  return v.getUint32(0, true) + v.getUint32(4, true) * TWO32;
}

/** The device's counters. */
export function readStats(e: EngineExports): SmmuStats {
  return {
    commands: stat(e, A.ST_COMMANDS),
    syncs: stat(e, A.ST_SYNCS),
    translations: stat(e, A.ST_TRANSLATIONS),
    iotlbHits: stat(e, A.ST_IOTLB_HITS),
    iotlbMisses: stat(e, A.ST_IOTLB_MISSES),
    configHits: stat(e, A.ST_CFG_HITS),
    configMisses: stat(e, A.ST_CFG_MISSES),
    events: stat(e, A.ST_EVENTS),
    eventsLost: stat(e, A.ST_EVENTS_LOST),
    forwarded: stat(e, A.ST_FORWARDED),
    filtered: stat(e, A.ST_FILTERED),
    broadcastTlbi: stat(e, A.ST_BROADCAST_TLBI),
    targetedTlbi: stat(e, A.ST_TARGETED_TLBI),
    walkReads: stat(e, A.ST_WALK_READS),
    iotlbFullFlushes: stat(e, A.ST_IOTLB_FLUSH_FULL),
    iotlbEntries: e.iotlb_count(),
  };
}
