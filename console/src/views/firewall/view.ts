/**
 * Firewall: the node firewall's rules with their hit counters, and the latest packets it denied.
 * Counters that grew since the previous refresh show by how much, so an auto-refreshing page
 * reads as live traffic hitting rules.
 */
import { api } from '../../api/client';
import type { FirewallEvent, FirewallRule } from '../../api/types';
import { h, replaceChildren } from '../../util/dom';
import { formatBytes, formatCount, formatDateTime, formatTimeShort } from '../../util/format';
import { LatestRequest } from '../../util/latest';
import { failureBox, loadingBox, statusBox } from '../common/status';
import type { View } from '../common/view';

const EVENT_LIMIT = 100;

/** The rule's identity, as events name it in their `rule` field: `object|interface|cidr|order`. */
export function ruleKey(rule: FirewallRule): string {
  return `${rule.object}|${rule.interface}|${rule.cidr}|${rule.order}`;
}

const actionTag = (action: string) =>
  h('span', { class: `tag ${action.toLowerCase() === 'deny' ? 'tag-drop' : 'tag-allow'}` }, action);

export function firewallView(root: HTMLElement): View {
  const rulesRequest = new LatestRequest();
  const eventsRequest = new LatestRequest();
  // Packets per rule at the previous refresh.
  let previousHits = new Map<string, number>();

  const rulesBody = h('div', { class: 'panel-body' }, loadingBox('firewall rules'));
  const eventsBody = h('div', { class: 'panel-body' }, loadingBox('firewall events'));
  replaceChildren(
    root,
    h(
      'section',
      { class: 'panel wide', 'data-testid': 'panel-firewall-rules', 'aria-labelledby': 'fw-rules-title' },
      h('h2', { id: 'fw-rules-title' }, 'Rules'),
      h('p', { class: 'hint' }, 'Hit counters since the rules were applied; turn on auto-refresh to watch them move.'),
      rulesBody,
    ),
    h(
      'section',
      { class: 'panel wide', 'data-testid': 'panel-firewall-events', 'aria-labelledby': 'fw-events-title' },
      h('h2', { id: 'fw-events-title' }, `Recent drops (latest ${EVENT_LIMIT})`),
      eventsBody,
    ),
  );

  function renderRules(rules: FirewallRule[]): void {
    if (rules.length === 0) {
      replaceChildren(rulesBody, statusBox('empty', 'No firewall rules applied'));
      return;
    }
    const hits = new Map(rules.map((r) => [ruleKey(r), r.packets]));
    const rows = rules.map((rule) => {
      const before = previousHits.get(ruleKey(rule));
      const delta = before === undefined ? 0 : rule.packets - before;
      return h(
        'tr',
        { 'data-testid': 'firewall-rule', class: delta > 0 ? 'hit' : null },
        h('td', null, rule.object),
        h('td', null, rule.interface),
        h('td', null, rule.cidr),
        h('td', { class: 'num' }, String(rule.order)),
        h('td', null, actionTag(rule.action)),
        h('td', null, rule.protocol ?? 'any'),
        h('td', null, rule.selector ?? ''),
        h(
          'td',
          { class: 'num' },
          formatCount(rule.packets),
          delta > 0 ? h('span', { class: 'delta', title: 'since the previous refresh' }, ` +${formatCount(delta)}`) : null,
        ),
        h('td', { class: 'num' }, formatBytes(rule.bytes)),
      );
    });
    previousHits = hits;
    replaceChildren(
      rulesBody,
      h(
        'table',
        { class: 'data', 'aria-labelledby': 'fw-rules-title' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Object', 'Interface', 'CIDR', 'Order', 'Action', 'Protocol', 'Ports / ICMP', 'Packets', 'Bytes'].map((t, i) =>
              h('th', { scope: 'col', class: i === 3 || i >= 7 ? 'num' : null }, t),
            ),
          ),
        ),
        h('tbody', null, rows),
      ),
    );
  }

  function renderEvents(events: FirewallEvent[]): void {
    if (events.length === 0) {
      replaceChildren(eventsBody, statusBox('empty', 'No packets denied recently'));
      return;
    }
    replaceChildren(
      eventsBody,
      h(
        'table',
        { class: 'data', 'aria-labelledby': 'fw-events-title' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Time', 'Interface', 'Action', 'Source', 'Destination', 'Protocol', 'Dst port', 'Rule'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          events.map((event) =>
            h(
              'tr',
              { 'data-testid': 'firewall-event' },
              h('td', { title: formatDateTime(event.time_ms) }, formatTimeShort(event.time_ms)),
              h('td', null, event.interface),
              h('td', null, actionTag(event.action)),
              h('td', null, event.src_addr),
              h('td', null, event.dst_addr),
              h('td', null, event.protocol ?? ''),
              h('td', null, event.dst_port == null ? '' : String(event.dst_port)),
              h('td', null, event.rule ?? ''),
            ),
          ),
        ),
      ),
    );
  }

  async function load(): Promise<void> {
    const [rules, events] = await Promise.all([
      rulesRequest.run((signal) => api.firewallRules(signal)),
      eventsRequest.run((signal) => api.firewallEvents(EVENT_LIMIT, signal)),
    ]);
    if (rules) {
      if (rules.ok) renderRules(rules.value.rules);
      else replaceChildren(rulesBody, failureBox(rules.error, 'node firewall'));
    }
    if (events) {
      if (events.ok) renderEvents(events.value.events);
      else replaceChildren(eventsBody, failureBox(events.error, 'firewall events'));
    }
  }

  return {
    // The firewall API has no time range or filter: only the first update and refreshes load.
    update: (_state, previous) => {
      if (!previous) void load();
    },
    refresh: () => void load(),
    destroy: () => {
      rulesRequest.cancel();
      eventsRequest.cancel();
    },
  };
}
