// Which IOVAs a stage-1 context translates, and through which table, per profile: QEMU 7.2
// gives each device an IOMMU region of 2^48 bytes (higher IOVAs never reach the SMMU) and
// selects TTB1 for top bits all zero; QEMU 8.0 and later (so the qemu-10.0 profile) and the
// architecture translate every 64-bit IOVA and select TTB1 for top bits all ones.
// Shrunk conformance traces of both differences are in test/traces/regress/ (q10-*).

import { machine, RAM_BASE, fillPattern, type Machine } from './helpers.js';
import { field64 } from '../src/bits.js';
import { cd, wordsToBytes } from '../src/guest/encode.js';
import type { Profile } from '../src/types.js';
import * as E from '../src/arch/events.js';

const PA = RAM_BASE + 0x900000;
const TWO48 = 1n << 48n;
const PROFILES: Profile[] = ['qemu-7.2', 'qemu-10.0', 'arch'];

async function stage1(profile: Profile): Promise<Machine> {
  return profile === 'qemu-7.2' ? machine({ profile }) : machine({ profile, stage: '1' });
}

describe('IOVAs at or above 2^48', () => {
  for (const profile of PROFILES) {
    test(`${profile}: a DMA running from below 2^48 past it ${profile === 'qemu-7.2' ? 'is not translated above it' : 'is translated all along'}`, async () => {
      const m = await stage1(profile);
      const d = m.driver.createDomain({ asid: 1 });
      m.driver.map(d, 0xfffffffff000, PA, 0x1000);
      m.driver.attach(0x18, d);
      const want = fillPattern(m.smmu, PA + 0xff8, 8, 3);
      const buf = new Uint8Array(16);
      expect(m.smmu.dma64(0x18, TWO48 - 8n, 'read', buf)).toBe(8);
      expect(Buffer.from(buf.subarray(0, 8))).toEqual(Buffer.from(want));
      expect(Buffer.from(buf.subarray(8))).toEqual(Buffer.alloc(8));
      const ev = m.driver.events();
      if (profile === 'qemu-7.2') {
        expect(ev).toEqual([]);
      } else {
        // T0SZ = 16 leaves 2^48 outside TTB0's range: a translation fault per 4-byte piece
        expect(ev.map((e) => [e.type, e.sid, field64(e.words, E.EVT_ADDR)])).toEqual([
          [E.EVT_F_TRANSLATION, 0x18, TWO48], [E.EVT_F_TRANSLATION, 0x18, TWO48 + 4n],
        ]);
      }
    });
  }

  test('qemu-10.0: an IOVA far above 2^48 is looked up in the stream table (C_BAD_STE for an invalid STE)', async () => {
    const m = await stage1('qemu-10.0');
    m.driver.setSte(0x20, { config: 4, valid: false });
    expect(m.smmu.dma64(0x20, 0xd3700000437941b0n, 'read', new Uint8Array(4))).toBe(4);
    expect(m.driver.events().map((e) => [e.type, e.sid])).toEqual([[E.EVT_C_BAD_STE, 0x20]]);
  });
});

describe('TTB1 selection', () => {
  /**
   * A 44-bit table (T0SZ 20 layout) used as both TTB0 with T0SZ = 21 and TTB1 with T1SZ = 20:
   * 0x80000001000 (bit 43 set) is in the gap above TTB0's range; its sign-extended form
   * 0xfffff80000001000 is in TTB1's range on the architecture.
   */
  async function twoRanges(profile: Profile): Promise<Machine> {
    const m = await stage1(profile);
    const d = m.driver.createDomain({ asid: 1, vaBits: 44 });
    m.driver.map(d, 0x80000001000, PA, 0x1000);
    m.driver.attach(0x18, d);
    // tg1 = 2: the 4K granule in TG1's encoding
    const cdOver = { asid: 1, ttb0: d.root, t0sz: 21, tg0: 0, ttb1: d.root, t1sz: 20, tg1: 2, epd1: false };
    m.smmu.writeMemory(d.cdAddr, wordsToBytes(cd(cdOver)));
    m.driver.invalidateCd(0x18);
    return m;
  }

  for (const profile of PROFILES) {
    const v72 = profile === 'qemu-7.2';
    test(`${profile}: TTB1 covers IOVAs whose top bits are all ${v72 ? 'zeros (QEMU 7.2)' : 'ones'}`, async () => {
      const m = await twoRanges(profile);
      const gap = m.smmu.translate(0x18, 0x80000001000, 'read');
      const high = m.smmu.translate64(0x18, 0xfffff80000001000n, 'read');
      const [hit, miss] = v72 ? [gap, high] : [high, gap];
      expect(hit.status).toBe('success');
      expect(hit.addr).toBe(PA);
      expect(miss.status).toBe('fault');
      expect(miss.event).toBe(E.EVT_F_TRANSLATION);
    });
  }
});
