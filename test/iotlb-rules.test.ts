// QEMU's IOTLB invalidation rules at their edges, each on an ASID with a few entries (the
// short per-ASID list the engine scans) and on a crowded one (more than the list's length:
// the exact key through the hash):
// - smmu_iotlb_inv_iova with TTL and one page tries the exact key (ASID, VMID, IOVA, TG,
//   level = TTL) first, and when that entry exists removes it alone; otherwise every entry
//   that contains the address or lies inside the range goes;
// - a range meets an entry exactly at its first or last page, and misses it one page off;
// - TLBI_NH_VAA: QEMU also removes stage-2 entries (no ASID), the architecture (IHI 0070
//   4.4.4, profile 'arch') only stage-1 ones;
// - the debug hook stores the low 16 bits of an ASID or VMID beyond 16 bits.

import { createSmmu, type Smmu } from '../src/index.js';
import { engineExports } from '../src/engine-debug.js';
import { engineIotlb } from '../src/reference/from-engine.js';
import * as A from '../src/arch/abi.js';
import * as R from '../src/arch/registers.js';
import { cmdSync, cmdTlbiVa, cmdTlbiNhAsid, cmdTlbiS2Ipa, wordsToBytes, type Words } from '../src/guest/encode.js';
import type { Profile, Stage } from '../src/types.js';

const RAM = 0x40000000;
const CMDQ = RAM + 0x1000;

interface Key { asid: number; vmid: number; iova: bigint; tg: number; level: number }

class Tlb {
  private prod = 0;
  private stamp = 0;
  constructor(readonly smmu: Smmu) {
    smmu.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(CMDQ) | 4n);
    smmu.mmioWrite(R.R_CR0, 4, 8);
  }

  static async make(profile: Profile = 'qemu-10.0', stage: Stage = 'nested'): Promise<Tlb> {
    return new Tlb(await createSmmu({ profile, stage, ram: [{ base: RAM, size: 0x10000 }] }));
  }

  /** Inserts an entry of the size its TG and level map (the IOVA aligned to it). */
  insert(k: Key): void {
    const g = k.tg * 2 + 10;
    const mask = (1n << BigInt(g + (3 - k.level) * (g - 3))) - 1n;
    engineExports(this.smmu).debug_iotlb_insert_key(k.asid, k.vmid, k.iova, k.tg, k.level, 0x80000000n + BigInt(++this.stamp) * 0x1000n, mask, 3);
  }

  run(...cmds: Words[]): void {
    for (const w of [...cmds, cmdSync()]) {
      this.smmu.writeMemory(CMDQ + (this.prod & 15) * 16, wordsToBytes(w));
      this.prod = (this.prod + 1) & 31;
    }
    this.smmu.mmioWrite(R.R_CMDQ_PROD, 4, this.prod);
    expect(Number(this.smmu.mmioRead(R.R_CMDQ_CONS, 4))).toBe(this.prod);
  }

  /** The keys cached, as `asid/vmid/iova/tg/level` (hex IOVA; KEY_NONE as -1). */
  keys(): string[] {
    return engineIotlb(engineExports(this.smmu)).map((e) => name(e)).sort();
  }
}

const name = (k: Key): string => `${k.asid}/${k.vmid}/${k.iova.toString(16)}/${k.tg}/${k.level}`;
const named = (ks: Key[]): string[] => ks.map((k) => name({ ...k, asid: k.asid === A.KEY_NONE ? -1 : k.asid, vmid: k.vmid === A.KEY_NONE ? -1 : k.vmid })).sort();

/** Unrelated entries of `asid` far above the addresses the tests use (to crowd its list past the short scan). */
function crowd(t: Tlb, asid: number, vmid: number, n: number): Key[] {
  const out: Key[] = [];
  for (let i = 0; i < n; i++) {
    const k = { asid, vmid, iova: 0x7000000000n + BigInt(i) * 0x1000n, tg: 1, level: 3 };
    t.insert(k);
    out.push(k);
  }
  return out;
}

const X = 0x40203000n; // a 4 KiB page inside the 2 MiB block at 0x40200000 and the 1 GiB block at 0x40000000

