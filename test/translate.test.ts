// Translation through the public API: stream table (linear and 2-level) and STE checks,
// CD checks, the stage-1 walk for every granule and start level, blocks, permissions,
// every fault and its event record, caches that go stale until invalidated, the event
// queue's full and disabled behaviour, GBPA, the batch API and the DMA rule.

import { machine, RAM_BASE, fillPattern, type Machine } from './helpers.js';
import { createSmmu } from '../src/index.js';
import { GuestDriver } from '../src/guest/driver.js';
import { engineDebug } from '../src/engine-debug.js';
import {
  cd, ste, wordsToBytes, cmdSync, cmdCfgiSte, cmdCfgiSteRange, cmdCfgiAll, cmdCfgiCd, cmdCfgiCdAll, cmdTlbiNhAll,
  cmdTlbiNsnhAll, cmdTlbiNhAsid, cmdTlbiVa, pteLeaf, type CdFields,
} from '../src/guest/encode.js';
import * as E from '../src/arch/events.js';
import * as R from '../src/arch/registers.js';
import * as A from '../src/arch/abi.js';

const PA = RAM_BASE + 0x900000;

/** Writes a raw CD for sid 0x18 (stage-1 STE) and returns the first event of a translation. */
async function withCd(over: Partial<CdFields>, iova = 0x1000): Promise<{ m: Machine; status: string; event: number }> {
  const m = await machine();
  const d = m.driver.createDomain({ asid: 1 });
  m.driver.map(d, 0x1000, PA, 0x1000);
  m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 1, ttb0: d.root, t0sz: 16, tg0: 0, ...over })));
  m.driver.attach(0x18, d);
  const r = m.smmu.translate(0x18, iova, 'read');
  return { m, status: r.status, event: r.event };
}

describe('context descriptor checks (QEMU decode_cd)', () => {
  test('a Linux-like CD translates', async () => {
    expect((await withCd({})).status).toBe('success');
  });
  const bad: Array<[string, Partial<CdFields>]> = [
    ['V=0', { valid: false }], ['AA64=0', { aa64: false }], ['A=0', { a: false }], ['S=1', { s: true }],
    ['HA=1', { ha: true }], ['HD=1', { hd: true }], ['T0SZ=15', { t0sz: 15 }], ['T0SZ=40', { t0sz: 40 }],
    ['TG0 reserved', { tg0: 3 }], ['ENDI=1', { endi: true }], ['TTB0 beyond IPS', { ips: 0, ttb0: 0x100000000 }],
    ['TG1 reserved with EPD1=0', { epd1: false, t1sz: 16, tg1: 0 }],
  ];
  for (const [name, over] of bad) {
    test(`${name} is C_BAD_CD`, async () => {
      const r = await withCd(over);
      expect(r.status).toBe('fault');
      expect(r.event).toBe(E.EVT_C_BAD_CD);
      const ev = r.m.driver.events();
      expect(ev.map((e) => [e.type, e.sid])).toEqual([[E.EVT_C_BAD_CD, 0x18]]);
    });
  }
  test('EPD0=1 disables TTB0: translation fault', async () => {
    const r = await withCd({ epd0: true });
    expect(r.event).toBe(E.EVT_F_TRANSLATION);
  });
  test('R=0 (no fault recording): the fault has no event', async () => {
    const r = await withCd({ r: false }, 0x5000);
    expect(r.status).toBe('fault');
    expect(r.event).toBe(0);
    expect(r.m.driver.events()).toEqual([]);
  });
  test('a CD outside RAM is F_CD_FETCH with its address', async () => {
    const m = await machine();
    m.driver.setSte(0x18, { config: 5, s1ctxptr: 0x80000000 });
    expect(m.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_F_CD_FETCH);
    const [ev] = m.driver.events();
    expect(ev.words[2]).toBe(0x80000000n);
  });
});

