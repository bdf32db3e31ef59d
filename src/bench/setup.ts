// The guest side of the benchmark, identical for the model and for QEMU: a Linux-like
// driver sets up the stream table, a small command queue for set-up work, the devices'
// STEs, one 4-level page table and a CD per cached ASID; DMA then fills the IOTLB and
// the config cache. The timed streams run from a second, 2^19-entry queue; switching
// between the two queues is a register sequence both implementations accept.

import * as R from '../arch/registers.js';
import { GuestDriver, type Domain, type GuestBus } from '../guest/driver.js';
import { cd, cmdCfgiAll, cmdSync, ste, wordsToBytes } from '../guest/encode.js';
import { deposit32 } from '../bits.js';
import {
  CACHED_ASIDS, CACHED_PAGES, DATA_PA, EMULATED, IOVA_BASE, PASSTHROUGH, SCRATCH_PA, SETUP_HEAP, STREAM_LOG2,
  STREAM_QUEUE, TLB_DEVICE,
} from './streams.js';

/** One DMA access of an emulated device at an IOVA (model: a translation; QEMU: an edu transfer). */
export type DeviceAccess = (sid: number, iova: number) => void;

const CMDQEN = deposit32(0, R.CR0_CMDQEN, 1);

export class BenchGuest {
  readonly driver: GuestDriver;
  /** One CD per cached ASID, all on the same page table. */
  readonly domains: Domain[] = [];
  private setupIndex = 0;
  private onStream = false;

  constructor(readonly bus: GuestBus, private readonly access: DeviceAccess) {
    this.driver = new GuestDriver(bus, { heap: SETUP_HEAP, cmdqLog2: 8, evtqLog2: 7, strtab: { log2size: 8 } });
  }

  /** Probe, STEs and CDs; nothing cached yet. */
  init(): void {
    const drv = this.driver;
    drv.init();
    const first = drv.createDomain({ asid: CACHED_ASIDS[0], vaBits: 48 });
    drv.map(first, IOVA_BASE, DATA_PA, CACHED_PAGES * 4096, { blocks: false });
    this.domains.push(first);
    for (const asid of CACHED_ASIDS.slice(1)) {
      const cdAddr = drv.alloc(64, 64);
      this.bus.writeMemory(cdAddr, wordsToBytes(cd({ asid, ttb0: first.root, t0sz: 16, tg0: 0 })));
      this.domains.push({ ...first, asid, cdAddr });
    }
    for (const sid of EMULATED) if (sid !== TLB_DEVICE) drv.setSte(sid, { config: 4 }, false);
    for (const p of PASSTHROUGH) {
      const cdAddr = drv.alloc(64, 64);
      this.bus.writeMemory(cdAddr, wordsToBytes(cd({ asid: p.asid, ttb0: first.root, t0sz: 16, tg0: 0 })));
      this.bus.writeMemory(drv.steAddr(p.sid), wordsToBytes(ste({ config: 5, s1ctxptr: cdAddr })));
    }
    // one CFGI_ALL: the model's dispatcher learns the passthrough devices' ASIDs from it
    drv.submit([cmdCfgiAll(), cmdSync()]);
    drv.attach(TLB_DEVICE, first);
  }

  /**
   * Fills the caches: the TLB device's CD switches through the cached ASIDs (CFGI_STE +
   * CMD_SYNC each) and it reads each cached page once; every other emulated device
   * (bypass) does one access, which caches its config.
   */
  populate(): void {
    if (this.onStream) this.useSetupQueue();
    for (const d of this.domains) {
      this.driver.attach(TLB_DEVICE, d);
      for (let p = 0; p < CACHED_PAGES; p++) this.access(TLB_DEVICE, IOVA_BASE + p * 4096);
    }
    for (const sid of EMULATED) if (sid !== TLB_DEVICE) this.access(sid, SCRATCH_PA);
  }

  /** Points the command queue at the 2^19-entry stream queue, empty (CONS = PROD = 0). */
  useStreamQueue(): void {
    if (this.onStream) {
      this.resetStreamQueue();
      return;
    }
    this.setupIndex = Number(this.bus.mmioRead(R.R_CMDQ_PROD, 4));
    this.switchQueue(BigInt(STREAM_QUEUE) | BigInt(STREAM_LOG2), 0);
    this.onStream = true;
  }

  /** CONS = PROD = 0 on the stream queue. */
  resetStreamQueue(): void {
    this.switchQueue(BigInt(STREAM_QUEUE) | BigInt(STREAM_LOG2), 0);
  }

  /** Back to the driver's own queue, where it left it. */
  useSetupQueue(): void {
    this.switchQueue(BigInt(this.driver.cmdqBase) | BigInt(this.driver.cmdqLog2), this.setupIndex);
    this.onStream = false;
  }

  private switchQueue(base: bigint, index: number): void {
    const cr0 = Number(this.bus.mmioRead(R.R_CR0, 4));
    this.bus.mmioWrite(R.R_CR0, 4, (cr0 & ~CMDQEN) >>> 0);
    this.bus.mmioWrite(R.R_CMDQ_BASE, 8, base);
    this.bus.mmioWrite(R.R_CMDQ_CONS, 4, index);
    this.bus.mmioWrite(R.R_CMDQ_PROD, 4, index);
    this.bus.mmioWrite(R.R_CR0, 4, (cr0 | CMDQEN) >>> 0);
  }

  /** CONS, and whether a command error is pending. */
  queueStatus(): { cons: number; error: boolean } {
    const cons = Number(this.bus.mmioRead(R.R_CMDQ_CONS, 4));
    const gerror = Number(this.bus.mmioRead(R.R_GERROR, 4));
    const gerrorn = Number(this.bus.mmioRead(R.R_GERRORN, 4));
    return { cons, error: ((gerror ^ gerrorn) & 1) !== 0 };
  }
}
