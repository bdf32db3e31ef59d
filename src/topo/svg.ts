// Small SVG charts (no dependencies), used by `vsmmu topo --svg` and the browser demo.
// Everything here returns SVG markup as a string, so it runs in Node and in a page.

import type { TopologyMetrics, Workload } from './explore.js';
import type { TopologySpec } from './vm.js';

export interface Bar {
  label: string;
  value: number;
}

export const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A number as a chart label: 3 decimals below 1, 2 below 10, then grouped integers (k/M above a million). */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Number.isInteger(v) && Math.abs(v) < 1e7) return v.toLocaleString('en-US');
  if (v !== 0 && Math.abs(v) < 1) return v.toFixed(3);
  if (Math.abs(v) < 10) return v.toFixed(2);
  if (Math.abs(v) >= 1e7) return (v / 1e6).toFixed(1) + 'M';
  return Math.round(v).toLocaleString('en-US');
}

/**
 * Where a value axis starts when ratios are compared: 0 unless the values are close together,
 * else a round value below the smallest, so that the spread fills at least a third of the axis
 * (a walk-cache hit rate of 0.947 against 0.975 must not look equal).
 */
export function ratioAxisStart(values: number[], top?: number): number {
  const vs = values.filter(Number.isFinite);
  if (vs.length === 0) return 0;
  const lo = Math.min(...vs);
  const hi = Math.max(top ?? -Infinity, ...vs);
  const spread = hi - lo;
  if (lo <= 0 || spread === 0 || spread > hi / 3) return 0;
  const want = lo - spread * 1.5;
  const step = niceCeil((hi - want) / 5);
  return Math.max(0, Math.floor(want / step) * step);
}

/** A horizontal bar chart as an SVG <g> at (x, y) of the given width; bars start at `from` (default 0). */
export function barPanel(title: string, bars: Bar[], x: number, y: number, width: number, unit = '', from = 0): string {
  const rowH = 22;
  const labelW = Math.min(165, width * 0.4);
  const max = Math.max(from + 1e-9, ...bars.map((b) => b.value));
  const barW = width - labelW - 70;
  let out = `<g transform="translate(${x},${y})"><text x="0" y="14" font-weight="bold" font-size="13">${esc(title)}</text>`;
  if (from !== 0) {
    // a broken-axis mark at the bars' start
    const yb = 24 + bars.length * rowH;
    out += `<path d="M${labelW - 4} ${yb + 2} l4 -5 l4 5" fill="none" stroke="#888"/><text class="axis-start" x="${labelW}" y="${yb + 12}" font-size="10" fill="#555">axis starts at ${fmt(from)}, not 0</text>`;
  }
  bars.forEach((b, i) => {
    const yy = 24 + i * rowH;
    const w = Math.max(1, ((b.value - from) / (max - from)) * barW);
    out += `<text x="${labelW - 6}" y="${yy + 14}" text-anchor="end" font-size="11">${esc(b.label)}</text>`;
    out += `<rect class="bar" x="${labelW}" y="${yy + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(b.label)}: ${fmt(b.value)}${esc(unit)}</title></rect>`;
    out += `<text x="${(labelW + w + 4).toFixed(1)}" y="${yy + 14}" font-size="11">${fmt(b.value)}${esc(unit)}</text>`;
  });
  return out + '</g>';
}

/** Height of a panel with `n` bars (and room for the axis-start label). */
export function panelHeight(n: number): number {
  return 44 + n * 22;
}

