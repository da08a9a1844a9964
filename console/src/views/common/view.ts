/** The shape every tab has: built once when the tab opens, told about state changes, refreshed. */
import type { FieldCatalog } from '../../filter/fields';
import type { FilterBar } from '../../filter/filter-bar';
import type { ConsoleState } from '../../state/state';
import type { UrlStore } from '../../state/store';

export interface ViewContext {
  store: UrlStore;
  catalog: FieldCatalog;
  filterBar: FilterBar;
}

export interface View {
  /** A state change; `previous` is null on the first call. The view decides whether to reload. */
  update(state: ConsoleState, previous: ConsoleState | null): void;
  /** Reload with the current state (auto-refresh, the refresh button, Enter on the same filter). */
  refresh(): void;
  /** The tab closes: cancel requests and timers. */
  destroy(): void;
}

export type ViewFactory = (root: HTMLElement, context: ViewContext) => View;

/** Whether any of `keys` differs between the two states (always true on the first update). */
export function changed(state: ConsoleState, previous: ConsoleState | null, keys: (keyof ConsoleState)[]): boolean {
  if (!previous) return true;
  return keys.some((key) => JSON.stringify(state[key]) !== JSON.stringify(previous[key]));
}
