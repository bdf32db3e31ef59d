// Save, restore and live migration (README "Snapshots and migration"): a rewind with
// the caches kept, a QEMU-style migration to a host with two pSMMUs, and a host whose
// devices differ, refused. Run with `node examples/migrate.mjs` after `npm ci`.

import { createSmmu, GuestDriver, SimulatedPsmmu, SnapshotError, encode } from 'vsmmu';

const RAM = [{ base: 0x40000000, size: 0x1000000 }];

// The guest's CPU reaches "the SMMU" through its bus; a migration moves the bus to the new model.
const bus = {
  cur: undefined,
  mmioRead: (o, s) => bus.cur.mmioRead(o, s),
  mmioWrite: (o, s, v) => bus.cur.mmioWrite(o, s, v),
  readMemory: (a, n) => bus.cur.readMemory(a, n),
  writeMemory: (a, d) => bus.cur.writeMemory(a, d),
};

// Host A: one pSMMU; emulated device 0x18, passthrough device 0x40 (pSID 0x1200).
const a0 = new SimulatedPsmmu({ name: 'a0', memory: (addr, dst) => (dst.set(bus.cur.readMemory(addr, dst.length)), true) });
bus.cur = await createSmmu({
  ram: RAM,
  devices: [0x18],
  viommu: { backends: [{ name: 'a0', vmid: 1, backend: a0.viommu(1) }], devices: [{ sid: 0x40, backend: 'a0', psid: 0x1200 }] },
});
const driver = new GuestDriver(bus, { heap: { base: 0x40100000, size: 0x800000 } });
driver.init();
const domain = driver.createDomain({ asid: 5 });
driver.map(domain, 0x100000, 0x40900000, 0x2000);
driver.attach(0x18, domain);
driver.attach(0x40, domain);
console.log('host A: translate', '0x' + bus.cur.translate(0x18, 0x100000).addr.toString(16), 'iotlb', bus.cur.stats().iotlbEntries);

// 1. Rewind / save state: everything, caches and RAM included, then an exact continuation.
const state = bus.cur.save({ caches: true, ram: true });
const rewound = await createSmmu({ ram: RAM, devices: [0x18], viommu: { backends: [{ name: 'a0', vmid: 1, backend: a0.viommu(1) }], devices: [{ sid: 0x40, backend: 'a0', psid: 0x1200 }] }, restore: { snapshot: state, caches: 'keep' } });
console.log('rewind (caches kept): iotlb', rewound.stats().iotlbEntries, 'snapshot bytes', state.length > 0x1000000 ? 'RAM + state' : state.length);

// 2. Live migration to host B with two pSMMUs: device 0x40 is now pSID 0x7 on b1.
const b0 = new SimulatedPsmmu({ name: 'b0' });
const b1 = new SimulatedPsmmu({ name: 'b1' });
const snap = bus.cur.save({ ram: true }); // the emulator may instead copy its RAM itself
console.log('migration snapshot without RAM:', bus.cur.save().length, 'bytes');
bus.cur.dispose();
bus.cur = await createSmmu({
  ram: RAM,
  devices: [0x18],
  viommu: {
    backends: [{ name: 'b0', vmid: 9, backend: b0.viommu(9) }, { name: 'b1', vmid: 3, backend: b1.viommu(3) }],
    devices: [{ sid: 0x40, backend: 'b1', psid: 0x7 }],
  },
  restore: snap, // QEMU semantics: caches start empty; the new host gets the passthrough STEs
});
console.log('host B: arrival', b1.applied.map((e) => e.slice(0, 8)).join(' '), '| b0:', b0.applied.length, '| iotlb', bus.cur.stats().iotlbEntries);
console.log('host B: translate', '0x' + bus.cur.translate(0x18, 0x101000).addr.toString(16), 'holders of ASID 5:', bus.cur.asidHolders(5).join(','));
driver.submit([...driver.unmap(domain, 0x101000, 0x1000), encode.cmdSync()]); // the guest goes on as if nothing happened
console.log('host B: TLBI_NH_VA went to', [b0, b1].filter((b) => b.applied.some((e) => e.startsWith('inv:'))).map((b) => b.name).join(','));

// 3. A host whose devices differ: refused before anything changes.
const other = await createSmmu({ ram: RAM, devices: [0x18, 0x20] });
try {
  other.restore(snap);
} catch (e) {
  console.log(e instanceof SnapshotError ? `refused (${e.code}): ${e.message}` : `unexpected ${e}`);
}
