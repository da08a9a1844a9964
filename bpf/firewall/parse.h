/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Parsing for the firewall: what a rule can match (source, protocol, destination port or ICMP
 * type/code), read so that no packet gets around a rule. Anything the parser cannot walk to its end
 * is marked, never guessed: non-first fragments carry no ports, cut-short transport headers carry
 * no ports, and headers beyond our bounds make the packet "unparsed" (the region decides it with
 * its strictest applicable rule, see firewall::compiled).
 */
#ifndef NETWARDEN_FIREWALL_PARSE_H
#define NETWARDEN_FIREWALL_PARSE_H

/* VLAN tags (802.1Q / 802.1ad) walked; a frame with more is unparsed. */
#define NW_FW_MAX_VLAN 2
/* IPv6 extension headers walked; a chain with more is unparsed. */
#define NW_FW_MAX_IPV6_EXT 8

#define ETH_P_ARP 0x0806
#define IPPROTO_NONE 59
#define IPPROTO_MH 135

enum nw_fw_parse {
	NW_FW_PARSED = 0,	/* selector valid */
	NW_FW_NO_SELECTOR,	/* non-first fragment or transport header cut short */
	NW_FW_UNPARSED,		/* headers could not be walked to the transport header */
	NW_FW_ALWAYS_PASS,	/* ARP, IPv6 neighbour discovery, not IP */
};

struct nw_fw_pkt {
	__u8 family;		/* 4 or 6; 0 when the IP header could not be read */
	__u8 proto;
	__u8 flags;		/* NW_FW_EV_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;		/* TCP only, when the header reaches them (the pod guard's connection tracking) */
	__u16 src_port;
	__u16 dst_port;
	__u16 selector;
	__u8 src[16];
	__u8 dst[16];
};

/* Reads the transport header at `l4`: the selector, and ports / ICMP type for events. */
static __always_inline int nw_fw_parse_l4(struct nw_fw_pkt *p, void *l4, void *data_end)
{
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		/* All three start with source and destination port. */
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end) {
			p->flags |= NW_FW_EV_TRUNCATED;
			return NW_FW_NO_SELECTOR;
		}
		p->src_port = bpf_ntohs(ports[0]);
		p->dst_port = bpf_ntohs(ports[1]);
		p->selector = p->dst_port;
		/* The flags byte is the 14th of the TCP header. */
		if (p->proto == IPPROTO_TCP && l4 + 14 <= data_end)
			p->tcp_flags = ((__u8 *)l4)[13];
		return NW_FW_PARSED;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;

		if ((void *)(icmp + 2) > data_end) {
			p->flags |= NW_FW_EV_TRUNCATED;
			return NW_FW_NO_SELECTOR;
		}
		p->icmp_type = icmp[0];
		p->icmp_code = icmp[1];
		p->selector = ((__u16)icmp[0] << 8) | icmp[1];
		/* Neighbour discovery (router/neighbour solicitation and advertisement, redirect) keeps
		 * the node reachable: never ours to drop. Only over IPv6: an IPv4 packet of protocol 58
		 * is not neighbour discovery, and exempting it would let it past every rule. */
		if (p->family == 6 && p->proto == IPPROTO_ICMPV6 && icmp[0] >= 133 && icmp[0] <= 137)
			return NW_FW_ALWAYS_PASS;
		return NW_FW_PARSED;
	}
	default:
		return NW_FW_PARSED;
	}
}

static __always_inline int nw_fw_parse_v4(struct nw_fw_pkt *p, void *l3, void *data_end)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > data_end)
		return NW_FW_UNPARSED;
	__u32 hlen = ip->ihl * 4;

	/* A header length below 20 is a lie; one past the data cannot be skipped safely. */
	if (hlen < sizeof(*ip) || l3 + hlen > data_end)
		return NW_FW_UNPARSED;
	p->family = 4;
	p->proto = ip->protocol;
	__builtin_memcpy(p->src, &ip->saddr, 4);
	__builtin_memcpy(p->dst, &ip->daddr, 4);
	if (bpf_ntohs(ip->frag_off) & IP_OFFSET_MASK) {
		p->flags |= NW_FW_EV_FRAGMENT;
		return NW_FW_NO_SELECTOR;
	}
	return nw_fw_parse_l4(p, l3 + hlen, data_end);
}

