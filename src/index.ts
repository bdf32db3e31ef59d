// vsmmu public API.

export { createSmmu, Smmu, type TranslateBatch } from './smmu.js';
export { HostError, type HostErrorSource } from './host-error.js';
export { SimulatedPsmmu, type SimulatedPsmmuOptions, type PsmmuCounters, type ViommuHandle, type PassthroughDmaResult } from './backends/simulated.js';
export { GuestDriver, CommandError, type GuestBus, type DriverOptions, type Domain } from './guest/driver.js';
export { Stage2Tables, type Stage2Options, type TableMemory } from './guest/stage2.js';
export * as encode from './guest/encode.js';
export { commandName, eventName } from './trace.js';
export { SnapshotError, SNAPSHOT_VERSION, type SnapshotErrorCode } from './snapshot.js';
export type { PsmmuBackend, BatchResult } from './backends/types.js';
export type {
  Profile, Stage, IrqLine, GuestMemoryCallbacks, RamRegion, SmmuOptions, ViommuBackendConfig, PassthroughDevice,
  Access, TranslateStatus, TranslateResult, SmmuStats, SaveOptions, RestoreOptions,
} from './types.js';

// The library entry holds the device, the guest driver, the encoders, the backends and the
// types; the topology explorer and the demo's views have their own entry points
// (`vsmmu/explorer`: src/explorer.ts, `vsmmu/views`: src/views.ts), so an emulator's bundle
// carries only what it uses.
export type { EventRecord } from './guest/driver.js';
export type { SteSlot } from './backends/simulated.js';
export { cerrorName, type RegionName } from './trace.js';
export type { WasmSource } from './wasm-source.js';
