/* xpf_netlink.c — rtnetlink mirror of the kernel's routes, neighbours and addresses.
 *
 * Plain NETLINK_ROUTE sockets, no libnl/libmnl: xpfd only needs three dumps, a
 * change monitor and one request, and a library would add a runtime dependency to
 * the supervisor for a few hundred lines of straightforward code.
 *
 * Conventions: every function returns -errno on failure, never leaves errno as the
 * only error report, and closes every descriptor it opened on every path. All
 * sockets are SOCK_CLOEXEC so workers spawned by xpfd never inherit them.
 */
#include "xpf_netlink.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define XPF_IFSLOT_NONE 0xff

/* Receive buffer of the monitor socket. A route flap on a full-table box can emit
 * thousands of notifications in a burst; the default (~200 KiB) overflows and
 * forces a full resync. Overflow is still handled (ENOBUFS ⇒ "changed"), this only
 * makes it rare. */
#define MONITOR_RCVBUF (8 * 1024 * 1024)

/* An interrupted dump (NLM_F_DUMP_INTR: the table changed while it was being
 * walked) is restarted this many times before giving up with -EAGAIN. */
#define DUMP_ATTEMPTS 4

/* ------------------------------------------------------------------ sockets */

/* Opens a NETLINK_ROUTE socket bound to `groups`; stores the kernel-assigned port
 * id in *portid when asked (dump replies are checked against it). */
static int nl_open(uint32_t groups, int extra_type_flags, uint32_t *portid)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | extra_type_flags, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;

	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (portid) {
		socklen_t sl = sizeof(sa);
		if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
			goto fail;
		*portid = sa.nl_pid;
	}
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

static int nl_send(int fd, const void *msg, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }; /* nl_pid 0 = the kernel */
	for (;;) {
		ssize_t n = sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
		if (n >= 0)
			return (size_t)n == len ? 0 : -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

/* A growable receive buffer. */
struct nl_buf {
	char *data;
	size_t cap;
};

/* Receives one datagram from the kernel into `b`, growing it to fit. Returns its
 * length, or -errno (-EAGAIN when `flags` has MSG_DONTWAIT and nothing is queued).
 * Datagrams from other user-space ports are dropped, not returned.
 *
 * The size is learned first with MSG_PEEK|MSG_TRUNC (netlink reports the full
 * datagram length) instead of guessing a "big enough" buffer: the kernel sizes dump
 * datagrams from what the reader offered before, and a huge multipath route can
 * exceed any fixed guess; a truncated datagram would silently lose routes. */
static ssize_t nl_recv(int fd, struct nl_buf *b, int flags)
{
	for (;;) {
		ssize_t want = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | flags);
		if (want < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((size_t)want > b->cap) {
			size_t cap = b->cap ? b->cap : 32768;
			while (cap < (size_t)want)
				cap *= 2;
			char *p = realloc(b->data, cap);
			if (!p)
				return -ENOMEM;
			b->data = p;
			b->cap = cap;
		}

		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = b->data, .iov_len = b->cap };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, flags);
		if (n < 0) {
			if (errno == EINTR)
				continue; /* nothing consumed; peek again */
			return -errno;
		}
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE; /* cannot happen after the peek; never parse a cut message */
		if (mh.msg_namelen != sizeof(from) || from.nl_pid != 0)
			continue; /* not from the kernel */
		return n;
	}
}

/* ------------------------------------------------------------------ dumps */

/* Called for every message of a dump (NLMSG_DONE/ERROR excluded). Returns 0 or
 * -errno, which aborts the dump. */
typedef int (*nl_msg_fn)(const struct nlmsghdr *nh, void *ctx);

/* Runs one NLM_F_DUMP request. `hdr_len` is the size of the family header
 * (rtmsg, ndmsg, ifaddrmsg), all of which start with the address family byte.
 * Returns 0, -EAGAIN if the kernel flagged the dump as interrupted, or -errno. */
