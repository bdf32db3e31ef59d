// Guest physical memory as the device's DMA sees it: RAM regions placed inside the model's
// WebAssembly memory, and the emulator's memory callbacks for everything else.

import type { EngineExports } from '../engine.js';
import * as A from '../arch/abi.js';
import type { GuestMemoryCallbacks } from '../types.js';
import { checkInt, describe, errorText, type HostCalls } from './host-calls.js';

const TWO32 = 2 ** 32;

/** A RAM region inside the model: guest physical `base`, `size` bytes at `ptr` in the engine's memory. */
export interface Ram {
  base: number;
  size: number;
  ptr: number;
}

/** The guest physical address space of one device. */
export class HostMemory {
  private readonly rams: Ram[] = [];
  private e!: EngineExports;

  constructor(private readonly mem: GuestMemoryCallbacks | undefined, private readonly host: HostCalls) {}

  /** Called once the device's engine is instantiated, before any region is placed. */
  attach(e: EngineExports): void {
    this.e = e;
  }

  /** The RAM regions, in the order they were placed. */
  get regions(): readonly Ram[] {
    return this.rams;
  }

  /** Places RAM region `i`; returns its size. `total`: bytes placed before it. */
  addRam(r: { base: unknown; size: unknown }, i: number, total: number): number {
    if (typeof r !== 'object' || r === null) throw new TypeError(`vsmmu: ram[${i}] must be an object { base, size }`);
    const base = r.base;
    if (!(typeof base === 'bigint' || (typeof base === 'number' && Number.isSafeInteger(base)))) {
      throw new TypeError(`vsmmu: ram[${i}].base must be a safe integer number or a bigint, got ${typeof base === 'string' ? JSON.stringify(base) : String(base)}`);
    }
    const b = BigInt(base);
    if (b < 0n || b >= 1n << 53n) throw new RangeError(`vsmmu: ram[${i}].base must be in [0, 2^53), got ${String(base)}`);
    const size = checkInt(r.size, `ram[${i}].size`, A.RAM_LIMIT_BYTES);
    if (size === 0) throw new RangeError(`vsmmu: ram[${i}].size must be at least 1 byte`);
    if (total + size > A.RAM_LIMIT_BYTES) {
      throw new RangeError(`vsmmu: ram: the regions hold ${total + size} bytes in all; the limit is ${A.RAM_LIMIT_BYTES} (3 GiB)`);
    }
    if (i >= A.RAM_MAX_REGIONS) throw new RangeError(`vsmmu: ram: at most ${A.RAM_MAX_REGIONS} regions`);
    const bn = Number(b);
    const ptr = this.e.add_ram(bn % TWO32, Math.floor(bn / TWO32), size % TWO32, Math.floor(size / TWO32));
    if (ptr === 0) throw new RangeError(`vsmmu: cannot place RAM [${'0x' + b.toString(16)}, +${size}): overlapping, too many regions or out of memory`);
    this.rams.push({ base: bn, size, ptr });
    return size;
  }

  /** The bytes of RAM region `i`. */
  ram(i: number): Uint8Array {
    const r = this.rams[i];
    if (!r) throw new RangeError(`vsmmu: no RAM region ${i}`);
    return new Uint8Array(this.e.memory.buffer, r.ptr, r.size);
  }

  /** The engine's access to guest memory outside its RAM (addr: the u64 guest physical address). */
  hostAccess(addr: bigint, len: number, ptr: number, write: boolean): number {
    const u8 = new Uint8Array(this.e.memory.buffer, ptr, len);
    if (addr + BigInt(len) > 2n ** 53n) {
      if (!write) u8.fill(0);
      return 0; // beyond 2^53: unassigned
    }
    const outer = this.host.swap(write ? 'memory write' : 'memory read');
    try {
      return this.access(Number(addr), u8, write) ? 1 : 0;
    } finally {
      this.host.swap(outer);
    }
  }

  /**
   * One memory callback. Success is exactly `true`; anything else (false, 1, an object, a
   * Promise) and a throw are a failed access (external abort); a failed read reads zeros.
   */
  private callMemory(addr: number, part: Uint8Array, write: boolean): boolean {
    const mem = this.mem!;
    let r: unknown;
    try {
      r = write ? mem.write(addr, part) : mem.read(addr, part);
    } catch (err) {
      this.host.report('memory', `memory ${write ? 'write' : 'read'} callback threw at 0x${addr.toString(16)} (+${part.length}): ${errorText(err)}`, err);
      r = false;
    }
    if (r === true) return true;
    if (r !== false) {
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        (r as Promise<unknown>).then(undefined, () => undefined); // its outcome is ignored: never an unhandled rejection
      }
      this.host.report('memory', `memory ${write ? 'write' : 'read'} callback returned ${describe(r)} at 0x${addr.toString(16)} instead of true or false (taken as a failed access)`);
    }
    if (!write) part.fill(0);
    return false;
  }

  /** Guest-physical access as a DMA master sees it: RAM inside the model, then the memory callbacks. */
  access(addr: number, data: Uint8Array, write: boolean): boolean {
    let ok = true;
    let done = 0;
    const buf = this.e.memory.buffer;
    while (done < data.length) {
      const a = addr + done;
      const left = data.length - done;
      let step = left;
      let hit: Ram | undefined;
      for (const r of this.rams) {
        if (a >= r.base && a < r.base + r.size) {
          hit = r;
          step = Math.min(left, r.base + r.size - a);
          break;
        }
        if (r.base > a) step = Math.min(step, r.base - a);
      }
      const part = data.subarray(done, done + step);
      if (hit) {
        const ram = new Uint8Array(buf, hit.ptr + (a - hit.base), step);
        if (write) ram.set(part);
        else part.set(ram);
      } else if (this.mem) {
        if (!this.callMemory(a, part, write)) ok = false;
      } else {
        ok = false;
        if (!write) part.fill(0);
      }
      done += step;
    }
    return ok;
  }
}
