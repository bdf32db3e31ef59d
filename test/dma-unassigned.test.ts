// Device DMA that meets unassigned memory, as QEMU's memory core performs it: outside RAM
// (and without memory callbacks) an access goes in naturally aligned pieces of at most 4
// bytes (memory_access_size), each translated again; reads give zeros, writes are dropped.
// The pieces are counted through the translations they cost and the events they raise,
// against the rule written out below, for every alignment and length up to a few words.

import { machine, RAM_BASE, RAM_SIZE, fillPattern, type Machine } from './helpers.js';
import { field64 } from '../src/bits.js';
import * as E from '../src/arch/events.js';
import type { Profile } from '../src/types.js';
import * as R from '../src/arch/registers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { cmdCfgiSte, cmdSync } from '../src/guest/encode.js';

/** Sizes of the pieces QEMU splits an access to unassigned memory into: at most 4 bytes, no more than the address's alignment, a power of 2. */
function pieces(addr: bigint, len: number): Array<[bigint, number]> {
  const out: Array<[bigint, number]> = [];
  let a = addr, left = len;
  while (left > 0) {
    const align = Number(a & 3n) === 0 ? 4 : Number(a & -a & 3n);
    const n = [4, 2, 1].find((s) => s <= Math.min(align, left))!;
    out.push([a, n]);
    a += BigInt(n);
    left -= n;
  }
  return out;
}

const UNASSIGNED = 0x20000000; // below RAM, no region
const PROFILES: Profile[] = ['qemu-7.2', 'qemu-10.0'];

async function stage1(profile: Profile, opts: Parameters<typeof machine>[0] = {}): Promise<Machine> {
  return machine(profile === 'qemu-7.2' ? { profile, ...opts } : { profile, stage: '1', ...opts }, { evtqLog2: 10 });
}

/** Leaves `len` bytes of 0xee in the engine's DMA buffer (a dropped write), so that a read that should give zeros cannot give what a previous call left. */
function dirty(m: Machine, len: number): void {
  m.smmu.dma64(0x18, 0xfffffffffffff000n, 'write', new Uint8Array(len).fill(0xee));
  m.driver.events();
}

/** Translations a call costs. */
function translations(m: Machine, f: () => void): number {
  const t0 = m.smmu.stats().translations;
  f();
  return m.smmu.stats().translations - t0;
}

describe.each(PROFILES)('%s', (profile) => {
  test('a translated run into unassigned memory: aligned pieces of at most 4 bytes, each translated; reads are zeros', async () => {
    const m = await stage1(profile);
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x10000, UNASSIGNED, 0x1000, { blocks: false });
    m.driver.attach(0x18, d);
    m.smmu.translate(0x18, 0x10000); // the walk done once (the IOTLB holds the page)
    for (let off = 0; off < 8; off++) {
      for (let len = 1; len <= 13; len++) {
        const buf = new Uint8Array(len).fill(0xee);
        dirty(m, len);
        let failed = -1;
        expect(translations(m, () => { failed = m.smmu.dma(0x18, 0x10000 + off, 'read', buf); })).toBe(pieces(BigInt(UNASSIGNED + off), len).length);
        expect(failed).toBe(0);
        expect(buf).toEqual(new Uint8Array(len));
        expect(translations(m, () => m.smmu.dma(0x18, 0x10f00 + off, 'write', new Uint8Array(len)))).toBe(pieces(BigInt(UNASSIGNED + 0xf00 + off), len).length);
      }
    }
    expect(m.driver.events()).toEqual([]);
  });

  test('a failed translation: each piece raises its own event at its own address; the bytes count as failed', async () => {
    const m = await stage1(profile);
    m.driver.attach(0x18, m.driver.createDomain({ asid: 1 })); // nothing mapped
    for (let off = 0; off < 8; off++) {
      for (const len of [1, 2, 3, 5, 7, 11]) {
        const buf = new Uint8Array(len).fill(0xee);
        dirty(m, len);
        const iova = 0x70000 + off;
        expect(m.smmu.dma(0x18, iova, 'read', buf)).toBe(len);
        expect(buf).toEqual(new Uint8Array(len));
        const ev = m.driver.events();
        expect(ev.map((e) => [e.type, field64(e.words, E.EVT_ADDR)])).toEqual(pieces(BigInt(iova), len).map(([a]) => [E.EVT_F_TRANSLATION, a]));
      }
    }
  });

  test('RAM ending inside a page: the RAM part in one piece, the rest in unassigned pieces', async () => {
    const end = RAM_BASE + RAM_SIZE - 0x800; // the last 2 KiB of the page are not RAM
    const m = await stage1(profile, { ram: [{ base: RAM_BASE, size: RAM_SIZE - 0x800 }] });
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x50000, end - 0x800, 0x1000, { blocks: false });
    m.driver.attach(0x18, d);
    let want = fillPattern(m.smmu, end - 0x20, 0x20, 5);
    m.smmu.translate(0x18, 0x50000);
    for (const len of [0x20 + 1, 0x20 + 6, 0x40]) {
      const buf = new Uint8Array(len).fill(0xee);
      dirty(m, len);
      expect(translations(m, () => expect(m.smmu.dma(0x18, 0x507e0, 'read', buf)).toBe(0))).toBe(1 + pieces(BigInt(end), len - 0x20).length);
      expect(buf.subarray(0, 0x20)).toEqual(want);
      expect(buf.subarray(0x20)).toEqual(new Uint8Array(len - 0x20));
      const w = new Uint8Array(len).fill(len);
      m.smmu.dma(0x18, 0x507e0, 'write', w);
      want = w.slice(0, 0x20);
      expect(m.smmu.readMemory(end - 0x20, 0x20)).toEqual(want);
    }
  });
});

