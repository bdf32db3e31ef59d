// Property test of migration: a random guest program (domains, maps, strict unmaps with
// every kind of TLBI, configuration invalidations, emulated translations, passthrough
// DMA through the simulated pSMMUs, event draining) with migrations at random points,
// each to the same host or to a host with another pSMMU topology (1-3 pSMMUs, other
// VMIDs, names and pSIDs for the same vSIDs), gives the same guest-visible results as an
// uninterrupted run whose caches are dropped at the same points; the backends receive the
// same device entries (STE installs, CFGI_CD, ATC_INV, by vSID) plus, on arrival, one STE
// install per passthrough vSID in ascending order; on the same host, exactly the same
// entries. A missed invalidation on the new host would show as a stale passthrough DMA.

import fc from 'fast-check';
import { createSmmu, SimulatedPsmmu, type Smmu } from '../src/index.js';
import { GuestDriver, CommandError, type Domain } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdTlbiNhAll, cmdTlbiNsnhAll, cmdTlbiVa, cmdCfgiCd, cmdCfgiAll, cmdAtcInv, cmdCfgiSte } from '../src/guest/encode.js';
import type { ViommuHandle } from '../src/backends/simulated.js';
import * as R from '../src/arch/registers.js';
import * as C from '../src/arch/commands.js';
import { MovableBus } from './helpers.js';

const RAM_BASE = 0x40000000;
const DATA = RAM_BASE + 0x900000;
const EMU = [0x08, 0x10];
const PT = [0x40, 0x48, 0x50];
const DEVS = [...EMU, ...PT];
const PAGES = 4;
const iovaOf = (k: number) => 0x100000 + k * 0x1000;

interface Host { np: number; vmids: number[]; bind: number[]; psid0: number }
const arbHost: fc.Arbitrary<Host> = fc.record({
  np: fc.integer({ min: 1, max: 3 }),
  vmids: fc.uniqueArray(fc.integer({ min: 1, max: 0xffff }), { minLength: 3, maxLength: 3 }),
  bind: fc.array(fc.nat(2), { minLength: 3, maxLength: 3 }),
  psid0: fc.integer({ min: 0, max: 0xfff00 }),
});

type Step =
  | { t: 'attach'; dev: number; asid: number }
  | { t: 'map'; asid: number; k: number; frame: number; ro: boolean }
  | { t: 'cycle'; asid: number; k: number; frame: number; how: number }
  | { t: 'dma'; dev: number; k: number; write: boolean }
  | { t: 'cmd'; which: number; dev: number }
  | { t: 'events' }
  | { t: 'migrate'; host: Host | null };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('attach' as const), dev: fc.nat(DEVS.length - 1), asid: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('map' as const), asid: fc.integer({ min: 1, max: 3 }), k: fc.nat(PAGES - 1), frame: fc.nat(31), ro: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('cycle' as const), asid: fc.integer({ min: 1, max: 3 }), k: fc.nat(PAGES - 1), frame: fc.nat(31), how: fc.nat(3) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('dma' as const), dev: fc.nat(DEVS.length - 1), k: fc.nat(PAGES - 1), write: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cmd' as const), which: fc.nat(6), dev: fc.nat(DEVS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'events' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('migrate' as const), host: fc.option(arbHost, { nil: null }) }) },
);

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** One VM on one host at a time; `migrating` moves it, otherwise only its caches are dropped. */
class Run {
  bus!: MovableBus;
  driver!: GuestDriver;
  host!: Host;
  gen = 0;
  sims: SimulatedPsmmu[] = [];
  handles: ViommuHandle[] = [];
  seen: number[] = [];
  /** Guest-visible observations, in order. */
  readonly observed: string[] = [];
  /** Entries naming a device (STE installs, CFGI_CD*, ATC_INV), by vSID, pSID/VMID taken out. */
  readonly devLog = new Map<number, string[]>();
  /** Every entry in order, host-independent (same-host runs must match it exactly). */
  readonly allLog: string[] = [];
  readonly arrivals: string[][] = [];

  constructor(private readonly migrating: boolean) {}

  psidOf(h: Host, i: number): number { return h.psid0 + i * 3 + 1; }
  backendOf(h: Host, i: number): number { return Math.min(h.bind[i], h.np - 1); }

