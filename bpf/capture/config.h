/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load-time settings, written by userspace into .rodata before the verifier sees the programs, so
 * disabled features cost nothing on the hot path. */
#ifndef NETWARDEN_CAPTURE_CONFIG_H
#define NETWARDEN_CAPTURE_CONFIG_H

/* Record 1 packet in N (0 and 1 record all). */
const volatile __u32 nw_sampling = 0;
const volatile __u8 nw_enable_dns = 1;
const volatile __u8 nw_enable_rtt = 1;
/* DNS ports; 0 entries are unused. */
const volatile __u16 nw_dns_ports[NW_MAX_DNS_PORTS] = { 53, 0, 0, 0 };
/* Only drops in this network namespace (inode number) are recorded; 0 records drops everywhere. */
const volatile __u32 nw_netns_ino = 0;

#endif
