// Invariants of the topology explorer, through the public API: what each topology may
// and may not send to the pSMMUs, and the costs the README's answer rests on.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { encode, commandName } from '../src/index.js';
import { TopologyRun, DEFAULT_WORKLOAD, TOPOLOGIES, rangeTlbi, checkWorkload, type TopologyName, type Workload, type TopologyMetrics } from '../src/explorer.js';
import { LiveSeries, cmdqView, eventqView, vdevTable, vasidTable, topologySvg } from '../src/views.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OP_TLBI = new Set([0x10, 0x11, 0x12, 0x13]);

async function runFor(name: TopologyName, w: Partial<Workload> = {}, steps = 24): Promise<TopologyRun> {
  const run = await TopologyRun.create(name, { ...DEFAULT_WORKLOAD, ...w });
  for (let i = 0; i < steps; i++) run.step();
  return run;
}

const total = (m: TopologyMetrics) => Object.values(m.forwarded).reduce((a, b) => a + b, 0);

/** Invalidation entries a vIOMMU handle received, decoded: opcode, ASID, VMID. */
function received(run: TopologyRun, vsmmu: number, psmmu: string): Array<{ op: number; asid: number; vmid: number }> {
  const h = run.vm.vsmmus[vsmmu].handles.get(psmmu);
  if (!h) return [];
  return h.received.filter((r) => r.startsWith('inv:')).map((r) => {
    const w = encode.bytesToWords(Uint8Array.from(r.slice(4).match(/../g)!.map((x) => parseInt(x, 16))));
    return { op: Number(w[0] & 0xffn), vmid: Number((w[0] >> 32n) & 0xffffn), asid: Number((w[0] >> 48n) & 0xffffn) };
  });
}

/** Walks a 4 KiB, 4-level io-pgtable-arm table in guest memory: the page's PA or null. */
function walk(run: TopologyRun, root: number, va: number): number | null {
  const smmu = run.vm.vsmmus[0].smmu;
  let table = root;
  for (let level = 0; level <= 3; level++) {
    const idx = Math.floor(va / 2 ** (12 + (3 - level) * 9)) % 512;
    const pte = encode.bytesToWords(smmu.readMemory(table + idx * 8, 8))[0];
    if ((pte & 1n) === 0n) return null;
    table = Number(pte & 0x0000fffffffff000n);
  }
  return table;
}

describe('join: one vSMMU over several pSMMUs', () => {
  const workloads: Array<Partial<Workload>> = [
    {},
    { mode: 'lazy', lazyBatch: 4 },
    { mode: 'range' },
    { passthroughShare: 1, asidsPerDevice: 3 },
    { passthroughShare: 0.25, joinPsmmus: 3 },
  ];
  test.each(workloads.map((w) => [JSON.stringify(w), w]))('with the vASID table forwards fewer TLBIs than broadcasting (%s)', async (_, w) => {
    const v = (await runFor('join-vasid', w)).metrics();
    const b = (await runFor('join-broadcast', w)).metrics();
    expect(v.commands).toBe(b.commands); // the same guest work
    expect(v.targeted_tlbi).toBeGreaterThan(0);
    expect(b.targeted_tlbi).toBe(0);
    expect(v.broadcast_tlbi).toBeLessThan(b.broadcast_tlbi);
    expect(total(v)).toBeLessThan(total(b));
    for (const p of Object.keys(b.forwarded)) expect(v.forwarded[p]).toBeLessThanOrEqual(b.forwarded[p]);
    expect(v.sync_latency_us).toBeLessThan(b.sync_latency_us);
  });

  test('broadcasting sends every TLBI to every pSMMU, each with its own VMID', async () => {
    const run = await runFor('join-broadcast', {}, 12);
    const m = run.metrics();
    const node = run.vm.vsmmus[0];
    for (const p of run.vm.psmmus.keys()) {
      const tlbis = received(run, 0, p).filter((e) => OP_TLBI.has(e.op));
      expect(tlbis.length).toBe(m.broadcast_tlbi);
      expect(new Set(tlbis.map((e) => e.vmid))).toEqual(new Set([node.vmids.get(p)]));
    }
    expect(new Set(node.vmids.values()).size).toBe(run.vm.psmmus.size);
  });

  test('with the vASID table a passthrough ASID reaches only the pSMMU of its device', async () => {
    const run = await runFor('join-vasid', { passthroughShare: 0.75, asidsPerDevice: 2 }, 12);
    const devs = run.devices();
    const owner = new Map<number, string | undefined>();
    for (const d of devs) for (const a of d.asids) owner.set(a, d.psmmu);
    let targeted = 0;
    for (const p of run.vm.psmmus.keys()) {
      for (const e of received(run, 0, p).filter((x) => OP_TLBI.has(x.op))) {
        const o = owner.get(e.asid);
        if (o !== undefined) {
          expect(o).toBe(p);
          targeted++;
        }
      }
    }
    expect(targeted).toBe(run.metrics().targeted_tlbi);
    const table = vasidTable(run);
    for (const r of table) expect(r.holders).toEqual(r.passthrough ? [owner.get(r.asid)] : []);
  });

  test('with the vASID table a passthrough TLBI costs what it costs with one vSMMU per pSMMU; only emulated ASIDs are copied', async () => {
    const w = { joinPsmmus: 3, passthroughShare: 0.5, devices: 9 };
    const join = await runFor('join-vasid', w, 16);
    const per = await runFor('per-psmmu', w, 16);
    // ASIDs are numbered per run; classify each run's own
    const count = (run: TopologyRun, passthrough: boolean) => {
      const set = new Set(run.devices().filter((d) => (d.psmmu !== undefined) === passthrough).flatMap((d) => d.asids));
      return Object.fromEntries([...run.vm.psmmus.keys()].map((p) => [p,
        run.vm.vsmmus.reduce((a, _, i) => a + received(run, i, p).filter((e) => OP_TLBI.has(e.op) && set.has(e.asid)).length, 0)]));
    };
    expect(count(join, true)).toEqual(count(per, true));
    expect(Object.values(count(join, true)).every((n) => n > 0)).toBe(true);
    const emuPer = Object.values(count(per, false)).reduce((a, b) => a + b, 0);
    const emuJoin = Object.values(count(join, false)).reduce((a, b) => a + b, 0);
    expect(emuPer).toBeGreaterThan(0);
    expect(emuJoin).toBe(emuPer * 3); // each emulated TLBI goes to all three pSMMUs instead of one
    // one vSMMU per pSMMU never sends a command to a pSMMU it does not sit on
    for (const [i, n] of per.vm.vsmmus.entries()) expect([...n.handles.keys()]).toEqual([`p${i}`]);
  });

  test('without the vASID table nothing is learned', async () => {
    const run = await runFor('join-broadcast', {}, 4);
    expect(vasidTable(run).every((r) => r.holders.length === 0 && r.sentTo.length === run.vm.psmmus.size)).toBe(true);
  });
});

