// Host-side accessors for the field descriptors of src/arch (position | width * 1024).

import { FIELD_WIDTH_UNIT } from './arch/fields.js';

/** Bit position of a field descriptor inside its structure. */
export function fieldPos(f: number): number {
  return f % FIELD_WIDTH_UNIT;
}

/** Width in bits of a field descriptor. */
export function fieldWidth(f: number): number {
  return Math.floor(f / FIELD_WIDTH_UNIT);
}

/** Field `f` of a 32-bit register value (fields wholly inside bits 31:0). */
export function field32(value: number, f: number): number {
  const w = fieldWidth(f);
  const v = (value >>> fieldPos(f)) >>> 0;
  return w >= 32 ? v : v & ((1 << w) - 1) >>> 0;
}

/** `value` with field `f` (inside bits 31:0) replaced by `x`. */
export function deposit32(value: number, f: number, x: number): number {
  const p = fieldPos(f);
  const w = fieldWidth(f);
  const m = (w >= 32 ? 0xffffffff : ((1 << w) - 1) >>> 0) * 2 ** p;
  const mask = m >>> 0;
  return ((value & ~mask) | ((x * 2 ** p) & mask)) >>> 0;
}

/** Field `f` of a little-endian structure given as 64-bit words. */
export function field64(words: readonly bigint[], f: number): bigint {
  const p = fieldPos(f);
  const w = BigInt(fieldWidth(f));
  return (words[p >> 6] >> BigInt(p & 63)) & ((1n << w) - 1n);
}

/** `word` (the 64-bit word holding field `f`) with the field replaced by `x`. */
export function deposit64(word: bigint, f: number, x: bigint): bigint {
  const s = BigInt(fieldPos(f) & 63);
  const m = ((1n << BigInt(fieldWidth(f))) - 1n) << s;
  return (word & ~m) | ((x << s) & m);
}

/** The mask of field `f` inside a 32-bit register. */
export function mask32(f: number): number {
  return deposit32(0, f, 0xffffffff);
}

export function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}

/** Parses a trace number: "0x..." strings (any size) or plain integers. */
export function parseNum(v: unknown, what: string): bigint {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return BigInt(v);
  throw new Error(`${what}: expected a non-negative integer or hex string, got ${JSON.stringify(v)}`);
}
