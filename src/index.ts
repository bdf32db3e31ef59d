// vsmmu public API.

export { createSmmu, Smmu, type TranslateBatch } from './smmu.js';
export { SimulatedPsmmu, type SimulatedPsmmuOptions, type PsmmuCounters, type ViommuHandle, type PassthroughDmaResult } from './backends/simulated.js';
export { GuestDriver, CommandError, type GuestBus, type DriverOptions, type Domain } from './guest/driver.js';
export * as encode from './guest/encode.js';
export { buildVm, GuestRam, type Vm, type TopologySpec, type VsmmuSpec, type PsmmuSpec, type VsmmuNode } from './topo/vm.js';
export type { PsmmuBackend, BatchResult } from './backends/types.js';
export type {
  Profile, IrqLine, GuestMemoryCallbacks, RamRegion, SmmuOptions, ViommuBackendConfig, PassthroughDevice,
  Access, TranslateStatus, TranslateResult, SmmuStats,
} from './types.js';
