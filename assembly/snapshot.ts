// Snapshots (docs/snapshot-format.md): the engine writes its state into a fixed block and
// its tables into a chunk area, record by record (layouts in src/arch/snapshot.ts); on
// restore it checks the block and every record before anything is applied, then applies
// them. What QEMU 7.2 migrates (vmstate_smmuv3: registers, queues, features, sid_split)
// is in the block; the IOTLB and the configuration cache are optional sections (QEMU
// starts with them empty); the vIOMMU dispatcher adds its vASID table and topology.

import * as S from "./state";
import * as D from "./dispatch";
import { halloc } from "./heap";
import { isDevice, SID_SPACE, cfgEntry, cachedCount, cachedSid, entryValid, restoreEntry, flushAllConfigs, CF_BYTES } from "./config";
import { iotlbCount, iotlbInsert, iotlbInvAll, entryAt, IOTLB_MAX } from "./iotlb";
import { traceOn, setTrace } from "./trace";
import { ex32 } from "./bits";
import {
  SN_PROFILE, SN_CR0, SN_CR0ACK, SN_CR1, SN_CR2, SN_STATUSR, SN_GBPA, SN_IRQ_CTRL, SN_GERROR, SN_GERRORN,
  SN_GERROR_IRQ_CFG1, SN_GERROR_IRQ_CFG2, SN_STRTAB_BASE_CFG, SN_FEATURES, SN_SID_SPLIT, SN_CMDQ_PROD,
  SN_CMDQ_CONS, SN_CMDQ_LOG2, SN_EVENTQ_PROD, SN_EVENTQ_CONS, SN_EVENTQ_LOG2, SN_EVENTQ_IRQ_CFG1,
  SN_EVENTQ_IRQ_CFG2, SN_WILDCARD, SN_GERROR_IRQ_CFG0, SN_STRTAB_BASE, SN_CMDQ_BASE, SN_EVENTQ_BASE,
  SN_EVENTQ_IRQ_CFG0, SN_N_DEVICES, SN_N_BACKENDS, SN_N_VDEVS, SN_N_VASIDS, SN_N_CONFIGS, SN_N_IOTLB, SN_BYTES,
  SEC_DEVICES, SEC_BACKENDS, SEC_VDEVS, SEC_VASIDS, SEC_CONFIGS, SEC_IOTLB,
  REC_DEVICE_BYTES, REC_BACKEND_BYTES, REC_VDEV_BYTES, REC_VDEV_SID, REC_VDEV_BACKEND, REC_VDEV_PSID,
  REC_VASID_BYTES, REC_VASID_ASID, REC_VASID_MASK, REC_CONFIG_SID, REC_CONFIG_ENTRY,
  SNAP_CHUNK_BYTES, SNE_OK, SNE_PROFILE, SNE_REGISTER, SNE_COUNT, SNE_RECORD, SNE_BUSY,
} from "../src/arch/snapshot";
import {
  IE_IOVA, IE_TA, IE_MASK, IE_ASID, IE_TG, IE_LEVEL, IE_PERM, IE_GRANULE, IE_SLOT, IE_BYTES, IE_ASIDKEY, IE_VMID, IE_PPERM, KEY_NONE, PF_GBPA,
  REC_CONFIG_BYTES, REC_IOTLB_BYTES,
} from "../src/arch/abi";
import { CR0_ACK_MASK, CR0_SMMUEN, GBPA_WRITABLE, QEMU_CMDQS, QEMU_EVENTQS, STRTAB_CFG_SPLIT } from "../src/arch/registers";

const block = memory.data(SN_BYTES);
let chunk: usize = 0;

export function snapPtr(): usize { return block; }

/** The chunk area records are exchanged through (allocated with the other tables). */
export function snapInit(): void {
  if (chunk == 0) chunk = halloc(SNAP_CHUNK_BYTES, 64);
}
export function snapChunkPtr(): usize { return chunk; }

