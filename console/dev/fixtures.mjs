// Fixture data for the mock server and the browser tests: a small cluster with the iperf client
// and server, CoreDNS, a curl pod whose traffic a network policy drops, a node and the Internet.
// Times are offsets back from "now", so the data always falls in the default 15-minute range.

const SECOND = 1000;

/** Kubernetes identities, by the fields NetObserv gives each end of a flow. */
const ID = {
  client: { Namespace: 'iperf', Name: 'iperf3-client-7d9f8b6c5-x2x9k', Type: 'Pod', OwnerName: 'iperf3-client', OwnerType: 'Deployment', HostName: 'worker-1', HostIP: '192.168.56.11', Addr: '10.244.1.10' },
  server: { Namespace: 'iperf', Name: 'iperf3-server-5c6d7e8f9-q7w2e', Type: 'Pod', OwnerName: 'iperf3-server', OwnerType: 'Deployment', HostName: 'worker-2', HostIP: '192.168.56.12', Addr: '10.244.2.20' },
  serverSvc: { Namespace: 'iperf', Name: 'iperf3-server', Type: 'Service', OwnerName: 'iperf3-server', OwnerType: 'Service', Addr: '10.96.100.10' },
  coredns: { Namespace: 'kube-system', Name: 'coredns-76f75df574-z8k4p', Type: 'Pod', OwnerName: 'coredns', OwnerType: 'Deployment', HostName: 'worker-1', HostIP: '192.168.56.11', Addr: '10.244.1.3' },
  kubeDns: { Namespace: 'kube-system', Name: 'kube-dns', Type: 'Service', OwnerName: 'kube-dns', OwnerType: 'Service', Addr: '10.96.0.10' },
  apiserver: { Namespace: 'default', Name: 'kubernetes', Type: 'Service', OwnerName: 'kubernetes', OwnerType: 'Service', Addr: '10.96.0.1' },
  curl: { Namespace: 'default', Name: 'curl-test', Type: 'Pod', OwnerName: 'curl-test', OwnerType: 'Pod', HostName: 'worker-2', HostIP: '192.168.56.12', Addr: '10.244.2.30' },
  worker1: { Name: 'worker-1', Type: 'Node', OwnerName: 'worker-1', OwnerType: 'Node', HostName: 'worker-1', HostIP: '192.168.56.11', Addr: '192.168.56.11' },
  client6: { Namespace: 'iperf', Name: 'iperf3-client-7d9f8b6c5-x2x9k', Type: 'Pod', OwnerName: 'iperf3-client', OwnerType: 'Deployment', HostName: 'worker-1', HostIP: '192.168.56.11', Addr: 'fd00:10:244:1::a' },
  server6: { Namespace: 'iperf', Name: 'iperf3-server-5c6d7e8f9-q7w2e', Type: 'Pod', OwnerName: 'iperf3-server', OwnerType: 'Deployment', HostName: 'worker-2', HostIP: '192.168.56.12', Addr: 'fd00:10:244:2::14' },
  cloudflare: { Addr: '1.1.1.1' },
};

export const POLICY_DROP_MESSAGE = 'Dropped by network policies isolation in namespace iperf, direction Ingress';

const NAMESPACE_ISOLATION_DROP = {
  Action: 'drop',
  Type: 'NetpolNamespace',
  Feature: 'acl',
  Direction: 'Ingress',
  Namespace: 'iperf',
  Message: POLICY_DROP_MESSAGE,
};
const EGRESS_POLICY_DROP = {
  Action: 'drop',
  Type: 'NetworkPolicy',
  Feature: 'acl',
  Direction: 'Egress',
  Name: 'deny-external-egress',
  Namespace: 'iperf',
  Message: 'Dropped by network policy deny-external-egress in namespace iperf, direction Egress',
};
const ALLOW_IPERF = {
  Action: 'allow',
  Type: 'NetworkPolicy',
  Feature: 'acl',
  Direction: 'Ingress',
  Name: 'allow-iperf',
  Namespace: 'iperf',
  Message: 'Allowed by network policy allow-iperf in namespace iperf, direction Ingress',
};

