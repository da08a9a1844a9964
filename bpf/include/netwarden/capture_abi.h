/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel <-> userspace ABI of the capture programs: every struct that crosses a map or a ring
 * buffer is defined here once. Rust mirrors live in crates/netwarden-bpf/src/abi.rs and are checked
 * against this file's compiled BTF by layout tests, so change both together.
 *
 * The includer provides __u8/__u16/__u32/__u64 and struct bpf_spin_lock (vmlinux.h in BPF code).
 */
#ifndef NETWARDEN_CAPTURE_ABI_H
#define NETWARDEN_CAPTURE_ABI_H

/* How many distinct interface+direction pairs one flow remembers (NetObserv keeps the same bound). */
#define NW_MAX_OBSERVED 6
/* Raw query-name bytes kept per DNS flow; decoded (labels -> dotted name) in userspace. */
#define NW_DNS_NAME_MAX 64
/* Ports recognised as DNS, configured at load time. */
#define NW_MAX_DNS_PORTS 4

enum nw_direction {
	NW_DIR_INGRESS = 0,
	NW_DIR_EGRESS = 1,
};

/* Indexes of the per-CPU loss counters (map nw_counters). Loss is never silent. */
enum nw_counter {
	/* A new flow did not fit the flow map; its packet went through the fallback ring buffer. */
	NW_CNT_FLOW_MAP_FULL = 0,
	/* ...and the fallback ring buffer was full too: the packet is not in any record. */
	NW_CNT_FALLBACK_LOST = 1,
	/* Drop, DNS or RTT data did not fit the extras map. */
	NW_CNT_EXTRAS_MAP_FULL = 2,
	/* A packet whose headers could not be parsed (truncated): not recorded. */
	NW_CNT_PARSE_ERROR = 3,
	NW_CNT_MAX = 4,
};

/* NetObserv's TCP flag encoding: the header's flag byte plus three combinations of it. */
#define NW_TCP_FIN 0x01
#define NW_TCP_SYN 0x02
#define NW_TCP_RST 0x04
#define NW_TCP_PSH 0x08
#define NW_TCP_ACK 0x10
#define NW_TCP_URG 0x20
#define NW_TCP_ECE 0x40
#define NW_TCP_CWR 0x80
#define NW_TCP_SYN_ACK 0x100
#define NW_TCP_FIN_ACK 0x200
#define NW_TCP_RST_ACK 0x400

/*
 * A flow's identity. Addresses are IPv6 or IPv4-mapped IPv6 (::ffff:a.b.c.d). Ports are host order;
 * ICMP type/code are 0 for other protocols. Padding is explicit and always zero: keys are hashed
 * byte by byte.
 */
struct nw_flow_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 _pad;
};

/*
 * Per-flow counters, updated without a lock (a bpf_spin_lock cost a third of the program's time):
 * atomics for what is summed, compare-and-swap to claim an interface slot. Packets and bytes are counted only on the first
 * interface+direction that saw the flow (observed_*[0]), so a flow crossing several interfaces of the
 * node is one record counted once; the other hops are only listed.
 */
struct nw_flow_stats {
	/* Atomic adds on the counting hop. */
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	/* Plain store: concurrent CPUs may leave it a few nanoseconds short, never later than true. */
	__u64 last_seen_ns;
	/* OR of TCP flags (NetObserv encoding, 16 bits used); 32 bits wide for the atomic OR. */
	__u32 tcp_flags;
	/* Entries of observed_*; a slot is reserved by compare-and-swap before it is written. */
	__u32 n_observed;
	__u16 eth_protocol;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 dscp;
	__u8 _pad;
	__u32 sampling;
	__u8 observed_direction[NW_MAX_OBSERVED];
	__u32 observed_ifindex[NW_MAX_OBSERVED];
};

/*
 * What other hooks learn about a flow: drops (tp_btf/kfree_skb), DNS and handshake RTT. Written from
 * programs that cannot take a spin lock (tracing), so counters use atomic adds and the "latest" fields
 * are plain stores.
 */
struct nw_flow_extras {
	__u64 drop_packets;
	__u64 drop_bytes;
	__u64 dns_latency_ns;
	__u64 rtt_ns;
	__u32 drop_cause;
	__u16 drop_tcp_flags;
	__u8 drop_tcp_state;
	/* NW_DNS_SEEN_* bits */
	__u8 dns_seen;
	__u16 dns_id;
	__u16 dns_flags;
	__u32 _pad;
	__u8 dns_name[NW_DNS_NAME_MAX];
};

#define NW_DNS_SEEN_QUERY 0x1
#define NW_DNS_SEEN_RESPONSE 0x2

/* One packet of a flow that did not fit the flow map, sent by the fallback ring buffer. */
struct nw_flow_fallback {
	struct nw_flow_key key;
	__u64 bytes;
	__u64 ts_ns;
	__u32 ifindex;
	__u32 sampling;
	__u16 eth_protocol;
	__u16 tcp_flags;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 dscp;
	__u8 direction;
	__u8 _pad[6];
};

/* A DNS transaction in flight: the query's addresses/ports as sent, and its id. */
struct nw_dns_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u16 id;
	__u8 proto;
	__u8 _pad;
};

#endif
