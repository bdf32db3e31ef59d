// Real QEMU as a vsmmu-trace machine: qemu-system-aarch64 (TCG, a WFI-loop kernel,
// icount) with machine virt,iommu=smmuv3, guest RAM at 0x40000000 and one `edu` PCI
// device per StreamID acting as a DMA engine (StreamID = slot << 3), all driven over
// qtest. Implements the trace format's operations (../../shared/spec/vsmmu-trace.md)
// and the guest driver's GuestBus, so the same scenario or driver code runs on QEMU
// and on the model.

import { createHash } from 'node:crypto';
import { QtestProcess, QtestError, qemuBinary, qemuVersion } from './qtest.js';
import { wfiKernel } from './kernel.js';
import type { GuestBus } from '../guest/driver.js';
import { QEMU72, SPEC_IDR0, dataDirArgs, describeTarget, machineOptions, targetBinary, type QemuTarget } from './target.js';

export const SMMU_BASE = 0x09050000;
export const ECAM_BASE = 0x3f000000;
export const PCI_MMIO_BASE = 0x10000000;
export const RAM_BASE = 0x40000000;
export const RAM_SIZE = 0x10000000;
/** SMMU register space (page 0 and page 1). */
export const SMMU_SIZE = 0x20000;

/** edu device registers (hw/misc/edu.c). */
const EDU_ID = 0x00;
const EDU_DMA_SRC = 0x80;
const EDU_DMA_DST = 0x88;
const EDU_DMA_CNT = 0x90;
const EDU_DMA_CMD = 0x98;
const EDU_DMA_RUN = 1;
const EDU_DMA_TO_PCI = 2; // buffer -> RAM
/** The edu DMA buffer: device address 0x40000, 4 KiB. */
export const EDU_BUF = 0x40000;
/** Longest transfer the edu device accepts (its range check needs addr + len < end). */
export const EDU_MAX_LEN = 4095;
const EDU_BAR_SIZE = 0x100000;

export interface QemuMachineOptions {
  /** StreamIDs of the DMA engines: multiples of 8 in [8, 0xf8] (slot = sid >> 3 on bus 0). */
  devices: number[];
  /** Which QEMU and SMMU stages (default QEMU 7.2, stage 1). */
  target?: QemuTarget;
  /** The QEMU binary (default: the target's, see target.ts). */
  binary?: string;
  /** Write QEMU's smmu* trace events to this file (-trace 'smmu*' -D file). */
  traceFile?: string;
  /** Extra QEMU arguments. */
  extraArgs?: string[];
  /** A QMP socket beside qtest at this path (for stop / migrate / cont: qtest/migration.ts). */
  qmpSocket?: string;
  /** Start with `-incoming defer`, waiting for a migration stream; devices are set up after it (setupDevices). */
  incoming?: boolean;
}

/** Regions of RAM QEMU itself writes at boot (boot stub, kernel, DTB): scenarios keep away from them. */
export const RAM_RESERVED: Array<{ base: number; size: number }> = [
  { base: 0x40000000, size: 0x100000 }, // boot stub at 0x40000000, kernel at 0x40080000
  { base: 0x48000000, size: 0x200000 }, // device tree (after the empty initrd at RAM + 128 MiB)
];

export function machineArgs(devices: number[], kernel: string, target: QemuTarget = QEMU72, binary?: string): string[] {
  const { machine, globals } = machineOptions(target);
  const args = [
    ...dataDirArgs(target, binary), ...globals,
    '-machine', machine, '-cpu', 'cortex-a57', '-m', '256',
    '-nodefaults', '-display', 'none', '-serial', 'none', '-monitor', 'none',
    '-icount', 'shift=0,sleep=off', '-accel', 'tcg,tb-size=16', '-kernel', kernel,
  ];
  for (const sid of devices) args.push('-device', `edu,addr=${(sid >> 3).toString(16)},dma_mask=0xffffffffffffffff`);
  return args;
}

function h(v: number | bigint): string {
  return '0x' + v.toString(16);
}

const MASK64 = (1n << 64n) - 1n;

export class QemuMachine implements GuestBus {
  private bars = new Map<number, number>();
  /** edu polls needed so far (statistics). */
  dmaPolls = 0;
  dmas = 0;