describe('stream table entries (QEMU smmu_find_ste, decode_ste)', () => {
  test('abort: no event; bypass: the input address', async () => {
    const m = await machine();
    m.driver.setSte(0x18, { config: 0 });
    m.driver.setSte(0x20, { config: 4 });
    expect(m.smmu.translate(0x18, 0x1234).status).toBe('abort');
    expect(m.smmu.translate(0x20, 0x1234)).toMatchObject({ status: 'bypass', addr: 0x1234, size: 4096 });
    expect(m.driver.events()).toEqual([]);
  });
  for (const [name, f] of [['V=0', { config: 5, valid: false }], ['stage 2', { config: 6 }], ['nested', { config: 7 }], ['S1CDMax=1', { config: 5, s1cdmax: 1 }], ['S1STALLD', { config: 5, s1stalld: true }]] as const) {
    test(`${name} is C_BAD_STE`, async () => {
      const m = await machine();
      m.driver.setSte(0x18, f);
      expect(m.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_C_BAD_STE);
      expect(m.driver.events().map((e) => e.type)).toEqual([E.EVT_C_BAD_STE]);
    });
  }
  test('a StreamID beyond STRTAB_BASE_CFG.LOG2SIZE is C_BAD_STREAMID', async () => {
    const m = await machine({ devices: [0x18, 0x200] }, { strtab: { log2size: 8 } });
    expect(m.smmu.translate(0x200, 0x1000).event).toBe(E.EVT_C_BAD_STREAMID);
    expect(m.driver.events()[0].sid).toBe(0x200);
  });
  test('a stream table outside RAM is F_STE_FETCH with the STE address', async () => {
    const m = await machine();
    m.smmu.mmioWrite(R.R_STRTAB_BASE, 8, 0x80000000n);
    expect(m.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_F_STE_FETCH);
    expect(m.driver.events()[0].words[3]).toBe(0x80000000n + 0x18n * 64n);
  });
  test('2-level stream table: L2 tables on demand, span 0 is C_BAD_STREAMID, an L2 index beyond the span C_BAD_STE', async () => {
    const m = await machine({ devices: [0x18, 0x1f8, 0x2f8] }, { strtab: { log2size: 16, split: 8 } });
    m.driver.setSte(0x18, { config: 4 });
    expect(m.smmu.translate(0x18, 0x5000).status).toBe('bypass');
    expect(m.smmu.translate(0x1f8, 0x5000).event).toBe(E.EVT_C_BAD_STREAMID); // L1 entry 1 never written
    const l2 = m.driver.alloc(64 * 4, 256);
    m.driver.write64(m.driver.strtabBase + 2 * 8, BigInt(l2) | 2n); // span 2: 2 entries
    expect(m.smmu.translate(0x2f8, 0x5000).event).toBe(E.EVT_C_BAD_STE); // index 0xf8 > 1
    expect(m.driver.events().map((e) => e.type)).toEqual([E.EVT_C_BAD_STREAMID, E.EVT_C_BAD_STE]);
  });
  test('decode errors are not cached: fixing the STE works without CFGI', async () => {
    const m = await machine();
    m.driver.setSte(0x18, { config: 6 });
    expect(m.smmu.translate(0x18, 0).status).toBe('fault');
    m.smmu.writeMemory(m.driver.steAddr(0x18), wordsToBytes(ste({ config: 4 })));
    expect(m.smmu.translate(0x18, 0).status).toBe('bypass');
  });
});

