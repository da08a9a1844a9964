/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How netwarden's programs tell each other about a packet: the pod guard marks what it drops, so the
 * capture's drop hook (which sees the skb freed right after) records netwarden's own cause instead
 * of the kernel's generic SKB_DROP_REASON_TC_INGRESS.
 */
#ifndef NETWARDEN_MARKS_H
#define NETWARDEN_MARKS_H

/* skb->mark of a packet the pod guard drops ("nw" + 0x0b10c). */
#define NW_MARK_POD_GUARD_BLOCKED 0x6e7b10c0u

/* skb->mark of a packet the pod guard drops because network policy denies it. */
#define NW_MARK_POLICY_DENIED 0x6e7b10c1u

/* Drop causes recorded for them: above every kernel skb_drop_reason, named in userspace. */
#define NW_DROP_CAUSE_POD_GUARD_BLOCKED 0x4e570001u
#define NW_DROP_CAUSE_POLICY_DENIED 0x4e570002u

#endif
