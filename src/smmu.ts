// The vSMMU device: guest-visible registers and queues (in the WebAssembly engine),
// guest memory access, interrupts, DMA translation for emulated devices, and the
// vIOMMU forwarding to physical SMMUs.

import { instantiateEngine, type EngineExports } from './engine.js';
import { attachEngine } from './engine-debug.js';
import { formatMmio, formatTrace, type RegionName } from './trace.js';
import * as A from './arch/abi.js';
import * as R from './arch/registers.js';
import { SnapshotError, encodeSnapshot, decodeSnapshot, FLAG_CACHES, FLAG_RAM } from './snapshot.js';
import type {
  Access, IrqLine, PassthroughDevice, Profile, RestoreOptions, SaveOptions, SmmuOptions,
  SmmuStats, Stage, TranslateResult, ViommuBackendConfig,
} from './types.js';
import type { PsmmuBackend } from './backends/types.js';
import { HostCalls, checkCallbacks, checkInt, describe, errorText } from './device/host-calls.js';
import { dmaRun } from './device/dma.js';
import { HostMemory } from './device/host-memory.js';
import { checkMmioAccess, mmioRejected, mmioWriteValue } from './device/mmio-access.js';
import { checkProfile, profileFlags } from './device/profile.js';
import { applyState, checkSnapshot, saveState } from './device/snapshot-state.js';
import { readStats, translateAddr64, translateResult } from './device/translation.js';
import { ViommuAttachment } from './device/viommu-attach.js';

export { profileFlags };

