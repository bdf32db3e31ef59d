// Snapshots (docs/snapshot-format.md): round trip of the format, QEMU's migration
// semantics (caches empty after restore, IOTLB occupancy from 0, registers and raw queue
// pointers kept), exact continuation with caches kept, the busy refusal, topology
// checks, and hostile snapshot bytes (fast-check): only SnapshotError, and a model that
// refused a snapshot behaves exactly as one that never saw it.

import fc from 'fast-check';
import { createSmmu, SnapshotError, SimulatedPsmmu, type Smmu } from '../src/index.js';
import { GuestDriver } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdRaw, cmdCfgiSte } from '../src/guest/encode.js';
import { crc32, SNAPSHOT_MAGIC } from '../src/snapshot.js';
import * as R from '../src/arch/registers.js';
import * as N from '../src/arch/snapshot.js';
import { machine, MovableBus, RAM_BASE, RAM_SIZE } from './helpers.js';

const DATA = RAM_BASE + 0x900000;

/** Every 4-byte register offset of page 0 (and the 64-bit ones) as the guest reads them. */
function registers(smmu: Smmu): string[] {
  const out: string[] = [];
  for (let off = 0; off < 0x100; off += 4) out.push(`${off.toString(16)}=${smmu.mmioRead(off, 4).toString(16)}`);
  for (const off of [R.R_STRTAB_BASE, R.R_CMDQ_BASE, R.R_EVENTQ_BASE, R.R_GERROR_IRQ_CFG0]) out.push(`${off.toString(16)}q=${smmu.mmioRead(off, 8).toString(16)}`);
  return out;
}

/** A configured guest: one domain mapped and attached, translations cached. */
async function busyGuest(opts: Parameters<typeof machine>[0] = {}) {
  const smmu = await fresh(opts);
  const bus = new MovableBus(smmu);
  const driver = new GuestDriver(bus, { heap: { base: RAM_BASE + 0x100000, size: 0x800000 } });
  driver.init();
  await smmu.whenIdle();
  const m = { smmu, bus, driver };
  const d = m.driver.createDomain({ asid: 3 });
  m.driver.map(d, 0x100000, DATA, 0x4000, { blocks: false });
  m.driver.attach(0x18, d);
  for (let k = 0; k < 4; k++) expect(m.smmu.translate(0x18, 0x100000 + k * 0x1000).addr).toBe(DATA + k * 0x1000);
  return { ...m, domain: d };
}

async function fresh(opts: Parameters<typeof machine>[0] = {}): Promise<Smmu> {
  return createSmmu({ ram: [{ base: RAM_BASE, size: RAM_SIZE }], devices: [0x18, 0x20, 0x28], ...opts });
}

function ramCopy(from: Smmu, to: Smmu): void {
  to.ram(0).set(from.ram(0));
}

