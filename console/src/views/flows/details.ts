/**
 * The side panel with every field of one flow. Each filterable value is a button that adds
 * `Field=value` to the filter, the quickest way from "this flow" to "flows like this one".
 */
import type { FlowRecord, NetworkEvent } from '../../api/types';
import type { FieldCatalog } from '../../filter/fields';
import { equals, matches } from '../../filter/text';
import { type Child, h, replaceChildren } from '../../util/dom';
import { formatBytes, formatCount, formatDateTime, formatNanos, protoName } from '../../util/format';
import { eventMessage, isDropEvent } from '../common/events';
import { tcpFlagNames } from './columns';

interface Group {
  title: string;
  matches: (field: string) => boolean;
}

// Fields are shown in these groups, in this order; anything unmatched lands in "Other".
const GROUPS: Group[] = [
  { title: 'Time', matches: (f) => f.startsWith('Time') && f !== 'TimeFlowRttNs' },
  { title: 'Source', matches: (f) => f.startsWith('Src') },
  { title: 'Destination', matches: (f) => f.startsWith('Dst') },
  {
    title: 'Traffic',
    matches: (f) =>
      ['Proto', 'Bytes', 'Packets', 'Flags', 'Dscp', 'Etype', 'IcmpType', 'IcmpCode', 'Interfaces', 'IfDirections', 'Sampling', 'TimeFlowRttNs'].includes(f),
  },
  { title: 'Drops', matches: (f) => f.startsWith('PktDrop') },
  { title: 'DNS', matches: (f) => f.startsWith('Dns') },
  { title: 'Other', matches: () => true },
];

/** A value for reading: units, names and local times where the raw number means little. */
function display(field: string, value: unknown): string {
  if (typeof value === 'number') {
    if (field === 'Proto') return `${protoName(value)} (${value})`;
    if (field === 'TimeReceived') return formatDateTime(value * 1000);
    if (field.startsWith('Time') && field.endsWith('Ms')) return formatDateTime(value);
    if (field === 'TimeFlowRttNs') return formatNanos(value);
    if (field === 'Bytes' || field === 'PktDropBytes') return `${formatBytes(value)} (${formatCount(value)})`;
    if (field === 'Flags') return `${tcpFlagNames(value)} (${value})`;
    if (field === 'DnsLatencyMs') return `${value} ms`;
    return String(value);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export class FlowDetails {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly heading: HTMLHeadingElement;

  constructor(
    private readonly catalog: FieldCatalog,
    /** A value was clicked: add this clause to the filter. */
    private readonly addToFilter: (clause: string) => void,
    private readonly onClose: () => void,
  ) {
    this.heading = h('h2', { tabindex: '-1' }, 'Flow details');
    this.body = h('div', { class: 'details-body' });
    this.element = h(
      'aside',
      {
        class: 'details',
        'aria-label': 'Flow details',
        'data-testid': 'flow-details',
        hidden: true,
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === 'Escape') this.close();
        },
      },
      h(
        'div',
        { class: 'details-head' },
        this.heading,
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Close details', onclick: () => this.close() }, '✕'),
      ),
      h('p', { class: 'hint' }, 'Click a value to add it to the filter.'),
      this.body,
    );
  }

  show(flow: FlowRecord): void {
    const fields = Object.keys(flow).filter((f) => f !== 'NetworkEvents');
    const placed = new Set<string>();
    const sections: Child[] = [];
    for (const group of GROUPS) {
      const mine = fields.filter((f) => !placed.has(f) && group.matches(f)).sort();
      mine.forEach((f) => placed.add(f));
      if (mine.length === 0) continue;
      sections.push(
        h('h3', null, group.title),
        h('table', { class: 'kv' }, h('tbody', null, mine.map((f) => this.row(f, flow[f])))),
      );
    }
    const events = flow.NetworkEvents ?? [];
    if (events.length > 0) {
      sections.push(h('h3', null, 'Network events'), h('ul', { class: 'event-cards' }, events.map((e) => this.eventCard(e))));
    }
    replaceChildren(this.body, sections);
    this.element.hidden = false;
    this.heading.focus();
  }

  close(): void {
    if (this.element.hidden) return;
    this.element.hidden = true;
    this.onClose();
  }

  private row(field: string, value: unknown): HTMLElement {
    const values = Array.isArray(value) ? value : [value];
    const kind = this.catalog.kindOf(field, values[0]);
    const clickable = (kind === 'text' || kind === 'number' || kind === 'addr') && field !== 'IfDirections';
    const cells = values.map((v) => {
      const shown = display(field, v);
      if (!clickable || (typeof v !== 'string' && typeof v !== 'number')) return h('span', null, shown);
      const clause = equals(field, v, kind);
      return h(
        'button',
        {
          type: 'button',
          class: 'value',
          title: `Add ${clause} to the filter`,
          'aria-label': `Add ${clause} to the filter`,
          onclick: () => this.addToFilter(clause),
        },
        shown,
      );
    });
    return h('tr', null, h('th', { scope: 'row' }, field), h('td', { 'data-field': field }, cells));
  }

  private eventCard(event: NetworkEvent): HTMLElement {
    const message = eventMessage(event);
    const clause = matches('NetworkEvents', message);
    return h(
      'li',
      { class: isDropEvent(event) ? 'event-card event-drop' : 'event-card' },
      h(
        'button',
        { type: 'button', class: 'value', title: `Add ${clause} to the filter`, onclick: () => this.addToFilter(clause) },
        message,
      ),
      h(
        'dl',
        null,
        Object.entries(event)
          .filter(([key]) => key !== 'Message')
          .map(([key, v]) => [h('dt', null, key), h('dd', null, display(key, v))]),
      ),
    );
  }
}
