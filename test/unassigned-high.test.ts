// Structures in unassigned memory above 2^31 on a QEMU 10.0 SMMU whose emulator supplies
// the rest of guest memory (as the replayer does for QEMU virt's flash at [0, 128 MiB)):
// the fetch fails with an external abort and QEMU 10.0's architected reaction follows
// (the conformance harness's gaps C, E and F: before the host passed addresses as
// unsigned, such addresses reached the callback negative and read as flash zeros).

import { machine, type Machine } from './helpers.js';
import { field32, field64, mask32 } from '../src/bits.js';
import * as E from '../src/arch/events.js';
import * as R from '../src/arch/registers.js';
import { Stage2Tables } from '../src/guest/stage2.js';

const FLASH_END = 0x8000000;
/** QEMU virt's empty flash below 128 MiB; everything else outside RAM is unassigned. */
const flash = {
  read: (addr: number, dst: Uint8Array): boolean => { if (addr + dst.length > FLASH_END) return false; dst.fill(0); return true; },
  write: (addr: number, src: Uint8Array): boolean => addr + src.length <= FLASH_END,
};

async function m10(): Promise<Machine> {
  return machine({ profile: 'qemu-10.0', stage: '1', memory: flash });
}

test('a CD at 0x85191000 (unassigned) is F_CD_FETCH with its address', async () => {
  const m = await m10();
  m.driver.setSte(0x18, { config: 5, s1ctxptr: 0x85191000 });
  expect(m.smmu.translate(0x18, 0x1000, 'read').event).toBe(E.EVT_F_CD_FETCH);
  expect(m.driver.events().map((e) => [e.type, e.sid, field64(e.words, E.EVT_ADDR)])).toEqual([[E.EVT_F_CD_FETCH, 0x18, 0x85191000n]]);
});

test('an event queue moved to 0x9871d000 (unassigned): records are lost, EVENTQ_PROD stays', async () => {
  const m = await m10();
  m.driver.setSte(0x18, { config: 5, s1ctxptr: 0x85191000 });
  m.smmu.mmioWrite(R.R_EVENTQ_BASE, 8, 0x9871d000n | 8n);
  for (let i = 0; i < 3; i++) m.smmu.translate(0x18, 0x1000, 'read');
  expect(m.smmu.mmioRead(R.R_EVENTQ_PROD + R.SMMU_PAGE1, 4)).toBe(0);
});

test('commands fetched from 0xe8515000 (unassigned) are CERROR_ABT', async () => {
  const m = await m10();
  const cr0 = Number(m.smmu.mmioRead(R.R_CR0, 4));
  m.smmu.mmioWrite(R.R_CR0, 4, cr0 & ~mask32(R.CR0_CMDQEN));
  m.smmu.mmioWrite(R.R_CMDQ_BASE, 8, 0xe8515000n | 5n);
  m.smmu.mmioWrite(R.R_CMDQ_PROD, 4, 0);
  m.smmu.mmioWrite(R.R_CMDQ_CONS, 4, 0);
  m.smmu.mmioWrite(R.R_CR0, 4, cr0);
  m.smmu.mmioWrite(R.R_CMDQ_PROD, 4, 1);
  expect(field32(Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4)), R.CMDQ_CONS_ERR)).toBe(R.CERROR_ABT);
});

test('an S2TTB at 0xc3b40000 (unassigned) is F_WALK_EABT at stage 2, recorded even with S2R = 0', async () => {
  const m = await machine({ profile: 'qemu-10.0', stage: '2', memory: flash });
  const s2 = new Stage2Tables(m.driver, { vmid: 3, ipaBits: 40 });
  m.driver.setSte(0x18, { config: 6, s2: { ...s2.steFields(), ttb: 0xc3b40000, r: false } });
  expect(m.smmu.translate(0x18, 0x1000, 'read').event).toBe(E.EVT_F_WALK_EABT);
  const ev = m.driver.events();
  expect(ev.map((e) => [e.type, e.sid, field64(e.words, E.EVT_S2), field64(e.words, E.EVT_CLASS), field64(e.words, E.EVT_ADDR2)]))
    .toEqual([[E.EVT_F_WALK_EABT, 0x18, 1n, BigInt(E.EVT_CLASS_IN), 0xc3b40000n]]);
});
