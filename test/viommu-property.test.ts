// Property tests of the vIOMMU dispatcher over random guest programs and random
// topologies (1:1, join, split, dedicated/mixed):
// - no backend ever receives a StreamID that is not a passthrough device of that vSMMU
//   on that backend, nor a VMID other than its own;
// - after each CMD_SYNC completes, no backend IOTLB holds a translation the guest
//   invalidated before it, and emulated devices never see a stale translation;
// - a failing backend never loses or reorders the guest's commands.

import fc from 'fast-check';
import { buildVm, VM_RAM_BASE, type TopologySpec, type Vm, type VsmmuNode } from '../src/topo/vm.js';
import { CommandError, type Domain } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdTlbiNhAll, cmdTlbiNsnhAll, cmdTlbiVa, cmdCfgiCd, cmdCfgiAll, cmdAtcInv } from '../src/guest/encode.js';
import * as R from '../src/arch/registers.js';
import * as C from '../src/arch/commands.js';

const DATA = VM_RAM_BASE + 0x3000000;
const PAGES = 6;
const iovaOf = (k: number) => 0x100000 + k * 0x1000;

type Step =
  | { t: 'attach'; v: number; dev: number; asid: number }
  | { t: 'map'; v: number; asid: number; k: number; frame: number; ro: boolean }
  | { t: 'unmap'; v: number; asid: number; k: number; how: 'va' | 'asid' | 'all' | 'range' }
  | { t: 'dma'; v: number; dev: number; k: number; write: boolean }
  | { t: 'cmd'; v: number; which: number; dev: number }
  | { t: 'fail'; p: number; at: number }
  | { t: 'unplug'; v: number; dev: number }
  | { t: 'cycle'; v: number; asid: number; k: number; frame: number; how: 'va' | 'asid' | 'all' | 'range' };

const arbTopology = fc.record({
  np: fc.integer({ min: 1, max: 3 }),
  vs: fc.array(fc.record({
    emulated: fc.integer({ min: 0, max: 2 }),
    pt: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
    dedicated: fc.boolean(),
    vasid: fc.boolean(),
  }), { minLength: 1, maxLength: 2 }),
});

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('attach' as const), v: fc.nat(1), dev: fc.nat(4), asid: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('map' as const), v: fc.nat(1), asid: fc.integer({ min: 1, max: 4 }), k: fc.nat(PAGES - 1), frame: fc.nat(63), ro: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('unmap' as const), v: fc.nat(1), asid: fc.integer({ min: 1, max: 4 }), k: fc.nat(PAGES - 1), how: fc.constantFrom('va' as const, 'asid' as const, 'all' as const, 'range' as const) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('dma' as const), v: fc.nat(1), dev: fc.nat(4), k: fc.nat(PAGES - 1), write: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cmd' as const), v: fc.nat(1), which: fc.nat(5), dev: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fail' as const), p: fc.nat(2), at: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unplug' as const), v: fc.nat(1), dev: fc.nat(4) }) },
  // map a page, let every device attached to the ASID use it, unmap and invalidate it
  { weight: 5, arbitrary: fc.record({ t: fc.constant('cycle' as const), v: fc.nat(1), asid: fc.integer({ min: 1, max: 4 }), k: fc.nat(PAGES - 1), frame: fc.nat(63), how: fc.constantFrom('va' as const, 'asid' as const, 'all' as const, 'range' as const) }) },
);

type Topo = typeof arbTopology extends fc.Arbitrary<infer T> ? T : never;

function specOf(t: Topo): TopologySpec {
  let psid = 0x100;
  return {
    psmmus: Array.from({ length: t.np }, (_, i) => ({ name: `p${i}`, iotlbEntries: 64, iotlbWays: 4 })),
    vsmmus: t.vs.map((v, i) => {
      const dedicated = v.dedicated && v.emulated === 0;
      return {
        name: `v${i}`,
        emulated: Array.from({ length: v.emulated }, (_, j) => 0x08 + j * 8),
        passthrough: v.pt.map((p, j) => ({ sid: 0x40 + j * 8, psmmu: `p${Math.min(p, t.np - 1)}`, psid: psid++ })),
        passthroughOnly: dedicated,
        vasidTable: v.vasid,
      };
    }),
  };
}

interface Devices {
  all: Array<{ sid: number; pt?: { psmmu: string; psid: number } }>;
}

