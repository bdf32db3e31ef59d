// The stage-1 walk as QEMU's trace records tell it (smmu_get_pte, smmu_ptw_level,
// smmu_ptw_page_pte, smmu_ptw_block_pte, smmu_ptw_invalid_pte): for each granule, a page,
// a level-2 block, and walks ending at an invalid descriptor at a middle level and at
// level 3. The expected records are derived here from the page tables in guest memory
// (VMSAv8-64: index bits per level, descriptor addresses, output address bits).

import { machine, RAM_BASE, type Machine } from './helpers.js';
import type { Domain } from '../src/guest/driver.js';

const OA_BITS = (1n << 48n) - 1n;
const hex = (v: number | bigint): string => '0x' + BigInt(v).toString(16);

/** The trace records of a walk of `iova` in `d`, read from the tables in guest memory. */
function expectedWalk(m: Machine, d: Domain, iova: number): string[] {
  const g = Math.log2(d.granule);
  const stride = g - 3;
  const aligned = BigInt(iova) & ~(BigInt(d.granule) - 1n);
  const out: string[] = [];
  let base = BigInt(d.root);
  for (let level = d.startLevel; level <= 3; level++) {
    const shift = BigInt(g + (3 - level) * stride);
    const offset = (aligned >> shift) & ((1n << BigInt(stride)) - 1n);
    const pteAddr = base + offset * 8n;
    const b = m.smmu.readMemory(Number(pteAddr), 8);
    const pte = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    out.push(`smmu_get_pte baseaddr=${hex(base)} index=${hex(offset)}, pteaddr=${hex(pteAddr)}, pte=${hex(pte)}`);
    out.push(`smmu_ptw_level level=${level} iova=${hex(aligned)} subpage_sz=${hex(1n << shift)} baseaddr=${hex(base)} offset=${offset} => pte=${hex(pte)}`);
    const type = pte & 3n;
    if ((pte & 1n) === 0n || (level === 3 && type === 1n)) {
      out.push(`smmu_ptw_invalid_pte stage=1 level=${level} base@=${hex(base)} pte@=${hex(pteAddr)} offset=${offset} pte=${hex(pte)}`);
      return out;
    }
    if (level < 3 && type === 3n) {
      base = pte & OA_BITS & ~((1n << BigInt(g)) - 1n);
      continue;
    }
    const oa = pte & OA_BITS & ~((1n << shift) - 1n);
    if (level === 3) out.push(`smmu_ptw_page_pte stage=1 level=3 iova=${hex(aligned)} base@=${hex(base)} pte@=${hex(pteAddr)} pte=${hex(pte)} page address = ${hex(oa)}`);
    else out.push(`smmu_ptw_block_pte stage=1 level=${level} base@=${hex(base)} pte@=${hex(pteAddr)} pte=${hex(pte)} iova=${hex(aligned)} block address = ${hex(oa)} block size = ${(1n << shift) >> 20n} MiB`);
    return out;
  }
  return out;
}

for (const granule of [0x1000, 0x4000, 0x10000]) {
  test(`granule ${granule >> 10} KiB: pages, level-2 blocks and invalid descriptors at every level, as the trace records say`, async () => {
    const m = await machine();
    const d = m.driver.createDomain({ asid: 1, granule });
    const g = Math.log2(granule);
    const block = 2 ** (g + (g - 3)); // level 2
    const page = 5 * granule;
    m.driver.map(d, page, RAM_BASE + 0xa00000, granule, { blocks: false });
    m.driver.map(d, 3 * block, 2 * block, block); // one level-2 block (its output need not be RAM)
    m.driver.attach(0x18, d);
    const iovas = [page + 0x18, 3 * block + 0x1234, page + granule, 7 * block + 0x40, 0x7f0000000000 + page];
    for (const iova of iovas) {
      const lines: string[] = [];
      m.smmu.setTrace((l) => { if (/smmu_get_pte|smmu_ptw_/.test(l)) lines.push(l.slice(l.indexOf('smmu_'))); });
      m.smmu.translate(0x18, iova);
      m.smmu.setTrace(undefined);
      expect(lines).toEqual(expectedWalk(m, d, iova));
    }
  });
}
