/** Overview: a dashboard of top-N tables and a bytes/s chart, each panel loading on its own. */
import { api } from '../../api/client';
import type { SeriesResponse, TopRow } from '../../api/types';
import type { FieldCatalog } from '../../filter/fields';
import { and, equals, matches } from '../../filter/text';
import type { ConsoleState } from '../../state/state';
import type { UrlStore } from '../../state/store';
import { h, replaceChildren } from '../../util/dom';
import { formatRate } from '../../util/format';
import { LatestRequest } from '../../util/latest';
import { chartStepSeconds, rangeLengthMs, resolveInstant } from '../../util/time-range';
import { failureBox, loadingBox, statusBox } from '../common/status';
import { changed, type View, type ViewContext } from '../common/view';
import { type ChartSeries, lineChart } from './line-chart';
import {
  TOP_CLIENTS,
  TOP_DENYING_POLICIES,
  TOP_DROP_CAUSES,
  TOP_SERVERS,
  TOP_TALKERS,
  TRAFFIC_BY_SERVICE,
  type RowLabel,
  type TopPanelSpec,
} from './panels';

interface Panel {
  element: HTMLElement;
  load(state: ConsoleState): Promise<void>;
  cancel(): void;
}

function panelShell(id: string, title: string, wide: boolean): { element: HTMLElement; heading: HTMLElement; note: HTMLElement; body: HTMLElement } {
  const heading = h('h2', { id: `panel-${id}-title` }, title);
  const note = h('p', { class: 'hint' });
  const body = h('div', { class: 'panel-body' }, loadingBox(title.toLowerCase()));
  const element = h(
    'section',
    { class: wide ? 'panel wide' : 'panel', 'data-testid': `panel-${id}`, 'aria-labelledby': `panel-${id}-title` },
    heading,
    note,
    body,
  );
  return { element, heading, note, body };
}

/** The bar behind a panel's leading number; CSSOM, not a style attribute, so a strict CSP allows it. */
function bar(fraction: number): HTMLElement {
  const element = h('span', { class: 'bar' });
  element.style.width = `${(fraction * 100).toFixed(1)}%`;
  return element;
}

/** The filter that selects a row's flows: each known group value, AND-ed. */
function rowFilter(row: TopRow, catalog: FieldCatalog): string {
  const clauses = Object.entries(row.group)
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([field, value]) =>
      field === 'NetworkEvents' ? matches(field, String(value)) : equals(field, value as string | number, catalog.kindOf(field)),
    );
  return and(...clauses);
}