describe('format', () => {
  test('round trip: every register, raw PROD/CONS with wrap and ERR, GERROR/GERRORN survive; saving again gives the same bytes', async () => {
    const m = await busyGuest();
    // a pending command error: an illegal opcode
    expect(() => m.driver.submit([cmdRaw(0x7f), cmdSync()])).toThrow();
    const before = registers(m.smmu);
    expect(Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4)) >>> 24).toBe(R.CERROR_ILL);
    const snap = m.smmu.save();
    expect(Array.from(snap.subarray(0, 8))).toEqual(Array.from(SNAPSHOT_MAGIC));
    const b = await fresh();
    ramCopy(m.smmu, b);
    b.restore(snap);
    expect(registers(b)).toEqual(before);
    expect(b.save()).toEqual(snap);
    // the pending error is recovered on the new side as usual: GERRORN, then the queue drains past a skipped command
    m.bus.cur = b;
    m.driver.skipFailed();
    m.driver.ackErrors();
    expect(Number(b.mmioRead(R.R_CMDQ_CONS, 4)) & 0xfffff).toBe(Number(b.mmioRead(R.R_CMDQ_PROD, 4)));
  });

  test('a profile with GBPA migrates it; QEMU 7.2 has none (RAZ/WI)', async () => {
    for (const profile of ['arch', 'qemu-7.2'] as const) {
      const a = await fresh({ profile });
      a.mmioWrite(R.R_GBPA, 4, 0x80101000 | (1 << 20)); // Update + ABORT + fields
      const gbpa = a.mmioRead(R.R_GBPA, 4);
      expect(gbpa).toBe(profile === 'arch' ? 0x00101000 : 0);
      const b = await fresh({ profile });
      b.restore(a.save());
      expect(b.mmioRead(R.R_GBPA, 4)).toBe(gbpa);
      expect(b.translate(0x18, 0x1000).status).toBe(profile === 'arch' ? 'abort' : 'disabled'); // SMMUEN = 0: GBPA.ABORT honoured
    }
  });

  test('the documented layout: header, sections, CRC-32 trailer', async () => {
    const { smmu } = await busyGuest();
    const snap = smmu.save();
    const dv = new DataView(snap.buffer, snap.byteOffset, snap.length);
    expect(dv.getUint16(8, true)).toBe(1); // format version
    expect(dv.getUint32(12, true)).toBe(snap.length);
    expect(dv.getUint32(snap.length - 4, true)).toBe(crc32(snap.subarray(0, snap.length - 4)));
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // the CRC-32 check value
    const tags: number[] = [];
    for (let at = 16; at < snap.length - 4; at += 8 + dv.getUint32(at + 4, true)) tags.push(dv.getUint16(at, true));
    expect(tags).toEqual([1, 2, 16, 17, 18, 19, 20, 21, 32]);
    expect(smmu.save({ ram: true }).length).toBeGreaterThan(RAM_SIZE);
  });

  test('RAM on request: a snapshot with RAM restores the guest memory inside the model', async () => {
    const m = await busyGuest();
    m.smmu.writeMemory(DATA, new TextEncoder().encode('kept across'));
    const b = await fresh();
    b.restore(m.smmu.save({ ram: true }));
    expect(new TextDecoder().decode(b.readMemory(DATA, 11))).toBe('kept across');
    expect(b.translate(0x18, 0x100000).addr).toBe(DATA);
  });
});

describe('QEMU semantics and exact continuation', () => {
  test("default restore: IOTLB and configuration cache empty, stale translations walked afresh, occupancy from 0", async () => {
    const m = await busyGuest();
    // change the PTE and the STE without invalidation: the caches still serve the old ones
    m.driver.unmap(m.domain, 0x100000, 0x1000);
    expect(m.smmu.translate(0x18, 0x100000).status).toBe('success');
    expect(m.smmu.stats().iotlbEntries).toBe(4);
    const b = await fresh();
    ramCopy(m.smmu, b);
    b.restore(m.smmu.save({ caches: true })); // caches in the file, dropped by default
    expect(b.stats().iotlbEntries).toBe(0);
    expect(b.translate(0x18, 0x100000).status).toBe('fault');
    expect(b.translate(0x18, 0x101000).addr).toBe(DATA + 0x1000);
    expect(b.stats().iotlbEntries).toBe(1);
  });

  test("caches: 'keep' continues exactly (stale entries included) and needs a snapshot saved with caches", async () => {
    const m = await busyGuest();
    m.driver.unmap(m.domain, 0x100000, 0x1000);
    const b = await fresh();
    ramCopy(m.smmu, b);
    expect(() => b.restore(m.smmu.save(), { caches: 'keep' })).toThrow(expect.objectContaining({ code: 'caches' }));
    const snap = m.smmu.save({ caches: true });
    b.restore(snap, { caches: 'keep' });
    expect(b.stats().iotlbEntries).toBe(4);
    expect(b.save({ caches: true })).toEqual(snap);
    expect(b.translate(0x18, 0x100000).addr).toBe(DATA); // stale, as on the saved side
    // the kept entries are invalidated like any others
    m.bus.cur = b;
    m.driver.submit([cmdTlbiNhAsid(3), cmdSync()]);
    expect(b.translate(0x18, 0x100000).status).toBe('fault');
  });

  test('saving while an asynchronous backend holds a CMD_SYNC fails and says to await whenIdle()', async () => {
    const p = new SimulatedPsmmu({ name: 'p0' });
    p.setDelay(1);
    const m = await machine({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: p.viommu(1) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } }, {}, false);
    m.driver.init();
    await m.smmu.whenIdle();
    expect(m.smmu.busy).toBe(false);
    m.driver.submit([cmdTlbiNhAsid(1), cmdSync()]);
    expect(m.smmu.busy).toBe(true);
    let err: unknown;
    try {
      m.smmu.save();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as SnapshotError).code).toBe('busy');
    expect((err as Error).message).toMatch(/whenIdle\(\)/);
    await m.smmu.whenIdle();
    expect(m.smmu.save()).toBeInstanceOf(Uint8Array);
  });

  test('createSmmu({ restore }) builds the model from a snapshot', async () => {
    const m = await busyGuest();
    const b = await fresh({ restore: { snapshot: m.smmu.save({ ram: true }), caches: 'drop' } });
    expect(registers(b)).toEqual(registers(m.smmu));
  });
});

