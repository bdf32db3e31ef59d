// The vSMMU device: guest-visible registers and queues (in the WebAssembly engine),
// guest memory access, interrupts, DMA translation for emulated devices, and the
// vIOMMU forwarding to physical SMMUs.

import { instantiateEngine, type EngineExports } from './engine.js';
import { attachEngine } from './engine-debug.js';
import { Forwarder, type BoundBackend } from './viommu.js';
import { SimulatedPsmmu } from './backends/simulated.js';
import { formatMmio, formatTrace, type RegionName } from './trace.js';
import * as A from './arch/abi.js';
import * as R from './arch/registers.js';
import type {
  Access, GuestMemoryCallbacks, IrqLine, PassthroughDevice, Profile, SmmuOptions, SmmuStats,
  TranslateResult, TranslateStatus, ViommuBackendConfig,
} from './types.js';
import type { PsmmuBackend } from './backends/types.js';

/** Host names of the engine's interrupt lines, indexed by IRQ_* (its pulse counters are in that order). */
const IRQ_NAMES: IrqLine[] = [];
IRQ_NAMES[R.IRQ_EVTQ] = 'eventq';
IRQ_NAMES[R.IRQ_PRIQ] = 'priq';
IRQ_NAMES[R.IRQ_CMD_SYNC] = 'cmd-sync';
IRQ_NAMES[R.IRQ_GERROR] = 'gerror';
/** Host names of the engine's translation statuses, indexed by XS_*. */
const STATUS: TranslateStatus[] = [];
STATUS[A.XS_SUCCESS] = 'success';
STATUS[A.XS_DISABLE] = 'disabled';
STATUS[A.XS_BYPASS] = 'bypass';
STATUS[A.XS_ABORT] = 'abort';
STATUS[A.XS_ERROR] = 'fault';
STATUS[A.XS_GBPA_ABORT] = 'abort';
const TWO32 = 2 ** 32;
const PROFILES: Record<Profile, number> = { 'qemu-7.2': A.PF_QEMU_72, arch: A.PF_ARCH };

interface Ram {
  base: number;
  size: number;
  ptr: number;
}