function end(prefix, id) {
  const out = {};
  for (const [key, value] of Object.entries(id)) {
    if (key === 'Addr') out[`${prefix}Addr`] = value;
    else out[`${prefix}K8S_${key}`] = value;
  }
  return out;
}

/**
 * One fixture flow: `ago` seconds before now it ended, lasting `duration` seconds. Everything else
 * is copied as is (NetObserv field names).
 */
function flow(ago, src, dst, fields) {
  const { duration = 5, iface = 'eth0', direction = 0, ...rest } = fields;
  return {
    ago,
    record: {
      ...end('Src', src),
      ...end('Dst', dst),
      Etype: (src.Addr ?? '').includes(':') ? 34525 : 2048,
      Dscp: 0,
      Sampling: 1,
      Interfaces: [iface],
      IfDirections: [direction],
      AgentIP: '192.168.56.11',
      K8S_FlowLayer: 'app',
      duration,
      ...rest,
    },
  };
}

const TCP = 6;
const UDP = 17;
const ICMP = 1;

const FLOWS = [
  // iperf3 client -> server, the bulk of the traffic.
  flow(30, ID.client, ID.server, { SrcPort: 41234, DstPort: 5201, Proto: TCP, Bytes: 1_250_000_000, Packets: 830_000, Flags: 0x18, TimeFlowRttNs: 182_000, NetworkEvents: [ALLOW_IPERF] }),
  flow(90, ID.client, ID.server, { SrcPort: 41234, DstPort: 5201, Proto: TCP, Bytes: 980_000_000, Packets: 650_000, Flags: 0x18 }),
  flow(150, ID.client, ID.server, { SrcPort: 41236, DstPort: 5201, Proto: TCP, Bytes: 640_000_000, Packets: 420_000, Flags: 0x1a, TimeFlowRttNs: 240_000 }),
  flow(210, ID.client, ID.server, { SrcPort: 41238, DstPort: 5201, Proto: TCP, Bytes: 12_400, Packets: 18, Flags: 0x213 }),
  // ... and its acknowledgements.
  flow(30, ID.server, ID.client, { SrcPort: 5201, DstPort: 41234, Proto: TCP, Bytes: 21_600_000, Packets: 410_000, Flags: 0x10, iface: 'veth3a1f', direction: 1 }),
  flow(150, ID.server, ID.client, { SrcPort: 5201, DstPort: 41236, Proto: TCP, Bytes: 11_200_000, Packets: 212_000, Flags: 0x110, iface: 'veth3a1f', direction: 1 }),
  // The client first reaches the server through its Service.
  flow(215, ID.client, ID.serverSvc, { SrcPort: 41238, DstPort: 5201, Proto: TCP, Bytes: 74, Packets: 1, Flags: 0x02, K8S_FlowLayer: 'infra' }),
  // The IPv6 test.
  flow(270, ID.client6, ID.server6, { SrcPort: 50110, DstPort: 5201, Proto: TCP, Bytes: 310_000_000, Packets: 205_000, Flags: 0x18 }),
  // DNS through the kube-dns Service and CoreDNS.
  flow(220, ID.client, ID.kubeDns, { SrcPort: 53011, DstPort: 53, Proto: UDP, Bytes: 96, Packets: 1, DnsId: 4711, DnsName: 'iperf3-server.iperf.svc.cluster.local', K8S_FlowLayer: 'infra' }),
  flow(220, ID.client, ID.coredns, { SrcPort: 53011, DstPort: 53, Proto: UDP, Bytes: 96, Packets: 1, DnsId: 4711, DnsName: 'iperf3-server.iperf.svc.cluster.local', DnsLatencyMs: 1.4, DnsFlagsResponseCode: 'NoError' }),
  flow(220, ID.coredns, ID.client, { SrcPort: 53, DstPort: 53011, Proto: UDP, Bytes: 142, Packets: 1, DnsId: 4711, DnsName: 'iperf3-server.iperf.svc.cluster.local', DnsFlagsResponseCode: 'NoError', iface: 'veth9c2b', direction: 1 }),
  flow(300, ID.client, ID.coredns, { SrcPort: 53877, DstPort: 53, Proto: UDP, Bytes: 80, Packets: 1, DnsId: 919, DnsName: 'nope.example.', DnsLatencyMs: 22.5, DnsFlagsResponseCode: 'NXDomain' }),
  flow(300, ID.coredns, ID.cloudflare, { SrcPort: 40221, DstPort: 53, Proto: UDP, Bytes: 80, Packets: 1, DnsName: 'nope.example.', K8S_FlowLayer: 'infra' }),
  // Control plane.
  flow(60, ID.coredns, ID.apiserver, { SrcPort: 38400, DstPort: 443, Proto: TCP, Bytes: 48_200, Packets: 64, Flags: 0x18, K8S_FlowLayer: 'infra' }),
  flow(120, ID.worker1, ID.apiserver, { SrcPort: 51000, DstPort: 443, Proto: TCP, Bytes: 310_400, Packets: 402, Flags: 0x18, K8S_FlowLayer: 'infra' }),
  flow(180, ID.worker1, ID.server, { Proto: ICMP, IcmpType: 8, IcmpCode: 0, Bytes: 588, Packets: 6, K8S_FlowLayer: 'infra' }),
  // A network policy isolates namespace iperf: curl from default is dropped, twice.
  flow(45, ID.curl, ID.server, { SrcPort: 36001, DstPort: 5201, Proto: TCP, Bytes: 222, Packets: 3, Flags: 0x02, PktDropPackets: 3, PktDropBytes: 222, PktDropLatestDropCause: 'NETWARDEN_NETWORK_POLICY_DENIED', PktDropLatestState: 'TCP_SYN_SENT', NetworkEvents: [NAMESPACE_ISOLATION_DROP] }),
  flow(400, ID.curl, ID.server, { SrcPort: 36002, DstPort: 5201, Proto: TCP, Bytes: 148, Packets: 2, Flags: 0x02, PktDropPackets: 2, PktDropBytes: 148, PktDropLatestDropCause: 'NETWARDEN_NETWORK_POLICY_DENIED', NetworkEvents: [NAMESPACE_ISOLATION_DROP] }),
  // The client may not leave the cluster.
  flow(330, ID.client, ID.cloudflare, { SrcPort: 44100, DstPort: 443, Proto: TCP, Bytes: 148, Packets: 2, Flags: 0x02, PktDropPackets: 2, PktDropBytes: 148, PktDropLatestDropCause: 'NETWARDEN_NETWORK_POLICY_DENIED', NetworkEvents: [EGRESS_POLICY_DROP] }),
  // A closed port: the kernel drops the SYN.
  flow(360, ID.client, ID.server, { SrcPort: 45002, DstPort: 9999, Proto: TCP, Bytes: 60, Packets: 1, Flags: 0x02, PktDropPackets: 1, PktDropBytes: 60, PktDropLatestDropCause: 'SKB_DROP_REASON_NO_SOCKET', PktDropLatestState: 'TCP_LISTEN' }),
  // Older than 15 minutes: only wider time ranges show it.
  flow(40 * 60, ID.client, ID.server, { SrcPort: 40000, DstPort: 5201, Proto: TCP, Bytes: 2_000_000, Packets: 1400, Flags: 0x18 }),
];