static int nl_dump(uint16_t type, uint8_t family, size_t hdr_len, nl_msg_fn fn, void *ctx)
{
	static uint32_t seq_counter;

	struct {
		struct nlmsghdr nh;
		union {
			struct rtmsg rt;
			struct ndmsg nd;
			struct ifaddrmsg ifa;
			unsigned char family;
		} u;
	} req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(hdr_len);
	req.nh.nlmsg_type = type;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);
	req.u.family = family;

	uint32_t portid = 0;
	int fd = nl_open(0, 0, &portid);
	if (fd < 0)
		return fd;

	struct nl_buf buf = { 0 };
	bool interrupted = false;
	int err = nl_send(fd, &req, req.nh.nlmsg_len);
	while (err == 0) {
		ssize_t n = nl_recv(fd, &buf, 0);
		if (n < 0) {
			err = (int)n;
			break;
		}
		bool done = false;
		size_t len = (size_t)n;
		for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf.data;
		     NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			/* A reply to an older request on a reused port: not ours. */
			if (nh->nlmsg_seq != req.nh.nlmsg_seq || nh->nlmsg_pid != portid)
				continue;
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				interrupted = true;
			if (nh->nlmsg_type == NLMSG_DONE) {
				/* DONE carries the dump's final status (an int). */
				if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
					int status;
					memcpy(&status, NLMSG_DATA(nh), sizeof(status));
					if (status < 0)
						err = status;
				}
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					err = -EBADMSG;
				else if (e->error != 0)
					err = e->error;
				if (err)
					break;
				continue; /* an ACK; dumps do not send them, but harmless */
			}
			if (nh->nlmsg_type < NLMSG_MIN_TYPE)
				continue; /* NOOP / OVERRUN */
			err = fn(nh, ctx);
			if (err)
				break;
		}
		if (done)
			break;
	}

	free(buf.data);
	close(fd);
	if (err == 0 && interrupted)
		err = -EAGAIN;
	return err;
}

/* Fills tb[0..max] with the attributes of a run of rtattrs (later duplicates win;
 * unknown types are ignored). The NLA_F_* bits some kernels set in the type are
 * masked off so nested attributes are found under their plain type. */
static void parse_attrs(const struct rtattr **tb, int max, const struct rtattr *rta, int len)
{
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		int t = rta->rta_type & NLA_TYPE_MASK;
		if (t <= max)
			tb[t] = rta;
	}
}

static bool attr_u32(const struct rtattr *a, uint32_t *v)
{
	if (!a || RTA_PAYLOAD(a) < sizeof(uint32_t))
		return false;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return true;
}

/* Copies an address attribute of exactly `alen` bytes into a zeroed 16-byte slot
 * (IPv4 in the first 4 bytes, per the ABI). */
static bool attr_addr(const struct rtattr *a, size_t alen, uint8_t out[16])
{
	if (!a || RTA_PAYLOAD(a) != alen)
		return false;
	memset(out, 0, 16);
	memcpy(out, RTA_DATA(a), alen);
	return true;
}

/* AF_INET/AF_INET6 → (ABI family 4/6, address length); false for anything else. */
static bool family_info(int af, uint8_t *fam, size_t *alen)
{
	if (af == AF_INET) {
		*fam = 4;
		*alen = 4;
		return true;
	}
	if (af == AF_INET6) {
		*fam = 6;
		*alen = 16;
		return true;
	}
	return false;
}

/* Runs the dump for AF_INET then AF_INET6, restarting both from scratch when the
 * kernel reports an interrupted dump (a partially-old table is worse than a retry).
 * `*count` is the collector's fill level, reset on restart. */
static int dump_both(uint16_t type, size_t hdr_len, nl_msg_fn fn, void *ctx, int *count)
{
	int err = -EAGAIN;
	for (int attempt = 0; attempt < DUMP_ATTEMPTS && err == -EAGAIN; attempt++) {
		*count = 0;
		err = nl_dump(type, AF_INET, hdr_len, fn, ctx);
		if (err == 0)
			err = nl_dump(type, AF_INET6, hdr_len, fn, ctx);
	}
	return err;
}

/* ------------------------------------------------------------------ routes */

struct route_ctx {
	struct xpf_route *out;
	int max;
	int n;
};

