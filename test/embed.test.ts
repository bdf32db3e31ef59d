// The embedding example (examples/emulator.mjs) runs as a user would run it and does what
// its comments say: DMA through the vSMMU, a fault after unmap raising the wired event
// interrupt, CMD_SYNC's interrupt, and a passthrough device's STE, TLBI and event
// crossing the vIOMMU path.

import { execFileSync } from 'node:child_process';

interface EmulatorResult {
  steps: number;
  log: string[];
  irqs: Record<string, number>;
  events: Array<{ type: number; sid: number; addr: string }>;
  stats: { commands: number; syncs: number; forwarded: number; filtered: number };
  psmmu: { steInstalls: number; entries: number; faults: number };
}

test('examples/emulator.mjs: an emulator loop embedding the vSMMU', () => {
  const file = new URL('../../examples/emulator.mjs', import.meta.url).pathname;
  const r = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' })) as EmulatorResult;
  expect(r.log[0]).toMatch(/MSI=0/); // QEMU 7.2: no MSI, wired lines only
  expect(r.log[1]).toBe('copy 1: status 1, DST reads "hello from the guest, via the SMMU"');
  expect(r.log[2]).toBe('copy 2 after unmap: status 2 (2 = fault)');
  expect(r.log[3]).toBe('passthrough DMA at IOVA 0x20000010 -> PA 0x40a00010 (ok=true)');
  expect(r.log[4]).toBe('passthrough DMA after unmap: ok=false');
  expect(r.irqs['cmd-sync']).toBe(1);
  expect(r.irqs.gerror).toBe(0);
  expect(r.irqs.eventq).toBeGreaterThan(0);
  // the emulated device's write faulted in 4-byte pieces (QEMU's DMA), at the unmapped IOVA
  const emu = r.events.filter((e) => e.sid === 0x08);
  expect(emu.length).toBe(Math.ceil(34 / 4));
  expect(emu.every((e) => e.type === 0x10)).toBe(true);
  expect(emu[0].addr).toBe('0x10001000');
  // the passthrough fault came back from the pSMMU with the virtual StreamID
  expect(r.events.filter((e) => e.sid === 0x10)).toEqual([{ type: 0x10, sid: 0x10, addr: '0x20000010' }]);
  expect(r.psmmu.steInstalls).toBeGreaterThan(0);
  expect(r.psmmu.entries).toBeGreaterThan(r.psmmu.steInstalls); // the TLBI reached it too
  expect(r.stats.forwarded).toBeGreaterThan(0);
});
