// Regression traces of the vIOMMU forwarding contract, one per topology (as seen by
// one vSMMU; the trace format describes one vSMMU): a guest driver attaches emulated
// and passthrough devices, runs DMA, invalidates in every way the contract names,
// survives a backend failure and receives physical events. Expectations are the
// model's answers, checked against the contract by test/viommu*.test.ts.

import { createSmmu } from '../smmu.js';
import { SimulatedPsmmu } from '../backends/simulated.js';
import { GuestDriver, CommandError } from '../guest/driver.js';
import { TraceRecorder } from '../guest/recorder.js';
import {
  cmdSync, cmdTlbiVa, cmdTlbiNhAsid, cmdTlbiNhAll, cmdTlbiNsnhAll, cmdCfgiCd, cmdCfgiCdAll, cmdAtcInv, cmdCfgiAll, cmdCfgiSte,
} from '../guest/encode.js';
import * as E from '../arch/events.js';

const RAM = 0x40000000;
const RAM_SIZE = 0x1000000;
const DATA = RAM + 0xc00000;

export interface TopologyTrace {
  name: string;
  backends: Array<{ name: string; vmid: number }>;
  emulated: number[];
  passthrough: Array<{ sid: number; backend: string; psid: number }>;
}

/** The vSMMU views recorded as traces (split is two of them sharing one pSMMU with distinct VMIDs). */
export const TOPOLOGY_TRACES: TopologyTrace[] = [
  { name: 'viommu-one-to-one', backends: [{ name: 'p0', vmid: 0x11 }], emulated: [0x18], passthrough: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }, { sid: 0x28, backend: 'p0', psid: 0x1028 }] },
  { name: 'viommu-join', backends: [{ name: 'p0', vmid: 0x21 }, { name: 'p1', vmid: 0x3a }], emulated: [0x18], passthrough: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }, { sid: 0x28, backend: 'p1', psid: 0x2028 }] },
  { name: 'viommu-split-v0', backends: [{ name: 'p0', vmid: 0x41 }], emulated: [0x18], passthrough: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] },
  { name: 'viommu-split-v1', backends: [{ name: 'p0', vmid: 0x42 }], emulated: [0x18], passthrough: [{ sid: 0x20, backend: 'p0', psid: 0x1120 }] },
  { name: 'viommu-dedicated', backends: [{ name: 'p0', vmid: 0x51 }], emulated: [], passthrough: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }, { sid: 0x28, backend: 'p0', psid: 0x1028 }, { sid: 0x30, backend: 'p0', psid: 0x1030 }] },
];

/** Records one topology trace; returns its JSON Lines text. */
export async function recordTopologyTrace(t: TopologyTrace): Promise<string> {
  const sims = new Map(t.backends.map((b) => [b.name, new SimulatedPsmmu({ name: b.name })]));
  const smmu = await createSmmu({
    ram: [{ base: RAM, size: RAM_SIZE }],
    devices: t.emulated,
    viommu: { backends: t.backends.map((b) => ({ ...b, backend: sims.get(b.name)! })), devices: t.passthrough },
  });
  const rec = new TraceRecorder(smmu, sims);
  const drv = new GuestDriver(rec, { heap: { base: RAM + 0x100000, size: 0x800000 }, cmdqLog2: 5, evtqLog2: 5, strtab: { log2size: 8 } });
  drv.init();
  rec.expectBackends();
  attachPassthrough(drv, t);
  rec.expectBackends();
  for (const sid of t.emulated) emulatedDma(drv, rec, sid);
  rec.expectBackends();
  if (t.passthrough.length) {
    const p0 = t.passthrough[0];
    invalidateEverything(drv, p0.sid, t.passthrough.length);
    rec.expectBackends();
    backendFailure(drv, rec, p0.backend);
    physicalEvents(drv, rec, p0);
    // CFGI_ALL forgets and relearns; a re-written CD is learned through CFGI_CD
    submit(drv, [cmdCfgiAll(), cmdSync(), cmdCfgiSte(p0.sid), cmdTlbiNhAsid(0x200), cmdSync()]);
    rec.expectBackends();
  }
  smmu.dispose();
  return rec.toJsonl(traceHeader(t));
}

/** Submits commands; a command error is part of the trace (the driver's ackErrors recovers). */
function submit(drv: GuestDriver, cmds: bigint[][]): void {
  try {
    drv.submit(cmds);
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
  }
}

