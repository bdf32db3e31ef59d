// Every register of the QEMU 7.2 register file through the public API: reset value,
// what a write keeps (write mask), 32-bit halves of 64-bit registers, page-1 aliases,
// unimplemented offsets, access sizes, and the side effects of CR0, GERRORN, CMDQ_PROD.

import { createSmmu, type Smmu } from '../src/index.js';
import * as R from '../src/arch/registers.js';
import * as C from '../src/arch/commands.js';

async function dev(profile: 'qemu-7.2' | 'arch' = 'qemu-7.2'): Promise<Smmu> {
  return createSmmu({ profile, ram: [{ base: 0x40000000, size: 0x100000 }] });
}

const r32 = (s: Smmu, o: number) => s.mmioRead(o, 4);
const r64 = (s: Smmu, o: number) => s.mmioRead(o, 8);

// QEMU 7.2 reset values (hw/arm/smmuv3.c smmuv3_init_regs), as recorded in regs-reset.jsonl
const RESET: Array<[number, number]> = [
  [R.R_IDR0, 0x0d40101a], [R.R_IDR1, 0x02730010], [R.R_IDR2, 0], [R.R_IDR3, 0x1404], [R.R_IDR4, 0], [R.R_IDR5, 0x74],
  [R.R_IIDR, 0], [R.R_AIDR, 1], [R.R_CR0, 0], [R.R_CR0ACK, 0], [R.R_CR1, 0], [R.R_CR2, 0], [R.R_STATUSR, 0],
  [R.R_GBPA, 0], [R.R_IRQ_CTRL, 0], [R.R_IRQ_CTRLACK, 0], [R.R_GERROR, 0], [R.R_GERRORN, 0],
  [R.R_GERROR_IRQ_CFG0, 0], [R.R_GERROR_IRQ_CFG0 + 4, 0], [R.R_GERROR_IRQ_CFG1, 0], [R.R_GERROR_IRQ_CFG2, 0],
  [R.R_STRTAB_BASE, 0], [R.R_STRTAB_BASE + 4, 0], [R.R_STRTAB_BASE_CFG, 0],
  [R.R_CMDQ_BASE, 0x13], [R.R_CMDQ_BASE + 4, 0], [R.R_CMDQ_PROD, 0], [R.R_CMDQ_CONS, 0],
  [R.R_EVENTQ_BASE, 0x13], [R.R_EVENTQ_BASE + 4, 0], [R.R_EVENTQ_PROD, 0], [R.R_EVENTQ_CONS, 0],
  [R.R_EVENTQ_IRQ_CFG0, 0], [R.R_EVENTQ_IRQ_CFG1, 0], [R.R_EVENTQ_IRQ_CFG2, 0],
  [R.R_PRIQ_BASE, 0], [R.R_PRIQ_PROD, 0], [R.R_PRIQ_CONS, 0],
];

test('reset values of every register, on page 0 and its page-1 alias', async () => {
  const s = await dev();
  for (const [off, v] of RESET) {
    expect([off, r32(s, off)]).toEqual([off, v]);
    expect([off, r32(s, off + R.SMMU_PAGE1)]).toEqual([off, v]);
  }
  expect(r64(s, R.R_CMDQ_BASE)).toBe(0x13n);
  expect(r64(s, R.R_EVENTQ_BASE)).toBe(0x13n);
  expect(r64(s, R.R_STRTAB_BASE)).toBe(0n);
});

test('CoreLink ID registers at 0xfd0 are an MMU-600 (QEMU smmuv3_ids)', async () => {
  const s = await dev();
  const ids = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1];
  ids.forEach((v, i) => expect(r32(s, R.R_IDREGS + i * 4)).toBe(v));
});

test('plain read/write registers keep every bit written', async () => {
  const s = await dev();
  for (const off of [R.R_CR1, R.R_CR2, R.R_IRQ_CTRL, R.R_GERROR_IRQ_CFG1, R.R_GERROR_IRQ_CFG2, R.R_STRTAB_BASE_CFG, R.R_EVENTQ_PROD, R.R_EVENTQ_CONS, R.R_CMDQ_CONS]) {
    for (const v of [0xffffffff, 0x5a5a5a5a, 0]) {
      s.mmioWrite(off, 4, v);
      expect([off, r32(s, off)]).toEqual([off, v]);
    }
  }
  // IRQ_CTRLACK mirrors IRQ_CTRL immediately
  s.mmioWrite(R.R_IRQ_CTRL, 4, 0x5);
  expect(r32(s, R.R_IRQ_CTRLACK)).toBe(0x5);
});

