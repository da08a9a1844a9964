/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a guarded pod may send: the pod's rule set (the firewall's compiled tables, looked up by
 * destination), then the cluster ranges (block-external). Only modes whose blocking is in force
 * are asked. Network policy (enforce mode) looks the remote address's class up first, then the
 * region of the pod's egress rule set (by destination) or ingress rule set (by source) for that
 * class; regions and port tables are the firewall's.
 */
#ifndef NETWARDEN_PODGUARD_JUDGE_H
#define NETWARDEN_PODGUARD_JUDGE_H

struct nw_pg_verdict {
	__u8 blocked;
	__u8 reason;		/* enum nw_pg_reason */
	__u8 policy;		/* enum nw_pg_policy */
	__u32 rule_slot;
	__u32 policy_slot;
};

/* The decision word of region `r` (NULL: no entry, NW_FW_PASS) for the packet: its unparsed
 * decision, its protocol's port table, else its decision for other protocols. */
static __always_inline __u32 nw_pg_region_decision(struct nw_fw_pkt *p, int parsed,
						   struct nw_fw_region *r, __u32 gen, __u16 selector)
{
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
	return nw_fw_search(t, selector);
}

/* The rule set's decision word for the remote address `remote` (the packet's destination or
 * source; NW_FW_PASS when no rule matches). */
static __always_inline __u32 nw_pg_lookup(struct nw_fw_pkt *p, int parsed, __u32 ruleset, __u32 gen,
					  const __u8 *remote, __u16 selector)
{
	struct nw_fw_lpm_key key = {};

	key.scope = ruleset & ~(NW_FW_SCOPE_GEN | NW_FW_SCOPE_V6);
	if (gen)
		key.scope |= NW_FW_SCOPE_GEN;
	if (p->family == 6) {
		key.scope |= NW_FW_SCOPE_V6;
		key.prefixlen = 32 + 128;
		__builtin_memcpy(key.addr, remote, 16);
	} else {
		key.prefixlen = 32 + 32;
		__builtin_memcpy(key.addr, remote, 4);
	}
	struct nw_fw_region *r = bpf_map_lookup_elem(&nw_pg_rule_prefixes, &key);

	return nw_pg_region_decision(p, parsed, r, gen, selector);
}

/* The network-policy decision word of the pod's rule set `scope` for the remote address `remote`:
 * its class, then the rule set's region for the class, else its default region (NW_FW_PASS when
 * the scope has no rule set in this generation: the caller fails closed). */
static __always_inline __u32 nw_pg_np_lookup(struct nw_fw_pkt *p, int parsed, __u32 scope,
					     __u32 gen, const __u8 *remote, __u16 selector)
{
	struct nw_pg_set_key sk = {
		.scope = scope,
		.gen = gen,
	};
	__u32 *set = bpf_map_lookup_elem(&nw_pg_np_sets, &sk);

	if (!set)
		return NW_FW_PASS;

	struct nw_fw_lpm_key ck = {};

	if (gen)
		ck.scope |= NW_FW_SCOPE_GEN;
	if (p->family == 6) {
		ck.scope |= NW_FW_SCOPE_V6;
		ck.prefixlen = 32 + 128;
		__builtin_memcpy(ck.addr, remote, 16);
	} else {
		ck.prefixlen = 32 + 32;
		__builtin_memcpy(ck.addr, remote, 4);
	}
	__u32 *class = bpf_map_lookup_elem(&nw_pg_np_classes, &ck);
	struct nw_pg_np_key rk = {
		.set = *set,
		.class = class ? *class : NW_PG_CLASS_DEFAULT,
		.gen = gen,
	};
	struct nw_fw_region *r = bpf_map_lookup_elem(&nw_pg_np_regions, &rk);

	if (!r && rk.class != NW_PG_CLASS_DEFAULT) {
		/* Most classes get the rule set's default region: only the others have entries. */
		rk.class = NW_PG_CLASS_DEFAULT;
		r = bpf_map_lookup_elem(&nw_pg_np_regions, &rk);
	}
	return nw_pg_region_decision(p, parsed, r, gen, selector);
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
		__u32 decision = nw_pg_lookup(p, parsed, ruleset, gen, p->dst, p->selector);
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

/* What network policy decides for a connection the packet belongs to: `scope` is the pod's egress
 * rule set or its ingress rule set (see nw_pg_np_lookup), looked up by the remote end (the packet's source when
 * `remote_is_src`, else its destination) and `selector` (the port of the connection's target).
 * Fills the event fields; true when the packet is denied. A rule set without an entry for the
 * address denies (fail closed: userspace always covers both families). */
static __always_inline bool nw_pg_policy_judge(struct nw_pg_verdict *v, struct nw_fw_pkt *p,
					       int parsed, __u32 scope, __u32 gen, bool remote_is_src,
					       __u16 selector)
{
	v->policy = NW_PG_POLICY_DENIED;
	v->policy_slot = NW_PG_NO_SLOT;
	v->blocked = 1;
	if (p->family == 0) {
		/* No readable IP header: no address to judge by. */
		v->reason = NW_PG_REASON_UNPARSED;
		return true;
	}
	__u32 decision = nw_pg_np_lookup(p, parsed, scope, gen, remote_is_src ? p->src : p->dst,
					 selector);
	__u8 verdict = decision & NW_FW_VERDICT_MASK;

	v->reason = NW_PG_REASON_POLICY;
	if (verdict == NW_FW_ALLOW || verdict == NW_FW_DENY)
		v->policy_slot = decision >> NW_FW_SLOT_SHIFT;
	if (verdict == NW_FW_ALLOW) {
		v->policy = NW_PG_POLICY_ALLOWED;
		v->blocked = 0;
		v->reason = NW_PG_REASON_NONE;
		return false;
	}
	return true;
}

#endif