test('qemu-7.2: from 2^48 on, no translation at all: aligned pieces of zeros, counted as failed, no event', async () => {
  const m = await stage1('qemu-7.2');
  const d = m.driver.createDomain({ asid: 1 });
  m.driver.attach(0x18, d);
  for (let off = 0n; off < 8n; off++) {
    const buf = new Uint8Array(11).fill(0xee);
    dirty(m, 11);
    expect(translations(m, () => expect(m.smmu.dma64(0x18, (1n << 48n) + off, 'read', buf)).toBe(11))).toBe(0);
    expect(buf).toEqual(new Uint8Array(11));
  }
  expect(m.driver.events()).toEqual([]);
});

test('memory callbacks: a translated run outside RAM is one host access, up to the end of the page', async () => {
  const calls: string[] = [];
  const memory = {
    read: (addr: number, dst: Uint8Array): boolean => { calls.push(`r ${addr.toString(16)} ${dst.length.toString(16)}`); dst.fill(0x5a); return true; },
    write: (addr: number, src: Uint8Array): boolean => { calls.push(`w ${addr.toString(16)} ${src.length.toString(16)}`); return true; },
  };
  const m = await stage1('qemu-10.0', { memory });
  const d = m.driver.createDomain({ asid: 1 });
  m.driver.map(d, 0x10000, UNASSIGNED, 0x2000, { blocks: false });
  m.driver.attach(0x18, d);
  m.smmu.translate(0x18, 0x10000);
  m.smmu.translate(0x18, 0x11000);
  calls.length = 0;
  const buf = new Uint8Array(0x1003);
  expect(translations(m, () => expect(m.smmu.dma(0x18, 0x10ffd, 'read', buf)).toBe(0))).toBe(2);
  expect(buf).toEqual(new Uint8Array(0x1003).fill(0x5a));
  m.smmu.dma(0x18, 0x10002, 'write', new Uint8Array(0x1001));
  expect(calls).toEqual([`r ${(UNASSIGNED + 0xffd).toString(16)} 3`, `r ${(UNASSIGNED + 0x1000).toString(16)} 1000`, `w ${(UNASSIGNED + 2).toString(16)} ffe`, `w ${(UNASSIGNED + 0x1000).toString(16)} 3`]);
});

test('qemu-10.0 stage 2: a read of a write-only page translates and is refused piece by piece (unassigned: zeros, no event, failed)', async () => {
  const m = await machine({ profile: 'qemu-10.0', stage: '2' }, { evtqLog2: 10 });
  const t = new Stage2Tables(m.driver, { vmid: 2, ipaBits: 36 });
  const pa = RAM_BASE + 0x900000;
  t.map(0x80000000, pa, 0x1000, { s2ap: 2 });
  fillPattern(m.smmu, pa, 0x40, 4);
  m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
  expect(m.smmu.translate(0x18, 0x80000000, 'write').status).toBe('success'); // cached: QEMU checks no read against it
  for (let off = 0; off < 4; off++) {
    const buf = new Uint8Array(11).fill(0xee);
    dirty(m, 11);
    expect(translations(m, () => expect(m.smmu.dma(0x18, 0x80000001 + off, 'read', buf)).toBe(11))).toBe(pieces(BigInt(pa + 1 + off), 11).length);
    expect(buf).toEqual(new Uint8Array(11));
  }
  expect(m.driver.events()).toEqual([]);
  const w = new Uint8Array(0x21).fill(0x3c);
  expect(translations(m, () => expect(m.smmu.dma(0x18, 0x80000003, 'write', w)).toBe(0))).toBe(1);
  expect(m.smmu.readMemory(pa + 3, 0x21)).toEqual(w);
});

