/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the capture object, declared in one place.
 *
 * Flows and extras are double-buffered: each lives in two identical hash maps, and a one-slot
 * ARRAY_OF_MAPS says which one programs write. Userspace evicts by pointing the slot at the other map;
 * the kernel waits for an RCU grace period on every map-in-map update, so when the update returns no
 * program still holds a pointer into the old map and it can be drained without losing or
 * misattributing a single packet.
 */
#ifndef NETWARDEN_CAPTURE_MAPS_H
#define NETWARDEN_CAPTURE_MAPS_H

/* Sizes are defaults; userspace overrides max_entries from its config before loading. */
#define NW_FLOW_MAP_ENTRIES 100000
#define NW_EXTRAS_MAP_ENTRIES 20000

struct nw_flows_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct nw_flow_key);
	__type(value, struct nw_flow_stats);
	__uint(max_entries, NW_FLOW_MAP_ENTRIES);
};

struct nw_flows_map nw_flows_a SEC(".maps");
struct nw_flows_map nw_flows_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct nw_flows_map);
} nw_flows_slot SEC(".maps");

struct nw_extras_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct nw_flow_key);
	__type(value, struct nw_flow_extras);
	__uint(max_entries, NW_EXTRAS_MAP_ENTRIES);
};

struct nw_extras_map nw_extras_a SEC(".maps");
struct nw_extras_map nw_extras_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct nw_extras_map);
} nw_extras_slot SEC(".maps");

/* Packets of flows that did not fit the flow map (see NW_CNT_FLOW_MAP_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nw_flow_fallback SEC(".maps");

/* DNS queries waiting for their response; LRU so unanswered queries age out on their own. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nw_dns_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} nw_dns_pending SEC(".maps");

/* SYN and SYN-ACK timestamps of handshakes in progress, keyed by the packet's own flow key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nw_flow_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} nw_tcp_handshakes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NW_CNT_MAX);
} nw_counters SEC(".maps");

static __always_inline void nw_count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&nw_counters, &which);

	if (v)
		*v += 1;
}

#endif
