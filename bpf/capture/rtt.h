/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TCP RTT from the handshake, measured where we sit: SYN -> SYN-ACK is the round trip towards the
 * server, SYN-ACK -> ACK the round trip towards the client. Each is attached to the flow of the packet
 * that completes it. No kprobe or fentry needed, so it works on this kernel.
 */
#ifndef NETWARDEN_CAPTURE_RTT_H
#define NETWARDEN_CAPTURE_RTT_H

/* The handshake's ACK is the 2nd packet of the client's flow; look no further than this. */
#define NW_RTT_ACK_WINDOW 4

static __always_inline void nw_complete_rtt(struct nw_pkt *p, __u64 now)
{
	struct nw_flow_key rev;

	nw_reverse_key(&rev, &p->key);
	__u64 *start = bpf_map_lookup_elem(&nw_tcp_handshakes, &rev);

	if (!start)
		return;
	__u64 rtt = now - *start;

	bpf_map_delete_elem(&nw_tcp_handshakes, &rev);
	struct nw_flow_extras *e = nw_extras_for(&p->key);

	if (e)
		e->rtt_ns = rtt;
}

static __always_inline void nw_track_rtt(struct nw_pkt *p, __u64 now, __u64 packets_before)
{
	if (p->key.proto != IPPROTO_TCP)
		return;
	__u16 f = p->tcp_flags;

	if ((f & NW_TCP_SYN) && !(f & NW_TCP_ACK)) {
		bpf_map_update_elem(&nw_tcp_handshakes, &p->key, &now, BPF_NOEXIST);
	} else if ((f & NW_TCP_SYN) && (f & NW_TCP_ACK)) {
		nw_complete_rtt(p, now);
		bpf_map_update_elem(&nw_tcp_handshakes, &p->key, &now, BPF_NOEXIST);
	} else if ((f & NW_TCP_ACK) && !(f & (NW_TCP_RST | NW_TCP_FIN)) &&
		   packets_before < NW_RTT_ACK_WINDOW) {
		nw_complete_rtt(p, now);
	}
}

#endif