test('bypass and SMMU disabled: RAM moves in 4 KiB runs (one translation each), unassigned memory in pieces', async () => {
  for (const disabled of [false, true]) {
    const m = await stage1('qemu-10.0', { devices: [0x18, 0x20] });
    m.driver.setSte(0x18, { config: 4 });
    if (disabled) m.smmu.mmioWrite(R.R_CR0, 4, 0);
    const pa = RAM_BASE + 0x900000;
    const want = fillPattern(m.smmu, pa, 0x3000, 6);
    const buf = new Uint8Array(0x2001);
    expect(translations(m, () => expect(m.smmu.dma(0x18, pa + 0x7ff, 'read', buf)).toBe(0))).toBe(3);
    expect(buf).toEqual(want.subarray(0x7ff, 0x2800));
    dirty(m, 7);
    const zeros = new Uint8Array(7).fill(0xee);
    expect(translations(m, () => expect(m.smmu.dma(0x18, UNASSIGNED + 1, 'read', zeros)).toBe(0))).toBe(pieces(BigInt(UNASSIGNED + 1), 7).length);
    expect(zeros).toEqual(new Uint8Array(7));
  }
});

test('a run ends at its page: the next byte is translated again, wherever its page maps', async () => {
  for (const profile of PROFILES) {
    const m = await stage1(profile);
    const d = m.driver.createDomain({ asid: 1 });
    const pa = RAM_BASE + 0x900000;
    m.driver.map(d, 0x10000, pa + 0x5000, 0x1000, { blocks: false });
    m.driver.map(d, 0x11000, pa, 0x1000, { blocks: false });
    const want = fillPattern(m.smmu, pa, 0x6000, 2);
    m.driver.attach(0x18, d);
    for (const [iova, len] of [[0x10fff, 3], [0x10ffe, 2], [0x10ff0, 0x20]]) {
      const buf = new Uint8Array(len);
      expect(translations(m, () => m.smmu.dma(0x18, iova, 'read', buf))).toBe(len > 0x1000 - (iova & 0xfff) ? 2 : 1);
      const first = 0x1000 - (iova & 0xfff);
      expect(buf).toEqual(new Uint8Array([...want.subarray(0x5000 + (iova & 0xfff), 0x6000), ...want.subarray(0, len - first)].slice(0, len)));
    }
  }
});

test('a DMA of several engine buffers through a page and a 2 MiB block: every byte read and written, nothing beyond the buffer touched', async () => {
  // a passthrough device's binding lives in the engine next to its DMA buffer: it must survive
  const installs: number[] = [];
  const backend = { name: 'p0', invalidate: (e: Uint8Array) => ({ done: e.length / 16 }), installSte: (psid: number) => { installs.push(psid); return { done: 1 }; } };
  const m = await stage1('qemu-10.0', { viommu: { backends: [{ name: 'p0', vmid: 1, backend }], devices: [{ sid: 0x40, backend: 'p0', psid: 0x99 }] } });
  const d = m.driver.createDomain({ asid: 1 });
  const pa = RAM_BASE + 0x400000, pa2 = RAM_BASE + 0x700000;
  m.driver.map(d, 0x1ff000, pa2, 0x1000, { blocks: false }); // a page, then
  m.driver.map(d, 0x200000, pa, 0x200000); // one level-2 block
  m.driver.attach(0x18, d);
  const want = fillPattern(m.smmu, pa, 0x50000, 8);
  const want2 = fillPattern(m.smmu, pa2, 0x1000, 9);
  for (const start of [0x1ff800, 0x1fffff, 0x200003]) {
    const buf = new Uint8Array(0x4e123);
    expect(m.smmu.dma(0x18, start, 'read', buf)).toBe(0);
    const head = Math.max(0, 0x200000 - start);
    expect(Buffer.from(buf.subarray(0, head)).equals(Buffer.from(want2.subarray(0x1000 - head)))).toBe(true);
    expect(Buffer.from(buf.subarray(head)).equals(Buffer.from(want.subarray(start + head - 0x200000, start - 0x200000 + buf.length)))).toBe(true);
  }
  const w = new Uint8Array(0x31001).map((_, i) => (i * 7) & 0xff);
  expect(m.smmu.dma(0x18, 0x1ffc05, 'write', w)).toBe(0);
  expect(Buffer.from(m.smmu.readMemory(pa2 + 0xc05, 0x3fb)).equals(Buffer.from(w.subarray(0, 0x3fb)))).toBe(true);
  expect(Buffer.from(m.smmu.readMemory(pa, w.length - 0x3fb)).equals(Buffer.from(w.subarray(0x3fb)))).toBe(true);
  expect(m.smmu.translate(0x18, 0x200010).addr).toBe(pa + 0x10);
  installs.length = 0;
  m.driver.submit([cmdCfgiSte(0x40), cmdSync()]);
  expect(installs).toEqual([0x99]);
});