function recordBytes(section: u32): u32 {
  switch (section) {
    case SEC_DEVICES: return REC_DEVICE_BYTES;
    case SEC_BACKENDS: return REC_BACKEND_BYTES;
    case SEC_VDEVS: return REC_VDEV_BYTES;
    case SEC_VASIDS: return REC_VASID_BYTES;
    case SEC_CONFIGS: return REC_CONFIG_BYTES;
    case SEC_IOTLB: return REC_IOTLB_BYTES;
  }
  return 0;
}

/** Records of `section` that fit in the chunk area at once. */
export function snapChunkRecords(section: u32): u32 {
  const b = recordBytes(section);
  return b == 0 ? 0 : SNAP_CHUNK_BYTES / b;
}

function countDevices(): u32 {
  let n: u32 = 0;
  for (let sid: u32 = 0; sid < SID_SPACE; sid++) if (isDevice(sid)) n++;
  return n;
}

/** Writes the state block; SNE_BUSY while forwarded commands are outstanding. */
export function snapSave(withCaches: bool): u32 {
  if (D.fwdBusy || D.fwdCount != 0) return SNE_BUSY;
  const p = block;
  memory.fill(p, 0, SN_BYTES);
  store<u32>(p, S.profile, SN_PROFILE);
  store<u32>(p, S.cr0, SN_CR0);
  store<u32>(p, S.cr0ack, SN_CR0ACK);
  store<u32>(p, S.cr1, SN_CR1);
  store<u32>(p, S.cr2, SN_CR2);
  store<u32>(p, S.statusr, SN_STATUSR);
  store<u32>(p, S.gbpa, SN_GBPA);
  store<u32>(p, S.irqCtrl, SN_IRQ_CTRL);
  store<u32>(p, S.gerror, SN_GERROR);
  store<u32>(p, S.gerrorn, SN_GERRORN);
  store<u32>(p, S.gerrorIrqCfg1, SN_GERROR_IRQ_CFG1);
  store<u32>(p, S.gerrorIrqCfg2, SN_GERROR_IRQ_CFG2);
  store<u32>(p, S.strtabBaseCfg, SN_STRTAB_BASE_CFG);
  store<u32>(p, S.features, SN_FEATURES);
  store<u32>(p, S.sidSplit, SN_SID_SPLIT);
  store<u32>(p, S.cmdqProd, SN_CMDQ_PROD);
  store<u32>(p, S.cmdqCons, SN_CMDQ_CONS);
  store<u32>(p, S.cmdqLog2, SN_CMDQ_LOG2);
  store<u32>(p, S.eventqProd, SN_EVENTQ_PROD);
  store<u32>(p, S.eventqCons, SN_EVENTQ_CONS);
  store<u32>(p, S.eventqLog2, SN_EVENTQ_LOG2);
  store<u32>(p, S.eventqIrqCfg1, SN_EVENTQ_IRQ_CFG1);
  store<u32>(p, S.eventqIrqCfg2, SN_EVENTQ_IRQ_CFG2);
  store<u32>(p, D.wildcardMask(), SN_WILDCARD);
  store<u64>(p, S.gerrorIrqCfg0, SN_GERROR_IRQ_CFG0);
  store<u64>(p, S.strtabBase, SN_STRTAB_BASE);
  store<u64>(p, S.cmdqBase, SN_CMDQ_BASE);
  store<u64>(p, S.eventqBase, SN_EVENTQ_BASE);
  store<u64>(p, S.eventqIrqCfg0, SN_EVENTQ_IRQ_CFG0);
  store<u32>(p, countDevices(), SN_N_DEVICES);
  store<u32>(p, D.backendCount(), SN_N_BACKENDS);
  store<u32>(p, D.vdevCount(), SN_N_VDEVS);
  store<u32>(p, D.learnedCount(), SN_N_VASIDS);
  store<u32>(p, withCaches ? cachedCount() : 0, SN_N_CONFIGS);
  store<u32>(p, withCaches ? iotlbCount : 0, SN_N_IOTLB);
  return SNE_OK;
}