  /** QEMU's trace log of the processes this machine replaced (migrations), oldest first. */
  traceBefore = '';

  private constructor(readonly q: QtestProcess, readonly devices: number[], readonly target: QemuTarget, readonly traceFile?: string, readonly options?: QemuMachineOptions) {}

  static async start(opts: QemuMachineOptions): Promise<QemuMachine> {
    for (const sid of opts.devices) {
      if (!Number.isInteger(sid) || sid % 8 !== 0 || sid < 8 || sid > 0xf8) {
        throw new RangeError(`qemu machine: StreamID ${h(sid)} is not slot << 3 for a slot in 1..31`);
      }
    }
    if (new Set(opts.devices).size !== opts.devices.length) throw new RangeError('qemu machine: duplicate StreamIDs');
    const target = opts.target ?? QEMU72;
    const binary = opts.binary ?? targetBinary(target);
    const args = machineArgs(opts.devices, wfiKernel(), target, binary);
    if (opts.traceFile) args.push('-trace', 'smmu*', '-D', opts.traceFile);
    if (opts.extraArgs) args.push(...opts.extraArgs);
    if (opts.qmpSocket) args.push('-qmp', `unix:${opts.qmpSocket},server=on,wait=off`);
    if (opts.incoming) args.push('-incoming', 'defer');
    const q = await QtestProcess.spawn({ binary, args });
    const m = new QemuMachine(q, [...opts.devices], target, opts.traceFile, { ...opts, devices: [...opts.devices] });
    if (opts.incoming) return m;
    try {
      m.checkIdr0();
      m.setupPci();
    } catch (err) {
      await q.close();
      throw err;
    }
    return m;
  }

  /** The SMMU's IDR0 must be the spec's for the target: else the machine or the stage is not the one asked for. */
  private checkIdr0(): void {
    const want = SPEC_IDR0[this.target.profile][this.target.stage];
    const got = Number(this.q.query(`readl ${h(SMMU_BASE)}`)) >>> 0;
    if (want !== undefined && got !== want) {
      throw new QtestError(`qemu machine: ${this.q.binary} gives SMMU_IDR0 ${h(got)}, but ${describeTarget(this.target)} has ${h(want)} (wrong QEMU version, machine or stage)`);
    }
  }

  /** (Re-)programs the edu devices' BAR0 and command register: after an incoming migration (edu is not migrated). */
  setupDevices(): void {
    this.setupPci();
  }

  /** BAR0 of each edu device inside the 32-bit PCI window; memory decoding and bus mastering on. */
  private setupPci(): void {
    this.devices.forEach((sid, i) => {
      const cfg = ECAM_BASE + ((sid >> 3) << 15);
      const id = Number(this.q.query(`readl ${h(cfg)}`));
      if (id !== 0x11e81234) throw new QtestError(`qemu machine: no edu device at StreamID ${h(sid)} (ECAM id ${h(id)})`);
      const bar = PCI_MMIO_BASE + i * EDU_BAR_SIZE;
      this.q.send(`writel ${h(cfg + 0x10)} ${h(bar)}`);
      this.q.send(`writew ${h(cfg + 0x04)} 0x6`);
      this.bars.set(sid, bar);
    });
    for (const [sid, bar] of this.bars) {
      const v = Number(this.q.query(`readl ${h(bar + EDU_ID)}`));
      if ((v & 0xff) !== 0xed) throw new QtestError(`qemu machine: edu of StreamID ${h(sid)} does not answer at BAR0 ${h(bar)} (${h(v)})`);
    }
  }

  get pid(): number {
    return this.q.pid;
  }

  // ---- registers --------------------------------------------------------------------

  mmioRead(offset: number, size: number): number | bigint {
    const v = this.read(SMMU_BASE + offset, size);
    return size === 8 ? v : Number(v);
  }

  mmioWrite(offset: number, size: number, value: number | bigint): void {
    this.write(SMMU_BASE + offset, size, BigInt(value));
  }

  // ---- memory (as the CPU sees it) -----------------------------------------------------