/** Host names of the engine's interrupt lines, indexed by IRQ_* (its pulse counters are in that order). */
const IRQ_NAMES: IrqLine[] = [];
IRQ_NAMES[R.IRQ_EVTQ] = 'eventq';
IRQ_NAMES[R.IRQ_PRIQ] = 'priq';
IRQ_NAMES[R.IRQ_CMD_SYNC] = 'cmd-sync';
IRQ_NAMES[R.IRQ_GERROR] = 'gerror';
const TWO32 = 2 ** 32;

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
  private readonly host: HostCalls;
  private readonly memory: HostMemory;
  private readonly viommu: ViommuAttachment;
  private readonly irq?: (line: IrqLine, count: number) => void;
  private traceSink?: (line: string) => void;
  private xo32!: Uint32Array;
  private buf?: ArrayBuffer;
  private regionIndex = new Map<number, number>();
  /** Guest register accesses QEMU would reject (size other than 4/8, or misaligned): read as 0, writes ignored. */
  decodeErrors = 0;
  /** Backend events dropped because the pSID is not a passthrough device of this vSMMU. */
  foreignEvents = 0;

  constructor(private readonly options: SmmuOptions) {
    const { profile, stage } = checkProfile(options.profile, options.stage);
    this.profile = profile;
    this.stage = stage;
    this.irq = options.irq;
    this.traceSink = options.trace;
    checkCallbacks(options);
    if (options.ram !== undefined && !Array.isArray(options.ram)) throw new TypeError('vsmmu: ram must be an array of { base, size }');
    const t = options.backendTimeoutMs;
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 2 ** 31 - 1)) {
      throw new RangeError(`vsmmu: backendTimeoutMs must be a number of milliseconds in (0, 2^31), got ${String(t)}`);
    }
    this.host = new HostCalls(options.onHostError);
    this.memory = new HostMemory(options.memory, this.host);
    this.viommu = new ViommuAttachment(this.host, t);
  }

  /** @internal */
  async start(): Promise<void> {
    this.e = await instantiateEngine({
      host_read: (addr, len, dst) => this.hostAccess(addr, len, dst, false),
      host_write: (addr, len, src) => this.hostAccess(addr, len, src, true),
      trace_flush: (n) => this.drainTrace(n),
      fwd_flush: (n) => {
        const f = this.viommu.forwarder;
        return f ? f.fromEngine(n) : A.FWR_DONE;
      },
    }, this.options.wasm);
    const e = this.e;
    attachEngine(this, e);
    this.memory.attach(e);
    e.init(profileFlags(this.profile, this.stage));
    let total = 0;
    (this.options.ram ?? []).forEach((r, i) => { total += this.memory.addRam(r, i, total); });
    e.set_host_memory(this.options.memory ? 1 : 0);
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

  /** The bytes of RAM region `i` (inside the model's memory; the emulator may use it as its RAM). */
  ram(i = 0): Uint8Array {
    return this.memory.ram(i);
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
    this.view();
    return this.memory.hostAccess(addr, len, ptr, write);
  }

  /** Reads guest physical memory (as the CPU would: unassigned bytes read as zero). */
  readMemory(addr: number, length: number): Uint8Array {
    if (this.host.current !== 'backend') this.enter('readMemory'); // a pSMMU reads guest memory (walks) while it works
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    checkInt(length, 'length', 0x40000000);
    if (addr + length > 2 ** 53) throw new RangeError('vsmmu: addr + length must not pass 2^53');
    const out = new Uint8Array(length);
    this.memory.access(addr, out, false);
    this.leave();
    return out;
  }

  /** Writes guest physical memory (as the CPU would: unassigned bytes are dropped). */
  writeMemory(addr: number, data: Uint8Array): void {
    if (this.host.current !== 'backend') this.enter('writeMemory');
    checkInt(addr, 'addr', Number.MAX_SAFE_INTEGER);
    if (!(data instanceof Uint8Array)) throw new TypeError('vsmmu: data must be a Uint8Array');
    if (addr + data.length > 2 ** 53) throw new RangeError('vsmmu: addr + data.length must not pass 2^53');
    this.memory.access(addr, data, true);
    this.leave();
  }

  // ---- registers ----------------------------------------------------------------

  /** Register read at `offset` from the SMMU base: 4-byte accesses return a number, 8-byte a bigint. */
  mmioRead(offset: number, size: 4): number;
  mmioRead(offset: number, size: 8): bigint;
  mmioRead(offset: number, size: number): number | bigint;
  mmioRead(offset: number, size: number): number | bigint {
    this.enter('mmioRead');
    checkMmioAccess(offset, size);
    let v: bigint;
    let out: number | bigint;
    const bad = mmioRejected(offset, size);
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
    checkMmioAccess(offset, size);
    const v = mmioWriteValue(size, value);
    if (mmioRejected(offset, size)) {
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

  /**
   * Resets the device as QEMU's device reset does. Forwarded commands still outstanding at
   * an asynchronous backend are abandoned first (their results are ignored when they come).
   */
  reset(): void {
    this.enter('reset');
    if (this.viommu.busy) this.abandonForwarding('the vSMMU was reset');
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
    return this.viommu.forwarder?.cancel(reason) ?? false;
  }

  /** Resolves when no forwarded commands are outstanding (only async backends leave some). */
  whenIdle(): Promise<void> {
    return this.viommu.whenIdle();
  }

  /** True while an asynchronous backend holds a CMD_SYNC. */
  get busy(): boolean {
    return this.viommu.busy;
  }

  private afterCommands(status: number): void {
    let f: ViommuAttachment['forwarder'];
    while (status === A.CQ_FORWARD && (f = this.viommu.forwarder)) {
      const r = f.flush();
      if (r) {
        this.viommu.track(r, () => this.afterCommands(this.e.cmdq_consume()));
        this.afterCall();
        return;
      }
      status = this.e.cmdq_consume();
    }
    this.afterCall();
  }

  private abandonForwarding(reason: string): void {
    this.viommu.abandon(reason);
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
            this.host.report('irq', `irq callback threw for line ${IRQ_NAMES[i]}: ${errorText(err)}`, err);
          }
        }
      }
    }
    if (this.traceSink) this.drainTrace(this.e.trace_take());
  }

  // ---- host errors and re-entry ------------------------------------------------------

  /** Start of a public call: refused while the engine is inside a host callback. */
  private enter(what: string): void {
    this.host.enter(what);
  }

  /** End of a public call: errors raised by host callbacks meanwhile are thrown when there is no hook. */
  private leave(): void {
    this.host.leave();
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
    const outer = this.host.swap('trace');
    try {
      this.traceSink?.(line);
    } catch (err) {
      this.host.report('trace', `trace sink threw: ${errorText(err)}`, err);
    } finally {
      this.host.swap(outer);
    }
  }

  // ---- translation --------------------------------------------------------------

  private result(status: number): TranslateResult {
    return translateResult(this.xo32, status);
  }

  /**
   * Translates one access of emulated device `sid` at `iova` (a number below 2^53) as
   * QEMU's smmuv3_translate does, recording the fault event when there is one.
   */
  translate(sid: number, iova: number, access: Access = 'read'): TranslateResult {
    if (this.host.current !== null) this.enter('translate');
    if (!(sid >>> 0 === sid)) checkInt(sid, 'sid', 0xffffffff);
    if (!(iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Number.isInteger(iova))) checkInt(iova, 'iova', Number.MAX_SAFE_INTEGER);
    const acc = access === 'write' ? A.ACC_WRITE : access === 'read' ? A.ACC_READ : -1;
    if (acc < 0) throw new RangeError(`vsmmu: access must be 'read' or 'write', got ${String(access)}`);
    this.view();
    const hi = Math.floor(iova / TWO32);
    const st = this.e.translate(sid, iova - hi * TWO32, hi, acc);
    if (st === A.XS_ERROR || this.traceSink) this.afterCall();
    if (this.host.hasDeferred) this.leave();
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
    const addr64 = r.ok ? translateAddr64(this.xo32) : 0n;
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
    e.dma_failed();
    dmaRun(e, sid, iova, write, bytes);
    this.afterCall();
    const failed = e.dma_failed();
    this.leave();
    return failed;
  }

  // ---- statistics ---------------------------------------------------------------

  stats(): SmmuStats {
    this.view();
    return readStats(this.e);
  }

  /** Bytes of WebAssembly memory in use (tables, RAM regions, staging). */
  get wasmMemoryBytes(): number {
    return this.e.memory.buffer.byteLength;
  }

  // ---- vIOMMU -------------------------------------------------------------------

  /** Adds a physical SMMU behind this vSMMU, with the VMID this VM has on it. */
  addBackend(cfg: ViommuBackendConfig): PsmmuBackend {
    return this.viommu.add(this.e, cfg, (index, rec) => this.deliverBackendEvent(index, rec));
  }

  /** The backend called `name`. */
  backend(name: string): PsmmuBackend {
    const i = this.viommu.index(name);
    if (i === undefined) throw new RangeError(`vsmmu: no backend named "${name}"`);
    return this.viommu.list[i].backend;
  }

  get backends(): ReadonlyArray<{ name: string; vmid: number; backend: PsmmuBackend }> {
    return this.viommu.list;
  }

  /** Binds a passthrough device (iommufd vdevice: vSID -> backend + pSID); may be called at run time (hotplug). */
  bindDevice(dev: PassthroughDevice): void {
    this.enter('bindDevice');
    checkInt(dev.sid, 'sid', 0xffffffff);
    checkInt(dev.psid, 'psid', 0xffffffff);
    const b = this.viommu.index(dev.backend);
    if (b === undefined) throw new RangeError(`vsmmu: device ${dev.sid} names unknown backend "${dev.backend}"`);
    if (!this.e.vdev_bind(dev.sid, b, dev.psid)) throw new RangeError(`vsmmu: too many passthrough devices (at most ${A.MAX_VDEVS})`);
    this.viommu.forwarder?.bindingsChanged();
  }

  /** Unbinds a passthrough device (hot-unplug). Entries for it not yet sent are dropped. */
  unbindDevice(sid: number): boolean {
    this.enter('unbindDevice');
    checkInt(sid, 'sid', 0xffffffff);
    this.viommu.forwarder?.bindingsChanged();
    return this.e.vdev_unbind(sid) !== 0;
  }

  /** Backends known to hold guest ASID `asid` (learned from passthrough devices' CDs). */
  asidHolders(asid: number): string[] {
    checkInt(asid, 'asid', 0xffff);
    const m = this.e.vasid_mask(asid) | this.e.wildcard_mask();
    return this.viommu.list.filter((_, i) => (m >>> i) & 1).map((b) => b.name);
  }

  /**
   * A physical event record (32 bytes) from backend `name`: delivered to the guest's
   * event queue with the pSID replaced by the vSID, or dropped (returns false) when no
   * passthrough device of this vSMMU has that pSID on that backend.
   */
  backendEvent(name: string, record: Uint8Array): boolean {
    this.enter('backendEvent');
    const b = this.viommu.index(name);
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
    if (this.viommu.busy) throw new SnapshotError('busy', 'cannot save while an asynchronous backend holds a CMD_SYNC; await smmu.whenIdle() first');
    this.view();
    const { state, records } = saveState(this.e, options.caches === true);
    return encodeSnapshot({
      flags: (options.caches ? FLAG_CACHES : 0) | (options.ram ? FLAG_RAM : 0),
      profile: this.profile,
      variant: this.profileOptions,
      state,
      records,
      names: this.viommu.list.map((b) => b.name),
      ram: options.ram ? this.memory.regions.map((r, i) => ({ base: r.base, bytes: this.ram(i) })) : [],
    });
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
    if (this.viommu.busy) throw new SnapshotError('busy', 'cannot restore while an asynchronous backend holds a CMD_SYNC; await smmu.whenIdle() first');
    const caches = options.caches ?? 'drop';
    if (caches !== 'drop' && caches !== 'keep') throw new TypeError(`vsmmu: restore caches must be 'drop' or 'keep', got ${String(caches)}`);
    if (options.arrival !== undefined && typeof options.arrival !== 'boolean') throw new TypeError(`vsmmu: restore arrival must be a boolean, got ${String(options.arrival)}`);
    const p = decodeSnapshot(snapshot);
    this.view();
    const e = this.e;
    const arrival = checkSnapshot(e, p, {
      profile: this.profile, variant: this.profileOptions, rams: this.memory.regions, names: this.viommu.list.map((b) => b.name),
    }, options, caches);
    // everything checked: apply
    applyState(e, p, arrival, caches);
    p.ram.forEach((r, i) => this.ram(i).set(r.bytes));
    const f = this.viommu.forwarder;
    if (arrival && e.snap_arrive() === A.CQ_FORWARD && f) {
      const r = f.flush(true);
      if (r) this.viommu.track(r, () => {}); // arrival is no guest command: nothing to consume after it
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

  /** Detaches from backends' event streams. */
  dispose(): void {
    this.viommu.dispose();
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
