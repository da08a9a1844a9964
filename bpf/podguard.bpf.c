// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netwarden pod guard: tcx programs on the HOST side of guarded pods' veths.
 *
 * nw_pg_ingress sees what the pod sends (host-side ingress). It reports each new connection once
 * (monitor mode), drops destinations outside the cluster ranges (block-external) or denied by the
 * pod's rule set (rules), counts per pod, and reports every dropped packet (rate-limited per pod,
 * with the number suppressed). nw_pg_egress sees what the pod receives and remembers the
 * connections opened towards the pod, so that the pod's replies to them pass (see podguard/conn.h).
 *
 * Policy mode (network policies enforced): each connection is judged once, when it opens, by the
 * pod's egress rule set (what the pod opens) or ingress rule set (what is opened towards it);
 * packets of connections already open pass both ways, so a policy change never cuts an allowed
 * connection. Both decisions are reported (new-connection and blocked events carry the slot),
 * which is how flows learn the verdict that really happened.
 *
 * Interfaces without an entry in nw_pg_pods, and every packet not dropped, get TC_ACT_UNSPEC
 * (TCX_NEXT): the programs after ours (the CNI's) still decide.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "netwarden/firewall_abi.h"
#include "netwarden/podguard_abi.h"
#include "netwarden/net_defs.h"
#include "netwarden/marks.h"
#include "netwarden/event_budget.h"
#include "firewall/parse.h"
#include "firewall/search.h"
#include "podguard/maps.h"
#include "podguard/judge.h"
#include "podguard/conn.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Types that appear in no map declaration: anchored so their layout is in BTF for the Rust tests. */
const volatile struct nw_pg_event nw_pg_abi_anchor_event = {};
const volatile enum nw_pg_counter nw_pg_abi_anchor_counter = NW_PG_CNT_MAX;
const volatile enum nw_pg_event_kind nw_pg_abi_anchor_kind = NW_PG_EV_NEW_CONNECTION;
const volatile enum nw_pg_reason nw_pg_abi_anchor_reason = NW_PG_REASON_NONE;
const volatile enum nw_pg_direction nw_pg_abi_anchor_direction = NW_PG_DIR_EGRESS;
const volatile enum nw_pg_policy nw_pg_abi_anchor_policy = NW_PG_POLICY_NONE;

/* Multicast group management every host sends, like neighbour discovery: IGMP (IPv4) and MLD
 * queries, reports and done (IPv6). Link-local control, neither a connection nor ours to judge. */
static __always_inline bool nw_pg_link_control(struct nw_fw_pkt *p)
{
	if (p->family == 4)
		return p->proto == IPPROTO_IGMP;
	return p->family == 6 && p->proto == IPPROTO_ICMPV6 &&
	       ((p->icmp_type >= 130 && p->icmp_type <= 132) || p->icmp_type == 143);
}

/* Headers read at the most when the skb's linear part is shorter: Ethernet, 2 VLAN tags, IPv6 with
 * extension headers, TCP. */
#define NW_PG_PULL_LEN 256

static __always_inline void nw_pg_count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&nw_pg_counters, &which);

	if (c)
		*c += 1;
}

/* Parses the frame; when the headers run past the skb's linear part, pulls them in and tries once
 * more (packet pointers are only valid after the pull). */
static __always_inline int nw_pg_parse(struct __sk_buff *skb, struct nw_fw_pkt *p)
{
	int parsed = nw_fw_parse(p, (void *)(long)skb->data, (void *)(long)skb->data_end);
	bool short_read = parsed == NW_FW_UNPARSED ||
			  (parsed == NW_FW_NO_SELECTOR && (p->flags & NW_FW_EV_TRUNCATED));

	if (short_read && skb->data_end - skb->data < skb->len) {
		__u32 pull = skb->len < NW_PG_PULL_LEN ? skb->len : NW_PG_PULL_LEN;

		if (bpf_skb_pull_data(skb, pull) == 0) {
			__builtin_memset(p, 0, sizeof(*p));
			parsed = nw_fw_parse(p, (void *)(long)skb->data, (void *)(long)skb->data_end);
		}
	}
	return parsed;
}

