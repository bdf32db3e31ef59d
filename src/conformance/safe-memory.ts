// Safe memory for a scenario (the safety rules are in world.ts): what the SMMU may access
// for us, or a device may reach in bypass, is scenario RAM away from what QEMU wrote at
// boot, or unassigned memory.

import { ARENAS, UNASSIGNED } from './builder.js';
import type { World } from './world.js';

const B = BigInt;
const TWO48 = 1n << 48n;

/** Whether [iova, iova+len) is safe as a physical address (RAM away from boot data, unassigned, or at/above 2^48). */
export function safeIova(iova: bigint, len: number): boolean {
  if (iova >= TWO48) return true;
  const end = iova + B(len);
  if (iova < B(ARENAS[0].base)) return false;
  if (iova < B(ARENAS[0].end) && end <= B(ARENAS[0].end)) return true;
  return iova >= B(ARENAS[1].base);
}
/** An unassigned physical address (no RAM, no device): accesses to it fail. */
export function unassigned(w: World, align = 64): number {
  const r = w.r;
  const a = r.weighted<number>([
    [4, UNASSIGNED + r.int(0, 0xfffff) * 0x1000],
    [2, 0x1_0000_0000 + r.int(0, 0xffffff) * 0x1000],
    [1, 2 ** 40 + r.int(0, 0xffffff) * 0x10000],
    [1, 2 ** 47 + r.int(0, 0xffffff) * 0x10000],
  ]);
  return Math.floor(a / align) * align;
}

/**
 * An output address for a block of `size` bytes that is safe whatever part of the
 * block a DMA reaches: inside scenario RAM for small blocks, unassigned for big ones.
 */
export function safeBlockOut(w: World, size: number): number {
  const r = w.r;
  if (size <= 0x2000000 && r.chance(0.7)) {
    const lo = Math.ceil(ARENAS[0].base / size) * size;
    const n = Math.floor((ARENAS[0].end - lo) / size);
    if (n > 0) return lo + r.int(0, n - 1) * size;
  }
  const lo = Math.ceil(Math.max(UNASSIGNED, 2 ** 32) / size) * size;
  const n = Math.max(1, Math.min(64, Math.floor((2 ** 48 - lo) / size)));
  return lo + r.int(0, n - 1) * size;
}

/**
 * Whether a DMA of `len` bytes at `iova` stays in safe memory even through the blocks
 * that map (some of) the data area but cover more than it: outside their windows they
 * reach whatever RAM or device lies next to it.
 */
export function safeThroughBlocks(w: World, iova: bigint, len: number): boolean {
  const end = iova + B(len);
  for (const blk of w.ramBlocks) {
    const bEnd = blk.base + blk.size;
    if (end <= blk.base || iova >= bEnd) continue;
    const from = iova > blk.base ? iova : blk.base;
    const to = end < bEnd ? end : bEnd;
    const pa = blk.out + (from - blk.base);
    if (!safeIova(pa, Number(to - from))) return false;
  }
  return true;
}

/** Random (safe) physical address of a base register: arena or unassigned. */
export function safeBase(w: World, align = 64, below4G = false): number {
  if (w.r.chance(0.85)) return w.b.alloc(0x1000, Math.max(align, 64));
  if (below4G) return UNASSIGNED + w.r.int(0, 0xaffff) * Math.max(align, 0x1000);
  return unassigned(w, Math.max(align, 64));
}
