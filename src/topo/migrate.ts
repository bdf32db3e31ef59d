// Moving a running VM to a host with another number of pSMMUs (the seed's migration
// argument): each vSMMU is saved, rebuilt on the new host's pSMMUs with new VMIDs and
// pSIDs for the same vSIDs, and restored (snapshots, QEMU semantics). A topology whose
// guest sees one vSMMU per pSMMU cannot move to a host with another pSMMU count: its
// guest would see vSMMUs appear or vanish; that is reported, not faked. For the others
// the guest sees the same registers and devices, and the cost of arriving is counted:
// STE installs and host calls at arrival, and the broadcast TLBIs afterwards.

import { createSmmu } from '../smmu.js';
import { SimulatedPsmmu, type ViommuHandle } from '../backends/simulated.js';
import type { Vm, VsmmuNode, PsmmuSpec } from './vm.js';

export interface MigrationPlan {
  /** Whether the guest can move without noticing. */
  possible: boolean;
  /** Why it cannot. */
  reason?: string;
  /** pSMMU index (0..to-1) of the k-th passthrough device of vSMMU v. */
  place(v: number, k: number): number;
}

export interface MigrationReport {
  from: number;
  to: number;
  migrated: boolean;
  /** Why the VM was not moved. */
  reason?: string;
  /** Whether any guest-visible register of any vSMMU differs after the move. */
  guest_noticed: boolean;
  /** Bytes of the vSMMU snapshots (registers, queues, vASID table, topology). */
  snapshot_bytes: number;
  /** STEs installed on the new pSMMUs at arrival (one per passthrough device). */
  ste_installs: number;
  /** Host calls (ioctls) to the new pSMMUs at arrival. */
  arrival_calls: number;
  /** Entries (STE installs and invalidations) the new pSMMUs received at arrival: only STE installs. */
  arrival_entries: number;
  /** Modelled time of the arrival on the pSMMUs (µs). */
  arrival_us: number;
  /** vASIDs known to the dispatchers right after arrival (learned from the guest's CDs). */
  vasids_relearned: number;
}

/** Where the devices of a VM with `vsmmus` vSMMUs go on a host with `to` pSMMUs. */
export function planMigration(kind: 'one-per-psmmu' | 'any', vsmmus: number, from: number, to: number): MigrationPlan {
  if (kind === 'one-per-psmmu' && to !== from) {
    return {
      possible: false,
      reason: `one vSMMU per pSMMU: the guest has ${vsmmus} vSMMUs; on a host with ${to} pSMMU${to === 1 ? '' : 's'} it would see vSMMUs ${to > from ? 'appear' : 'vanish'} (the layout is tied to the host)`,
      place: () => 0,
    };
  }
  if (kind === 'one-per-psmmu') return { possible: true, place: (v) => v };
  return { possible: true, place: (_v, k) => k % to };
}

const regs = (n: VsmmuNode): number[] => Array.from({ length: 0x100 / 4 }, (_, i) => Number(n.smmu.mmioRead(i * 4, 4)));

/**
 * Moves every vSMMU of `vm` onto `to` new pSMMUs (named p0.., built with `psmmuOptions`)
 * following `plan`; `generation` keeps VMIDs and pSIDs distinct from the old host's.
 */
export async function migrateVm(vm: Vm, plan: MigrationPlan, to: number, psmmuOptions: Omit<PsmmuSpec, 'name'>, generation: number): Promise<MigrationReport> {
  const from = vm.psmmus.size;
  const report: MigrationReport = {
    from, to, migrated: false, guest_noticed: false, snapshot_bytes: 0, ste_installs: 0, arrival_calls: 0, arrival_entries: 0, arrival_us: 0, vasids_relearned: 0,
  };
  if (!plan.possible) {
    report.reason = plan.reason;
    return report;
  }
  for (const n of vm.vsmmus) await n.smmu.whenIdle();
  const before = vm.vsmmus.map(regs);
  const snaps = vm.vsmmus.map((n) => n.smmu.save());
  report.snapshot_bytes = snaps.reduce((a, s) => a + s.length, 0);
  const psmmus = new Map<string, SimulatedPsmmu>();
  for (let p = 0; p < to; p++) psmmus.set(`p${p}`, new SimulatedPsmmu({ ...psmmuOptions, name: `p${p}`, memory: vm.ram.read }));
  let psid = 0x2000 + ((generation * 0x100) & 0xffff);
  for (let v = 0; v < vm.vsmmus.length; v++) {
    const n = vm.vsmmus[v];
    const passthrough = n.spec.passthrough.map((d, k) => ({ sid: d.sid, psmmu: `p${plan.place(v, k)}`, psid: psid++ }));
    const used = [...new Set(passthrough.map((d) => d.psmmu))].sort();
    const vmids = new Map<string, number>();
    const handles = new Map<string, ViommuHandle>();
    for (const name of used) {
      vmids.set(name, (((generation & 0xf) << 12) | ((Number(name.slice(1)) + 1) << 4) | (v + 1)) & 0xffff);
      handles.set(name, psmmus.get(name)!.viommu(vmids.get(name)!));
    }
    const next = await createSmmu({
      memory: vm.ram,
      devices: n.spec.emulated,
      passthroughOnly: n.spec.passthroughOnly,
      vasidTable: n.spec.vasidTable,
      viommu: used.length ? {
        backends: used.map((name) => ({ name, vmid: vmids.get(name)!, backend: handles.get(name)! })),
        devices: passthrough.map((d) => ({ sid: d.sid, backend: d.psmmu, psid: d.psid })),
      } : undefined,
    });
    next.restore(snaps[v], { arrival: true });
    await next.whenIdle();
    n.smmu.dispose();
    n.smmu = next;
    n.spec = { ...n.spec, passthrough };
    n.vmids = vmids;
    n.handles = handles;
    for (let a = 0; a < 0x10000 && used.length; a++) if (next.asidHolders(a).length) report.vasids_relearned++;
  }
  vm.psmmus.clear();
  for (const [k, p] of psmmus) {
    vm.psmmus.set(k, p);
    report.ste_installs += p.counters.steInstalls;
    report.arrival_calls += p.counters.batches;
    report.arrival_entries += p.counters.entries;
    report.arrival_us += p.counters.commandNs / 1000;
  }
  const after = vm.vsmmus.map(regs);
  report.guest_noticed = JSON.stringify(before) !== JSON.stringify(after);
  report.migrated = true;
  return report;
}
