// vsmmu/views: what the browser demo draws from a running topology: live series, decoded
// command and event rings, the vdev and vASID tables, and the SVG charts.

export { LiveSeries, snapshot, liveChartSvg, type Snapshot, type LiveChart } from './topo/live.js';
export {
  cmdqView, eventqView, vdevTable, vasidTable, commandFields,
  type CmdqView, type EventqView, type RingSlot, type VdevRow, type VasidRow,
} from './topo/views.js';
export { topologySvg, lineChart, panelsSvg, topologyDiagramSvg, describeWorkload, type Series, type LineChartOptions, type Bar } from './topo/svg.js';
