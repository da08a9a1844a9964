/**
 * A deterministic force-directed layout (Fruchterman–Reingold): the same graph always lands in the
 * same place, so a refresh does not shuffle the picture and screenshots compare. Nodes start on a
 * circle in the order given (callers sort by id); no randomness anywhere.
 */

export interface Point {
  x: number;
  y: number;
}

export interface LayoutOptions {
  width: number;
  height: number;
  /** Space kept free at the border for labels. */
  margin: number;
}

/** Positions for `count` nodes joined by `links` (index pairs; self-loops are ignored). */
export function forceLayout(count: number, links: [number, number][], options: LayoutOptions): Point[] {
  const { width, height, margin } = options;
  const cx = width / 2;
  const cy = height / 2;
  if (count === 0) return [];
  if (count === 1) return [{ x: cx, y: cy }];

  const radius = Math.min(width, height) / 2 - margin;
  const points = Array.from({ length: count }, (_, i) => ({
    x: cx + radius * Math.cos((2 * Math.PI * i) / count - Math.PI / 2),
    y: cy + radius * Math.sin((2 * Math.PI * i) / count - Math.PI / 2),
  }));
  const edges = links.filter(([a, b]) => a !== b);

  // Ideal distance between nodes, from the area each one gets.
  const k = Math.sqrt(((width - 2 * margin) * (height - 2 * margin)) / count) * 0.75;
  // Big graphs get fewer rounds: the pairwise step is O(n²).
  const iterations = count > 150 ? 60 : count > 60 ? 150 : 300;
  let temperature = Math.min(width, height) / 8;
  const cooling = temperature / (iterations + 1);

  for (let round = 0; round < iterations; round += 1) {
    const shift = points.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < count; i += 1) {
      for (let j = i + 1; j < count; j += 1) {
        let dx = points[i].x - points[j].x;
        let dy = points[i].y - points[j].y;
        let distance = Math.hypot(dx, dy);
        if (distance < 0.01) {
          // Coincident nodes: push apart along a direction fixed by their indexes.
          dx = Math.cos(i + j);
          dy = Math.sin(i + j);
          distance = 0.01;
        }
        const force = (k * k) / distance;
        shift[i].x += (dx / distance) * force;
        shift[i].y += (dy / distance) * force;
        shift[j].x -= (dx / distance) * force;
        shift[j].y -= (dy / distance) * force;
      }
    }
    for (const [a, b] of edges) {
      const dx = points[a].x - points[b].x;
      const dy = points[a].y - points[b].y;
      const distance = Math.max(Math.hypot(dx, dy), 0.01);
      const force = (distance * distance) / k;
      shift[a].x -= (dx / distance) * force;
      shift[a].y -= (dy / distance) * force;
      shift[b].x += (dx / distance) * force;
      shift[b].y += (dy / distance) * force;
    }
    for (let i = 0; i < count; i += 1) {
      // A weak pull to the centre keeps unconnected groups on screen.
      shift[i].x += (cx - points[i].x) * 0.05 * k * 0.1;
      shift[i].y += (cy - points[i].y) * 0.05 * k * 0.1;
      const length = Math.max(Math.hypot(shift[i].x, shift[i].y), 0.01);
      const step = Math.min(length, temperature);
      points[i].x += (shift[i].x / length) * step;
      points[i].y += (shift[i].y / length) * step;
    }
    temperature = Math.max(temperature - cooling, 1);
  }
  return fit(points, options);
}

/** Scales and centres the points into the drawing area, keeping the aspect ratio. */
function fit(points: Point[], { width, height, margin }: LayoutOptions): Point[] {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const spanX = Math.max(...xs) - minX || 1;
  const spanY = Math.max(...ys) - minY || 1;
  const scale = Math.min((width - 2 * margin) / spanX, (height - 2 * margin) / spanY);
  const offsetX = (width - spanX * scale) / 2;
  const offsetY = (height - spanY * scale) / 2;
  return points.map((p) => ({ x: offsetX + (p.x - minX) * scale, y: offsetY + (p.y - minY) * scale }));
}
