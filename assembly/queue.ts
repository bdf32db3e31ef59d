// Circular queue index arithmetic (IHI 0070, 3.5.1), as QEMU 7.2's Q_* macros:
// PROD/CONS hold an index of log2size bits plus a wrap bit above it.

import { BASE_ADDR_HI, BASE_ADDR_LO } from "../src/arch/registers";

// @ts-ignore: decorator
@inline export function qWrapMask(log2: u32): u32 { return <u32>1 << log2; }
// @ts-ignore: decorator
@inline export function qIndexMask(log2: u32): u32 { return (<u32>1 << log2) - 1; }
// @ts-ignore: decorator
@inline export function qWrapIndexMask(log2: u32): u32 { return (<u32>2 << log2) - 1; }

// @ts-ignore: decorator
@inline export function qEmpty(prod: u32, cons: u32, log2: u32): bool {
  const m = qWrapIndexMask(log2);
  return (cons & m) == (prod & m);
}

// @ts-ignore: decorator
@inline export function qFull(prod: u32, cons: u32, log2: u32): bool {
  return ((cons ^ prod) & qWrapIndexMask(log2)) == qWrapMask(log2);
}

/** Base address of a queue or of the stream table: bits 51:6 of the base register (QEMU SMMU_BASE_ADDR_MASK). */
// @ts-ignore: decorator
@inline export function baseAddr(reg: u64): u64 {
  return reg & ((<u64>BASE_ADDR_HI << 32) | <u64>BASE_ADDR_LO);
}

/** CONS + 1 keeping the bits above the index and wrap bit (QEMU queue_cons_incr deposits). */
// @ts-ignore: decorator
@inline export function qIncr(v: u32, log2: u32): u32 {
  const m = qWrapIndexMask(log2);
  return (v & ~m) | ((v + 1) & m);
}