/** The fixture flows with real times, newest first. */
export function fixtureFlows(now = Date.now()) {
  return FLOWS.map(({ ago, record }) => {
    const { duration, ...fields } = record;
    const endMs = now - ago * SECOND;
    return {
      TimeFlowStartMs: endMs - duration * SECOND,
      TimeFlowEndMs: endMs,
      TimeReceived: Math.floor(endMs / SECOND) + 1,
      ...fields,
    };
  }).sort((a, b) => b.TimeFlowEndMs - a.TimeFlowEndMs);
}

/** The firewall's rules; hit counters grow with time so refreshes show live counts. */
export function firewallRules(startedAt, now = Date.now()) {
  const seconds = Math.floor((now - startedAt) / SECOND);
  return [
    { object: 'deny-cloudflare-http', interface: 'eth0', cidr: '1.1.1.0/24', order: 1, action: 'Deny', protocol: 'TCP', selector: '80', packets: 12 + seconds, bytes: 960 + 80 * seconds },
    { object: 'deny-cloudflare-http', interface: 'eth0', cidr: '1.1.1.0/24', order: 2, action: 'Allow', protocol: null, selector: null, packets: 4031, bytes: 2_310_442 },
    { object: 'block-ssh-from-lab', interface: 'eth0', cidr: '192.168.100.0/24', order: 1, action: 'Deny', protocol: 'TCP', selector: '22', packets: 3, bytes: 180 },
    { object: 'block-ssh-from-lab', interface: 'eth0', cidr: 'fd00:100::/64', order: 1, action: 'Deny', protocol: 'ICMPv6', selector: 'type 128', packets: 0, bytes: 0 },
  ];
}

