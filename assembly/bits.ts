// Field access for descriptors defined in src/arch/*.ts (position | width * 1024).
// Every call site passes a constant descriptor, so after inlining these fold to a
// shift and a mask.

/** Low `width` bits set (width 0..64). */
// @ts-ignore: decorator
@inline export function ones(width: i32): u64 {
  return width >= 64 ? <u64>-1 : (<u64>1 << <u64>width) - 1;
}

/**
 * QEMU's MAKE_64BIT_MASK(0, len) as compiled for x86-64: the shift count is taken
 * modulo 64, so len 0 gives all ones and len > 64 gives a few low bits. Used where
 * QEMU 7.2 computes such masks from guest-controlled values.
 */
// @ts-ignore: decorator
@inline export function qmask(len: i32): u64 {
  return (<u64>-1) >> (<u64>(64 - len) & 63);
}

/** Extract field `f` from the 64-bit word that holds it. */
// @ts-ignore: decorator
@inline export function ex(word: u64, f: i32): u64 {
  return (word >> <u64>(f & 63)) & ones(f >> 10);
}

/** Extract field `f` (a 32-bit register field) from a 32-bit value. */
// @ts-ignore: decorator
@inline export function ex32(word: u32, f: i32): u32 {
  return <u32>((<u64>word >> <u64>(f & 31)) & ones(f >> 10));
}

/** Replace field `f` of `word` by `value`. */
// @ts-ignore: decorator
@inline export function dp(word: u64, f: i32, value: u64): u64 {
  const m = ones(f >> 10) << <u64>(f & 63);
  return (word & ~m) | ((value << <u64>(f & 63)) & m);
}

// @ts-ignore: decorator
@inline export function dp32(word: u32, f: i32, value: u32): u32 {
  return <u32>dp(<u64>word, f, <u64>value);
}

/** Field `f` of the little-endian structure at `ptr`. */
// @ts-ignore: decorator
@inline export function ld(ptr: usize, f: i32): u64 {
  return ex(load<u64>(ptr + <usize>(((f & 1023) >> 6) << 3)), f);
}

/** The bit mask of field `f` inside its 64-bit word. */
// @ts-ignore: decorator
@inline export function fmask(f: i32): u64 {
  return ones(f >> 10) << <u64>(f & 63);
}
