/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the pod guard object, declared in one place. Sizes are defaults; userspace may
 * override them when it loads the object. Nothing is pinned: the guard lives with the process that
 * loaded it, and its links detach when that process ends.
 */
#ifndef NETWARDEN_PODGUARD_MAPS_H
#define NETWARDEN_PODGUARD_MAPS_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nw_pg_config);
} nw_pg_config SEC(".maps");

/* Guarded interfaces: host-side ifindex -> pod. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct nw_pg_pod);
} nw_pg_pods SEC(".maps");

/* Cluster ranges (block-external): any match is in-cluster. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct nw_pg_cidr_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_cluster SEC(".maps");

/* Destination prefixes of the guard's own rule sets (rules mode), both generations (the firewall's
 * layout, by destination). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 16);
	__type(key, struct nw_fw_lpm_key);
	__type(value, struct nw_fw_region);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_rule_prefixes SEC(".maps");

/* Port tables of the regions of both the guard's rule sets and network policy (their region ids
 * follow the guard's), both generations. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 15);
	__type(key, struct nw_fw_table_key);
	__type(value, struct nw_fw_table);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_rule_tables SEC(".maps");

/* Network policy (enforce mode), both generations; see podguard_abi.h. Sizes fit a 10,000-pod
 * cluster with both generations written; userspace may set them at load. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 18);
	__type(key, struct nw_fw_lpm_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_np_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, struct nw_pg_set_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_np_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 19);
	__type(key, struct nw_pg_np_key);
	__type(value, struct nw_fw_region);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nw_pg_np_regions SEC(".maps");

/* Connections already reported, per pod; the least recently used make room. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct nw_pg_conn_key);
	__type(value, struct nw_pg_conn);
} nw_pg_conns SEC(".maps");

/* By pod slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct nw_pg_pod_counters);
} nw_pg_pod_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct nw_pg_event_budget);
} nw_pg_event_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NW_PG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nw_pg_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nw_pg_events SEC(".maps");

#endif
