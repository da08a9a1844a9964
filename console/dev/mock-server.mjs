// The console's development server: serves dist/ and a mock of the netwarden API over the
// fixtures in fixtures.mjs. Plain node, no dependencies.
//
//   node dev/mock-server.mjs [port]          (default 8080; PORT also works)
//   NETWARDEN_MOCK_DISABLE=firewall,podmonitor node dev/mock-server.mjs   (those answer 404)
//
// Tests import startMockServer() and run it on a free port.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firewallEvents, firewallRules, fixtureFlows, podMonitorEvents } from './fixtures.mjs';
import { compileFilter, FilterError, fieldValues } from './filter.mjs';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

const kinds = {
  text: [
    'SrcK8S_Namespace', 'SrcK8S_Name', 'SrcK8S_Type', 'SrcK8S_OwnerName', 'SrcK8S_OwnerType', 'SrcK8S_HostName',
    'DstK8S_Namespace', 'DstK8S_Name', 'DstK8S_Type', 'DstK8S_OwnerName', 'DstK8S_OwnerType', 'DstK8S_HostName',
    'K8S_Namespace', 'K8S_Name', 'K8S_Type', 'K8S_OwnerName', 'K8S_OwnerType', 'K8S_HostName', 'K8S_FlowLayer',
    'Interfaces', 'PktDropLatestDropCause', 'PktDropLatestState', 'DnsName', 'DnsFlagsResponseCode',
  ],
  number: [
    'SrcPort', 'DstPort', 'Proto', 'Bytes', 'Packets', 'Flags', 'Dscp', 'Etype', 'IcmpType', 'IcmpCode',
    'PktDropPackets', 'PktDropBytes', 'DnsLatencyMs', 'DnsId', 'TimeFlowRttNs', 'Sampling', 'IfDirections',
  ],
  addr: ['SrcAddr', 'DstAddr', 'SrcK8S_HostIP', 'DstK8S_HostIP', 'K8S_HostIP', 'AgentIP'],
  time: ['TimeFlowStartMs', 'TimeFlowEndMs', 'TimeReceived'],
  events: ['NetworkEvents'],
};
export const FIELDS = Object.entries(kinds).flatMap(([kind, names]) => names.map((name) => ({ name, kind })));

const UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

class BadRequest extends Error {
  constructor(message, position = null) {
    super(message);
    this.position = position;
  }
}

function instant(text, now, name) {
  if (!text) return null;
  const duration = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2]];
  if (/^\d+$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new BadRequest(`${name}: ${JSON.stringify(text)} is neither a duration, RFC 3339 nor epoch ms`);
  return parsed;
}

/** Flows in the query's time range that pass its filter. */
function selectFlows(q, flows, extraFilter) {
  const now = Date.now();
  const since = instant(q.get('since') ?? '1h', now, 'since');
  const until = instant(q.get('until'), now, 'until') ?? now;
  let predicate;
  try {
    predicate = compileFilter(q.get('filter') ?? '', FIELDS);
  } catch (err) {
    if (err instanceof FilterError) throw new BadRequest(err.message, err.position);
    throw err;
  }
  return flows.filter(
    (f) => f.TimeFlowEndMs >= since && f.TimeFlowEndMs <= until && predicate(f) && (!extraFilter || extraFilter(f)),
  );
}

function compare(a, b) {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

const METRICS = {
  bytes: (f) => f.Bytes ?? 0,
  packets: (f) => f.Packets ?? 0,
  flows: () => 1,
  drop_packets: (f) => f.PktDropPackets ?? 0,
};

function metricOf(q) {
  const metric = q.get('metric') ?? 'bytes';
  if (!METRICS[metric]) throw new BadRequest(`metric: ${metric} is not one of bytes, packets, flows, drop_packets`);
  return metric;
}

const isDenied = (f) => (f.NetworkEvents ?? []).some((e) => (e.Action ?? '').toLowerCase() === 'drop');

function totals() {
  return { bytes: 0, packets: 0, flows: 0, drop_packets: 0 };
}

function add(sum, f) {
  for (const [metric, of] of Object.entries(METRICS)) sum[metric] += of(f);
}

/** Group values of a flow: one combination per NetworkEvents message, else one. */
function groupsOf(flow, by) {
  let combos = [{}];
  for (const field of by) {
    const values = field === 'NetworkEvents' || field.startsWith('K8S_') ? fieldValues(flow, field) : [flow[field]];
    const options = values.length ? values : [null];
    combos = combos.flatMap((c) => options.map((v) => ({ ...c, [field]: v === undefined ? null : v })));
  }
  return combos;
}

function top(q, flows) {
  const by = (q.get('by') ?? '').split(',').filter(Boolean);
  if (by.length === 0) throw new BadRequest('by: at least one field');
  const unknown = by.find((f) => !FIELDS.some((x) => x.name === f));
  if (unknown) throw new BadRequest(`by: unknown field ${unknown}`);
  const metric = metricOf(q);
  const n = Number(q.get('n') ?? 10);
  const groups = new Map();
  for (const flow of selectFlows(q, flows)) {
    for (const group of groupsOf(flow, by)) {
      const key = JSON.stringify(group);
      if (!groups.has(key)) groups.set(key, { group, ...totals() });
      add(groups.get(key), flow);
    }
  }
  const rows = [...groups.values()].sort((a, b) => b[metric] - a[metric]).slice(0, n);
  return { rows };
}

function parseStep(text) {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text ?? '60s');
  if (!match) throw new BadRequest(`step: ${text} is not a duration`);
  return Math.max(1000, Number(match[1]) * UNIT_MS[match[2] ?? 'ms']);
}