/** Passthrough devices: the first with two address spaces (a CD table), the others with one. */
function attachPassthrough(drv: GuestDriver, t: TopologyTrace): void {
  t.passthrough.forEach((d, i) => {
    const a = drv.createDomain({ asid: 0x100 + i });
    if (i === 0) {
      const b = drv.createDomain({ asid: 0x200 });
      drv.attachTable(d.sid, [a, b]);
    } else {
      drv.attach(d.sid, a);
    }
  });
}

/** An emulated device: map, DMA, unmap with TLBI, DMA again faults. */
function emulatedDma(drv: GuestDriver, rec: TraceRecorder, sid: number): void {
  const d = drv.createDomain({ asid: 0x300 });
  drv.map(d, 0x10000, DATA, 0x2000, { blocks: false });
  drv.attach(sid, d);
  rec.writeMemory(DATA, new Uint8Array(64).map((_, i) => i * 3 + 1));
  rec.dma(sid, 0x10000, 0x11000, 64);
  rec.readMemory(DATA + 0x1000, 64);
  submit(drv, [...drv.unmap(d, 0x10000, 0x1000), cmdSync()]);
  rec.dma(sid, 0x10000, 0x11040, 16);
  drv.events();
}

/** Invalidations of every kind the contract names (`sid`: the first passthrough device, of `n`). */
function invalidateEverything(drv: GuestDriver, sid: number, n: number): void {
  submit(drv, [
    cmdTlbiVa({ asid: 0x100, addr: 0x4000, leaf: true }), // targeted
    cmdTlbiVa({ asid: 0x200, addr: 0x8000, tg: 1, num: 7, scale: 1, ttl: 3 }), // targeted, range
    cmdTlbiVa({ asid: 0x777, addr: 0x1000 }), // unknown ASID: every backend
    cmdTlbiNhAsid(0x100 + n - 1),
    cmdTlbiVa({ addr: 0x5000 }), // VAA: every backend
    cmdSync(1),
    cmdTlbiNhAll(),
    cmdTlbiNsnhAll(),
    cmdCfgiCd(sid, 1),
    cmdCfgiCdAll(sid),
    cmdAtcInv(sid, 0x12340000n, 4),
    cmdCfgiCd(0x99), // not a passthrough device: nothing
    cmdSync(),
  ]);
}

/** A backend refuses an entry: CERROR_ILL at that command, recovery after GERRORN. */
function backendFailure(drv: GuestDriver, rec: TraceRecorder, backend: string): void {
  rec.failBackend(backend, 1);
  submit(drv, [cmdTlbiNhAsid(0x100), cmdTlbiNhAsid(0x200), cmdTlbiVa({ asid: 0x100, addr: 0x3000 }), cmdSync()]);
  rec.mmioRead(0x60, 4);
  rec.expectBackends();
  drv.ackErrors();
  rec.expectBackends();
}

/** Physical events from the backend of `p`: one for its pSID, one for a foreign one. */
function physicalEvents(drv: GuestDriver, rec: TraceRecorder, p: { backend: string; psid: number }): void {
  const ev = (psid: number) => {
    const r = new Uint8Array(32);
    const dv = new DataView(r.buffer);
    dv.setBigUint64(0, BigInt(E.EVT_F_TRANSLATION) | (BigInt(psid) << 32n), true);
    dv.setBigUint64(16, 0xdead000n, true);
    return r;
  };
  rec.backendEvent(p.backend, ev(p.psid));
  rec.backendEvent(p.backend, ev(0x7fff));
  drv.events();
}

function traceHeader(t: TopologyTrace): Record<string, unknown> {
  return {
    format: 'vsmmu-trace', version: 1, profile: 'qemu-7.2', name: t.name, smmu_base: '0x9050000',
    ram: [{ base: '0x' + RAM.toString(16), size: '0x' + RAM_SIZE.toString(16) }],
    devices: t.emulated.map((sid) => ({ sid: '0x' + sid.toString(16) })),
    origin: 'generated by vsmmu (src/topo/traces.ts) from the vIOMMU forwarding contract; CMDQ and emulated-device expectations follow QEMU 7.2',
    viommu: {
      backends: t.backends.map((b) => ({ name: b.name, vmid: '0x' + b.vmid.toString(16) })),
      devices: [
        ...t.emulated.map((sid) => ({ sid: '0x' + sid.toString(16), kind: 'emulated' })),
        ...t.passthrough.map((d) => ({ sid: '0x' + d.sid.toString(16), kind: 'passthrough', backend: d.backend, psid: '0x' + d.psid.toString(16) })),
      ],
    },
  };
}