describe('split: one pSMMU under two vSMMUs', () => {
  test('the vSMMUs never see each other\u2019s VMIDs, StreamIDs or events', async () => {
    const run = await runFor('split', { faultRate: 0.02, passthroughShare: 0.75 }, 16);
    const p0 = run.vm.psmmus.get('p0')!;
    const [a, b] = run.vm.vsmmus;
    const va = a.vmids.get('p0')!, vb = b.vmids.get('p0')!;
    expect(va).not.toBe(vb);
    const tlbiVmids = (i: number) => new Set(received(run, i, 'p0').filter((e) => OP_TLBI.has(e.op)).map((e) => e.vmid));
    expect(tlbiVmids(0)).toEqual(new Set([va]));
    expect(tlbiVmids(1)).toEqual(new Set([vb]));
    expect([...p0.vmidsSeen].sort()).toEqual([va, vb].sort());
    // every STE on the pSMMU carries the VMID of the vSMMU that owns the device
    for (const d of run.devices().filter((x) => x.psid !== undefined)) {
      expect(p0.stes.get(d.psid!)!.vmid).toBe(run.vm.vsmmus[d.vsmmu].vmids.get('p0'));
    }
    // IOTLB entries of a vSMMU's ASIDs are tagged with its VMID only
    const vmidOfAsid = new Map<number, number>();
    for (const d of run.devices()) for (const x of d.asids) vmidOfAsid.set(x, run.vm.vsmmus[d.vsmmu].vmids.get('p0') ?? -1);
    const cached = p0.entries();
    expect(cached.length).toBeGreaterThan(0);
    for (const e of cached) expect(e.vmid).toBe(vmidOfAsid.get(e.asid));
    // events: each record reaches only the vSMMU owning the (v)SID
    const sids = run.vm.vsmmus.map((n) => new Set([...n.spec.emulated, ...n.spec.passthrough.map((d) => d.sid)]));
    expect(run.eventLog.length).toBeGreaterThan(0);
    for (const e of run.eventLog) expect(sids[e.vsmmu === a.spec.name ? 0 : 1].has(e.sid)).toBe(true);
    expect(a.smmu.foreignEvents + b.smmu.foreignEvents).toBeGreaterThan(0); // the other vSMMU's records were offered and refused
  });

  test('costs walk-cache hits (one stage-2 copy per VMID) but no extra invalidation', async () => {
    const one = (await runFor('one-to-one', {}, 40)).metrics();
    const split = (await runFor('split', {}, 40)).metrics();
    expect(split.commands).toBe(one.commands + 2); // the second vSMMU's CFGI_ALL + CMD_SYNC at probe
    expect(total(split)).toBe(total(one));
    expect(split.s2_hit_rate).toBeLessThan(one.s2_hit_rate);
    expect(split.walk_reads).toBeGreaterThan(one.walk_reads);
  });
});

