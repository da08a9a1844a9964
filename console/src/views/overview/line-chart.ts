/** A small SVG line chart: one line per series, time on x, a formatted value on y. */
import { h, s } from '../../util/dom';
import { formatClock } from '../../util/format';

export interface ChartSeries {
  label: string;
  /** [time ms, value], in time order. */
  points: [number, number][];
}

const WIDTH = 1000;
const HEIGHT = 220;
const PAD = { left: 72, right: 28, top: 10, bottom: 24 };
export const PALETTE = ['#2f7ed8', '#e8833a', '#3aa357', '#b553c8', '#c9a227', '#4bb7c4', '#d4524f', '#7a7f87'];

/** Rounds a maximum up to 1, 2 or 5 × 10ⁿ so the axis labels are round numbers. */
function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const unit = [1, 2, 5, 10].find((m) => m * power >= value) ?? 10;
  return unit * power;
}

export function lineChart(series: ChartSeries[], formatValue: (v: number) => string, title: string): HTMLElement {
  const times = series.flatMap((line) => line.points.map(([t]) => t));
  const from = Math.min(...times);
  const to = Math.max(...times);
  const top = niceCeiling(Math.max(0, ...series.flatMap((line) => line.points.map(([, v]) => v))));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + (to === from ? plotWidth / 2 : ((t - from) / (to - from)) * plotWidth);
  const y = (v: number) => PAD.top + plotHeight - (v / top) * plotHeight;

  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top);
  const xTicks = to === from ? [from] : [0, 0.2, 0.4, 0.6, 0.8, 1].map((f) => from + f * (to - from));

  const svg = s(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'aria-label': title, 'data-testid': 'series-chart' },
    yTicks.map((v) =>
      s(
        'g',
        { class: 'grid' },
        s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) }),
        s('text', { x: PAD.left - 6, y: y(v), dy: '0.35em', 'text-anchor': 'end' }, formatValue(v)),
      ),
    ),
    xTicks.map((t) =>
      s('text', { class: 'axis', x: x(t), y: HEIGHT - 6, 'text-anchor': 'middle' }, formatClock(t)),
    ),
    series.map((line, i) =>
      s(
        'polyline',
        {
          class: 'series-line',
          'data-testid': 'series-line',
          fill: 'none',
          stroke: PALETTE[i % PALETTE.length],
          'stroke-width': '2',
          points: line.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        },
        s('title', null, line.label),
      ),
    ),
  );
  const legend = h(
    'ul',
    { class: 'chart-legend', 'aria-label': 'Legend' },
    series.map((line, i) => {
      const swatch = h('span', { class: 'swatch' });
      // CSSOM rather than a style attribute: allowed under a strict Content-Security-Policy.
      swatch.style.background = PALETTE[i % PALETTE.length];
      return h('li', null, swatch, line.label);
    }),
  );
  return h('figure', { class: 'chart-figure' }, svg, legend);
}