/** Writes records [first, first + k) of `section` into the chunk area; returns k. */
export function snapExport(section: u32, first: u32): u32 {
  const size = recordBytes(section);
  const cap = snapChunkRecords(section);
  let k: u32 = 0;
  memory.fill(chunk, 0, SNAP_CHUNK_BYTES);
  if (section == SEC_DEVICES) {
    // the first-th device onwards, in ascending StreamID
    let seen: u32 = 0;
    for (let sid: u32 = 0; sid < SID_SPACE && k < cap; sid++) {
      if (!isDevice(sid)) continue;
      if (seen++ < first) continue;
      store<u32>(chunk + <usize>(k++ * size), sid);
    }
    return k;
  }
  let total: u32 = 0;
  switch (section) {
    case SEC_BACKENDS: total = D.backendCount(); break;
    case SEC_VDEVS: total = D.vdevCount(); break;
    case SEC_VASIDS: total = D.learnedCount(); break;
    case SEC_CONFIGS: total = cachedCount(); break;
    case SEC_IOTLB: total = iotlbCount; break;
  }
  while (first + k < total && k < cap) {
    const i = first + k;
    const r = chunk + <usize>(k * size);
    switch (section) {
      case SEC_BACKENDS: store<u32>(r, D.vmidOf(i)); break;
      case SEC_VDEVS: {
        store<u32>(r, D.vdevSidAt(i), REC_VDEV_SID);
        store<u32>(r, D.vdevBackendAt(i), REC_VDEV_BACKEND);
        store<u32>(r, D.vdevPsidAt(i), REC_VDEV_PSID);
        break;
      }
      case SEC_VASIDS: {
        const asid = D.learnedAsid(i);
        store<u32>(r, asid, REC_VASID_ASID);
        store<u32>(r, D.vasidMask(asid), REC_VASID_MASK);
        break;
      }
      case SEC_CONFIGS: {
        const sid = cachedSid(i);
        store<u32>(r, sid, REC_CONFIG_SID);
        memory.copy(r + REC_CONFIG_ENTRY, cfgEntry(sid), CF_BYTES);
        break;
      }
      case SEC_IOTLB: {
        memory.copy(r, entryAt(i), IE_BYTES);
        store<u16>(r, 0, IE_SLOT);
        break;
      }
    }
    k++;
  }
  return k;
}

/** Checks the state block written by the host; SNE_OK or the first problem found. Applies nothing. */
export function snapCheck(): u32 {
  const p = block;
  if (load<u32>(p, SN_PROFILE) != S.profile) return SNE_PROFILE;
  const cr0 = load<u32>(p, SN_CR0);
  if (load<u32>(p, SN_CR0ACK) != (cr0 & CR0_ACK_MASK)) return SNE_REGISTER; // CR0ACK mirrors CR0 at once
  const gbpa = load<u32>(p, SN_GBPA);
  if ((S.profile & PF_GBPA) != 0 ? (gbpa & ~GBPA_WRITABLE) != 0 : gbpa != 0) return SNE_REGISTER;
  if (load<u32>(p, SN_STATUSR) != 0) return SNE_REGISTER; // never set by the model
  if (load<u32>(p, SN_FEATURES) > S.FEATURE_2LVL_STE) return SNE_REGISTER;
  if (load<u32>(p, SN_SID_SPLIT) > ex32(0xffffffff, STRTAB_CFG_SPLIT)) return SNE_REGISTER; // a 5-bit field's value
  if (load<u32>(p, SN_CMDQ_LOG2) > <u32>QEMU_CMDQS || load<u32>(p, SN_EVENTQ_LOG2) > <u32>QEMU_EVENTQS) return SNE_REGISTER;
  const nb = load<u32>(p, SN_N_BACKENDS);
  if (load<u32>(p, SN_N_DEVICES) > SID_SPACE || nb > D.MAX_BACKENDS || load<u32>(p, SN_N_VDEVS) > D.MAX_VDEVS ||
      load<u32>(p, SN_N_VASIDS) > 65536 || load<u32>(p, SN_N_CONFIGS) > SID_SPACE || load<u32>(p, SN_N_IOTLB) > IOTLB_MAX) {
    return SNE_COUNT;
  }
  if ((load<u32>(p, SN_WILDCARD) & ~backendMask(nb)) != 0) return SNE_RECORD;
  return SNE_OK;
}

