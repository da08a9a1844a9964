/**
 * Everything a view shows is decided by the URL query string, so a link reproduces the screen and
 * the browser's back/forward buttons move through what the user did. This module maps the query
 * string to a typed state and back, leaving defaults out of the URL to keep links short.
 */
import type { TopologyLevel } from '../api/types';

export const TABS = ['flows', 'topology', 'overview', 'firewall', 'podmonitor'] as const;
export type Tab = (typeof TABS)[number];

export const TIME_PRESETS = ['5m', '15m', '1h', '6h', '24h'] as const;
export const REFRESH_CHOICES = ['off', '5s', '15s', '1m'] as const;
export type Refresh = (typeof REFRESH_CHOICES)[number];
export const TOPOLOGY_LEVELS: readonly TopologyLevel[] = ['namespace', 'owner', 'pod', 'node'];
export const PAGE_SIZES = [50, 100, 200, 500] as const;
export const VERDICTS = ['', 'ALLOWED', 'BLOCKED'] as const;

export interface SortOrder {
  field: string;
  descending: boolean;
}

export interface ConsoleState {
  tab: Tab;
  /** Duration back from now (`15m`), RFC 3339 or epoch ms, passed to the server as is. */
  since: string;
  /** '' means now. */
  until: string;
  refresh: Refresh;
  /** Flow query language text, shared by flows, topology and overview. */
  filter: string;
  /** Flows table: column ids in display order. */
  columns: string[];
  sort: SortOrder;
  limit: number;
  offset: number;
  level: TopologyLevel;
  /** Pod monitor filters ('' = any). */
  podNamespace: string;
  podName: string;
  verdict: string;
}

export const DEFAULT_COLUMNS = ['end', 'src', 'dst', 'dstPort', 'proto', 'bytes', 'packets', 'drops', 'events'];

export const DEFAULT_STATE: ConsoleState = {
  tab: 'flows',
  since: '15m',
  until: '',
  refresh: 'off',
  filter: '',
  columns: DEFAULT_COLUMNS,
  sort: { field: 'TimeFlowEndMs', descending: true },
  limit: 100,
  offset: 0,
  level: 'namespace',
  podNamespace: '',
  podName: '',
  verdict: '',
};

function oneOf<T extends string>(choices: readonly T[], value: string | null, fallback: T): T {
  return value !== null && (choices as readonly string[]).includes(value) ? (value as T) : fallback;
}

function nonNegativeInt(value: string | null, fallback: number): number {
  if (value === null || !/^\d+$/.test(value)) return fallback;
  return Number(value);
}

export function sortToText(sort: SortOrder): string {
  return `${sort.field}:${sort.descending ? 'desc' : 'asc'}`;
}

function parseSort(text: string | null): SortOrder {
  const match = text ? /^([A-Za-z0-9_]+)(?::(asc|desc))?$/.exec(text) : null;
  if (!match) return DEFAULT_STATE.sort;
  return { field: match[1], descending: match[2] !== 'asc' };
}

/** The state a query string describes; unknown or malformed values fall back to defaults. */
export function parseState(search: string): ConsoleState {
  const q = new URLSearchParams(search);
  const columns = (q.get('cols') ?? '').split(',').filter((c) => c !== '');
  return {
    tab: oneOf(TABS, q.get('tab'), DEFAULT_STATE.tab),
    since: q.get('since') || DEFAULT_STATE.since,
    until: q.get('until') ?? '',
    refresh: oneOf(REFRESH_CHOICES, q.get('refresh'), DEFAULT_STATE.refresh),
    filter: q.get('filter') ?? '',
    columns: columns.length > 0 ? columns : DEFAULT_COLUMNS,
    sort: parseSort(q.get('sort')),
    limit: Math.min(Math.max(nonNegativeInt(q.get('limit'), DEFAULT_STATE.limit), 1), 1000),
    offset: nonNegativeInt(q.get('offset'), 0),
    level: oneOf(TOPOLOGY_LEVELS, q.get('level'), DEFAULT_STATE.level),
    podNamespace: q.get('ns') ?? '',
    podName: q.get('pod') ?? '',
    verdict: oneOf(VERDICTS, q.get('verdict'), ''),
  };
}

/** The query string (with `?`, or '' when everything is default) for a state. */
export function serializeState(state: ConsoleState): string {
  const q = new URLSearchParams();
  const put = (key: string, value: string, fallback: string) => {
    if (value !== fallback) q.set(key, value);
  };
  put('tab', state.tab, DEFAULT_STATE.tab);
  put('since', state.since, DEFAULT_STATE.since);
  put('until', state.until, '');
  put('refresh', state.refresh, DEFAULT_STATE.refresh);
  put('filter', state.filter, '');
  put('cols', state.columns.join(','), DEFAULT_COLUMNS.join(','));
  put('sort', sortToText(state.sort), sortToText(DEFAULT_STATE.sort));
  put('limit', String(state.limit), String(DEFAULT_STATE.limit));
  put('offset', String(state.offset), '0');
  put('level', state.level, DEFAULT_STATE.level);
  put('ns', state.podNamespace, '');
  put('pod', state.podName, '');
  put('verdict', state.verdict, '');
  const text = q.toString();
  return text ? `?${text}` : '';
}