describe('stage-1 walk: every granule and start level', () => {
  for (const granule of [4096, 16384, 65536]) {
    const g = Math.log2(granule);
    const stride = g - 3;
    for (const vaBits of [25, 32, 36, 39, 42, 47, 48]) {
      const level = 4 - Math.floor((vaBits - 4) / stride);
      test(`granule ${granule / 1024}K, ${vaBits}-bit VA (start level ${level}): pages translate, holes fault`, async () => {
        const m = await machine();
        const d = m.driver.createDomain({ asid: 9, granule, vaBits });
        const iova = 2 ** (vaBits - 1) + granule * 3; // high half of the input range: every level used
        m.driver.map(d, iova, PA, granule, { blocks: false });
        m.driver.attach(0x18, d);
        const r = m.smmu.translate(0x18, iova + 0x18, 'write');
        expect(r).toMatchObject({ status: 'success', addr: PA + 0x18, size: granule, perm: 3 });
        expect(m.smmu.translate(0x18, iova + granule).event).toBe(E.EVT_F_TRANSLATION);
        // beyond the input range (TTB0 covers [0, 2^vaBits)): translation fault
        if (vaBits < 48) expect(m.smmu.translate(0x18, 2 ** vaBits).event).toBe(E.EVT_F_TRANSLATION);
      });
    }
  }

  test('block mappings at level 1 and 2 (4K granule) give 1 GiB and 2 MiB blocks', async () => {
    const m = await machine({ ram: [{ base: RAM_BASE, size: 0x1000000 }] });
    const d = m.driver.createDomain({ asid: 2 });
    m.driver.map(d, 0x40000000, 0x80000000, 0x40000000); // 1 GiB block
    m.driver.map(d, 0x200000, RAM_BASE + 0x800000 - 0x800000 % 0x200000, 0x200000); // 2 MiB block
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x40123456)).toMatchObject({ status: 'success', addr: 0x80123456, size: 0x40000000 });
    expect(m.smmu.translate(0x18, 0x234567)).toMatchObject({ status: 'success', size: 0x200000 });
  });

  test('read-only pages: reads succeed, writes are F_PERMISSION (also from a cached read-only entry)', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 2 });
    m.driver.map(d, 0x1000, PA, 0x1000, { readOnly: true });
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x1000, 'write').event).toBe(E.EVT_F_PERMISSION); // walk
    expect(m.smmu.translate(0x18, 0x1000, 'read').perm).toBe(1);
    expect(m.smmu.translate(0x18, 0x1000, 'write').event).toBe(E.EVT_F_PERMISSION); // IOTLB hit
    const ev = m.driver.events();
    expect(ev.map((e) => e.type)).toEqual([E.EVT_F_PERMISSION, E.EVT_F_PERMISSION]);
    expect(ev[0].words[1] & (1n << 35n)).toBe(0n); // RnW = 0: a write
    expect(ev[0].words[2]).toBe(0x1000n);
  });

  test('APTable[1] write-protects a whole subtree unless CD.HAD0 disables hierarchical attributes', async () => {
    for (const had of [false, true]) {
      const m = await machine();
      const d = m.driver.createDomain({ asid: 2, cd: { had0: had } });
      m.driver.map(d, 0x1000, PA, 0x1000);
      const l0 = m.driver.read64(d.root);
      m.driver.write64(d.root, l0 | (1n << 62n));
      m.driver.attach(0x18, d);
      const r = m.smmu.translate(0x18, 0x1000, 'write');
      expect(r.status).toBe(had ? 'success' : 'fault');
    }
  });

  test('a table pointing outside RAM is F_WALK_EABT with the descriptor address, even when CD.R = 0', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 2, cd: { r: false } });
    m.driver.write64(d.root, 0x80000003n); // level-0 table at 0x80000000
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x1000).event).toBe(E.EVT_F_WALK_EABT);
    const [ev] = m.driver.events();
    expect(ev.type).toBe(E.EVT_F_WALK_EABT);
    expect(Number((ev.words[1] >> 40n) & 3n)).toBe(E.EVT_CLASS_TT);
    expect(ev.words[3]).toBe(0x80000000n);
  });

  test('QEMU 7.2 neither checks the access flag nor output address size; the arch profile does', async () => {
    for (const profile of ['qemu-7.2', 'arch'] as const) {
      const m = await machine({ profile });
      const d = m.driver.createDomain({ asid: 2, cd: { ips: 0, affd: false } }); // 32-bit IPA; access flag faults not disabled
      m.driver.map(d, 0x1000, PA, 0x1000);
      const l3 = m.driver.tableFor(d, 0x1000, 3, false)!;
      m.driver.write64(l3 + 8, pteLeaf({ addr: PA, af: false }, 3)); // AF = 0
      m.driver.map(d, 0x2000, 0x100000000, 0x1000); // output beyond 32 bits
      m.driver.attach(0x18, d);
      const af = m.smmu.translate(0x18, 0x1000);
      const as = m.smmu.translate(0x18, 0x2000);
      if (profile === 'qemu-7.2') {
        expect(af.status).toBe('success');
        expect(as.status).toBe('success');
      } else {
        expect(af.event).toBe(E.EVT_F_ACCESS);
        expect(as.event).toBe(E.EVT_F_ADDR_SIZE);
      }
    }
  });
});

test.each([[0, 32], [1, 36], [2, 40], [3, 42], [4, 44]])('arch profile: IPS %i limits output addresses to %i bits (IDR5.OAS is 44)', async (ips, bits) => {
  const m = await machine({ profile: 'arch' });
  const d = m.driver.createDomain({ asid: 2, cd: { ips } });
  m.driver.map(d, 0x1000, 2 ** bits - 0x1000, 0x1000, { blocks: false }); // the last page below the limit
  m.driver.map(d, 0x2000, 2 ** bits, 0x1000, { blocks: false }); // the first page above it
  m.driver.attach(0x18, d);
  expect(m.smmu.translate(0x18, 0x1000).addr).toBe(2 ** bits - 0x1000);
  expect(m.smmu.translate(0x18, 0x2000).event).toBe(E.EVT_F_ADDR_SIZE);
});

