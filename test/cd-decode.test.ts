// What decoding a CD reports (QEMU decode_cd and its trace records smmuv3_get_cd,
// smmuv3_decode_cd, smmuv3_decode_cd_tt): the output size is the CD's IPS capped at
// the SMMU's 44 bits; the reserved IPS encodings 6 and 7 read as 255 then capped on
// QEMU 7.2, and are C_BAD_CD on QEMU 10.0 (which aborts on them).

import { machine, RAM_BASE } from './helpers.js';
import { cd, wordsToBytes } from '../src/guest/encode.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const IPS_BITS = [32, 36, 40, 42, 44, 48];

for (const profile of ['qemu-7.2', 'qemu-10.0'] as Profile[]) {
  test(`${profile}: each IPS gives the output size in smmuv3_decode_cd; TT[0] as decoded; reserved IPS ${profile === 'qemu-7.2' ? 'read as 44 bits' : 'are C_BAD_CD'}`, async () => {
    const m = await machine(profile === 'qemu-7.2' ? { profile } : { profile, stage: '1' });
    const d = m.driver.createDomain({ asid: 3 });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.attach(0x18, d);
    for (let ips = 0; ips < 8; ips++) {
      m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 3, ttb0: d.root, t0sz: 16, tg0: 0, ips })));
      m.driver.invalidateCd(0x18);
      const lines: string[] = [];
      m.smmu.setTrace((l) => { if (/smmuv3_(get_cd|decode_cd)/.test(l)) lines.push(l.slice(l.indexOf('smmuv3'))); });
      const r = m.smmu.translate(0x18, 0x10010);
      m.smmu.setTrace(undefined);
      const reserved = ips > 5;
      if (reserved && profile === 'qemu-10.0') {
        expect([r.status, r.event]).toEqual(['fault', E.EVT_C_BAD_CD]);
        expect(lines).toEqual([`smmuv3_get_cd CD addr: 0x${d.cdAddr.toString(16)}`]);
        continue;
      }
      // the table's address fits every output size here; the translation itself needs 31 bits
      expect([r.status, r.addr]).toEqual(['success', PA + 0x10]);
      const oas = reserved ? 44 : Math.min(IPS_BITS[ips], 44);
      expect(lines).toEqual([
        `smmuv3_get_cd CD addr: 0x${d.cdAddr.toString(16)}`,
        `smmuv3_decode_cd oas=${oas}`,
        `smmuv3_decode_cd_tt TT[0]:tsz:16 ttb:0x${d.root.toString(16)} granule_sz:12 had:0`,
      ]);
    }
  });
}

test('a CD that fails its checks is not cached: every translation decodes it again (C_BAD_CD each time), and the fixed CD needs no invalidation', async () => {
  const bad: Array<Parameters<typeof cd>[0]> = [];
  const base = { asid: 3, t0sz: 16, tg0: 0 };
  for (const over of [{ valid: false }, { aa64: false }, { s: true }, { t0sz: 40 }, { tg0: 3 }, { endi: true }, { ips: 0, ttb0: 0x100000000 }]) bad.push({ ...base, ttb0: 0, ...over });
  for (const f of bad) {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 3 });
    m.driver.map(d, 0x10000, PA, 0x1000);
    m.driver.attach(0x18, d);
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ ...f, ttb0: f.ttb0 || d.root })));
    m.driver.invalidateCd(0x18);
    const s0 = m.smmu.stats();
    for (let k = 0; k < 3; k++) expect([m.smmu.translate(0x18, 0x10010).event, m.smmu.stats().configMisses - s0.configMisses]).toEqual([E.EVT_C_BAD_CD, k + 1]);
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ ...base, ttb0: d.root })));
    expect(m.smmu.translate(0x18, 0x10010).addr).toBe(PA + 0x10);
  }
});
