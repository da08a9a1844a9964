/** The tab strip (WAI-ARIA tabs: arrow keys move between tabs). */
import { type ConsoleState, TABS, type Tab } from '../state/state';
import type { UrlStore } from '../state/store';
import { h } from '../util/dom';

export const TAB_LABELS: Record<Tab, string> = {
  flows: 'Traffic flows',
  topology: 'Topology',
  overview: 'Overview',
  firewall: 'Firewall',
  podmonitor: 'Pod monitor',
};

export class Tabs {
  readonly element: HTMLElement;
  private readonly buttons: HTMLButtonElement[];

  constructor(store: UrlStore) {
    this.buttons = TABS.map((tab, i) =>
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          id: `tab-${tab}`,
          'data-testid': `tab-${tab}`,
          'aria-controls': 'view',
          onclick: () => store.update({ tab }),
          onkeydown: (e: KeyboardEvent) => {
            const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
            if (!step) return;
            e.preventDefault();
            const next = TABS[(i + step + TABS.length) % TABS.length];
            store.update({ tab: next });
            this.buttons[TABS.indexOf(next)].focus();
          },
        },
        TAB_LABELS[tab],
      ),
    );
    this.element = h('nav', { class: 'tabs', role: 'tablist', 'aria-label': 'Views' }, this.buttons);
  }

  sync(state: ConsoleState): void {
    TABS.forEach((tab, i) => {
      const selected = tab === state.tab;
      this.buttons[i].setAttribute('aria-selected', String(selected));
      this.buttons[i].tabIndex = selected ? 0 : -1;
    });
  }
}
