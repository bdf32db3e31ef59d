// Read-only views of a running topology for the browser demo (and tests): the CMDQ ring
// of a vSMMU decoded from guest memory with PROD/CONS, its event queue, the vdev table
// (vSID -> pSMMU, pSID) and the vASID table (ASID -> pSMMUs holding it).

import type { TopologyRun, ObservedEvent } from './explore.js';
import * as C from '../arch/commands.js';
import * as R from '../arch/registers.js';
import { field32, field64 } from '../bits.js';
import { bytesToWords } from '../guest/encode.js';
import { commandName, eventName } from '../trace.js';

const hex = (v: number | bigint) => '0x' + v.toString(16);

/** The key fields of a command, as "SID=0x100 SSID=1" style text. */
export function commandFields(w: readonly bigint[]): string {
  const op = Number(field64(w, C.CMD_OPCODE));
  const f = (d: number) => field64(w, d);
  const addr = () => hex(f(C.CMD_ADDR) << 12n);
  switch (op) {
    case C.CMD_CFGI_STE:
      return `SID=${hex(f(C.CMD_SID))} leaf=${f(C.CMD_LEAF)}`;
    case C.CMD_CFGI_STE_RANGE:
      return f(C.CMD_STE_RANGE) === 31n ? 'all StreamIDs (CFGI_ALL)' : `SID=${hex(f(C.CMD_SID))} range=2^${f(C.CMD_STE_RANGE) + 1n}`;
    case C.CMD_CFGI_CD:
      return `SID=${hex(f(C.CMD_SID))} SSID=${f(C.CMD_SSID)} leaf=${f(C.CMD_LEAF)}`;
    case C.CMD_CFGI_CD_ALL:
      return `SID=${hex(f(C.CMD_SID))}`;
    case C.CMD_TLBI_NH_ALL:
    case C.CMD_TLBI_S12_VMALL:
      return `VMID=${f(C.CMD_VMID)}`;
    case C.CMD_TLBI_NH_ASID:
      return `ASID=${f(C.CMD_ASID)} VMID=${f(C.CMD_VMID)}`;
    case C.CMD_TLBI_NH_VA:
    case C.CMD_TLBI_NH_VAA: {
      const tg = f(C.CMD_TG);
      const range = tg === 0n ? '' : ` range=${(f(C.CMD_NUM) + 1n) << f(C.CMD_SCALE)}×${tg === 1n ? '4K' : tg === 2n ? '16K' : '64K'}`;
      const asid = op === C.CMD_TLBI_NH_VA ? `ASID=${f(C.CMD_ASID)} ` : '';
      return `${asid}VMID=${f(C.CMD_VMID)} addr=${addr()} leaf=${f(C.CMD_LEAF)}${range}`;
    }
    case C.CMD_TLBI_S2_IPA:
      return `VMID=${f(C.CMD_VMID)} IPA=${addr()}`;
    case C.CMD_ATC_INV:
      return `SID=${hex(f(C.CMD_SID))} addr=${hex(w[1] & ~0xfffn)} size=2^${w[1] & 0x3fn}`;
    case C.CMD_SYNC:
      return `CS=${['none', 'IRQ', 'SEV', '3'][Number(f(C.CMD_SYNC_CS))]}`;
    default:
      return '';
  }
}

export interface RingSlot {
  /** Slot index in the ring. */
  index: number;
  name: string;
  fields: string;
  words: [string, string];
  prod: boolean;
  cons: boolean;
}

export interface CmdqView {
  vsmmu: string;
  base: number;
  /** Ring entries (2^log2size). */
  size: number;
  prod: number;
  cons: number;
  prodWrap: number;
  consWrap: number;
  /** CMDQ_CONS.ERR (0: none). */
  err: number;
  /** Entries published and not yet consumed. */
  pending: number;
  /** The `rows` slots before PROD (the latest commands), oldest first, then the slot at PROD. */
  slots: RingSlot[];
}

