/* xpf_netlink.h — rtnetlink mirror of the kernel's routes, neighbours and
 * addresses (used by xpfd to build FIB snapshots, R-3.2). */
#ifndef XPF_NETLINK_H
#define XPF_NETLINK_H

#include <stdint.h>
#include "xpf_abi.h"

struct xpf_local_addr {
	uint8_t family;       /* 4 or 6 */
	uint8_t prefix_len;
	uint8_t has_broadcast;
	uint8_t reserved;
	uint32_t ifindex;
	uint8_t addr[16];
	uint8_t broadcast[16];
};

/* Dump IPv4 and IPv6 routes: main table unicast/blackhole/unreachable/prohibit and
 * local-table RTN_LOCAL/RTN_BROADCAST (flag XPF_ROUTE_LOCAL). iface_slot is set to
 * 0xff (the caller maps ifindex → slot). Sorted: family, prefix_len desc, metric asc.
 * Returns the count, or -errno. */
int xpf_nl_dump_routes(struct xpf_route *out, int max);

/* Dump IPv4 and IPv6 neighbours (state VALID for REACHABLE/STALE/DELAY/PROBE/
 * PERMANENT/NOARP with a lladdr, INCOMPLETE, FAILED). iface_slot = 0xff.
 * Returns the count, or -errno. */
int xpf_nl_dump_neighbours(struct xpf_neigh *out, int max);

/* Dump the box's own addresses. Returns the count, or -errno. */
int xpf_nl_dump_addrs(struct xpf_local_addr *out, int max);

/* A non-blocking netlink socket subscribed to link, address, route and neighbour
 * changes (v4 and v6). Returns the fd, or -errno. */
int xpf_nl_open_monitor(void);

/* Read every pending message. Returns 1 if any change was seen, 0 if none, -errno. */
int xpf_nl_drain_monitor(int fd);

/* Make the kernel resolve `addr` on `ifindex` (ARP / neighbour solicitation), without
 * blocking. Returns 0, or -errno. */
int xpf_nl_resolve_neighbour(uint8_t family, uint32_t ifindex, const uint8_t addr[16]);

#endif