function backendMask(n: u32): u32 {
  return n >= 32 ? 0xffffffff : (<u32>1 << n) - 1;
}

/** Checks `n` records of `section` in the chunk area against the state block's counts. */
export function snapCheckRecords(section: u32, n: u32): u32 {
  const size = recordBytes(section);
  if (size == 0 || n > snapChunkRecords(section)) return SNE_COUNT;
  const nb = load<u32>(block, SN_N_BACKENDS);
  for (let k: u32 = 0; k < n; k++) {
    const r = chunk + <usize>(k * size);
    switch (section) {
      case SEC_DEVICES: if (load<u32>(r) >= SID_SPACE) return SNE_RECORD; break;
      case SEC_BACKENDS: if (load<u32>(r) > 0xffff) return SNE_RECORD; break;
      case SEC_VDEVS: if (load<u32>(r, REC_VDEV_BACKEND) >= nb) return SNE_RECORD; break;
      case SEC_VASIDS: {
        const m = load<u32>(r, REC_VASID_MASK);
        if (load<u32>(r, REC_VASID_ASID) > 0xffff || m == 0 || (m & ~backendMask(nb)) != 0) return SNE_RECORD;
        break;
      }
      case SEC_CONFIGS: {
        if (load<u32>(r, REC_CONFIG_SID) >= SID_SPACE || !entryValid(r + REC_CONFIG_ENTRY)) return SNE_RECORD;
        break;
      }
      case SEC_IOTLB: {
        // keys as iotlbInsert stores them (ASID and VMID: 16 bits or KEY_NONE); a nested entry's
        // granule is the smaller of its two stages' (QEMU 10.0), so it is checked on its own
        const tg = <u32>load<u8>(r, IE_TG);
        const gran = <u32>load<u8>(r, IE_GRANULE);
        const mask = load<u64>(r, IE_MASK);
        const asid = load<u32>(r, IE_ASIDKEY), vmid = load<u32>(r, IE_VMID);
        if (tg < 1 || tg > 3 || (gran != 12 && gran != 14 && gran != 16) || load<u8>(r, IE_LEVEL) > 3 ||
            load<u8>(r, IE_PERM) > 3 || load<u8>(r, IE_PPERM) > 3 || (mask & (mask + 1)) != 0 || mask < (<u64>1 << gran) - 1 ||
            asid > <u32>KEY_NONE || vmid > <u32>KEY_NONE || <u32>load<u16>(r, IE_ASID) != (asid & 0xffff)) {
          return SNE_RECORD;
        }
        break;
      }
    }
  }
  return SNE_OK;
}

/**
 * Applies the (checked) state block: caches emptied, registers and queues set, the
 * vASID table emptied (records follow with snapImport unless the VM arrives on a new
 * host). Diagnostic tracing is paused: a restore is not guest activity.
 */
