// QEMU 7.2's device DMA above its IOMMU region (2^48, SMMU_MAX_VA_BITS): never translated,
// unassigned memory in naturally aligned pieces of at most 4 bytes; a read gives zeros
// whatever the engine's DMA buffer held before (the bytes of an earlier read), and
// every byte counts as failed. QEMU 10.0 translates the same IOVAs (a fault per piece).

import { machine, fillPattern, RAM_BASE } from './helpers.js';

const TWO48 = 1n << 48n;

test('qemu-7.2: a read at or above 2^48 gives zeros, not what the DMA buffer held; nothing is translated', async () => {
  const m = await machine({ profile: 'qemu-7.2' });
  m.driver.setSte(0x18, { config: 4 }); // bypass: below 2^48 everything would pass
  for (const [iova, len] of [[TWO48, 16], [TWO48 + 3n, 9], [0xfffffffffffff000n, 13]] as Array<[bigint, number]>) {
    expect(m.smmu.dma64(0x18, iova, 'write', new Uint8Array(len).fill(0xee))).toBe(len); // dropped: every byte failed
    const pattern = fillPattern(m.smmu, RAM_BASE, len, 9);
    const seen = new Uint8Array(len);
    expect(m.smmu.dma(0x18, RAM_BASE, 'read', seen)).toBe(0); // leaves the pattern in the DMA buffer
    expect(seen).toEqual(pattern);
    const buf = new Uint8Array(len).fill(0x5a);
    const t0 = m.smmu.stats().translations;
    expect(m.smmu.dma64(0x18, iova, 'read', buf)).toBe(len);
    expect(m.smmu.stats().translations).toBe(t0);
    expect(buf).toEqual(new Uint8Array(len));
  }
});

test('qemu-10.0: the same IOVAs are translated (STE bypass passes them to unassigned memory: zeros, none failed)', async () => {
  const m = await machine({ profile: 'qemu-10.0', stage: '1' });
  m.driver.setSte(0x18, { config: 4 });
  m.smmu.dma64(0x18, TWO48, 'write', new Uint8Array(16).fill(0xee));
  const buf = new Uint8Array(16).fill(0x5a);
  const t0 = m.smmu.stats().translations;
  expect(m.smmu.dma64(0x18, TWO48, 'read', buf)).toBe(0);
  expect(m.smmu.stats().translations - t0).toBe(4); // one per 4-byte piece of unassigned memory
  expect(buf).toEqual(new Uint8Array(16));
});
