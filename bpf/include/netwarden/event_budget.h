/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-key event rate limits shared by the firewall and the pod guard: at most `rate` events per CPU
 * per one-second window; the events held back are counted and reported with the next one sent.
 */
#ifndef NETWARDEN_EVENT_BUDGET_H
#define NETWARDEN_EVENT_BUDGET_H

/* Takes one event from the budget at `now`. Returns false when the window's budget is spent (the
 * event is counted in *suppressed); true otherwise. */
static __always_inline bool nw_budget_take(__u64 *window_start_ns, __u32 *sent, __u32 *suppressed,
					   __u64 now, __u32 rate)
{
	if (now - *window_start_ns >= 1000000000ull) {
		*window_start_ns = now;
		*sent = 0;
	}
	if (*sent >= rate) {
		*suppressed += 1;
		return false;
	}
	*sent += 1;
	return true;
}

#endif