describe.each([0, 20])('ASID with %i more entries', (extra) => {
  test('TLBI_NH_VA with TTL, one page: the exact key goes alone; entries differing in one key field, and blocks containing it, stay', async () => {
    const t = await Tlb.make();
    const exact: Key = { asid: 7, vmid: 5, iova: X, tg: 1, level: 3 };
    const others: Key[] = [
      { ...exact, vmid: 4 }, // another VMID
      { ...exact, tg: 2, iova: X & ~0x3fffn }, // the 16K page containing it
      { ...exact, level: 2, iova: 0x40200000n }, // the 2 MiB block containing it
      { ...exact, level: 1, iova: 0x40000000n }, // the 1 GiB block containing it
      { ...exact, asid: 8 }, // another ASID
      { ...exact, asid: A.KEY_NONE }, // a stage-2 entry for that IPA
      { ...exact, iova: X + 0x1000n }, // the next page
    ];
    const pad = crowd(t, 7, 5, extra);
    for (const k of [...others, exact]) t.insert(k);
    t.run(cmdTlbiVa({ asid: 7, vmid: 5, addr: X, tg: 1, ttl: 3, leaf: true }));
    expect(t.keys()).toEqual(named([...others, ...pad]));
    // no entry with that exact key now: the page and every block of (ASID 7, VMID 5) containing it go
    t.run(cmdTlbiVa({ asid: 7, vmid: 5, addr: X, tg: 1, ttl: 3, leaf: true }));
    expect(t.keys()).toEqual(named([...others.filter((k) => k.asid !== 7 || k.vmid !== 5 || k.iova === X + 0x1000n), ...pad]));
  });

  test('TTL naming another level than the entry\'s: no exact key, so the search by address removes it (and the blocks around it)', async () => {
    const t = await Tlb.make();
    const page: Key = { asid: 7, vmid: 5, iova: X, tg: 1, level: 3 };
    const block: Key = { ...page, level: 2, iova: 0x40200000n };
    const far: Key = { ...page, iova: 0x50000000n };
    const pad = crowd(t, 7, 5, extra);
    for (const k of [page, block, far]) t.insert(k);
    t.run(cmdTlbiVa({ asid: 7, vmid: 5, addr: X, tg: 1, ttl: 1, leaf: true }));
    expect(t.keys()).toEqual(named([far, ...pad]));
  });

  test('a range meets an entry at its first and at its last page, and misses it one page either side', async () => {
    for (const level of [3, 2]) {
      const size = level === 3 ? 0x1000n : 0x200000n;
      const e: Key = { asid: 3, vmid: 1, iova: 0x40000000n + 4n * size, tg: 1, level };
      // [addr, pages]: aligned ranges (NUM + 1 = a power of two) ending at the entry's first page, starting at its last, or just beside it
      const cases: Array<[bigint, number, boolean]> = [
        [e.iova - 0x7000n, 8, true], // last page of the range = first page of the entry
        [e.iova - 0x8000n, 8, false], // ends one page before
        [e.iova + size - 0x1000n, 1, true], // the entry's last page
        [e.iova + size, 4, false], // starts one page after
      ];
      for (const [addr, pages, hit] of cases) {
        const t = await Tlb.make();
        const pad = crowd(t, 3, 1, extra);
        t.insert(e);
        t.run(cmdTlbiVa({ asid: 3, vmid: 1, addr, tg: 1, num: pages - 1, leaf: true }));
        expect([level, addr.toString(16), t.keys()]).toEqual([level, addr.toString(16), named(hit ? pad : [e, ...pad])]);
      }
    }
  });

  test('a 16K range at a 4K-aligned address: pieces smaller than the granule (QEMU: 0 pages, mask all ones) remove the entries containing their start', async () => {
    // QEMU smmuv3_range_inval: [0x41000, 0x44fff] in pieces 0x41000 (4K), 0x42000 (8K), 0x44000 (4K), each
    // num_pages = size >> 14 = 0, so smmu_iotlb_inv_iova's mask is ~0: only entries containing a piece's start match
    const t = await Tlb.make();
    const pad = crowd(t, 3, 1, extra);
    const at = (a: bigint): Key => ({ asid: 3, vmid: 1, iova: a, tg: 1, level: 3 });
    for (const a of [0x41000n, 0x42000n, 0x43000n, 0x44000n, 0x45000n]) t.insert(at(a)); // the lowest at the first piece's start
    t.run(cmdTlbiVa({ asid: 3, vmid: 1, addr: 0x41000n, tg: 2, leaf: true }));
    expect(t.keys()).toEqual(named([at(0x43000n), at(0x45000n), ...pad]));
  });

  test('TLBI_S2_IPA with TTL, one page: the stage-2 entry with the exact key goes alone; without it, the blocks containing the IPA', async () => {
    const t = await Tlb.make();
    const exact: Key = { asid: A.KEY_NONE, vmid: 5, iova: X, tg: 1, level: 3 };
    const others: Key[] = [
      { ...exact, vmid: 4 },
      { ...exact, level: 2, iova: 0x40200000n },
      { ...exact, asid: 7 }, // stage 1 (or nested): not touched by TLBI_S2_IPA
      { ...exact, iova: X + 0x1000n },
    ];
    const pad = crowd(t, A.KEY_NONE, 5, extra);
    for (const k of [...others, exact]) t.insert(k);
    t.run(cmdTlbiS2Ipa({ vmid: 5, addr: X, tg: 1, ttl: 3, leaf: true }));
    expect(t.keys()).toEqual(named([...others, ...pad]));
    t.run(cmdTlbiS2Ipa({ vmid: 5, addr: X, tg: 1, ttl: 3, leaf: true }));
    expect(t.keys()).toEqual(named([others[0], others[2], others[3], ...pad]));
  });
});

