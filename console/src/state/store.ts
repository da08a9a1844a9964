/** The one place the URL is read and written. Views subscribe and call `update`. */
import { type ConsoleState, parseState, serializeState } from './state';

export type Listener = (state: ConsoleState, previous: ConsoleState) => void;

/** `push` makes a history entry (a user action worth going back to); `replace` does not. */
export type HistoryMode = 'push' | 'replace';

export class UrlStore {
  private current: ConsoleState;
  private readonly listeners = new Set<Listener>();

  constructor() {
    this.current = parseState(window.location.search);
    // Normalise the address bar (drop malformed values) without adding a history entry.
    this.write('replace');
    window.addEventListener('popstate', () => {
      const previous = this.current;
      this.current = parseState(window.location.search);
      this.notify(previous);
    });
  }

  get state(): ConsoleState {
    return this.current;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Applies `patch`. A new filter, time range or sort moves the flows table back to its first page
   * unless the patch says which page it wants.
   */
  update(patch: Partial<ConsoleState>, mode: HistoryMode = 'push'): void {
    const previous = this.current;
    const next = { ...previous, ...patch };
    const resetsPaging = ['filter', 'since', 'until', 'sort', 'limit'].some((key) => key in patch);
    if (resetsPaging && !('offset' in patch)) next.offset = 0;
    if (serializeState(next) === serializeState(previous)) return;
    this.current = next;
    this.write(mode);
    this.notify(previous);
  }

  private write(mode: HistoryMode): void {
    const url = `${window.location.pathname}${serializeState(this.current)}${window.location.hash}`;
    if (mode === 'push') window.history.pushState(null, '', url);
    else window.history.replaceState(null, '', url);
  }

  private notify(previous: ConsoleState): void {
    for (const listener of this.listeners) listener(this.current, previous);
  }
}