describe('caches stay stale until the right invalidation (QEMU 7.2 behaviour)', () => {
  async function staleSetup() {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 7 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x1000).addr).toBe(PA);
    m.driver.map(d, 0x1000, PA + 0x5000, 0x1000); // change the PTE without invalidating
    expect(m.smmu.translate(0x18, 0x1000).addr).toBe(PA); // stale IOTLB hit
    return { m, d };
  }
  const good = [
    ['TLBI_NH_VA', () => [cmdTlbiVa({ asid: 7, addr: 0x1000 })]],
    ['TLBI_NH_VA with TTL and range', () => [cmdTlbiVa({ asid: 7, addr: 0, tg: 1, num: 3, ttl: 3 })]],
    ['TLBI_NH_VAA', () => [cmdTlbiVa({ addr: 0x1000 })]],
    ['TLBI_NH_ASID', () => [cmdTlbiNhAsid(7)]],
    ['TLBI_NH_ALL', () => [cmdTlbiNhAll()]],
    ['TLBI_NSNH_ALL', () => [cmdTlbiNsnhAll()]],
  ] as const;
  for (const [name, cmds] of good) {
    test(`${name} drops the stale translation`, async () => {
      const { m } = await staleSetup();
      m.driver.submit([...cmds(), cmdSync()]);
      expect(m.smmu.translate(0x18, 0x1000).addr).toBe(PA + 0x5000);
    });
  }
  const useless = [
    ['TLBI_NH_VA of another ASID', () => [cmdTlbiVa({ asid: 8, addr: 0x1000 })]],
    ['TLBI_NH_VA of another page', () => [cmdTlbiVa({ asid: 7, addr: 0x2000 })]],
    ['TLBI_NH_ASID of another ASID', () => [cmdTlbiNhAsid(8)]],
    ['CFGI_STE', () => [cmdCfgiSte(0x18)]],
    ['CFGI_CD', () => [cmdCfgiCd(0x18)]],
    ['CFGI_ALL', () => [cmdCfgiAll()]],
  ] as const;
  for (const [name, cmds] of useless) {
    test(`${name} leaves the IOTLB entry in place`, async () => {
      const { m } = await staleSetup();
      m.driver.submit([...cmds(), cmdSync()]);
      expect(m.smmu.translate(0x18, 0x1000).addr).toBe(PA);
    });
  }
  for (const [name, cmd] of [['CFGI_STE', cmdCfgiSte(0x18)], ['CFGI_STE_RANGE', cmdCfgiSteRange(0x10, 4)], ['CFGI_CD', cmdCfgiCd(0x18)], ['CFGI_CD_ALL', cmdCfgiCdAll(0x18)], ['CFGI_ALL', cmdCfgiAll()]] as const) {
    test(`a changed STE is only seen after ${name}`, async () => {
      const m = await machine();
      m.driver.setSte(0x18, { config: 4 });
      expect(m.smmu.translate(0x18, 0x1000).status).toBe('bypass');
      m.smmu.writeMemory(m.driver.steAddr(0x18), wordsToBytes(ste({ config: 0 })));
      expect(m.smmu.translate(0x18, 0x1000).status).toBe('bypass');
      m.driver.submit([cmdTlbiNhAll(), cmdSync()]);
      expect(m.smmu.translate(0x18, 0x1000).status).toBe('bypass'); // TLBIs do not touch the config cache
      m.driver.submit([cmd, cmdSync()]);
      expect(m.smmu.translate(0x18, 0x1000).status).toBe('abort');
    });
  }
  test('IOTLB: the 257th entry flushes the whole cache (QEMU SMMU_IOTLB_MAX_SIZE)', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 7 });
    m.driver.map(d, 0x100000, PA, 257 * 0x1000, { blocks: false });
    m.driver.attach(0x18, d);
    for (let i = 0; i < 256; i++) m.smmu.translate(0x18, 0x100000 + i * 0x1000);
    expect(m.smmu.stats().iotlbEntries).toBe(256);
    m.smmu.translate(0x18, 0x100000 + 256 * 0x1000);
    expect(m.smmu.stats().iotlbEntries).toBe(1);
    expect(m.smmu.stats().iotlbFullFlushes).toBe(1);
  });
  test('IOTLB entries are keyed by ASID only: another device with the same ASID hits them (QEMU 7.2)', async () => {
    const m = await machine();
    const a = m.driver.createDomain({ asid: 7 });
    const b = m.driver.createDomain({ asid: 7 });
    m.driver.map(a, 0x1000, PA, 0x1000);
    m.driver.map(b, 0x1000, PA + 0x3000, 0x1000);
    m.driver.attach(0x18, a);
    m.driver.attach(0x20, b);
    expect(m.smmu.translate(0x18, 0x1000).addr).toBe(PA);
    expect(m.smmu.translate(0x20, 0x1000).addr).toBe(PA);
  });
});