function checkInt(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`vsmmu: ${what} must be an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Creates a vSMMU. */
export async function createSmmu(options: SmmuOptions = {}): Promise<Smmu> {
  const smmu = new Smmu(options);
  await smmu.start();
  return smmu;
}

export class Smmu {
  readonly profile: Profile;
  private e!: EngineExports;
  private rams: Ram[] = [];
  private readonly mem?: GuestMemoryCallbacks;
  private readonly irq?: (line: IrqLine, count: number) => void;
  private traceSink?: (line: string) => void;
  private forwarder?: Forwarder;
  private readonly backendsByName = new Map<string, number>();
  private readonly bound: BoundBackend[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private pending: Promise<void> | null = null;
  private xo32!: Uint32Array;
  private buf?: ArrayBuffer;
  private regionIndex = new Map<number, number>();
  /** Guest register accesses QEMU would reject (size other than 4/8, or misaligned): read as 0, writes ignored. */
  decodeErrors = 0;
  /** Backend events dropped because the pSID is not a passthrough device of this vSMMU. */
  foreignEvents = 0;

  constructor(private readonly options: SmmuOptions) {
    const p = options.profile ?? 'qemu-7.2';
    if (!(p in PROFILES)) throw new RangeError(`vsmmu: profile must be one of ${Object.keys(PROFILES).join(', ')}, got ${String(p)}`);
    this.profile = p;
    this.mem = options.memory;
    this.irq = options.irq;
    this.traceSink = options.trace;
    if (options.irq !== undefined && typeof options.irq !== 'function') throw new TypeError('vsmmu: irq must be a function (line, count) => void');
    if (options.memory && (typeof options.memory.read !== 'function' || typeof options.memory.write !== 'function')) {
      throw new TypeError('vsmmu: memory must have read(addr, dst) and write(addr, src) functions');
    }
  }

  /** @internal */
  async start(): Promise<void> {
    this.e = await instantiateEngine({
      host_read: (lo, hi, len, dst) => this.hostAccess(lo, hi, len, dst, false),
      host_write: (lo, hi, len, src) => this.hostAccess(lo, hi, len, src, true),
      trace_flush: (n) => this.drainTrace(n),
    });
    const e = this.e;
    attachEngine(this, e);
    e.init(PROFILES[this.profile]);
    for (const r of this.options.ram ?? []) this.addRam(r.base, r.size);
    e.set_host_memory(this.mem ? 1 : 0);
    if (this.options.passthroughOnly) e.set_local_caches(0);
    if (this.options.vasidTable === false) e.set_vasid_table(0);
    for (const sid of this.options.devices ?? []) this.addDevice(sid);
    if (this.traceSink) e.set_trace(1);
    const v = this.options.viommu;
    if (v) {
      for (const b of v.backends) this.addBackend(b);
      for (const d of v.devices ?? []) this.bindDevice(d);
    }
  }

  private view(): ArrayBuffer {
    const b = this.e.memory.buffer;
    if (b !== this.buf) {
      this.buf = b;
      this.xo32 = new Uint32Array(b, this.e.xo_ptr(), A.XO_BYTES / 4);
    }
    return b;
  }

  private addRam(base: number | bigint, size: number): void {
    const b = BigInt(base);
    if (b < 0n || b >= 1n << 53n) throw new RangeError(`vsmmu: ram base must be in [0, 2^53), got ${String(base)}`);
    checkInt(size, 'ram size', 0xc0000000);
    const bn = Number(b);
    const ptr = this.e.add_ram(bn % TWO32, Math.floor(bn / TWO32), size % TWO32, Math.floor(size / TWO32));
    if (ptr === 0) throw new RangeError(`vsmmu: cannot place RAM [${'0x' + b.toString(16)}, +${size}): overlapping, too many regions or out of memory`);
    this.rams.push({ base: bn, size, ptr });
  }

  /** The bytes of RAM region `i` (inside the model's memory; the emulator may use it as its RAM). */
  ram(i = 0): Uint8Array {
    const r = this.rams[i];
    if (!r) throw new RangeError(`vsmmu: no RAM region ${i}`);
    return new Uint8Array(this.view(), r.ptr, r.size);
  }

  /** Declares an emulated device (QEMU: a PCI device on the SMMU's bus). */
  addDevice(sid: number): void {
    checkInt(sid, 'sid', 0xffff);
    this.e.set_device(sid, 1);
    if (!this.regionIndex.has(sid)) this.regionIndex.set(sid, this.regionIndex.size + 1);
  }

  // ---- guest memory -------------------------------------------------------------

  private hostAccess(lo: number, hi: number, len: number, ptr: number, write: boolean): number {
    const buf = this.view();
    const u8 = new Uint8Array(buf, ptr, len);
    if (hi >= 1 << 21) {
      if (!write) u8.fill(0);
      return 0; // beyond 2^53: unassigned
    }
    return this.physAccess(hi * TWO32 + lo, u8, write) ? 1 : 0;
  }

  /** Guest-physical access as a DMA master sees it: RAM inside the model, then the memory callbacks. */
  private physAccess(addr: number, data: Uint8Array, write: boolean): boolean {
    let ok = true;
    let done = 0;
    const buf = this.view();
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
        if (!(write ? this.mem.write(a, part) : this.mem.read(a, part))) {
          ok = false;
          if (!write) part.fill(0);
        }
      } else {
        ok = false;
        if (!write) part.fill(0);
      }
      done += step;
    }
    return ok;
  }

  /** Reads guest physical memory (as the CPU would: unassigned bytes read as zero). */
  readMemory(addr: number, length: number): Uint8Array {
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    checkInt(length, 'length', 0x40000000);
    const out = new Uint8Array(length);
    this.physAccess(addr, out, false);
    return out;
  }

  /** Writes guest physical memory (as the CPU would: unassigned bytes are dropped). */
  writeMemory(addr: number, data: Uint8Array): void {
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    if (!(data instanceof Uint8Array)) throw new TypeError('vsmmu: data must be a Uint8Array');
    this.physAccess(addr, data, true);
  }

  // ---- registers ----------------------------------------------------------------

  /** Register read at `offset` from the SMMU base: 4-byte accesses return a number, 8-byte a bigint. */
  mmioRead(offset: number, size: 4): number;
  mmioRead(offset: number, size: 8): bigint;
  mmioRead(offset: number, size: number): number | bigint;
  mmioRead(offset: number, size: number): number | bigint {
    checkInt(offset, 'offset', R.SMMU_MMIO_SIZE - 1);
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new RangeError(`vsmmu: size must be 1, 2, 4 or 8, got ${String(size)}`);
    let v: bigint;
    let out: number | bigint;
    const bad = (size !== 4 && size !== 8) || offset % size !== 0 || offset + size > R.SMMU_MMIO_SIZE;
    if (bad) {
      this.decodeErrors++;
      out = size === 8 ? 0n : 0;
      v = 0n;
    } else if (size === 4) {
      out = this.e.mmio_read32(offset) >>> 0;
      v = BigInt(out);
    } else {
      out = BigInt.asUintN(64, this.e.mmio_read64(offset));
      v = out;
    }
    // accesses QEMU's memory core rejects never reach smmu_read_mmio: no trace line
    if (this.traceSink && !bad) this.traceSink(formatMmio(false, offset & ~R.SMMU_PAGE1, v, size));
    return out;
  }

  /** Register write at `offset`; starts command consumption when it should (CR0, GERRORN, CMDQ_PROD). */
  mmioWrite(offset: number, size: number, value: number | bigint): void {
    checkInt(offset, 'offset', R.SMMU_MMIO_SIZE - 1);
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new RangeError(`vsmmu: size must be 1, 2, 4 or 8, got ${String(size)}`);
    if (typeof value !== 'number' && typeof value !== 'bigint') throw new TypeError('vsmmu: value must be a number or a bigint');
    const bits = size * 8;
    const lo = size === 8 ? -(2n ** 63n) : -(2n ** BigInt(bits - 1));
    const hi = 2n ** BigInt(bits);
    if (typeof value === 'number' ? !Number.isSafeInteger(value) || value < Number(lo) || value >= Number(hi) : value < lo || value >= hi) {
      throw new RangeError(`vsmmu: value must be an integer that fits ${size} bytes (signed or unsigned), got ${String(value)}`);
    }
    const v = BigInt.asUintN(bits, BigInt(value));
    if ((size !== 4 && size !== 8) || offset % size !== 0 || offset + size > R.SMMU_MMIO_SIZE) {
      this.decodeErrors++; // rejected by QEMU's memory core: no effect, no trace line
      return;
    }
    const r = size === 4 ? this.e.mmio_write32(offset, Number(v)) : this.e.mmio_write64(offset, BigInt.asIntN(64, v));
    if (this.traceSink) {
      // QEMU traces smmuv3_write_mmio once the write (and the consumption it started) took effect
      this.drainTrace(this.e.trace_take());
      this.traceSink(formatMmio(true, offset & ~R.SMMU_PAGE1, v, size));
    }
    this.afterCommands(r);
  }

  /** Resets the device as QEMU's device reset does. */
  reset(): void {
    if (this.pending) throw new Error('vsmmu: reset while forwarded commands are outstanding; await whenIdle() first');
    this.e.device_reset();
    this.afterCall();
  }

  /** Resolves when no forwarded commands are outstanding (only async backends leave some). */
  whenIdle(): Promise<void> {
    return this.pending ?? Promise.resolve();
  }

  /** True while an asynchronous backend holds a CMD_SYNC. */
  get busy(): boolean {
    return this.pending !== null;
  }

  private afterCommands(status: number): void {
    while (status === A.CQ_FORWARD && this.forwarder) {
      const r = this.forwarder.flush();
      if (r) {
        this.pending = r.then(() => {
          this.pending = null;
          this.afterCommands(this.e.cmdq_consume());
        }).catch((err) => {
          this.pending = null;
          throw err;
        });
        this.afterCall();
        return;
      }
      status = this.e.cmdq_consume();
    }
    this.afterCall();
  }

  private afterCall(): void {
    const buf = this.view();
    const irq = new Uint32Array(buf, this.e.irq_ptr(), A.IRQ_COUNTERS_BYTES / 4);
    if (irq[0] | irq[1] | irq[2] | irq[3]) {
      const counts = Array.from(irq);
      irq.fill(0);
      if (this.irq) counts.forEach((c, i) => c && this.irq!(IRQ_NAMES[i], c));
    }
    if (this.traceSink) this.drainTrace(this.e.trace_take());
  }

  // ---- tracing ------------------------------------------------------------------

  /** Starts (with a sink) or stops (undefined) the diagnostic trace. */
  setTrace(sink: ((line: string) => void) | undefined): void {
    this.traceSink = sink;
    this.e.set_trace(sink ? 1 : 0);
  }

  /** Name QEMU gives a device's IOMMU region in its trace lines. */
  regionName: RegionName = (sid) => `smmuv3-iommu-memory-region-${sid & 0xff}-${this.regionIndex.get(sid) ?? 0}`;

  private drainTrace(n: number): void {
    if (n === 0) return;
    const sink = this.traceSink;
    const view = new DataView(this.view(), this.e.trace_ptr(), A.TR_CAPACITY * A.TR_BYTES);
    for (let i = 0; i < n; i++) {
      const o = i * A.TR_BYTES;
      const id = view.getUint32(o + A.TR_ID, true);
      const args: bigint[] = [];
      for (let k = 0; k < 8; k++) args.push(view.getBigUint64(o + A.TR_ARGS + k * 8, true));
      if (sink) sink(formatTrace(id, args, this.regionName));
    }
  }

  // ---- translation --------------------------------------------------------------

  private result(status: number): TranslateResult {
    const x = this.xo32;
    const ok = status === A.XS_SUCCESS || status === A.XS_DISABLE || status === A.XS_BYPASS;
    const mask = x[A.XO_MASK / 4] + x[A.XO_MASK / 4 + 1] * TWO32;
    return {
      status: STATUS[status],
      ok,
      addr: ok ? x[A.XO_ADDR / 4] + x[A.XO_ADDR / 4 + 1] * TWO32 : 0,
      size: ok ? mask + 1 : 0,
      perm: x[A.XO_PERM / 4],
      event: x[A.XO_EVENT / 4],
      recorded: x[A.XO_RECORDED / 4] !== 0,
    };
  }

  /**
   * Translates one access of emulated device `sid` at `iova` (a number below 2^53) as
   * QEMU's smmuv3_translate does, recording the fault event when there is one.
   */
  translate(sid: number, iova: number, access: Access = 'read'): TranslateResult {
    if (!(sid >>> 0 === sid)) checkInt(sid, 'sid', 0xffffffff);
    if (!(iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Number.isInteger(iova))) checkInt(iova, 'iova', Number.MAX_SAFE_INTEGER);
    const acc = access === 'write' ? A.ACC_WRITE : access === 'read' ? A.ACC_READ : -1;
    if (acc < 0) throw new RangeError(`vsmmu: access must be 'read' or 'write', got ${String(access)}`);
    this.view();
    const hi = Math.floor(iova / TWO32);
    const st = this.e.translate(sid, iova - hi * TWO32, hi, acc);
    if (st === A.XS_ERROR || this.traceSink) this.afterCall();
    return this.result(st);
  }

  /** translate() for 64-bit IOVAs given as bigints; the output address is a bigint too. */
  translate64(sid: number, iova: bigint, access: Access = 'read'): TranslateResult & { addr64: bigint } {
    checkInt(sid, 'sid', 0xffffffff);
    if (typeof iova !== 'bigint' || iova < 0n || iova >= 1n << 64n) throw new RangeError('vsmmu: iova must be a bigint in [0, 2^64)');
    const acc = access === 'write' ? A.ACC_WRITE : A.ACC_READ;
    this.view();
    const st = this.e.translate(sid, Number(iova & 0xffffffffn), Number(iova >> 32n), acc);
    this.afterCall();
    const r = this.result(st);
    const x = this.xo32;
    const addr64 = r.ok ? (BigInt(x[A.XO_ADDR / 4 + 1]) << 32n) | BigInt(x[A.XO_ADDR / 4]) : 0n;
    return { ...r, addr: r.ok ? Number(addr64) : 0, addr64 };
  }

  /**
   * Batch translation for hot paths: a view of the engine's request/result arrays.
   * Fill sid/iova/access for n requests, call run(n), read status/addr.
   */
  batch(): TranslateBatch {
    const buf = this.view();
    const p = this.e.batch_ptr();
    const cap = A.XB_CAPACITY;
    const arrays = {
      sid: new Uint32Array(buf, p + A.XB_SID, cap),
      iova: new Float64Array(buf, p + A.XB_IOVA, cap),
      access: new Uint8Array(buf, p + A.XB_ACCESS, cap),
      status: new Uint8Array(buf, p + A.XB_STATUS, cap),
      addr: new Float64Array(buf, p + A.XB_OUT, cap),
    };
    return {
      capacity: cap,
      ...arrays,
      run: (n: number) => {
        checkInt(n, 'n', cap);
        this.e.translate_batch(n);
        this.afterCall();
      },
    };
  }

  /**
   * DMA of emulated device `sid`: `direction` 'read' fills `bytes` from IOVA `iova`,
   * 'write' stores `bytes` there. Follows the trace spec: translated runs go to the end of
   * their 4 KiB block, a failed translation covers 4 bytes (reading zeros, dropping
   * writes) and raises its event. Returns the number of bytes whose translation failed.
   */
  dma(sid: number, iova: number, direction: Access, bytes: Uint8Array): number {
    checkInt(sid, 'sid', 0xffffffff);
    checkInt(iova, 'iova', Number.MAX_SAFE_INTEGER);
    if (direction !== 'read' && direction !== 'write') throw new RangeError(`vsmmu: direction must be 'read' or 'write', got ${String(direction)}`);
    if (!(bytes instanceof Uint8Array)) throw new TypeError('vsmmu: bytes must be a Uint8Array');
    return this.dmaImpl(sid, BigInt(iova), direction === 'write', bytes);
  }

  /** dma() with a 64-bit IOVA. */
  dma64(sid: number, iova: bigint, direction: Access, bytes: Uint8Array): number {
    checkInt(sid, 'sid', 0xffffffff);
    if (typeof iova !== 'bigint' || iova < 0n || iova >= 1n << 64n) throw new RangeError('vsmmu: iova must be a bigint in [0, 2^64)');
    if (direction !== 'read' && direction !== 'write') throw new RangeError(`vsmmu: direction must be 'read' or 'write', got ${String(direction)}`);
    return this.dmaImpl(sid, iova, direction === 'write', bytes);
  }

  private dmaImpl(sid: number, iova: bigint, write: boolean, bytes: Uint8Array): number {
    const e = this.e;
    let done = 0;
    e.dma_failed();
    while (done < bytes.length) {
      // the engine sees the whole remaining length (piece sizes depend on it) and moves at
      // most a buffer's worth per call
      const left = bytes.length - done;
      const a = BigInt.asUintN(64, iova + BigInt(done));
      const bufPtr = e.dma_buf_ptr();
      if (write) new Uint8Array(this.view(), bufPtr, Math.min(left, A.DMA_BUF_BYTES)).set(bytes.subarray(done, done + Math.min(left, A.DMA_BUF_BYTES)));
      const n = e.dma_run(sid, Number(a & 0xffffffffn), Number(a >> 32n), left, write ? 1 : 0);
      if (!write) bytes.set(new Uint8Array(this.view(), bufPtr, n), done);
      done += n;
    }
    this.afterCall();
    return e.dma_failed();
  }

  // ---- statistics ---------------------------------------------------------------

  private stat(off: number): number {
    const v = new DataView(this.view(), this.e.stats_ptr() + off, 8);
    return v.getUint32(0, true) + v.getUint32(4, true) * TWO32;
  }

  stats(): SmmuStats {
    return {
      commands: this.stat(A.ST_COMMANDS),
      syncs: this.stat(A.ST_SYNCS),
      translations: this.stat(A.ST_TRANSLATIONS),
      iotlbHits: this.stat(A.ST_IOTLB_HITS),
      iotlbMisses: this.stat(A.ST_IOTLB_MISSES),
      configHits: this.stat(A.ST_CFG_HITS),
      configMisses: this.stat(A.ST_CFG_MISSES),
      events: this.stat(A.ST_EVENTS),
      eventsLost: this.stat(A.ST_EVENTS_LOST),
      forwarded: this.stat(A.ST_FORWARDED),
      filtered: this.stat(A.ST_FILTERED),
      broadcastTlbi: this.stat(A.ST_BROADCAST_TLBI),
      targetedTlbi: this.stat(A.ST_TARGETED_TLBI),
      walkReads: this.stat(A.ST_WALK_READS),
      iotlbFullFlushes: this.stat(A.ST_IOTLB_FLUSH_FULL),
      iotlbEntries: this.e.iotlb_count(),
    };
  }

  /** Bytes of WebAssembly memory in use (tables, RAM regions, staging). */
  get wasmMemoryBytes(): number {
    return this.e.memory.buffer.byteLength;
  }

  // ---- vIOMMU -------------------------------------------------------------------

  /** Adds a physical SMMU behind this vSMMU, with the VMID this VM has on it. */
  addBackend(cfg: ViommuBackendConfig): PsmmuBackend {
    if (!cfg || typeof cfg.name !== 'string' || cfg.name === '') throw new TypeError('vsmmu: backend name must be a non-empty string');
    if (this.backendsByName.has(cfg.name)) throw new RangeError(`vsmmu: backend "${cfg.name}" already exists`);
    checkInt(cfg.vmid, `vmid of backend "${cfg.name}"`, 0xffff);
    const index = this.bound.length;
    if (index >= A.MAX_BACKENDS) throw new RangeError(`vsmmu: at most ${A.MAX_BACKENDS} backends per vSMMU`);
    const backend = cfg.backend ?? new SimulatedPsmmu({ name: cfg.name });
    if (typeof backend.invalidate !== 'function' || typeof backend.installSte !== 'function') {
      throw new TypeError(`vsmmu: backend "${cfg.name}" must implement invalidate(entries) and installSte(psid, ste)`);
    }
    this.e.set_backend(index, cfg.vmid);
    this.bound.push({ name: cfg.name, vmid: cfg.vmid, backend });
    this.backendsByName.set(cfg.name, index);
    if (backend.subscribe) this.unsubscribe.push(backend.subscribe((rec) => this.deliverBackendEvent(index, rec)));
    this.forwarder = new Forwarder(this.e, this.bound);
    return backend;
  }

  /** The backend called `name`. */
  backend(name: string): PsmmuBackend {
    const i = this.backendsByName.get(name);
    if (i === undefined) throw new RangeError(`vsmmu: no backend named "${name}"`);
    return this.bound[i].backend;
  }

  get backends(): ReadonlyArray<{ name: string; vmid: number; backend: PsmmuBackend }> {
    return this.bound;
  }

  /** Binds a passthrough device (iommufd vdevice: vSID -> backend + pSID); may be called at run time (hotplug). */
  bindDevice(dev: PassthroughDevice): void {
    checkInt(dev.sid, 'sid', 0xffffffff);
    checkInt(dev.psid, 'psid', 0xffffffff);
    const b = this.backendsByName.get(dev.backend);
    if (b === undefined) throw new RangeError(`vsmmu: device ${dev.sid} names unknown backend "${dev.backend}"`);
    if (!this.e.vdev_bind(dev.sid, b, dev.psid)) throw new RangeError(`vsmmu: too many passthrough devices (at most ${A.MAX_VDEVS})`);
  }

  /** Unbinds a passthrough device (hot-unplug). Entries for it not yet sent are dropped. */
  unbindDevice(sid: number): boolean {
    checkInt(sid, 'sid', 0xffffffff);
    return this.e.vdev_unbind(sid) !== 0;
  }

  /** Backends known to hold guest ASID `asid` (learned from passthrough devices' CDs). */
  asidHolders(asid: number): string[] {
    checkInt(asid, 'asid', 0xffff);
    const m = this.e.vasid_mask(asid) | this.e.wildcard_mask();
    return this.bound.filter((_, i) => (m >>> i) & 1).map((b) => b.name);
  }

  /**
   * A physical event record (32 bytes) from backend `name`: delivered to the guest's
   * event queue with the pSID replaced by the vSID, or dropped (returns false) when no
   * passthrough device of this vSMMU has that pSID on that backend.
   */
  backendEvent(name: string, record: Uint8Array): boolean {
    const b = this.backendsByName.get(name);
    if (b === undefined) throw new RangeError(`vsmmu: no backend named "${name}"`);
    return this.deliverBackendEvent(b, record);
  }

  private deliverBackendEvent(b: number, record: Uint8Array): boolean {
    if (!(record instanceof Uint8Array) || record.length !== A.BEV_BYTES) throw new TypeError(`vsmmu: an event record is a ${A.BEV_BYTES}-byte Uint8Array`);
    new Uint8Array(this.view(), this.e.bev_ptr(), A.BEV_BYTES).set(record);
    const ok = this.e.backend_event(b) !== 0;
    if (!ok) this.foreignEvents++;
    this.afterCall();
    return ok;
  }

  /** Detaches from backends' event streams. */
  dispose(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}

export interface TranslateBatch {
  capacity: number;
  sid: Uint32Array;
  /** IOVAs as numbers below 2^53. */
  iova: Float64Array;
  /** A.ACC_READ (1) or A.ACC_WRITE (2) per request. */
  access: Uint8Array;
  /** XS_* status per request: 0 success, 1 SMMU disabled (bypass), 2 STE bypass, 3 abort, 4 fault. */
  status: Uint8Array;
  /** Output address per request (0 unless the access may proceed). */
  addr: Float64Array;
  run(n: number): void;
}
