// What QEMU's `virt` machine (the one every trace was recorded on) has at guest-physical
// addresses outside the trace's RAM that a DMA master can still reach: the two 64 MiB
// CFI flash banks at 0 (hw/arm/virt.c VIRT_FLASH). Without a drive they read as zeros
// and accept writes (flash commands) without an external abort; everything else
// outside RAM is unassigned (reads and writes abort). Browser-safe.

import type { GuestMemoryCallbacks } from './types.js';

export const VIRT_FLASH_BASE = 0;
export const VIRT_FLASH_SIZE = 0x08000000; // 2 banks x 64 MiB

/** Memory callbacks for the non-RAM part of the virt machine: the flash reads zeros, the rest aborts. */
export function virtMachineMemory(): GuestMemoryCallbacks {
  const inFlash = (addr: number, len: number) => addr >= VIRT_FLASH_BASE && addr + len <= VIRT_FLASH_BASE + VIRT_FLASH_SIZE;
  return {
    read(addr, dst) {
      dst.fill(0);
      return inFlash(addr, dst.length);
    },
    write(addr, src) {
      return inFlash(addr, src.length);
    },
  };
}
