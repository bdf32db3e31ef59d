// Small SVG charts (no dependencies), used by `vsmmu topo --svg` and the browser demo.

export interface Bar {
  label: string;
  value: number;
}

const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v !== 0 && Math.abs(v) < 1) return v.toFixed(3);
  if (Math.abs(v) < 10) return v.toFixed(2);
  return Math.round(v).toLocaleString('en-US');
}

/** A horizontal bar chart as an SVG <g> at (x, y) of the given width. */
export function barPanel(title: string, bars: Bar[], x: number, y: number, width: number, unit = ''): string {
  const rowH = 22;
  const labelW = Math.min(210, width * 0.45);
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const barW = width - labelW - 70;
  let out = `<g transform="translate(${x},${y})"><text x="0" y="14" font-weight="bold" font-size="13">${esc(title)}</text>`;
  bars.forEach((b, i) => {
    const yy = 24 + i * rowH;
    const w = Math.max(1, (b.value / max) * barW);
    out += `<text x="${labelW - 6}" y="${yy + 14}" text-anchor="end" font-size="11">${esc(b.label)}</text>`;
    out += `<rect x="${labelW}" y="${yy + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(b.label)}: ${fmt(b.value)}${unit}</title></rect>`;
    out += `<text x="${(labelW + w + 4).toFixed(1)}" y="${yy + 14}" font-size="11">${fmt(b.value)}${esc(unit)}</text>`;
  });
  return out + '</g>';
}

/** Height of a panel with `n` bars. */
export function panelHeight(n: number): number {
  return 30 + n * 22;
}

/** A grid of bar panels as one SVG document. */
export function panelsSvg(title: string, panels: Array<{ title: string; bars: Bar[]; unit?: string }>, columns = 2, panelWidth = 460): string {
  const rows = Math.ceil(panels.length / columns);
  const ph = Math.max(...panels.map((p) => panelHeight(p.bars.length))) + 16;
  const width = columns * panelWidth + 20;
  const height = rows * ph + 40;
  let body = '';
  panels.forEach((p, i) => {
    body += barPanel(p.title, p.bars, 10 + (i % columns) * panelWidth, 36 + Math.floor(i / columns) * ph, panelWidth - 20, p.unit);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>${body}</svg>`;
}

/** A line chart of several series over steps, as an SVG document (used for live views). */
export function lineChart(title: string, series: Array<{ name: string; values: number[] }>, width = 460, height = 180, unit = ''): string {
  const pad = { l: 50, r: 10, t: 24, b: 22 };
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const X = (i: number) => pad.l + (i / (n - 1)) * (width - pad.l - pad.r);
  const Y = (v: number) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  let body = `<text x="${pad.l}" y="16" font-size="12" font-weight="bold">${esc(title)}</text>`;
  body += `<line x1="${pad.l}" y1="${height - pad.b}" x2="${width - pad.r}" y2="${height - pad.b}" stroke="#999"/>`;
  body += `<text x="${pad.l - 4}" y="${pad.t + 8}" text-anchor="end" font-size="10">${fmt(max)}${esc(unit)}</text>`;
  body += `<text x="${pad.l - 4}" y="${height - pad.b}" text-anchor="end" font-size="10">0</text>`;
  series.forEach((s, k) => {
    if (s.values.length === 0) return;
    const pts = s.values.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
    body += `<polyline fill="none" stroke="${PALETTE[k % PALETTE.length]}" stroke-width="1.5" points="${pts}"/>`;
    body += `<text x="${width - pad.r}" y="${pad.t + 12 * k}" text-anchor="end" font-size="10" fill="${PALETTE[k % PALETTE.length]}">${esc(s.name)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">${body}</svg>`;
}