test('CR0 keeps what is written and CR0ACK acknowledges the implemented bits (~0xfffffc20)', async () => {
  const s = await dev();
  s.mmioWrite(R.R_CR0, 4, 0xfffffffe);
  expect(r32(s, R.R_CR0)).toBe(0xfffffffe);
  expect(r32(s, R.R_CR0ACK)).toBe(0x3de);
  s.mmioWrite(R.R_CR0, 4, 0x91b7584a);
  expect(r32(s, R.R_CR0ACK)).toBe(0x4a);
});

test('64-bit registers: 8-byte accesses and 32-bit halves; queue bases keep all bits', async () => {
  const s = await dev();
  for (const off of [R.R_GERROR_IRQ_CFG0, R.R_STRTAB_BASE, R.R_CMDQ_BASE, R.R_EVENTQ_BASE]) {
    s.mmioWrite(off, 8, 0xc2ce6f441e2feb89n);
    expect([off, r64(s, off)]).toEqual([off, 0xc2ce6f441e2feb89n]);
    expect(r32(s, off)).toBe(0x1e2feb89);
    expect(r32(s, off + 4)).toBe(0xc2ce6f44);
    s.mmioWrite(off + 4, 4, 0x12345678);
    s.mmioWrite(off, 4, 0x9abcdef0);
    expect(r64(s, off)).toBe(0x123456789abcdef0n);
  }
  // EVENTQ_IRQ_CFG0..2 are written but read as zero in QEMU 7.2 (missing from smmu_readl)
  s.mmioWrite(R.R_EVENTQ_IRQ_CFG0, 8, 0x1234n);
  s.mmioWrite(R.R_EVENTQ_IRQ_CFG1, 4, 0x55);
  expect(r64(s, R.R_EVENTQ_IRQ_CFG0)).toBe(0n);
  expect(r32(s, R.R_EVENTQ_IRQ_CFG1)).toBe(0);
});

test('read-only and unimplemented registers ignore writes; wrong sizes read zero', async () => {
  const s = await dev();
  for (const off of [R.R_IDR0, R.R_IDR1, R.R_IDR5, R.R_AIDR, R.R_CR0ACK, R.R_STATUSR, R.R_GBPA, R.R_GERROR, R.R_IRQ_CTRLACK, R.R_PRIQ_BASE, 0x300, 0xe00]) {
    const before = r32(s, off);
    s.mmioWrite(off, 4, 0xffffffff);
    expect([off, r32(s, off)]).toEqual([off, before]);
  }
  // 8-byte access to a 32-bit register: RAZ/WI; 4-byte halves of 64-bit ones work (above)
  s.mmioWrite(R.R_CR1, 8, 0xffffn);
  expect(r32(s, R.R_CR1)).toBe(0);
  expect(r64(s, R.R_CR1)).toBe(0n);
  // sizes QEMU rejects (1, 2, misaligned): read zero, writes ignored, counted
  s.mmioWrite(R.R_CR2, 4, 0x77);
  expect(s.mmioRead(R.R_CR2, 1)).toBe(0);
  s.mmioWrite(R.R_CR2, 2, 0x1);
  s.mmioWrite(R.R_CR2 + 1, 4, 0x1);
  expect(r32(s, R.R_CR2)).toBe(0x77);
  expect(s.decodeErrors).toBe(3);
});

test('host misuse gets a clear error naming the bad argument', async () => {
  const s = await dev();
  expect(() => s.mmioRead(0x20000, 4)).toThrow(/offset/);
  expect(() => s.mmioRead(-4, 4)).toThrow(/offset/);
  expect(() => s.mmioRead(0, 3)).toThrow(/size/);
  expect(() => s.mmioWrite(0x20, 4, 2 ** 32)).toThrow(/value/);
  expect(() => s.mmioWrite(0x20, 4, 1.5)).toThrow(/value/);
  expect(() => s.mmioWrite(0x20, 4, 'x' as unknown as number)).toThrow(/value/);
  expect(() => s.translate(0x18, -1)).toThrow(/iova/);
  expect(() => s.translate(0x18, 0, 'exec' as 'read')).toThrow(/access/);
  expect(() => s.dma(0x18, 0, 'sideways' as 'read', new Uint8Array(4))).toThrow(/direction/);
  await expect(createSmmu({ profile: 'qemu-9' as 'qemu-7.2' })).rejects.toThrow(/profile/);
  await expect(createSmmu({ ram: [{ base: 0, size: 0x1000 }, { base: 0x800, size: 0x1000 }] })).rejects.toThrow(/RAM/);
});