static int route_msg(const struct nlmsghdr *nh, void *vctx)
{
	struct route_ctx *c = vctx;
	if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return 0;
	const struct rtmsg *rtm = NLMSG_DATA(nh);

	uint8_t fam;
	size_t alen;
	if (!family_info(rtm->rtm_family, &fam, &alen))
		return 0;
	/* IPv6 exception/cache entries (PMTU, redirects) are per-destination clones,
	 * not routes; they are only dumped on request but filter them regardless. */
	if (rtm->rtm_flags & RTM_F_CLONED)
		return 0;
	/* Source-specific (IPv6 subtrees) and TOS routes only match some packets; the
	 * dataplane looks up by destination alone, so treating them as plain routes
	 * would steer all traffic for the prefix. Leave them out. */
	if (rtm->rtm_src_len != 0 || rtm->rtm_tos != 0)
		return 0;
	if (rtm->rtm_dst_len > alen * 8)
		return 0;

	const struct rtattr *tb[RTA_MAX + 1];
	parse_attrs(tb, RTA_MAX, RTM_RTA(rtm), (int)RTM_PAYLOAD(nh));

	/* rtm_table is 8 bits; tables ≥ 256 are only in RTA_TABLE. */
	uint32_t table = rtm->rtm_table;
	attr_u32(tb[RTA_TABLE], &table);

	struct xpf_route r;
	memset(&r, 0, sizeof(r));
	r.family = fam;
	r.prefix_len = rtm->rtm_dst_len;
	r.iface_slot = XPF_IFSLOT_NONE;

	if (table == RT_TABLE_MAIN) {
		switch (rtm->rtm_type) {
		case RTN_UNICAST:
			break;
		case RTN_BLACKHOLE:
		case RTN_UNREACHABLE:
		case RTN_PROHIBIT:
			r.flags = XPF_ROUTE_BLACKHOLE;
			break;
		default:
			return 0;
		}
	} else if (table == RT_TABLE_LOCAL) {
		if (rtm->rtm_type != RTN_LOCAL && rtm->rtm_type != RTN_BROADCAST)
			return 0;
		r.flags = XPF_ROUTE_LOCAL;
	} else {
		return 0;
	}

	/* Default routes carry no RTA_DST: dst stays zero with prefix_len 0. */
	if (tb[RTA_DST] && !attr_addr(tb[RTA_DST], alen, r.dst))
		return 0;
	attr_u32(tb[RTA_OIF], &r.ifindex);
	attr_u32(tb[RTA_PRIORITY], &r.metric);
	if (attr_addr(tb[RTA_GATEWAY], alen, r.gateway))
		r.flags |= XPF_ROUTE_GATEWAY;

	/* ECMP: the dataplane follows the first next hop (no hashing yet). */
	if (tb[RTA_MULTIPATH] && !(r.flags & XPF_ROUTE_GATEWAY)) {
		const struct rtnexthop *rtnh = RTA_DATA(tb[RTA_MULTIPATH]);
		int mlen = (int)RTA_PAYLOAD(tb[RTA_MULTIPATH]);
		if (RTNH_OK(rtnh, mlen)) {
			if (r.ifindex == 0 && rtnh->rtnh_ifindex > 0)
				r.ifindex = (uint32_t)rtnh->rtnh_ifindex;
			const struct rtattr *ntb[RTA_MAX + 1];
			parse_attrs(ntb, RTA_MAX, RTNH_DATA(rtnh), rtnh->rtnh_len - (int)sizeof(*rtnh));
			if (attr_addr(ntb[RTA_GATEWAY], alen, r.gateway))
				r.flags |= XPF_ROUTE_GATEWAY;
			else if (ntb[RTA_VIA])
				return 0; /* see RTA_VIA below */
		}
	}
	/* RTA_VIA is a gateway of the other family (v4 route via a v6 next hop).
	 * The ABI gateway has no family of its own, and treating the route as
	 * directly connected would ARP for every destination, so skip it. */
	if (tb[RTA_VIA] && !(r.flags & XPF_ROUTE_GATEWAY))
		return 0;

	if (c->n >= c->max)
		return -ENOSPC; /* a truncated FIB would misroute silently; fail instead */
	c->out[c->n++] = r;
	return 0;
}

/* family asc, prefix_len desc, metric asc; the rest only makes the order total
 * so equal inputs give byte-identical snapshots. */
static int route_cmp(const void *pa, const void *pb)
{
	const struct xpf_route *a = pa, *b = pb;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->prefix_len != b->prefix_len)
		return a->prefix_len > b->prefix_len ? -1 : 1;
	if (a->metric != b->metric)
		return a->metric < b->metric ? -1 : 1;
	int d = memcmp(a->dst, b->dst, sizeof(a->dst));
	if (d)
		return d;
	if (a->flags != b->flags)
		return a->flags < b->flags ? -1 : 1;
	if (a->ifindex != b->ifindex)
		return a->ifindex < b->ifindex ? -1 : 1;
	return memcmp(a->gateway, b->gateway, sizeof(a->gateway));
}