static __always_inline void nw_pg_fill(struct nw_pg_event *e, struct nw_fw_pkt *p, __u32 pod_id,
				       __u32 ifindex, __u32 len, __u64 now)
{
	e->ts_ns = now;
	e->pod_id = pod_id;
	e->ifindex = ifindex;
	e->pkt_len = len;
	e->suppressed = 0;
	e->rule_slot = 0;
	e->family = p->family;
	e->proto = p->proto;
	e->flags = p->flags;
	e->tcp_flags = p->tcp_flags;
	e->icmp_type = p->icmp_type;
	e->icmp_code = p->icmp_code;
	e->src_port = p->src_port;
	e->dst_port = p->dst_port;
	__builtin_memcpy(e->src_addr, p->src, 16);
	__builtin_memcpy(e->dst_addr, p->dst, 16);
	e->policy_slot = NW_PG_NO_SLOT;
	e->direction = NW_PG_DIR_EGRESS;
	e->policy = NW_PG_POLICY_NONE;
	e->_pad = 0;
}

static __always_inline void nw_pg_fill_verdict(struct nw_pg_event *e, struct nw_pg_verdict *v,
					       __u8 direction)
{
	e->reason = v->reason;
	e->rule_slot = v->rule_slot;
	e->direction = direction;
	e->policy = v->policy;
	e->policy_slot = v->policy_slot;
}

/* Reports a dropped packet within the pod's budget of `rate` events per CPU per second. */
static __always_inline void nw_pg_report_blocked(struct nw_fw_pkt *p, struct nw_pg_verdict *v,
						 __u32 pod_id, __u32 ifindex, __u32 len,
						 __u64 now, __u32 rate, __u8 direction)
{
	struct nw_pg_event_budget *b = bpf_map_lookup_elem(&nw_pg_event_budget, &pod_id);
	__u32 suppressed = 0;

	if (b) {
		if (!nw_budget_take(&b->window_start_ns, &b->sent, &b->suppressed, now, rate)) {
			nw_pg_count(NW_PG_CNT_EVENTS_SUPPRESSED);
			return;
		}
		suppressed = b->suppressed;
	}
	struct nw_pg_event *e = bpf_ringbuf_reserve(&nw_pg_events, sizeof(*e), 0);

	if (!e) {
		nw_pg_count(NW_PG_CNT_EVENTS_LOST);
		return;
	}
	if (b)
		b->suppressed = 0;
	nw_pg_fill(e, p, pod_id, ifindex, len, now);
	e->kind = NW_PG_EV_BLOCKED;
	nw_pg_fill_verdict(e, v, direction);
	e->suppressed = suppressed;
	bpf_ringbuf_submit(e, 0);
}

/* Reports a new connection; false when the ring is full (the connection is then not remembered,
 * so its next packet tries again). */
static __always_inline bool nw_pg_report_new(struct nw_fw_pkt *p, struct nw_pg_verdict *v,
					     __u32 pod_id, __u32 ifindex, __u32 len, __u64 now,
					     __u8 direction)
{
	struct nw_pg_event *e = bpf_ringbuf_reserve(&nw_pg_events, sizeof(*e), 0);

	if (!e) {
		nw_pg_count(NW_PG_CNT_EVENTS_LOST);
		return false;
	}
	nw_pg_fill(e, p, pod_id, ifindex, len, now);
	e->kind = NW_PG_EV_NEW_CONNECTION;
	nw_pg_fill_verdict(e, v, direction);
	bpf_ringbuf_submit(e, 0);
	return true;
}

/* The guarded pod behind this interface and the guard's configuration; false when the interface is
 * not a guarded pod's (the packet is not ours to judge). */
