/**
 * From a topology node or edge to the flow filter that selects its traffic. A node is identified by
 * its explicit `namespace`/`name`/`addr` fields when the server sends them, else by its id
 * (`ns/<ns>`, `owner/<ns>/<owner>`, `pod/<ns>/<pod>`, `node/<host>`, `addr/<ip>`).
 */
import type { TopologyNode } from '../../api/types';
import { and, equals, or } from '../../filter/text';

type End = 'Src' | 'Dst';

export interface Identity {
  kind: 'namespace' | 'owner' | 'pod' | 'node' | 'addr';
  namespace?: string;
  name?: string;
  addr?: string;
}

const ID_PREFIX: Record<string, Identity['kind']> = {
  ns: 'namespace',
  owner: 'owner',
  pod: 'pod',
  node: 'node',
  addr: 'addr',
};

/** What a node stands for, or null when neither its fields nor its id say. */
export function identityOf(node: TopologyNode): Identity | null {
  const slash = node.id.indexOf('/');
  const prefix = slash > 0 ? node.id.slice(0, slash) : '';
  const rest = slash > 0 ? node.id.slice(slash + 1) : '';
  const kind = ID_PREFIX[prefix] ?? (node.kind === 'external' ? 'addr' : (node.kind as Identity['kind']));
  switch (kind) {
    case 'namespace':
      return { kind, namespace: node.namespace ?? (rest || node.label) };
    case 'owner':
    case 'pod': {
      // Kubernetes names never hold '/', so `<ns>/<name>` splits unambiguously.
      const cut = rest.indexOf('/');
      const namespace = node.namespace ?? (cut > 0 ? rest.slice(0, cut) : undefined);
      const name = node.name ?? (cut > 0 ? rest.slice(cut + 1) : rest || node.label);
      return { kind, namespace, name };
    }
    case 'node':
      return { kind, name: node.name ?? (rest || node.label) };
    case 'addr': {
      const addr = node.addr ?? rest;
      return addr ? { kind, addr } : null;
    }
    default:
      return null;
  }
}

/** The clauses selecting flows whose `end` is this identity. */
export function endFilter(identity: Identity, end: End): string {
  const namespace = identity.namespace ? equals(`${end}K8S_Namespace`, identity.namespace) : '';
  switch (identity.kind) {
    case 'namespace':
      return namespace;
    case 'owner':
      return and(namespace, equals(`${end}K8S_OwnerName`, identity.name ?? ''));
    case 'pod':
      return and(namespace, equals(`${end}K8S_Name`, identity.name ?? ''));
    case 'node':
      return equals(`${end}K8S_HostName`, identity.name ?? '');
    case 'addr':
      return equals(`${end}Addr`, identity.addr ?? '', 'addr');
  }
}

/** Flows with this node at either end. */
export function nodeFilter(node: TopologyNode): string | null {
  const identity = identityOf(node);
  if (!identity) return null;
  // The query language's K8S_Namespace already means "either end".
  if (identity.kind === 'namespace' && identity.namespace) return equals('K8S_Namespace', identity.namespace);
  return or(endFilter(identity, 'Src'), endFilter(identity, 'Dst'));
}

/** Flows from `source` to `target`. */
export function edgeFilter(source: TopologyNode, target: TopologyNode): string | null {
  const from = identityOf(source);
  const to = identityOf(target);
  if (!from || !to) return null;
  return and(endFilter(from, 'Src'), endFilter(to, 'Dst'));
}