describe('dedicated passthrough vSMMU vs mixed', () => {
  test('emulated devices\u2019 TLBIs never reach a pSMMU when passthrough devices have their own vSMMU', async () => {
    const mixed = await runFor('one-to-one', {}, 16);
    const ded = await runFor('dedicated', {}, 16);
    const emuAsids = new Set(ded.devices().filter((d) => d.psmmu === undefined).flatMap((d) => d.asids));
    expect(emuAsids.size).toBeGreaterThan(0);
    for (const e of received(ded, 0, 'p0')) expect(emuAsids.has(e.asid) && OP_TLBI.has(e.op)).toBe(false);
    const mixedEmu = received(mixed, 0, 'p0').filter((e) => OP_TLBI.has(e.op) && emuAsids.has(e.asid));
    expect(mixedEmu.length).toBeGreaterThan(0); // a mixed vSMMU cannot tell, and forwards them
    const md = ded.metrics(), mm = mixed.metrics();
    expect(md.broadcast_tlbi).toBe(0);
    expect(md.forwarded.p0).toBeLessThan(mm.forwarded.p0);
    expect(ded.vm.vsmmus[0].smmu.stats().iotlbEntries).toBe(0); // passthrough only: no emulated caches
  });
});

describe('dedicated passthrough vSMMU joined over several pSMMUs', () => {
  test('targets every TLBI: each pSMMU gets what per-pSMMU vSMMUs would send it, nothing more', async () => {
    const w = { joinPsmmus: 3, passthroughShare: 0.75 };
    const dj = await runFor('dedicated-join', w, 16);
    const m = dj.metrics();
    expect(m.broadcast_tlbi).toBe(0);
    expect(m.targeted_tlbi).toBeGreaterThan(0);
    const owner = new Map<number, string | undefined>();
    for (const d of dj.devices()) for (const a of d.asids) owner.set(a, d.psmmu);
    let tlbis = 0;
    for (const p of dj.vm.psmmus.keys()) {
      for (const e of received(dj, 0, p).filter((x) => OP_TLBI.has(x.op))) {
        expect(owner.get(e.asid)).toBe(p);
        tlbis++;
      }
    }
    expect(tlbis).toBe(m.targeted_tlbi); // one entry per guest TLBI: no copies
    const jv = (await runFor('join-vasid', w, 16)).metrics();
    expect(total(m)).toBeLessThan(total(jv));
    expect(m.sync_latency_us).toBeLessThan(jv.sync_latency_us);
  });
});

describe('invalidation modes', () => {
  test('strict leaves no stale pSMMU IOTLB entry and drops nothing still mapped; lazy trades staleness for fewer commands', async () => {
    const strict = await runFor('one-to-one', {}, 20);
    const lazy = await runFor('one-to-one', { mode: 'lazy', lazyBatch: 6 }, 20);
    const stale = (run: TopologyRun) => {
      const root = new Map<number, number>();
      for (const d of run.devices()) for (const dom of d.domains) root.set(dom.asid, dom.root);
      return run.vm.psmmus.get('p0')!.entries().filter((e) => walk(run, root.get(e.asid)!, e.va) !== e.pa).length;
    };
    expect(strict.metrics().over_invalidation).toBe(0);
    expect(stale(strict)).toBe(0);
    expect(lazy.metrics().over_invalidation).toBeGreaterThan(0);
    expect(stale(lazy)).toBeGreaterThan(0);
    expect(lazy.metrics().commands).toBeLessThan(strict.metrics().commands);
  });

  test('range TLBIs cover exactly the pages asked for (NUM/SCALE as arm_smmu_tlb_inv_range_cmd)', () => {
    for (let pages = 1; pages <= 300; pages++) {
      const cmds = rangeTlbi(5, 0x10000000, pages);
      let next = 0x10000000, covered = 0;
      for (const c of cmds) {
        expect(Number((c[0] >> 48n) & 0xffffn)).toBe(5);
        expect(Number((c[1] >> 12n) << 12n)).toBe(next);
        const num = Number((c[0] >> 12n) & 31n), scale = Number((c[0] >> 20n) & 31n);
        const n = (num + 1) * 2 ** scale;
        covered += n;
        next += n * 0x1000;
      }
      expect(covered).toBe(pages);
    }
    expect(rangeTlbi(1, 0, 8)).toHaveLength(1);
  });
});

