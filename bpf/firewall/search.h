/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The lookup in a compiled port table (struct nw_fw_table, see include/netwarden/firewall_abi.h):
 * shared by the firewall (tables by source) and the pod guard (tables by destination).
 */
#ifndef NETWARDEN_FIREWALL_SEARCH_H
#define NETWARDEN_FIREWALL_SEARCH_H

/* The decision whose segment holds `selector`: the last start <= selector (starts[0] is 0). */
static __always_inline __u32 nw_fw_search(struct nw_fw_table *t, __u16 selector)
{
	__u32 lo = 0;
	__u32 size = t->count;

	if (size == 0 || size > NW_FW_MAX_SEGMENTS)
		return NW_FW_PASS;
#pragma unroll
	for (int i = 0; i < NW_FW_SEARCH_STEPS; i++) {
		if (size <= 1)
			break;
		__u32 half = size / 2;
		__u32 mid = (lo + half) & (NW_FW_MAX_SEGMENTS - 1);

		if (t->starts[mid] <= selector)
			lo = mid;
		size -= half;
	}
	return t->decisions[lo & (NW_FW_MAX_SEGMENTS - 1)];
}

#endif
