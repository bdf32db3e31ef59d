// Shared test fixtures: a model with RAM at 0x40000000 and a guest driver on it.

import { createSmmu, type Smmu } from '../src/index.js';
import { GuestDriver, type DriverOptions, type Domain, type GuestBus } from '../src/guest/driver.js';
import type { IrqLine, SmmuOptions } from '../src/types.js';
import { existsSync } from 'node:fs';
import type { BatchResult, PsmmuBackend } from '../src/backends/types.js';
import { bytesToWords } from '../src/guest/encode.js';
import { qemuAvailability } from '../src/qtest/env.js';
import type { QemuTarget } from '../src/qtest/target.js';

export const RAM_BASE = 0x40000000;
export const RAM_SIZE = 0x1000000; // 16 MiB

export interface Machine {
  smmu: Smmu;
  driver: GuestDriver;
  irqs: Record<IrqLine, number>;
}

export async function machine(opts: Partial<SmmuOptions> = {}, drv: Partial<DriverOptions> = {}, init = true): Promise<Machine> {
  const irqs: Record<IrqLine, number> = { eventq: 0, priq: 0, 'cmd-sync': 0, gerror: 0 };
  const smmu = await createSmmu({
    ram: [{ base: RAM_BASE, size: RAM_SIZE }],
    devices: [0x18, 0x20, 0x28],
    irq: (line, n) => { irqs[line] += n; },
    ...opts,
  });
  const driver = new GuestDriver(smmu, { heap: { base: RAM_BASE + 0x100000, size: 0x800000 }, ...drv });
  if (init) driver.init();
  return { smmu, driver, irqs };
}

/** A page of recognisable bytes at `pa`. */
export function fillPattern(smmu: Smmu, pa: number, len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  smmu.writeMemory(pa, b);
  return b;
}

/**
 * `test` when QEMU is installed, else `test.skip` with a warning; with VSMMU_REQUIRE_QEMU=1
 * a missing QEMU is a failing test instead.
 */
export function qemuTest(suite: string, target?: QemuTarget): typeof test | typeof test.skip {
  const q = qemuAvailability(target);
  if (!q.version && !q.required) console.warn(`${suite}: skipping the QEMU tests: ${q.reason}`);
  if (!q.version && q.required) {
    test(`QEMU${target ? ' ' + target.profile : ''} is available (VSMMU_REQUIRE_QEMU=1)`, () => {
      throw new Error(`VSMMU_REQUIRE_QEMU=1 but ${q.reason}`);
    });
  }
  return q.version ? test : test.skip;
}

/** Debian's Chromium for the browser tests (VSMMU_CHROMIUM overrides the path). */
export const CHROMIUM = process.env.VSMMU_CHROMIUM ?? '/usr/bin/chromium';

/**
 * `describe` when Chromium is installed, else `describe.skip` with a warning; with
 * VSMMU_REQUIRE_CHROMIUM=1 a missing Chromium is a failing test instead.
 */
export function chromiumDescribe(suite: string): typeof describe | typeof describe.skip {
  const have = existsSync(CHROMIUM);
  const required = process.env.VSMMU_REQUIRE_CHROMIUM === '1';
  if (!have && !required) console.warn(`${suite}: skipping the browser tests: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set VSMMU_CHROMIUM)`);
  if (!have && required) {
    test('Chromium is available (VSMMU_REQUIRE_CHROMIUM=1)', () => {
      throw new Error(`VSMMU_REQUIRE_CHROMIUM=1 but there is no Chromium at ${CHROMIUM}`);
    });
  }
  return have ? describe : describe.skip;
}

/** Chromium's launch options for headless tests in a container. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** The guest's view of "the SMMU": follows the VM when it moves to another model. */
export class MovableBus implements GuestBus {
  constructor(public cur: Smmu) {}
  mmioRead(off: number, size: number): number | bigint { return this.cur.mmioRead(off, size); }
  mmioWrite(off: number, size: number, v: number | bigint): void { this.cur.mmioWrite(off, size, v); }
  readMemory(a: number, n: number): Uint8Array { return this.cur.readMemory(a, n); }
  writeMemory(a: number, d: Uint8Array): void { this.cur.writeMemory(a, d); }
}

/** A backend that accepts everything and records each entry as text (`inv w0 w1`, `ste psid w0 w1`, hex). */
export class Recorder implements PsmmuBackend {
  got: string[] = [];
  constructor(readonly name: string) {}
  invalidate(entries: Uint8Array): BatchResult {
    for (let i = 0; i < entries.length; i += 16) {
      const [w0, w1] = bytesToWords(entries.subarray(i, i + 16));
      this.got.push(`inv ${w0.toString(16)} ${w1.toString(16)}`);
    }
    return { done: entries.length / 16 };
  }
  installSte(psid: number, s: Uint8Array): BatchResult {
    const [w0, w1] = bytesToWords(s);
    this.got.push(`ste ${psid.toString(16)} ${w0.toString(16)} ${w1.toString(16)}`);
    return { done: 1 };
  }
}

/** Guest address of `iova`'s descriptor at `level` in stage-1 domain `d` (4K granule). */
export function s1Desc(m: Machine, d: Domain, iova: number, level: number): number {
  let table = d.root;
  for (let l = d.startLevel; l <= level; l++) {
    const idx = Math.floor(iova / 2 ** (12 + (3 - l) * 9)) % 512;
    if (l === level) return table + idx * 8;
    table = Number(m.driver.read64(table + idx * 8) & 0x0000fffffffff000n);
  }
  throw new Error('unreachable');
}
