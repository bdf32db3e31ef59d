// The vIOMMU dispatcher in the spirit of iommufd's selftests: partial failure, unknown
// vSID, bad STE fields, hot-unplug during a batch, events for foreign pSIDs, the
// CMD_SYNC fence with asynchronous backends, and the four topologies.

import { buildVm, VM_RAM_BASE, type Vm, type VsmmuNode } from '../src/topo/vm.js';
import { CommandError, GuestDriver, type Domain } from '../src/guest/driver.js';
import { createSmmu } from '../src/index.js';
import * as A from '../src/arch/abi.js';
import { cmdSync, cmdTlbiNhAll, cmdTlbiNhAsid, cmdTlbiVa, cmdCfgiCd, cmdCfgiSte, cmdAtcInv, ste, cd, wordsToBytes } from '../src/guest/encode.js';
import * as R from '../src/arch/registers.js';
import * as E from '../src/arch/events.js';

const DATA = VM_RAM_BASE + 0x3000000;

function regs(n: VsmmuNode) {
  return {
    cons: Number(n.smmu.mmioRead(R.R_CMDQ_CONS, 4)),
    prod: Number(n.smmu.mmioRead(R.R_CMDQ_PROD, 4)),
    gerror: Number(n.smmu.mmioRead(R.R_GERROR, 4)),
    gerrorn: Number(n.smmu.mmioRead(R.R_GERRORN, 4)),
  };
}

/** Passthrough device `sid` of vSMMU `n` attached to a fresh domain with one mapped page. */
function attachPassthrough(n: VsmmuNode, sid: number, asid: number, iova = 0x100000): Domain {
  const d = n.driver.createDomain({ asid });
  n.driver.map(d, iova, DATA + asid * 0x1000, 0x1000);
  n.driver.attach(sid, d);
  return d;
}

async function oneToOne(irq?: Parameters<typeof buildVm>[2]): Promise<Vm> {
  return buildVm({
    psmmus: [{ name: 'p0' }],
    vsmmus: [{ name: 'v0', emulated: [0x18], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x1020 }, { sid: 0x28, psmmu: 'p0', psid: 0x1028 }] }],
  }, undefined, irq);
}

test('an attached passthrough device installs its STE and DMA fills the pSMMU IOTLB under the vSMMU VMID', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  attachPassthrough(n, 0x20, 5);
  const stes = p0.applied.filter((s) => s.startsWith('ste:0x1020:'));
  expect(stes).toHaveLength(2); // the driver's CFGI_ALL at probe (V=0), then the attach
  expect(stes[0]).toBe('ste:0x1020:' + '0'.repeat(32));
  expect(stes[1].slice(11, 13)).toBe('0b'); // V=1, Config=S1
  expect(n.smmu.asidHolders(5)).toEqual(['p0']);
  const r = p0.dma(0x1020, 0x100010);
  expect(r).toEqual({ ok: true, pa: DATA + 5 * 0x1000 + 0x10, event: 0 });
  expect(p0.holds(n.vmids.get('p0')!, 5, 0x100000)).toBe(true);
  // unmap + TLBI + SYNC drops it
  const d = n.driver.createDomain({ asid: 5 });
  n.driver.submit([...n.driver.unmap(d, 0x100000, 0x1000), cmdSync()]);
  expect(p0.holds(n.vmids.get('p0')!, 5, 0x100000)).toBe(false);
});

test('partial failure: the backend reports exactly the entries done; the guest sees CERROR_ILL at the command that produced the failing one', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  attachPassthrough(n, 0x20, 5);
  const before = p0.applied.length;
  const start = regs(n).cons;
  p0.failAt(2);
  const cmds = [0, 1, 2, 3, 4].map((i) => cmdTlbiVa({ asid: 5, addr: 0x100000 + i * 0x1000, leaf: true }));
  expect(() => n.driver.submit([...cmds, cmdSync()])).toThrow(CommandError);
  const r = regs(n);
  expect(r.cons & 0xffff).toBe((start + 2) & 0xffff); // stopped at the third TLBI
  expect((r.cons >>> 24) & 0x7f).toBe(R.CERROR_ILL);
  expect(r.gerror ^ r.gerrorn).toBe(1);
  expect(p0.applied.length - before).toBe(2); // entries before the failure took effect, nothing after
  // acknowledging resumes at the failed command: nothing lost, nothing reordered
  n.driver.ackErrors();
  const got = p0.applied.slice(before).map((s) => s.slice(4, 36));
  const want = cmds.map((c) => wordsToBytes([(c[0] & ~(0xffffn << 32n)) | (BigInt(n.vmids.get('p0')!) << 32n), c[1]])).map((b) => Buffer.from(b).toString('hex'));
  expect(got).toEqual(want);
  expect(regs(n).cons & 0xffff).toBe((start + 6) & 0xffff);
});