int xpf_nl_dump_routes(struct xpf_route *out, int max)
{
	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	struct route_ctx c = { .out = out, .max = max };
	int err = dump_both(RTM_GETROUTE, sizeof(struct rtmsg), route_msg, &c, &c.n);
	if (err)
		return err;
	if (c.n > 1)
		qsort(out, (size_t)c.n, sizeof(*out), route_cmp);
	return c.n;
}

/* ------------------------------------------------------------------ neighbours */

struct neigh_ctx {
	struct xpf_neigh *out;
	int max;
	int n;
};

static int neigh_msg(const struct nlmsghdr *nh, void *vctx)
{
	struct neigh_ctx *c = vctx;
	if (nh->nlmsg_type != RTM_NEWNEIGH || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg)))
		return 0;
	const struct ndmsg *ndm = NLMSG_DATA(nh);

	uint8_t fam;
	size_t alen;
	if (!family_info(ndm->ndm_family, &fam, &alen))
		return 0;
	if (ndm->ndm_flags & NTF_PROXY)
		return 0; /* proxy entries answer for others; they are not next hops */

	const struct rtattr *tb[NDA_MAX + 1];
	const struct rtattr *first = (const struct rtattr *)((const char *)ndm + NLMSG_ALIGN(sizeof(*ndm)));
	parse_attrs(tb, NDA_MAX, first, (int)NLMSG_PAYLOAD(nh, sizeof(*ndm)));

	struct xpf_neigh e;
	memset(&e, 0, sizeof(e));
	e.family = fam;
	e.iface_slot = XPF_IFSLOT_NONE;
	e.ifindex = (uint32_t)ndm->ndm_ifindex;
	if (!attr_addr(tb[NDA_DST], alen, e.addr))
		return 0;
	bool has_mac = tb[NDA_LLADDR] && RTA_PAYLOAD(tb[NDA_LLADDR]) == sizeof(e.mac);
	if (has_mac)
		memcpy(e.mac, RTA_DATA(tb[NDA_LLADDR]), sizeof(e.mac));

	uint16_t st = ndm->ndm_state;
	if (st & NUD_INCOMPLETE) {
		e.state = XPF_NEIGH_INCOMPLETE;
	} else if (st & NUD_FAILED) {
		e.state = XPF_NEIGH_FAILED;
	} else if (st & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)) {
		/* Usable only with an Ethernet address to write into the frame (NOARP
		 * entries on tunnels / loopback have none). STALE/DELAY/PROBE are still
		 * valid to send to: the kernel re-verifies them itself. */
		if (!has_mac)
			return 0;
		e.state = XPF_NEIGH_VALID;
	} else {
		return 0; /* NUD_NONE: created but never used */
	}

	if (c->n >= c->max)
		return -ENOSPC;
	c->out[c->n++] = e;
	return 0;
}

int xpf_nl_dump_neighbours(struct xpf_neigh *out, int max)
{
	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	struct neigh_ctx c = { .out = out, .max = max };
	int err = dump_both(RTM_GETNEIGH, sizeof(struct ndmsg), neigh_msg, &c, &c.n);
	return err ? err : c.n;
}

/* ------------------------------------------------------------------ addresses */

struct addr_ctx {
	struct xpf_local_addr *out;
	int max;
	int n;
};

static int addr_msg(const struct nlmsghdr *nh, void *vctx)
{
	struct addr_ctx *c = vctx;
	if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
		return 0;
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);

	uint8_t fam;
	size_t alen;
	if (!family_info(ifa->ifa_family, &fam, &alen))
		return 0;

	const struct rtattr *tb[IFA_MAX + 1];
	parse_attrs(tb, IFA_MAX, IFA_RTA(ifa), (int)IFA_PAYLOAD(nh));

	uint32_t flags = ifa->ifa_flags;
	attr_u32(tb[IFA_FLAGS], &flags);
	/* DAD found another owner: the kernel never uses it and installs no local route. */
	if (flags & IFA_F_DADFAILED)
		return 0;

	struct xpf_local_addr a;
	memset(&a, 0, sizeof(a));
	a.family = fam;
	a.prefix_len = ifa->ifa_prefixlen;
	a.ifindex = ifa->ifa_index;
	/* IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links and
	 * equal to IFA_LOCAL otherwise (IPv6 usually sends only IFA_ADDRESS). */
	if (!attr_addr(tb[IFA_LOCAL], alen, a.addr) && !attr_addr(tb[IFA_ADDRESS], alen, a.addr))
		return 0;
	if (fam == 4 && attr_addr(tb[IFA_BROADCAST], alen, a.broadcast))
		a.has_broadcast = 1;

	if (c->n >= c->max)
		return -ENOSPC;
	c->out[c->n++] = a;
	return 0;
}

