// The vSMMU device: guest-visible registers and queues (in the WebAssembly engine),
// guest memory access, interrupts, DMA translation for emulated devices, and the
// vIOMMU forwarding to physical SMMUs.

import { instantiateEngine, type EngineExports } from './engine.js';
import { attachEngine } from './engine-debug.js';
import { Forwarder, type BoundBackend } from './viommu.js';
import { HostError, type HostErrorSource } from './host-error.js';
import { formatMmio, formatTrace, type RegionName } from './trace.js';
import * as A from './arch/abi.js';
import * as R from './arch/registers.js';
import * as N from './arch/snapshot.js';
import {
  SnapshotError, encodeSnapshot, decodeSnapshot, engineError, recordBytes, COUNT_OFFSET, FLAG_CACHES, FLAG_RAM, type SnapshotParts,
} from './snapshot.js';
import type {
  Access, GuestMemoryCallbacks, IrqLine, PassthroughDevice, Profile, RestoreOptions, SaveOptions, SmmuOptions,
  SmmuStats, Stage, TranslateResult, TranslateStatus, ViommuBackendConfig,
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
/** Largest length handed to dma_run at once (a u32; any length above a staging buffer's worth acts the same). */
const DMA_LEN_CAP = 2 ** 31;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'an unprintable value';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return typeof (v as { then?: unknown }).then === 'function' ? 'a thenable (Promise)' : 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${String(v)}`;
}
const PROFILES: Record<Profile, number> = { 'qemu-7.2': A.PF_QEMU_72, 'qemu-10.0': A.PF_QEMU_10, arch: A.PF_ARCH };
/** Profile flags of the translation stages an SMMU implements (IDR0.S1P/S2P; QEMU 10's `stage` property). */
const STAGES: Record<Stage, number> = { '1': 0, '2': A.PF_S2P | A.PF_NO_S1P, nested: A.PF_S2P };
/** The stages of a profile when the options name none: QEMU 10's `virt` machine is nested; QEMU 7.2 has stage 1 only. */
const DEFAULT_STAGE: Record<Profile, Stage> = { 'qemu-7.2': '1', 'qemu-10.0': 'nested', arch: '1' };

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

/** The engine's profile flags (PF_* of src/arch/abi.ts) for a profile and the stages it implements. */
export function profileFlags(profile: Profile, stage: Stage): number {
  // arch: the stages' ID registers and command rules are QEMU 10.0's (architected)
  return PROFILES[profile] | STAGES[stage] | (profile === 'arch' ? A.PF_V10 : 0);
}

/** Creates a vSMMU. */
export async function createSmmu(options: SmmuOptions = {}): Promise<Smmu> {
  const smmu = new Smmu(options);
  await smmu.start();
  const r = options.restore;
  if (r !== undefined) {
    try {
      if (r instanceof Uint8Array) smmu.restore(r);
      else if (r && typeof r === 'object') smmu.restore(r.snapshot, r);
      else throw new TypeError('vsmmu: restore must be a Uint8Array or { snapshot, caches?, arrival? }');
      await smmu.whenIdle();
    } catch (err) {
      smmu.dispose(); // no half-built model stays subscribed to the backends
      throw err;
    }
  }
  return smmu;
}

export class Smmu {
  readonly profile: Profile;
  /** The translation stages this SMMU implements. */
  readonly stage: Stage;
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
  /**
   * Which host callback the engine is inside (memory, trace sink, onHostError, a backend
   * call); calls into the model are refused while set (a backend may still read and write
   * guest memory, as a pSMMU's walks do). Irq callbacks run with the engine idle: calls
   * from them are allowed.
   */
  private inCallback: string | null = null;
  /** Host errors raised during the current call, thrown at its end when there is no onHostError hook. */
  private deferred: HostError[] = [];
  /** A host error raised while an asynchronous backend completed (no hook): whenIdle() rejects with it. */
  private asyncError: HostError | null = null;
  private readonly onHostError?: (err: HostError) => void;
  /** Guest register accesses QEMU would reject (size other than 4/8, or misaligned): read as 0, writes ignored. */
  decodeErrors = 0;
  /** Backend events dropped because the pSID is not a passthrough device of this vSMMU. */
  foreignEvents = 0;

  constructor(private readonly options: SmmuOptions) {
    const p = options.profile ?? 'qemu-7.2';
    if (typeof p !== 'string' || !Object.hasOwn(PROFILES, p)) throw new RangeError(`vsmmu: profile must be one of ${Object.keys(PROFILES).join(', ')}, got ${describe(p)}`);
    this.profile = p;
    const st = options.stage ?? DEFAULT_STAGE[p];
    if (typeof st !== 'string' || !Object.hasOwn(STAGES, st)) throw new RangeError(`vsmmu: stage must be one of ${Object.keys(STAGES).join(', ')}, got ${describe(st)}`);
    if (p === 'qemu-7.2' && st !== '1') throw new RangeError(`vsmmu: QEMU 7.2 implements stage 1 only, got stage ${st}`);
    this.stage = st;
    this.mem = options.memory;
    this.irq = options.irq;
    this.traceSink = options.trace;
    if (options.irq !== undefined && typeof options.irq !== 'function') throw new TypeError('vsmmu: irq must be a function (line, count) => void');
    if (options.memory && (typeof options.memory.read !== 'function' || typeof options.memory.write !== 'function')) {
      throw new TypeError('vsmmu: memory must have read(addr, dst) and write(addr, src) functions');
    }
    if (options.trace !== undefined && typeof options.trace !== 'function') throw new TypeError('vsmmu: trace must be a function (line) => void');
    if (options.onHostError !== undefined && typeof options.onHostError !== 'function') throw new TypeError('vsmmu: onHostError must be a function (error) => void');
    this.onHostError = options.onHostError;
    if (options.ram !== undefined && !Array.isArray(options.ram)) throw new TypeError('vsmmu: ram must be an array of { base, size }');
    const t = options.backendTimeoutMs;
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 2 ** 31 - 1)) {
      throw new RangeError(`vsmmu: backendTimeoutMs must be a number of milliseconds in (0, 2^31), got ${String(t)}`);
    }
  }

  /** @internal */
  async start(): Promise<void> {
    this.e = await instantiateEngine({
      host_read: (addr, len, dst) => this.hostAccess(addr, len, dst, false),
      host_write: (addr, len, src) => this.hostAccess(addr, len, src, true),
      trace_flush: (n) => this.drainTrace(n),
      fwd_flush: (n) => (this.forwarder ? this.forwarder.fromEngine(n) : A.FWR_DONE),
    }, this.options.wasm);
    const e = this.e;
    attachEngine(this, e);
    e.init(profileFlags(this.profile, this.stage));
    let total = 0;
    (this.options.ram ?? []).forEach((r, i) => { total += this.addRam(r, i, total); });
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

  /** Places RAM region `i`; returns its size. `total`: bytes placed before it. */
  private addRam(r: { base: unknown; size: unknown }, i: number, total: number): number {
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

  /** The bytes of RAM region `i` (inside the model's memory; the emulator may use it as its RAM). */
  ram(i = 0): Uint8Array {
    const r = this.rams[i];
    if (!r) throw new RangeError(`vsmmu: no RAM region ${i}`);
    return new Uint8Array(this.view(), r.ptr, r.size);
  }

  /** Declares an emulated device (QEMU: a PCI device on the SMMU's bus). */
  addDevice(sid: number): void {
    this.enter('addDevice');
    checkInt(sid, 'sid', 0xffff);
    this.e.set_device(sid, 1);
    if (!this.regionIndex.has(sid)) this.regionIndex.set(sid, this.regionIndex.size + 1);
  }

  // ---- guest memory -------------------------------------------------------------

  /** The engine's access to guest memory outside its RAM (addr: the u64 guest physical address). */
  private hostAccess(addr: bigint, len: number, ptr: number, write: boolean): number {
    const buf = this.view();
    const u8 = new Uint8Array(buf, ptr, len);
    if (addr + BigInt(len) > 2n ** 53n) {
      if (!write) u8.fill(0);
      return 0; // beyond 2^53: unassigned
    }
    const outer = this.inCallback;
    this.inCallback = write ? 'memory write' : 'memory read';
    try {
      return this.physAccess(Number(addr), u8, write) ? 1 : 0;
    } finally {
      this.inCallback = outer;
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
      this.report('memory', `memory ${write ? 'write' : 'read'} callback threw at 0x${addr.toString(16)} (+${part.length}): ${errorText(err)}`, err);
      r = false;
    }
    if (r === true) return true;
    if (r !== false) {
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        (r as Promise<unknown>).then(undefined, () => undefined); // its outcome is ignored: never an unhandled rejection
      }
      this.report('memory', `memory ${write ? 'write' : 'read'} callback returned ${describe(r)} at 0x${addr.toString(16)} instead of true or false (taken as a failed access)`);
    }
    if (!write) part.fill(0);
    return false;
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
        if (!this.callMemory(a, part, write)) ok = false;
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
    if (this.inCallback !== 'backend') this.enter('readMemory'); // a pSMMU reads guest memory (walks) while it works
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    checkInt(length, 'length', 0x40000000);
    if (addr + length > 2 ** 53) throw new RangeError('vsmmu: addr + length must not pass 2^53');
    const out = new Uint8Array(length);
    this.physAccess(addr, out, false);
    this.leave();
    return out;
  }

  /** Writes guest physical memory (as the CPU would: unassigned bytes are dropped). */
  writeMemory(addr: number, data: Uint8Array): void {
    if (this.inCallback !== 'backend') this.enter('writeMemory');
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    if (!(data instanceof Uint8Array)) throw new TypeError('vsmmu: data must be a Uint8Array');
    if (addr + data.length > 2 ** 53) throw new RangeError('vsmmu: addr + data.length must not pass 2^53');
    this.physAccess(addr, data, true);
    this.leave();
  }

  // ---- registers ----------------------------------------------------------------

  /** Register read at `offset` from the SMMU base: 4-byte accesses return a number, 8-byte a bigint. */
  mmioRead(offset: number, size: 4): number;
  mmioRead(offset: number, size: 8): bigint;
  mmioRead(offset: number, size: number): number | bigint;
  mmioRead(offset: number, size: number): number | bigint {
    this.enter('mmioRead');
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
    if (this.traceSink && !bad) this.sinkLine(formatMmio(false, offset & ~R.SMMU_PAGE1, v, size));
    this.leave();
    return out;
  }

  /** Register write at `offset`; starts command consumption when it should (CR0, GERRORN, CMDQ_PROD). */
  mmioWrite(offset: number, size: number, value: number | bigint): void {
    this.enter('mmioWrite');
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
      this.sinkLine(formatMmio(true, offset & ~R.SMMU_PAGE1, v, size));
    }
    this.afterCommands(r);
    this.leave();
  }

  /** Resets the device as QEMU's device reset does. */
  /**
   * Resets the device as QEMU's device reset does. Forwarded commands still outstanding at
   * an asynchronous backend are abandoned first (their results are ignored when they come).
   */
  reset(): void {
    this.enter('reset');
    if (this.pending) this.abandonForwarding('the vSMMU was reset');
    this.e.device_reset();
    this.afterCall();
    this.leave();
  }

  /**
   * Gives up on the backend call a CMD_SYNC waits for (a hung pSMMU): that call fails
   * with `reason`, so the guest sees CERROR_ILL at the command whose entries it held, as
   * for any failing entry; later results of the call are ignored. Returns false when
   * nothing was outstanding. `backendTimeoutMs` does the same automatically.
   */
  cancelBackend(reason = 'cancelled by the host'): boolean {
    return this.forwarder?.cancel(reason) ?? false;
  }

  /** Resolves when no forwarded commands are outstanding (only async backends leave some). */
  whenIdle(): Promise<void> {
    const take = (): void => {
      const err = this.asyncError;
      this.asyncError = null;
      if (err) throw err;
    };
    return this.pending ? this.pending.then(() => (this.pending ? this.whenIdle() : take())) : Promise.resolve().then(take);
  }

  /** True while an asynchronous backend holds a CMD_SYNC. */
  get busy(): boolean {
    return this.pending !== null;
  }

  private afterCommands(status: number): void {
    while (status === A.CQ_FORWARD && this.forwarder) {
      const r = this.forwarder.flush();
      if (r) {
        this.track(r, () => this.afterCommands(this.e.cmdq_consume()));
        this.afterCall();
        return;
      }
      status = this.e.cmdq_consume();
    }
    this.afterCall();
  }

  /**
   * Holds an asynchronous backend call as `pending` until it settles, then runs `next`.
   * The forwarder turns every backend outcome into a result; what goes wrong after it (a
   * throwing callback without onHostError) is kept for whenIdle(), never left as an
   * unhandled rejection. A reset in between abandons it (generation).
   */
  private track(r: Promise<void>, next: () => void): void {
    const generation = ++this.generation;
    this.pending = r.then(() => {
      if (generation !== this.generation) return; // abandoned (reset)
      this.pending = null;
      next();
    }).catch((err: unknown) => {
      if (generation === this.generation) this.pending = null;
      this.deferred.push(err instanceof HostError ? err : new HostError('internal', `vsmmu: ${errorText(err)}`, err));
    }).then(() => {
      const errs = this.deferred.splice(0);
      if (errs.length && !this.asyncError) this.asyncError = errs[0];
    });
  }

  private generation = 0;

  private abandonForwarding(reason: string): void {
    this.generation++;
    this.forwarder?.abandon(reason);
    this.pending = null;
    this.e.fwd_done(-1); // closes the engine's window; the reset that follows clears the queue
  }

  /** Delivers interrupt pulses: every line, even when the callback throws for one. */
  private afterCall(): void {
    const buf = this.view();
    const irq = new Uint32Array(buf, this.e.irq_ptr(), A.IRQ_COUNTERS_BYTES / 4);
    if (irq[0] | irq[1] | irq[2] | irq[3]) {
      const counts = Array.from(irq);
      irq.fill(0);
      if (this.irq) {
        for (let i = 0; i < 4; i++) {
          if (!counts[i]) continue;
          try {
            this.irq(IRQ_NAMES[i], counts[i]);
          } catch (err) {
            this.report('irq', `irq callback threw for line ${IRQ_NAMES[i]}: ${errorText(err)}`, err);
          }
        }
      }
    }
    if (this.traceSink) this.drainTrace(this.e.trace_take());
  }

  // ---- host errors and re-entry ------------------------------------------------------

  /**
   * Start of a public call. Refused (with an error that is also reported) while the engine
   * is inside a host callback: the call would run in the middle of the engine's work.
   */
  private enter(what: string): void {
    if (this.inCallback === null) return;
    const err = new HostError('reentry', `vsmmu: ${what}() called from inside a ${this.inCallback} callback: re-entry is refused (call it after the callback returns)`);
    this.report('reentry', err.message, undefined, err);
    throw err;
  }

  /** End of a public call: errors raised by host callbacks meanwhile are thrown when there is no hook. */
  private leave(): void {
    if (this.deferred.length === 0 || this.inCallback !== null) return;
    const errs = this.deferred.splice(0);
    if (errs.length > 1) errs[0].message += ` (and ${errs.length - 1} more host error${errs.length > 2 ? 's' : ''})`;
    throw errs[0];
  }

  /** Reports a host-side failure: to onHostError, or deferred to the end of the call. */
  private report(source: HostErrorSource, message: string, cause?: unknown, error?: HostError, backend?: string): void {
    const err = error ?? new HostError(source, message.startsWith('vsmmu:') ? message : `vsmmu: ${message}`, cause, backend);
    if (this.onHostError) {
      const outer = this.inCallback;
      this.inCallback = 'onHostError';
      try {
        this.onHostError(err);
        return;
      } catch (hookErr) {
        err.message += ` (onHostError threw: ${errorText(hookErr)})`;
      } finally {
        this.inCallback = outer;
      }
    }
    this.deferred.push(err);
  }

  /** A backend call failed (refused an entry, threw, returned something malformed, timed out). */
  private backendFailed(name: string, message: string, malformed: boolean): void {
    const text = `backend "${name}": ${message}`;
    if (malformed) this.report('backend', text, undefined, undefined, name);
    else if (this.onHostError) this.report('backend', text, undefined, undefined, name); // a refusal: the guest sees CERROR_ILL
  }

  // ---- tracing ------------------------------------------------------------------

  /** Starts (with a sink) or stops (undefined) the diagnostic trace. */
  setTrace(sink: ((line: string) => void) | undefined): void {
    this.enter('setTrace');
    if (sink !== undefined && sink !== null && typeof sink !== 'function') throw new TypeError(`vsmmu: setTrace(sink): sink must be a function or undefined, got ${describe(sink)}`);
    sink = sink ?? undefined;
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
      if (sink) this.sinkLine(formatTrace(id, args, this.regionName));
    }
  }

  /** One line to the trace sink; a throwing sink is reported and the trace goes on. */
  private sinkLine(line: string): void {
    const outer = this.inCallback;
    this.inCallback = 'trace';
    try {
      this.traceSink?.(line);
    } catch (err) {
      this.report('trace', `trace sink threw: ${errorText(err)}`, err);
    } finally {
      this.inCallback = outer;
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
    if (this.inCallback !== null) this.enter('translate');
    if (!(sid >>> 0 === sid)) checkInt(sid, 'sid', 0xffffffff);
    if (!(iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Number.isInteger(iova))) checkInt(iova, 'iova', Number.MAX_SAFE_INTEGER);
    const acc = access === 'write' ? A.ACC_WRITE : access === 'read' ? A.ACC_READ : -1;
    if (acc < 0) throw new RangeError(`vsmmu: access must be 'read' or 'write', got ${String(access)}`);
    this.view();
    const hi = Math.floor(iova / TWO32);
    const st = this.e.translate(sid, iova - hi * TWO32, hi, acc);
    if (st === A.XS_ERROR || this.traceSink) this.afterCall();
    if (this.deferred.length) this.leave();
    return this.result(st);
  }

  /** translate() for 64-bit IOVAs given as bigints; the output address is a bigint too. */
  translate64(sid: number, iova: bigint, access: Access = 'read'): TranslateResult & { addr64: bigint } {
    this.enter('translate64');
    checkInt(sid, 'sid', 0xffffffff);
    if (typeof iova !== 'bigint' || iova < 0n || iova >= 1n << 64n) throw new RangeError('vsmmu: iova must be a bigint in [0, 2^64)');
    const acc = access === 'write' ? A.ACC_WRITE : access === 'read' ? A.ACC_READ : -1;
    if (acc < 0) throw new RangeError(`vsmmu: access must be 'read' or 'write', got ${String(access)}`);
    this.view();
    const st = this.e.translate(sid, Number(iova & 0xffffffffn), Number(iova >> 32n), acc);
    this.afterCall();
    this.leave();
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
        this.enter('batch().run');
        checkInt(n, 'n', cap);
        this.e.translate_batch(n);
        this.afterCall();
        this.leave();
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
    this.enter('dma');
    checkInt(sid, 'sid', 0xffffffff);
    checkInt(iova, 'iova', Number.MAX_SAFE_INTEGER);
    if (direction !== 'read' && direction !== 'write') throw new RangeError(`vsmmu: direction must be 'read' or 'write', got ${String(direction)}`);
    if (!(bytes instanceof Uint8Array)) throw new TypeError('vsmmu: bytes must be a Uint8Array');
    return this.dmaImpl(sid, BigInt(iova), direction === 'write', bytes);
  }

  /** dma() with a 64-bit IOVA. */
  dma64(sid: number, iova: bigint, direction: Access, bytes: Uint8Array): number {
    this.enter('dma64');
    checkInt(sid, 'sid', 0xffffffff);
    if (typeof iova !== 'bigint' || iova < 0n || iova >= 1n << 64n) throw new RangeError('vsmmu: iova must be a bigint in [0, 2^64)');
    if (direction !== 'read' && direction !== 'write') throw new RangeError(`vsmmu: direction must be 'read' or 'write', got ${String(direction)}`);
    if (!(bytes instanceof Uint8Array)) throw new TypeError('vsmmu: bytes must be a Uint8Array');
    return this.dmaImpl(sid, iova, direction === 'write', bytes);
  }

  private dmaImpl(sid: number, iova: bigint, write: boolean, bytes: Uint8Array): number {
    const e = this.e;
    let done = 0;
    e.dma_failed();
    while (done < bytes.length) {
      // the engine sees the remaining length (piece sizes depend on it) and moves at most a
      // buffer's worth per call; a u32 cannot hold every length (2^32 would read as 0), and
      // beyond a buffer's worth the length changes nothing, so it is capped
      const left = Math.min(bytes.length - done, DMA_LEN_CAP);
      const a = BigInt.asUintN(64, iova + BigInt(done));
      const bufPtr = e.dma_buf_ptr();
      if (write) new Uint8Array(this.view(), bufPtr, Math.min(left, A.DMA_BUF_BYTES)).set(bytes.subarray(done, done + Math.min(left, A.DMA_BUF_BYTES)));
      const n = e.dma_run(sid, Number(a & 0xffffffffn), Number(a >> 32n), left, write ? 1 : 0);
      if (n === 0 || n > left) throw new Error(`vsmmu: engine moved ${n} of ${left} DMA bytes (internal error)`);
      if (!write) bytes.set(new Uint8Array(this.view(), bufPtr, n), done);
      done += n;
    }
    this.afterCall();
    const failed = e.dma_failed();
    this.leave();
    return failed;
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
    const backend = cfg.backend;
    if (!backend || typeof backend.invalidate !== 'function' || typeof backend.installSte !== 'function') {
      throw new TypeError(`vsmmu: backend "${cfg.name}" must implement invalidate(entries) and installSte(psid, ste)`);
    }
    this.e.set_backend(index, cfg.vmid);
    this.bound.push({ name: cfg.name, vmid: cfg.vmid, backend });
    this.backendsByName.set(cfg.name, index);
    if (backend.subscribe) this.unsubscribe.push(backend.subscribe((rec) => this.deliverBackendEvent(index, rec)));
    this.forwarder = new Forwarder(this.e, this.bound, {
      timeoutMs: this.options.backendTimeoutMs,
      report: (name, message, malformed) => this.backendFailed(name, message, malformed),
      inside: (label) => {
        const outer = this.inCallback;
        this.inCallback = label;
        return outer;
      },
      internal: (err) => this.report('internal', `vsmmu: forwarding failed: ${errorText(err)}`, err),
    });
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
    this.enter('bindDevice');
    checkInt(dev.sid, 'sid', 0xffffffff);
    checkInt(dev.psid, 'psid', 0xffffffff);
    const b = this.backendsByName.get(dev.backend);
    if (b === undefined) throw new RangeError(`vsmmu: device ${dev.sid} names unknown backend "${dev.backend}"`);
    if (!this.e.vdev_bind(dev.sid, b, dev.psid)) throw new RangeError(`vsmmu: too many passthrough devices (at most ${A.MAX_VDEVS})`);
    this.forwarder?.bindingsChanged();
  }

  /** Unbinds a passthrough device (hot-unplug). Entries for it not yet sent are dropped. */
  unbindDevice(sid: number): boolean {
    this.enter('unbindDevice');
    checkInt(sid, 'sid', 0xffffffff);
    this.forwarder?.bindingsChanged();
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
    this.enter('backendEvent');
    const b = this.backendsByName.get(name);
    if (b === undefined) throw new RangeError(`vsmmu: no backend named "${name}"`);
    const ok = this.deliverBackendEvent(b, record);
    this.leave();
    return ok;
  }

  private deliverBackendEvent(b: number, record: Uint8Array): boolean {
    if (!(record instanceof Uint8Array) || record.length !== A.BEV_BYTES) throw new TypeError(`vsmmu: an event record is a ${A.BEV_BYTES}-byte Uint8Array`);
    new Uint8Array(this.view(), this.e.bev_ptr(), A.BEV_BYTES).set(record);
    const ok = this.e.backend_event(b) !== 0;
    if (!ok) this.foreignEvents++;
    this.afterCall();
    return ok;
  }

  // ---- snapshots (docs/snapshot-format.md) ----------------------------------------

  /** Profile options that must match between a snapshot and the model restoring it: the stages the SMMU implements. */
  get profileOptions(): string {
    return `stage=${this.stage}`;
  }

  /**
   * Saves the device state: registers, raw queue pointers (wrap and ERR included), the
   * vIOMMU dispatcher's vASID table and topology, and on request the caches and the RAM
   * regions inside the model. Throws SnapshotError('busy') while an asynchronous backend
   * holds a CMD_SYNC: await whenIdle() first.
   */
  save(options: SaveOptions = {}): Uint8Array {
    this.enter('save');
    if (options === null || typeof options !== 'object') throw new TypeError('vsmmu: save options must be an object { caches?, ram? }');
    if (this.pending) throw new SnapshotError('busy', 'cannot save while an asynchronous backend holds a CMD_SYNC; await smmu.whenIdle() first');
    const e = this.e;
    const err = engineError(e.snap_save(options.caches ? 1 : 0), 'save');
    if (err) throw err;
    const state = new Uint8Array(this.view(), e.snap_ptr(), N.SN_BYTES).slice();
    const sv = new DataView(state.buffer);
    const records: Uint8Array[] = [];
    for (let sec = 0; sec < N.SEC_COUNT; sec++) records.push(this.exportRecords(sec, sv.getUint32(COUNT_OFFSET[sec], true)));
    return encodeSnapshot({
      flags: (options.caches ? FLAG_CACHES : 0) | (options.ram ? FLAG_RAM : 0),
      profile: this.profile,
      variant: this.profileOptions,
      state,
      records,
      names: this.bound.map((b) => b.name),
      ram: options.ram ? this.rams.map((r, i) => ({ base: r.base, bytes: this.ram(i) })) : [],
    });
  }

  /** The engine's records of `section` (n of them), chunk by chunk. */
  private exportRecords(section: number, n: number): Uint8Array {
    const size = recordBytes(section);
    const out = new Uint8Array(n * size);
    for (let first = 0; first < n;) {
      const k = this.e.snap_export(section, first);
      if (k === 0) break;
      out.set(new Uint8Array(this.view(), this.e.snap_chunk_ptr(), k * size), first * size);
      first += k;
    }
    return out;
  }

  /** Runs `fn` on each chunk of `records` copied into the engine's chunk area. */
  private eachChunk(section: number, records: Uint8Array, fn: (n: number) => void): void {
    const size = recordBytes(section);
    const per = this.e.snap_chunk_records(section);
    for (let o = 0; o < records.length; o += per * size) {
      const part = records.subarray(o, Math.min(records.length, o + per * size));
      new Uint8Array(this.view(), this.e.snap_chunk_ptr(), part.length).set(part);
      fn(part.length / size);
    }
  }

  /**
   * Restores a snapshot into this model (its profile, emulated devices and passthrough
   * vSIDs must be those of the saved one; its backends and bindings may differ: the new
   * host's). Everything is checked before anything changes; a SnapshotError leaves the
   * model as it was. With asynchronous backends, arrival installs may still be in flight
   * when this returns: await whenIdle().
   */
  restore(snapshot: Uint8Array, options: RestoreOptions = {}): void {
    this.enter('restore');
    if (options === null || typeof options !== 'object') throw new TypeError('vsmmu: restore options must be an object { caches?, arrival? }');
    if (this.pending) throw new SnapshotError('busy', 'cannot restore while an asynchronous backend holds a CMD_SYNC; await smmu.whenIdle() first');
    const caches = options.caches ?? 'drop';
    if (caches !== 'drop' && caches !== 'keep') throw new TypeError(`vsmmu: restore caches must be 'drop' or 'keep', got ${String(caches)}`);
    if (options.arrival !== undefined && typeof options.arrival !== 'boolean') throw new TypeError(`vsmmu: restore arrival must be a boolean, got ${String(options.arrival)}`);
    const p = decodeSnapshot(snapshot);
    const arrival = this.checkSnapshot(p, options, caches);
    // everything checked: apply
    const e = this.e;
    e.snap_apply();
    if (!arrival) {
      this.eachChunk(N.SEC_VASIDS, p.records[N.SEC_VASIDS], (n) => e.snap_import(N.SEC_VASIDS, n));
      e.snap_import_wildcard();
    }
    if (caches === 'keep') {
      this.eachChunk(N.SEC_CONFIGS, p.records[N.SEC_CONFIGS], (n) => e.snap_import(N.SEC_CONFIGS, n));
      this.eachChunk(N.SEC_IOTLB, p.records[N.SEC_IOTLB], (n) => e.snap_import(N.SEC_IOTLB, n));
    }
    p.ram.forEach((r, i) => this.ram(i).set(r.bytes));
    if (arrival && e.snap_arrive() === A.CQ_FORWARD && this.forwarder) {
      const r = this.forwarder.flush(true);
      if (r) this.track(r, () => {}); // arrival is no guest command: nothing to consume after it
    }
    this.afterCall();
    this.leave();
  }

  /**
   * Empties the IOTLB and the configuration cache, as a QEMU migration does (restore's
   * default). For comparisons with a migrated run, and for emulators that migrate without
   * snapshots.
   */
  dropCaches(): void {
    this.enter('dropCaches');
    this.e.drop_caches();
  }

  /** Every check of a restore; returns whether the VM arrives on a new host. Changes nothing in the model. */
  private checkSnapshot(p: SnapshotParts, options: RestoreOptions, caches: 'drop' | 'keep'): boolean {
    if (p.profile !== this.profile || p.variant !== this.profileOptions) {
      const show = (a: string, b: string) => (b ? `${a} (${b})` : a);
      throw new SnapshotError('profile', `saved with profile ${show(p.profile, p.variant)}, this model is ${show(this.profile, this.profileOptions)}`);
    }
    if (caches === 'keep' && !(p.flags & FLAG_CACHES)) throw new SnapshotError('caches', "caches: 'keep' needs a snapshot saved with { caches: true }");
    const e = this.e;
    new Uint8Array(this.view(), e.snap_ptr(), N.SN_BYTES).set(p.state);
    const err = engineError(e.snap_check(), 'state');
    if (err) throw err;
    for (let sec = 0; sec < N.SEC_COUNT; sec++) {
      this.eachChunk(sec, p.records[sec], (n) => {
        const r = engineError(e.snap_check_records(sec, n), `record section ${sec}`);
        if (r) throw r;
      });
    }
    if (p.ram.length > 0) {
      const same = p.ram.length === this.rams.length && p.ram.every((r, i) => r.base === this.rams[i].base && r.bytes.length === this.rams[i].size);
      if (!same) throw new SnapshotError('ram', `RAM regions ${p.ram.map((r) => `0x${r.base.toString(16)}+0x${r.bytes.length.toString(16)}`).join(', ')} differ from this model's`);
    }
    // the guest-visible topology: the same emulated devices and passthrough vSIDs
    const u32s = (b: Uint8Array, size: number, off: number): number[] => {
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const out: number[] = [];
      for (let o = 0; o < b.length; o += size) out.push(dv.getUint32(o + off, true));
      return out;
    };
    const savedEmu = u32s(p.records[N.SEC_DEVICES], N.REC_DEVICE_BYTES, 0).sort((a, b) => a - b);
    const savedPt = u32s(p.records[N.SEC_VDEVS], N.REC_VDEV_BYTES, N.REC_VDEV_SID).sort((a, b) => a - b);
    e.snap_save(0); // counts of this model's own sections (no state is changed)
    const own = new DataView(this.view(), e.snap_ptr(), N.SN_BYTES);
    const nOwn = (sec: number) => own.getUint32(COUNT_OFFSET[sec], true);
    const ownVdevs = this.exportRecords(N.SEC_VDEVS, nOwn(N.SEC_VDEVS));
    const ownBackends = this.exportRecords(N.SEC_BACKENDS, nOwn(N.SEC_BACKENDS));
    const ownEmu = u32s(this.exportRecords(N.SEC_DEVICES, nOwn(N.SEC_DEVICES)), N.REC_DEVICE_BYTES, 0);
    const ownPt = u32s(ownVdevs, N.REC_VDEV_BYTES, N.REC_VDEV_SID);
    new Uint8Array(this.view(), e.snap_ptr(), N.SN_BYTES).set(p.state); // the saved block again, for snap_apply
    const hx = (l: number[]) => (l.length ? l.map((v) => '0x' + v.toString(16)).join(', ') : 'none');
    const diff = (a: number[], b: number[]) => a.filter((v) => !b.includes(v));
    const kindChanged = [...savedEmu.filter((v) => ownPt.includes(v)), ...savedPt.filter((v) => ownEmu.includes(v))];
    if (kindChanged.length) throw new SnapshotError('topology', `StreamIDs ${hx(kindChanged)} change kind (emulated / passthrough); a guest cannot see its devices change`);
    const missing = [...diff(savedEmu, ownEmu), ...diff(savedPt, ownPt)];
    const extra = [...diff(ownEmu, savedEmu), ...diff(ownPt, savedPt)];
    if (missing.length || extra.length) {
      throw new SnapshotError('topology', `the guest's StreamIDs differ: saved but absent here ${hx(missing)}; here but not saved ${hx(extra)}`);
    }
    const sameHost = p.names.length === this.bound.length && p.names.every((n, i) => n === this.bound[i].name) &&
      equalBytes(p.records[N.SEC_BACKENDS], ownBackends) && equalBytes(p.records[N.SEC_VDEVS], ownVdevs);
    if (options.arrival === false && !sameHost) {
      throw new SnapshotError('topology', 'arrival: false, but this model\'s backends or bindings differ from the saved ones (a VM on another host arrives)');
    }
    return options.arrival ?? !sameHost;
  }

  /** Detaches from backends' event streams. */
  dispose(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
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
