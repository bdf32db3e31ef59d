// Scenario builder: emits trace operations and applies each one at once to a model
// instance (the oracle), so that a generator can act on what a guest would see (CONS
// after a batch, EVENTQ_PROD before consuming events) as a driver does. The oracle only
// steers generation; the expectations come from QEMU when the scenario is recorded.

import { createSmmu, type Smmu } from '../smmu.js';
import { RAM_BASE, RAM_SIZE } from '../qtest/machine.js';
import { wordsToBytes, type Words } from '../guest/encode.js';
import * as R from '../arch/registers.js';
import { applyOp, smmuTarget, fromLe, type Op, type OpTarget } from '../ops.js';
import type { Rng } from './rng.js';
import type { SmmuOptions } from '../types.js';
import { QEMU72, type QemuTarget } from '../qtest/target.js';

/** A model configured as the target's SMMU (profile, and stage for qemu-10.0), with the scenario RAM. */
export async function modelFor(target: QemuTarget, opts: Partial<SmmuOptions> & { devices: number[] }): Promise<Smmu> {
  const o = { ...opts, profile: target.profile, ram: [{ base: RAM_BASE, size: RAM_SIZE }] } as SmmuOptions & { stage?: string };
  if (target.profile !== 'qemu-7.2') o.stage = target.stage;
  return createSmmu(o);
}

/** Guest RAM the scenarios use: all of it but what QEMU writes at boot (see RAM_RESERVED). */
export const ARENAS: ReadonlyArray<{ base: number; end: number }> = [
  { base: 0x40100000, end: 0x48000000 },
  { base: 0x48200000, end: RAM_BASE + RAM_SIZE },
];
/** First address above RAM: nothing is mapped there (machine virt, highmem=off), accesses fail. */
export const UNASSIGNED = RAM_BASE + RAM_SIZE;

const MASK64 = (1n << 64n) - 1n;

export class Builder {
  readonly ops: Op[] = [];
  readonly opcodes = new Set<number>();
  private arena = 0;
  private next: number;

  private readonly target: OpTarget;

  private constructor(readonly r: Rng, readonly m: Smmu, readonly devices: number[], readonly qemu: QemuTarget) {
    this.target = smmuTarget(m, { digest: false });
    this.arena = r.chance(0.8) ? 0 : 1;
    const a = ARENAS[this.arena];
    // a random start so that structures land at varied addresses
    this.next = a.base + r.int(0, 0x3f) * 0x10000 + (r.chance(0.3) ? r.int(0, 63) * 0x100000 : 0);
  }

  /**
   * The oracle is the model as the target's SMMU; while the engine lacks that profile
   * (stage 2 and nested before they were built) QEMU 7.2's model steers instead, which
   * only makes the generator's guesses (CONS, pending errors, events) less exact.
   */
  static async create(r: Rng, devices: number[], target: QemuTarget = QEMU72): Promise<Builder> {
    let m: Smmu;
    try {
      m = await modelFor(target, { devices });
    } catch {
      m = await modelFor(QEMU72, { devices });
    }
    return new Builder(r, m, devices, target);
  }

  dispose(): void {
    this.m.dispose();
  }

  // ---- guest memory allocation ----------------------------------------------------------

  /** `size` bytes of (zero) guest RAM aligned to `align`, away from QEMU's boot data. */
  alloc(size: number, align = 64): number {
    for (let tries = 0; tries < 3; tries++) {
      const a = ARENAS[this.arena];
      const p = Math.ceil(this.next / align) * align;
      if (p + size <= a.end) {
        this.next = p + size;
        return p;
      }
      this.arena = (this.arena + 1) % ARENAS.length;
      this.next = ARENAS[this.arena].base;
    }
    throw new Error(`builder: out of guest memory for ${size} bytes`);
  }

  // ---- operations -------------------------------------------------------------------------

  private push(o: Op): bigint | string | undefined {
    this.ops.push(o);
    return applyOp(this.target, o); // mem_digest: '' (the oracle does not hash)
  }

  mmioW(offset: number, size: 4 | 8, value: number | bigint): void {
    this.push({ op: 'mmio_write', offset, size, value: BigInt.asUintN(size * 8, BigInt(value)) });
  }

  /** Register read, observed; returns the oracle's value. */
  mmioR(offset: number, size: 4 | 8 = 4): bigint {
    return this.push({ op: 'mmio_read', offset, size }) as bigint;
  }

  /** Register value as the oracle has it, without an operation. */
  peek(offset: number, size: 4 | 8 = 4): number {
    return Number(this.m.mmioRead(offset, size));
  }

  memW(addr: number, size: 1 | 2 | 4 | 8, value: bigint | number): void {
    this.push({ op: 'mem_write', addr, size, value: BigInt.asUintN(size * 8, BigInt(value)) });
  }

  fill(addr: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.push({ op: 'mem_fill', addr, hex: Buffer.from(bytes).toString('hex') });
  }

  memR(addr: number, size: 1 | 2 | 4 | 8 = 8): bigint {
    return this.push({ op: 'mem_read', addr, size }) as bigint;
  }

  digest(addr: number, len: number): void {
    this.push({ op: 'mem_digest', addr, len });
  }

  dma(sid: number, src: bigint | number, dst: bigint | number, len: number): void {
    this.push({ op: 'dma', sid, src: BigInt(src) & MASK64, dst: BigInt(dst) & MASK64, len });
  }

  /** A 64-bit register as the oracle has it, without an operation. */
  peekReg64(offset: number): bigint {
    return BigInt.asUintN(64, BigInt(this.m.mmioRead(offset, 8)));
  }

  /** 64-bit word of guest memory as the oracle has it. */
  peek64(addr: number): bigint {
    return fromLe(this.m.readMemory(addr, 8));
  }

  /** Writes 64-bit words: one mem_fill, or one mem_write per word (both are plain CPU stores). */
  words(addr: number, w: Words): void {
    if (w.length > 1 && this.r.chance(0.5)) {
      this.fill(addr, wordsToBytes(w));
    } else {
      w.forEach((x, i) => this.memW(addr + i * 8, 8, BigInt.asUintN(64, x)));
    }
  }

  // ---- observation bundles -----------------------------------------------------------------

  /** CMDQ_CONS and GERROR (and sometimes more) as a driver checks after a batch. */
  observeCmdq(): void {
    this.mmioR(R.R_CMDQ_CONS);
    this.mmioR(R.R_GERROR);
    if (this.r.chance(0.2)) this.mmioR(R.R_CMDQ_PROD);
    if (this.r.chance(0.2)) this.mmioR(R.R_GERRORN);
  }
}
