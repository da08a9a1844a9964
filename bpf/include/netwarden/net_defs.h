/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Protocol constants that vmlinux.h cannot carry (they are #defines in the kernel's UAPI headers). */
#ifndef NETWARDEN_NET_DEFS_H
#define NETWARDEN_NET_DEFS_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define IPPROTO_SCTP 132

/* tcx: TC_ACT_UNSPEC is TCX_NEXT, "let the next program decide"; we never judge traffic we observe. */
#define TC_ACT_UNSPEC (-1)
/* The pod guard's drop (TCX_DROP). */
#define TC_ACT_SHOT 2

#define IP_OFFSET_MASK 0x1fff

#define EEXIST 17

/* An 802.1Q/802.1ad tag as it sits in the frame. */
struct nw_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

#endif