function topPanel(spec: TopPanelSpec, wide: boolean, store: UrlStore, { catalog, filterBar }: ViewContext): Panel {
  const request = new LatestRequest();
  const shell = panelShell(spec.id, spec.title, wide);

  function render(active: TopPanelSpec, rows: TopRow[]): void {
    shell.heading.textContent = active.title;
    shell.note.textContent = active.description;
    const kept = rows.filter(active.keep ?? (() => true));
    if (kept.length === 0) {
      replaceChildren(shell.body, statusBox('empty', 'Nothing in this range'));
      return;
    }
    const lead = active.values[0];
    const max = Math.max(1, ...kept.map((r) => r[lead.metric]));
    const labelCell = (row: TopRow, { fields, format, missing }: RowLabel) => {
      const parts = fields.map((f) => row.group[f]).filter((v) => v !== null && v !== undefined && v !== '');
      const text = parts.map(String).join('/');
      if (!text) return h('td', null, missing ?? '(outside Kubernetes)');
      return h('td', { title: text }, format ? format(text) : text);
    };
    const open = (row: TopRow) =>
      store.update({ tab: 'flows', filter: and(store.state.filter, active.extraFilter ?? '', rowFilter(row, catalog)) });
    replaceChildren(
      shell.body,
      h(
        'table',
        { class: 'top-table', 'aria-labelledby': `panel-${spec.id}-title` },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            active.labels.map((l) => h('th', { scope: 'col' }, l.title)),
            active.values.map((v) => h('th', { scope: 'col', class: 'num' }, v.title)),
          ),
        ),
        h(
          'tbody',
          null,
          kept.map((row) =>
            h(
              'tr',
              {
                'data-testid': 'overview-row',
                tabindex: '0',
                title: 'Show these flows',
                onclick: () => open(row),
                onkeydown: (e: KeyboardEvent) => {
                  if (e.key === 'Enter') open(row);
                },
              },
              active.labels.map((l) => labelCell(row, l)),
              active.values.map((v, i) =>
                h(
                  'td',
                  { class: 'num' },
                  i === 0 ? bar(row[v.metric] / max) : null,
                  h('span', { class: 'bar-value' }, v.format(row[v.metric])),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function query(active: TopPanelSpec, state: ConsoleState) {
    return request.run((signal) =>
      api.top(
        {
          by: active.by,
          metric: active.metric,
          n: active.n,
          filter: and(state.filter, active.extraFilter ?? ''),
          since: state.since,
          until: state.until,
        },
        signal,
      ),
    );
  }

  return {
    element: shell.element,
    async load(state) {
      let active = spec;
      let outcome = await query(active, state);
      if (outcome?.ok && spec.fallback && outcome.value.rows.filter(spec.keep ?? (() => true)).length === 0) {
        active = spec.fallback;
        outcome = await query(active, state);
      }
      if (!outcome) return;
      if (!outcome.ok) {
        replaceChildren(shell.body, failureBox(outcome.error, spec.title.toLowerCase(), filterBar));
        return;
      }
      filterBar.clearError();
      render(active, outcome.value.rows);
    },
    cancel: () => request.cancel(),
  };
}

/** Bytes/s of the top five source namespaces. */
function ratePanel({ filterBar }: ViewContext): Panel {
  const request = new LatestRequest();
  const title = 'Bytes/s by source namespace';
  const shell = panelShell('rate', title, true);
  shell.note.textContent = 'Top 5 namespaces by bytes sent';

  /** Lines over the whole time range, in bytes per second. */
  function toChart(answer: SeriesResponse, state: ConsoleState): ChartSeries[] {
    const step = answer.step_ms;
    const now = Date.now();
    const times = answer.series.flatMap((line) => line.points.map(([t]) => t));
    const from = resolveInstant(state.since, now) ?? Math.min(...times);
    const to = state.until ? (resolveInstant(state.until, now) ?? now) : now;
    // A grid over the range in the server's bucket phase (bucket starts are whatever the server
    // uses; we only assume they are `step` apart), plus any point off that grid.
    const phase = times.length ? ((times[0] % step) + step) % step : 0;
    const grid = new Set<number>(times);
    if ((to - from) / step <= 2000) {
      for (let t = Math.floor((from - phase) / step) * step + phase; t <= to; t += step) grid.add(t);
    }
    const ticks = [...grid].sort((a, b) => a - b);
    // The server may leave empty buckets out: put zeros back so lines drop instead of bridging.
    return answer.series.map((line) => {
      const byTime = new Map(line.points.map(([t, v]) => [t, v]));
      const points: [number, number][] = ticks.map((t) => [t, ((byTime.get(t) ?? 0) * 1000) / step]);
      return { label: line.group ?? '(outside Kubernetes)', points };
    });
  }

  return {
    element: shell.element,
    async load(state) {
      const stepSeconds = chartStepSeconds(rangeLengthMs(state.since, state.until));
      const outcome = await request.run((signal) =>
        api.series(
          { stepSeconds, metric: 'bytes', by: 'SrcK8S_Namespace', top: 5, filter: state.filter, since: state.since, until: state.until },
          signal,
        ),
      );
      if (!outcome) return;
      if (!outcome.ok) {
        replaceChildren(shell.body, failureBox(outcome.error, 'the traffic chart', filterBar));
        return;
      }
      filterBar.clearError();
      const answer = outcome.value;
      const hasPoints = answer.series.some((line) => line.points.length > 0) && answer.step_ms > 0;
      replaceChildren(shell.body, hasPoints ? lineChart(toChart(answer, state), formatRate, title) : statusBox('empty', 'No traffic in this range'));
    },
    cancel: () => request.cancel(),
  };
}

export function overviewView(root: HTMLElement, context: ViewContext): View {
  const { store } = context;
  const panels: Panel[] = [
    ratePanel(context),
    topPanel(TOP_TALKERS, true, store, context),
    topPanel(TOP_CLIENTS, false, store, context),
    topPanel(TOP_SERVERS, false, store, context),
    topPanel(TOP_DROP_CAUSES, false, store, context),
    topPanel(TOP_DENYING_POLICIES, false, store, context),
    topPanel(TRAFFIC_BY_SERVICE, true, store, context),
  ];
  replaceChildren(root, h('div', { class: 'overview-grid', 'data-testid': 'overview' }, panels.map((p) => p.element)));
  let state = store.state;
  const loadAll = () => panels.forEach((panel) => void panel.load(state));

  return {
    update(next, previous) {
      state = next;
      if (changed(next, previous, ['filter', 'since', 'until'])) loadAll();
    },
    refresh: loadAll,
    destroy: () => panels.forEach((panel) => panel.cancel()),
  };
}