test('TLBI_NH_VAA: QEMU 10.0 removes stage-2 entries at the address too, the architecture only stage-1 ones', async () => {
  for (const [profile, s2gone] of [['qemu-10.0', true], ['arch', false]] as const) {
    const t = await Tlb.make(profile, 'nested');
    const s1: Key = { asid: 7, vmid: 5, iova: X, tg: 1, level: 3 };
    const s2: Key = { asid: A.KEY_NONE, vmid: 5, iova: X, tg: 1, level: 3 };
    const other: Key = { ...s1, vmid: 4 };
    for (const k of [s1, s2, other]) t.insert(k);
    t.run(cmdTlbiVa({ vmid: 5, addr: X, leaf: true }));
    expect([profile, t.keys()]).toEqual([profile, named(s2gone ? [other] : [s2, other])]);
  }
});

test('the debug hook stores the low 16 bits of an ASID or VMID beyond 16 bits (the entry\'s key fields)', async () => {
  const t = await Tlb.make();
  t.insert({ asid: 0x10000 + 0x1234, vmid: 0x30005, iova: X, tg: 1, level: 3 });
  t.insert({ asid: 0x1ffff, vmid: 0x1ffff, iova: X, tg: 1, level: 3 });
  expect(t.keys()).toEqual(named([{ asid: 0x1234, vmid: 5, iova: X, tg: 1, level: 3 }, { asid: 0xffff, vmid: 0xffff, iova: X, tg: 1, level: 3 }]));
  // the same key again: found, not added
  t.insert({ asid: 0x1234, vmid: 5, iova: X, tg: 1, level: 3 });
  expect(t.keys()).toHaveLength(2);
});

test('an invalidation walking an ASID\'s entries removes every one of them whatever their order in the cache (removals move the last entry into the freed place)', async () => {
  // entries of the walked list interleaved with others; a first exact-key removal (of one of either) reorders the
  // cache, so that the list's next entry is sometimes the one that moves while the walk removes its predecessor
  const kinds = ['asid', 'va', 'ipa'] as const;
  for (const kind of kinds) {
    for (const layout of ['others first', 'interleaved', 'walked first']) {
      for (let first = 0; first < 9; first++) {
        const t = await Tlb.make();
        const asid = kind === 'ipa' ? A.KEY_NONE : 7;
        const walked = [0, 1, 2, 3, 4, 5].map((k) => ({ asid, vmid: 5, iova: 0x100000n + BigInt(k) * 0x1000n, tg: 1, level: 3 }));
        const others = [0, 1, 2].map((k) => ({ asid: 9, vmid: 5, iova: 0x100000n + BigInt(k) * 0x1000n, tg: 1, level: 3 }));
        const order = layout === 'others first' ? [...others, ...walked] : layout === 'walked first' ? [...walked, ...others]
          : walked.flatMap((w, k) => (k % 2 === 1 ? [w, others[k >> 1]] : [w]));
        for (const e of order) t.insert(e);
        // exact-key removal of one entry: walked[0..5] or others[0..2]
        const gone = first < 6 ? walked[first] : others[first - 6];
        const exact = { vmid: 5, addr: gone.iova, tg: 1, ttl: 3, leaf: true };
        t.run(gone.asid === A.KEY_NONE ? cmdTlbiS2Ipa(exact) : cmdTlbiVa({ asid: gone.asid, ...exact }));
        const left = others.filter((o) => o !== gone);
        expect(t.keys()).toEqual(named([...walked.filter((w) => w !== gone), ...left]));
        const range = { vmid: 5, addr: 0x100000n, tg: 1, num: 7, leaf: true };
        if (kind === 'asid') t.run(cmdTlbiNhAsid(7, 5));
        else if (kind === 'va') t.run(cmdTlbiVa({ asid: 7, ...range }));
        else t.run(cmdTlbiS2Ipa(range));
        expect([kind, layout, first, t.keys()]).toEqual([kind, layout, first, named(left)]);
        // the cache still works: every entry left is found again by its key
        for (const o of left) t.insert(o);
        expect(t.keys()).toEqual(named(left));
      }
    }
  }
});

