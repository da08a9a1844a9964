/** Traffic flows: the table of flow records, paged and sorted by the server, with a details panel. */
import { api } from '../../api/client';
import type { FlowRecord, FlowsResponse } from '../../api/types';
import { and } from '../../filter/text';
import { type ConsoleState, DEFAULT_COLUMNS, PAGE_SIZES, sortToText } from '../../state/state';
import { h, replaceChildren } from '../../util/dom';
import { formatCount } from '../../util/format';
import { LatestRequest } from '../../util/latest';
import { changed, type View, type ViewContext } from '../common/view';
import { failureBox, loadingBox, statusBox } from '../common/status';
import { COLUMNS, type Column, columnsFor } from './columns';
import { FlowDetails } from './details';

const QUERY_KEYS: (keyof ConsoleState)[] = ['filter', 'since', 'until', 'sort', 'limit', 'offset'];

export function flowsView(root: HTMLElement, { store, catalog, filterBar }: ViewContext): View {
  const request = new LatestRequest();
  let state = store.state;
  let answer: FlowsResponse | null = null;
  let selectedRow = -1;

  const summary = h('p', { class: 'summary', 'data-testid': 'flows-summary', 'aria-live': 'polite' });
  const chooser = h('details', { class: 'column-chooser' });
  const pager = h('div', { class: 'pager' });
  const tableArea = h('div', { class: 'table-wrap' });
  const details = new FlowDetails(
    catalog,
    (clause) => store.update({ filter: and(store.state.filter, clause) }),
    () => {
      selectedRow = -1;
      markSelected();
    },
  );
  replaceChildren(
    root,
    h('div', { class: 'toolbar' }, summary, chooser, pager),
    h('div', { class: 'flows-layout' }, tableArea, details.element),
  );

  async function load(): Promise<void> {
    if (!answer) replaceChildren(tableArea, loadingBox('flows'));
    tableArea.classList.add('is-loading');
    const { filter, since, until, limit, offset, sort } = state;
    const outcome = await request.run((signal) =>
      api.flows({ filter, since, until, limit, offset, sort: sortToText(sort) }, signal),
    );
    if (!outcome) return;
    tableArea.classList.remove('is-loading');
    if (!outcome.ok) {
      answer = null;
      replaceChildren(tableArea, failureBox(outcome.error, 'flows', filterBar));
      summary.textContent = '';
      replaceChildren(pager);
      return;
    }
    filterBar.clearError();
    answer = outcome.value;
    renderTable();
    renderPager();
  }

  function renderTable(): void {
    if (!answer) return;
    const columns = columnsFor(state.columns);
    const flows = answer.flows;
    const first = flows.length ? state.offset + 1 : 0;
    summary.textContent = `${formatCount(first)}–${formatCount(state.offset + flows.length)} of ${formatCount(answer.total)} flows`;
    const body =
      flows.length > 0
        ? flows.map((flow, i) => row(flow, i, columns))
        : [
            h(
              'tr',
              null,
              h('td', { colspan: String(columns.length) }, statusBox('empty', 'No flows match', 'Widen the time range or loosen the filter.')),
            ),
          ];
    replaceChildren(
      tableArea,
      h(
        'table',
        { class: 'flows', 'data-testid': 'flows-table', 'aria-label': 'Traffic flows' },
        h('thead', null, h('tr', null, columns.map(header))),
        h('tbody', null, body),
      ),
    );
    markSelected();
  }

  function header(column: Column): HTMLElement {
    const sorted = column.sortField !== undefined && state.sort.field === column.sortField;
    const ariaSort = sorted ? (state.sort.descending ? 'descending' : 'ascending') : null;
    const content = column.sortField
      ? h(
          'button',
          {
            type: 'button',
            class: 'sort',
            'aria-label': `Sort by ${column.label}`,
            onclick: () => {
              const field = column.sortField!;
              // A new column sorts largest/latest first for numbers, A→Z for text.
              const descending = sorted ? !state.sort.descending : column.numeric === true;
              store.update({ sort: { field, descending } });
            },
          },
          column.label,
          h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (state.sort.descending ? ' ▼' : ' ▲') : ''),
        )
      : column.label;
    return h('th', { scope: 'col', class: column.numeric ? 'num' : null, 'aria-sort': ariaSort }, content);
  }

  function row(flow: FlowRecord, index: number, columns: Column[]): HTMLElement {
    const open = () => {
      selectedRow = index;
      markSelected();
      details.show(flow);
    };
    const dropped = (flow.PktDropPackets ?? 0) > 0;
    return h(
      'tr',
      {
        'data-testid': 'flow-row',
        class: dropped ? 'has-drops' : null,
        tabindex: '0',
        'aria-label': 'Flow; press Enter for details',
        onclick: open,
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            open();
          }
        },
      },
      columns.map((c) => h('td', { class: c.numeric ? 'num' : null, 'data-testid': c.testId ?? null }, c.render(flow))),
    );
  }

  function markSelected(): void {
    tableArea.querySelectorAll('tbody tr').forEach((tr, i) => tr.classList.toggle('selected', i === selectedRow));
  }

  function renderPager(): void {
    const total = answer?.total ?? 0;
    const { offset, limit } = state;
    replaceChildren(
      pager,
      h(
        'label',
        null,
        'Rows ',
        h(
          'select',
          {
            'aria-label': 'Rows per page',
            onchange: (e: Event) => store.update({ limit: Number((e.target as HTMLSelectElement).value) }),
          },
          [...new Set([...PAGE_SIZES, limit])]
            .sort((a, b) => a - b)
            .map((n) => h('option', { value: String(n), selected: n === limit }, String(n))),
        ),
      ),
      h(
        'button',
        { type: 'button', disabled: offset === 0, onclick: () => store.update({ offset: Math.max(0, offset - limit) }) },
        '‹ Previous',
      ),
      h('button', { type: 'button', disabled: offset + limit >= total, onclick: () => store.update({ offset: offset + limit }) }, 'Next ›'),
    );
  }

  function renderChooser(): void {
    const shown = new Set(state.columns);
    const toggle = (id: string, on: boolean) => {
      const next = on ? [...state.columns, id] : state.columns.filter((c) => c !== id);
      if (next.length > 0) store.update({ columns: next });
    };
    replaceChildren(
      chooser,
      h('summary', null, 'Columns'),
      h(
        'fieldset',
        null,
        h('legend', null, 'Shown columns'),
        COLUMNS.map((c) =>
          h(
            'label',
            null,
            h('input', {
              type: 'checkbox',
              checked: shown.has(c.id),
              'data-column': c.id,
              onchange: (e: Event) => toggle(c.id, (e.target as HTMLInputElement).checked),
            }),
            ` ${c.label}`,
          ),
        ),
        h('button', { type: 'button', onclick: () => store.update({ columns: DEFAULT_COLUMNS }) }, 'Default columns'),
      ),
    );
  }

  return {
    update(next, previous) {
      state = next;
      if (changed(next, previous, ['columns'])) renderChooser();
      if (changed(next, previous, QUERY_KEYS)) void load();
      else if (changed(next, previous, ['columns'])) renderTable();
    },
    refresh: () => void load(),
    destroy: () => request.cancel(),
  };
}
