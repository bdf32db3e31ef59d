// The IOTLB when it is crowded: ASIDs with more entries than the short per-ASID lists the
// engine scans (so lookups and exact-key invalidations go through its hash), entries of
// several ASIDs interleaved in the dense array (so every removal moves another ASID's
// entry), and the flush at 256 entries. Every step is checked against a plain model of
// the cache (a map of keys), and every entry left is looked up again through a
// translation: an IOTLB hit returns the entry's own output address, which no page table
// maps (a miss would walk and fault).

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { engineDebug } from '../src/engine-debug.js';
import { cmdSync, cmdTlbiNhAsid, cmdTlbiVa } from '../src/guest/encode.js';

/** Output addresses of the entries (never mapped by a page table). */
const TA = BigInt(RAM_BASE + 0x800000);

/** Deterministic xorshift32 stream (the tests' orders and addresses). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function shuffle<T>(a: T[], r: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = r() % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** An entry of the 4 KiB granule: a page (level 3) or a block (level 1 or 2). */
interface Entry { asid: number; sid: number; iova: number; ta: bigint; level?: number }

const key = (asid: number, iova: number | bigint, level = 3): string => `${asid}/${BigInt(iova).toString(16)}/${level}`;

/** Size mask of a level's page or block with the 4 KiB granule. */
const maskOf = (level = 3): bigint => (1n << BigInt(12 + 9 * (3 - level))) - 1n;

/** Inserts `e` as a walk would. */
function insert(m: Machine, e: Entry): void {
  engineDebug(m.smmu).iotlbInsert({ asid: e.asid, vmid: -1, iova: BigInt(e.iova), tg: 1, level: e.level ?? 3, ta: e.ta, mask: maskOf(e.level), perm: 3 });
}

/** The engine's entries equal the model's, and each is found by a translation (a hit, with its own output address). */
function expectCache(m: Machine, model: Map<string, Entry>): void {
  expect(engineDebug(m.smmu).iotlb().map((t) => key(t.asid, t.iova, t.level)).sort()).toEqual([...model.keys()].sort());
  const s0 = m.smmu.stats();
  const wrong: string[] = [];
  for (const e of model.values()) {
    const r = m.smmu.translate(e.sid, e.iova + 0x18);
    if (r.status !== 'success' || r.addr !== Number(e.ta) + 0x18) wrong.push(`${key(e.asid, e.iova, e.level)}: ${r.status} ${r.addr.toString(16)}`);
  }
  expect(wrong).toEqual([]);
  expect(m.smmu.stats().iotlbMisses).toBe(s0.iotlbMisses);
}

/** A machine with ASID a attached to StreamID sids[i] (empty page tables). */
async function withAsids(asids: number[], sids: number[]): Promise<Machine> {
  const m = await machine({ devices: sids });
  asids.forEach((asid, i) => m.driver.attach(sids[i], m.driver.createDomain({ asid })));
  return m;
}

test('one crowded ASID: after each single-page invalidation every other entry is found, the invalidated one is not', async () => {
  const m = await withAsids([3], [0x18]);
  const r = rng(2026);
  const model = new Map<string, Entry>();
  while (model.size < 240) {
    const iova = (r() & 0xfffff) * 0x1000;
    if (!model.has(key(3, iova))) model.set(key(3, iova), { asid: 3, sid: 0x18, iova, ta: TA + BigInt(model.size) * 0x1000n });
  }
  for (const e of model.values()) insert(m, e);
  expectCache(m, model);
  shuffle([...model.values()], r).forEach((e, k) => {
    // alternately the exact key (TTL = 3: QEMU's first try) and a search for the page
    m.driver.submit([cmdTlbiVa({ asid: 3, addr: e.iova, leaf: true, ...(k % 2 === 0 ? { ttl: 3, tg: 1 } : {}) }), cmdSync()]);
    model.delete(key(3, e.iova));
    if (k % 8 === 0 || model.size < 12) expectCache(m, model);
    expect(m.smmu.translate(0x18, e.iova).status).toBe('fault');
  });
  expect(m.smmu.stats().iotlbEntries).toBe(0);
});