int xpf_nl_dump_addrs(struct xpf_local_addr *out, int max)
{
	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	struct addr_ctx c = { .out = out, .max = max };
	int err = dump_both(RTM_GETADDR, sizeof(struct ifaddrmsg), addr_msg, &c, &c.n);
	return err ? err : c.n;
}

/* ------------------------------------------------------------------ monitor */

int xpf_nl_open_monitor(void)
{
	uint32_t groups = RTMGRP_LINK | RTMGRP_NEIGH |
			  RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
			  RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	int fd = nl_open(groups, SOCK_NONBLOCK, NULL);
	if (fd < 0)
		return fd;
	/* SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN (xpfd has it);
	 * without it fall back to what rmem_max allows. A small buffer is not fatal. */
	int sz = MONITOR_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

int xpf_nl_drain_monitor(int fd)
{
	if (fd < 0)
		return -EBADF;
	/* Contents do not matter: any notification means "re-dump". So read with a
	 * fixed buffer and let oversized datagrams truncate. */
	char buf[16384];
	int changed = 0;
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return changed;
			if (errno == ENOBUFS) {
				/* The kernel dropped notifications: we no longer know what
				 * changed, so report a change and force a full resync. */
				changed = 1;
				continue;
			}
			return -errno;
		}
		if (n > 0 && mh.msg_namelen == sizeof(from) && from.nl_pid == 0)
			changed = 1;
	}
}

/* ------------------------------------------------------------------ resolve */

/* Sends one request (NLM_F_ACK set) and reads until its ACK or error. Replies
 * of other types to this request (a GET's answer) go to `fn` (may be NULL).
 * Returns the kernel's status (0 or -errno).
 *
 * rtnetlink handles a request synchronously inside sendmsg(), so the ACK is
 * already queued when it returns: reads are MSG_DONTWAIT, with a short poll as a
 * safety net so xpfd can never hang here. */
static int nl_transact(int fd, uint32_t portid, struct nlmsghdr *req, nl_msg_fn fn, void *ctx)
{
	static uint32_t seq_counter;
	req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->nlmsg_seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);

	struct nl_buf buf = { 0 };
	int err = nl_send(fd, req, req->nlmsg_len);
	bool acked = false;
	while (err == 0 && !acked) {
		ssize_t n = nl_recv(fd, &buf, MSG_DONTWAIT);
		if (n == -EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int pr = poll(&p, 1, 100);
			if (pr > 0 || (pr < 0 && errno == EINTR))
				continue;
			err = pr < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		if (n < 0) {
			err = (int)n;
			break;
		}
		size_t len = (size_t)n;
		for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf.data;
		     NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_seq != req->nlmsg_seq || nh->nlmsg_pid != portid)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				err = nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ? -EBADMSG : e->error;
				acked = true;
				break;
			}
			if (fn && nh->nlmsg_type >= NLMSG_MIN_TYPE) {
				err = fn(nh, ctx);
				if (err)
					break;
			}
		}
	}
	free(buf.data);
	return err;
}

/* A neighbour request: ndmsg + NDA_DST. */
struct neigh_req {
	struct nlmsghdr nh;
	struct ndmsg ndm;
	char attrs[RTA_SPACE(16)];
};

static void neigh_req_init(struct neigh_req *r, uint16_t type, uint16_t flags, int af,
			   uint32_t ifindex, const uint8_t *addr, size_t alen)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = flags;
	r->ndm.ndm_family = (uint8_t)af;
	r->ndm.ndm_ifindex = (int)ifindex;
	struct rtattr *dst = (struct rtattr *)r->attrs;
	dst->rta_type = NDA_DST;
	dst->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(dst), addr, alen);
	r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(r->ndm)) + RTA_SPACE(alen);
}

