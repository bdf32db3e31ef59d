// WebAssembly ABI of the vsmmu engine. Everything crosses as numbers; areas shared
// with the host are found through the *_ptr exports and laid out by src/arch/abi.ts.

import * as S from "./state";
import { addRam as gAddRam, setHostMemory } from "./guestmem";
import { cmdqStageInit } from "./cmdq";
import { configInit, setDevice, cfgEntry, CF_CACHED, getConfig } from "./config";
import { unrecorded } from "./evtq";
import { iotlbInit, iotlbCount, iotlbInsert, entryAt } from "./iotlb";
import { translateInit, translate as xlate, translateBatch, batchPtr, dmaBufPtr, dmaRun, xo } from "./translate";
import * as X from "./translate";
import * as D from "./dispatch";
import { cmdqConsume, setLocalCaches } from "./cmdq";
import { powerOn, deviceReset, mmioRead32, mmioRead64, mmioWrite32, mmioWrite64 } from "./regs";
import { setTrace, tracePtr, traceTake } from "./trace";
import { heapTop } from "./heap";
import { BEV_BYTES, KEY_NONE } from "../src/arch/abi";

import * as N from "./snapshot";

let ready = false;

/** Allocates the tables and powers the device on with `profile` (PF_* flags). */
export function init(profile: u32): void {
  if (!ready) {
    configInit();
    iotlbInit();
    translateInit();
    D.dispatchInit();
    N.snapInit();
    ready = true;
  }
  powerOn(profile);
}

export { deviceReset as device_reset };
export { mmioRead32 as mmio_read32, mmioRead64 as mmio_read64, mmioWrite32 as mmio_write32, mmioWrite64 as mmio_write64 };
export { cmdqConsume as cmdq_consume };
export { setTrace as set_trace, tracePtr as trace_ptr, traceTake as trace_take };
export { setLocalCaches as set_local_caches };

/** Guest memory outside the RAM regions goes through the host's callbacks (allocates the queue staging area). */
export function set_host_memory(on: bool): void {
  setHostMemory(on);
  if (on) cmdqStageInit();
}
export { translateBatch as translate_batch, batchPtr as batch_ptr, dmaBufPtr as dma_buf_ptr };
export { heapTop as heap_top };

export function add_ram(baseLo: u32, baseHi: u32, sizeLo: u32, sizeHi: u32): usize {
  return gAddRam((<u64>baseHi << 32) | baseLo, (<u64>sizeHi << 32) | sizeLo);
}

export function set_device(sid: u32, present: bool): void {
  setDevice(sid, present);
}

export function translate(sid: u32, iovaLo: u32, iovaHi: u32, access: u32): u32 {
  return xlate(sid, (<u64>iovaHi << 32) | iovaLo, access);
}

export function xo_ptr(): usize { return xo; }

/** Failed-translation bytes of DMA since the last call. */
export function dma_failed(): u32 {
  const n = X.dmaFailed;
  X.dmaFailed = 0;
  return n;
}

export function dma_run(sid: u32, iovaLo: u32, iovaHi: u32, len: u32, write: bool): u32 {
  return dmaRun(sid, (<u64>iovaHi << 32) | iovaLo, len, write);
}

export function irq_ptr(): usize { return S.irqCounters; }
export function stats_ptr(): usize { return S.stats; }
export function iotlb_count(): u32 { return iotlbCount; }

// vIOMMU
export function set_backend(index: u32, vmid: u32): bool { return D.setBackend(index, vmid); }
export function vdev_bind(vsid: u32, backend: u32, psid: u32): bool { return D.vdevBind(vsid, backend, psid); }
export function vdev_unbind(vsid: u32): bool { return D.vdevUnbind(vsid); }
export function vdev_has_psid(backend: u32, psid: u32): bool { return D.vdevHasPsid(backend, psid); }
export function vasid_mask(asid: u32): u32 { return D.vasidMask(asid); }
export function wildcard_mask(): u32 { return D.wildcardMask(); }
export function set_vasid_table(on: bool): void { D.setVasidTable(on); }
export function fwd_count(): u32 { return D.fwdCount; }
export function fwd_out_ptr(): usize { return D.outPtr(); }

export function fwd_done(failIndex: i32): void { D.fwdDone(failIndex); }

// snapshots (layouts in src/arch/snapshot.ts)
export function snap_ptr(): usize { return N.snapPtr(); }
export function snap_chunk_ptr(): usize { return N.snapChunkPtr(); }
export function snap_chunk_records(section: u32): u32 { return N.snapChunkRecords(section); }
export function snap_save(withCaches: bool): u32 { return N.snapSave(withCaches); }
export function snap_export(section: u32, first: u32): u32 { return N.snapExport(section, first); }
export function snap_check(): u32 { return N.snapCheck(); }
export function snap_check_records(section: u32, n: u32): u32 { return N.snapCheckRecords(section, n); }
export function snap_apply(): void { N.snapApply(); }
export function snap_import(section: u32, n: u32): void { N.snapImport(section, n); }
export function snap_import_wildcard(): void { N.snapImportWildcard(); }
export function snap_arrive(): u32 { return N.snapArrive(); }
export function drop_caches(): void { N.snapDropCaches(); }

const bev = memory.data(BEV_BYTES);
export function bev_ptr(): usize { return bev; }
export function backend_event(backend: u32): u32 { return D.backendEvent(backend, bev); }

// ---- debug hooks (tests compare the engine with the TypeScript reference) --------

/** Inserts an IOTLB entry as a walk would (QEMU smmu_iotlb_insert, flush-when-full included). */
export function debug_iotlb_insert(asid: u32, iova: u64, tg: u32, level: u32, ta: u64, mask: u64, perm: u32): void {
  iotlbInsert(asid, KEY_NONE, iova, tg, level, ta, mask, perm, perm, tg * 2 + 10);
}

/** The same with the full key: ASID and VMID are 0..0xffff or KEY_NONE (QEMU's -1). */
export function debug_iotlb_insert_key(asid: u32, vmid: u32, iova: u64, tg: u32, level: u32, ta: u64, mask: u64, perm: u32): void {
  iotlbInsert(asid, vmid, iova, tg, level, ta, mask, perm, perm, tg * 2 + 10);
}

/** Address of IOTLB entry `i` (0 <= i < iotlb_count()), laid out as IE_* in abi.ts. */
export function debug_iotlb_entry(i: u32): usize {
  return entryAt(i);
}

/** Whether StreamID `sid` has a cached configuration. */
export function debug_config_cached(sid: u32): bool {
  return load<u8>(cfgEntry(sid), CF_CACHED) != 0;
}

/** Decodes and caches the configuration of `sid` now (as a translation would); false on a decode error. */
export function debug_config_load(sid: u32): bool {
  return getConfig(sid, 0, unrecorded) != 0;
}
