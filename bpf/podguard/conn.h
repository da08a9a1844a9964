/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connections of guarded pods, always keyed from the pod's side (src = the pod). The pod's own
 * allowed packets open outbound connections (reported once in monitor mode); packets towards the
 * pod open inbound ones (TCP: a SYN; UDP, SCTP: any first packet; ICMP: an echo request), whose
 * replies from the pod are neither reported nor blocked: blocking is about what the pod opens.
 */
#ifndef NETWARDEN_PODGUARD_CONN_H
#define NETWARDEN_PODGUARD_CONN_H

#define NW_TCP_FIN 0x01
#define NW_TCP_SYN_FLAG 0x02
#define NW_TCP_RST 0x04
#define NW_TCP_ACK_FLAG 0x10

#define NW_PG_ICMP_ECHO_REPLY 0
#define NW_PG_ICMP_ECHO_REQUEST 8
#define NW_PG_ICMPV6_ECHO_REQUEST 128
#define NW_PG_ICMPV6_ECHO_REPLY 129

static __always_inline bool nw_pg_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static __always_inline bool nw_pg_is_syn(struct nw_fw_pkt *p)
{
	return p->proto == IPPROTO_TCP &&
	       (p->tcp_flags & (NW_TCP_SYN_FLAG | NW_TCP_ACK_FLAG)) == NW_TCP_SYN_FLAG;
}

static __always_inline bool nw_pg_is_close(struct nw_fw_pkt *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & (NW_TCP_FIN | NW_TCP_RST));
}

/* The key of a packet the pod sends. */
static __always_inline void nw_pg_key_out(struct nw_pg_conn_key *k, struct nw_fw_pkt *p, __u32 pod_id)
{
	k->pod_id = pod_id;
	k->family = p->family;
	k->proto = p->proto;
	if (nw_pg_has_ports(p->proto)) {
		k->src_port = p->src_port;
		k->dst_port = p->dst_port;
	} else {
		/* ICMP: type << 8 | code; other protocols: 0. */
		k->dst_port = p->selector;
	}
	__builtin_memcpy(k->src, p->src, 16);
	__builtin_memcpy(k->dst, p->dst, 16);
}

/* The key, from the pod's side, of a packet sent to the pod: what the pod's reply carries. Returns
 * false for packets whose replies are not tracked (ICMP other than echo requests). */
static __always_inline bool nw_pg_key_in(struct nw_pg_conn_key *k, struct nw_fw_pkt *p, __u32 pod_id)
{
	k->pod_id = pod_id;
	k->family = p->family;
	k->proto = p->proto;
	if (nw_pg_has_ports(p->proto)) {
		k->src_port = p->dst_port;
		k->dst_port = p->src_port;
	} else if (p->proto == IPPROTO_ICMP) {
		if (p->icmp_type != NW_PG_ICMP_ECHO_REQUEST)
			return false;
		k->dst_port = NW_PG_ICMP_ECHO_REPLY << 8;
	} else if (p->proto == IPPROTO_ICMPV6) {
		if (p->icmp_type != NW_PG_ICMPV6_ECHO_REQUEST)
			return false;
		k->dst_port = NW_PG_ICMPV6_ECHO_REPLY << 8;
	} else {
		return false;
	}
	__builtin_memcpy(k->src, p->dst, 16);
	__builtin_memcpy(k->dst, p->src, 16);
	return true;
}

/* Whether `c` still stands for a live connection at `now`. */
static __always_inline bool nw_pg_conn_live(struct nw_pg_conn *c, __u64 now, __u64 idle_ns)
{
	return now - c->last_seen_ns < idle_ns;
}

#endif