test('a command for an unknown vSID is not forwarded (it is an emulated device without an STE)', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  const before = p0.applied.length;
  n.driver.submit([cmdCfgiCd(0x99), cmdAtcInv(0x99), cmdCfgiSte(0x99), cmdSync()]);
  expect(p0.applied.length).toBe(before);
  expect(regs(n).gerror).toBe(0);
  expect(n.smmu.stats().filtered).toBeGreaterThanOrEqual(3);
});

test('an STE with bits outside the nested stage-1 fields is refused with CERROR_ILL and installs nothing', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  const bad = ste({ config: 5, s1ctxptr: VM_RAM_BASE + 0x200000 });
  bad[1] |= 1n << 40n; // a stage-2 field
  n.smmu.writeMemory(n.driver.steAddr(0x28), wordsToBytes(bad));
  const before = p0.applied.length;
  expect(() => n.driver.submit([cmdCfgiSte(0x28), cmdSync()])).toThrow(CommandError);
  expect(p0.applied.length).toBe(before);
  // stage-2 Config is refused too
  n.driver.ackErrors();
  expect(regs(n).gerror ^ regs(n).gerrorn).toBe(1); // re-executed and refused again
  n.smmu.writeMemory(n.driver.steAddr(0x28), wordsToBytes(ste({ config: 6 })));
  n.driver.ackErrors();
  expect(regs(n).gerror ^ regs(n).gerrorn).toBe(1);
  // a good STE goes through
  n.smmu.writeMemory(n.driver.steAddr(0x28), wordsToBytes(ste({ config: 4 })));
  n.driver.ackErrors();
  expect(regs(n).gerror ^ regs(n).gerrorn).toBe(0);
  expect(p0.applied.slice(before)).toEqual([`ste:0x1028:${Buffer.from(wordsToBytes(ste({ config: 4 }).slice(0, 2))).toString('hex')}`]);
});

test('hot-unplug during a batch: entries not yet sent for the unplugged device never reach its backend', async () => {
  const vm = await buildVm({
    psmmus: [{ name: 'p0' }, { name: 'p1' }],
    vsmmus: [{ name: 'v0', emulated: [], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x1020 }, { sid: 0x28, psmmu: 'p1', psid: 0x2028 }] }],
  });
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!, p1 = vm.psmmus.get('p1')!;
  attachPassthrough(n, 0x20, 5);
  attachPassthrough(n, 0x28, 6);
  p0.setDelay(20);
  const b1 = p1.applied.length;
  n.driver.submit([cmdTlbiNhAsid(9), cmdCfgiCd(0x28), cmdCfgiCd(0x20), cmdSync()]);
  expect(n.smmu.busy).toBe(true); // p0 answers later; CMD_SYNC not passed yet
  expect(n.smmu.unbindDevice(0x28)).toBe(true);
  await n.smmu.whenIdle();
  expect(n.smmu.busy).toBe(false);
  const sent = p1.applied.slice(b1);
  expect(sent.some((s) => s.startsWith('inv:05') && s.includes('28200000'))).toBe(false); // no CFGI_CD with pSID 0x2028
  expect(sent.some((s) => s.startsWith('inv:11'))).toBe(true); // the broadcast TLBI still went
  expect(regs(n).cons).toBe(regs(n).prod);
});

test('CMD_SYNC is a fence: CONS does not pass it and its interrupt waits until every backend finished', async () => {
  let syncIrqs = 0;
  const vm = await oneToOne((_, l, c) => { if (l === 'cmd-sync') syncIrqs += c; });
  const [n] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  syncIrqs = 0; // the drivers' probe
  attachPassthrough(n, 0x20, 5);
  p0.setDelay(30);
  const start = regs(n).cons;
  n.driver.submit([cmdTlbiVa({ asid: 5, addr: 0x100000 }), cmdSync(1)]);
  const during = regs(n);
  expect(during.cons).toBe(start); // held at the forwarded TLBI
  expect(syncIrqs).toBe(0);
  await n.smmu.whenIdle();
  expect(regs(n).cons).toBe((start + 2) & ((2 << n.driver.cmdqLog2) - 1));
  expect(syncIrqs).toBe(1);
});