/* Whether the IPv6 header type `next` is an extension header the walk steps over. */
static __always_inline bool nw_fw_ipv6_ext(__u8 next)
{
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return true;
	default:
		return false;
	}
}

/* The header `next` could not be walked (cut short, or past the bound): marked so the event says
 * so instead of claiming a cut-short transport header. */
static __always_inline int nw_fw_v6_unparsed(struct nw_fw_pkt *p, __u8 next)
{
	p->proto = next;
	p->flags |= NW_FW_EV_UNPARSED;
	return NW_FW_UNPARSED;
}

static __always_inline int nw_fw_parse_v6(struct nw_fw_pkt *p, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > data_end)
		return NW_FW_UNPARSED;
	p->family = 6;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);

	__u8 next = ip6->nexthdr;
	void *cur = (void *)(ip6 + 1);

	for (int i = 0; i < NW_FW_MAX_IPV6_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH: {
			__u8 *h = cur;

			if ((void *)(h + 2) > data_end)
				return nw_fw_v6_unparsed(p, next);
			next = h[0];
			cur += ((__u32)h[1] + 1) * 8;
			break;
		}
		case IPPROTO_AH: {
			__u8 *h = cur;

			if ((void *)(h + 2) > data_end)
				return nw_fw_v6_unparsed(p, next);
			next = h[0];
			cur += ((__u32)h[1] + 2) * 4;
			break;
		}
		case IPPROTO_FRAGMENT: {
			__u8 *h = cur;

			if ((void *)(h + 8) > data_end)
				return nw_fw_v6_unparsed(p, next);
			next = h[0];
			__u16 off = ((__u16)h[2] << 8 | h[3]) & 0xfff8;

			cur += 8;
			if (off) {
				p->proto = next;
				p->flags |= NW_FW_EV_FRAGMENT;
				return NW_FW_NO_SELECTOR;
			}
			break;
		}
		default:
			p->proto = next;
			return nw_fw_parse_l4(p, cur, data_end);
		}
	}
	/* The bound is on headers walked, not on iterations: after the eighth extension header the
	 * transport header may follow, and is read. Only a ninth puts it out of reach. */
	if (!nw_fw_ipv6_ext(next)) {
		p->proto = next;
		return nw_fw_parse_l4(p, cur, data_end);
	}
	return nw_fw_v6_unparsed(p, next);
}

/* Parses an Ethernet frame between data and data_end. */
static __always_inline int nw_fw_parse(struct nw_fw_pkt *p, void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return NW_FW_ALWAYS_PASS;
	__u16 proto = bpf_ntohs(eth->h_proto);
	void *cur = (void *)(eth + 1);

#pragma unroll
	for (int i = 0; i < NW_FW_MAX_VLAN; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		struct nw_vlan_hdr *vh = cur;

		if ((void *)(vh + 1) > data_end)
			return NW_FW_UNPARSED;
		proto = bpf_ntohs(vh->encapsulated_proto);
		cur = (void *)(vh + 1);
	}
	switch (proto) {
	case ETH_P_IP:
		return nw_fw_parse_v4(p, cur, data_end);
	case ETH_P_IPV6:
		return nw_fw_parse_v6(p, cur, data_end);
	case ETH_P_8021Q:
	case ETH_P_8021AD:
		/* A third tag: what it carries is out of reach. */
		p->flags |= NW_FW_EV_UNPARSED;
		return NW_FW_UNPARSED;
	default:
		/* ARP and every non-IP protocol: the rules speak of IP sources only. */
		return NW_FW_ALWAYS_PASS;
	}
}

#endif