static int neigh_state_msg(const struct nlmsghdr *nh, void *ctx)
{
	if (nh->nlmsg_type == RTM_NEWNEIGH && nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ndmsg)))
		*(int *)ctx = ((const struct ndmsg *)NLMSG_DATA(nh))->ndm_state;
	return 0;
}

/* How: RTM_NEWNEIGH with ndm_flags = NTF_USE. The kernel then calls
 * neigh_event_send() on the entry, exactly as if a packet were queued to it: a
 * NONE/FAILED entry goes INCOMPLETE and ARP / neighbour solicitation starts, a
 * STALE one goes DELAY (unicast re-probe). It needs no route, no source-address
 * choice, no IP forwarding, and puts nothing on the wire but the probe itself.
 *
 * The catch (seen on this 6.18 kernel, and in the source since ~5.16): for NTF_USE
 * __neigh_update() sets the state to `old & ~NUD_PERMANENT`, so "using" a
 * PERMANENT entry demotes it to NONE and then INCOMPLETE — an administrator's
 * static ARP entry would be thrown away. So the entry is looked up first
 * (RTM_GETNEIGH) and left alone when it is already usable or already being
 * resolved; a missing entry is created with NLM_F_CREATE|NLM_F_EXCL, so an entry
 * someone adds in between is never touched (-EEXIST → look again). What remains
 * is a microsecond window in which an existing FAILED/STALE entry is replaced by
 * a permanent one between our GET and our NEWNEIGH; acceptable.
 *
 * IPv6 note: with no packet behind the request the kernel sources the neighbour
 * solicitation from the interface's link-local address, so resolution starts only
 * once the interface has a non-tentative link-local (every normal IPv6 interface
 * does; one configured with addrgenmode none never resolves this way).
 *
 * Rejected alternatives:
 *  - RTM_NEWNEIGH with a state and NLM_F_REPLACE rewrites the entry (clobbers a
 *    valid lladdr with a guess), and a bare INCOMPLETE entry gets no probe timer;
 *  - a zero-length UDP datagram to port 9 from a SO_BINDTODEVICE socket with
 *    MSG_DONTWAIT also works here, but the kernel resolves whatever next hop
 *    its route lookup picks (a gateway, if a route covers `addr`), needs a source
 *    address on the device, and once resolved really sends the datagram. */
int xpf_nl_resolve_neighbour(uint8_t family, uint32_t ifindex, const uint8_t addr[16])
{
	int af;
	size_t alen;
	if (family == 4) {
		af = AF_INET;
		alen = 4;
	} else if (family == 6) {
		af = AF_INET6;
		alen = 16;
	} else {
		return -EAFNOSUPPORT;
	}
	if (!addr)
		return -EINVAL;
	if (ifindex == 0 || ifindex > INT32_MAX)
		return -ENODEV;

	uint32_t portid = 0;
	int fd = nl_open(0, 0, &portid);
	if (fd < 0)
		return fd;

	/* Each retry follows a lost race (entry created or removed between our GET
	 * and NEWNEIGH); three rounds are plenty. */
	int err = -EAGAIN;
	for (int attempt = 0; attempt < 3 && err == -EAGAIN; attempt++) {
		struct neigh_req req;
		int state = -1;
		neigh_req_init(&req, RTM_GETNEIGH, 0, af, ifindex, addr, alen);
		err = nl_transact(fd, portid, &req.nh, neigh_state_msg, &state);
		if (err == -ENOENT) {
			state = -1;
		} else if (err) {
			break;
		} else if (state < 0) {
			err = -EBADMSG; /* ACK without the entry */
			break;
		}

		/* Usable, or a probe already running: nothing to do (and a PERMANENT
		 * entry must not see NTF_USE, see above). */
		if (state >= 0 && (state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE |
					    NUD_DELAY | NUD_PROBE | NUD_INCOMPLETE))) {
			err = 0;
			break;
		}

		uint16_t flags = state < 0 ? NLM_F_CREATE | NLM_F_EXCL : 0;
		neigh_req_init(&req, RTM_NEWNEIGH, flags, af, ifindex, addr, alen);
		req.ndm.ndm_state = NUD_NONE; /* not applied for NTF_USE */
		req.ndm.ndm_flags = NTF_USE;
		err = nl_transact(fd, portid, &req.nh, NULL, NULL);
		if (err == -EEXIST || err == -ENOENT)
			err = -EAGAIN;
	}
	close(fd);
	return err;
}
