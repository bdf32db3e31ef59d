// vsmmu public API.

export { createSmmu, Smmu, type TranslateBatch } from './smmu.js';
export { HostError, type HostErrorSource } from './host-error.js';
export { SimulatedPsmmu, type SimulatedPsmmuOptions, type PsmmuCounters, type ViommuHandle, type PassthroughDmaResult } from './backends/simulated.js';
export { GuestDriver, CommandError, type GuestBus, type DriverOptions, type Domain } from './guest/driver.js';
export * as encode from './guest/encode.js';
export { buildVm, GuestRam, type Vm, type TopologySpec, type VsmmuSpec, type PsmmuSpec, type VsmmuNode } from './topo/vm.js';
export {
  TopologyRun, exploreAll, topologySpec, checkWorkload, rangeTlbi, TOPOLOGIES, DEFAULT_WORKLOAD, WORKLOAD_LIMITS,
  type TopologyName, type Workload, type TopologyMetrics, type ObservedEvent,
} from './topo/explore.js';
export { LiveSeries, snapshot, type Snapshot, type LiveChart } from './topo/live.js';
export { cmdqView, eventqView, vdevTable, vasidTable, commandFields, type CmdqView, type EventqView, type VdevRow, type VasidRow } from './topo/views.js';
export { topologySvg, lineChart, panelsSvg, topologyDiagramSvg, describeWorkload } from './topo/svg.js';
export { commandName, eventName } from './trace.js';
export { SnapshotError, SNAPSHOT_VERSION, type SnapshotErrorCode } from './snapshot.js';
export type { PsmmuBackend, BatchResult } from './backends/types.js';
export type {
  Profile, IrqLine, GuestMemoryCallbacks, RamRegion, SmmuOptions, ViommuBackendConfig, PassthroughDevice,
  Access, TranslateStatus, TranslateResult, SmmuStats, SaveOptions, RestoreOptions,
} from './types.js';
