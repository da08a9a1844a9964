/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP ingress firewall's kernel<->user ABI. Mirrored in crates/netwarden-bpf/src/abi.rs
 * (layout tests compare against this object's BTF).
 *
 * Rules are compiled in userspace (crates/netwarden-policy, firewall::compiled) into:
 *   source prefix on an interface --LPM--> region --(region, protocol)--> sorted port segments,
 * so a packet costs one LPM lookup, at most one hash lookup and a binary search of at most 8 steps,
 * however many rules there are.
 *
 * Updates are atomic: every key carries a generation bit, the program reads the active generation
 * once per packet, and userspace writes the inactive generation in full before flipping it.
 */
#ifndef NETWARDEN_FIREWALL_ABI_H
#define NETWARDEN_FIREWALL_ABI_H

/* Segments per table: a binary search of at most 8 steps. */
#define NW_FW_MAX_SEGMENTS 256
#define NW_FW_SEARCH_STEPS 8

enum nw_fw_verdict {
	NW_FW_PASS = 0,		/* no rule matched */
	NW_FW_ALLOW = 1,
	NW_FW_DENY = 2,
	NW_FW_FAILSAFE = 3,	/* a Deny on a protected service: passes */
};

/* A decision: (rule slot << 8) | verdict. The slot names the rule's counters; NW_FW_PASS has none. */
#define NW_FW_VERDICT_MASK 0xff
#define NW_FW_SLOT_SHIFT 8

/* config.state bits: which generation is live, and audit mode (Deny counts and reports but passes). */
#define NW_FW_STATE_GEN 0x1
#define NW_FW_STATE_AUDIT 0x2
#define NW_FW_STATE_ENABLED 0x4

struct nw_fw_config {
	/* NW_FW_STATE_* bits, one word so the generation and audit flip together. */
	__u32 state;
	/* Drop events per rule per CPU per second; beyond, events are suppressed and counted. */
	__u32 events_per_sec;
};

/* scope = generation << 31 | is_ipv6 << 30 | ifindex, always inside the prefix (prefixlen = 32 + the
 * CIDR's length), so entries of other interfaces, families and generations never match. IPv4
 * addresses use addr[0..4]. */
#define NW_FW_SCOPE_GEN 0x80000000u
#define NW_FW_SCOPE_V6 0x40000000u

struct nw_fw_lpm_key {
	__u32 prefixlen;
	__u32 scope;
	__u8 addr[16];
};

struct nw_fw_region {
	__u32 region;
	/* Decision for protocols without a table, and for packets whose headers cannot be walked. */
	__u32 other;
	__u32 unparsed;
};

struct nw_fw_table_key {
	__u32 region;
	__u8 proto;
	__u8 gen;
	__u16 _pad;
};

struct nw_fw_table {
	__u16 count;
	__u16 _pad;
	/* Non-first fragments and transport headers cut short. */
	__u32 fragment;
	/* Selector: destination port (TCP/UDP/SCTP) or type << 8 | code (ICMP/ICMPv6). */
	__u16 starts[NW_FW_MAX_SEGMENTS];
	__u32 decisions[NW_FW_MAX_SEGMENTS];
};

struct nw_fw_rule_counters {
	__u64 allow_packets;
	__u64 allow_bytes;
	__u64 deny_packets;
	__u64 deny_bytes;
};

/* Per rule, per CPU: the event budget of the current second. */
struct nw_fw_event_budget {
	__u64 window_start_ns;
	__u32 sent;
	__u32 suppressed;
};

enum nw_fw_counter {
	NW_FW_CNT_NO_MATCH = 0,		/* packets no rule matched (passed) */
	NW_FW_CNT_FAILSAFE,		/* Deny overridden by a protected service */
	NW_FW_CNT_ALWAYS_PASS,		/* ARP and IPv6 neighbour discovery */
	NW_FW_CNT_UNPARSED,		/* headers could not be walked: decided by the region's unparsed rule */
	NW_FW_CNT_EVENTS_LOST,		/* the event ring was full */
	NW_FW_CNT_EVENTS_SUPPRESSED,	/* over the per-rule rate */
	NW_FW_CNT_MAX,
};

/* A denied packet (or one audit mode would have denied). */
struct nw_fw_event {
	__u64 ts_ns;
	__u32 rule_slot;
	__u32 ifindex;
	__u32 pkt_len;
	/* Events of this rule suppressed on this CPU since the previous one. */
	__u32 suppressed;
	__u8 verdict;
	__u8 audit;
	__u8 family;		/* 4 or 6 */
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags;		/* NW_FW_EV_* */
	__u8 _pad;
	__u16 src_port;
	__u16 dst_port;
	__u8 src_addr[16];
	__u8 dst_addr[16];
};

#define NW_FW_EV_FRAGMENT 0x1	/* non-first fragment: no ports */
#define NW_FW_EV_UNPARSED 0x2	/* headers could not be walked */
#define NW_FW_EV_TRUNCATED 0x4	/* transport header cut short */

#endif