export function snapApply(): void {
  const p = block;
  snapDropCaches();
  const t = traceOn;
  setTrace(false);
  D.endWindow();
  D.forgetAll();
  S.cr0 = load<u32>(p, SN_CR0);
  S.cr0ack = load<u32>(p, SN_CR0ACK);
  S.cr1 = load<u32>(p, SN_CR1);
  S.cr2 = load<u32>(p, SN_CR2);
  S.statusr = load<u32>(p, SN_STATUSR);
  S.gbpa = load<u32>(p, SN_GBPA);
  S.irqCtrl = load<u32>(p, SN_IRQ_CTRL);
  S.gerror = load<u32>(p, SN_GERROR);
  S.gerrorn = load<u32>(p, SN_GERRORN);
  S.gerrorIrqCfg1 = load<u32>(p, SN_GERROR_IRQ_CFG1);
  S.gerrorIrqCfg2 = load<u32>(p, SN_GERROR_IRQ_CFG2);
  S.strtabBaseCfg = load<u32>(p, SN_STRTAB_BASE_CFG);
  S.features = load<u32>(p, SN_FEATURES);
  S.sidSplit = load<u32>(p, SN_SID_SPLIT);
  S.cmdqProd = load<u32>(p, SN_CMDQ_PROD);
  S.cmdqCons = load<u32>(p, SN_CMDQ_CONS);
  S.cmdqLog2 = load<u32>(p, SN_CMDQ_LOG2);
  S.eventqProd = load<u32>(p, SN_EVENTQ_PROD);
  S.eventqCons = load<u32>(p, SN_EVENTQ_CONS);
  S.eventqLog2 = load<u32>(p, SN_EVENTQ_LOG2);
  S.eventqIrqCfg1 = load<u32>(p, SN_EVENTQ_IRQ_CFG1);
  S.eventqIrqCfg2 = load<u32>(p, SN_EVENTQ_IRQ_CFG2);
  S.gerrorIrqCfg0 = load<u64>(p, SN_GERROR_IRQ_CFG0);
  S.strtabBase = load<u64>(p, SN_STRTAB_BASE);
  S.cmdqBase = load<u64>(p, SN_CMDQ_BASE);
  S.eventqBase = load<u64>(p, SN_EVENTQ_BASE);
  S.eventqIrqCfg0 = load<u64>(p, SN_EVENTQ_IRQ_CFG0);
  memory.fill(S.irqCounters, 0, 16);
  setTrace(t);
}

/** Applies `n` checked records of SEC_VASIDS, SEC_CONFIGS or SEC_IOTLB (the others describe the saved topology and are compared by the host). */
export function snapImport(section: u32, n: u32): void {
  const size = recordBytes(section);
  const t = traceOn;
  setTrace(false);
  for (let k: u32 = 0; k < n; k++) {
    const r = chunk + <usize>(k * size);
    switch (section) {
      case SEC_VASIDS: {
        if (!D.vasidOnNow()) break;
        const asid = load<u32>(r, REC_VASID_ASID);
        let m = load<u32>(r, REC_VASID_MASK) & backendMask(D.backendCount());
        while (m != 0) {
          D.learn(asid, <u32>ctz(m));
          m &= m - 1;
        }
        break;
      }
      case SEC_CONFIGS: restoreEntry(load<u32>(r, REC_CONFIG_SID), r + REC_CONFIG_ENTRY); break;
      case SEC_IOTLB: {
        iotlbInsert(load<u32>(r, IE_ASIDKEY), load<u32>(r, IE_VMID), load<u64>(r, IE_IOVA), <u32>load<u8>(r, IE_TG),
          <u32>load<u8>(r, IE_LEVEL), load<u64>(r, IE_TA), load<u64>(r, IE_MASK), <u32>load<u8>(r, IE_PERM),
          <u32>load<u8>(r, IE_PPERM), <u32>load<u8>(r, IE_GRANULE));
        break;
      }
    }
  }
  setTrace(t);
}

/** Restores the dispatcher's wildcard mask from the block (same host only). */
export function snapImportWildcard(): void {
  D.setWildcard(load<u32>(block, SN_WILDCARD));
}

/** Empties the IOTLB and the configuration cache, as a migration leaves them (no trace: not guest activity). */
export function snapDropCaches(): void {
  const t = traceOn;
  setTrace(false);
  flushAllConfigs();
  iotlbInvAll();
  setTrace(t);
}

/** Arrival on another host: see dispatch.ts arrive(). */
export function snapArrive(): u32 {
  return D.arrive(ex32(S.cr0, CR0_SMMUEN) != 0);
}
