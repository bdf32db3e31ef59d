// The machine the scripts/*-scenarios.mjs generators write their operations on: a QEMU 10.0
// vSMMU with the recording machine's RAM and devices, the virt flash at 0 (src/virt.ts, as
// the replayer has it), a trace recorder and a guest driver on top. Needs `npm run build`.
import { writeFileSync } from 'node:fs';

const V = new URL('../dist/src/', import.meta.url).href;
export const { createSmmu } = await import(V + 'smmu.js');
export const { GuestDriver } = await import(V + 'guest/driver.js');
export const { Stage2Tables } = await import(V + 'guest/stage2.js');
export const { TraceRecorder } = await import(V + 'guest/recorder.js');
const { virtMachineMemory } = await import(V + 'virt.js');
export const enc = await import(V + 'guest/encode.js');
export const R = await import(V + 'arch/registers.js');
export const RAM = 0x40000000;

/** A recorded QEMU 10.0 machine with `stage`; `before(rec)` runs before the driver's init. */
export async function qemu10Machine(stage, heapSize, before = () => {}) {
  const smmu = await createSmmu({ profile: 'qemu-10.0', stage, ram: [{ base: RAM, size: 0x10000000 }], devices: [0x18, 0x20, 0x28, 0x30], memory: virtMachineMemory() });
  const rec = new TraceRecorder(smmu);
  before(rec);
  const drv = new GuestDriver(rec, { heap: { base: RAM + 0x100000, size: heapSize } });
  drv.init();
  return { smmu, rec, drv };
}

/** Writes trace lines (header first) as JSON Lines to the script's argument or `fallback`. */
export function writeTrace(lines, fallback) {
  writeFileSync(process.argv[2] ?? fallback, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

/** Address of the 4 KiB-granule stage-1 table of domain `d` that holds `iova`'s descriptor at `level` (table descriptors followed from the root). */
export function s1Table(drv, d, iova, level) {
  let t = d.root;
  for (let l = d.startLevel; l < level; l++) t = Number(drv.read64(t + (Math.floor(iova / 2 ** (12 + (3 - l) * 9)) % 512) * 8) & 0x0000fffffffff000n);
  return t;
}
