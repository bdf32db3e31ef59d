// A virtual machine for vIOMMU topologies: one guest RAM shared by every vSMMU of the
// VM and by the simulated pSMMUs (their walks read the guest's tables through an
// identity stage 2), vSMMUs wired to pSMMUs through per-vIOMMU handles with their own
// VMIDs, and a guest driver per vSMMU.

import { createSmmu, type Smmu } from '../smmu.js';
import { SimulatedPsmmu, type SimulatedPsmmuOptions, type ViommuHandle } from '../backends/simulated.js';
import { GuestDriver, type GuestBus } from '../guest/driver.js';
import * as R from '../arch/registers.js';
import type { GuestMemoryCallbacks } from '../types.js';

/** Guest RAM owned by JavaScript, reachable from every vSMMU and pSMMU of the VM. */
export class GuestRam implements GuestMemoryCallbacks {
  readonly bytes: Uint8Array;
  constructor(readonly base: number, readonly size: number) {
    this.bytes = new Uint8Array(size);
  }
  private range(addr: number, len: number): number {
    const off = addr - this.base;
    return off >= 0 && off + len <= this.size ? off : -1;
  }
  read = (addr: number, dst: Uint8Array): boolean => {
    const off = this.range(addr, dst.length);
    if (off < 0) {
      dst.fill(0);
      return false;
    }
    dst.set(this.bytes.subarray(off, off + dst.length));
    return true;
  };
  write = (addr: number, src: Uint8Array): boolean => {
    const off = this.range(addr, src.length);
    if (off < 0) return false;
    this.bytes.set(src, off);
    return true;
  };
}

export interface PsmmuSpec extends Partial<SimulatedPsmmuOptions> {
  name: string;
}

export interface VsmmuSpec {
  name: string;
  /** StreamIDs of emulated devices. */
  emulated: number[];
  /** Passthrough devices: virtual SID, pSMMU name, physical SID. */
  passthrough: Array<{ sid: number; psmmu: string; psid: number }>;
  /** A dedicated passthrough vSMMU: no emulated caches. */
  passthroughOnly?: boolean;
  /** Whether the dispatcher may learn vASIDs (false models the "no vASID table" join). */
  vasidTable?: boolean;
}

export interface TopologySpec {
  psmmus: PsmmuSpec[];
  vsmmus: VsmmuSpec[];
}

export interface VsmmuNode {
  spec: VsmmuSpec;
  /** The vSMMU (replaced when the VM migrates: topo/migrate.ts). */
  smmu: Smmu;
  driver: GuestDriver;
  /** VMID of this vSMMU on each pSMMU it uses. */
  vmids: Map<string, number>;
  /** Its vIOMMU handle on each pSMMU it uses. */
  handles: Map<string, ViommuHandle>;
  /** Command-queue doorbells the driver rang and how full the queue was at each. */
  doorbells: DoorbellCounters;
}

export interface DoorbellCounters {
  /** CMDQ_PROD writes. */
  count: number;
  /** Sum over doorbells of the entries between CONS and the new PROD (queue occupancy). */
  entries: number;
  /** Largest occupancy seen. */
  max: number;
  /** Largest occupancy since a reader last set it to 0 (the live views' window). */
  peak: number;
  /** Occupancy at the latest doorbell. */
  last: number;
}

/**
 * The driver's view of the vSMMU, counting queue occupancy at every CMDQ_PROD write
 * (entries published and not yet consumed, read from CONS just before the doorbell).
 */
function countingBus(node: { smmu: Smmu }, c: DoorbellCounters, log2: number): GuestBus {
  const wrap = (2 << log2) - 1;
  return {
    mmioRead: (off, size) => node.smmu.mmioRead(off, size),
    mmioWrite: (off, size, value) => {
      const smmu = node.smmu; // the vSMMU the VM runs on now (a migration replaces it)
      if ((off & ~R.SMMU_PAGE1) === R.R_CMDQ_PROD && size === 4) {
        const cons = Number(smmu.mmioRead(R.R_CMDQ_CONS, 4));
        const occ = (Number(value) - cons) & wrap;
        c.count++;
        c.entries += occ;
        c.last = occ;
        if (occ > c.max) c.max = occ;
        if (occ > c.peak) c.peak = occ;
      }
      smmu.mmioWrite(off, size, value);
    },
    readMemory: (addr, len) => node.smmu.readMemory(addr, len),
    writeMemory: (addr, data) => node.smmu.writeMemory(addr, data),
  };
}

export interface Vm {
  ram: GuestRam;
  psmmus: Map<string, SimulatedPsmmu>;
  vsmmus: VsmmuNode[];
}

export const VM_RAM_BASE = 0x40000000;

/** Builds the VM: RAM, pSMMUs, vSMMUs (registers programmed by their drivers). */
export async function buildVm(spec: TopologySpec, ramSize = 0x4000000): Promise<Vm> {
  const ram = new GuestRam(VM_RAM_BASE, ramSize);
  const psmmus = new Map<string, SimulatedPsmmu>();
  for (const p of spec.psmmus) psmmus.set(p.name, new SimulatedPsmmu({ ...p, memory: ram.read }));
  const vsmmus: VsmmuNode[] = [];
  const heap = Math.floor(ramSize / 2 / Math.max(1, spec.vsmmus.length) / 0x100000) * 0x100000;
  for (let i = 0; i < spec.vsmmus.length; i++) {
    const v = spec.vsmmus[i];
    const used = [...new Set(v.passthrough.map((d) => d.psmmu))];
    const vmids = new Map<string, number>();
    used.forEach((name, j) => vmids.set(name, ((spec.psmmus.findIndex((p) => p.name === name) + 1) << 8) | (i + 1) | (j << 4)));
    const handles = new Map<string, ViommuHandle>();
    for (const name of used) {
      const p = psmmus.get(name);
      if (!p) throw new RangeError(`topology: vSMMU ${v.name} names unknown pSMMU "${name}"`);
      handles.set(name, p.viommu(vmids.get(name)!));
    }
    const smmu = await createSmmu({
      memory: ram,
      devices: v.emulated,
      passthroughOnly: v.passthroughOnly,
      viommu: used.length ? {
        backends: used.map((name) => ({ name, vmid: vmids.get(name)!, backend: handles.get(name)! })),
        devices: v.passthrough.map((d) => ({ sid: d.sid, backend: d.psmmu, psid: d.psid })),
      } : undefined,
      vasidTable: v.vasidTable,
    });
    const doorbells: DoorbellCounters = { count: 0, entries: 0, max: 0, peak: 0, last: 0 };
    const node = { spec: v, smmu, vmids, handles, doorbells } as VsmmuNode;
    node.driver = new GuestDriver(countingBus(node, doorbells, 10), {
      heap: { base: VM_RAM_BASE + i * heap, size: heap },
      cmdqLog2: 10,
      evtqLog2: 8,
      strtab: { log2size: 16, split: 8 },
    });
    node.driver.init();
    vsmmus.push(node);
  }
  return { ram, psmmus, vsmmus };
}
