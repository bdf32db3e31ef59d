// Hostile backends (issue 16): backends are called from inside the engine's command
// consumption (one fwd_flush host call per window), so a backend that calls back into the
// model must be refused, whatever it calls, synchronously or after a Promise; the guest's
// commands run once and the model goes on. A backend may read guest memory (a pSMMU's walks).

import fc from 'fast-check';
import { createSmmu, HostError, type Smmu } from '../src/index.js';
import { GuestDriver, CommandError } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdCfgiCd } from '../src/guest/encode.js';
import * as R from '../src/arch/registers.js';
import type { BatchResult, PsmmuBackend } from '../src/backends/types.js';

const RAM = 0x40000000;
const RUNS = Number(process.env.VSMMU_PROPERTY_RUNS ?? 40);

type Call = 'prod' | 'mmioRead' | 'reset' | 'translate' | 'dma' | 'save' | 'bindDevice' | 'unbindDevice' | 'setTrace' | 'dropCaches';
const CALLS: Call[] = ['prod', 'mmioRead', 'reset', 'translate', 'dma', 'save', 'bindDevice', 'unbindDevice', 'setTrace', 'dropCaches'];

/** A backend that runs `during` inside each invalidate() (catching what it throws, or not), then accepts the entries (or promises to). */
class MeddlingBackend implements PsmmuBackend {
  during?: () => void;
  swallow = true;
  async = false;
  caught: unknown[] = [];
  entries = 0;
  constructor(readonly name: string) {}
  invalidate(entries: Uint8Array): BatchResult | Promise<BatchResult> {
    if (this.during) {
      try {
        this.during();
      } catch (err) {
        this.caught.push(err);
        if (!this.swallow) throw err;
      }
    }
    this.entries += entries.length / 16;
    const r = { done: entries.length / 16 };
    return this.async ? Promise.resolve(r) : r;
  }
  installSte(): BatchResult {
    return { done: 1 };
  }
}

async function setup(where: 'ram' | 'callbacks') {
  const backends = [new MeddlingBackend('p0'), new MeddlingBackend('p1')];
  const errors: HostError[] = [];
  const irqs = { 'cmd-sync': 0 };
  const outside = new Uint8Array(0x200000);
  const smmu: Smmu = await createSmmu({
    ...(where === 'ram'
      ? { ram: [{ base: RAM, size: 0x200000 }] }
      : {
        memory: {
          read: (a, dst) => { dst.set(outside.subarray(a - RAM, a - RAM + dst.length)); return true; },
          write: (a, src) => { outside.set(src, a - RAM); return true; },
        },
      }),
    devices: [0x18],
    irq: (line, n) => { if (line === 'cmd-sync') irqs['cmd-sync'] += n; },
    onHostError: (e) => { errors.push(e); },
    viommu: {
      backends: backends.map((b, i) => ({ name: b.name, vmid: 5 + i, backend: b })),
      devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }, { sid: 0x28, backend: 'p1', psid: 0x1028 }],
    },
  });
  const driver = new GuestDriver(smmu, { heap: { base: RAM, size: 0x100000 }, cmdqLog2: 6 });
  driver.init();
  return { smmu, driver, backends, errors, irqs };
}

function act(smmu: Smmu, what: Call): void {
  switch (what) {
    case 'prod': smmu.mmioWrite(R.R_CMDQ_PROD, 4, Number(smmu.mmioRead(R.R_CMDQ_PROD, 4))); break;
    case 'mmioRead': smmu.mmioRead(R.R_CMDQ_CONS, 4); break;
    case 'reset': smmu.reset(); break;
    case 'translate': smmu.translate(0x18, 0x1000); break;
    case 'dma': smmu.dma(0x18, 0x1000, 'read', new Uint8Array(8)); break;
    case 'save': smmu.save(); break;
    case 'bindDevice': smmu.bindDevice({ sid: 0x30, backend: 'p1', psid: 0x1030 }); break;
    case 'unbindDevice': smmu.unbindDevice(0x20); break;
    case 'setTrace': smmu.setTrace(undefined); break;
    case 'dropCaches': smmu.dropCaches(); break;
  }
}