function devicesOf(n: VsmmuNode): Devices {
  return { all: [...n.spec.emulated.map((sid) => ({ sid })), ...n.spec.passthrough.map((d) => ({ sid: d.sid, pt: { psmmu: d.psmmu, psid: d.psid } }))] };
}

/** Submits and, like a driver that retries, acknowledges command errors until the queue drains. */
function submit(n: VsmmuNode, cmds: bigint[][]): void {
  try {
    n.driver.submit(cmds);
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
  }
  for (let i = 0; i < 64; i++) {
    const pending = (Number(n.smmu.mmioRead(R.R_GERROR, 4)) ^ Number(n.smmu.mmioRead(R.R_GERRORN, 4))) & 1;
    if (!pending) break;
    n.driver.ackErrors();
  }
  expect(Number(n.smmu.mmioRead(R.R_CMDQ_CONS, 4)) & 0x7ff).toBe(Number(n.smmu.mmioRead(R.R_CMDQ_PROD, 4)) & 0x7ff);
}

async function runProgram(topo: Topo, steps: Step[], withFailures: boolean): Promise<{ vm: Vm; received: Map<string, string[]> }> {
  const vm = await buildVm(specOf(topo));
  const domains = vm.vsmmus.map(() => new Map<number, Domain>());
  const mapped = vm.vsmmus.map(() => new Map<string, number>()); // `${asid}/${k}` -> pa
  const attached = vm.vsmmus.map(() => new Map<number, number>()); // sid -> asid
  const unplugged = vm.vsmmus.map(() => new Map<number, number>()); // psid -> received length at unplug, per pSMMU handle
  const dom = (v: number, asid: number) => {
    let d = domains[v].get(asid);
    if (!d) {
      d = vm.vsmmus[v].driver.createDomain({ asid });
      domains[v].set(asid, d);
    }
    return d;
  };
  for (const s of steps) {
    if (s.t === 'fail') {
      if (withFailures) vm.psmmus.get(`p${Math.min(s.p, topo.np - 1)}`)!.failAt(s.at);
      continue;
    }
    const v = Math.min(s.v, vm.vsmmus.length - 1);
    const n = vm.vsmmus[v];
    const devs = devicesOf(n).all;
    switch (s.t) {
      case 'attach': {
        const dev = devs[s.dev % devs.length];
        const d = dom(v, s.asid);
        n.driver.bus.writeMemory(n.driver.steAddr(dev.sid), new Uint8Array(64)); // driver writes the STE...
        try {
          n.driver.attach(dev.sid, d);
        } catch (e) {
          if (!(e instanceof CommandError)) throw e;
          submit(n, []);
        }
        attached[v].set(dev.sid, s.asid);
        break;
      }
      case 'map': {
        if (mapped[v].has(`${s.asid}/${s.k}`)) break;
        const pa = DATA + s.frame * 0x1000;
        n.driver.map(dom(v, s.asid), iovaOf(s.k), pa, 0x1000, { readOnly: s.ro, blocks: false });
        mapped[v].set(`${s.asid}/${s.k}`, pa);
        break;
      }
      case 'cycle': {
        if (!mapped[v].has(`${s.asid}/${s.k}`)) {
          const pa = DATA + s.frame * 0x1000;
          n.driver.map(dom(v, s.asid), iovaOf(s.k), pa, 0x1000, { blocks: false });
          mapped[v].set(`${s.asid}/${s.k}`, pa);
        }
        for (const dev of devs) {
          if (attached[v].get(dev.sid) !== s.asid) continue;
          if (dev.pt) {
            if (unplugged[v].has(dev.pt.psid)) continue;
            expect(vm.psmmus.get(dev.pt.psmmu)!.dma(dev.pt.psid, iovaOf(s.k)).pa).toBe(mapped[v].get(`${s.asid}/${s.k}`));
          } else {
            expect(n.smmu.translate(dev.sid, iovaOf(s.k)).addr).toBe(mapped[v].get(`${s.asid}/${s.k}`));
          }
        }
      }
      // falls through: unmap what was just used
      case 'unmap': {
        const d = dom(v, s.asid);
        const tlbi = n.driver.unmap(d, iovaOf(s.k), 0x1000);
        mapped[v].delete(`${s.asid}/${s.k}`);
        const inv = s.how === 'va' ? tlbi
          : s.how === 'asid' ? [cmdTlbiNhAsid(s.asid)]
          : s.how === 'all' ? [cmdTlbiNhAll()]
          : [cmdTlbiVa({ asid: s.asid, addr: iovaOf(s.k) & ~0x3fff, tg: 1, num: 3, scale: 0, ttl: 3 })];
        submit(n, [...inv, cmdSync()]);
        // after the CMD_SYNC: nothing the guest invalidated survives anywhere
        for (const [name, vmid] of n.vmids) expect(vm.psmmus.get(name)!.holds(vmid, s.asid, iovaOf(s.k))).toBe(false);
        for (const sid of n.spec.emulated) {
          if (attached[v].get(sid) === s.asid) expect(n.smmu.translate(sid, iovaOf(s.k)).status).not.toBe('success');
        }
        break;
      }
      case 'dma': {
        const dev = devs[s.dev % devs.length];
        const asid = attached[v].get(dev.sid);
        if (dev.pt) {
          if (unplugged[v].has(dev.pt.psid)) break; // the device is gone
          const r = vm.psmmus.get(dev.pt.psmmu)!.dma(dev.pt.psid, iovaOf(s.k), s.write ? 'write' : 'read');
          const want = asid === undefined ? undefined : mapped[v].get(`${asid}/${s.k}`);
          if (r.ok && asid !== undefined) expect(r.pa).toBe(want);
        } else {
          const r = n.smmu.translate(dev.sid, iovaOf(s.k), s.write ? 'write' : 'read');
          if (r.status === 'success') expect(r.addr).toBe(mapped[v].get(`${asid}/${s.k}`));
        }
        break;
      }
      case 'cmd': {
        const dev = devs[s.dev % devs.length];
        const cmds = [cmdTlbiNhAll(), cmdTlbiNsnhAll(), cmdCfgiAll(), cmdCfgiCd(dev.sid), cmdAtcInv(dev.sid), cmdTlbiVa({ addr: iovaOf(0) })];
        submit(n, [cmds[s.which], cmdSync()]);
        break;
      }
      case 'unplug': {
        const dev = devs[s.dev % devs.length];
        if (!dev.pt || !n.smmu.unbindDevice(dev.sid)) break;
        unplugged[v].set(dev.pt.psid, n.handles.get(dev.pt.psmmu)!.received.length);
        break;
      }
    }
  }
  const received = new Map<string, string[]>();
  vm.vsmmus.forEach((n, v) => {
    const own = new Map<string, Set<number>>();
    for (const name of n.handles.keys()) own.set(name, new Set());
    for (const d of specOf(topo).vsmmus[v].passthrough) own.get(d.psmmu)!.add(d.psid);
    for (const [name, h] of n.handles) {
      received.set(`${v}/${name}`, h.received);
      h.received.forEach((e, i) => {
        const bytes = Buffer.from(e.slice(e.lastIndexOf(':') + 1), 'hex');
        const w0 = bytes.readBigUInt64LE(0);
        const op = Number(w0 & 0xffn);
        let psid: number | undefined;
        if (e.startsWith('ste:')) psid = parseInt(e.split(':')[1], 16);
        else if (op === C.CMD_CFGI_CD || op === C.CMD_CFGI_CD_ALL || op === C.CMD_ATC_INV) psid = Number(w0 >> 32n);
        else expect(Number((w0 >> 32n) & 0xffffn)).toBe(h.vmid); // TLBI_NH_*: this vIOMMU's VMID
        if (psid !== undefined) {
          expect(own.get(name)!.has(psid)).toBe(true); // a passthrough device of this vSMMU on this backend
          const cut = unplugged[v].get(psid);
          if (cut !== undefined) expect(i).toBeLessThan(cut); // nothing after hot-unplug
        }
      });
    }
  });
  return { vm, received };
}

/** `want` is a subsequence of `got`, and whatever else `got` holds repeats an entry of `want`. */
function sameCommandsMaybeRepeated(got: string[], want: string[]): void {
  let j = 0;
  for (const g of got) if (j < want.length && g === want[j]) j++;
  expect(j).toBe(want.length);
  const known = new Set(want);
  for (const g of got) expect(known.has(g)).toBe(true);
}

test('random guest programs over random topologies keep the dispatcher invariants', async () => {
  await fc.assert(
    fc.asyncProperty(arbTopology, fc.array(arbStep, { minLength: 1, maxLength: 30 }), async (topo, steps) => {
      const clean = await runProgram(topo, steps, false);
      if (!steps.some((s) => s.t === 'fail')) return;
      const failing = await runProgram(topo, steps, true);
      for (const [k, want] of clean.received) sameCommandsMaybeRepeated(failing.received.get(k)!, want);
    }),
    { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 60) },
  );
});
