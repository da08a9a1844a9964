/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a guarded pod may send: the pod's rule set (the firewall's compiled tables, looked up by
 * destination), then the cluster ranges (block-external). Only modes whose blocking is in force
 * are asked.
 */
#ifndef NETWARDEN_PODGUARD_JUDGE_H
#define NETWARDEN_PODGUARD_JUDGE_H

struct nw_pg_verdict {
	__u8 blocked;
	__u8 reason;		/* enum nw_pg_reason */
	__u32 rule_slot;
};

/* The rule set's decision word for the packet's destination (NW_FW_PASS when no rule matches). */
static __always_inline __u32 nw_pg_rules(struct nw_fw_pkt *p, int parsed, __u32 ruleset, __u32 gen)
{
	struct nw_fw_lpm_key key = {};

	key.scope = ruleset & ~(NW_FW_SCOPE_GEN | NW_FW_SCOPE_V6);
	if (gen)
		key.scope |= NW_FW_SCOPE_GEN;
	if (p->family == 6) {
		key.scope |= NW_FW_SCOPE_V6;
		key.prefixlen = 32 + 128;
		__builtin_memcpy(key.addr, p->dst, 16);
	} else {
		key.prefixlen = 32 + 32;
		__builtin_memcpy(key.addr, p->dst, 4);
	}
	struct nw_fw_region *r = bpf_map_lookup_elem(&nw_pg_rule_prefixes, &key);

	if (!r)
		return NW_FW_PASS;
	if (parsed == NW_FW_UNPARSED)
		return r->unparsed;

	struct nw_fw_table_key tk = {
		.region = r->region,
		.proto = p->proto,
		.gen = gen,
	};
	struct nw_fw_table *t = bpf_map_lookup_elem(&nw_pg_rule_tables, &tk);

	if (!t)
		return r->other;
	if (parsed == NW_FW_NO_SELECTOR)
		return t->fragment;
	return nw_fw_search(t, p->selector);
}

/* Whether the destination is inside one of the cluster ranges. */
static __always_inline bool nw_pg_in_cluster(struct nw_fw_pkt *p)
{
	struct nw_pg_cidr_key key = {
		.family = p->family,
	};

	if (p->family == 6) {
		key.prefixlen = 32 + 128;
		__builtin_memcpy(key.addr, p->dst, 16);
	} else {
		key.prefixlen = 32 + 32;
		__builtin_memcpy(key.addr, p->dst, 4);
	}
	return bpf_map_lookup_elem(&nw_pg_cluster, &key) != NULL;
}

/* Judges a parsed packet (family set) under the blocking modes in `modes`. Rules come first: an
 * Allow rule passes even an external destination, a Deny rule drops; no matching rule leaves the
 * packet to block-external, if set. */
static __always_inline void nw_pg_judge(struct nw_pg_verdict *v, struct nw_fw_pkt *p, int parsed,
					__u8 modes, __u32 ruleset, __u32 gen)
{
	if (modes & NW_PG_MODE_RULES) {
		__u32 decision = nw_pg_rules(p, parsed, ruleset, gen);
		__u8 verdict = decision & NW_FW_VERDICT_MASK;

		if (verdict == NW_FW_DENY) {
			v->blocked = 1;
			v->reason = NW_PG_REASON_RULE;
			v->rule_slot = decision >> NW_FW_SLOT_SHIFT;
			return;
		}
		if (verdict == NW_FW_ALLOW) {
			v->reason = NW_PG_REASON_RULE_ALLOW;
			v->rule_slot = decision >> NW_FW_SLOT_SHIFT;
			return;
		}
	}
	if ((modes & NW_PG_MODE_BLOCK_EXTERNAL) && !nw_pg_in_cluster(p)) {
		v->blocked = 1;
		v->reason = NW_PG_REASON_EXTERNAL;
	}
}

#endif
