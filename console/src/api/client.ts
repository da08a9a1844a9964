/**
 * Typed calls to the server's JSON API. Paths are relative (`api/flows`), so the console also works
 * behind a reverse proxy that serves it under a sub-path.
 */
import type {
  FieldInfo,
  FirewallEvent,
  FirewallRule,
  FlowsResponse,
  Health,
  Metric,
  PodMonitorEvent,
  SeriesResponse,
  Topology,
  TopologyLevel,
  TopRow,
} from './types';

/** A failed call: HTTP status (0 when the server could not be reached) and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Where in the filter text the server found the problem (HTTP 400 only). */
    readonly position: number | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** 404/503: the feature is off or the store is not ready; views show an empty state, not an error. */
  get unavailable(): boolean {
    return this.status === 404 || this.status === 503;
  }

  /** 400: the filter (or another parameter) was rejected. */
  get rejected(): boolean {
    return this.status === 400;
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

type Params = Record<string, string | number | null | undefined>;

function queryString(params: Params): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') continue;
    query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}

async function getJson<T>(path: string, params: Params, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`api/${path}${queryString(params)}`, {
      signal,
      headers: { Accept: 'application/json' },
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'the netwarden server cannot be reached', null);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): reported below by status or as a bad answer.
  }
  if (!response.ok) {
    const detail = (body ?? {}) as { error?: unknown; position?: unknown };
    const message =
      typeof detail.error === 'string' ? detail.error : `${response.status} ${response.statusText}`.trim();
    const position = typeof detail.position === 'number' ? detail.position : null;
    throw new ApiError(response.status, message, position);
  }
  if (body === null || typeof body !== 'object') {
    throw new ApiError(response.status, `api/${path} did not answer with JSON`, null);
  }
  return body as T;
}

/** The time window every query covers: durations (`15m`), RFC 3339 or epoch ms; until '' = now. */
export interface TimeRange {
  since: string;
  until: string;
}

export interface FlowsQuery extends TimeRange {
  filter: string;
  limit: number;
  offset: number;
  /** `Field:asc` or `Field:desc`. */
  sort: string;
}

export interface TopQuery extends TimeRange {
  by: string[];
  metric: Metric;
  n: number;
  filter: string;
}

export interface SeriesQuery extends TimeRange {
  stepSeconds: number;
  metric: Metric;
  by: string | null;
  top: number;
  filter: string;
}

export interface PodMonitorQuery {
  limit: number;
  namespace: string;
  verdict: string;
}

export const api = {
  health: (signal?: AbortSignal) => getJson<Health>('health', {}, signal),

  fields: (signal?: AbortSignal) => getJson<{ fields: FieldInfo[] }>('fields', {}, signal),

  values: (field: string, prefix: string, range: TimeRange, limit: number, signal?: AbortSignal) =>
    getJson<{ values: (string | number)[] }>(
      'values',
      { field, prefix, since: range.since, until: range.until, limit },
      signal,
    ),

  flows: (q: FlowsQuery, signal?: AbortSignal) =>
    getJson<FlowsResponse>(
      'flows',
      { filter: q.filter, since: q.since, until: q.until, limit: q.limit, offset: q.offset, sort: q.sort },
      signal,
    ),

  top: (q: TopQuery, signal?: AbortSignal) =>
    getJson<{ rows: TopRow[] }>(
      'top',
      { by: q.by.join(','), metric: q.metric, n: q.n, filter: q.filter, since: q.since, until: q.until },
      signal,
    ),

  series: (q: SeriesQuery, signal?: AbortSignal) =>
    getJson<SeriesResponse>(
      'series',
      {
        step: `${q.stepSeconds}s`,
        metric: q.metric,
        by: q.by,
        top: q.top,
        filter: q.filter,
        since: q.since,
        until: q.until,
      },
      signal,
    ),

  topology: (level: TopologyLevel, filter: string, range: TimeRange, signal?: AbortSignal) =>
    getJson<Topology>('topology', { level, filter, since: range.since, until: range.until }, signal),

  firewallRules: (signal?: AbortSignal) => getJson<{ rules: FirewallRule[] }>('firewall/rules', {}, signal),

  firewallEvents: (limit: number, signal?: AbortSignal) =>
    getJson<{ events: FirewallEvent[] }>('firewall/events', { limit }, signal),

  // namespace/verdict are hints the server may apply; the view filters the answer again itself.
  podMonitorEvents: (q: PodMonitorQuery, signal?: AbortSignal) =>
    getJson<{ events: PodMonitorEvent[] }>(
      'podmonitor/events',
      { limit: q.limit, namespace: q.namespace, verdict: q.verdict },
      signal,
    ),
};
