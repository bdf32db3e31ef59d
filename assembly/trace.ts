// Diagnostic trace ring. Off by default; when on, decisions are logged as records
// (id + up to eight u64 arguments) that the host formats with QEMU's trace names.
// Call sites test `traceOn` before building arguments, so tracing costs nothing when off.

import { TR_ARGS, TR_BYTES, TR_CAPACITY } from "../src/arch/abi";

// @ts-ignore: decorator
@external("env", "trace_flush")
declare function trace_flush(count: u32): void;

export let traceOn = false;
const ring = memory.data(TR_CAPACITY * TR_BYTES);
let count: u32 = 0;

export function setTrace(on: bool): void {
  traceOn = on;
}

export function tracePtr(): usize {
  return ring;
}

/** Hands the pending records to the host; returns how many there were. */
export function traceTake(): u32 {
  const n = count;
  count = 0;
  return n;
}

export function tr(id: u32, a: u64 = 0, b: u64 = 0, c: u64 = 0, d: u64 = 0, e: u64 = 0, f: u64 = 0, g: u64 = 0, h: u64 = 0): void {
  const r = ring + <usize>(count * TR_BYTES);
  store<u32>(r, id);
  const p = r + TR_ARGS;
  store<u64>(p, a);
  store<u64>(p, b, 8);
  store<u64>(p, c, 16);
  store<u64>(p, d, 24);
  store<u64>(p, e, 32);
  store<u64>(p, f, 40);
  store<u64>(p, g, 48);
  store<u64>(p, h, 56);
  count++;
  if (count == TR_CAPACITY) {
    trace_flush(count);
    count = 0;
  }
}
