// Public types of the vsmmu API.

import type { PsmmuBackend } from './backends/types.js';
import type { HostError } from './host-error.js';

/** Which behaviour the model follows. `qemu-7.2`: QEMU 7.2's arm-smmuv3, bit for bit.
 *  `qemu-10.0`: QEMU 10.0.2's, with stage 2 and nested translation (and QEMU 10.0's bugs).
 *  `arch`: the architected behaviours where QEMU departs from IHI 0070 (GBPA, access flag
 *  and address-size faults, stage 2 and nested done as the architecture says); see the README. */
export type Profile = 'qemu-7.2' | 'qemu-10.0' | 'arch';

/** Translation stages the SMMU implements (IDR0.S1P/S2P): stage 1, stage 2, or both (nested). */
export type Stage = '1' | '2' | 'nested';

/** Interrupt lines of the SMMU (the wired SPIs of QEMU's virt machine, in its order). */
export type IrqLine = 'eventq' | 'priq' | 'cmd-sync' | 'gerror';

/**
 * Emulator-owned guest memory. Addresses are guest physical, non-negative numbers below
 * 2^53 (the engine's 64-bit address, never a signed 32-bit value); accesses that would
 * pass 2^53 never reach the callbacks (unassigned).
 */
export interface GuestMemoryCallbacks {
  /**
   * Fill all of `dst` from guest memory at `addr` and return `true`. Anything else (false,
   * 1, an object, a Promise) or a throw is a failed read (external abort): `dst` is zeroed
   * before the call and again after a failure, so nothing stale is ever used. Runs inside
   * the engine: calling back into the vSMMU from here is refused (an error is thrown).
   */
  read(addr: number, dst: Uint8Array): boolean;
  /** Write `src` to guest memory at `addr`; return `true` on success (anything else or a throw: the write failed). */
  write(addr: number, src: Uint8Array): boolean;
}

export interface RamRegion {
  /** Guest physical base address. */
  base: number | bigint;
  /** Size in bytes (at most 3 GiB in all). */
  size: number;
}

export interface ViommuBackendConfig {
  /** Name the devices refer to. */
  name: string;
  /** The VMID this VM has on that pSMMU. */
  vmid: number;
  /** The pSMMU (an iommufd-backed one, or a `SimulatedPsmmu`): the embedder's choice, no default. */
  backend: PsmmuBackend;
}

export interface PassthroughDevice {
  /** Virtual StreamID the guest uses. */
  sid: number;
  /** Backend name. */
  backend: string;
  /** Physical StreamID on that backend. */
  psid: number;
}

export interface SmmuOptions {
  /** Behaviour profile (default `qemu-7.2`). */
  profile?: Profile;
  /** Implemented stages (a trace header's `stage`): default `nested` for `qemu-10.0` (QEMU 10's `virt`), `1` otherwise; `qemu-7.2` has stage 1 only. */
  stage?: Stage;
  /** RAM regions placed inside the model's WebAssembly memory (fastest: no JS call to reach them). */
  ram?: RamRegion[];
  /** Emulator-owned memory for every address outside `ram`. Without it, such addresses are unassigned. */
  memory?: GuestMemoryCallbacks;
  /** Interrupt delivery: `count` pulses of `line` (edge-triggered; coalescing them is allowed). */
  irq?: (line: IrqLine, count: number) => void;
  /** StreamIDs of the emulated devices behind the SMMU (QEMU: the PCI devices on its bus). */
  devices?: number[];
  /** Diagnostic trace sink: one line per decision, in QEMU's trace-event format. */
  trace?: (line: string) => void;
  /**
   * The engine's WebAssembly when the packaged `vsmmu.wasm` (beside the module, found through
   * `import.meta.url`) is not reachable: a URL, the bytes, a `Response` or a compiled
   * `WebAssembly.Module` (compile once, share it between devices). Default: the packaged file.
   */
  wasm?: import('./wasm-source.js').WasmSource;
  /** vIOMMU: physical SMMUs and passthrough devices behind this vSMMU. */
  viommu?: { backends: ViommuBackendConfig[]; devices?: PassthroughDevice[] };
  /** Keep no emulated caches (a dedicated passthrough vSMMU: commands are only forwarded). */
  passthroughOnly?: boolean;
  /** Learn which backends hold each guest ASID (default true); false broadcasts every TLBI_NH_ASID/VA. */
  vasidTable?: boolean;
  /**
   * Host-side failures: a memory, irq or trace callback that threw or answered outside its
   * contract, a backend call that failed (its error text), a call refused as re-entry.
   * Without this hook such an error (except a backend's plain refusal, which the guest
   * sees as CERROR_ILL) is thrown by the call during which it happened, once the model is
   * consistent again, or, after an asynchronous backend, by the promise whenIdle() returns.
   */
  onHostError?: (error: HostError) => void;
  /**
   * Deadline for a backend call that returned a Promise: when it has not settled after
   * this many milliseconds the call fails (the guest sees CERROR_ILL at that command) and
   * its late result is ignored. Default: none (use smmu.cancelBackend() to give up).
   */
  backendTimeoutMs?: number;
  /** Starts from a snapshot (`smmu.save()`): the bytes, or the bytes with restore options. */
  restore?: Uint8Array | ({ snapshot: Uint8Array } & RestoreOptions);
}

/** What `smmu.save()` writes besides registers, queues and the vIOMMU dispatcher's state. */
export interface SaveOptions {
  /** Also the IOTLB and the configuration cache (for a restore with `caches: 'keep'`). Default false. */
  caches?: boolean;
  /** Also the bytes of the RAM regions inside the model (`ram` option). Default false. */
  ram?: boolean;
}

export interface RestoreOptions {
  /**
   * `'drop'` (default): as QEMU after a migration, the IOTLB and the configuration cache
   * start empty (stale translations are walked afresh). `'keep'`: exact continuation
   * (rewind, save states); the snapshot must have been saved with `caches: true`.
   */
  caches?: 'drop' | 'keep';
  /**
   * vIOMMU: the backends are those of a new host (empty pSMMUs): the vASID table starts
   * empty and every passthrough device's STE is installed (trace spec, "Migrating to
   * another host topology"). Default: true when this model's backends or bindings differ
   * from the saved ones, false when they are the same (same host: nothing is sent).
   */
  arrival?: boolean;
}

export type Access = 'read' | 'write';

export type TranslateStatus = 'success' | 'disabled' | 'bypass' | 'abort' | 'fault';

export interface TranslateResult {
  status: TranslateStatus;
  /** True when the access may proceed (success, disabled-bypass or STE bypass). */
  ok: boolean;
  /** Output (physical) address; the input address when bypassed; 0 on abort/fault. */
  addr: number;
  /** Size of the translated block (page or block mapping; 4096 when bypassed). */
  size: number;
  /** Permissions of the translation: bit 0 read, bit 1 write. */
  perm: number;
  /** Event number of the fault (0 when none), as in the event record. */
  event: number;
  /** Whether that event was written to the event queue. */
  recorded: boolean;
}

export interface SmmuStats {
  commands: number;
  syncs: number;
  translations: number;
  iotlbHits: number;
  iotlbMisses: number;
  configHits: number;
  configMisses: number;
  events: number;
  eventsLost: number;
  forwarded: number;
  filtered: number;
  broadcastTlbi: number;
  targetedTlbi: number;
  walkReads: number;
  iotlbFullFlushes: number;
  iotlbEntries: number;
}
