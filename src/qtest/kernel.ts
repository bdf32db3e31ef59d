// The guest CPU's program while QEMU runs a scenario: an 8-byte AArch64 image that
// waits for interrupts forever ("1: wfi; b 1b"). QEMU loads a raw image like this at
// RAM base + 0x80000 and jumps to it; the CPU then sleeps and, with
// -icount shift=0,sleep=off, virtual time jumps straight to the next timer.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** wfi (0xd503207f); b .-4 (0x17ffffff), little-endian. */
export const WFI_LOOP = Uint8Array.from([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]);

let cached: string | undefined;

/** Path of a file holding the WFI-loop kernel (written once per process). */
export function wfiKernel(): string {
  if (cached && existsSync(cached)) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-kernel-'));
  cached = join(dir, 'wfi.bin');
  writeFileSync(cached, WFI_LOOP);
  return cached;
}