describe('refusals', () => {
  test('another profile, other emulated devices, another kind of StreamID', async () => {
    const m = await busyGuest();
    const snap = m.smmu.save();
    await expect(fresh({ profile: 'arch' }).then((s) => s.restore(snap))).rejects.toMatchObject({ code: 'profile', message: expect.stringMatching(/qemu-7\.2.*arch/) });
    await expect(fresh({ devices: [0x18, 0x20] }).then((s) => s.restore(snap))).rejects.toMatchObject({ code: 'topology', message: expect.stringMatching(/0x28/) });
    const pt = await fresh({ devices: [0x18, 0x20], viommu: { backends: [{ name: 'h0', vmid: 2, backend: new SimulatedPsmmu({ name: 'h0' }) }], devices: [{ sid: 0x28, backend: 'h0', psid: 5 }] } });
    expect(() => pt.restore(snap)).toThrow(expect.objectContaining({ code: 'topology', message: expect.stringMatching(/0x28 change kind/) }));
  });

  test('the same vSIDs on other backends arrive; arrival: false there is refused', async () => {
    const a = await machine({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } });
    const snap = a.smmu.save();
    const b = await fresh({ viommu: { backends: [{ name: 'q0', vmid: 7, backend: new SimulatedPsmmu({ name: 'q0' }) }, { name: 'q1', vmid: 8, backend: new SimulatedPsmmu({ name: 'q1' }) }], devices: [{ sid: 0x40, backend: 'q1', psid: 0x3 }] } });
    expect(() => b.restore(snap, { arrival: false })).toThrow(expect.objectContaining({ code: 'topology' }));
    ramCopy(a.smmu, b);
    b.restore(snap);
    expect((b.backend('q1') as SimulatedPsmmu).applied).toEqual([`ste:0x3:${'0'.repeat(32)}`]);
  });

  test('a vSID beyond the stream table (its STE cannot be read) arrives as an invalid STE, as the SMMU sees it', async () => {
    const viommu = (name: string, psid: number) => ({ backends: [{ name, vmid: 1, backend: new SimulatedPsmmu({ name }) }], devices: [{ sid: 0x40, backend: name, psid }] });
    const a = await machine({ viommu: viommu('p0', 0x99) }, { strtab: { log2size: 5 } }); // StreamIDs 0 .. 0x1f
    const snap = a.smmu.save();
    const b = await fresh({ viommu: viommu('q0', 0x3) });
    ramCopy(a.smmu, b);
    b.restore(snap, { arrival: true });
    expect((b.backend('q0') as SimulatedPsmmu).applied).toEqual([`ste:0x3:${'0'.repeat(32)}`]);
  });
});

describe('arrival with asynchronous backends', () => {
  test('createSmmu({ restore }) resolves once the new host installed every passthrough STE', async () => {
    const a = await busyGuest({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }, { sid: 0x48, backend: 'p0', psid: 0x98 }] } });
    a.driver.attach(0x40, a.domain);
    const q = new SimulatedPsmmu({ name: 'q0' });
    q.setDelay(1);
    const b = await fresh({
      viommu: { backends: [{ name: 'q0', vmid: 4, backend: q.viommu(4) }], devices: [{ sid: 0x40, backend: 'q0', psid: 0x5 }, { sid: 0x48, backend: 'q0', psid: 0x6 }] },
      restore: a.smmu.save({ ram: true }),
    });
    expect(b.busy).toBe(false);
    expect(q.applied.map((e) => e.slice(0, 7))).toEqual(['ste:0x5', 'ste:0x6']);
    expect(q.stes.get(0x5)!.vmid).toBe(4);
    expect(b.asidHolders(3)).toEqual(['q0']); // learned from 0x40's CD at arrival
  });
});