test('a backend that calls into the model from invalidate() is refused (sync or after a Promise, RAM or callback queues); commands run once; the model goes on', async () => {
  await fc.assert(fc.asyncProperty(fc.constantFrom(...CALLS), fc.constantFrom<'ram' | 'callbacks'>('ram', 'callbacks'), fc.boolean(), fc.constantFrom(0, 1), async (what, where, async, meddler) => {
    const r = await setup(where);
    const be = r.backends[meddler];
    for (const b of r.backends) b.async = async;
    let armed = true;
    be.during = () => {
      if (!armed) return;
      armed = false;
      act(r.smmu, what);
    };
    r.errors.length = 0;
    const c0 = r.smmu.stats().commands;
    const s0 = r.irqs['cmd-sync'];
    const cons0 = Number(r.smmu.mmioRead(R.R_CMDQ_CONS, 4));
    // TLBI_NH_ASID of an unknown ASID: sent to both backends; then two windows more
    r.driver.submit([cmdTlbiNhAsid(7), cmdSync(1), cmdCfgiCd(0x20), cmdCfgiCd(0x28), cmdSync(1), cmdTlbiNhAsid(8), cmdSync(1)]);
    await r.smmu.whenIdle();
    expect(be.caught).toHaveLength(1);
    expect(be.caught[0]).toBeInstanceOf(HostError);
    expect((be.caught[0] as HostError).source).toBe('reentry');
    expect((be.caught[0] as HostError).message).toMatch(new RegExp(`${what === 'prod' ? 'mmioRead|mmioWrite' : what}\\(\\) called from inside a backend callback: re-entry is refused`));
    expect(r.errors.map((e) => e.source)).toEqual(['reentry']);
    // nothing the backend attempted took effect: every command ran once, in order, and the queue is drained
    expect(r.smmu.stats().commands - c0).toBe(7);
    expect(r.irqs['cmd-sync'] - s0).toBe(3);
    expect(Number(r.smmu.mmioRead(R.R_CMDQ_CONS, 4)) & 0x7f).toBe((cons0 + 7) & 0x7f);
    expect(r.backends.map((b) => b.entries)).toEqual([3, 3]);
    // the model goes on, its bindings unchanged: 0x20 still on p0, 0x30 never bound
    be.during = undefined;
    r.driver.submit([cmdCfgiCd(0x20), cmdCfgiCd(0x30), cmdSync()]);
    await r.smmu.whenIdle();
    expect(r.backends.map((b) => b.entries)).toEqual([4, 3]);
    expect(r.smmu.busy).toBe(false);
  }), { numRuns: RUNS });
});

test('a backend whose re-entry throws out of invalidate(): its command gets CERROR_ILL, the error is reported, the queue recovers', async () => {
  const r = await setup('ram');
  r.backends[1].swallow = false;
  r.backends[1].during = () => r.smmu.mmioWrite(R.R_CMDQ_PROD, 4, 0);
  const idx = r.driver.cons & 63;
  expect(() => r.driver.submit([cmdCfgiCd(0x20), cmdCfgiCd(0x28), cmdSync()])).toThrow(CommandError);
  expect(r.errors.map((e) => e.source)).toEqual(['reentry', 'backend']);
  expect(r.errors[1].message).toMatch(/backend "p1": threw: vsmmu: mmioWrite\(\) called from inside a backend callback/);
  const cons = Number(r.smmu.mmioRead(R.R_CMDQ_CONS, 4));
  expect((cons >>> 24) & 0x7f).toBe(R.CERROR_ILL);
  expect(cons & 63).toBe((idx + 1) & 63); // at the CFGI_CD whose entry p1 refused
  r.backends[1].during = undefined;
  r.driver.skipFailed();
  r.driver.ackErrors();
  r.driver.submit([cmdSync()]);
  expect(r.smmu.busy).toBe(false);
});

test('a backend may read guest memory while it works (a pSMMU walk)', async () => {
  const r = await setup('ram');
  r.smmu.writeMemory(RAM + 0x180000, Uint8Array.of(1, 2, 3, 4));
  const seen: number[][] = [];
  r.backends[0].during = () => { seen.push([...r.smmu.readMemory(RAM + 0x180000, 4)]); };
  r.driver.submit([cmdCfgiCd(0x20), cmdSync()]);
  expect(seen).toEqual([[1, 2, 3, 4]]);
  expect(r.errors).toEqual([]);
});

test('a device unplugged while a window waits for a backend\'s Promise: its entries not yet sent are dropped', async () => {
  const r = await setup('ram');
  let release: (v: BatchResult) => void = () => undefined;
  const p0 = r.backends[0];
  p0.invalidate = (entries) => {
    p0.entries += entries.length / 16;
    return new Promise<BatchResult>((res) => { release = res; });
  };
  const got: string[] = [];
  const p1 = r.backends[1];
  p1.invalidate = (entries) => {
    for (let o = 0; o < entries.length; o += 16) got.push(entries[o].toString(16));
    return { done: entries.length / 16 };
  };
  r.smmu.bindDevice({ sid: 0x30, backend: 'p1', psid: 0x1030 }); // stays plugged
  // TLBI_NH_ASID (unknown ASID) to p0 and p1, CFGI_CD 0x28 and 0x30 to p1; p0 answers later
  r.driver.submit([cmdTlbiNhAsid(7), cmdCfgiCd(0x28), cmdCfgiCd(0x30), cmdSync()]);
  expect(r.smmu.busy).toBe(true);
  expect(r.smmu.unbindDevice(0x28)).toBe(true); // hot-unplug while the window is held
  release({ done: 1 });
  await r.smmu.whenIdle();
  // p1: the TLBI_NH_ASID and 0x30's CFGI_CD (0x05); the CFGI_CD of the unplugged device dropped
  expect(got).toEqual([(0x11).toString(16), (0x05).toString(16)]);
  expect(r.errors).toEqual([]);
  // a window delivered at once after the unplug: nothing for 0x28 either
  r.driver.submit([cmdCfgiCd(0x28), cmdSync()]);
  expect(got).toHaveLength(2);
});