test('queue base LOG2SIZE is capped at 19 (IDR1.CMDQS/EVENTQS) for the queue, not in the register', async () => {
  const s = await dev();
  s.mmioWrite(R.R_CMDQ_BASE, 8, 0x4000001fn);
  expect(r64(s, R.R_CMDQ_BASE)).toBe(0x4000001fn);
  // the queue itself has 2^19 entries: a ring of CMD_SYNCs, and past its end (entry 2^19,
  // which a 2^31-entry queue would read) a zero entry, an illegal command
  const q = await createSmmu({ ram: [{ base: 0x40000000, size: 0x1000000 }] });
  const ring = new Uint8Array(16 << 19);
  for (let i = 0; i < ring.length; i += 16) ring[i] = C.CMD_SYNC;
  q.writeMemory(0x40000000, ring);
  q.mmioWrite(R.R_CMDQ_BASE, 8, 0x40000000n | 31n);
  expect(r64(q, R.R_CMDQ_BASE)).toBe(0x4000001fn);
  q.mmioWrite(R.R_CR0, 4, 8); // CMDQEN
  q.mmioWrite(R.R_CMDQ_PROD, 4, (1 << 19) | 1); // wrap bit of a 2^19-entry queue, index 1: a full turn and one more
  expect(r32(q, R.R_CMDQ_CONS)).toBe((1 << 19) | 1);
  expect(r32(q, R.R_GERROR)).toBe(0);
  expect(q.stats().syncs).toBe((1 << 19) + 1);
});

test('STRTAB_BASE_CFG: FMT=1 selects the 2-level table and SPLIT, and QEMU 7.2 never goes back to linear', async () => {
  const s = await createSmmu({ ram: [{ base: 0x40000000, size: 0x100000 }], devices: [0x18] });
  s.mmioWrite(R.R_STRTAB_BASE, 8, 0x40000000n);
  s.mmioWrite(R.R_STRTAB_BASE_CFG, 4, (1 << 16) | (6 << 6) | 8); // 2-level, split 6
  expect(r32(s, R.R_STRTAB_BASE_CFG)).toBe((1 << 16) | (6 << 6) | 8);
  s.mmioWrite(R.R_STRTAB_BASE_CFG, 4, 8); // back to linear: the register says so...
  s.mmioWrite(R.R_CR0, 4, 1);
  // ...but lookups stay 2-level: L1 descriptor 0 (zero, span 0) gives C_BAD_STREAMID, not a linear STE fetch
  const r = s.translate(0x18, 0x1000);
  expect(r.status).toBe('fault');
  expect(r.event).toBe(0x02);
});

test('GERRORN acknowledges; toggling bits that are not pending is accepted (CONSTRAINED UNPREDICTABLE)', async () => {
  const s = await dev();
  s.mmioWrite(R.R_GERRORN, 4, 0x5);
  expect(r32(s, R.R_GERRORN)).toBe(0x5);
  expect(r32(s, R.R_GERROR)).toBe(0);
});

test('device reset: registers back to reset values, CR1/CR2/STRTAB_BASE kept (QEMU smmu_reset)', async () => {
  const s = await dev();
  s.mmioWrite(R.R_CR1, 4, 0xd75);
  s.mmioWrite(R.R_STRTAB_BASE, 8, 0x40001000n);
  s.mmioWrite(R.R_CMDQ_BASE, 8, 0x40002005n);
  s.mmioWrite(R.R_CR0, 4, 0xd);
  s.mmioWrite(R.R_IRQ_CTRL, 4, 5);
  s.reset();
  expect(r32(s, R.R_CR0)).toBe(0);
  expect(r32(s, R.R_IRQ_CTRL)).toBe(0);
  expect(r32(s, R.R_CR1)).toBe(0xd75);
  expect(r64(s, R.R_STRTAB_BASE)).toBe(0x40001000n);
  expect(r64(s, R.R_CMDQ_BASE)).toBe(0x40002013n); // LOG2SIZE field reset to 19, address kept
});

test('arch profile: GBPA with its Update handshake', async () => {
  const s = await dev('arch');
  expect(r32(s, R.R_GBPA)).toBe(0x1000);
  s.mmioWrite(R.R_GBPA, 4, 1 << 20); // without Update: ignored
  expect(r32(s, R.R_GBPA)).toBe(0x1000);
  s.mmioWrite(R.R_GBPA, 4, (1 << 31) | (1 << 20));
  expect(r32(s, R.R_GBPA)).toBe(1 << 20); // Update reads 0: done
});
