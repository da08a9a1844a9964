/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* In-kernel flow aggregation: one nw_flow_stats per flow key in the active flow map. */
#ifndef NETWARDEN_CAPTURE_FLOW_H
#define NETWARDEN_CAPTURE_FLOW_H

static __always_inline void nw_update_flow(struct nw_flow_stats *s, struct nw_pkt *p, __u64 len,
					   __u32 ifindex, __u8 dir, __u64 now)
{
	if (now > s->last_seen_ns)
		s->last_seen_ns = now;
	/* Most packets add no new flag: skip the atomic then. */
	if ((__u32)p->tcp_flags & ~s->tcp_flags)
		__sync_fetch_and_or(&s->tcp_flags, (__u32)p->tcp_flags);
	if (s->observed_ifindex[0] == ifindex && s->observed_direction[0] == dir) {
		/* The counting hop. */
		__sync_fetch_and_add(&s->packets, 1);
		__sync_fetch_and_add(&s->bytes, len);
		s->dscp = p->dscp;
		return;
	}
	/* Another hop of the same packet: remember the interface, never count twice. */
	__u32 n = *(volatile __u32 *)&s->n_observed;
	bool known = false;

#pragma unroll
	for (int i = 1; i < NW_MAX_OBSERVED; i++) {
		if (i < n && s->observed_ifindex[i] == ifindex && s->observed_direction[i] == dir)
			known = true;
	}
	if (known || n >= NW_MAX_OBSERVED)
		return;
	/* Two CPUs meeting a new hop at once may both claim a slot: userspace drops the duplicate. */
	if (__sync_val_compare_and_swap(&s->n_observed, n, n + 1) == n) {
		s->observed_ifindex[n] = ifindex;
		s->observed_direction[n] = dir;
	}
}

static __always_inline void nw_send_fallback(struct nw_pkt *p, __u64 len, __u32 ifindex, __u8 dir,
					     __u64 now, __u32 sampling)
{
	struct nw_flow_fallback *rec = bpf_ringbuf_reserve(&nw_flow_fallback, sizeof(*rec), 0);

	if (!rec) {
		nw_count(NW_CNT_FALLBACK_LOST);
		return;
	}
	__builtin_memcpy(&rec->key, &p->key, sizeof(rec->key));
	rec->bytes = len;
	rec->ts_ns = now;
	rec->ifindex = ifindex;
	rec->sampling = sampling;
	rec->eth_protocol = p->eth_protocol;
	rec->tcp_flags = p->tcp_flags;
	__builtin_memcpy(rec->src_mac, p->src_mac, 6);
	__builtin_memcpy(rec->dst_mac, p->dst_mac, 6);
	rec->dscp = p->dscp;
	rec->direction = dir;
	__builtin_memset(rec->_pad, 0, sizeof(rec->_pad));
	bpf_ringbuf_submit(rec, 0);
}

/*
 * Adds the packet to its flow. Returns the number of packets the flow had counted before this one in
 * the current eviction window (used to look for the handshake's ACK only at the start of a flow).
 */
static __always_inline __u64 nw_record_flow(struct nw_pkt *p, __u64 len, __u32 ifindex, __u8 dir,
					    __u64 now, __u32 sampling)
{
	__u32 zero = 0;
	void *flows = bpf_map_lookup_elem(&nw_flows_slot, &zero);

	if (!flows)
		return 0;
	struct nw_flow_stats *s = bpf_map_lookup_elem(flows, &p->key);

	if (s) {
		__u64 before = s->packets;

		nw_update_flow(s, p, len, ifindex, dir, now);
		return before;
	}

	struct nw_flow_stats fresh = {};

	fresh.eth_protocol = p->eth_protocol;
	fresh.tcp_flags = p->tcp_flags;
	fresh.packets = 1;
	fresh.bytes = len;
	fresh.first_seen_ns = now;
	fresh.last_seen_ns = now;
	__builtin_memcpy(fresh.src_mac, p->src_mac, 6);
	__builtin_memcpy(fresh.dst_mac, p->dst_mac, 6);
	fresh.sampling = sampling;
	fresh.dscp = p->dscp;
	fresh.n_observed = 1;
	fresh.observed_direction[0] = dir;
	fresh.observed_ifindex[0] = ifindex;

	long err = bpf_map_update_elem(flows, &p->key, &fresh, BPF_NOEXIST);

	if (err == 0)
		return 0;
	if (err == -EEXIST) {
		/* Another CPU created it between our lookup and update. */
		s = bpf_map_lookup_elem(flows, &p->key);
		if (s)
			nw_update_flow(s, p, len, ifindex, dir, now);
		return 0;
	}
	/* The map is full: hand the packet to userspace rather than lose it. */
	nw_count(NW_CNT_FLOW_MAP_FULL);
	nw_send_fallback(p, len, ifindex, dir, now, sampling);
	return 0;
}

#endif