  read(addr: number | bigint, size: number): bigint {
    const c = size === 1 ? 'readb' : size === 2 ? 'readw' : size === 4 ? 'readl' : size === 8 ? 'readq' : '';
    if (!c) throw new RangeError(`qemu machine: access size ${size}`);
    return BigInt(this.q.query(`${c} ${h(addr)}`)) & MASK64;
  }

  write(addr: number | bigint, size: number, value: bigint): void {
    const c = size === 1 ? 'writeb' : size === 2 ? 'writew' : size === 4 ? 'writel' : size === 8 ? 'writeq' : '';
    if (!c) throw new RangeError(`qemu machine: access size ${size}`);
    this.q.send(`${c} ${h(addr)} ${h(BigInt.asUintN(size * 8, value))}`);
  }

  readMemory(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const CHUNK = 1 << 16;
    for (let off = 0; off < length; off += CHUNK) {
      const n = Math.min(CHUNK, length - off);
      const b = Buffer.from(this.q.query(`b64read ${h(addr + off)} ${h(n)}`), 'base64');
      if (b.length !== n) throw new QtestError(`qtest: b64read returned ${b.length} bytes, wanted ${n}`);
      out.set(b, off);
    }
    return out;
  }

  writeMemory(addr: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const CHUNK = 1 << 15;
    for (let off = 0; off < data.length; off += CHUNK) {
      const part = data.subarray(off, Math.min(data.length, off + CHUNK));
      if (part.length < 3) {
        // b64write wants at least 3 characters of data; tiny writes go byte by byte
        part.forEach((b, i) => this.q.send(`writeb ${h(addr + off + i)} ${h(b)}`));
      } else {
        this.q.send(`b64write ${h(addr + off)} ${h(part.length)} ${Buffer.from(part).toString('base64')}`);
      }
    }
  }

  /** SHA-256 (hex) of guest memory. */
  digest(addr: number, len: number): string {
    return createHash('sha256').update(this.readMemory(addr, len)).digest('hex');
  }

  // ---- DMA -----------------------------------------------------------------------------

  /**
   * The device `sid` copies `len` bytes from IOVA `src` to IOVA `dst`: two edu
   * transfers (RAM to its buffer, then buffer to RAM), each awaited by polling its
   * command register while virtual time runs to the edu's 100 ms timer.
   */
  dma(sid: number, src: bigint, dst: bigint, len: number): void {
    const bar = this.bars.get(sid);
    if (bar === undefined) throw new RangeError(`qemu machine: no DMA engine with StreamID ${h(sid)}`);
    if (!Number.isInteger(len) || len < 1 || len > EDU_MAX_LEN) throw new RangeError(`qemu machine: DMA length ${len} (edu takes 1..${EDU_MAX_LEN})`);
    this.dmas++;
    this.transfer(bar, src & MASK64, BigInt(EDU_BUF), len, EDU_DMA_RUN);
    this.transfer(bar, BigInt(EDU_BUF), dst & MASK64, len, EDU_DMA_RUN | EDU_DMA_TO_PCI);
  }

  private transfer(bar: number, src: bigint, dst: bigint, len: number, cmd: number): void {
    this.q.send(`writeq ${h(bar + EDU_DMA_SRC)} ${h(src)}`);
    this.q.send(`writeq ${h(bar + EDU_DMA_DST)} ${h(dst)}`);
    this.q.send(`writeq ${h(bar + EDU_DMA_CNT)} ${h(len)}`);
    this.q.send(`writeq ${h(bar + EDU_DMA_CMD)} ${h(cmd)}`);
    for (let i = 0; ; i++) {
      this.dmaPolls++;
      const v = Number(BigInt(this.q.query(`readl ${h(bar + EDU_DMA_CMD)}`)) & 0xffffffffn);
      if ((v & EDU_DMA_RUN) === 0) return;
      if (i > 200000) throw new QtestError('qemu machine: edu DMA did not complete (is virtual time running?)');
    }
  }

  async close(): Promise<void> {
    await this.q.close();
  }

  /** "QEMU emulator version ..." of the binary in use. */
  static version(binary = qemuBinary()): string | undefined {
    return qemuVersion(binary);
  }
}
