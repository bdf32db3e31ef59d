// vsmmu/explorer: VMs with several vSMMUs and pSMMUs on shared RAM (buildVm) and the topology
// explorer that runs one guest workload on each topology and counts what reaches the pSMMUs
// (`vsmmu topo`, the demo). Not needed to embed the device.

export { buildVm, GuestRam, VM_RAM_BASE, type Vm, type TopologySpec, type VsmmuSpec, type PsmmuSpec, type VsmmuNode, type DoorbellCounters } from './topo/vm.js';
export {
  TopologyRun, exploreAll, topologySpec, checkWorkload, rangeTlbi, TOPOLOGIES, DEFAULT_WORKLOAD, DEFAULT_STEPS, WORKLOAD_LIMITS,
  exploreMigrations, type TopologyName, type Workload, type TopologyMetrics, type ObservedEvent, type MigrationOutcome,
} from './topo/explore.js';
export { type MigrationReport } from './topo/migrate.js';
