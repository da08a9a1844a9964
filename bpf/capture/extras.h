/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The extras entry of a flow (drops, DNS, RTT) in the active extras map, created on first use. */
#ifndef NETWARDEN_CAPTURE_EXTRAS_H
#define NETWARDEN_CAPTURE_EXTRAS_H

static __always_inline struct nw_flow_extras *nw_extras_for(struct nw_flow_key *key)
{
	__u32 zero = 0;
	void *extras = bpf_map_lookup_elem(&nw_extras_slot, &zero);

	if (!extras)
		return NULL;
	struct nw_flow_extras *e = bpf_map_lookup_elem(extras, key);

	if (e)
		return e;
	struct nw_flow_extras fresh = {};
	long err = bpf_map_update_elem(extras, key, &fresh, BPF_NOEXIST);

	if (err && err != -EEXIST) {
		nw_count(NW_CNT_EXTRAS_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(extras, key);
}

static __always_inline void nw_reverse_key(struct nw_flow_key *rev, const struct nw_flow_key *k)
{
	__builtin_memcpy(rev->src_addr, k->dst_addr, 16);
	__builtin_memcpy(rev->dst_addr, k->src_addr, 16);
	rev->src_port = k->dst_port;
	rev->dst_port = k->src_port;
	rev->proto = k->proto;
	rev->icmp_type = 0;
	rev->icmp_code = 0;
	rev->_pad = 0;
}

#endif
