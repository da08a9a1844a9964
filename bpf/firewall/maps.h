/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the firewall object, declared in one place. All are pinned by name (userspace sets
 * the pin directory, /sys/fs/bpf/netwarden/fw by default), so rules and counters outlive the agent
 * and a restarted agent picks them up. Sizes are defaults; userspace may override them when it
 * creates the maps.
 */
#ifndef NETWARDEN_FIREWALL_MAPS_H
#define NETWARDEN_FIREWALL_MAPS_H

#define NW_FW_PIN_BY_NAME 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nw_fw_config);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_config SEC(".maps");

/* Source prefixes of both generations; entries are allocated on use. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__type(key, struct nw_fw_lpm_key);
	__type(value, struct nw_fw_region);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_prefixes SEC(".maps");

/* Port tables of both generations; allocated on use (a table is 1.5 KiB). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct nw_fw_table_key);
	__type(value, struct nw_fw_table);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_tables SEC(".maps");

/* Counters by rule slot (slots are stable across updates: userspace keeps them per rule identity). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 << 16);
	__type(key, __u32);
	__type(value, struct nw_fw_rule_counters);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 << 16);
	__type(key, __u32);
	__type(value, struct nw_fw_event_budget);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_event_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NW_FW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, NW_FW_PIN_BY_NAME);
} nw_fw_events SEC(".maps");

#endif
