/**
 * Topology: who talks to whom at the chosen level, drawn in SVG. Edge width follows bytes; edges
 * that carried dropped packets or denied flows are red. Clicking a node or an edge opens the flows
 * tab filtered to that traffic.
 */
import { api } from '../../api/client';
import type { Topology, TopologyEdge, TopologyLevel, TopologyNode } from '../../api/types';
import { and } from '../../filter/text';
import { type ConsoleState, TOPOLOGY_LEVELS } from '../../state/state';
import { h, replaceChildren, s } from '../../util/dom';
import { formatBytes, formatCount } from '../../util/format';
import { LatestRequest } from '../../util/latest';
import { failureBox, loadingBox, statusBox } from '../common/status';
import { changed, type View, type ViewContext } from '../common/view';
import { edgeFilter, nodeFilter } from './filters';
import { type Point, forceLayout } from './layout';

const WIDTH = 1000;
const HEIGHT = 640;
const NODE_RADIUS = 16;
const LEVEL_LABELS: Record<TopologyLevel, string> = {
  namespace: 'Namespaces',
  owner: 'Owners (workloads)',
  pod: 'Pods',
  node: 'Nodes',
};

const hasTrouble = (edge: TopologyEdge) => (edge.drop_packets ?? 0) > 0 || (edge.denied_flows ?? 0) > 0;

function edgeLabel(edge: TopologyEdge, from: TopologyNode, to: TopologyNode): string {
  const trouble = hasTrouble(edge)
    ? `, ${formatCount(edge.drop_packets)} dropped packets, ${formatCount(edge.denied_flows)} denied flows`
    : '';
  return `${from.label} → ${to.label}: ${formatBytes(edge.bytes)}, ${formatCount(edge.packets)} packets, ${formatCount(edge.flows)} flows${trouble}`;
}

/** The path of an edge: a gentle curve (so A→B and B→A stay apart), or a loop for self-traffic. */
function edgePath(a: Point, b: Point): string {
  if (a === b) {
    const r = NODE_RADIUS;
    return `M ${a.x - r * 0.6} ${a.y - r * 0.8} C ${a.x - r * 2.2} ${a.y - r * 3.4}, ${a.x + r * 2.2} ${a.y - r * 3.4}, ${a.x + r * 0.6} ${a.y - r * 0.8}`;
  }
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  // Stop short of the circles so the arrowhead shows.
  const start = { x: a.x + ux * NODE_RADIUS, y: a.y + uy * NODE_RADIUS };
  const end = { x: b.x - ux * (NODE_RADIUS + 4), y: b.y - uy * (NODE_RADIUS + 4) };
  const bend = Math.min(40, length * 0.12);
  const control = { x: (start.x + end.x) / 2 - uy * bend, y: (start.y + end.y) / 2 + ux * bend };
  return `M ${start.x.toFixed(1)} ${start.y.toFixed(1)} Q ${control.x.toFixed(1)} ${control.y.toFixed(1)} ${end.x.toFixed(1)} ${end.y.toFixed(1)}`;
}