static __always_inline bool nw_pg_guarded(struct __sk_buff *skb, struct nw_pg_pod **pod,
					  struct nw_pg_config **cfg)
{
	__u32 ifindex = skb->ifindex;
	__u32 zero = 0;

	*pod = bpf_map_lookup_elem(&nw_pg_pods, &ifindex);
	if (!*pod)
		return false;
	*cfg = bpf_map_lookup_elem(&nw_pg_config, &zero);
	return *cfg != NULL;
}

/* Counts and reports a dropped packet and marks it for the capture's drop hook. */
static __always_inline int nw_pg_drop(struct __sk_buff *skb, struct nw_fw_pkt *p,
				      struct nw_pg_verdict *v, __u32 pod_id, __u32 len, __u64 now,
				      __u32 rate, __u8 direction)
{
	struct nw_pg_pod_counters *c = bpf_map_lookup_elem(&nw_pg_pod_counters, &pod_id);

	if (c) {
		if (direction == NW_PG_DIR_EGRESS) {
			c->blocked_packets += 1;
			c->blocked_bytes += len;
		}
		if (v->policy == NW_PG_POLICY_DENIED) {
			c->policy_dropped_packets += 1;
			c->policy_dropped_bytes += len;
		}
	}
	nw_pg_report_blocked(p, v, pod_id, skb->ifindex, len, now, rate, direction);
	/* Freed right after: the capture's drop hook reads the mark to name the cause. */
	skb->mark = v->policy == NW_PG_POLICY_DENIED ? NW_MARK_POLICY_DENIED :
						       NW_MARK_POD_GUARD_BLOCKED;
	return TC_ACT_SHOT;
}

/* Whether the packet can open a connection: a TCP segment must be a SYN; anything else opens one
 * by being first. */
static __always_inline bool nw_pg_opens(struct nw_fw_pkt *p)
{
	return p->proto != IPPROTO_TCP || nw_pg_is_syn(p);
}

/* A TCP segment (no SYN) of a connection the guard never saw open: opened before it started, or
 * forgotten. It passes when policy allows the connection in either orientation: opened by the pod
 * (its egress rule set, at the remote's port) or towards it (its ingress rule set, at the pod's
 * port); anything else is denied like a new connection would be (no data slips past policy
 * without a handshake). Returns the flags to remember the connection with, or -1 when denied
 * (`v` then holds the first orientation's denial). `pod_sends`: the packet leaves the pod. */
static __always_inline int nw_pg_adopt(struct nw_pg_verdict *v, struct nw_fw_pkt *p,
				       __u32 egress_scope, __u32 ingress_scope, __u32 gen,
				       bool pod_sends)
{
	__u16 remote_port = pod_sends ? p->dst_port : p->src_port;
	__u16 pod_port = pod_sends ? p->src_port : p->dst_port;
	bool remote_is_src = !pod_sends;
	/* The sender's orientation first: it opened the connection. */
	__u32 scope = pod_sends ? egress_scope : ingress_scope;
	__u16 selector = pod_sends ? remote_port : pod_port;
	int flags = pod_sends ? 0 : NW_PG_CONN_INBOUND;
	struct nw_pg_verdict first;

	if (nw_pg_policy_judge(v, p, NW_FW_PARSED, scope, gen, remote_is_src, selector)) {
		first = *v;
		scope = pod_sends ? ingress_scope : egress_scope;
		selector = pod_sends ? pod_port : remote_port;
		flags = pod_sends ? NW_PG_CONN_INBOUND : 0;
		if (nw_pg_policy_judge(v, p, NW_FW_PARSED, scope, gen, remote_is_src, selector)) {
			*v = first;
			return -1;
		}
	}
	/* Allowed mid-connection: no decision to report. */
	v->policy = NW_PG_POLICY_NONE;
	v->policy_slot = NW_PG_NO_SLOT;
	return flags;
}

