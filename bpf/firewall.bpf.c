/*
 * netwarden ingress node firewall: an XDP program that judges each IP packet by the compiled
 * IngressNodeFirewall rules of its interface and source (see include/netwarden/firewall_abi.h for
 * the tables), counts per rule, and reports every denied packet (rate-limited per rule, with the
 * number suppressed).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "netwarden/firewall_abi.h"
#include "netwarden/event_budget.h"
#include "netwarden/net_defs.h"
#include "firewall/maps.h"
#include "firewall/parse.h"
#include "firewall/search.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Types that appear in no map declaration: anchored so their layout is in BTF for the Rust tests. */
const volatile struct nw_fw_event nw_fw_abi_anchor_event = {};
const volatile enum nw_fw_counter nw_fw_abi_anchor_counter = NW_FW_CNT_MAX;
const volatile enum nw_fw_verdict nw_fw_abi_anchor_verdict = NW_FW_PASS;

static __always_inline void nw_fw_count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&nw_fw_counters, &which);

	if (c)
		*c += 1;
}

static __always_inline void nw_fw_report(struct nw_fw_pkt *p, __u32 slot, __u8 verdict, bool audit,
					 __u32 ifindex, __u32 len, __u32 rate)
{
	struct nw_fw_event_budget *b = bpf_map_lookup_elem(&nw_fw_event_budget, &slot);
	/* The coarse clock (jiffies resolution) is enough for a one-second window and costs a fraction
	 * of the precise one, which showed as a third of the Deny path. */
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 suppressed = 0;

	if (b) {
		if (!nw_budget_take(&b->window_start_ns, &b->sent, &b->suppressed, now, rate)) {
			nw_fw_count(NW_FW_CNT_EVENTS_SUPPRESSED);
			return;
		}
		suppressed = b->suppressed;
	}
	struct nw_fw_event *e = bpf_ringbuf_reserve(&nw_fw_events, sizeof(*e), 0);

	if (!e) {
		nw_fw_count(NW_FW_CNT_EVENTS_LOST);
		return;
	}
	if (b)
		b->suppressed = 0;
	e->ts_ns = now;
	e->rule_slot = slot;
	e->ifindex = ifindex;
	e->pkt_len = len;
	e->suppressed = suppressed;
	e->verdict = verdict;
	e->audit = audit;
	e->family = p->family;
	e->proto = p->proto;
	e->icmp_type = p->icmp_type;
	e->icmp_code = p->icmp_code;
	e->flags = p->flags;
	e->_pad = 0;
	e->src_port = p->src_port;
	e->dst_port = p->dst_port;
	__builtin_memcpy(e->src_addr, p->src, 16);
	__builtin_memcpy(e->dst_addr, p->dst, 16);
	bpf_ringbuf_submit(e, 0);
}

SEC("xdp")
int nw_fw_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct nw_fw_config *cfg = bpf_map_lookup_elem(&nw_fw_config, &zero);

	if (!cfg)
		return XDP_PASS;
	__u32 state = cfg->state;

	if (!(state & NW_FW_STATE_ENABLED))
		return XDP_PASS;
	bool audit = state & NW_FW_STATE_AUDIT;
	__u32 gen = state & NW_FW_STATE_GEN;
	__u32 len = data_end - data;
	__u32 ifindex = ctx->ingress_ifindex;

	struct nw_fw_pkt p = {};
	int parsed = nw_fw_parse(&p, data, data_end);

	if (parsed == NW_FW_ALWAYS_PASS) {
		nw_fw_count(NW_FW_CNT_ALWAYS_PASS);
		return XDP_PASS;
	}
	if (p.family == 0) {
		/* No readable IP header on a firewalled interface (cut short, or behind a third VLAN tag):
		 * no source to judge by, and it could carry anything. */
		nw_fw_count(NW_FW_CNT_UNPARSED);
		return audit ? XDP_PASS : XDP_DROP;
	}

	struct nw_fw_lpm_key key = {};

	key.scope = ifindex & ~(NW_FW_SCOPE_GEN | NW_FW_SCOPE_V6);
	if (gen)
		key.scope |= NW_FW_SCOPE_GEN;
	if (p.family == 6) {
		key.scope |= NW_FW_SCOPE_V6;
		key.prefixlen = 32 + 128;
		__builtin_memcpy(key.addr, p.src, 16);
	} else {
		key.prefixlen = 32 + 32;
		__builtin_memcpy(key.addr, p.src, 4);
	}
	struct nw_fw_region *r = bpf_map_lookup_elem(&nw_fw_prefixes, &key);

	if (!r) {
		nw_fw_count(NW_FW_CNT_NO_MATCH);
		return XDP_PASS;
	}

	__u32 decision;

	if (parsed == NW_FW_UNPARSED) {
		nw_fw_count(NW_FW_CNT_UNPARSED);
		decision = r->unparsed;
	} else {
		struct nw_fw_table_key tk = {
			.region = r->region,
			.proto = p.proto,
			.gen = gen,
		};
		struct nw_fw_table *t = bpf_map_lookup_elem(&nw_fw_tables, &tk);

		if (!t)
			decision = r->other;
		else if (parsed == NW_FW_NO_SELECTOR)
			decision = t->fragment;
		else
			decision = nw_fw_search(t, p.selector);
	}

	__u8 verdict = decision & NW_FW_VERDICT_MASK;
	__u32 slot = decision >> NW_FW_SLOT_SHIFT;

	switch (verdict) {
	case NW_FW_ALLOW: {
		struct nw_fw_rule_counters *c = bpf_map_lookup_elem(&nw_fw_rule_counters, &slot);

		if (c) {
			c->allow_packets += 1;
			c->allow_bytes += len;
		}
		return XDP_PASS;
	}
	case NW_FW_DENY: {
		struct nw_fw_rule_counters *c = bpf_map_lookup_elem(&nw_fw_rule_counters, &slot);

		if (c) {
			c->deny_packets += 1;
			c->deny_bytes += len;
		}
		nw_fw_report(&p, slot, verdict, audit, ifindex, len, cfg->events_per_sec);
		return audit ? XDP_PASS : XDP_DROP;
	}
	case NW_FW_FAILSAFE:
		nw_fw_count(NW_FW_CNT_FAILSAFE);
		return XDP_PASS;
	default:
		nw_fw_count(NW_FW_CNT_NO_MATCH);
		return XDP_PASS;
	}
}