  private async model(h: Host, fresh: boolean): Promise<Smmu> {
    if (fresh) {
      this.gen++;
      this.sims = Array.from({ length: h.np }, (_, i) => new SimulatedPsmmu({
        name: `h${this.gen}p${i}`, iotlbEntries: 64, iotlbWays: 4,
        memory: (addr, dst) => (dst.set(this.bus.cur.readMemory(addr, dst.length)), true),
      }));
      this.handles = this.sims.map((s, i) => s.viommu(h.vmids[i]));
      this.seen = this.handles.map(() => 0);
    }
    return createSmmu({
      ram: [{ base: RAM_BASE, size: 0x1000000 }],
      devices: EMU,
      viommu: {
        backends: this.handles.map((b, i) => ({ name: this.sims[i].name, vmid: h.vmids[i], backend: b })),
        devices: PT.map((sid, i) => ({ sid, backend: this.sims[this.backendOf(h, i)].name, psid: this.psidOf(h, i) })),
      },
    });
  }

  async start(h: Host): Promise<void> {
    this.host = h;
    this.bus = new MovableBus(await this.model(h, true));
    this.driver = new GuestDriver(this.bus, { heap: { base: RAM_BASE + 0x100000, size: 0x700000 } });
    this.driver.init();
    this.collect();
  }

  /** New backend entries since the last call, made host-independent. */
  collect(): string[] {
    const out: string[] = [];
    this.handles.forEach((hd, b) => {
      for (const e of hd.received.slice(this.seen[b])) {
        const m = /^ste:0x([0-9a-f]+):(.*)$/.exec(e);
        if (m) {
          const i = PT.findIndex((_, j) => this.backendOf(this.host, j) === b && this.psidOf(this.host, j) === parseInt(m[1], 16));
          out.push(`ste:${PT[i].toString(16)}:${m[2]}`);
          continue;
        }
        const bytes = e.slice(4);
        const op = parseInt(bytes.slice(0, 2), 16);
        if (op === C.CMD_CFGI_CD || op === C.CMD_CFGI_CD_ALL || op === C.CMD_ATC_INV) {
          const psid = parseInt(bytes.slice(8, 16).match(/../g)!.reverse().join(''), 16);
          const i = PT.findIndex((_, j) => this.backendOf(this.host, j) === b && this.psidOf(this.host, j) === psid);
          out.push(`inv:${PT[i].toString(16)}:${bytes.slice(0, 8)}........${bytes.slice(16)}`);
        } else {
          out.push(`inv:*:${bytes.slice(0, 8)}....${bytes.slice(12)}`); // VMID (bits 47:32) taken out
        }
      }
      this.seen[b] = hd.received.length;
    });
    for (const e of out) {
      this.allLog.push(e);
      const v = /^(ste|inv):([0-9a-f]+):/.exec(e);
      if (v) {
        const sid = parseInt(v[2], 16);
        this.devLog.set(sid, [...(this.devLog.get(sid) ?? []), e]);
      }
    }
    return out;
  }

  async migrate(to: Host | null): Promise<void> {
    const old = this.bus.cur;
    if (!this.migrating) {
      old.dropCaches();
      return;
    }
    this.collect();
    const snap = old.save();
    old.dispose();
    const h = to ?? this.host;
    const next = await this.model(h, to !== null);
    next.ram(0).set(old.ram(0));
    this.host = h;
    this.bus.cur = next;
    next.restore(snap);
    await next.whenIdle();
    // arrival entries are checked apart, then left out of the device logs
    const before = this.allLog.length;
    const arrived = this.collect();
    this.allLog.length = before;
    for (const e of arrived) {
      const l = this.devLog.get(parseInt(e.split(':')[1], 16))!;
      l.pop();
    }
    this.arrivals.push(arrived);
    if (to === null) expect(arrived).toEqual([]);
    else {
      // one install per passthrough vSID (ascending per backend): the guest's STE words 0-1 as they are now
      const want = PT.map((sid) => `ste:${sid.toString(16)}:${hex(next.readMemory(this.driver.steAddr(sid), 16))}`);
      expect([...arrived].sort()).toEqual([...want].sort());
      for (let b = 0; b < h.np; b++) {
        const mine = PT.filter((_, j) => this.backendOf(h, j) === b).map((sid) => sid.toString(16));
        expect(arrived.filter((e) => mine.includes(e.split(':')[1])).map((e) => e.split(':')[1])).toEqual(mine);
      }
    }
  }

  /** Submits and acknowledges command errors until the queue drains; the errors are observations. */
  submit(cmds: bigint[][]): void {
    try {
      this.driver.submit(cmds);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      this.observed.push(`cmderr ${e.code} ${e.index}`);
    }
    for (let i = 0; i < 64; i++) {
      const s = this.bus.cur;
      if (((Number(s.mmioRead(R.R_GERROR, 4)) ^ Number(s.mmioRead(R.R_GERRORN, 4))) & 1) === 0) break;
      this.driver.skipFailed();
      this.driver.ackErrors();
    }
  }