test('three ASIDs interleaved, pages and blocks: range, block and ASID invalidations remove exactly their entries, the others stay reachable', async () => {
  const asids = [1, 2, 0x4321];
  const sids = [0x18, 0x20, 0x28];
  const m = await withAsids(asids, sids);
  const r = rng(7);
  const model = new Map<string, Entry>();
  const fill = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const i = k % 3;
      const kind = r() % 4;
      // level 3: 4 KiB pages in a 2 MiB window (ranges meet several); level 2: 2 MiB blocks from 1 GiB; level 1: 1 GiB blocks from 2 GiB
      const level = kind < 2 ? 3 : kind === 2 ? 2 : 1;
      const size = level === 3 ? 0x1000 : level === 2 ? 0x200000 : 0x40000000;
      const iova = level === 3 ? 0x100000 + (r() % 512) * size : level === 2 ? 0x40000000 + (r() % 32) * size : (2 + (r() % 8)) * size;
      const e = { asid: asids[i], sid: sids[i], iova, level, ta: TA + BigInt(r() & 0xffff) * BigInt(size) };
      model.set(key(e.asid, iova, level), e);
      insert(m, e);
    }
  };
  fill(90);
  expectCache(m, model);
  for (let step = 0; step < 60; step++) {
    const i = r() % 3;
    const asid = asids[i];
    if (step % 20 === 19) {
      m.driver.submit([cmdTlbiNhAsid(asid), cmdSync()]);
      for (const [k, e] of model) if (e.asid === asid) model.delete(k);
      fill(30);
    } else if (step % 3 === 2) {
      // one page inside a block of that ASID (or where one was): the block containing it goes
      const level = 1 + (r() % 2);
      const size = level === 2 ? 0x200000 : 0x40000000;
      const addr = (level === 2 ? 0x40000000 + (r() % 32) * size : (2 + (r() % 8)) * size) + (r() % 512) * 0x1000;
      m.driver.submit([cmdTlbiVa({ asid, addr, leaf: true }), cmdSync()]);
      for (const [k, e] of model) if (e.asid === asid && e.level === level && addr >= e.iova && addr < e.iova + size) model.delete(k);
    } else {
      // TLBI_NH_VA of (NUM + 1) << SCALE pages (range invalidation, 4 KiB granule)
      const num = r() % 8, scale = r() % 3;
      const pages = (num + 1) << scale;
      const addr = 0x100000 + (r() % 512) * 0x1000;
      m.driver.submit([cmdTlbiVa({ asid, addr, tg: 1, num, scale, leaf: true }), cmdSync()]);
      for (const [k, e] of model) if (e.asid === asid && e.level === 3 && e.iova >= addr && e.iova < addr + pages * 0x1000) model.delete(k);
    }
    expectCache(m, model);
  }
});

test('two entries per level, removed one by one in every order of levels: the entries left are still found', async () => {
  const orders = [[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1]];
  for (const order of orders) {
    const m = await withAsids([4], [0x18]);
    const at = (level: number, k: number): Entry => ({ asid: 4, sid: 0x18, level, iova: (2 * level + k) * 0x40000000, ta: TA + BigInt(2 * level + k) * 0x40000000n });
    const all = [0, 1].flatMap((k) => [1, 2, 3].map((l) => at(l, k)));
    const model = new Map(all.map((e) => [key(4, e.iova, e.level), e]));
    for (const e of all) insert(m, e);
    for (const k of [0, 1]) {
      for (const level of order) {
        m.driver.submit([cmdTlbiVa({ asid: 4, addr: at(level, k).iova, leaf: true }), cmdSync()]);
        model.delete(key(4, at(level, k).iova, level));
        expectCache(m, model);
      }
    }
    for (const e of all) insert(m, e); // and again, from empty
    expectCache(m, new Map(all.map((e) => [key(4, e.iova, e.level), e])));
  }
});

test('the 257th entry flushes the IOTLB (QEMU smmu_iotlb_insert), and the hash works from empty again', async () => {
  const m = await withAsids([9], [0x18]);
  const model = new Map<string, Entry>();
  for (let k = 0; k < 256; k++) {
    const e = { asid: 9, sid: 0x18, iova: k * 0x3000, ta: TA + BigInt(k) * 0x1000n };
    model.set(key(9, e.iova), e);
    insert(m, e);
  }
  expectCache(m, model);
  const flushes = m.smmu.stats().iotlbFullFlushes;
  const last = { asid: 9, sid: 0x18, iova: 0x7000000, ta: TA };
  insert(m, last);
  expect(m.smmu.stats().iotlbFullFlushes).toBe(flushes + 1);
  expectCache(m, new Map([[key(9, last.iova), last]]));
  expect(m.smmu.translate(0x18, 0x3000).status).toBe('fault');
});
