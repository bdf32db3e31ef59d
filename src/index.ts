// vsmmu public API.

export { createSmmu, Smmu, type TranslateBatch } from './smmu.js';
export { SimulatedPsmmu, type SimulatedPsmmuOptions, type PsmmuCounters } from './backends/simulated.js';
export type { PsmmuBackend, BatchResult } from './backends/types.js';
export type {
  Profile, IrqLine, GuestMemoryCallbacks, RamRegion, SmmuOptions, ViommuBackendConfig, PassthroughDevice,
  Access, TranslateStatus, TranslateResult, SmmuStats,
} from './types.js';
