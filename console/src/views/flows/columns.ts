/**
 * The columns the flows table can show. `id`s are what the URL stores (`cols=end,src,...`), so
 * renaming one breaks shared links: add new ids instead.
 */
import type { FlowRecord } from '../../api/types';
import { type Child, h } from '../../util/dom';
import {
  formatBytes,
  formatCount,
  formatDateTime,
  formatNanos,
  formatTimeShort,
  protoName,
  shortDropCause,
} from '../../util/format';
import { eventLines } from '../common/events';

export interface Column {
  id: string;
  label: string;
  /** Field the server sorts by when the header is clicked; absent: not sortable. */
  sortField?: string;
  /** Right-aligned, and sorted largest first on the first click. */
  numeric?: boolean;
  render(flow: FlowRecord): Child;
  /** data-testid of the cell, for the ones tests look at. */
  testId?: string;
}

type Side = 'Src' | 'Dst';

const text = (value: unknown): string => (value === undefined || value === null ? '' : String(value));

/** `namespace/name` when Kubernetes knows the end, with its address underneath; else the address. */
export function endpoint(flow: FlowRecord, side: Side): Child {
  const namespace = text(flow[`${side}K8S_Namespace`]);
  const name = text(flow[`${side}K8S_Name`]);
  const kind = text(flow[`${side}K8S_Type`]);
  const addr = text(flow[`${side}Addr`]);
  const port = flow[`${side}Port`];
  const label = name ? (namespace ? `${namespace}/${name}` : name) : addr;
  const where = port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
  return h(
    'span',
    { class: 'endpoint', title: `${label === addr ? '' : `${label} `}${where}${kind ? ` (${kind})` : ''}` },
    h('span', { class: 'endpoint-name' }, label),
    kind === 'Service' ? h('span', { class: 'badge' }, 'svc') : null,
    name && addr ? h('small', null, addr) : null,
  );
}

const TCP_FLAGS: [number, string][] = [
  [0x01, 'FIN'], [0x02, 'SYN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK'], [0x20, 'URG'],
  [0x40, 'ECE'], [0x80, 'CWR'], [0x100, 'SYN_ACK'], [0x200, 'FIN_ACK'], [0x400, 'RST_ACK'],
];

/** NetObserv's `Flags` bits by name: `SYN ACK SYN_ACK`. */
export function tcpFlagNames(flags: unknown): string {
  if (typeof flags !== 'number') return '';
  return TCP_FLAGS.filter(([bit]) => (flags & bit) !== 0)
    .map(([, name]) => name)
    .join(' ');
}

/** `eth0 ↓, veth1 ↑`: each interface with its direction (IfDirections: 0 ingress, 1 egress). */
export function interfacesWithDirections(flow: FlowRecord): string {
  const names = Array.isArray(flow.Interfaces) ? (flow.Interfaces as unknown[]) : [];
  const directions = Array.isArray(flow.IfDirections) ? (flow.IfDirections as unknown[]) : [];
  return names
    .map((name, i) => `${text(name)}${directions[i] === 0 ? ' ↓' : directions[i] === 1 ? ' ↑' : ''}`)
    .join(', ');
}

function time(ms: unknown): Child {
  return h('time', { datetime: typeof ms === 'number' ? new Date(ms).toISOString() : '', title: formatDateTime(ms) }, formatTimeShort(ms));
}

function drops(flow: FlowRecord): Child {
  const packets = flow.PktDropPackets;
  if (typeof packets !== 'number' || packets === 0) return '';
  const cause = text(flow.PktDropLatestDropCause);
  return h(
    'span',
    { class: 'drops', title: cause },
    formatCount(packets),
    cause ? h('small', null, shortDropCause(cause)) : null,
  );
}

const field = (id: string, label: string, name: string, numeric = false): Column => ({
  id,
  label,
  sortField: name,
  numeric,
  render: (flow) => (numeric ? formatCount(flow[name]) : text(flow[name])),
});

export const COLUMNS: Column[] = [
  { id: 'end', label: 'End time', sortField: 'TimeFlowEndMs', numeric: true, render: (f) => time(f.TimeFlowEndMs) },
  { id: 'start', label: 'Start time', sortField: 'TimeFlowStartMs', numeric: true, render: (f) => time(f.TimeFlowStartMs) },
  { id: 'src', label: 'Source', render: (f) => endpoint(f, 'Src') },
  { id: 'dst', label: 'Destination', render: (f) => endpoint(f, 'Dst') },
  { id: 'srcAddr', label: 'Src address', sortField: 'SrcAddr', render: (f) => text(f.SrcAddr) },
  { id: 'srcPort', label: 'Src port', sortField: 'SrcPort', numeric: true, render: (f) => text(f.SrcPort) },
  { id: 'dstAddr', label: 'Dst address', sortField: 'DstAddr', render: (f) => text(f.DstAddr) },
  { id: 'dstPort', label: 'Dst port', sortField: 'DstPort', numeric: true, render: (f) => text(f.DstPort) },
  field('srcNamespace', 'Src namespace', 'SrcK8S_Namespace'),
  field('dstNamespace', 'Dst namespace', 'DstK8S_Namespace'),
  field('srcOwner', 'Src owner', 'SrcK8S_OwnerName'),
  field('dstOwner', 'Dst owner', 'DstK8S_OwnerName'),
  field('srcNode', 'Src node', 'SrcK8S_HostName'),
  field('dstNode', 'Dst node', 'DstK8S_HostName'),
  { id: 'proto', label: 'Protocol', sortField: 'Proto', render: (f) => protoName(f.Proto) },
  { id: 'bytes', label: 'Bytes', sortField: 'Bytes', numeric: true, render: (f) => formatBytes(f.Bytes) },
  { id: 'packets', label: 'Packets', sortField: 'Packets', numeric: true, render: (f) => formatCount(f.Packets) },
  { id: 'drops', label: 'Drops', sortField: 'PktDropPackets', numeric: true, render: drops },
  field('dropCause', 'Drop cause', 'PktDropLatestDropCause'),
  {
    id: 'events',
    label: 'Network events',
    render: (f) => eventLines(f.NetworkEvents),
    testId: 'flow-events',
  },
  { id: 'flags', label: 'TCP flags', sortField: 'Flags', render: (f) => tcpFlagNames(f.Flags) },
  field('dscp', 'DSCP', 'Dscp', true),
  { id: 'interfaces', label: 'Interfaces', render: interfacesWithDirections },
  field('dnsName', 'DNS name', 'DnsName'),
  { id: 'dnsLatency', label: 'DNS latency', sortField: 'DnsLatencyMs', numeric: true, render: (f) => (typeof f.DnsLatencyMs === 'number' ? `${f.DnsLatencyMs} ms` : '') },
  field('dnsCode', 'DNS response', 'DnsFlagsResponseCode'),
  { id: 'rtt', label: 'RTT', sortField: 'TimeFlowRttNs', numeric: true, render: (f) => formatNanos(f.TimeFlowRttNs) },
  field('layer', 'Flow layer', 'K8S_FlowLayer'),
];

const BY_ID = new Map(COLUMNS.map((c) => [c.id, c]));

/** The known columns among `ids`, in that order (unknown ids from old links are skipped). */
export function columnsFor(ids: string[]): Column[] {
  return ids.map((id) => BY_ID.get(id)).filter((c): c is Column => c !== undefined);
}
