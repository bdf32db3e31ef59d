// Hostile or broken guest input: arbitrary register writes, arbitrary bytes in the
// queues, stream table, CDs and page tables. The model must answer with the
// architected reactions only: no exception, no hang, no memory growth.

import fc from 'fast-check';
import { createSmmu, type Smmu } from '../src/index.js';
import * as R from '../src/arch/registers.js';
import { rng } from '../src/topo/explore.js';

const RAM = 0x40000000;
const SIZE = 0x40000;
const OFFSETS = [
  R.R_CR0, R.R_CR1, R.R_CR2, R.R_GBPA, R.R_IRQ_CTRL, R.R_GERRORN, R.R_GERROR_IRQ_CFG0, R.R_STRTAB_BASE, R.R_STRTAB_BASE + 4,
  R.R_STRTAB_BASE_CFG, R.R_CMDQ_BASE, R.R_CMDQ_BASE + 4, R.R_CMDQ_PROD, R.R_CMDQ_CONS, R.R_EVENTQ_BASE, R.R_EVENTQ_PROD,
  R.R_EVENTQ_CONS, R.R_EVENTQ_IRQ_CFG0, 0x100, 0xfd0,
];

// Register values that point into RAM often (so structures are found) but not always.
const arbAddrValue = fc.oneof(
  fc.integer({ min: 0, max: SIZE - 1 }).map((o) => BigInt(RAM + o) | BigInt(o & 0x1f)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

const arbOp = fc.oneof(
  fc.record({ k: fc.constant('w32' as const), off: fc.constantFrom(...OFFSETS), v: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ k: fc.constant('w64' as const), off: fc.constantFrom(R.R_STRTAB_BASE, R.R_CMDQ_BASE, R.R_EVENTQ_BASE), v: arbAddrValue }),
  fc.record({ k: fc.constant('mem' as const), off: fc.integer({ min: 0, max: SIZE - 64 }), bytes: fc.uint8Array({ minLength: 8, maxLength: 64 }) }),
  fc.record({ k: fc.constant('xlate' as const), sid: fc.constantFrom(0, 0x18, 0x20, 0xffff, 0x10000, 0xffffffff), iova: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), write: fc.boolean() }),
  fc.record({ k: fc.constant('dma' as const), sid: fc.constantFrom(0x18, 0x20), iova: fc.integer({ min: 0, max: 2 ** 40 }), len: fc.integer({ min: 0, max: 9000 }), write: fc.boolean() }),
  fc.record({ k: fc.constant('cons' as const) }),
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function apply(s: Smmu, op: any): void {
  switch (op.k) {
    case 'w32': s.mmioWrite(op.off, 4, op.v); break;
    case 'w64': s.mmioWrite(op.off, 8, op.v); break;
    case 'mem': s.writeMemory(RAM + op.off, op.bytes); break;
    case 'xlate': s.translate64(op.sid, op.iova, op.write ? 'write' : 'read'); break;
    case 'dma': s.dma(op.sid, op.iova, op.write ? 'write' : 'read', new Uint8Array(op.len)); break;
    case 'cons': s.mmioWrite(R.R_CMDQ_PROD, 4, Number(s.mmioRead(R.R_CMDQ_PROD, 4))); break;
  }
}

test('arbitrary register writes, memory bytes, translations and DMA never throw, hang or grow memory', async () => {
  for (const profile of ['qemu-7.2', 'arch'] as const) {
    const s = await createSmmu({ profile, ram: [{ base: RAM, size: SIZE }], devices: [0x18, 0x20] });
    // warm up the lazily allocated parts once
    s.translate(0x18, 0);
    const memBefore = s.wasmMemoryBytes;
    await fc.assert(fc.asyncProperty(fc.array(arbOp, { maxLength: 60 }), async (ops) => {
      s.reset();
      for (const op of ops) apply(s, op);
    }), { numRuns: Number(process.env.VSMMU_PROPERTY_RUNS ?? 300) });
    expect(s.wasmMemoryBytes).toBe(memBefore);
  }
});

test('random bytes in every guest structure of a running configuration', async () => {
  const s = await createSmmu({ ram: [{ base: RAM, size: SIZE }], devices: [0x18, 0x20] });
  await fc.assert(fc.asyncProperty(fc.integer(), fc.integer({ min: 0, max: 0xffff }), async (seed, prod) => {
    const next = rng(seed);
    const words = new Uint32Array(SIZE / 4);
    for (let i = 0; i < words.length; i++) words[i] = next() * 2 ** 32;
    const junk = new Uint8Array(words.buffer);
    s.reset();
    s.writeMemory(RAM, junk);
    s.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(RAM));
    s.mmioWrite(R.R_STRTAB_BASE_CFG, 4, junk[0] | (junk[1] << 8) | ((junk[2] & 1) << 16));
    s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(RAM + 0x10000) | 12n);
    s.mmioWrite(R.R_EVENTQ_BASE, 8, BigInt(RAM + 0x30000) | 5n);
    s.mmioWrite(R.R_CR0, 4, 0xd);
    s.mmioWrite(R.R_CMDQ_PROD, 4, prod & 0x1fff);
    // consumption stops only at PROD or at a command error (GERROR.CMDQ_ERR pending, CONS.ERR naming it)
    const cons = Number(s.mmioRead(R.R_CMDQ_CONS, 4));
    const stopped = ((Number(s.mmioRead(R.R_GERROR, 4)) ^ Number(s.mmioRead(R.R_GERRORN, 4))) & 1) !== 0;
    if (stopped) expect([R.CERROR_ILL, R.CERROR_ABT]).toContain((cons >>> 24) & 0x7f);
    else expect(cons & 0x1fff).toBe(prod & 0x1fff);
    for (let i = 0; i < 32; i++) s.translate(i & 1 ? 0x18 : 0x20, (junk[i + 3] << 20) | (i << 12), i & 2 ? 'write' : 'read');
  }), { numRuns: 60 });
});
