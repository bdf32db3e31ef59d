// Guest physical memory as the engine sees it: RAM regions placed inside this
// WebAssembly memory (no JS call to reach them), and, for every other address, the
// host's memory callbacks when the host gives some. The guest physical address crosses
// to the host as one u64 (a BigInt in JavaScript), never split into signed halves. Without callbacks an address
// outside RAM is unassigned: reads fail and return zeros, writes fail and are dropped,
// as QEMU's DMA reports MEMTX_DECODE_ERROR for unassigned memory.

import { halloc } from "./heap";
import { RAM_LIMIT_BYTES, RAM_MAX_REGIONS } from "../src/arch/abi";

// @ts-ignore: decorator
@external("env", "host_read")
declare function host_read(addr: u64, len: u32, dst: usize): i32;
// @ts-ignore: decorator
@external("env", "host_write")
declare function host_write(addr: u64, len: u32, src: usize): i32;

const MAX_REGIONS = RAM_MAX_REGIONS;
const REGION_BYTES = 24; // base u64, size u64, ptr u32, pad
const regions = memory.data(MAX_REGIONS * REGION_BYTES);
let nregions = 0;
let ramTotal: u64 = 0;
let hostMemory = false;

/** Adds a RAM region of `size` bytes at guest address `base`; returns its address in this memory, 0 on failure. */
export function addRam(base: u64, size: u64): usize {
  if (nregions >= MAX_REGIONS || size == 0 || size > <u64>RAM_LIMIT_BYTES - ramTotal) return 0;
  if (base + size < base) return 0;
  for (let i = 0; i < nregions; i++) {
    const r = regions + <usize>(i * REGION_BYTES);
    const b = load<u64>(r), s = load<u64>(r, 8);
    if (base < b + s && b < base + size) return 0; // overlap
  }
  const p = halloc(<usize>size, 4096);
  if (p == 0) return 0;
  const r = regions + <usize>(nregions * REGION_BYTES);
  store<u64>(r, base);
  store<u64>(r, size, 8);
  store<u32>(r, <u32>p, 16);
  nregions++;
  ramTotal += size;
  return p;
}

export function setHostMemory(on: bool): void {
  hostMemory = on;
}


/** Address inside this memory of [addr, addr+len) when it lies in one RAM region, else 0. */
// @ts-ignore: decorator
@inline export function ramPtr(addr: u64, len: u64): usize {
  let r = regions;
  const end = regions + <usize>(nregions * REGION_BYTES);
  while (r < end) {
    const off = addr - load<u64>(r);
    const size = load<u64>(r, 8);
    if (off < size && len <= size - off) return <usize>load<u32>(r, 16) + <usize>off;
    r += REGION_BYTES;
  }
  return 0;
}

/** Bytes from `addr` to the end of the RAM region holding it; 0 when `addr` is not in RAM. */
export function ramLeft(addr: u64): u64 {
  for (let i = 0; i < nregions; i++) {
    const r = regions + <usize>(i * REGION_BYTES);
    const off = addr - load<u64>(r);
    const size = load<u64>(r, 8);
    if (off < size) return size - off;
  }
  return 0;
}

/** Whether addresses outside RAM go to the host's memory callbacks. */
export function hostBacked(): bool {
  return hostMemory;
}

/** Reads `len` bytes at guest `addr` into `dst`; false when any part of it failed (that part reads as zeros). */
export function gread(addr: u64, dst: usize, len: u32): bool {
  const p = ramPtr(addr, len);
  if (p != 0) {
    memory.copy(dst, p, len);
    return true;
  }
  return readSlow(addr, dst, len);
}

/** Writes `len` bytes from `src` to guest `addr`; false when any part of it failed. */
export function gwrite(addr: u64, src: usize, len: u32): bool {
  const p = ramPtr(addr, len);
  if (p != 0) {
    memory.copy(p, src, len);
    return true;
  }
  return writeSlow(addr, src, len);
}

const word = memory.data(8);
/** Status of the last gread64. */
export let readOk = true;

/** One little-endian 64-bit load; sets readOk. */
// @ts-ignore: decorator
@inline export function gread64(addr: u64): u64 {
  const p = ramPtr(addr, 8);
  if (p != 0) {
    readOk = true;
    return load<u64>(p);
  }
  readOk = readSlow(addr, word, 8);
  return load<u64>(word);
}

function readSlow(addr: u64, dst: usize, len: u32): bool {
  if (hostMemory) {
    memory.fill(dst, 0, len); // nothing staged survives a read the host does not fill
    return host_read(addr, len, dst) == 1;
  }
  memory.fill(dst, 0, len);
  return piecewise(addr, dst, len, false);
}

function writeSlow(addr: u64, src: usize, len: u32): bool {
  if (hostMemory) return host_write(addr, len, src) == 1;
  return piecewise(addr, src, len, true);
}

/** Access crossing RAM edges: RAM parts are copied, the rest fails the access. */
function piecewise(addr: u64, buf: usize, len: u32, toGuest: bool): bool {
  let ok = true;
  let done: u32 = 0;
  while (done < len) {
    const a = addr + <u64>done;
    const left = <u64>(len - done);
    let step: u64 = left;
    let ram: usize = 0;
    for (let i = 0; i < nregions; i++) {
      const r = regions + <usize>(i * REGION_BYTES);
      const b = load<u64>(r);
      const off = a - b;
      const size = load<u64>(r, 8);
      if (off < size) {
        ram = <usize>load<u32>(r, 16) + <usize>off;
        step = size - off < left ? size - off : left;
        break;
      }
      if (b > a && b - a < step) step = b - a; // unassigned up to the next region
    }
    if (ram != 0) {
      if (toGuest) memory.copy(ram, buf + done, <usize>step);
      else memory.copy(buf + done, ram, <usize>step);
    } else {
      ok = false;
    }
    done += <u32>step;
  }
  return ok;
}
