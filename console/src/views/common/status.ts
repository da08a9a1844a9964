/**
 * What a panel shows instead of data: loading, nothing matched, feature not available, error.
 * A missing feature (404/503) is a normal state of a server, so it reads as information, not failure.
 */
import { ApiError } from '../../api/client';
import type { FilterBar } from '../../filter/filter-bar';
import { h } from '../../util/dom';

export type StatusKind = 'loading' | 'empty' | 'unavailable' | 'error';

export function statusBox(kind: StatusKind, title: string, detail?: string): HTMLElement {
  return h(
    'div',
    { class: `status status-${kind}`, 'data-testid': `status-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('strong', null, title),
    detail ? h('span', { class: 'status-detail' }, detail) : null,
  );
}

export function loadingBox(what: string): HTMLElement {
  return statusBox('loading', `Loading ${what}…`);
}

/**
 * The box for a failed request. A rejected filter is reported once, next to the filter box (when
 * there is one), and the panel just says the filter needs fixing.
 */
export function failureBox(error: unknown, what: string, filterBar?: FilterBar): HTMLElement {
  if (error instanceof ApiError) {
    if (error.unavailable) {
      return statusBox(
        'unavailable',
        `No ${what} on this server`,
        `The server answered ${error.status}: ${error.message}. The feature may be turned off, or the store not ready yet.`,
      );
    }
    if (error.rejected && filterBar) {
      filterBar.showError(error);
      return statusBox('error', 'The filter was rejected', 'Fix it above to see ' + what + '.');
    }
    if (error.status === 0) return statusBox('error', `Cannot load ${what}`, error.message);
    return statusBox('error', `Cannot load ${what}`, `HTTP ${error.status}: ${error.message}`);
  }
  return statusBox('error', `Cannot load ${what}`, error instanceof Error ? error.message : String(error));
}
