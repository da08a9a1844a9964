/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pod guard's kernel<->user ABI. Mirrored in crates/netwarden-bpf/src/podguard_abi.rs (layout
 * tests compare against this object's BTF).
 *
 * The programs run at tcx ingress and egress of the HOST side of a pod's veth, i.e. on traffic
 * leaving and entering the pod. Userspace (crates/netwarden-datapath, podguard) keeps one nw_pg_pod per guarded interface;
 * packets of other interfaces pass untouched.
 *
 * Destination rules reuse the firewall's compiled tables (include/netwarden/firewall_abi.h): a
 * rule set is compiled like an IngressNodeFirewall on a synthetic interface whose "ifindex" is the
 * rule-set id, and the program looks the DESTINATION address up where the firewall looks up the
 * source: nw_fw_lpm_key.scope = generation << 31 | is_ipv6 << 30 | rule-set id.
 */
#ifndef NETWARDEN_PODGUARD_ABI_H
#define NETWARDEN_PODGUARD_ABI_H

/* nw_pg_pod.modes */
#define NW_PG_MODE_MONITOR 0x1		/* report each new connection once */
#define NW_PG_MODE_BLOCK_EXTERNAL 0x2	/* drop destinations outside the cluster CIDRs */
#define NW_PG_MODE_RULES 0x4		/* judge destinations by the pod's rule set */
#define NW_PG_MODE_POLICY 0x8		/* enforce network policies: judge new connections both ways */

/* nw_pg_config.state */
#define NW_PG_STATE_GEN 0x1		/* the live generation of the rule tables */

struct nw_pg_config {
	__u32 state;
	/* Blocked-packet events per pod per CPU per second; beyond, events are suppressed and counted. */
	__u32 events_per_sec;
	/* A connection idle this long is reported again when it resumes. */
	__u64 conn_idle_ns;
};

/* Value of the per-interface map (key: the host-side ifindex). */
struct nw_pg_pod {
	/* Userspace's slot for the pod: names it in events, indexes counters and event budgets. */
	__u32 pod_id;
	/* The rule set judged in NW_PG_MODE_RULES (a scope of the rule tables). */
	__u32 ruleset;
	__u8 modes;		/* NW_PG_MODE_* */
	/* Whether blocking modes are in force now (time windows are evaluated in userspace); when 0
	 * the pod is only monitored. */
	__u8 blocking;
	__u16 _pad;
	/* NW_PG_MODE_POLICY: the pod's network-policy scopes (keys of nw_pg_np_sets, stable across
	 * generations) naming the rule sets that judge what the pod opens (by destination) and what
	 * is opened towards it (by source). */
	__u32 policy_egress;
	__u32 policy_ingress;
};

/*
 * Network policy (enforce mode) tables, two stages, every key carrying the generation:
 *   remote address --LPM nw_pg_np_classes--> address class (shared by every rule set);
 *   pod's scope --nw_pg_np_sets--> rule set (pods that look alike share one);
 *   (rule set, class) --nw_pg_np_regions--> nw_fw_region, else (rule set, NW_PG_CLASS_DEFAULT);
 *   region --nw_pg_rule_tables--> port segments, as the firewall's tables.
 * The class trie's key is nw_fw_lpm_key with scope = generation << 31 | is_ipv6 << 30.
 */
#define NW_PG_CLASS_DEFAULT 0xffffffffu

struct nw_pg_set_key {
	__u32 scope;		/* nw_pg_pod.policy_egress or policy_ingress */
	__u32 gen;
};

struct nw_pg_np_key {
	__u32 set;
	__u32 class;		/* or NW_PG_CLASS_DEFAULT: the rule set's region for other classes */
	__u32 gen;
};

/* Cluster ranges (pod, service and node CIDRs): prefixlen = 32 + the CIDR's length. */
struct nw_pg_cidr_key {
	__u32 prefixlen;
	__u32 family;		/* 4 or 6, always inside the prefix */
	__u8 addr[16];		/* IPv4 in addr[0..4] */
};

/* A connection already reported, per pod. ICMP "connections" use dst_port = type << 8 | code. */
struct nw_pg_conn_key {
	__u32 pod_id;
	__u8 family;
	__u8 proto;
	__u16 src_port;
	__u16 dst_port;
	__u16 _pad;
	__u8 src[16];
	__u8 dst[16];
};