describe('hostile snapshot bytes', () => {
  const mutation = fc.oneof(
    fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7), fix: fc.boolean() }),
    fc.record({ t: fc.constant('word' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 0xffffffff }), fix: fc.constant(true) }),
    fc.record({ t: fc.constant('version' as const), v: fc.integer({ min: 0, max: 0xffff }).filter((v) => v !== 1) }),
    fc.record({ t: fc.constant('extend' as const), n: fc.integer({ min: 1, max: 64 }) }),
    // another profile: renamed in place (checksum fixed), or a real snapshot of an 'arch' model
    fc.record({ t: fc.constant('profile' as const), name: fc.constantFrom('arch----', 'qemu-7.3', 'QEMU-7.2', 'qemu-10.'), fix: fc.constant(true) }),
    fc.record({ t: fc.constant('other-profile' as const) }),
  );
  let archSnap: Uint8Array = new Uint8Array(0);
  beforeAll(async () => {
    archSnap = (await fresh({ profile: 'arch', viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } })).save();
  });

  /** `fix` recomputes the checksum so that the mutation reaches the deeper checks. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  function mutate(snap: Uint8Array, m: any): Uint8Array {
    const b = snap.slice();
    const dv = new DataView(b.buffer);
    switch (m.t) {
      case 'truncate': return b.subarray(0, m.at % b.length);
      case 'extend': { const e = new Uint8Array(b.length + m.n); e.set(b); return e; }
      case 'version': dv.setUint16(8, m.v, true); break;
      case 'profile': b.set(new TextEncoder().encode(m.name), 16 + 8 + 1); break; // the name of the first section
      case 'other-profile': return archSnap;
      case 'flip': b[m.at % b.length] ^= 1 << m.bit; break;
      case 'word': dv.setUint32(16 + (m.at % (b.length - 24)), m.v, true); break;
    }
    if (m.fix) dv.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
    return b;
  }

  test('only SnapshotError; a refused restore leaves the model exactly as a twin that never saw it', async () => {
    const src = await busyGuest({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } });
    src.driver.unmap(src.domain, 0x101000, 0x1000);
    const snap = src.smmu.save({ caches: true });
    // the model under attack and its twin: same history, different from the snapshot's
    const mk = async () => {
      const t = await busyGuest({ viommu: { backends: [{ name: 'p0', vmid: 1, backend: new SimulatedPsmmu({ name: 'p0' }) }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } });
      t.driver.submit([cmdCfgiSte(0x18), cmdSync()]);
      return t;
    };
    const target = await mk();
    const twin = await mk();
    let refused = 0, accepted = 0;
    await fc.assert(fc.asyncProperty(mutation, async (m) => {
      const bytes = mutate(snap, m);
      try {
        target.smmu.restore(bytes, { caches: 'keep', arrival: false });
      } catch (e) {
        if (!(e instanceof SnapshotError)) throw e;
        if (m.t === 'profile' || m.t === 'other-profile') expect(e.code).toBe('profile');
        refused++;
        expect(target.smmu.save({ caches: true })).toEqual(twin.smmu.save({ caches: true }));
        return;
      }
      // accepted (a mutation that is still a valid state): the twin takes it too, and both go on alike
      expect(['profile', 'other-profile', 'truncate', 'version', 'extend']).not.toContain(m.t);
      accepted++;
      twin.smmu.restore(bytes, { caches: 'keep', arrival: false });
      expect(target.smmu.save({ caches: true })).toEqual(twin.smmu.save({ caches: true }));
    }), { numRuns: 300, seed: 12 });
    expect(refused).toBeGreaterThan(150);
    expect(accepted).toBeGreaterThan(0);
    // after all that, both still work identically
    for (let k = 0; k < 4; k++) expect(target.smmu.translate(0x18, 0x100000 + k * 0x1000)).toEqual(twin.smmu.translate(0x18, 0x100000 + k * 0x1000));
    expect(registers(target.smmu)).toEqual(registers(twin.smmu));
  });

  test('each kind of damage names its problem', async () => {
    const { smmu } = await busyGuest();
    const snap = smmu.save();
    const code = (b: Uint8Array) => { try { smmu.restore(b); return 'ok'; } catch (e) { return (e as SnapshotError).code; } };
    expect(code(snap.subarray(0, 5))).toBe('truncated');
    expect(code(snap.subarray(0, snap.length - 1))).toBe('truncated');
    expect(code(mutate(snap, { t: 'flip', at: 40, bit: 0, fix: false }))).toBe('checksum');
    expect(code(mutate(snap, { t: 'version', v: 2 }))).toBe('version');
    const x = snap.slice(); x[0] = 0x51;
    expect(code(x)).toBe('magic');
    // a register value no guest can write: CR0ACK that does not mirror CR0
    const state = 16 + 8 + (2 + 'qemu-7.2'.length + smmu.profileOptions.length) + 8;
    expect(code(mutate(snap, { t: 'word', at: state + N.SN_CR0ACK - 16, v: 0xffffffff, fix: true }))).toBe('corrupt');
    expect(code(snap)).toBe('ok');
    // host-side misuse: a TypeError naming the argument
    expect(() => smmu.restore(snap, null as never)).toThrow(/restore options must be an object/);
    expect(() => smmu.restore(snap, { caches: 'all' as never })).toThrow(/caches must be 'drop' or 'keep'/);
    expect(() => smmu.restore(snap, { arrival: 'yes' as never })).toThrow(/arrival must be a boolean/);
    expect(() => smmu.save(null as never)).toThrow(/save options must be an object/);
    expect(code('not bytes' as never)).toBe('corrupt');
  });
});

describe('stage 2 and nested (qemu-10.0)', () => {
  // A nested domain whose stage-2 leaf was changed without invalidation: the combined IOTLB
  // entry and the nested configuration (VMID, stage-2 fields) travel with caches: 'keep'.
  async function nestedGuest() {
    const { Stage2Tables } = await import('../src/index.js');
    const opts = { profile: 'qemu-10.0' as const, stage: 'nested' as const, ram: [{ base: RAM_BASE, size: RAM_SIZE }], devices: [0x18] };
    const smmu = await createSmmu(opts);
    const driver = new GuestDriver(smmu, { heap: { base: RAM_BASE + 0x100000, size: 0x800000 } });
    driver.init();
    const s2 = new Stage2Tables(driver, { vmid: 9, ipaBits: 40 });
    s2.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
    s2.map(0x80000000, DATA, 0x1000);
    const domain = driver.createDomain({ asid: 1 });
    driver.map(domain, 0x1000, 0x80000000, 0x1000);
    driver.setSte(0x18, { config: 7, s1ctxptr: domain.cdAddr, s2: s2.steFields() });
    expect(smmu.translate(0x18, 0x1abc, 'write')).toMatchObject({ status: 'success', addr: DATA + 0xabc });
    s2.map(0x80000000, DATA + 0x10000, 0x1000); // stale from here on
    return { smmu, opts };
  }

  test('caches kept: the combined entry is still served; dropped: walked afresh', async () => {
    const { smmu, opts } = await nestedGuest();
    const snap = smmu.save({ caches: true, ram: true });
    const kept = await createSmmu({ ...opts, restore: { snapshot: snap, caches: 'keep' } });
    expect(kept.translate(0x18, 0x1abc)).toMatchObject({ status: 'success', addr: DATA + 0xabc });
    expect(registers(kept)).toEqual(registers(smmu));
    const dropped = await createSmmu({ ...opts, restore: snap });
    expect(dropped.translate(0x18, 0x1abc)).toMatchObject({ status: 'success', addr: DATA + 0x10abc });
  });

  test('a snapshot of a nested SMMU is refused by a stage-1 one', async () => {
    const { smmu, opts } = await nestedGuest();
    const snap = smmu.save();
    await expect(createSmmu({ ...opts, stage: '1', restore: snap })).rejects.toMatchObject({ code: 'profile', message: expect.stringMatching(/stage=nested.*stage=1/) });
  });
});
