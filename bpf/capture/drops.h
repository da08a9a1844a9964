/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet drops from tp_btf/kfree_skb: the dropped packet's flow gets the drop counted with the
 * kernel's reason (enum skb_drop_reason, named in userspace from the running kernel's BTF) and the
 * TCP state and flags at the time of the drop.
 */
#ifndef NETWARDEN_CAPTURE_DROPS_H
#define NETWARDEN_CAPTURE_DROPS_H

/* An skb header offset the kernel has not set yet. */
#define NW_SKB_OFF_UNSET 0xffff

static __always_inline __u32 nw_skb_netns(struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);

	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);

	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

/* Ports, TCP flags or ICMP type/code of a dropped packet, read from kernel memory at `l4`. */
static __always_inline void nw_drop_l4(struct nw_flow_key *key, __u16 *tcp_flags, unsigned char *l4)
{
	__u8 hdr[14] = {};

	switch (key->proto) {
	case IPPROTO_TCP:
		if (bpf_probe_read_kernel(hdr, 14, l4))
			return;
		*tcp_flags = nw_tcp_flags(hdr[13]);
		break;
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (bpf_probe_read_kernel(hdr, 4, l4))
			return;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (bpf_probe_read_kernel(hdr, 2, l4))
			return;
		key->icmp_type = hdr[0];
		key->icmp_code = hdr[1];
		return;
	default:
		return;
	}
	key->src_port = (hdr[0] << 8) | hdr[1];
	key->dst_port = (hdr[2] << 8) | hdr[3];
}

/* Builds the flow key of a dropped skb from its network header. Returns -1 when it is not IP. */
static __always_inline int nw_drop_key(struct sk_buff *skb, struct nw_flow_key *key, __u16 *tcp_flags)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__be16 proto = BPF_CORE_READ(skb, protocol);

	if (nh == NW_SKB_OFF_UNSET)
		return -1;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return -1;
		nw_set_v4_mapped(key->src_addr, ip.saddr);
		nw_set_v4_mapped(key->dst_addr, ip.daddr);
		key->proto = ip.protocol;
		if (ip.frag_off & bpf_htons(IP_OFFSET_MASK))
			return 0;
		nw_drop_l4(key, tcp_flags, head + nh + (ip.ihl & 0xf) * 4);
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return -1;
		__builtin_memcpy(key->src_addr, &ip6.saddr, 16);
		__builtin_memcpy(key->dst_addr, &ip6.daddr, 16);
		__u8 next = ip6.nexthdr;
		unsigned char *cur = head + nh + sizeof(ip6);

#pragma unroll
		for (int i = 0; i < NW_MAX_IPV6_EXT; i++) {
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_AH && next != IPPROTO_FRAGMENT)
				break;
			__u8 ext[4];

			if (bpf_probe_read_kernel(ext, sizeof(ext), cur))
				return -1;
			if (next == IPPROTO_FRAGMENT) {
				/* A non-first fragment has no transport header to read. */
				if (((ext[2] << 8) | ext[3]) & 0xfff8) {
					key->proto = ext[0];
					return 0;
				}
				next = ext[0];
				cur += 8;
				continue;
			}
			__u32 len = next == IPPROTO_AH ? (ext[1] + 2) * 4 : (ext[1] + 1) * 8;

			next = ext[0];
			cur += len;
		}
		key->proto = next;
		nw_drop_l4(key, tcp_flags, cur);
		return 0;
	}
	return -1;
}

/*
 * Bytes of the dropped frame, counted from its MAC header when it has one (as at the TC hooks), so
 * PktDropBytes compares with Bytes whatever layer dropped the packet.
 */
static __always_inline __u64 nw_drop_len(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__s64 start = (mac != NW_SKB_OFF_UNSET && mac <= nh) ? mac : nh;
	__s64 len = (__s64)BPF_CORE_READ(skb, len) + (data - head) - start;

	return len > 0 ? len : BPF_CORE_READ(skb, len);
}

static __always_inline int nw_handle_drop(struct sk_buff *skb, __u32 reason)
{
	/* SKB_CONSUMED and "not specified" are not drops worth a flow (as in NetObserv). */
	if (reason <= bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	if (nw_netns_ino && nw_skb_netns(skb) != nw_netns_ino)
		return 0;

	struct nw_flow_key key = {};
	__u16 tcp_flags = 0;

	if (nw_drop_key(skb, &key, &tcp_flags))
		return 0;
	struct nw_flow_extras *e = nw_extras_for(&key);

	if (!e)
		return 0;
	__sync_fetch_and_add(&e->drop_packets, 1);
	__sync_fetch_and_add(&e->drop_bytes, nw_drop_len(skb));
	__u32 mark = BPF_CORE_READ(skb, mark);

	e->drop_cause = mark == NW_MARK_POD_GUARD_BLOCKED ? NW_DROP_CAUSE_POD_GUARD_BLOCKED :
			mark == NW_MARK_POLICY_DENIED	  ? NW_DROP_CAUSE_POLICY_DENIED :
							    reason;
	e->drop_tcp_flags = tcp_flags;
	struct sock *sk = BPF_CORE_READ(skb, sk);

	e->drop_tcp_state = sk ? BPF_CORE_READ(sk, __sk_common.skc_state) : 0;
	return 0;
}

#endif
