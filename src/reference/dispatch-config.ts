// The reference dispatcher's view of guest memory for a vIOMMU (trace spec, "The vIOMMU
// extension"): each passthrough vSID's STE as read now, and the ASIDs of the valid CDs a
// valid stage-1 STE points at (vASID learning). Shared by the benchmark and the fuzz
// campaign, which both compare the engine with the reference.

import type { RefDispatchConfig } from './cmdq.js';
import { STE_V, STE_CONFIG, STE_S1CTXPTR, STE_S1CDMAX, STE_CFG_S1_TRANS } from '../arch/ste.js';
import { CD_V, CD_ASID, CD_BYTES } from '../arch/cd.js';
import { LEARN_CD_LIMIT } from '../arch/abi.js';
import { field64, fieldPos } from '../bits.js';

export interface RefTopology {
  backends: ReadonlyArray<{ name: string; vmid: number }>;
  passthrough: ReadonlyArray<{ sid: number; backend: string; psid: number }>;
}

/**
 * `steAddr(vsid)` is where the guest keeps that STE; `u64(addr)` reads guest memory (null
 * where nothing is readable).
 */
export function refDispatchConfig(t: RefTopology, steAddr: (vsid: number) => number, u64: (addr: bigint) => bigint | null): RefDispatchConfig {
  const readSte = (vsid: number): [bigint, bigint] | null => {
    const a = BigInt(steAddr(vsid));
    const w0 = u64(a), w1 = u64(a + 8n);
    return w0 === null || w1 === null ? null : [w0, w1];
  };
  return {
    vmids: t.backends.map((b) => b.vmid),
    vdevs: new Map(t.passthrough.map((p) => [p.sid, { backend: t.backends.findIndex((b) => b.name === p.backend), psid: p.psid }])),
    readSte,
    cdAsids: (vsid) => {
      const s = readSte(vsid);
      if (!s || field64(s, STE_V) === 0n || Number(field64(s, STE_CONFIG)) !== STE_CFG_S1_TRANS) return [];
      const ctx = field64(s, STE_S1CTXPTR) << BigInt(fieldPos(STE_S1CTXPTR));
      const n = 1 << Number(field64(s, STE_S1CDMAX));
      if (n > LEARN_CD_LIMIT) return null;
      const out: number[] = [];
      for (let k = 0; k < n; k++) {
        const c = u64(ctx + BigInt(k * CD_BYTES));
        if (c !== null && field64([c], CD_V) !== 0n) out.push(Number(field64([c], CD_ASID)));
      }
      return out;
    },
  };
}