#define NW_PG_CONN_CLOSED 0x1	/* FIN or RST seen: a new SYN on the same 5-tuple is a new connection */
#define NW_PG_CONN_INBOUND 0x2	/* opened towards the pod: the pod's packets on it are replies */

struct nw_pg_conn {
	__u64 last_seen_ns;
	__u32 flags;		/* NW_PG_CONN_* */
	__u32 _pad;
};

/* Per pod slot, per CPU. */
struct nw_pg_pod_counters {
	__u64 allowed_packets;
	__u64 allowed_bytes;
	__u64 blocked_packets;
	__u64 blocked_bytes;
	__u64 new_connections;
	/* Packets dropped by network policy, both directions (egress ones are also in blocked_*). */
	__u64 policy_dropped_packets;
	__u64 policy_dropped_bytes;
};

/* Per pod slot, per CPU: the blocked-event budget of the current second. */
struct nw_pg_event_budget {
	__u64 window_start_ns;
	__u32 sent;
	__u32 suppressed;
};

enum nw_pg_counter {
	NW_PG_CNT_ALWAYS_PASS = 0,	/* ARP, IPv6 neighbour discovery and MLD, non-IP on guarded interfaces */
	NW_PG_CNT_UNPARSED,		/* IP headers that could not be walked */
	NW_PG_CNT_EVENTS_LOST,		/* the event ring was full */
	NW_PG_CNT_EVENTS_SUPPRESSED,	/* blocked-packet events over the per-pod rate */
	NW_PG_CNT_MAX,
};

enum nw_pg_event_kind {
	NW_PG_EV_NEW_CONNECTION = 1,	/* an allowed packet opened a connection (monitor mode) */
	NW_PG_EV_BLOCKED = 2,		/* a dropped packet */
};

enum nw_pg_reason {
	NW_PG_REASON_NONE = 0,		/* allowed: no blocking mode objected */
	NW_PG_REASON_EXTERNAL = 1,	/* destination outside the cluster CIDRs */
	NW_PG_REASON_RULE = 2,		/* a Deny rule (rule_slot names it) */
	NW_PG_REASON_UNPARSED = 3,	/* headers could not be walked on a blocking pod */
	NW_PG_REASON_RULE_ALLOW = 4,	/* allowed by an Allow rule (rule_slot names it) */
	NW_PG_REASON_POLICY = 5,	/* dropped by network policy (policy_slot names the decision) */
};

/* nw_pg_event.policy_slot when no decision names the drop (unreadable headers, missing entry). */
#define NW_PG_NO_SLOT 0xffffffffu

/* Which way the packet goes, seen from the pod. */
enum nw_pg_direction {
	NW_PG_DIR_EGRESS = 0,		/* the pod sends it (host-side ingress) */
	NW_PG_DIR_INGRESS = 1,		/* the pod receives it (host-side egress) */
};

/* What network policy decided for the packet's connection (NW_PG_MODE_POLICY). */
enum nw_pg_policy {
	NW_PG_POLICY_NONE = 0,		/* not judged (no policy mode, or mid-connection) */
	NW_PG_POLICY_ALLOWED = 1,
	NW_PG_POLICY_DENIED = 2,
};

struct nw_pg_event {
	__u64 ts_ns;		/* bpf_ktime_get_coarse_ns */
	__u32 pod_id;
	__u32 ifindex;
	__u32 pkt_len;
	/* Blocked events of this pod suppressed on this CPU since the previous one. */
	__u32 suppressed;
	/* The rule's slot (decision >> NW_FW_SLOT_SHIFT) for NW_PG_REASON_RULE*. */
	__u32 rule_slot;
	__u8 kind;		/* enum nw_pg_event_kind */
	__u8 reason;		/* enum nw_pg_reason */
	__u8 family;		/* 4 or 6 */
	__u8 proto;
	__u8 flags;		/* NW_FW_EV_* */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 src_port;
	__u16 dst_port;
	__u8 src_addr[16];
	__u8 dst_addr[16];
	/* The decision's slot (decision >> NW_FW_SLOT_SHIFT) when policy is not NW_PG_POLICY_NONE. */
	__u32 policy_slot;
	__u8 direction;		/* enum nw_pg_direction */
	__u8 policy;		/* enum nw_pg_policy */
	__u16 _pad;
};

#endif
