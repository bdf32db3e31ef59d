// Guest register accesses as the host hands them over: argument checks, and the accesses
// QEMU's memory core rejects before they reach the SMMU (sizes other than 4/8, misaligned).

import * as R from '../arch/registers.js';
import { checkInt } from './host-calls.js';

/** Checks a register access's offset and size (any size a bus may issue: 1, 2, 4 or 8). */
export function checkMmioAccess(offset: number, size: number): void {
  checkInt(offset, 'offset', R.SMMU_MMIO_SIZE - 1);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new RangeError(`vsmmu: size must be 1, 2, 4 or 8, got ${String(size)}`);
}

/** Whether QEMU's memory core rejects the access (the SMMU's region takes 4- and 8-byte aligned accesses only). */
export function mmioRejected(offset: number, size: number): boolean {
  return (size !== 4 && size !== 8) || offset % size !== 0 || offset + size > R.SMMU_MMIO_SIZE;
}

/** The value of a `size`-byte register write, signed or unsigned, as its unsigned bits. */
export function mmioWriteValue(size: number, value: number | bigint): bigint {
  if (typeof value !== 'number' && typeof value !== 'bigint') throw new TypeError('vsmmu: value must be a number or a bigint');
  const bits = size * 8;
  const lo = size === 8 ? -(2n ** 63n) : -(2n ** BigInt(bits - 1));
  const hi = 2n ** BigInt(bits);
  if (typeof value === 'number' ? !Number.isSafeInteger(value) || value < Number(lo) || value >= Number(hi) : value < lo || value >= hi) {
    throw new RangeError(`vsmmu: value must be an integer that fits ${size} bytes (signed or unsigned), got ${String(value)}`);
  }
  return BigInt.asUintN(bits, BigInt(value));
}
