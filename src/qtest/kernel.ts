// The guest CPU's program while QEMU runs a scenario: an 8-byte AArch64 image that
// waits for interrupts forever ("1: wfi; b 1b"). QEMU loads a raw image like this at
// RAM base + 0x80000 and jumps to it; the CPU then sleeps and, with
// -icount shift=0,sleep=off, virtual time jumps straight to the next timer.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** wfi (0xd503207f); b .-4 (0x17ffffff), little-endian. */
export const WFI_LOOP = Uint8Array.from([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]);

/** Path of a file holding the WFI-loop kernel (one shared file in the temporary directory). */
export function wfiKernel(): string {
  const path = join(tmpdir(), 'vsmmu-wfi-loop-7f2003d5ffffff17.bin');
  if (existsSync(path) && Buffer.compare(readFileSync(path), WFI_LOOP) === 0) return path;
  // written under a unique name, then renamed: workers starting together never see half a file
  const part = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(part, WFI_LOOP);
  renameSync(part, path);
  return path;
}