describe('event queue', () => {
  test('a full queue drops the record and raises GERROR.EVENTQ_ABT_ERR; records carry the IRQ', async () => {
    const m = await machine({}, { evtqLog2: 1 });
    m.driver.setSte(0x18, { config: 6 }); // C_BAD_STE on every access
    for (let i = 0; i < 3; i++) m.smmu.translate(0x18, i);
    expect(m.irqs.eventq).toBe(2);
    expect(Number(m.smmu.mmioRead(R.R_GERROR, 4)) & 4).toBe(4);
    expect(m.irqs.gerror).toBe(1);
    expect(m.smmu.stats().eventsLost).toBe(1);
    expect(m.driver.events()).toHaveLength(2);
  });
  test('with EVENTQEN = 0 nothing is recorded and no error is raised', async () => {
    const m = await machine({}, { eventq: false });
    m.driver.setSte(0x18, { config: 6 });
    const r = m.smmu.translate(0x18, 0);
    expect(r.recorded).toBe(false);
    expect(Number(m.smmu.mmioRead(R.R_GERROR, 4))).toBe(0);
  });
  test('an event queue outside RAM raises GERROR.EVENTQ_ABT_ERR', async () => {
    const m = await machine();
    m.smmu.mmioWrite(R.R_EVENTQ_BASE, 8, 0x80000000n | 4n);
    m.driver.setSte(0x18, { config: 6 });
    m.smmu.translate(0x18, 0);
    expect(Number(m.smmu.mmioRead(R.R_GERROR, 4)) & 4).toBe(4);
  });
});

describe('SMMU disabled (GBPA)', () => {
  test('qemu-7.2: SMMUEN = 0 bypasses whatever GBPA says', async () => {
    const m = await machine({}, {}, false);
    m.smmu.mmioWrite(R.R_GBPA, 4, (1 << 31) | (1 << 20));
    expect(m.smmu.translate(0x18, 0x1234)).toMatchObject({ status: 'disabled', ok: true, addr: 0x1234 });
  });
  test('arch: GBPA.ABORT aborts while SMMUEN = 0', async () => {
    const m = await machine({ profile: 'arch' }, {}, false);
    expect(m.smmu.translate(0x18, 0x1234).status).toBe('disabled');
    m.smmu.mmioWrite(R.R_GBPA, 4, (1 << 31) | (1 << 20));
    expect(m.smmu.translate(0x18, 0x1234)).toMatchObject({ status: 'abort', ok: false });
  });
});

