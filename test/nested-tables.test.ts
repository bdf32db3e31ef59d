// Stage-1 table addresses of a nested walk going through stage 2 (QEMU 10.0
// translate_table_addr_ipa: each table's base IPA; `arch`, IHI 0070 3.4: each descriptor's
// IPA, bounded by the SMMU's 44-bit IAS):
// - tables at IPAs up to the top of a 44-bit IPA space are reached on both profiles;
// - a stage-2 table outside RAM met while translating a stage-1 table address: QEMU 10.0
//   reports F_WALK_EABT at stage 1 (S2 = 0, CLASS = TT) with ADDR2 = the table's IPA;
//   `arch` at stage 2 (S2 = 1, CLASS = TT) with ADDR2 = the stage-2 descriptor's address.

import { machine, RAM_BASE, type Machine, s1Desc } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import { pteTable } from '../src/guest/encode.js';
import type { Domain } from '../src/guest/driver.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const OUTSIDE = 0x100000000;
const S2_BIT = 1n << 39n;
const cls = (w1: bigint): number => Number((w1 >> 40n) & 3n);


/** Nested SMMU, 44-bit IPA; the stage-1 level-3 table of 0x1000 also reachable for 0x200000 through IPA `tableIpa`. */
async function nested(profile: 'qemu-10.0' | 'arch', tableIpa: number) {
  const m = await machine({ profile, stage: 'nested' });
  const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 44 });
  t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000);
  const d = m.driver.createDomain({ asid: 4, cd: { ips: 4 } }); // 44-bit IPA space
  m.driver.map(d, 0x1000, 0x80000000, 0x1000);
  t.map(0x80000000, PA, 0x1000);
  const l3 = Number(m.driver.read64(s1Desc(m, d, 0x1000, 2)) & 0x0000fffffffff000n);
  t.map(tableIpa, l3, 0x1000);
  m.driver.write64(s1Desc(m, d, 0x200000, 2), pteTable({ addr: tableIpa }));
  m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
  return { m, t, d };
}

test('stage-1 tables at the top of a 44-bit IPA space are reached on both profiles', async () => {
  for (const profile of ['qemu-10.0', 'arch'] as const) {
    for (const ipa of [2 ** 43, 2 ** 44 - 0x1000]) {
      const { m } = await nested(profile, ipa);
      expect([profile, ipa, m.smmu.translate(0x18, 0x201010).addr]).toEqual([profile, ipa, PA + 0x10]);
    }
  }
});

test('a stage-2 table outside RAM under a stage-1 table address: F_WALK_EABT, at stage 1 with the table IPA on QEMU 10.0, at stage 2 with the descriptor address on arch', async () => {
  for (const profile of ['qemu-10.0', 'arch'] as const) {
    const tableIpa = 0x90000000;
    const { m, t } = await nested(profile, tableIpa);
    m.driver.write64(t.descriptor(tableIpa, 2), pteTable({ addr: OUTSIDE })); // the stage-2 level-3 table of that IPA
    expect(m.smmu.translate(0x18, 0x1010).addr).toBe(PA + 0x10);
    expect(m.smmu.translate(0x18, 0x201010).event).toBe(E.EVT_F_WALK_EABT);
    const ev = m.driver.events();
    // arch: the descriptor 0x201000 needs is entry 1 of the table at IPA 0x90000000, whose stage-2 level-3 descriptor is entry 0 at OUTSIDE
    const want = profile === 'arch' ? [S2_BIT, BigInt(OUTSIDE)] : [0n, BigInt(tableIpa)];
    expect(ev.map((e) => [e.type, e.words[1] & S2_BIT, cls(e.words[1]), e.words[3]])).toEqual([[E.EVT_F_WALK_EABT, want[0], E.EVT_CLASS_TT, want[1]]]);
  }
});

test('the CD\'s TTB is an IPA: QEMU 10.0 translates it at decode and reads the table at its offset in the stage-2 page; arch translates each descriptor address', async () => {
  const TTB_IPA = 0x200000000;
  for (const profile of ['qemu-10.0', 'arch'] as const) {
    for (const [granule, offset] of [[0x1000, 0], [0x10000, 0], [0x10000, 0x3000]]) {
      const m = await machine({ profile, stage: 'nested' });
      const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40, granule });
      t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000); // the driver's heap: IPA = PA
      const d = m.driver.createDomain({ asid: 4, cd: { ttb0: TTB_IPA + offset } });
      m.driver.map(d, 0x10000, RAM_BASE + 0x300000, 0x1000);
      // the top table copied into a stage-2 page of its own at `offset`; that page's own PA, as
      // an IPA, leads to an empty page (a TTB translated twice finds nothing)
      const page = m.driver.alloc(granule, granule);
      m.smmu.writeMemory(page + offset, m.smmu.readMemory(d.root, 0x1000));
      t.map(TTB_IPA, page, granule);
      t.map(page, m.driver.alloc(granule, granule), granule);
      m.driver.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
      expect([profile, granule, offset, m.smmu.translate(0x18, 0x10020)]).toMatchObject([profile, granule, offset, { status: 'success', addr: RAM_BASE + 0x300020 }]);
    }
  }
});
