// The qtest driver: QEMU 7.2 (TCG, WFI-loop kernel, icount) with edu DMA engines,
// driven synchronously over qtest; and the guest driver programming QEMU's SMMU and
// the model the same way.

import { createHash } from 'node:crypto';
import { QemuMachine, RAM_BASE, EDU_MAX_LEN } from '../src/qtest/machine.js';
import { QtestProcess, QtestError } from '../src/qtest/qtest.js';
import { qemuTest } from './helpers.js';
import { createSmmu } from '../src/index.js';
import { GuestDriver, type GuestBus } from '../src/guest/driver.js';
import * as R from '../src/arch/registers.js';

const qtest = qemuTest('qtest.test');

const DEVICES = [0x18, 0x20];

qtest('QEMU starts with the SMMU and edu devices, registers read as QEMU 7.2 resets them', async () => {
  const m = await QemuMachine.start({ devices: DEVICES });
  try {
    expect(m.pid).toBeGreaterThan(0);
    expect(m.mmioRead(R.R_IDR0, 4)).toBe(0x0d40101a);
    expect(m.mmioRead(R.R_AIDR, 4)).toBe(1);
    expect(m.mmioRead(R.R_EVENTQ_BASE, 8)).toBe(19n); // LOG2SIZE = SMMU_EVENTQS
    expect(m.mmioRead(R.R_EVENTQ_BASE + R.SMMU_PAGE1, 8)).toBe(19n); // page 1 aliases page 0
  } finally {
    await m.close();
  }
});

qtest('guest memory: sized reads and writes, bulk fills and reads, digests, unassigned memory', async () => {
  const m = await QemuMachine.start({ devices: DEVICES });
  try {
    const a = RAM_BASE + 0x200000;
    m.write(a, 8, 0x1122334455667788n);
    m.write(a + 8, 1, 0xabn);
    m.write(a + 10, 2, 0xcdefn);
    m.write(a + 12, 4, 0x01020304n);
    expect(m.read(a, 8)).toBe(0x1122334455667788n);
    expect(m.read(a + 8, 8)).toBe(0x01020304cdef00abn);
    const data = new Uint8Array(70000).map((_, i) => (i * 7 + 3) & 0xff);
    m.writeMemory(a + 0x1000, data);
    m.writeMemory(a + 0x30000, Uint8Array.of(9, 8)); // shorter than b64write takes
    expect(Buffer.from(m.readMemory(a + 0x1000, data.length))).toEqual(Buffer.from(data));
    expect(m.read(a + 0x30000, 2)).toBe(0x0809n);
    expect(m.digest(a + 0x1000, data.length)).toBe(createHash('sha256').update(data).digest('hex'));
    // nothing above RAM (highmem=off): writes are dropped, reads return 0
    m.write(0x50000000, 8, 0xffn);
    expect(m.read(0x50000000, 8)).toBe(0n);
  } finally {
    await m.close();
  }
});

qtest('edu DMA copies through the SMMU (disabled: bypass) and refuses lengths it cannot do', async () => {
  const m = await QemuMachine.start({ devices: DEVICES });
  try {
    const src = RAM_BASE + 0x400000;
    const dst = RAM_BASE + 0x500000;
    const data = new Uint8Array(EDU_MAX_LEN).map((_, i) => (i * 13) & 0xff);
    m.writeMemory(src, data);
    m.dma(0x20, BigInt(src), BigInt(dst), EDU_MAX_LEN);
    expect(Buffer.from(m.readMemory(dst, EDU_MAX_LEN))).toEqual(Buffer.from(data));
    expect(m.dmas).toBe(1);
    // at or above 2^48 a DMA address is outside the device's IOMMU region: nothing arrives
    m.dma(0x18, BigInt(src), (1n << 48n) + BigInt(dst + 0x10000), 16);
    expect(m.read(dst + 0x10000, 8)).toBe(0n);
    expect(() => m.dma(0x18, 0n, 0n, 0)).toThrow(RangeError);
    expect(() => m.dma(0x18, 0n, 0n, 4096)).toThrow(RangeError);
    expect(() => m.dma(0x28, 0n, 0n, 4)).toThrow(/no DMA engine/);
  } finally {
    await m.close();
  }
});

qtest('a QEMU that cannot start is reported with what it said', async () => {
  await expect(QtestProcess.spawn({ args: ['-machine', 'no-such-machine'] })).rejects.toThrow(QtestError);
  await expect(QtestProcess.spawn({ args: ['-machine', 'no-such-machine'] })).rejects.toThrow(/unsupported machine type/);
});

qtest('the guest driver programs QEMU and the model alike: same registers, events and memory', async () => {
  const m = await QemuMachine.start({ devices: DEVICES });
  const model = await createSmmu({ ram: [{ base: RAM_BASE, size: 0x10000000 }], devices: DEVICES });
  const heap = { base: RAM_BASE + 0x1000000, size: 0x800000 };
  const observe = (bus: GuestBus & { dma(sid: number, src: bigint, dst: bigint, len: number): void }) => {
    const d = new GuestDriver(bus, { heap, strtab: { log2size: 8, split: 6 }, cmdqLog2: 3, evtqLog2: 4 });
    d.init();
    const dom = d.createDomain({ asid: 5, granule: 16384, vaBits: 36 });
    d.map(dom, 0x10000000, RAM_BASE + 0x2000000, 0x8000);
    d.attach(0x18, dom);
    bus.writeMemory(RAM_BASE + 0x2000000, new Uint8Array(64).fill(0x5a));
    bus.dma(0x18, 0x10000000n, 0x10004000n, 64); // inside the mapping
    bus.dma(0x18, 0x10000000n, 0x20000000n, 8); // unmapped destination: two F_TRANSLATION events
    const events = d.events().map((e) => [e.type, e.sid, e.words[2]]);
    return {
      cr0ack: Number(bus.mmioRead(R.R_CR0ACK, 4)),
      cons: Number(bus.mmioRead(R.R_CMDQ_CONS, 4)),
      gerror: Number(bus.mmioRead(R.R_GERROR, 4)),
      events,
      copied: Buffer.from(bus.readMemory(RAM_BASE + 0x2004000, 64)).toString('hex'),
    };
  };
  try {
    const modelBus = Object.assign(model, {
      dma: (sid: number, src: bigint, dst: bigint, len: number) => {
        const b = new Uint8Array(len);
        model.dma64(sid, src, 'read', b);
        model.dma64(sid, dst, 'write', b);
      },
    });
    const onQemu = observe(m);
    const onModel = observe(modelBus);
    expect(onQemu.events.length).toBe(2);
    expect(onQemu.copied).toBe('5a'.repeat(64));
    expect(onModel).toEqual(onQemu);
  } finally {
    await m.close();
    model.dispose();
  }
});