export function topologyView(root: HTMLElement, { store, filterBar }: ViewContext): View {
  const request = new LatestRequest();
  let state = store.state;

  const levelSelect = h(
    'select',
    {
      'aria-label': 'Topology level',
      'data-testid': 'topology-level',
      onchange: () => store.update({ level: levelSelect.value as TopologyLevel }),
    },
    TOPOLOGY_LEVELS.map((level) => h('option', { value: level }, LEVEL_LABELS[level])),
  );
  const summary = h('p', { class: 'summary', 'data-testid': 'topology-summary', 'aria-live': 'polite' });
  const kindLegend = h('span', { class: 'legend-kinds' });
  const canvas = h('div', { class: 'topology-canvas' });
  replaceChildren(
    root,
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'Level ', levelSelect),
      summary,
      h(
        'p',
        { class: 'legend' },
        h('span', { class: 'legend-edge' }),
        ' width: bytes ',
        h('span', { class: 'legend-edge legend-drop' }),
        ' dropped packets or denied flows',
        kindLegend,
      ),
    ),
    canvas,
  );

  const jump = (clause: string | null) => {
    if (clause) store.update({ tab: 'flows', filter: and(store.state.filter, clause) });
  };

  async function load(): Promise<void> {
    // Keep the last picture while refreshing, so auto-refresh does not blink.
    if (!canvas.querySelector('svg')) replaceChildren(canvas, loadingBox('the topology'));
    const { level, filter, since, until } = state;
    const outcome = await request.run((signal) => api.topology(level, filter, { since, until }, signal));
    if (!outcome) return;
    if (!outcome.ok) {
      summary.textContent = '';
      replaceChildren(canvas, failureBox(outcome.error, 'topology', filterBar));
      return;
    }
    filterBar.clearError();
    draw(outcome.value);
  }

  function draw(topology: Topology): void {
    const nodes = [...topology.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const index = new Map(nodes.map((n, i) => [n.id, i]));
    const edges = topology.edges.filter((e) => index.has(e.source) && index.has(e.target));
    summary.textContent = `${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'}, ${edges.length} ${edges.length === 1 ? 'edge' : 'edges'}`;
    if (nodes.length === 0) {
      replaceChildren(canvas, statusBox('empty', 'No traffic to draw', 'Widen the time range or loosen the filter.'));
      return;
    }
    const kinds = [...new Set(nodes.map((n) => n.kind))].sort();
    replaceChildren(
      kindLegend,
      kinds.map((kind) => [h('span', { class: `legend-node node-${kind}`, 'aria-hidden': 'true' }), ` ${kind}`]),
    );
    const points = forceLayout(
      nodes.length,
      edges.map((e) => [index.get(e.source)!, index.get(e.target)!]),
      { width: WIDTH, height: HEIGHT, margin: 70 },
    );
    const maxBytes = Math.max(1, ...edges.map((e) => e.bytes));
    const widthOf = (bytes: number) => 1.5 + (7 * Math.log1p(bytes)) / Math.log1p(maxBytes);

    const edgeElements = edges.map((edge) => {
      const from = nodes[index.get(edge.source)!];
      const to = nodes[index.get(edge.target)!];
      const a = points[index.get(edge.source)!];
      const b = edge.source === edge.target ? a : points[index.get(edge.target)!];
      const d = edgePath(a, b);
      const trouble = hasTrouble(edge);
      const label = edgeLabel(edge, from, to);
      return s(
        'g',
        {
          class: trouble ? 'edge edge-drop' : 'edge',
          'data-testid': 'topology-edge',
          'data-source': edge.source,
          'data-target': edge.target,
          role: 'button',
          tabindex: '0',
          'aria-label': `${label}. Show these flows`,
          onclick: () => jump(edgeFilter(from, to)),
          onkeydown: (e: KeyboardEvent) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              jump(edgeFilter(from, to));
            }
          },
        },
        s('title', null, label),
        s('path', { class: 'edge-hit', d }),
        s('path', {
          class: 'edge-line',
          d,
          'stroke-width': widthOf(edge.bytes).toFixed(2),
          'marker-end': trouble ? 'url(#arrow-drop)' : 'url(#arrow)',
        }),
      );
    });

    const nodeElements = nodes.map((node, i) => {
      const p = points[i];
      const title = `${node.kind} ${node.label}`;
      return s(
        'g',
        {
          class: `node node-${node.kind}`,
          'data-testid': 'topology-node',
          'data-id': node.id,
          transform: `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})`,
          role: 'button',
          tabindex: '0',
          'aria-label': `${title}. Show its flows`,
          onclick: () => jump(nodeFilter(node)),
          onkeydown: (e: KeyboardEvent) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              jump(nodeFilter(node));
            }
          },
        },
        s('title', null, title),
        s('circle', { r: NODE_RADIUS }),
        s('text', { class: 'node-label', 'text-anchor': 'middle', y: NODE_RADIUS + 14 }, node.label),
      );
    });

    const marker = (id: string) =>
      s(
        'marker',
        // User-space units: arrowheads keep one size whatever the edge's width.
        {
          id,
          viewBox: '0 0 10 10',
          refX: '8',
          refY: '5',
          markerUnits: 'userSpaceOnUse',
          markerWidth: '11',
          markerHeight: '11',
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M 0 0 L 10 5 L 0 10 z' }),
      );
    replaceChildren(
      canvas,
      s(
        'svg',
        {
          'data-testid': 'topology-graph',
          viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
          role: 'group',
          'aria-label': `Topology of ${LEVEL_LABELS[state.level].toLowerCase()}: ${summary.textContent}`,
        },
        s('defs', null, marker('arrow'), marker('arrow-drop')),
        s('g', { class: 'edges' }, edgeElements),
        s('g', { class: 'nodes' }, nodeElements),
      ),
    );
  }

  return {
    update(next: ConsoleState, previous: ConsoleState | null) {
      state = next;
      levelSelect.value = next.level;
      if (changed(next, previous, ['level', 'filter', 'since', 'until'])) void load();
    },
    refresh: () => void load(),
    destroy: () => request.cancel(),
  };
}