function series(q, flows) {
  const step = parseStep(q.get('step'));
  const metric = metricOf(q);
  const by = q.get('by');
  const topN = Number(q.get('top') ?? 5);
  const lines = new Map();
  for (const flow of selectFlows(q, flows)) {
    const group = by ? (flow[by] ?? null) : null;
    const key = JSON.stringify(group);
    if (!lines.has(key)) lines.set(key, { group, total: 0, buckets: new Map() });
    const line = lines.get(key);
    const value = METRICS[metric](flow);
    const bucket = Math.floor(flow.TimeFlowEndMs / step) * step;
    line.total += value;
    line.buckets.set(bucket, (line.buckets.get(bucket) ?? 0) + value);
  }
  const chosen = [...lines.values()].sort((a, b) => b.total - a.total).slice(0, topN);
  // Empty buckets are left out, as a sparse store would; the console fills the gaps.
  return {
    step_ms: step,
    series: chosen.map((line) => ({ group: line.group, points: [...line.buckets.entries()].sort((a, b) => a[0] - b[0]) })),
  };
}

/** The node a flow end belongs to at a topology level. */
function topologyNode(flow, side, level) {
  const get = (field) => flow[`${side}K8S_${field}`];
  const addr = flow[`${side}Addr`];
  const [ns, name, type, owner, host] = [get('Namespace'), get('Name'), get('Type'), get('OwnerName'), get('HostName')];
  const nodeOf = (hostName) => ({ id: `node/${hostName}`, label: hostName, kind: 'node', name: hostName });
  const external = { id: `addr/${addr}`, label: addr, kind: 'external', addr };
  if (type === 'Node' && (level !== 'node' || !host)) return nodeOf(name);
  switch (level) {
    case 'namespace':
      return ns ? { id: `ns/${ns}`, label: ns, kind: 'namespace', namespace: ns } : external;
    case 'owner':
      return ns && owner ? { id: `owner/${ns}/${owner}`, label: owner, kind: 'owner', namespace: ns, name: owner } : external;
    case 'pod':
      return ns && name ? { id: `pod/${ns}/${name}`, label: name, kind: 'pod', namespace: ns, name } : external;
    case 'node':
      if (host) return nodeOf(host);
      return ns && name ? { id: `addr/${addr}`, label: `${ns}/${name}`, kind: 'service', addr } : external;
    default:
      throw new BadRequest(`level: ${level} is not one of namespace, owner, pod, node`);
  }
}

