// Which translation table a tagged IOVA selects (QEMU select_tt with CD.TBI, IHI 0070
// 5.4 TBI0/TBI1): with TBI0 the top byte is ignored when checking an IOVA against the
// ranges of TTB0 and TTB1; QEMU's TBI1 macro reads the TBI0 bit, so TBI1 alone ignores
// nothing, on every profile (test/input-range.test.ts has the ranges without tags).

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { cd, wordsToBytes, type CdFields } from '../src/guest/encode.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const PROFILES: Profile[] = ['qemu-7.2', 'qemu-10.0', 'arch'];
const TAGS = [0x01n, 0x5an, 0x80n, 0xffn];

async function stage1(profile: Profile): Promise<Machine> {
  return profile === 'qemu-7.2' ? machine({ profile }) : machine({ profile, stage: '1' });
}

/** A 48-bit (or `vaBits`) table mapping `iova` to PA, its CD rewritten with `over`. */
async function withCd(profile: Profile, iova: number, vaBits: number, over: (root: number) => Partial<CdFields>): Promise<Machine> {
  const m = await stage1(profile);
  const d = m.driver.createDomain({ asid: 1, vaBits });
  m.driver.map(d, iova, PA, 0x1000);
  m.driver.attach(0x18, d);
  m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd({ asid: 1, ttb0: d.root, t0sz: 64 - vaBits, tg0: 0, ...over(d.root) })));
  m.driver.invalidateCd(0x18);
  return m;
}

describe.each(PROFILES)('%s', (profile) => {
  test('TBI0: a tagged IOVA selects TTB0 and translates as the untagged one; without TBI0 it faults', async () => {
    for (const [tbi, ignored] of [[1, true], [3, true], [0, false], [2, false]] as const) {
      const m = await withCd(profile, 0x10000, 48, () => ({ tbi }));
      expect(m.smmu.translate(0x18, 0x10010).addr).toBe(PA + 0x10);
      for (const tag of TAGS) {
        const r = m.smmu.translate64(0x18, (tag << 56n) | 0x10020n);
        if (ignored) expect([r.status, r.addr64]).toEqual(['success', BigInt(PA + 0x20)]);
        else expect([r.status, r.event]).toEqual(['fault', E.EVT_F_TRANSLATION]);
      }
      // bits [55:48] are translated bits: never ignored
      expect(m.smmu.translate64(0x18, (1n << 52n) | 0x10020n).status).toBe('fault');
    }
  });

  test('TBI0 and TTB1: bits [55:44] all ones select TTB1 whatever the tag with TBI0, only under a tag of all ones without it (QEMU 8.0 and later)', async () => {
    const v72 = profile === 'qemu-7.2';
    for (const tbi of [0, 1]) {
      // T0SZ = 21 (43 bits) and T1SZ = 20 (44 bits) over the same 44-bit table
      const m = await withCd(profile, 0x80000001000, 44, (root) => ({ t0sz: 21, ttb1: root, t1sz: 20, tg1: 2, epd1: false, tbi }));
      for (const tag of TAGS) {
        const high = m.smmu.translate64(0x18, (tag << 56n) | 0x00fff80000001000n);
        const ones = tag === 0xffn;
        // TTB1 is selected when bits [63:44] (or [55:44] with TBI) are all ones (all zeros on 7.2, never here)
        const selected = !v72 && (ones || tbi === 1);
        expect(high.status).toBe(selected ? 'success' : 'fault');
        if (selected) expect(high.addr64).toBe(BigInt(PA));
      }
    }
  });
});
