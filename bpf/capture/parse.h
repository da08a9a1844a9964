/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Parsing a packet at a TC hook into a flow key plus the per-packet facts the flow keeps. */
#ifndef NETWARDEN_CAPTURE_PARSE_H
#define NETWARDEN_CAPTURE_PARSE_H

/* IPv6 extension headers walked before giving up on finding the transport header. */
#define NW_MAX_IPV6_EXT 6

struct nw_pkt {
	struct nw_flow_key key;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 eth_protocol;
	__u16 tcp_flags;
	__u8 dscp;
	/* Transport header's offset from skb->data; 0 when there is none to read (non-first fragment). */
	__u16 l4_off;
	/* TCP header length in bytes, to find the payload (DNS over TCP). */
	__u8 tcp_hdr_len;
};

static __always_inline void nw_set_v4_mapped(__u8 *dst, __be32 addr)
{
	/* ::ffff:a.b.c.d, so IPv4 and IPv6 flows share one key type. */
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline __u16 nw_tcp_flags(__u8 raw)
{
	__u16 f = raw;

	/* NetObserv reports these combinations as their own bits. */
	if ((raw & (NW_TCP_SYN | NW_TCP_ACK)) == (NW_TCP_SYN | NW_TCP_ACK))
		f |= NW_TCP_SYN_ACK;
	if ((raw & (NW_TCP_FIN | NW_TCP_ACK)) == (NW_TCP_FIN | NW_TCP_ACK))
		f |= NW_TCP_FIN_ACK;
	if ((raw & (NW_TCP_RST | NW_TCP_ACK)) == (NW_TCP_RST | NW_TCP_ACK))
		f |= NW_TCP_RST_ACK;
	return f;
}

/*
 * Reads ports, TCP flags or ICMP type/code at `l4`. Returns -1 when the transport header is cut
 * short: a packet whose headers lie is not recorded (and is counted as a parse error).
 */
static __always_inline int nw_parse_l4(struct nw_pkt *p, void *data, void *l4, void *data_end)
{
	p->l4_off = (__u16)(l4 - data);
	switch (p->key.proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return -1;
		p->key.src_port = bpf_ntohs(th->source);
		p->key.dst_port = bpf_ntohs(th->dest);
		/* The flag byte follows the 4-bit data offset; read it as a byte, not as bitfields. */
		p->tcp_flags = nw_tcp_flags(((__u8 *)th)[13]);
		p->tcp_hdr_len = th->doff * 4;
		return 0;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		/* Both start with source and destination port. */
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			return -1;
		p->key.src_port = bpf_ntohs(ports[0]);
		p->key.dst_port = bpf_ntohs(ports[1]);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;

		if ((void *)(icmp + 2) > data_end)
			return -1;
		p->key.icmp_type = icmp[0];
		p->key.icmp_code = icmp[1];
		return 0;
	}
	default:
		/* Other protocols are keyed by number alone. */
		p->l4_off = 0;
		return 0;
	}
}

static __always_inline int nw_parse_ipv4(struct nw_pkt *p, void *data, void *l3, void *data_end)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > data_end)
		return -1;
	__u32 ihl = (ip->ihl & 0xf) * 4;

	if (ihl < sizeof(*ip))
		return -1;
	nw_set_v4_mapped(p->key.src_addr, ip->saddr);
	nw_set_v4_mapped(p->key.dst_addr, ip->daddr);
	p->key.proto = ip->protocol;
	p->dscp = ip->tos >> 2;
	/* A non-first fragment carries no transport header: its first bytes are payload, not ports. */
	if (ip->frag_off & bpf_htons(IP_OFFSET_MASK))
		return 0;
	return nw_parse_l4(p, data, l3 + ihl, data_end);
}

static __always_inline int nw_parse_ipv6(struct nw_pkt *p, void *data, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__builtin_memcpy(p->key.src_addr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.dst_addr, &ip6->daddr, 16);
	p->dscp = ((ip6->priority << 4) | (ip6->flow_lbl[0] >> 4)) >> 2;

	__u8 next = ip6->nexthdr;
	void *cur = ip6 + 1;

#pragma unroll
	for (int i = 0; i < NW_MAX_IPV6_EXT; i++) {
		if (next == IPPROTO_FRAGMENT) {
			/* 8 bytes: next header, reserved, offset+flags, identification. */
			__u8 *frag = cur;

			if ((void *)(frag + 8) > data_end)
				return -1;
			next = frag[0];
			cur = frag + 8;
			/* Non-first fragment: no transport header follows. */
			if (((frag[2] << 8) | frag[3]) & 0xfff8) {
				p->key.proto = next;
				return 0;
			}
			continue;
		}
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_AH)
			break;
		__u8 *ext = cur;

		if ((void *)(ext + 2) > data_end)
			return -1;
		/* AH counts its length in 4-byte units minus 2, the others in 8-byte units minus 1. */
		__u32 len = next == IPPROTO_AH ? (ext[1] + 2) * 4 : (ext[1] + 1) * 8;

		next = ext[0];
		cur = ext + len;
	}
	p->key.proto = next;
	return nw_parse_l4(p, data, cur, data_end);
}

/*
 * Fills `p` from the packet. `has_l2` is false on interfaces without an Ethernet header (tun,
 * wireguard), where the IP header is first and skb->protocol says which. Returns 0 when the packet is
 * an IP packet to record, 1 when it is not IP (not a flow), -1 when its headers are cut short.
 */
static __always_inline int nw_parse_skb(struct __sk_buff *skb, struct nw_pkt *p, bool has_l2)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *cur = data;
	__be16 proto;

	if (has_l2) {
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) > data_end)
			return -1;
		__builtin_memcpy(p->dst_mac, eth->h_dest, 6);
		__builtin_memcpy(p->src_mac, eth->h_source, 6);
		proto = eth->h_proto;
		cur = eth + 1;
#pragma unroll
		for (int i = 0; i < 2; i++) {
			if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
				break;
			struct nw_vlan_hdr *vlan = cur;

			if ((void *)(vlan + 1) > data_end)
				return -1;
			proto = vlan->encapsulated_proto;
			cur = vlan + 1;
		}
	} else {
		proto = skb->protocol;
	}

	p->eth_protocol = bpf_ntohs(proto);
	if (proto == bpf_htons(ETH_P_IP))
		return nw_parse_ipv4(p, data, cur, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return nw_parse_ipv6(p, data, cur, data_end);
	return 1;
}

#endif
