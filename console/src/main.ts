/**
 * The console's glue: builds the page, opens the tab the URL names, passes state changes to it
 * and drives auto-refresh. Features live in views/, shared pieces in filter/, shell/ and state/.
 */
import { FieldCatalog } from './filter/fields';
import { FilterBar } from './filter/filter-bar';
import { Header } from './shell/header';
import { TAB_LABELS, Tabs } from './shell/tabs';
import type { ConsoleState, Refresh, Tab } from './state/state';
import { UrlStore } from './state/store';
import { h } from './util/dom';
import type { View, ViewContext, ViewFactory } from './views/common/view';
import { firewallView } from './views/firewall/view';
import { flowsView } from './views/flows/view';
import { overviewView } from './views/overview/view';
import { podMonitorView } from './views/podmonitor/view';
import { topologyView } from './views/topology/view';

const VIEWS: Record<Tab, ViewFactory> = {
  flows: flowsView,
  topology: topologyView,
  overview: overviewView,
  firewall: firewallView,
  podmonitor: podMonitorView,
};

/** Tabs that query flows, and so show the filter box. */
const FILTERED_TABS: Tab[] = ['flows', 'topology', 'overview'];

const HEALTH_PERIOD_MS = 30_000;
const REFRESH_MS: Record<Refresh, number> = { off: 0, '5s': 5_000, '15s': 15_000, '1m': 60_000 };

function start(): void {
  const store = new UrlStore();
  const catalog = new FieldCatalog();
  void catalog.load();

  let active: { tab: Tab; view: View } | null = null;
  const refreshAll = () => {
    void header.refreshHealth();
    active?.view.refresh();
  };

  const header = new Header(store, refreshAll);
  const tabs = new Tabs(store);
  const filterBar = new FilterBar(store, catalog, () => active?.view.refresh());
  const viewRoot = h('main', { id: 'view', class: 'view', role: 'tabpanel', tabindex: '-1' });
  document.body.replaceChildren(header.element, tabs.element, filterBar.element, viewRoot);

  const context: ViewContext = { store, catalog, filterBar };

  let timer: number | undefined;
  let timerPeriod = 0;
  const scheduleRefresh = (refresh: Refresh) => {
    if (REFRESH_MS[refresh] === timerPeriod) return;
    window.clearInterval(timer);
    timerPeriod = REFRESH_MS[refresh];
    if (timerPeriod > 0) {
      timer = window.setInterval(() => {
        // A background tab does not need fresh numbers; it catches up when shown again.
        if (!document.hidden) refreshAll();
      }, timerPeriod);
    }
  };

  const render = (state: ConsoleState, previous: ConsoleState | null) => {
    header.sync(state);
    tabs.sync(state);
    filterBar.sync(state, previous);
    filterBar.setVisible(FILTERED_TABS.includes(state.tab));
    document.title = `${TAB_LABELS[state.tab]} · netwarden`;
    if (!active || active.tab !== state.tab) {
      active?.view.destroy();
      filterBar.clearError();
      viewRoot.replaceChildren();
      viewRoot.setAttribute('aria-labelledby', `tab-${state.tab}`);
      active = { tab: state.tab, view: VIEWS[state.tab](viewRoot, context) };
      active.view.update(state, null);
    } else {
      active.view.update(state, previous);
    }
    scheduleRefresh(state.refresh);
  };

  store.subscribe(render);
  render(store.state, null);
  void header.refreshHealth();
  // Health stays current even with auto-refresh off: it is one small request.
  window.setInterval(() => {
    if (!document.hidden) void header.refreshHealth();
  }, HEALTH_PERIOD_MS);
}

start();
