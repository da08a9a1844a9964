// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netwarden flow capture: tcx ingress/egress programs that aggregate flows in the kernel, with DNS
 * latency and handshake RTT, and a tp_btf/kfree_skb program that attaches drops to the same flows.
 * The TC programs only observe: they always return TC_ACT_UNSPEC (TCX_NEXT), so every program after
 * ours still runs and the verdict is never ours.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "netwarden/capture_abi.h"
#include "netwarden/net_defs.h"
#include "netwarden/marks.h"
#include "capture/config.h"
#include "capture/maps.h"
#include "capture/parse.h"
#include "capture/flow.h"
#include "capture/extras.h"
#include "capture/dns.h"
#include "capture/rtt.h"
#include "capture/drops.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The ring buffer record appears in no map declaration; this puts its type in the object's BTF so the
 * Rust mirror's layout test can check it like the others. */
const volatile struct nw_flow_fallback nw_abi_anchor_fallback = {};
const volatile enum nw_counter nw_abi_anchor_counter = NW_CNT_MAX;

/* Headers we read at the most when the skb's linear part is shorter: Ethernet, 2 VLAN tags, IPv6 with
 * extension headers, TCP. */
#define NW_PULL_LEN 256

static __always_inline int nw_observe(struct __sk_buff *skb, __u8 dir, bool has_l2)
{
	__u32 sampling = nw_sampling;

	if (sampling > 1 && (bpf_get_prandom_u32() % sampling) != 0)
		return TC_ACT_UNSPEC;

	struct nw_pkt p = {};
	int ret = nw_parse_skb(skb, &p, has_l2);

	if (ret < 0 && skb->data_end - skb->data < skb->len) {
		/* Headers beyond the linear part: make them readable and try once more. */
		__u32 pull = skb->len < NW_PULL_LEN ? skb->len : NW_PULL_LEN;

		if (bpf_skb_pull_data(skb, pull) == 0) {
			__builtin_memset(&p, 0, sizeof(p));
			ret = nw_parse_skb(skb, &p, has_l2);
		}
	}
	if (ret < 0) {
		nw_count(NW_CNT_PARSE_ERROR);
		return TC_ACT_UNSPEC;
	}
	if (ret > 0)
		return TC_ACT_UNSPEC;

	__u64 now = bpf_ktime_get_ns();
	__u64 before = nw_record_flow(&p, skb->len, skb->ifindex, dir, now, sampling);

	if (nw_enable_dns)
		nw_track_dns(skb, &p, now);
	if (nw_enable_rtt)
		nw_track_rtt(&p, now, before);
	return TC_ACT_UNSPEC;
}

SEC("classifier")
int nw_tc_ingress(struct __sk_buff *skb)
{
	return nw_observe(skb, NW_DIR_INGRESS, true);
}

SEC("classifier")
int nw_tc_egress(struct __sk_buff *skb)
{
	return nw_observe(skb, NW_DIR_EGRESS, true);
}

/* For interfaces without an Ethernet header (tun, wireguard, ...). */
SEC("classifier")
int nw_tc_ingress_l3(struct __sk_buff *skb)
{
	return nw_observe(skb, NW_DIR_INGRESS, false);
}

SEC("classifier")
int nw_tc_egress_l3(struct __sk_buff *skb)
{
	return nw_observe(skb, NW_DIR_EGRESS, false);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(nw_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return nw_handle_drop(skb, reason);
}
