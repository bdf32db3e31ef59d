// vsmmu: the library entry (`import ... from 'vsmmu'`). The device, the guest driver, the
// command/STE/CD/PTE encoders, the pSMMU backends and the public types. The topology explorer
// and the demo's views have their own entry points (`vsmmu/explorer`, `vsmmu/views`), so an
// emulator's bundle carries only the device and what it chooses to use.

export { createSmmu, Smmu, type TranslateBatch } from './smmu.js';
export { SimulatedPsmmu, type SimulatedPsmmuOptions, type PsmmuCounters, type ViommuHandle, type PassthroughDmaResult, type SteSlot } from './backends/simulated.js';
export { GuestDriver, CommandError, type GuestBus, type DriverOptions, type Domain, type EventRecord } from './guest/driver.js';
export * as encode from './guest/encode.js';
export { commandName, eventName, cerrorName, type RegionName } from './trace.js';
export type { PsmmuBackend, BatchResult } from './backends/types.js';
export type {
  Profile, IrqLine, GuestMemoryCallbacks, RamRegion, SmmuOptions, ViommuBackendConfig, PassthroughDevice,
  Access, TranslateStatus, TranslateResult, SmmuStats, WasmSource,
} from './types.js';