SEC("classifier")
int nw_pg_ingress(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct nw_pg_pod *pod;
	struct nw_pg_config *cfg;

	if (!nw_pg_guarded(skb, &pod, &cfg))
		return TC_ACT_UNSPEC;
	__u32 pod_id = pod->pod_id;
	__u32 ruleset = pod->ruleset;
	__u32 policy_scope = pod->policy_egress;
	__u32 ingress_scope = pod->policy_ingress;
	__u8 modes = pod->modes;
	__u8 enforce = pod->blocking ? modes & (NW_PG_MODE_BLOCK_EXTERNAL | NW_PG_MODE_RULES) : 0;
	bool policy = modes & NW_PG_MODE_POLICY;
	__u32 len = skb->len;

	struct nw_fw_pkt p = {};
	int parsed = nw_pg_parse(skb, &p);

	if (parsed == NW_FW_ALWAYS_PASS || (parsed == NW_FW_PARSED && nw_pg_link_control(&p))) {
		nw_pg_count(NW_PG_CNT_ALWAYS_PASS);
		return TC_ACT_UNSPEC;
	}
	if (parsed == NW_FW_UNPARSED)
		nw_pg_count(NW_PG_CNT_UNPARSED);

	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 gen = cfg->state & NW_PG_STATE_GEN;
	struct nw_pg_verdict v = {
		.policy_slot = NW_PG_NO_SLOT,
	};
	struct nw_pg_conn_key key = {};
	struct nw_pg_conn *conn = NULL;
	bool tracked = parsed == NW_FW_PARSED;

	if (tracked) {
		nw_pg_key_out(&key, &p, pod_id);
		conn = bpf_map_lookup_elem(&nw_pg_conns, &key);
		if (conn && !nw_pg_conn_live(conn, now, cfg->conn_idle_ns))
			conn = NULL;
		/* A SYN on a closed 5-tuple opens a new connection, whoever opened the old one. */
		if (conn && nw_pg_is_syn(&p) && (conn->flags & NW_PG_CONN_CLOSED))
			conn = NULL;
	}
	bool reply = conn && (conn->flags & NW_PG_CONN_INBOUND);

	/* Network policy judges what opens a connection (untracked packets: each one), and TCP
	 * segments of connections it never saw open. */
	int adopted = -2;

	if (policy && !conn) {
		if (!tracked || nw_pg_opens(&p))
			nw_pg_policy_judge(&v, &p, parsed, policy_scope, gen, false, p.selector);
		else
			adopted = nw_pg_adopt(&v, &p, policy_scope, ingress_scope, gen, true);
	}
	if (!v.blocked) {
		if (p.family == 0) {
			/* No readable IP header: nothing to judge by, and it could carry anything. */
			if (enforce) {
				v.blocked = 1;
				v.reason = NW_PG_REASON_UNPARSED;
			}
		} else if (enforce && !reply) {
			nw_pg_judge(&v, &p, parsed, enforce, ruleset, gen);
		}
	}
	if (v.blocked)
		return nw_pg_drop(skb, &p, &v, pod_id, len, now, cfg->events_per_sec,
				  NW_PG_DIR_EGRESS);

	struct nw_pg_pod_counters *c = bpf_map_lookup_elem(&nw_pg_pod_counters, &pod_id);

	if (c) {
		c->allowed_packets += 1;
		c->allowed_bytes += len;
	}
	if (!tracked)
		return TC_ACT_UNSPEC;
	if (conn) {
		conn->last_seen_ns = now;
		if (nw_pg_is_close(&p))
			conn->flags |= NW_PG_CONN_CLOSED;
		return TC_ACT_UNSPEC;
	}
	/* A new outbound connection: reported in monitor mode, and whenever policy decided it. */
	bool report = (modes & NW_PG_MODE_MONITOR) || v.policy != NW_PG_POLICY_NONE;

	if (report && !nw_pg_report_new(&p, &v, pod_id, ifindex, len, now, NW_PG_DIR_EGRESS))
		return TC_ACT_UNSPEC;
	if (c && (modes & NW_PG_MODE_MONITOR))
		c->new_connections += 1;
	struct nw_pg_conn fresh = {
		.last_seen_ns = now,
		.flags = (nw_pg_is_close(&p) ? NW_PG_CONN_CLOSED : 0) |
			 (adopted > 0 ? NW_PG_CONN_INBOUND : 0),
	};

	bpf_map_update_elem(&nw_pg_conns, &key, &fresh, BPF_ANY);
	return TC_ACT_UNSPEC;
}

