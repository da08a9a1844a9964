/** The top bar: product name, server health, time range and auto-refresh. */
import { ApiError, api } from '../api/client';
import { type ConsoleState, REFRESH_CHOICES, type Refresh } from '../state/state';
import type { UrlStore } from '../state/store';
import { h, replaceChildren } from '../util/dom';
import { formatCount, formatTimeShort } from '../util/format';
import { LatestRequest } from '../util/latest';
import { TimeRangePicker } from './time-range';

const REFRESH_LABELS: Record<Refresh, string> = { off: 'Off', '5s': '5 s', '15s': '15 s', '1m': '1 min' };

export class Header {
  readonly element: HTMLElement;
  private readonly health: HTMLElement;
  private readonly refreshSelect: HTMLSelectElement;
  private readonly timeRange: TimeRangePicker;
  private readonly healthRequest = new LatestRequest();

  constructor(store: UrlStore, refreshNow: () => void) {
    this.health = h('div', { class: 'health', 'data-testid': 'health', role: 'status', 'aria-live': 'polite' }, '…');
    this.timeRange = new TimeRangePicker(store);
    this.refreshSelect = h(
      'select',
      {
        'data-testid': 'auto-refresh',
        'aria-label': 'Auto-refresh',
        onchange: () => store.update({ refresh: this.refreshSelect.value as Refresh }, 'replace'),
      },
      REFRESH_CHOICES.map((value) => h('option', { value }, REFRESH_LABELS[value])),
    );
    this.element = h(
      'header',
      { class: 'topbar' },
      h('h1', null, h('span', { class: 'logo', 'aria-hidden': 'true' }, '◆'), ' netwarden'),
      this.health,
      h(
        'div',
        { class: 'controls' },
        this.timeRange.element,
        h('label', null, 'Auto-refresh ', this.refreshSelect),
        h(
          'button',
          { type: 'button', 'aria-label': 'Refresh now', title: 'Refresh now', 'data-testid': 'refresh-now', onclick: refreshNow },
          '↻',
        ),
      ),
    );
  }

  sync(state: ConsoleState): void {
    this.timeRange.sync(state);
    this.refreshSelect.value = state.refresh;
  }

  async refreshHealth(): Promise<void> {
    const outcome = await this.healthRequest.run((signal) => api.health(signal));
    if (!outcome) return;
    if (!outcome.ok) {
      const reason = outcome.error instanceof ApiError ? outcome.error.message : 'unreachable';
      this.health.className = 'health health-bad';
      replaceChildren(this.health, h('span', { class: 'dot', 'aria-hidden': 'true' }), `Server: ${reason}`);
      return;
    }
    const health = outcome.value;
    const ok = health.status === 'ok';
    this.health.className = `health ${ok ? 'health-ok' : 'health-bad'}`;
    const span =
      typeof health.oldest_ms === 'number' && typeof health.newest_ms === 'number'
        ? ` · ${formatTimeShort(health.oldest_ms)} – ${formatTimeShort(health.newest_ms)}`
        : '';
    replaceChildren(
      this.health,
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      `${ok ? 'OK' : health.status} · ${formatCount(health.flows)} flows stored${span}`,
    );
  }
}