test('removing the entries of one ASID leaves the entries of every other ASID to their invalidations', async () => {
  for (const [a, b] of [[2, 1], [1, 0], [0x1234, 0x91a], [0xffff, 0x7fff]]) {
    const t = await Tlb.make();
    const ea: Key = { asid: a, vmid: 5, iova: X, tg: 1, level: 3 };
    const eb: Key = { asid: b, vmid: 5, iova: X, tg: 1, level: 3 };
    t.insert(eb);
    t.insert(ea);
    t.run(cmdTlbiVa({ asid: a, vmid: 5, addr: X, tg: 1, ttl: 3, leaf: true }));
    expect([a, b, t.keys()]).toEqual([a, b, named([eb])]);
    t.run(cmdTlbiVa({ asid: b, vmid: 5, addr: X, leaf: true }));
    expect([a, b, t.keys()]).toEqual([a, b, []]);
  }
});

test('every ASID keeps its own list and span: entries of ASIDs from 2^14 up to 0xffff leave the range invalidations of low ASIDs exact', async () => {
  const t = await Tlb.make();
  const page = 0x1f000n; // bits 12-15 set: a span end cut to its low 16 bits would fall below it
  const low: Key[] = Array.from({ length: 24 }, (_, a) => ({ asid: a, vmid: 5, iova: page, tg: 1, level: 3 }));
  // runs of ASIDs from 2^14, from 0xf000 and the top ones (the last slots of each per-ASID array)
  const run = (from: number, n: number): number[] => Array.from({ length: n }, (_, k) => from + k);
  const highAsids = [...run(0x4000, 60), ...run(0xf000, 80), ...run(0x10000 - 60, 60)];
  const high: Key[] = highAsids.map((asid, k) => ({ asid, vmid: 5, iova: 0x1000n * BigInt(k + 1), tg: 1, level: 3 }));
  for (const k of [...low, ...high]) t.insert(k);
  expect(t.keys()).toEqual(named([...low, ...high]));
  const chunks = <T>(xs: T[]): T[][] => Array.from({ length: Math.ceil(xs.length / 15) }, (_, i) => xs.slice(15 * i, 15 * i + 15));
  for (const c of chunks(low)) t.run(...c.map((k) => cmdTlbiVa({ asid: k.asid, vmid: 5, addr: page, leaf: true })));
  expect(t.keys()).toEqual(named(high));
  for (const c of chunks(high)) t.run(...c.map((k) => cmdTlbiNhAsid(k.asid, 5)));
  expect(t.keys()).toEqual([]);
});

test('an ASID\'s entry count stays exact over 2^16 insertions and removals (a 16-bit count that drifted would wrap to "no entries")', async () => {
  const t = await Tlb.make();
  const kept: Key[] = [{ asid: 3, vmid: 5, iova: X + 0x100000n, tg: 1, level: 3 }, { asid: 3, vmid: 5, iova: X + 0x101000n, tg: 1, level: 3 }];
  for (const k of kept) t.insert(k);
  // 65534 insertions, each removed again: a count that did not go down with removals would be
  // back at 0 with the two entries above still cached
  for (let left = 65534; left > 0; left -= 14) {
    const pages = Array.from({ length: Math.min(14, left) }, (_, i) => X + BigInt(i) * 0x1000n);
    for (const iova of pages) t.insert({ asid: 3, vmid: 5, iova, tg: 1, level: 3 });
    t.run(...pages.map((addr) => cmdTlbiVa({ asid: 3, vmid: 5, addr, tg: 1, ttl: 3, leaf: true })));
  }
  expect(t.keys()).toEqual(named(kept));
  t.run(cmdTlbiVa({ asid: 3, vmid: 5, addr: kept[0].iova, leaf: true }));
  expect(t.keys()).toEqual(named([kept[1]]));
});

test('entries at the top of the address space (IOVAs of 2^56 and more, TTB1\'s) are found by VA invalidations of their pages, and kept by ones beside them', async () => {
  for (const iova of [0xfffffffffffff000n, 0xff00000000000000n, 0x0100000000000000n]) {
    const t = await Tlb.make();
    const e: Key = { asid: 3, vmid: 5, iova, tg: 1, level: 3 };
    const low: Key = { asid: 3, vmid: 5, iova: 0x1000n, tg: 1, level: 3 };
    t.insert(low);
    t.insert(e);
    t.run(cmdTlbiVa({ asid: 3, vmid: 5, addr: iova - 0x1000n, leaf: true }));
    expect([iova, t.keys()]).toEqual([iova, named([e, low])]);
    t.run(cmdTlbiVa({ asid: 3, vmid: 5, addr: iova, leaf: true }));
    expect([iova, t.keys()]).toEqual([iova, named([low])]);
  }
});