describe('the explorer', () => {
  test('is deterministic for a seed and runs the same guest work on every topology', async () => {
    const a = (await runFor('join-vasid', { seed: 7 }, 10)).metrics();
    const b = (await runFor('join-vasid', { seed: 7 }, 10)).metrics();
    const c = (await runFor('join-vasid', { seed: 8 }, 10)).metrics();
    expect(b).toEqual(a);
    expect(c.iotlb_hit_rate === a.iotlb_hit_rate && c.walk_reads === a.walk_reads).toBe(false);
    const cmds: Record<string, number> = {};
    for (const t of TOPOLOGIES) cmds[t.name] = (await runFor(t.name, { mode: 'lazy', lazyBatch: 3 }, 10)).metrics().commands;
    const vsmmus: Record<string, number> = { 'one-to-one': 1, 'join-vasid': 1, 'join-broadcast': 1, split: 2, dedicated: 2, 'per-psmmu': 2, 'dedicated-join': 2 };
    for (const t of TOPOLOGIES) expect(cmds[t.name] - 2 * vsmmus[t.name]).toBe(cmds['one-to-one'] - 2);
  });

  test('rejects workloads out of range', () => {
    expect(() => checkWorkload({ ...DEFAULT_WORKLOAD, devices: 0 })).toThrow(/devices/);
    expect(() => checkWorkload({ ...DEFAULT_WORKLOAD, passthroughShare: 1.5 })).toThrow(/passthroughShare/);
    expect(() => checkWorkload({ ...DEFAULT_WORKLOAD, mode: 'eager' as Workload['mode'] })).toThrow(/mode/);
    expect(checkWorkload({ ...DEFAULT_WORKLOAD })).toBeTruthy();
  });

  test('live series, ring and tables follow the run', async () => {
    const run = await TopologyRun.create('join-vasid', { ...DEFAULT_WORKLOAD, faultRate: 0.05 });
    const live = new LiveSeries(run, 8);
    expect(live.sample(0)).toBe(false);
    for (let i = 0; i < 3; i++) run.step();
    expect(live.sample(500)).toBe(true);
    const charts = Object.fromEntries(live.charts().map((c) => [c.id, c]));
    const last = (id: string, k: number) => charts[id].series[k].values.at(-1)!;
    expect(last('psmmu-rate', 0)).toBeGreaterThan(0); // guest commands/s
    expect(charts['psmmu-rate'].series.map((s) => s.name)).toEqual(['guest CMDQ', 'pSMMU p0', 'pSMMU p1']);
    expect(last('tlbi', 0)).toBeGreaterThan(0);
    expect(last('tlbi', 1)).toBeGreaterThan(0);
    expect(last('events', 0)).toBeGreaterThan(0);
    const q = cmdqView(run, 0, 6);
    expect(q.pending).toBe(0);
    expect(q.slots.at(-1)!.prod && q.slots.at(-1)!.cons).toBe(true);
    expect(q.slots.at(-2)!.name).toBe(commandName(0x46).replace('SMMU_CMD_', ''));
    expect(q.slots.some((s) => s.name === 'TLBI_NH_VA' && /ASID=\d+ VMID=0 addr=0x1/.test(s.fields))).toBe(true);
    const ev = eventqView(run, 0);
    expect(ev.records.length).toBeGreaterThan(0);
    expect(ev.records[0].name).toBe('F_TRANSLATION');
    expect(ev.prod).toBe(ev.cons); // the guest consumed them
    expect(vdevTable(run).map((r) => r.psmmu)).toEqual(['p0', 'p1', 'p0', 'p1']);
  });
});

describe('vsmmu topo', () => {
  test('--json prints the metrics of every topology; --svg writes the chart', async () => {
    const out = await promisify(execFile)('node', ['dist/src/cli.js', 'topo', '--json', '--steps', '5', '--svg', '/dev/null'], { cwd: ROOT });
    const j = JSON.parse(out.stdout) as { topologies: TopologyMetrics[] };
    expect(j.topologies.map((t) => t.name)).toEqual(TOPOLOGIES.map((t) => t.name));
    for (const t of j.topologies) {
      for (const k of ['name', 'commands', 'forwarded', 'broadcast_tlbi', 'targeted_tlbi', 'over_invalidation', 'iotlb_hit_rate', 'sync_latency_us']) {
        expect(t).toHaveProperty(k);
      }
      expect(Object.keys(t.forwarded).length).toBeGreaterThan(0);
    }
    const svg = topologySvg(j.topologies, DEFAULT_WORKLOAD, 5);
    expect(svg.match(/<rect class="bar"/g)!.length).toBe(8 * TOPOLOGIES.length);
  });
});
