// The TypeScript reference on a fuzz round's queue: a ReferenceCmdq in the engine's
// state before the round (caches, vASIDs, forwarding configuration), run to where the
// engine stops, and the differences between the two afterwards.

import * as enc from '../guest/encode.js';
import { ReferenceCmdq, type RefDispatchConfig, type RefForward } from '../reference/cmdq.js';
import { engineConfigs, engineIotlb, engineVasids } from '../reference/from-engine.js';
import { refKey } from '../reference/iotlb.js';
import { refDispatchConfig } from '../reference/dispatch-config.js';
import { engineOf } from '../bench/model.js';
import * as A from '../arch/abi.js';
import * as R from '../arch/registers.js';
import { hex } from '../bits.js';
import { BACKENDS, EMULATED, FUZZ_BASE, FUZZ_SIZE, PASSTHROUGH, type Machine } from './machine.js';

/** The reference's copy of the engine before a round's commands, and what it forwarded. */
export interface Snapshot {
  ref: ReferenceCmdq;
  sent: string[][];
}

/** A reference command queue in the engine's state, with the round's commands from `prodBefore` on. */
export function referenceFrom(m: Machine, prodBefore: number): Snapshot {
  const e = engineOf(m.smmu);
  const smmu = m.smmu;
  const read16 = (addr: bigint): Uint8Array | null => {
    if (addr < BigInt(FUZZ_BASE) || addr + 16n > BigInt(FUZZ_BASE + FUZZ_SIZE)) return null;
    return smmu.readMemory(Number(addr), 16);
  };
  const u64 = (addr: bigint): bigint | null => {
    if (addr < BigInt(FUZZ_BASE) || addr + 8n > BigInt(FUZZ_BASE + FUZZ_SIZE)) return null;
    return enc.bytesToWords(smmu.readMemory(Number(addr), 8))[0];
  };
  let dispatch: RefDispatchConfig | undefined;
  if (m.mode === 'viommu') {
    dispatch = refDispatchConfig({ backends: BACKENDS, passthrough: PASSTHROUGH }, (vsid) => m.driver.steAddr(vsid), u64);
  }
  const q = BigInt(smmu.mmioRead(R.R_CMDQ_BASE, 8));
  const ref = new ReferenceCmdq(
    {
      cr0: Number(smmu.mmioRead(R.R_CR0, 4)), irqCtrl: Number(smmu.mmioRead(R.R_IRQ_CTRL, 4)),
      gerror: Number(smmu.mmioRead(R.R_GERROR, 4)), gerrorn: Number(smmu.mmioRead(R.R_GERRORN, 4)),
      base: q, prod: prodBefore, cons: Number(smmu.mmioRead(R.R_CMDQ_CONS, 4)), log2: Math.min(Number(q & 0x1fn), R.QEMU_CMDQS),
    },
    { read: read16, isDevice: (sid) => m.dmaSids.has(sid) },
    dispatch,
  );
  for (const t of engineIotlb(e)) ref.iotlb.insert(t);
  for (const s of engineConfigs(e, [...EMULATED, ...PASSTHROUGH.map((p) => p.sid)])) ref.configs.add(s);
  if (dispatch) {
    const l = engineVasids(e);
    for (const [a, mk] of l.vasid) ref.vasid.set(a, mk);
    ref.wildcard = l.wildcard;
  }
  return { ref, sent: BACKENDS.map(() => []) };
}

/** Runs the reference up to where the engine stops by itself (idle, or a command error). */
export function runReference(s: Snapshot, prod: number): void {
  const ref = s.ref;
  ref.s.prod = prod;
  let st = ref.consume();
  while (st === A.CQ_FORWARD) {
    const fw: RefForward[] = ref.forwarded.slice();
    const marker = fw.findIndex((f) => f.kind === A.FWK_ERROR);
    for (const f of fw) {
      if (f.kind === A.FWK_ERROR || (marker >= 0 && f.seq >= fw[marker].seq)) continue;
      s.sent[f.backend].push(f.kind === A.FWK_STE ? `ste ${hex(f.psid)} ${hex(BigInt.asUintN(64, f.w0))} ${hex(BigInt.asUintN(64, f.w1))}` : `inv ${hex(BigInt.asUintN(64, f.w0))} ${hex(BigInt.asUintN(64, f.w1))}`);
    }
    ref.forwardDone(marker);
    st = ref.consume();
  }
}

/** Differences between the engine now and the reference after the same consumption. */
export function compare(m: Machine, s: Snapshot): string[] {
  const e = engineOf(m.smmu);
  const out: string[] = [];
  const cons = Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4));
  const gerror = Number(m.smmu.mmioRead(R.R_GERROR, 4));
  if (cons !== s.ref.s.cons) out.push(`CMDQ_CONS ${hex(cons)} vs reference ${hex(s.ref.s.cons)}`);
  if (gerror !== s.ref.s.gerror) out.push(`GERROR ${hex(gerror)} vs reference ${hex(s.ref.s.gerror)}`);
  const tlb = engineIotlb(e).map((t) => refKey(t.asid, t.vmid, t.iova, t.tg, t.level)).sort();
  const rt = [...s.ref.iotlb.entries.keys()].sort();
  if (tlb.join() !== rt.join()) out.push(`IOTLB ${tlb.length} entries vs reference ${rt.length}`);
  const sids = [...EMULATED, ...PASSTHROUGH.map((p) => p.sid)];
  const cfg = engineConfigs(e, sids).join();
  const rc = sids.filter((x) => s.ref.configs.has(x)).join();
  if (cfg !== rc) out.push(`config cache [${cfg}] vs reference [${rc}]`);
  m.backends.forEach((b, i) => {
    if (b.got.join('|') !== s.sent[i].join('|')) out.push(`backend ${b.name}: ${b.got.length} entries vs reference ${s.sent[i].length}`);
  });
  return out;
}