describe('DMA and batch translation', () => {
  test('dma: translated runs continue to the end of each 4 KiB block; a failed translation is 4 bytes of zeros', async () => {
    const m = await machine({}, { evtqLog2: 11 });
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.map(d, 0x12000, PA + 0x2000, 0x1000); // a hole at 0x11000
    m.driver.attach(0x18, d);
    const a = fillPattern(m.smmu, PA, 0x1000, 1);
    const c = fillPattern(m.smmu, PA + 0x2000, 0x1000, 3);
    const buf = new Uint8Array(0x3000);
    expect(m.smmu.dma(0x18, 0x10000, 'read', buf)).toBe(0x1000);
    expect(buf.subarray(0, 0x1000)).toEqual(a);
    expect(buf.subarray(0x1000, 0x2000)).toEqual(new Uint8Array(0x1000));
    expect(buf.subarray(0x2000)).toEqual(c);
    expect(m.driver.events()).toHaveLength(0x1000 / 4); // one F_TRANSLATION per 4-byte piece
    const w = new Uint8Array(16).fill(0xab);
    m.smmu.dma(0x18, 0x12010, 'write', w);
    expect(m.smmu.readMemory(PA + 0x2010, 16)).toEqual(w);
  });
  test('a DMA longer than the engine buffer splits exactly as one long access (no extra pieces at buffer edges)', async () => {
    const m = await machine({}, { evtqLog2: 12 });
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x10000, PA, 0xf000, { blocks: false }); // [0x10000, 0x1f000) mapped
    m.driver.map(d, 0x21000, PA + 0x10000, 0x10000, { blocks: false }); // hole [0x1f000, 0x21000)
    m.driver.attach(0x18, d);
    const buf = new Uint8Array(0x20000);
    // from 0x10002 the hole starts 4-byte aligned (the translated run ends at the page end)
    // and is 0x2000 bytes: 2048 faulting 4-byte pieces, wherever the engine's buffer ends
    expect(m.smmu.dma(0x18, 0x10002, 'read', buf)).toBe(0x2000);
    expect(m.driver.events()).toHaveLength(0x2000 / 4);
  });
  test('batch translation: each request gets its own result, as the mapping says and as translate() says', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 1 });
    m.driver.map(d, 0x10000, PA, 0x4000, { blocks: false });
    m.driver.map(d, 0x20000, PA + 0x8000, 0x1000, { blocks: false, readOnly: true });
    m.driver.attach(0x18, d);
    m.driver.setSte(0x20, { config: 4 }); // bypass
    // [sid, iova, access, expected status, expected address]: hits and misses interleaved, so
    // that every request has to carry its own answer (a batch that repeated or shifted
    // results, or translated only the first request, differs)
    const R_ = A.ACC_READ, W = A.ACC_WRITE;
    const cases: Array<[number, number, number, number, number]> = [];
    for (let i = 0; i < 8; i++) cases.push([0x18, 0x10000 + i * 0x900, R_, A.XS_SUCCESS, PA + i * 0x900]);
    cases.push([0x18, 0x14000, R_, A.XS_ERROR, 0]); // past the mapping
    cases.push([0x18, 0x20010, R_, A.XS_SUCCESS, PA + 0x8010]);
    cases.push([0x18, 0x20010, W, A.XS_ERROR, 0]); // read-only
    cases.push([0x20, 0x123456, W, A.XS_BYPASS, 0x123456]);
    cases.push([0x18, 0x13ffc, W, A.XS_SUCCESS, PA + 0x3ffc]);
    const b = m.smmu.batch();
    cases.forEach(([sid, iova, acc], i) => {
      b.sid[i] = sid;
      b.iova[i] = iova;
      b.access[i] = acc;
    });
    b.run(cases.length);
    const got = cases.map((_, i) => [b.status[i], b.addr[i]]);
    expect(got).toEqual(cases.map(([, , , st, addr]) => [st, addr]));
    // the single-call API agrees, request by request
    const single = cases.map(([sid, iova, acc]) => {
      const r = m.smmu.translate(sid, iova, acc === W ? 'write' : 'read');
      return [r.status, r.addr];
    });
    const NAME: Record<number, string> = { [A.XS_SUCCESS]: 'success', [A.XS_ERROR]: 'fault', [A.XS_BYPASS]: 'bypass' };
    expect(single).toEqual(cases.map(([, , , st, addr]) => [NAME[st], addr]));
  });
  test('translate64 handles IOVAs above 2^53 (TBI: the top byte is ignored for TT selection)', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 1, cd: { tbi: 1 } });
    m.driver.map(d, 0x1000, PA, 0x1000);
    m.driver.attach(0x18, d);
    const r = m.smmu.translate64(0x18, 0xab00000000001010n);
    expect(r.status).toBe('success');
    expect(r.addr64).toBe(BigInt(PA + 0x10));
  });
});

test('callback-only guest memory: the same translations through host callbacks', async () => {
  const ram = new Uint8Array(0x1000000);
  const s = await createSmmu({
    devices: [0x18],
    memory: {
      read: (a, dst) => { const o = a - RAM_BASE; if (o < 0 || o + dst.length > ram.length) return false; dst.set(ram.subarray(o, o + dst.length)); return true; },
      write: (a, src) => { const o = a - RAM_BASE; if (o < 0 || o + src.length > ram.length) return false; ram.set(src, o); return true; },
    },
  });
  const drv = new GuestDriver(s, { heap: { base: RAM_BASE + 0x100000, size: 0x800000 } });
  drv.init();
  const d = drv.createDomain({ asid: 3, granule: 16384, vaBits: 47 });
  drv.map(d, 0x4000, PA, 0x4000);
  drv.attach(0x18, d);
  expect(s.translate(0x18, 0x4010)).toMatchObject({ status: 'success', addr: PA + 0x10 });
  expect(s.translate(0x18, 0x8000).event).toBe(E.EVT_F_TRANSLATION);
  expect(drv.events()).toHaveLength(1);
});

