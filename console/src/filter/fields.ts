/**
 * The fields the query language knows, from `/api/fields`. Until it answers (or when an older
 * server lacks it) a built-in list of NetObserv names keeps completion and the details panel useful.
 */
import { api } from '../api/client';
import type { FieldInfo, FieldKind } from '../api/types';

const TEXT = [
  'SrcK8S_Namespace', 'SrcK8S_Name', 'SrcK8S_Type', 'SrcK8S_OwnerName', 'SrcK8S_OwnerType', 'SrcK8S_HostName',
  'DstK8S_Namespace', 'DstK8S_Name', 'DstK8S_Type', 'DstK8S_OwnerName', 'DstK8S_OwnerType', 'DstK8S_HostName',
  'K8S_Namespace', 'K8S_Name', 'K8S_OwnerName', 'K8S_HostName', 'K8S_FlowLayer', 'Interfaces',
  'PktDropLatestDropCause', 'PktDropLatestState', 'DnsName', 'DnsFlagsResponseCode', 'SrcMac', 'DstMac',
];
const NUMBER = [
  'SrcPort', 'DstPort', 'Proto', 'Bytes', 'Packets', 'Flags', 'Dscp', 'Etype', 'IcmpType', 'IcmpCode',
  'PktDropPackets', 'PktDropBytes', 'DnsLatencyMs', 'DnsId', 'TimeFlowRttNs', 'Sampling', 'IfDirections',
];
const ADDR = ['SrcAddr', 'DstAddr', 'SrcK8S_HostIP', 'DstK8S_HostIP', 'AgentIP'];
const TIME = ['TimeFlowStartMs', 'TimeFlowEndMs', 'TimeReceived'];

export const BUILTIN_FIELDS: FieldInfo[] = [
  ...TEXT.map((name) => ({ name, kind: 'text' as const })),
  ...NUMBER.map((name) => ({ name, kind: 'number' as const })),
  ...ADDR.map((name) => ({ name, kind: 'addr' as const })),
  ...TIME.map((name) => ({ name, kind: 'time' as const })),
  { name: 'NetworkEvents', kind: 'events' },
];

export class FieldCatalog {
  private fields: FieldInfo[] = BUILTIN_FIELDS;
  private byName = new Map(BUILTIN_FIELDS.map((f) => [f.name, f.kind]));
  private loading: Promise<void> | null = null;

  /** Fetches the server's list once; failures keep the built-in one. */
  load(): Promise<void> {
    this.loading ??= api.fields().then(
      (answer) => {
        if (!Array.isArray(answer.fields) || answer.fields.length === 0) return;
        this.fields = answer.fields;
        this.byName = new Map(answer.fields.map((f) => [f.name, f.kind]));
      },
      () => undefined,
    );
    return this.loading;
  }

  names(): string[] {
    return this.fields.map((f) => f.name);
  }

  /** The field's kind; unknown fields are guessed from the value the record holds. */
  kindOf(name: string, value?: unknown): FieldKind {
    const known = this.byName.get(name);
    if (known) return known;
    if (typeof value === 'number') return name.endsWith('Ms') && name.startsWith('Time') ? 'time' : 'number';
    return 'text';
  }

  /** Whether values of this field can be offered for completion and click-to-filter. */
  filterable(name: string): boolean {
    const kind = this.kindOf(name);
    return kind === 'text' || kind === 'number' || kind === 'addr';
  }
}
