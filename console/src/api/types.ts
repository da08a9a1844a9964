/** The JSON the netwarden server answers with; README.md lists the endpoints. Times are epoch ms. */

export type FieldKind = 'text' | 'number' | 'addr' | 'events' | 'time';

export interface FieldInfo {
  name: string;
  kind: FieldKind;
}

/** One entry of a flow's `NetworkEvents` (policy verdicts, as OVN/NetObserv report them). */
export interface NetworkEvent {
  Action?: string;
  Type?: string;
  Feature?: string;
  Direction?: string;
  Name?: string;
  Namespace?: string;
  Message?: string;
  [other: string]: unknown;
}

/** A flow record with NetObserv's field names; absent fields are omitted by the server. */
export interface FlowRecord {
  TimeFlowStartMs?: number;
  TimeFlowEndMs?: number;
  SrcAddr?: string;
  SrcPort?: number;
  DstAddr?: string;
  DstPort?: number;
  Proto?: number;
  Bytes?: number;
  Packets?: number;
  PktDropPackets?: number;
  PktDropBytes?: number;
  PktDropLatestDropCause?: string;
  NetworkEvents?: NetworkEvent[];
  [field: string]: unknown;
}

export interface FlowsResponse {
  flows: FlowRecord[];
  total: number;
}

export interface Health {
  status: string;
  flows: number;
  oldest_ms?: number | null;
  newest_ms?: number | null;
}

export type Metric = 'bytes' | 'packets' | 'flows' | 'drop_packets';

export interface TopRow {
  /** Grouping field -> value; null when the flows had no such field (e.g. no Kubernetes identity). */
  group: Record<string, string | number | null>;
  bytes: number;
  packets: number;
  flows: number;
  drop_packets: number;
}

export interface Series {
  group: string | null;
  /** [bucket start ms, metric total over the bucket]. */
  points: [number, number][];
}

export interface SeriesResponse {
  step_ms: number;
  series: Series[];
}

export type TopologyLevel = 'namespace' | 'owner' | 'pod' | 'node';

export interface TopologyNode {
  /** `ns/<ns>`, `owner/<ns>/<owner>`, `pod/<ns>/<pod>`, `node/<host>`, `addr/<ip>`. */
  id: string;
  label: string;
  /** `namespace`, `owner`, `pod`, `node` or `external`. */
  kind: string;
  namespace?: string;
  name?: string;
  addr?: string;
}

export interface TopologyEdge {
  source: string;
  target: string;
  bytes: number;
  packets: number;
  flows: number;
  drop_packets: number;
  denied_flows: number;
}

export interface Topology {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface FirewallRule {
  object: string;
  interface: string;
  cidr: string;
  order: number;
  action: string;
  protocol?: string | null;
  selector?: string | null;
  packets: number;
  bytes: number;
}

export interface FirewallEvent {
  time_ms: number;
  interface: string;
  action: string;
  src_addr: string;
  dst_addr: string;
  protocol?: string | null;
  dst_port?: number | null;
  rule?: string | null;
}

export interface PodMonitorEvent {
  timeMs: number;
  kind: string;
  verdict: string;
  direction: string;
  namespace: string;
  pod: string;
  protocol?: string;
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
  policy?: string;
  networkEvents?: NetworkEvent[];
  reason?: string;
}
