/**
 * Pod monitor: what the pod guard saw — new connections and blocked ones — filterable by
 * namespace, pod and verdict. Namespace and verdict travel to the server as hints (exact matches
 * either way); all three are applied here too, so the table is right whether or not the server
 * honours them. The pod filter is a substring, which the server is not asked to interpret.
 */
import { api } from '../../api/client';
import type { PodMonitorEvent } from '../../api/types';
import type { ConsoleState } from '../../state/state';
import { h, replaceChildren } from '../../util/dom';
import { formatDateTime, formatTimeShort } from '../../util/format';
import { LatestRequest } from '../../util/latest';
import { eventLines } from '../common/events';
import { failureBox, loadingBox, statusBox } from '../common/status';
import { changed, type View, type ViewContext } from '../common/view';

const EVENT_LIMIT = 500;

function endpoint(addr?: string, port?: number): string {
  if (!addr) return '';
  if (port === undefined) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Whether an event passes the namespace, pod (substring) and verdict filters. */
export function eventMatches(event: PodMonitorEvent, state: ConsoleState): boolean {
  return (
    (!state.podNamespace || event.namespace === state.podNamespace) &&
    (!state.podName || (event.pod ?? '').includes(state.podName)) &&
    (!state.verdict || event.verdict === state.verdict)
  );
}

export function podMonitorView(root: HTMLElement, { store }: ViewContext): View {
  const request = new LatestRequest();
  let state = store.state;
  let events: PodMonitorEvent[] | null = null;
  // Namespaces seen so far, so the choice does not shrink to the selected one.
  const namespaces = new Set<string>();

  const namespaceSelect = h('select', {
    'aria-label': 'Namespace',
    'data-testid': 'pm-namespace',
    onchange: () => store.update({ podNamespace: namespaceSelect.value }),
  });
  const podInput = h('input', {
    type: 'search',
    'aria-label': 'Pod name contains',
    placeholder: 'pod name contains…',
    'data-testid': 'pm-pod',
    onchange: () => store.update({ podName: podInput.value.trim() }),
  });
  const verdictSelect = h(
    'select',
    {
      'aria-label': 'Verdict',
      'data-testid': 'pm-verdict',
      onchange: () => store.update({ verdict: verdictSelect.value }),
    },
    h('option', { value: '' }, 'Any verdict'),
    h('option', { value: 'ALLOWED' }, 'Allowed'),
    h('option', { value: 'BLOCKED' }, 'Blocked'),
  );
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const body = h('div', { class: 'table-wrap' }, loadingBox('pod monitor events'));
  replaceChildren(
    root,
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'Namespace ', namespaceSelect),
      h('label', null, 'Pod ', podInput),
      h('label', null, 'Verdict ', verdictSelect),
      summary,
    ),
    body,
  );

  function syncControls(): void {
    if (state.podNamespace) namespaces.add(state.podNamespace);
    namespaceSelect.replaceChildren(
      h('option', { value: '' }, 'All namespaces'),
      ...[...namespaces].sort().map((ns) => h('option', { value: ns }, ns)),
    );
    namespaceSelect.value = state.podNamespace;
    if (document.activeElement !== podInput) podInput.value = state.podName;
    verdictSelect.value = state.verdict;
  }

  function render(): void {
    if (!events) return;
    const shown = events.filter((e) => eventMatches(e, state));
    summary.textContent = `${shown.length} ${shown.length === 1 ? 'event' : 'events'}`;
    if (shown.length === 0) {
      replaceChildren(body, statusBox('empty', 'No pod monitor events match'));
      return;
    }
    replaceChildren(
      body,
      h(
        'table',
        { class: 'data', 'data-testid': 'podmonitor-table', 'aria-label': 'Pod monitor events' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Time', 'Verdict', 'Kind', 'Direction', 'Namespace', 'Pod', 'Protocol', 'Source', 'Destination', 'Policy', 'Network events'].map(
              (t) => h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          shown.map((event) =>
            h(
              'tr',
              { 'data-testid': 'podmonitor-row', class: event.verdict === 'BLOCKED' ? 'has-drops' : null },
              h('td', { title: formatDateTime(event.timeMs) }, formatTimeShort(event.timeMs)),
              h('td', null, h('span', { class: `tag ${event.verdict === 'BLOCKED' ? 'tag-drop' : 'tag-allow'}` }, event.verdict)),
              h('td', null, event.kind),
              h('td', null, event.direction),
              h('td', null, event.namespace),
              h('td', null, event.pod),
              h('td', null, event.protocol ?? ''),
              h('td', null, endpoint(event.srcAddr, event.srcPort)),
              h('td', null, endpoint(event.dstAddr, event.dstPort)),
              h('td', { title: event.reason ?? '' }, event.policy ?? ''),
              h('td', { 'data-testid': 'podmonitor-events' }, eventLines(event.networkEvents)),
            ),
          ),
        ),
      ),
    );
  }

  async function load(): Promise<void> {
    const outcome = await request.run((signal) =>
      api.podMonitorEvents(
        { limit: EVENT_LIMIT, namespace: state.podNamespace, verdict: state.verdict },
        signal,
      ),
    );
    if (!outcome) return;
    if (!outcome.ok) {
      events = null;
      summary.textContent = '';
      replaceChildren(body, failureBox(outcome.error, 'pod monitor events'));
      return;
    }
    events = outcome.value.events;
    for (const event of events) if (event.namespace) namespaces.add(event.namespace);
    syncControls();
    render();
  }

  return {
    update(next, previous) {
      state = next;
      syncControls();
      if (changed(next, previous, ['podNamespace', 'verdict'])) void load();
      else if (changed(next, previous, ['podName'])) render();
    },
    refresh: () => void load(),
    destroy: () => request.cancel(),
  };
}