/** The command queue of vSMMU `index`, decoded from guest memory. */
export function cmdqView(run: TopologyRun, index: number, rows = 24): CmdqView {
  const n = run.vm.vsmmus[index];
  if (!n) throw new RangeError(`no vSMMU ${index}`);
  const log2 = n.driver.cmdqLog2;
  const size = 1 << log2;
  const prodReg = Number(n.smmu.mmioRead(R.R_CMDQ_PROD, 4));
  const consReg = Number(n.smmu.mmioRead(R.R_CMDQ_CONS, 4));
  const prod = prodReg & (size - 1), cons = consReg & (size - 1);
  const prodWrap = (prodReg >>> log2) & 1, consWrap = (consReg >>> log2) & 1;
  const wrapMask = (2 << log2) - 1;
  const count = Math.min(rows, size - 1);
  const slots: RingSlot[] = [];
  const raw = n.smmu.readMemory(n.driver.cmdqBase, size * 16);
  for (let k = count; k >= 0; k--) {
    const i = (prod - k + size) % size;
    const w = bytesToWords(raw.subarray(i * 16, i * 16 + 16));
    const op = Number(w[0] & 0xffn);
    const empty = w[0] === 0n && w[1] === 0n;
    slots.push({
      index: i,
      name: empty ? '(empty)' : commandName(op).replace(/^SMMU_CMD_/, ''),
      fields: empty ? '' : commandFields(w),
      words: [w[0].toString(16).padStart(16, '0'), w[1].toString(16).padStart(16, '0')],
      prod: i === prod,
      cons: i === cons,
    });
  }
  return {
    vsmmu: n.spec.name, base: n.driver.cmdqBase, size, prod, cons, prodWrap, consWrap,
    err: field32(consReg, R.CMDQ_CONS_ERR), pending: ((prodReg & wrapMask) - (consReg & wrapMask)) & wrapMask, slots,
  };
}

export interface EventqView {
  vsmmu: string;
  size: number;
  prod: number;
  cons: number;
  overflow: boolean;
  /** The latest records the guest consumed from this queue, newest first. */
  records: Array<ObservedEvent & { name: string }>;
}

/** The event queue of vSMMU `index` and the records its guest driver consumed last. */
export function eventqView(run: TopologyRun, index: number, rows = 16): EventqView {
  const n = run.vm.vsmmus[index];
  if (!n) throw new RangeError(`no vSMMU ${index}`);
  const log2 = n.driver.evtqLog2;
  const prodReg = Number(n.smmu.mmioRead(R.R_EVENTQ_PROD + R.SMMU_PAGE1, 4));
  const consReg = Number(n.smmu.mmioRead(R.R_EVENTQ_CONS + R.SMMU_PAGE1, 4));
  const records = run.eventLog.filter((e) => e.vsmmu === n.spec.name).slice(-rows).reverse().map((e) => ({ ...e, name: eventName(e.type).replace(/^SMMU_EVT_/, '') }));
  return {
    vsmmu: n.spec.name, size: 1 << log2,
    prod: prodReg & ((1 << log2) - 1), cons: consReg & ((1 << log2) - 1),
    overflow: field32(prodReg, R.EVENTQ_PROD_OVFLG) !== field32(consReg, R.EVENTQ_PROD_OVFLG),
    records,
  };
}

export interface VdevRow {
  vsmmu: string;
  vsid: number;
  psmmu: string;
  psid: number;
  /** VMID of the vSMMU on that pSMMU. */
  vmid: number;
}

/** Every vSMMU's vdev table: passthrough vSID -> pSMMU and physical SID. */
export function vdevTable(run: TopologyRun): VdevRow[] {
  return run.vm.vsmmus.flatMap((n) => n.spec.passthrough.map((d) => ({
    vsmmu: n.spec.name, vsid: d.sid, psmmu: d.psmmu, psid: d.psid, vmid: n.vmids.get(d.psmmu) ?? 0,
  })));
}

export interface VasidRow {
  vsmmu: string;
  asid: number;
  /** The device using that ASID and whether it is passthrough. */
  sid: number;
  passthrough: boolean;
  /** pSMMUs the vSMMU's vASID table says hold the ASID ([] = unknown: TLBIs for it are broadcast). */
  holders: string[];
  /** pSMMUs a TLBI_NH_ASID/VA for this ASID goes to. */
  sentTo: string[];
}

/** Every vSMMU's vASID table for the ASIDs of the run's devices (via Smmu.asidHolders). */
export function vasidTable(run: TopologyRun): VasidRow[] {
  const devs = run.devices();
  return run.vm.vsmmus.flatMap((n, vi) => {
    const all = n.smmu.backends.map((b) => b.name);
    return devs.filter((d) => d.vsmmu === vi).flatMap((d) => d.asids.map((asid) => {
      const holders = all.length ? n.smmu.asidHolders(asid) : [];
      return { vsmmu: n.spec.name, asid, sid: d.sid, passthrough: d.psmmu !== undefined, holders, sentTo: holders.length ? holders : all };
    }));
  });
}
