// The charts show small differences: ratio axes that do not start at 0 when the values are
// close, overlapping series that stay distinguishable, and every value labelled.

import { barPanel, lineChart, ratioAxisStart } from '../src/topo/svg.js';

test('ratioAxisStart: 0 for spread-out or equal values, a round value below close ones', () => {
  expect(ratioAxisStart([0.2, 0.9])).toBe(0);
  expect(ratioAxisStart([0.875, 0.875, 0.875])).toBe(0);
  expect(ratioAxisStart([])).toBe(0);
  const from = ratioAxisStart([0.975, 0.947, 0.997]);
  expect(from).toBeCloseTo(0.85, 10);
  // the spread takes at least a third of the axis
  expect((0.997 - 0.947) / (0.997 - from)).toBeGreaterThan(1 / 3);
  expect(ratioAxisStart([0.5, 0.52], 1)).toBeLessThan(0.5);
});

/** Widths of the bars of a panel, in order. */
const widths = (svg: string) => [...svg.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]));

test('barPanel: bars from the axis start, the start marked, values labelled', () => {
  const bars = [{ label: 'a', value: 0.947 }, { label: 'b', value: 0.975 }, { label: 'c', value: 0.997 }];
  const zero = widths(barPanel('t', bars, 0, 0, 400));
  const cut = widths(barPanel('t', bars, 0, 0, 400, '', 0.85));
  // from 0 the first bar is 95% of the last; from 0.85 it is 66%
  expect(zero[0] / zero[2]).toBeCloseTo(0.947 / 0.997, 2);
  expect(cut[0] / cut[2]).toBeCloseTo((0.947 - 0.85) / (0.997 - 0.85), 2);
  expect(barPanel('t', bars, 0, 0, 400, '', 0.85)).toContain('axis starts at 0.850, not 0');
  expect(barPanel('t', bars, 0, 0, 400)).not.toContain('axis starts');
  for (const v of ['0.947', '0.975', '0.997']) expect(barPanel('t', bars, 0, 0, 400, '', 0.85)).toContain(`>${v}<`);
});

test('lineChart: equal series are both drawn, distinguishable; a ratio axis starts below the data', () => {
  const svg = lineChart('hits', [{ name: 'x', values: [0.95, 0.96] }, { name: 'y', values: [0.95, 0.96] }], 400, 180, '', { yMax: 1, yMin: 'ratio' });
  const lines = [...svg.matchAll(/<polyline class="series"[^>]*>/g)].map((m) => m[0]);
  expect(lines).toHaveLength(2);
  const style = (l: string) => [/stroke-width="([\d.]+)"/.exec(l)?.[1], /stroke-dasharray="([^"]+)"/.exec(l)?.[1] ?? 'solid'];
  expect(style(lines[0])).not.toEqual(style(lines[1]));
  expect(Number(style(lines[0])[0])).toBeGreaterThan(Number(style(lines[1])[0])); // the wider one below
  expect(style(lines[1])[1]).toMatch(/^\d+( \d+)+$/); // dashed above it: the one below shows through
  // axis labels: bottom is the ratio start, not 0
  const labels = [...svg.matchAll(/text-anchor="end" font-size="10" fill="#555">([^<]+)</g)].map((m) => m[1]);
  expect(labels[0]).not.toBe('0');
  expect(Number(labels[0])).toBeLessThan(0.95);
  // legend: each series with its latest value
  expect(svg).toContain('x 0.960');
  expect(svg).toContain('y 0.960');
});