SEC("classifier")
int nw_pg_egress(struct __sk_buff *skb)
{
	struct nw_pg_pod *pod;
	struct nw_pg_config *cfg;

	if (!nw_pg_guarded(skb, &pod, &cfg))
		return TC_ACT_UNSPEC;
	__u32 pod_id = pod->pod_id;
	__u32 policy_scope = pod->policy_ingress;
	__u32 egress_scope = pod->policy_egress;
	bool policy = pod->modes & NW_PG_MODE_POLICY;
	__u32 len = skb->len;
	struct nw_fw_pkt p = {};
	int parsed = nw_pg_parse(skb, &p);

	if (parsed == NW_FW_ALWAYS_PASS || (parsed == NW_FW_PARSED && nw_pg_link_control(&p)))
		return TC_ACT_UNSPEC;
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 gen = cfg->state & NW_PG_STATE_GEN;
	struct nw_pg_verdict v = {
		.policy_slot = NW_PG_NO_SLOT,
	};
	struct nw_pg_conn_key key = {};

	if (parsed != NW_FW_PARSED || !nw_pg_key_in(&key, &p, pod_id)) {
		/* Untracked: fragments and unwalkable headers, ICMP other than echo requests (replies
		 * and errors of the pod's own connections) and protocols without connections. Policy
		 * judges the last kind, and the first two by what the rule set says for them. */
		bool icmp = p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6;

		if (!policy || (parsed == NW_FW_PARSED && icmp))
			return TC_ACT_UNSPEC;
		if (nw_pg_policy_judge(&v, &p, parsed, policy_scope, gen, true, p.selector))
			return nw_pg_drop(skb, &p, &v, pod_id, len, now, cfg->events_per_sec,
					  NW_PG_DIR_INGRESS);
		return TC_ACT_UNSPEC;
	}
	struct nw_pg_conn *conn = bpf_map_lookup_elem(&nw_pg_conns, &key);

	if (conn && nw_pg_conn_live(conn, now, cfg->conn_idle_ns) &&
	    !(nw_pg_is_syn(&p) && (conn->flags & NW_PG_CONN_CLOSED))) {
		conn->last_seen_ns = now;
		if (nw_pg_is_close(&p))
			conn->flags |= NW_PG_CONN_CLOSED;
		return TC_ACT_UNSPEC;
	}
	__u32 flags = NW_PG_CONN_INBOUND;

	if (!nw_pg_opens(&p)) {
		/* TCP connections open with a SYN; without policy a stray segment opens nothing. */
		if (!policy)
			return TC_ACT_UNSPEC;
		int adopted = nw_pg_adopt(&v, &p, egress_scope, policy_scope, gen, false);

		if (adopted < 0)
			return nw_pg_drop(skb, &p, &v, pod_id, len, now, cfg->events_per_sec,
					  NW_PG_DIR_INGRESS);
		flags = adopted;
	} else if (policy) {
		if (nw_pg_policy_judge(&v, &p, parsed, policy_scope, gen, true, p.selector))
			return nw_pg_drop(skb, &p, &v, pod_id, len, now, cfg->events_per_sec,
					  NW_PG_DIR_INGRESS);
		if (!nw_pg_report_new(&p, &v, pod_id, skb->ifindex, len, now, NW_PG_DIR_INGRESS))
			return TC_ACT_UNSPEC;
	}
	struct nw_pg_conn fresh = {
		.last_seen_ns = now,
		.flags = flags,
	};

	bpf_map_update_elem(&nw_pg_conns, &key, &fresh, BPF_ANY);
	return TC_ACT_UNSPEC;
}