export function firewallEvents(now = Date.now()) {
  return [5, 12, 33, 70].map((ago, i) => ({
    time_ms: now - ago * SECOND,
    interface: 'eth0',
    action: 'Deny',
    src_addr: '1.1.1.1',
    dst_addr: '192.168.56.11',
    protocol: 'TCP',
    dst_port: 80,
    rule: 'deny-cloudflare-http|eth0|1.1.1.0/24|1',
    ...(i === 3 ? { src_addr: '192.168.100.7', dst_port: 22, rule: 'block-ssh-from-lab|eth0|192.168.100.0/24|1' } : {}),
  }));
}

export function podMonitorEvents(now = Date.now()) {
  return [
    { timeMs: now - 45 * SECOND, kind: 'blocked', verdict: 'BLOCKED', direction: 'ingress', namespace: 'iperf', pod: 'iperf3-server-5c6d7e8f9-q7w2e', protocol: 'TCP', srcAddr: '10.244.2.30', srcPort: 36001, dstAddr: '10.244.2.20', dstPort: 5201, policy: 'denied', networkEvents: [NAMESPACE_ISOLATION_DROP], reason: 'policy' },
    { timeMs: now - 150 * SECOND, kind: 'new-connection', verdict: 'ALLOWED', direction: 'ingress', namespace: 'iperf', pod: 'iperf3-server-5c6d7e8f9-q7w2e', protocol: 'TCP', srcAddr: '10.244.1.10', srcPort: 41236, dstAddr: '10.244.2.20', dstPort: 5201, policy: 'allowed', networkEvents: [ALLOW_IPERF], reason: 'policy' },
    { timeMs: now - 220 * SECOND, kind: 'new-connection', verdict: 'ALLOWED', direction: 'egress', namespace: 'iperf', pod: 'iperf3-client-7d9f8b6c5-x2x9k', protocol: 'UDP', srcAddr: '10.244.1.10', srcPort: 53011, dstAddr: '10.96.0.10', dstPort: 53, policy: 'allowed', reason: 'policy' },
    { timeMs: now - 330 * SECOND, kind: 'blocked', verdict: 'BLOCKED', direction: 'egress', namespace: 'iperf', pod: 'iperf3-client-7d9f8b6c5-x2x9k', protocol: 'TCP', srcAddr: '10.244.1.10', srcPort: 44100, dstAddr: '1.1.1.1', dstPort: 443, policy: 'denied', networkEvents: [EGRESS_POLICY_DROP], reason: 'policy' },
    { timeMs: now - 400 * SECOND, kind: 'new-connection', verdict: 'ALLOWED', direction: 'egress', namespace: 'default', pod: 'curl-test', protocol: 'TCP', srcAddr: '10.244.2.30', srcPort: 36002, dstAddr: '10.244.2.20', dstPort: 5201, policy: 'allowed', reason: 'no policy' },
  ];
}
