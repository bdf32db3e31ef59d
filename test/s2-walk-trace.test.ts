// The stage-2 walk as QEMU 10.0's trace records tell it (smmu_ptw_64_s2: smmu_get_pte,
// smmu_ptw_level, smmu_ptw_page_pte / smmu_ptw_block_pte with stage=2, smmu_ptw_invalid_pte
// stage=2): for each granule and start level, a page, a block, and walks ending at an
// invalid descriptor at a middle level and at level 3. The expected records are derived
// here from the stage-2 tables in guest memory (VMSAv8-64 stage 2: the start table found
// from S2TTB, concatenated start tables indexed by the IPA bits above the start level on
// `arch`, the first table on qemu-10.0; index bits per level; output address bits).

import { machine, RAM_BASE, type Machine } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';
import type { Profile } from '../src/types.js';

const OA_BITS = (1n << 48n) - 1n;
const hex = (v: number | bigint): string => '0x' + BigInt(v).toString(16);

function read64(m: Machine, addr: bigint): bigint {
  const b = m.smmu.readMemory(Number(addr), 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/** The trace records of a stage-2 walk of `ipa` in `t`, read from the tables in guest memory. */
function expectedS2Walk(m: Machine, t: Stage2Tables, ipa: number, profile: Profile): string[] {
  const g = BigInt(Math.log2(t.granule));
  const stride = g - 3n;
  const a = BigInt(ipa);
  const out: string[] = [];
  let level = t.startLevel;
  // the concatenated start table holding the IPA (arch); QEMU 10.0 masks its offset away
  const table = profile === 'arch' ? a >> (g + BigInt(3 - level) * stride + stride) : 0n;
  let base = BigInt(t.root) + table * (8n << stride);
  for (; level <= 3; level++) {
    const shift = g + BigInt(3 - level) * stride;
    const offset = ((a & ((1n << BigInt(t.ipaBits)) - 1n)) >> shift) & ((1n << stride) - 1n);
    const pteAddr = base + offset * 8n;
    const pte = read64(m, pteAddr);
    out.push(`smmu_get_pte baseaddr=${hex(base)} index=${hex(offset)}, pteaddr=${hex(pteAddr)}, pte=${hex(pte)}`);
    out.push(`smmu_ptw_level level=${level} iova=${hex(a)} subpage_sz=${hex(1n << shift)} baseaddr=${hex(base)} offset=${offset} => pte=${hex(pte)}`);
    const type = pte & 3n;
    if ((pte & 1n) === 0n || (level === 3 && type === 1n)) {
      out.push(`smmu_ptw_invalid_pte stage=2 level=${level} base@=${hex(base)} pte@=${hex(pteAddr)} offset=${offset} pte=${hex(pte)}`);
      return out;
    }
    if (level < 3 && type === 3n) {
      base = pte & OA_BITS & ~((1n << g) - 1n);
      continue;
    }
    const oa = pte & OA_BITS & ~((1n << shift) - 1n);
    if (level === 3) out.push(`smmu_ptw_page_pte stage=2 level=3 iova=${hex(a)} base@=${hex(base)} pte@=${hex(pteAddr)} pte=${hex(pte)} page address = ${hex(oa)}`);
    else out.push(`smmu_ptw_block_pte stage=2 level=${level} base@=${hex(base)} pte@=${hex(pteAddr)} pte=${hex(pte)} iova=${hex(a)} block address = ${hex(oa)} block size = ${(1n << shift) >> 20n} MiB`);
    return out;
  }
  return out;
}

function walkLines(m: Machine, sid: number, ipa: number): string[] {
  const lines: string[] = [];
  m.smmu.setTrace((l) => { if (/smmu_get_pte|smmu_ptw_/.test(l)) lines.push(l.slice(l.indexOf('smmu_'))); });
  m.smmu.translate(sid, ipa);
  m.smmu.setTrace(undefined);
  return lines;
}

// [granule, S2SL0, IPA bits]: start level 2 - SL0 (4K) or 3 - SL0 (16K, 64K); the 4K 33-bit
// one has 8 concatenated start tables
const configs: Array<[number, number, number]> = [[4096, 1, 39], [4096, 0, 33], [16384, 1, 36], [65536, 1, 42]];

for (const profile of ['qemu-10.0', 'arch'] as const) {
  for (const [granule, sl0, bits] of configs) {
    test(`${profile}: ${granule >> 10}K granule, S2SL0 ${sl0}, ${bits}-bit IPA: pages, blocks and invalid descriptors as the trace records say`, async () => {
      const m = await machine({ profile, stage: '2' });
      const t = new Stage2Tables(m.driver, { vmid: 1, granule, ipaBits: bits, sl0 });
      const g = Math.log2(granule);
      const block = 2 ** (g + (g - 3)); // level 2
      const page = 5 * granule;
      t.map(page, RAM_BASE + 0xa00000, granule);
      t.map(3 * block, 2 * block, block, { level: 2 }); // its output need not be RAM
      m.driver.setSte(0x18, { config: 6, s2: t.steFields() });
      const ipas = [page + 0x18, 3 * block + 0x1234, page + granule, 7 * block + 0x40];
      if (profile === 'arch' && bits === 33) ipas.push(2 ** 32 + page + 0x28); // the fifth start table, no table below
      for (const ipa of ipas) {
        const got = walkLines(m, 0x18, ipa);
        expect(got.length).toBeGreaterThan(2);
        expect(got).toEqual(expectedS2Walk(m, t, ipa, profile));
      }
    });
  }
}