  dma(sid: number, iova: number, write: boolean): string {
    const i = PT.indexOf(sid);
    if (i < 0) {
      const r = this.bus.cur.translate(sid, iova, write ? 'write' : 'read');
      return `x ${sid} ${r.status} ${r.addr} ${r.event}`;
    }
    const r = this.sims[this.backendOf(this.host, i)].dma(this.psidOf(this.host, i), iova, write ? 'write' : 'read');
    return `p ${sid} ${r.ok} ${r.pa} ${r.event}`;
  }
}

async function play(host: Host, steps: Step[], migrating: boolean): Promise<Run> {
  const run = new Run(migrating);
  await run.start(host);
  const domains = new Map<number, Domain>();
  const dom = (asid: number) => {
    let d = domains.get(asid);
    if (!d) domains.set(asid, (d = run.driver.createDomain({ asid })));
    return d;
  };
  const mapped = new Set<string>();
  const attached = new Map<number, number>();
  for (const s of steps) {
    switch (s.t) {
      case 'attach': {
        const sid = DEVS[s.dev];
        try {
          run.driver.attach(sid, dom(s.asid));
        } catch (e) {
          if (!(e instanceof CommandError)) throw e;
          run.submit([]);
        }
        attached.set(sid, s.asid);
        break;
      }
      case 'map':
      case 'cycle': {
        if (!mapped.has(`${s.asid}/${s.k}`)) {
          run.driver.map(dom(s.asid), iovaOf(s.k), DATA + s.frame * 0x1000, 0x1000, { readOnly: s.t === 'map' && s.ro, blocks: false });
          mapped.add(`${s.asid}/${s.k}`);
        }
        if (s.t === 'map') break;
        for (const sid of DEVS) if (attached.get(sid) === s.asid) run.observed.push(run.dma(sid, iovaOf(s.k), false));
        const tlbi = run.driver.unmap(dom(s.asid), iovaOf(s.k), 0x1000);
        mapped.delete(`${s.asid}/${s.k}`);
        const inv = [tlbi, [cmdTlbiNhAsid(s.asid)], [cmdTlbiNhAll()], [cmdTlbiVa({ asid: s.asid, addr: iovaOf(s.k) & ~0x3fff, tg: 1, num: 3, scale: 0, ttl: 3 })]][s.how];
        run.submit([...inv, cmdSync()]);
        for (const sid of DEVS) if (attached.get(sid) === s.asid) run.observed.push(run.dma(sid, iovaOf(s.k), false));
        break;
      }
      case 'dma':
        run.observed.push(run.dma(DEVS[s.dev], iovaOf(s.k), s.write));
        break;
      case 'cmd': {
        const sid = DEVS[s.dev];
        const cmds = [cmdTlbiNhAll(), cmdTlbiNsnhAll(), cmdCfgiAll(), cmdCfgiCd(sid), cmdAtcInv(sid), cmdTlbiVa({ addr: iovaOf(0) }), cmdCfgiSte(sid)];
        run.submit([cmds[s.which], cmdSync()]);
        break;
      }
      case 'events':
        run.observed.push(run.driver.events().map((e) => `${e.type}/${e.sid.toString(16)}/${hex(new Uint8Array(new BigUint64Array(e.words).buffer))}`).join(' '));
        break;
      case 'migrate':
        await run.migrate(s.host);
        break;
    }
    run.collect();
  }
  for (let off = 0; off < 0x100; off += 4) run.observed.push(`r${off.toString(16)}=${run.bus.cur.mmioRead(off, 4)}`);
  run.observed.push(run.driver.events().map((e) => `${e.type}/${e.sid}`).join(' '));
  return run;
}

test('migrating (same host or another pSMMU topology) = an uninterrupted run with caches dropped at the same points', async () => {
  let moved = 0, stayed = 0;
  await fc.assert(fc.asyncProperty(arbHost, fc.array(arbStep, { minLength: 5, maxLength: 40 }), async (host, steps) => {
    const a = await play(host, steps, true);
    const b = await play(host, steps, false);
    expect(a.observed).toEqual(b.observed);
    expect(new Map([...a.devLog].sort())).toEqual(new Map([...b.devLog].sort()));
    if (steps.every((s) => s.t !== 'migrate' || s.host === null)) expect(a.allLog).toEqual(b.allLog);
    moved += steps.filter((s) => s.t === 'migrate' && s.host).length;
    stayed += steps.filter((s) => s.t === 'migrate' && !s.host).length;
  }), { numRuns: 60, seed: 2026 });
  expect(moved).toBeGreaterThan(10);
  expect(stayed).toBeGreaterThan(5);
});
