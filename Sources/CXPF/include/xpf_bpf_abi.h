/* xpf_bpf_abi.h — the one header shared by the XDP program (bpf/xpf_xdp.c) and
 * userspace (xpfd, xpf-worker, tests). Map names, key/value layouts and counter
 * indices live here and nowhere else.
 *
 * Compatibility: counter indices are append-only; a change to any struct here
 * bumps XPF_BPF_ABI_VERSION, which the program carries in its `xpf_abi_version`
 * global and xpfd checks before attaching.
 */
#ifndef XPF_BPF_ABI_H
#define XPF_BPF_ABI_H

#include <linux/types.h>

#define XPF_BPF_ABI_VERSION 1

/* Maximum number of dataplane interfaces and of queues per interface. */
#define XPF_MAX_IFACES 16
#define XPF_MAX_QUEUES 64

/* xsks_map (BPF_MAP_TYPE_XSKMAP, max_entries XPF_MAX_IFACES * XPF_MAX_QUEUES):
 *   key   = iface_slot * XPF_MAX_QUEUES + rx_queue_index
 *   value = AF_XDP socket fd (written by the worker that owns that queue).
 * The kernel removes an entry when its socket closes, so a dead worker's queue
 * falls to XDP_DROP (fail closed, R-1.7), counted as XPF_XDP_DROP_NO_WORKER. */
#define XPF_XSKMAP_KEY(slot, queue) ((slot) * XPF_MAX_QUEUES + (queue))

/* if_slots (BPF_MAP_TYPE_HASH, max_entries XPF_MAX_IFACES):
 *   key = ifindex (__u32), value = struct xpf_if_slot. Written by xpfd before attach.
 *   A packet arriving on an ifindex that is not in this map is passed to the kernel
 *   (XPF_XDP_PASS_NOT_DATAPLANE). */
struct xpf_if_slot {
	__u32 slot;  /* index into the shared-memory interface table */
	__u32 flags; /* reserved, 0 */
};

/* local_addrs (BPF_MAP_TYPE_HASH, max_entries XPF_MAX_LOCAL_ADDRS):
 *   key = struct xpf_addr_key, value = __u32 (ifindex that owns it, informational).
 *   Addresses of the box itself (unicast and subnet-broadcast) in the namespace
 *   xpfd runs in; packets to them go to the kernel (XPF_XDP_PASS_LOCAL). Written by
 *   xpfd at start and whenever the kernel's address list changes. */
#define XPF_MAX_LOCAL_ADDRS 1024
struct xpf_addr_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
};

/* counters (BPF_MAP_TYPE_PERCPU_ARRAY, max_entries XPF_XDP_CTR_MAX), value __u64.
 * Index order is append-only forever. */
enum xpf_xdp_counter {
	XPF_XDP_RX_TOTAL = 0,        /* every packet the program saw */
	XPF_XDP_REDIRECT = 1,        /* handed to the worker's AF_XDP socket */
	XPF_XDP_PASS_NOT_IP = 2,     /* ARP, LLDP, anything not IPv4/IPv6 */
	XPF_XDP_PASS_LOCAL = 3,      /* destination is one of the box's own addresses */
	XPF_XDP_PASS_CONTROL = 4,    /* multicast/broadcast, IPv6 link-local, NDP (ICMPv6 133-137) */
	XPF_XDP_DROP_NO_WORKER = 5,  /* transit packet, but no live worker socket for the queue */
	XPF_XDP_ERR_PARSE = 6,       /* truncated Ethernet/VLAN/IP header: passed to the kernel */
	XPF_XDP_PASS_NOT_DATAPLANE = 7, /* ingress ifindex not in if_slots */
	XPF_XDP_REDIRECT_FAILED = 8, /* bpf_redirect_map refused: dropped */
	XPF_XDP_CTR_MAX = 9
};

#endif