test('a physical event is delivered with the vSID; one for a foreign pSID is dropped', async () => {
  const vm = await buildVm({
    psmmus: [{ name: 'p0' }],
    vsmmus: [
      { name: 'v0', emulated: [], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x1020 }] },
      { name: 'v1', emulated: [], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x3020 }] },
    ],
  });
  const [a, b] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  attachPassthrough(a, 0x20, 5);
  const r = p0.dma(0x1020, 0x900000); // unmapped: F_TRANSLATION from the pSMMU
  expect(r.event).toBe(E.EVT_F_TRANSLATION);
  const ea = a.driver.events();
  expect(ea.map((e) => [e.type, e.sid])).toEqual([[E.EVT_F_TRANSLATION, 0x20]]);
  expect(ea[0].words[2]).toBe(0x900000n);
  expect(b.driver.events()).toEqual([]); // 0x1020 is not v1's
  expect(b.smmu.foreignEvents).toBe(1);
  const rec = new Uint8Array(32);
  new DataView(rec.buffer).setBigUint64(0, BigInt(E.EVT_F_TRANSLATION) | (0x7777n << 32n), true);
  expect(a.smmu.backendEvent('p0', rec)).toBe(false);
  expect(a.driver.events()).toEqual([]);
});

test('join: with the vASID table TLBIs go only to the pSMMU holding the ASID; without it they go to all', async () => {
  for (const table of [true, false]) {
    const vm = await buildVm({
      psmmus: [{ name: 'p0' }, { name: 'p1' }],
      vsmmus: [{ name: 'v0', emulated: [], vasidTable: table, passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x20 }, { sid: 0x28, psmmu: 'p1', psid: 0x28 }] }],
    });
    const [n] = vm.vsmmus;
    attachPassthrough(n, 0x20, 5);
    attachPassthrough(n, 0x28, 6);
    const [p0, p1] = [vm.psmmus.get('p0')!, vm.psmmus.get('p1')!];
    const b0 = p0.counters.entries, b1 = p1.counters.entries;
    n.driver.submit([cmdTlbiVa({ asid: 5, addr: 0x100000 }), cmdTlbiVa({ asid: 6, addr: 0x100000 }), cmdSync()]);
    expect(p0.counters.entries - b0).toBe(table ? 1 : 2);
    expect(p1.counters.entries - b1).toBe(table ? 1 : 2);
  }
});

test('split: two vSMMUs on one pSMMU use distinct VMIDs and never drop each other\'s translations', async () => {
  const vm = await buildVm({
    psmmus: [{ name: 'p0' }],
    vsmmus: [
      { name: 'v0', emulated: [0x18], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x20 }] },
      { name: 'v1', emulated: [0x18], passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x120 }] },
    ],
  });
  const [a, b] = vm.vsmmus;
  const p0 = vm.psmmus.get('p0')!;
  expect(a.vmids.get('p0')).not.toBe(b.vmids.get('p0'));
  attachPassthrough(a, 0x20, 5);
  attachPassthrough(b, 0x20, 5); // same guest ASID in both vSMMUs
  p0.dma(0x20, 0x100000);
  p0.dma(0x120, 0x100000);
  expect(p0.cached(a.vmids.get('p0')!)).toBe(1);
  expect(p0.cached(b.vmids.get('p0')!)).toBe(1);
  a.driver.submit([cmdTlbiNhAsid(5), cmdSync()]);
  expect(p0.cached(a.vmids.get('p0')!)).toBe(0);
  expect(p0.cached(b.vmids.get('p0')!)).toBe(1);
  b.driver.submit([cmdTlbiNhAsid(7), cmdSync()]);
  expect(p0.cached(b.vmids.get('p0')!)).toBe(1);
  expect([...p0.vmidsSeen].sort()).toEqual([a.vmids.get('p0')!, b.vmids.get('p0')!].sort());
});

test('a dedicated passthrough vSMMU forwards what a mixed one forwards, with no emulated cache work', async () => {
  const run = async (dedicated: boolean) => {
    const vm = await buildVm({
      psmmus: [{ name: 'p0' }],
      vsmmus: [{ name: 'v0', emulated: dedicated ? [] : [0x18], passthroughOnly: dedicated, passthrough: [{ sid: 0x20, psmmu: 'p0', psid: 0x20 }] }],
    });
    const [n] = vm.vsmmus;
    attachPassthrough(n, 0x20, 5);
    n.driver.submit([cmdTlbiVa({ asid: 5, addr: 0x100000 }), cmdTlbiNhAsid(5), cmdCfgiCd(0x20), cmdSync()]);
    return vm.psmmus.get('p0')!.applied;
  };
  expect(await run(true)).toEqual(await run(false));
});

test('emulated devices behind a mixed vSMMU keep their own translations', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const d = n.driver.createDomain({ asid: 3 });
  n.driver.map(d, 0x200000, DATA, 0x1000);
  n.driver.attach(0x18, d);
  expect(n.smmu.translate(0x18, 0x200004).addr).toBe(DATA + 4);
  n.driver.submit([...n.driver.unmap(d, 0x200000, 0x1000), cmdSync()]);
  expect(n.smmu.translate(0x18, 0x200004).status).toBe('fault');
  expect(vm.psmmus.get('p0')!.applied.filter((s) => s.startsWith('inv:'))).toHaveLength(1); // ASID 3 unknown: broadcast to the one pSMMU
});