describe('cache structures (IOTLB hash, start levels, configuration list)', () => {
  test('an IOVA in neither TTB0 nor TTB1 range is F_TRANSLATION, recorded with its address', async () => {
    const m = await machine({}, { evtqLog2: 4 });
    const d = m.driver.createDomain({ asid: 2, vaBits: 39 }); // TTB1 walks disabled (EPD1)
    m.driver.attach(0x18, d);
    const r = m.smmu.translate(0x18, 2 ** 40 + 0x3000, 'write');
    expect([r.status, r.event]).toEqual(['fault', E.EVT_F_TRANSLATION]);
    const ev = m.driver.events();
    expect(ev.map((e) => [e.type, e.sid, e.words[2]])).toEqual([[E.EVT_F_TRANSLATION, 0x18, BigInt(2 ** 40 + 0x3000)]]); // word 2: the input address
  });

  test('a StreamID beyond 16 bits is C_BAD_STREAMID, whatever the previous fault was', async () => {
    const m = await machine({}, { evtqLog2: 4 });
    const d = m.driver.createDomain({ asid: 2 });
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, 0x5000).event).toBe(E.EVT_F_TRANSLATION);
    const r = m.smmu.translate(0x10018, 0x1000);
    expect([r.status, r.event]).toEqual(['fault', E.EVT_C_BAD_STREAMID]);
  });

  test('an IOTLB entry stays findable after the entries around it in the hash are invalidated', async () => {
    for (const seed of [1, 2, 3]) {
      const m = await machine();
      const d = m.driver.createDomain({ asid: 3 });
      // 200 pages at pseudo-random places in 1 GiB (so that some share hash probe chains)
      let x = seed * 0x9e3779b9;
      const pages = new Set<number>();
      while (pages.size < 200) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        pages.add((x >>> 8) & 0x3ffff);
      }
      const iovas = [...pages].map((p) => 0x40000000 + p * 0x1000);
      iovas.forEach((iova, i) => m.driver.map(d, iova, PA + (i % 16) * 0x1000, 0x1000, { blocks: false }));
      m.driver.attach(0x18, d);
      for (const iova of iovas) expect(m.smmu.translate(0x18, iova).status).toBe('success');
      expect(m.smmu.stats().iotlbEntries).toBe(200);
      // every other page invalidated: each removal shifts the rest of its chain back
      m.driver.submit([...iovas.filter((_, i) => i % 2 === 0).map((addr) => cmdTlbiVa({ asid: 3, addr })), cmdSync()]);
      expect(m.smmu.stats().iotlbEntries).toBe(100);
      const s0 = m.smmu.stats();
      iovas.forEach((iova, i) => { if (i % 2) expect(m.smmu.translate(0x18, iova).addr).toBe(PA + (i % 16) * 0x1000); });
      const s1 = m.smmu.stats();
      expect([seed, s1.iotlbHits - s0.iotlbHits, s1.iotlbMisses - s0.iotlbMisses]).toEqual([seed, 100, 0]);
      expect(s1.iotlbEntries).toBe(100);
    }
  });

  test("IOTLB lookups start at the table's start level (QEMU keys entries by ASID, not by table)", async () => {
    const m = await machine();
    const GB = 0x40000000;
    const big = m.driver.createDomain({ asid: 6 }); // 48-bit VA: levels 0-3
    m.driver.map(big, 0, GB, GB); // one 1 GiB block at level 1
    m.driver.attach(0x18, big);
    expect(m.smmu.translate(0x18, 0x1000).addr).toBe(GB + 0x1000);
    const l1 = m.driver.createDomain({ asid: 6, vaBits: 32 }); // same ASID, 32-bit VA: levels 1-3
    const l2 = m.driver.createDomain({ asid: 6, vaBits: 30 }); // same ASID, 30-bit VA: levels 2-3
    m.driver.map(l1, 0x1000, PA + 0x5000, 0x1000, { blocks: false });
    m.driver.map(l2, 0x1000, PA + 0x6000, 0x1000, { blocks: false });
    m.driver.attach(0x20, l1);
    m.driver.attach(0x28, l2);
    // a table starting at level 1 finds the other table's level-1 block for its ASID
    expect(m.smmu.translate(0x20, 0x1000).addr).toBe(GB + 0x1000);
    // a table starting at level 2 never looks at level 1: its own walk
    expect(m.smmu.translate(0x28, 0x1000).addr).toBe(PA + 0x6000);
  });

  test.each([
    [4096, 48], [4096, 39], [4096, 30], [4096, 25], [16384, 47], [16384, 36], [16384, 25], [65536, 48], [65536, 42], [65536, 29],
  ])('granule %i, %i-bit VA: the second translation of a page is an IOTLB hit', async (granule, vaBits) => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 4, granule, vaBits });
    m.driver.map(d, granule * 3, PA, granule, { blocks: false });
    m.driver.attach(0x18, d);
    expect(m.smmu.translate(0x18, granule * 3 + 8).addr).toBe(PA + 8);
    const s0 = m.smmu.stats();
    expect(m.smmu.translate(0x18, granule * 3 + 16).addr).toBe(PA + 16);
    const s1 = m.smmu.stats();
    expect([s1.iotlbHits - s0.iotlbHits, s1.iotlbMisses - s0.iotlbMisses]).toEqual([1, 0]);
  });

  test('lookups try every level that holds entries: a page and a block of one ASID both hit', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 7 });
    m.driver.map(d, 0x200000, PA & ~0x1fffff, 0x200000); // a 2 MiB block (level 2)
    m.driver.map(d, 0x400000, PA, 0x1000, { blocks: false }); // a 4 KiB page (level 3)
    m.driver.attach(0x18, d);
    for (const iova of [0x200000, 0x400000]) m.smmu.translate(0x18, iova);
    const s0 = m.smmu.stats();
    expect(m.smmu.translate(0x18, 0x400010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x18, 0x300000).addr).toBe((PA & ~0x1fffff) + 0x100000);
    const s1 = m.smmu.stats();
    expect([s1.iotlbHits - s0.iotlbHits, s1.iotlbMisses - s0.iotlbMisses]).toEqual([2, 0]);
  });

  test('a TLBI_NH_VA with TTL for an uncached page removes nothing, though entries of the same size exist', async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 8 });
    m.driver.map(d, 0x10000, PA, 0x4000, { blocks: false });
    m.driver.attach(0x18, d);
    for (let p = 0; p < 3; p++) m.smmu.translate(0x18, 0x10000 + p * 0x1000); // 3 level-3 entries (a short per-ASID list)
    m.driver.submit([cmdTlbiVa({ asid: 8, addr: 0x13000, ttl: 3, tg: 1, leaf: true }), cmdSync()]);
    expect(m.smmu.stats().iotlbEntries).toBe(3);
    m.driver.submit([cmdTlbiVa({ asid: 8, addr: 0x11000, ttl: 3, tg: 1, leaf: true }), cmdSync()]);
    expect(engineDebug(m.smmu).iotlb().map((t) => t.iova).sort()).toEqual([0x10000n, 0x12000n]);
  });

  test('CFGI_STE_RANGE drops exactly the cached configurations in its range, whatever order they were cached in', async () => {
    const sids = [0x48, 0x18, 0x40, 0x20, 0x38, 0x28, 0x30, 0x10];
    const m = await machine({ devices: sids });
    const d = m.driver.createDomain({ asid: 5 });
    m.driver.map(d, 0x1000, PA, 0x1000);
    for (const sid of sids) m.driver.attach(sid, d);
    for (const sid of sids) expect(m.smmu.translate(sid, 0x1000).status).toBe('success'); // caches all eight, in this order
    m.driver.submit([cmdCfgiSteRange(0x20, 4), cmdSync()]); // StreamIDs 0x20-0x3f
    const dbg = engineDebug(m.smmu);
    expect(sids.filter((s) => dbg.configCached(s)).sort()).toEqual([0x10, 0x18, 0x40, 0x48]);
    m.driver.submit([cmdCfgiSte(0x48), cmdCfgiSte(0x10), cmdSync()]);
    expect(sids.filter((s) => dbg.configCached(s)).sort()).toEqual([0x18, 0x40]);
    m.driver.submit([cmdCfgiAll(), cmdSync()]);
    expect(sids.filter((s) => dbg.configCached(s))).toEqual([]);
  });
});
