/**
 * The overview's "top N" panels, each one query to `/api/top` described as data: what to group
 * by, which metric ranks the rows, how to label them. A new panel is a new entry here.
 */
import type { Metric, TopRow } from '../../api/types';
import { formatBytes, formatCount, shortDropCause } from '../../util/format';

export interface RowLabel {
  title: string;
  /** Group fields shown joined by '/' (e.g. namespace/owner). */
  fields: string[];
  format?: (value: string) => string;
  /** Shown when the group has none of the fields (default: the end is outside Kubernetes). */
  missing?: string;
}

export interface ValueColumn {
  title: string;
  metric: Metric;
  format: (n: number) => string;
}

export interface TopPanelSpec {
  id: string;
  title: string;
  description: string;
  by: string[];
  metric: Metric;
  n: number;
  /** AND-ed with the global filter for this panel only. */
  extraFilter?: string;
  labels: RowLabel[];
  values: ValueColumn[];
  /** Rows worth showing (e.g. drop causes: only groups that have one). */
  keep?: (row: TopRow) => boolean;
  /** Asked instead when this panel's query finds nothing. */
  fallback?: TopPanelSpec;
}

const BYTES: ValueColumn = { title: 'Bytes', metric: 'bytes', format: formatBytes };
const PACKETS: ValueColumn = { title: 'Packets', metric: 'packets', format: formatCount };
const FLOWS: ValueColumn = { title: 'Flows', metric: 'flows', format: formatCount };
const DROPPED: ValueColumn = { title: 'Dropped packets', metric: 'drop_packets', format: formatCount };

const SRC_OWNER = ['SrcK8S_Namespace', 'SrcK8S_OwnerName'];
const DST_OWNER = ['DstK8S_Namespace', 'DstK8S_OwnerName'];

export const TOP_TALKERS: TopPanelSpec = {
  id: 'top-talkers',
  title: 'Top talkers',
  description: 'Source → destination workload pairs with the most bytes',
  by: [...SRC_OWNER, ...DST_OWNER],
  metric: 'bytes',
  n: 10,
  labels: [
    { title: 'Source', fields: SRC_OWNER },
    { title: 'Destination', fields: DST_OWNER },
  ],
  values: [BYTES, PACKETS],
};

export const TOP_CLIENTS: TopPanelSpec = {
  id: 'top-clients',
  title: 'Top clients',
  description: 'Workloads sending the most bytes',
  by: SRC_OWNER,
  metric: 'bytes',
  n: 10,
  labels: [{ title: 'Client', fields: SRC_OWNER }],
  values: [BYTES, FLOWS],
};

export const TOP_SERVERS: TopPanelSpec = {
  id: 'top-servers',
  title: 'Top servers',
  description: 'Destination workload and port receiving the most bytes',
  by: [...DST_OWNER, 'DstPort'],
  metric: 'bytes',
  n: 10,
  labels: [
    { title: 'Server', fields: DST_OWNER },
    { title: 'Port', fields: ['DstPort'], missing: '—' },
  ],
  values: [BYTES, FLOWS],
};

export const TOP_DROP_CAUSES: TopPanelSpec = {
  id: 'drop-causes',
  title: 'Top drop causes',
  description: 'Why the kernel dropped packets (latest cause per flow)',
  by: ['PktDropLatestDropCause'],
  metric: 'drop_packets',
  n: 10,
  labels: [{ title: 'Cause', fields: ['PktDropLatestDropCause'], format: shortDropCause, missing: '—' }],
  values: [DROPPED, FLOWS],
  keep: (row) => row.group.PktDropLatestDropCause != null && row.drop_packets > 0,
};

export const TOP_DENYING_POLICIES: TopPanelSpec = {
  id: 'denying-policies',
  title: 'Top denying policies',
  description: 'Network events that dropped flows',
  by: ['NetworkEvents'],
  metric: 'flows',
  n: 10,
  extraFilter: 'NetworkEvents=~"Dropped"',
  labels: [{ title: 'Event', fields: ['NetworkEvents'] }],
  values: [FLOWS, PACKETS],
  keep: (row) => row.group.NetworkEvents != null,
};

const SERVICES_BY_PORT: TopPanelSpec = {
  id: 'services',
  title: 'Traffic by destination port',
  description: 'No flows to Services in this range: bytes by destination port',
  by: ['DstPort'],
  metric: 'bytes',
  n: 10,
  labels: [{ title: 'Port', fields: ['DstPort'], missing: '—' }],
  values: [BYTES, PACKETS, FLOWS],
  keep: (row) => row.group.DstPort != null,
};

export const TRAFFIC_BY_SERVICE: TopPanelSpec = {
  id: 'services',
  title: 'Traffic by service',
  description: 'Flows addressed to Kubernetes Services',
  by: ['DstK8S_Namespace', 'DstK8S_Name', 'DstPort'],
  metric: 'bytes',
  n: 10,
  extraFilter: 'DstK8S_Type="Service"',
  labels: [
    { title: 'Service', fields: ['DstK8S_Namespace', 'DstK8S_Name'] },
    { title: 'Port', fields: ['DstPort'], missing: '—' },
  ],
  values: [BYTES, PACKETS, FLOWS],
  fallback: SERVICES_BY_PORT,
};