test('CD of a passthrough device is read from guest memory when learning ASIDs (CFGI_CD learns new ASIDs)', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const d = attachPassthrough(n, 0x20, 5);
  expect(n.smmu.asidHolders(9)).toEqual([]);
  n.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 9, ttb0: d.root, t0sz: 16, tg0: 0 })));
  n.driver.invalidateCd(0x20);
  expect(n.smmu.asidHolders(9)).toEqual(['p0']);
  expect(n.smmu.asidHolders(5)).toEqual(['p0']); // nothing is forgotten but by CFGI_ALL
});

test('ASIDs are learned through 2-level CD tables; an STE with more than 4096 CDs makes its backend a holder of every ASID', async () => {
  const vm = await oneToOne();
  const [n] = vm.vsmmus;
  const drv = n.driver;
  // S1Fmt = 1 (2-level, 4 KiB leaves of 64 CDs), S1CDMax = 8: 4 L1 descriptors
  const l1 = drv.alloc(4 * 8, 64);
  const leaf = drv.alloc(4096, 4096);
  drv.write64(l1 + 2 * 8, BigInt(leaf) | 1n); // L1 entry 2 valid
  n.smmu.writeMemory(leaf + 5 * 64, wordsToBytes(cd({ asid: 0x4242, ttb0: VM_RAM_BASE, t0sz: 16, tg0: 0 })));
  n.smmu.writeMemory(drv.steAddr(0x20), wordsToBytes(ste({ config: 5, s1fmt: 1, s1cdmax: 8, s1ctxptr: l1 })));
  drv.submit([cmdCfgiSte(0x20), cmdSync()]);
  expect(n.smmu.asidHolders(0x4242)).toEqual(['p0']);
  expect(n.smmu.asidHolders(0x4243)).toEqual([]);
  // 2^13 CDs: not read, the backend is assumed to hold everything
  n.smmu.writeMemory(drv.steAddr(0x28), wordsToBytes(ste({ config: 5, s1cdmax: 13, s1ctxptr: l1 })));
  drv.submit([cmdCfgiSte(0x28), cmdSync()]);
  expect(n.smmu.asidHolders(0x4243)).toEqual(['p0']);
});

test('a 2-level CD table smaller than one leaf (S1CDMax <= split) still has its one L1 descriptor read', async () => {
  for (const [s1fmt, s1cdmax] of [[1, 4], [1, 6], [2, 10]]) {
    const vm = await oneToOne();
    const [n] = vm.vsmmus;
    const drv = n.driver;
    const l1 = drv.alloc(64, 64);
    const leaf = drv.alloc(0x10000, 0x10000);
    drv.write64(l1, BigInt(leaf) | 1n); // L1 entry 0 valid
    n.smmu.writeMemory(leaf + 3 * 64, wordsToBytes(cd({ asid: 0x4343, ttb0: VM_RAM_BASE, t0sz: 16, tg0: 0 })));
    n.smmu.writeMemory(drv.steAddr(0x20), wordsToBytes(ste({ config: 5, s1fmt, s1cdmax, s1ctxptr: l1 })));
    drv.submit([cmdCfgiSte(0x20), cmdSync()]);
    expect([s1fmt, s1cdmax, n.smmu.asidHolders(0x4343)]).toEqual([s1fmt, s1cdmax, ['p0']]);
  }
});

test('up to MAX_BACKENDS backends: a broadcast reaches each once; one more is refused', async () => {
  for (const n of [31, 32]) {
    const got = new Array<number>(n).fill(0);
    const backends = Array.from({ length: n }, (_, i) => ({
      name: `b${i}`, vmid: i + 1,
      backend: { name: `b${i}`, invalidate: (e: Uint8Array) => { got[i] += e.length / 16; return { done: e.length / 16 }; }, installSte: () => ({ done: 1 }) },
    }));
    const smmu = await createSmmu({ ram: [{ base: VM_RAM_BASE, size: 0x100000 }], viommu: { backends } });
    const drv = new GuestDriver(smmu, { heap: { base: VM_RAM_BASE, size: 0x80000 } });
    drv.init();
    got.fill(0);
    drv.submit([cmdTlbiNhAll(), cmdTlbiNhAsid(0x777), cmdSync()]); // every backend; an ASID nobody learned: every backend
    expect([n, got]).toEqual([n, new Array<number>(n).fill(2)]);
  }
  const backends = Array.from({ length: A.MAX_BACKENDS + 1 }, (_, i) => ({ name: `b${i}`, vmid: i + 1, backend: { name: `b${i}`, invalidate: () => ({ done: 0 }), installSte: () => ({ done: 0 }) } }));
  await expect(createSmmu({ ram: [{ base: VM_RAM_BASE, size: 0x100000 }], viommu: { backends } })).rejects.toThrow(`at most ${A.MAX_BACKENDS} backends`);
});