/** A grid of bar panels as one SVG document. */
export function panelsSvg(title: string, panels: Array<{ title: string; bars: Bar[]; unit?: string; from?: number }>, columns = 2, panelWidth = 460, subtitle: string | string[] = ''): string {
  const rows = Math.ceil(panels.length / columns);
  const ph = Math.max(...panels.map((p) => panelHeight(p.bars.length))) + 16;
  const width = columns * panelWidth + 20;
  const subs = (Array.isArray(subtitle) ? subtitle : [subtitle]).filter(Boolean);
  const top = 36 + subs.length * 15;
  const height = rows * ph + top + 4;
  let body = '';
  panels.forEach((p, i) => {
    body += barPanel(p.title, p.bars, 10 + (i % columns) * panelWidth, top + Math.floor(i / columns) * ph, panelWidth - 20, p.unit, p.from);
  });
  const sub = subs.map((t, i) => `<text x="10" y="${40 + i * 15}" font-size="11" fill="#444">${esc(t)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>${sub}${body}</svg>`;
}

/** Dash patterns per series (the first solid). */
const DASHES = ['', '8 4', '3 3', '12 3 3 3'];

export interface Series {
  name: string;
  values: number[];
}

export interface LineChartOptions {
  /** Fixed top of the y axis (e.g. 1 for rates); default: the largest value, rounded up. */
  yMax?: number;
  /** Bottom of the y axis: 0 (default), or `ratio` for `ratioAxisStart` of the values (rates compared). */
  yMin?: 'ratio';
  /** Caption under the x axis (e.g. "last 30 s"). */
  xLabel?: string;
  /** Slots on the x axis (a rolling window keeps its scale while it fills). */
  slots?: number;
}

/** 1, 2 or 5 times a power of ten, at least `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/**
 * A line chart of several series over time, as an SVG document: title, grid lines, y
 * scale, and a legend giving each series' latest value (used for the live views).
 */
export function lineChart(title: string, series: Series[], width = 460, height = 180, unit = '', opts: LineChartOptions = {}): string {
  // legend entries "name latest-value", wrapped to the chart width
  let used = 0;
  let rows = 1;
  const entries = series.map((s, k) => {
    const last = s.values.length ? s.values[s.values.length - 1] : NaN;
    const text = `${s.name} ${fmt(last)}${unit}`;
    const w = 14 + text.length * 6.2 + 10;
    if (used + w > width - 50 && used > 0) {
      rows++;
      used = 0;
    }
    const x = 50 + used;
    used += w;
    return { k, text, x, row: rows - 1 };
  });
  const pad = { l: 50, r: 12, t: 24 + rows * 14, b: opts.xLabel ? 28 : 16 };
  const n = Math.max(2, opts.slots ?? 0, ...series.map((s) => s.values.length));
  const dataMax = Math.max(0, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const max = opts.yMax ?? niceCeil(dataMax);
  const min = opts.yMin === 'ratio' ? ratioAxisStart(series.flatMap((s) => s.values), max) : 0;
  const X = (i: number) => pad.l + (i / (n - 1)) * (width - pad.l - pad.r);
  const Y = (v: number) => height - pad.b - ((Math.max(min, Math.min(v, max)) - min) / (max - min)) * (height - pad.t - pad.b);
  let body = `<text x="8" y="15" font-size="12" font-weight="bold">${esc(title)}</text>`;
  for (const e of entries) {
    const c = PALETTE[e.k % PALETTE.length];
    const y = 24 + e.row * 14;
    const dash = DASHES[e.k % DASHES.length];
    body += `<line x1="${e.x.toFixed(1)}" y1="${y - 3}" x2="${(e.x + 11).toFixed(1)}" y2="${y - 3}" stroke="${c}" stroke-width="3"${dash ? ` stroke-dasharray="${dash.split(' ').map((d) => Math.max(1, Number(d) / 2)).join(' ')}"` : ''}/>`;
    body += `<text x="${(e.x + 14).toFixed(1)}" y="${y + 1}" font-size="10.5">${esc(e.text)}</text>`;
  }
  for (const f of [0, 0.5, 1]) {
    const v = min + (max - min) * f;
    const y = Y(v);
    body += `<line x1="${pad.l}" y1="${y.toFixed(1)}" x2="${width - pad.r}" y2="${y.toFixed(1)}" stroke="${f === 0 ? '#888' : '#e3e3e3'}"/>`;
    body += `<text x="${pad.l - 4}" y="${(y + 3.5).toFixed(1)}" text-anchor="end" font-size="10" fill="#555">${fmt(v)}</text>`;
  }
  if (opts.xLabel) body += `<text x="${(pad.l + width - pad.r) / 2}" y="${height - 8}" text-anchor="middle" font-size="10" fill="#555">${esc(opts.xLabel)}</text>`;
  series.forEach((s, k) => {
    const pts: string[] = [];
    // a rolling window is drawn right-aligned: the newest value at the right edge
    const shift = n - Math.max(s.values.length, 1);
    s.values.forEach((v, i) => {
      if (Number.isFinite(v)) pts.push(`${X(i + shift).toFixed(1)},${Y(v).toFixed(1)}`);
    });
    if (pts.length === 0) return;
    if (pts.length === 1) pts.push(pts[0]);
    // widest first and dashed above it: equal series stay visible on top of each other
    const dash = DASHES[k % DASHES.length];
    body += `<polyline class="series" fill="none" stroke="${PALETTE[k % PALETTE.length]}" stroke-width="${k === 0 ? 3.5 : k === 1 ? 2 : 1.6}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.join(' ')}"><title>${esc(s.name)}</title></polyline>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>${body}</svg>`;
}

/** Two lines describing a workload (chart subtitles, the demo, the README). */
export function workloadLines(w: Workload): [string, string] {
  const npt = Math.round(w.devices * w.passthroughShare);
  const mode = w.mode === 'lazy' ? `lazy invalidation (flush every ${w.lazyBatch} unmaps per ASID)` : `${w.mode} invalidation`;
  const faults = w.faultRate ? `, ${w.faultRate * 100}% of DMA faulting` : '';
  return [
    `${w.devices} devices: ${npt} passthrough (${w.asidsPerDevice} ASIDs each), ${w.devices - npt} emulated; ` +
    `per device and step ${w.mapsPerStep} map+unmap and ${w.dmaPerStep} DMA${faults}; ${mode}`,
    `mappings live ${w.window} steps over ${w.sharedFrames} shared frames; pSMMU IOTLB ${w.iotlbEntries}, S2 walk cache ${w.s2CacheEntries} entries` +
    `${w.joinPsmmus !== 2 ? `; ${w.joinPsmmus} pSMMUs in a join` : ''}; seed ${w.seed}`,
  ];
}

/** One line describing a workload. */
export function describeWorkload(w: Workload): string {
  return workloadLines(w).join('; ');
}

/** Short names of the topologies for chart labels (the host's pSMMU count first). */
export const SHORT_LABELS: Record<string, string> = {
  'one-to-one': '1p: 1 mixed vSMMU',
  split: '1p: split, 2 vSMMUs',
  dedicated: '1p: dedicated pt vSMMU',
  'per-psmmu': '2p: a vSMMU per pSMMU',
  'join-broadcast': '2p: join, broadcast',
  'join-vasid': '2p: join, vASID table',
  'dedicated-join': '2p: dedicated pt, joined',
};

/** The comparison chart of `vsmmu topo --svg` and the demo's comparison view. */
export function topologySvg(m: TopologyMetrics[], w: Workload, steps: number): string {
  const bars = (f: (x: TopologyMetrics) => number) => m.map((x) => ({ label: SHORT_LABELS[x.name] ?? x.label, value: f(x) }));
  const total = (x: TopologyMetrics) => Object.values(x.forwarded).reduce((a, b) => a + b, 0);
  const hosts = w.joinPsmmus === 2 ? '' : ` (2p = ${w.joinPsmmus} pSMMUs)`;
  return panelsSvg(`vIOMMU topologies on a host with 1 or 2 pSMMUs (1p/2p)${hosts}: ${w.mode} invalidation, ${steps} steps`, [
    { title: 'Entries that took effect on pSMMUs (lower is better)', bars: bars(total) },
    { title: 'Host calls to pSMMUs (ioctls)', bars: bars((x) => x.backend_calls) },
    { title: 'TLBIs broadcast to every pSMMU', bars: bars((x) => x.broadcast_tlbi) },
    { title: 'Mean modelled wait per guest CMD_SYNC', bars: bars((x) => x.sync_latency_us), unit: ' µs' },
    { title: 'pSMMU S2 walk-cache hit rate (higher is better)', bars: bars((x) => x.s2_hit_rate), from: ratioAxisStart(m.map((x) => x.s2_hit_rate)) },
    { title: 'pSMMU table-walk reads (DMA misses)', bars: bars((x) => x.walk_reads) },
    { title: 'pSMMU IOTLB entries dropped while still mapped', bars: bars((x) => x.over_invalidation) },
    { title: 'pSMMU IOTLB hit rate', bars: bars((x) => x.iotlb_hit_rate), from: ratioAxisStart(m.map((x) => x.iotlb_hit_rate)) },
  ], 2, 480, workloadLines(w));
}

/** A diagram of a VM's vIOMMU topology: vSMMUs (with their devices) above the pSMMUs they use. */
export function topologyDiagramSvg(spec: TopologySpec, width = 440): string {
  const boxW = 150, boxH = 46;
  const row = (n: number, i: number) => (width / n) * (i + 0.5);
  const vy = 28, py = 128;
  const height = py + boxH + 10;
  let body = `<text x="6" y="14" font-size="11" fill="#555">guest (one VM)</text><text x="6" y="${py - 8}" font-size="11" fill="#555">host</text>`;
  const px = new Map(spec.psmmus.map((p, i) => [p.name, row(spec.psmmus.length, i)]));
  spec.vsmmus.forEach((v, i) => {
    const x = row(spec.vsmmus.length, i);
    const used = new Map<string, number>();
    for (const d of v.passthrough) used.set(d.psmmu, (used.get(d.psmmu) ?? 0) + 1);
    for (const [p, count] of used) {
      const x2 = px.get(p) ?? x;
      body += `<line x1="${x}" y1="${vy + boxH}" x2="${x2}" y2="${py}" stroke="#3366cc" stroke-width="${1 + count}"/>`;
      body += `<text x="${((x + x2) / 2 + 4).toFixed(1)}" y="${(vy + boxH + py) / 2 + 4}" font-size="10" fill="#3366cc">${count} pt</text>`;
    }
    const kind = v.passthroughOnly ? 'passthrough only' : v.vasidTable === false ? 'no vASID table' : '';
    body += `<rect x="${x - boxW / 2}" y="${vy}" width="${boxW}" height="${boxH}" rx="6" fill="#eef3fb" stroke="#3366cc"/>`;
    body += `<text x="${x}" y="${vy + 17}" text-anchor="middle" font-size="12" font-weight="bold">vSMMU ${esc(v.name)}</text>`;
    body += `<text x="${x}" y="${vy + 31}" text-anchor="middle" font-size="10">${v.emulated.length} emulated, ${v.passthrough.length} passthrough</text>`;
    if (kind) body += `<text x="${x}" y="${vy + 42}" text-anchor="middle" font-size="9.5" fill="#a33">${kind}</text>`;
  });
  spec.psmmus.forEach((p, i) => {
    const x = row(spec.psmmus.length, i);
    body += `<rect x="${x - boxW / 2}" y="${py}" width="${boxW}" height="${boxH}" rx="6" fill="#fdf1e6" stroke="#ff9900"/>`;
    body += `<text x="${x}" y="${py + 20}" text-anchor="middle" font-size="12" font-weight="bold">pSMMU ${esc(p.name)}</text>`;
    body += `<text x="${x}" y="${py + 35}" text-anchor="middle" font-size="10">IOTLB ${p.iotlbEntries ?? 1024}, S2 cache ${p.s2CacheEntries ?? 256}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${body}</svg>`;
}