function topology(q, flows) {
  const level = q.get('level') ?? 'namespace';
  const nodes = new Map();
  const edges = new Map();
  for (const flow of selectFlows(q, flows)) {
    const source = topologyNode(flow, 'Src', level);
    const target = topologyNode(flow, 'Dst', level);
    nodes.set(source.id, source);
    nodes.set(target.id, target);
    const key = `${source.id}\u0000${target.id}`;
    if (!edges.has(key)) edges.set(key, { source: source.id, target: target.id, ...totals(), denied_flows: 0 });
    const edge = edges.get(key);
    add(edge, flow);
    if (isDenied(flow)) edge.denied_flows += 1;
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

function values(q, flows) {
  const field = q.get('field');
  if (!FIELDS.some((f) => f.name === field)) throw new BadRequest(`field: unknown field ${field}`);
  const prefix = (q.get('prefix') ?? '').toLowerCase();
  const limit = Number(q.get('limit') ?? 20);
  const seen = new Set();
  for (const flow of selectFlows(q, flows)) {
    for (const value of fieldValues(flow, field)) {
      if (String(value).toLowerCase().startsWith(prefix)) seen.add(value);
    }
  }
  return { values: [...seen].sort(compare).slice(0, limit) };
}

function flowsPage(q, flows) {
  const limit = Math.min(Number(q.get('limit') ?? 100), 1000);
  const offset = Number(q.get('offset') ?? 0);
  const [field, direction] = (q.get('sort') ?? 'TimeFlowEndMs:desc').split(':');
  const selected = selectFlows(q, flows).sort((a, b) => {
    const order = compare(a[field], b[field]);
    // Missing values stay last whatever the direction.
    if (a[field] === undefined || b[field] === undefined) return order;
    return direction === 'asc' ? order : -order;
  });
  return { flows: selected.slice(offset, offset + limit), total: selected.length };
}

function api(path, q, ctx) {
  const now = Date.now();
  const flows = fixtureFlows(ctx.fixedNow ?? now);
  const disabled = (feature) => {
    if (ctx.disable.includes(feature)) throw Object.assign(new Error(`${feature} is not enabled on this server`), { status: 404 });
  };
  switch (path) {
    case '/api/health':
      return {
        status: 'ok',
        flows: flows.length,
        oldest_ms: Math.min(...flows.map((f) => f.TimeFlowEndMs)),
        newest_ms: Math.max(...flows.map((f) => f.TimeFlowEndMs)),
      };
    case '/api/fields':
      return { fields: FIELDS };
    case '/api/values':
      return values(q, flows);
    case '/api/flows':
      return flowsPage(q, flows);
    case '/api/top':
      return top(q, flows);
    case '/api/series':
      return series(q, flows);
    case '/api/topology':
      return topology(q, flows);
    case '/api/firewall/rules':
      disabled('firewall');
      return { rules: firewallRules(ctx.startedAt, now) };
    case '/api/firewall/events':
      disabled('firewall');
      return { events: firewallEvents(now).slice(0, Number(q.get('limit') ?? 100)) };
    case '/api/podmonitor/events': {
      disabled('podmonitor');
      const { namespace, pod, verdict } = Object.fromEntries(['namespace', 'pod', 'verdict'].map((k) => [k, q.get(k)]));
      const events = podMonitorEvents(now).filter(
        (e) => (!namespace || e.namespace === namespace) && (!pod || e.pod.includes(pod)) && (!verdict || e.verdict === verdict),
      );
      return { events: events.slice(0, Number(q.get('limit') ?? 100)) };
    }
    default:
      throw Object.assign(new Error(`no such endpoint: ${path}`), { status: 404 });
  }
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

// The strict policy the console is written for (no inline script or style, no CDN); the mock
// sends it so the browser tests fail if the console ever needs more.
export const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:";

function send(res, status, type, body) {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

async function serveStatic(pathname, res) {
  const file = pathname === '/' ? 'index.html' : normalize(pathname).replace(/^[/\\]+/, '');
  if (file.includes('..') || !CONTENT_TYPES[extname(file)]) {
    send(res, 404, 'text/plain', 'not found');
    return;
  }
  try {
    send(res, 200, CONTENT_TYPES[extname(file)], await readFile(join(DIST, file)));
  } catch {
    send(res, 404, 'text/plain', `not found: ${file} (run npm run build first)`);
  }
}

/**
 * Starts the mock on `port` (0: any free port). `disable` lists features answering 404
 * (`firewall`, `podmonitor`). Resolves with the base URL and a close function.
 */
export function startMockServer({ port = 0, host = '127.0.0.1', disable = [] } = {}) {
  const ctx = { startedAt: Date.now(), disable };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') {
      send(res, 405, 'application/json', JSON.stringify({ error: 'only GET' }));
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      void serveStatic(url.pathname, res);
      return;
    }
    try {
      send(res, 200, 'application/json', JSON.stringify(api(url.pathname, url.searchParams, ctx)));
    } catch (err) {
      if (err instanceof BadRequest) {
        send(res, 400, 'application/json', JSON.stringify({ error: err.message, position: err.position }));
      } else {
        send(res, err.status ?? 500, 'application/json', JSON.stringify({ error: err.message }));
      }
    }
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      resolve({ url: `http://${host}:${bound}`, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const disable = (process.env.NETWARDEN_MOCK_DISABLE ?? '').split(',').filter(Boolean);
  const { url } = await startMockServer({ port, host: process.env.HOST ?? '127.0.0.1', disable });
  console.log(`netwarden console (mock API) on ${url}${disable.length ? `; disabled: ${disable.join(', ')}` : ''}`);
}
