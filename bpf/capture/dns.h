/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS tracking in TC: a query stores its timestamp under (addresses, ports, id); the response finds
 * it with the tuple reversed, and its flow gets the latency and response code. Both flows get the
 * transaction id and the raw query name.
 */
#ifndef NETWARDEN_CAPTURE_DNS_H
#define NETWARDEN_CAPTURE_DNS_H

#define NW_DNS_HDR_LEN 12
#define NW_DNS_QR 0x8000

static __always_inline bool nw_is_dns_port(__u16 port)
{
	bool hit = false;

#pragma unroll
	for (int i = 0; i < NW_MAX_DNS_PORTS; i++) {
		if (nw_dns_ports[i] != 0 && nw_dns_ports[i] == port)
			hit = true;
	}
	return hit;
}

static __always_inline void nw_track_dns(struct __sk_buff *skb, struct nw_pkt *p, __u64 now)
{
	if (p->l4_off == 0)
		return;
	if (!nw_is_dns_port(p->key.src_port) && !nw_is_dns_port(p->key.dst_port))
		return;

	__u32 off = p->l4_off;

	if (p->key.proto == IPPROTO_UDP) {
		off += 8;
	} else if (p->key.proto == IPPROTO_TCP) {
		/* DNS over TCP: the message follows a 2-byte length; only segments starting a message count. */
		off += p->tcp_hdr_len + 2;
	} else {
		return;
	}
	if (off + NW_DNS_HDR_LEN > skb->len)
		return;

	__be16 hdr[2];

	if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
		return;
	__u16 id = bpf_ntohs(hdr[0]);
	__u16 flags = bpf_ntohs(hdr[1]);

	struct nw_dns_key dk = {};

	dk.id = id;
	dk.proto = p->key.proto;
	if (flags & NW_DNS_QR) {
		/* A response: the pending query was sent the other way. */
		__builtin_memcpy(dk.src_addr, p->key.dst_addr, 16);
		__builtin_memcpy(dk.dst_addr, p->key.src_addr, 16);
		dk.src_port = p->key.dst_port;
		dk.dst_port = p->key.src_port;
	} else {
		__builtin_memcpy(dk.src_addr, p->key.src_addr, 16);
		__builtin_memcpy(dk.dst_addr, p->key.dst_addr, 16);
		dk.src_port = p->key.src_port;
		dk.dst_port = p->key.dst_port;
	}

	__u64 latency = 0;

	if (flags & NW_DNS_QR) {
		__u64 *sent = bpf_map_lookup_elem(&nw_dns_pending, &dk);

		if (!sent)
			return; /* Already matched on an earlier hop, or the query was never seen. */
		latency = now - *sent;
		bpf_map_delete_elem(&nw_dns_pending, &dk);
	} else {
		/* BPF_NOEXIST keeps the first hop's timestamp when the query crosses several interfaces. */
		if (bpf_map_update_elem(&nw_dns_pending, &dk, &now, BPF_NOEXIST))
			return;
	}

	struct nw_flow_extras *e = nw_extras_for(&p->key);

	if (!e)
		return;
	e->dns_id = id;
	e->dns_flags = flags;
	if (flags & NW_DNS_QR) {
		e->dns_latency_ns = latency;
		e->dns_seen |= NW_DNS_SEEN_RESPONSE;
	} else {
		e->dns_seen |= NW_DNS_SEEN_QUERY;
	}

	__u32 name_off = off + NW_DNS_HDR_LEN;
	if (skb->len <= name_off)
		return;
	__u64 avail = skb->len - name_off;

	if (avail > NW_DNS_NAME_MAX)
		avail = NW_DNS_NAME_MAX;
	/* The verifier needs 1..NW_DNS_NAME_MAX on the very register passed as the length: derive it by
	 * arithmetic the compiler cannot fold away (avail is already in that range, so this is identity). */
	barrier_var(avail);
	avail = ((avail - 1) & (NW_DNS_NAME_MAX - 1)) + 1;
	bpf_skb_load_bytes(skb, name_off, e->dns_name, avail);
}

#endif
