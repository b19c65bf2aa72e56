/* netlink_test.c — tests for Sources/CXPF/xpf_netlink.c against the real kernel.
 *
 * Runs as root. The test first moves itself into a fresh network namespace, so
 * every link, route and neighbour it creates vanishes with the process: nothing
 * touches the host and no cleanup is needed even after a crash.
 *
 * Topology:
 *   this namespace                     peer namespace (a child process)
 *   t0 10.99.1.1/24 fd99:1::1/64  <->  t1 10.99.1.2/24 fd99:1::2/64
 * The peer lives in its own namespace (held by a forked child, not `ip netns`,
 * so there is no name in /run/netns to leak) so that resolving 10.99.1.2 really
 * sends ARP / NS over the veth instead of being answered from local addresses.
 *
 * Output: "ok - name" / "not ok - name: detail" per check, then "N passed, N failed".
 */
#define _GNU_SOURCE
#include "xpf_netlink.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int n_pass, n_fail;

static void report(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		n_pass++;
		printf("ok - %s\n", name);
		return;
	}
	n_fail++;
	printf("not ok - %s: ", name);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Runs a shell command; returns true on exit status 0. */
static bool sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("# command failed (status %d): %s\n", st, cmd);
		return false;
	}
	return true;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Parses "10.1.2.3" or "fd00::1" into the ABI's 16-byte form. */
static uint8_t ip(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	fprintf(stderr, "bad address in test: %s\n", s);
	exit(2);
}

static const char *fmt_addr(uint8_t family, const uint8_t a[16], char *buf, size_t len)
{
	inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len);
	return buf;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

/* ------------------------------------------------------------------ peer namespace */

static pid_t peer_pid = -1;
static int peer_ctl = -1; /* our end: closing it tells the peer to exit */

static void peer_stop(void)
{
	if (peer_pid > 0) {
		kill(peer_pid, SIGKILL);
		waitpid(peer_pid, NULL, 0);
		peer_pid = -1;
	}
	if (peer_ctl >= 0) {
		close(peer_ctl);
		peer_ctl = -1;
	}
}

/* Forks a child that unshares its own network namespace and waits. Once the
 * parent has moved t1 into it (by pid), the child configures t1 on command.
 * Returns true when the namespace exists. */
static bool peer_start(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		char st = 1;
		if (getppid() != parent || unshare(CLONE_NEWNET) < 0)
			st = 0;
		if (write(sv[1], &st, 1) != 1 || !st)
			_exit(1);
		char cmd;
		if (read(sv[1], &cmd, 1) != 1)
			_exit(0);
		/* The peer needs no link-local address: it answers from fd99:1::2. */
		st = sh("ip link set lo up && ip link set t1 addrgenmode none && "
			"ip addr add 10.99.1.2/24 brd + dev t1 && "
			"ip -6 addr add fd99:1::2/64 dev t1 nodad && ip link set t1 up");
		if (write(sv[1], &st, 1) != 1)
			_exit(1);
		while (read(sv[1], &cmd, 1) > 0) /* until the parent closes or dies */
			;
		_exit(0);
	}
	close(sv[1]);
	peer_pid = pid;
	peer_ctl = sv[0];
	char st = 0;
	return read(peer_ctl, &st, 1) == 1 && st;
}

static bool peer_configure(void)
{
	char cmd = 'g', st = 0;
	return write(peer_ctl, &cmd, 1) == 1 && read(peer_ctl, &st, 1) == 1 && st;
}

/* ------------------------------------------------------------------ helpers */

static struct xpf_route routes[XPF_MAX_ROUTES];
static struct xpf_neigh neighs[XPF_MAX_NEIGH];
static struct xpf_local_addr addrs[256];

static int find_route(int n, uint8_t fam, const char *dst, uint8_t plen, uint8_t flag_mask,
		      uint8_t flags)
{
	uint8_t d[16];
	ip(dst, d);
	int found = -1;
	for (int i = 0; i < n; i++)
		if (routes[i].family == fam && routes[i].prefix_len == plen &&
		    !memcmp(routes[i].dst, d, 16) && (routes[i].flags & flag_mask) == flags) {
			if (found >= 0)
				return -2; /* duplicate */
			found = i;
		}
	return found;
}

static int find_neigh(int n, const char *addr, uint32_t ifindex)
{
	uint8_t a[16];
	uint8_t fam = ip(addr, a);
	for (int i = 0; i < n; i++)
		if (neighs[i].family == fam && neighs[i].ifindex == ifindex && !memcmp(neighs[i].addr, a, 16))
			return i;
	return -1;
}

static const char *state_name(uint8_t s)
{
	return s == XPF_NEIGH_VALID ? "VALID" : s == XPF_NEIGH_INCOMPLETE ? "INCOMPLETE" :
	       s == XPF_NEIGH_FAILED ? "FAILED" : "?";
}

/* Polls the neighbour dump for up to `ms` until `addr` on `ifindex` is in one
 * of the accepted states (bit per state). Returns its index or -1. */
static int wait_neigh(const char *addr, uint32_t ifindex, unsigned state_mask, int ms, int *n_out)
{
	for (int waited = 0;; waited += 20) {
		int n = xpf_nl_dump_neighbours(neighs, XPF_MAX_NEIGH);
		*n_out = n;
		if (n >= 0) {
			int i = find_neigh(n, addr, ifindex);
			if (i >= 0 && (state_mask & (1u << neighs[i].state)))
				return i;
		}
		if (waited >= ms)
			return -1;
		sleep_ms(20);
	}
}

/* ------------------------------------------------------------------ tests */

struct want_route {
	const char *dst;
	uint8_t plen;
	uint8_t flags;
	bool check_if;     /* ifindex must be t0 */
	const char *gw;    /* NULL: no gateway */
	long metric;       /* -1: any */
};

static void test_routes(uint32_t t0)
{
	char b1[64], b2[64];
	int n = xpf_nl_dump_routes(routes, XPF_MAX_ROUTES);
	report(n > 0, "route dump", "returned %d (%s)", n, n < 0 ? strerror(-n) : "empty");
	if (n <= 0)
		return;

	for (int i = 0; i < n; i++)
		printf("# route %d: v%u %s/%u flags %u if %u metric %u gw %s\n", i, routes[i].family,
		       fmt_addr(routes[i].family, routes[i].dst, b1, sizeof(b1)), routes[i].prefix_len,
		       routes[i].flags, routes[i].ifindex, routes[i].metric,
		       fmt_addr(routes[i].family, routes[i].gateway, b2, sizeof(b2)));

	/* Sorted: family asc, prefix_len desc, metric asc. */
	int bad = -1;
	for (int i = 1; i < n && bad < 0; i++) {
		const struct xpf_route *a = &routes[i - 1], *b = &routes[i];
		bool ok = a->family < b->family ||
			  (a->family == b->family && (a->prefix_len > b->prefix_len ||
			   (a->prefix_len == b->prefix_len && a->metric <= b->metric)));
		if (!ok)
			bad = i;
	}
	report(bad < 0, "routes sorted (family, prefix_len desc, metric)", "entry %d out of order", bad);

	bool shape_ok = true;
	for (int i = 0; i < n; i++) {
		const struct xpf_route *r = &routes[i];
		bool v4tail = true;
		if (r->family == 4)
			for (int k = 4; k < 16; k++)
				v4tail &= r->dst[k] == 0 && r->gateway[k] == 0;
		if (r->iface_slot != 0xff || (r->family != 4 && r->family != 6) || !v4tail ||
		    r->prefix_len > (r->family == 4 ? 32 : 128))
			shape_ok = false;
	}
	report(shape_ok, "route records well-formed (family, slot 0xff, v4 in first 4 bytes)", "see dump above");

	const struct want_route v4[] = {
		{ "10.99.1.0", 24, 0, true, NULL, 0 },                          /* connected */
		{ "10.99.7.0", 24, XPF_ROUTE_GATEWAY, true, "10.99.1.2", -1 },
		{ "10.99.8.0", 24, XPF_ROUTE_BLACKHOLE, false, NULL, -1 },
		{ "10.99.9.0", 24, 0, true, NULL, 100 },                        /* same prefix, */
		{ "10.99.9.0", 24, XPF_ROUTE_GATEWAY, true, "10.99.1.2", 200 }, /* two metrics */
		{ "10.99.10.0", 24, XPF_ROUTE_GATEWAY, true, "10.99.1.2", -1 }, /* multipath */
		{ "10.99.11.0", 24, XPF_ROUTE_BLACKHOLE, false, NULL, -1 },     /* unreachable */
		{ "0.0.0.0", 0, XPF_ROUTE_GATEWAY, true, "10.99.1.2", 500 },    /* default */
	};
	const struct want_route v6[] = {
		{ "fd99:1::", 64, 0, true, NULL, 256 },
		{ "fe80::", 64, 0, true, NULL, 256 },                            /* link-local */
		{ "fd99:7::", 48, XPF_ROUTE_GATEWAY, true, "fd99:1::2", -1 },
		{ "fd99:9::", 48, XPF_ROUTE_GATEWAY, true, "fd99:1::2", -1 },   /* multipath */
		{ "fd99:b::", 48, XPF_ROUTE_BLACKHOLE, false, NULL, -1 },       /* prohibit */
	};
	struct { const struct want_route *w; int n; uint8_t fam; } sets[] = {
		{ v4, (int)(sizeof(v4) / sizeof(v4[0])), 4 }, { v6, (int)(sizeof(v6) / sizeof(v6[0])), 6 },
	};
	for (int s = 0; s < 2; s++) {
		int matched = 0, actual = 0;
		for (int i = 0; i < n; i++)
			if (routes[i].family == sets[s].fam && !(routes[i].flags & XPF_ROUTE_LOCAL))
				actual++;
		for (int k = 0; k < sets[s].n; k++) {
			const struct want_route *w = &sets[s].w[k];
			char name[128];
			int len = snprintf(name, sizeof(name), "route %s/%u", w->dst, w->plen);
			if (w->metric >= 0)
				snprintf(name + len, sizeof(name) - (size_t)len, " metric %ld", w->metric);
			int idx = -1;
			uint8_t d[16];
			ip(w->dst, d);
			for (int i = 0; i < n; i++) {
				const struct xpf_route *r = &routes[i];
				if (r->family == sets[s].fam && r->prefix_len == w->plen && !memcmp(r->dst, d, 16) &&
				    !(r->flags & XPF_ROUTE_LOCAL) && (w->metric < 0 || r->metric == (uint32_t)w->metric))
					idx = i;
			}
			if (idx < 0) {
				report(false, name, "missing");
				continue;
			}
			const struct xpf_route *r = &routes[idx];
			uint8_t g[16] = { 0 };
			if (w->gw)
				ip(w->gw, g);
			const char *why = NULL;
			if (r->flags != w->flags)
				why = "flags";
			else if (w->check_if && r->ifindex != t0)
				why = "ifindex";
			else if (memcmp(r->gateway, g, 16))
				why = "gateway";
			report(!why, name, "wrong %s (flags %u ifindex %u gw %s)", why ? why : "", r->flags,
			       r->ifindex, fmt_addr(r->family, r->gateway, b1, sizeof(b1)));
			if (!why)
				matched++;
		}
		report(actual == sets[s].n, sets[s].fam == 4 ? "exactly the expected IPv4 routes"
							      : "exactly the expected IPv6 routes",
		       "%d non-local routes, expected %d", actual, sets[s].n);
	}

	/* Local table. */
	int i1 = find_route(n, 4, "10.99.1.1", 32, 0xff, XPF_ROUTE_LOCAL);
	report(i1 >= 0 && routes[i1].ifindex == t0, "local route 10.99.1.1/32 flagged LOCAL on t0",
	       "index %d", i1);
	int i2 = find_route(n, 4, "10.99.1.255", 32, 0xff, XPF_ROUTE_LOCAL);
	report(i2 >= 0, "broadcast route 10.99.1.255/32 flagged LOCAL", "index %d", i2);
	int i3 = find_route(n, 6, "fd99:1::1", 128, 0xff, XPF_ROUTE_LOCAL);
	report(i3 >= 0 && routes[i3].ifindex == t0, "local route fd99:1::1/128 flagged LOCAL on t0",
	       "index %d", i3);
	bool local_ok = true;
	for (int i = 0; i < n; i++)
		if ((routes[i].flags & XPF_ROUTE_LOCAL) && (routes[i].flags != XPF_ROUTE_LOCAL ||
		     (routes[i].family == 4 && routes[i].prefix_len != 32) ||
		     (routes[i].family == 6 && routes[i].prefix_len != 128)))
			local_ok = false;
	report(local_ok, "local routes are host routes with only the LOCAL flag", "see dump");
	/* ff00::/8 (RTN_MULTICAST, local table) and table 100 must not appear. */
	report(find_route(n, 6, "ff00::", 8, 0, 0) == -1, "IPv6 multicast route skipped", "present");
	report(find_route(n, 4, "10.99.12.0", 24, 0, 0) == -1, "route in table 100 skipped", "present");

	/* Too small a buffer fails instead of truncating the FIB. */
	int small = xpf_nl_dump_routes(routes, 2);
	report(small == -ENOSPC, "route dump into 2 slots → -ENOSPC", "got %d", small);
	int inval = xpf_nl_dump_routes(NULL, -1);
	report(inval == -EINVAL, "route dump with max -1 → -EINVAL", "got %d", inval);
}

static void test_neighbours(uint32_t t0)
{
	int n = xpf_nl_dump_neighbours(neighs, XPF_MAX_NEIGH);
	report(n >= 2, "neighbour dump", "returned %d", n);
	if (n < 0)
		return;
	const struct { const char *addr, *mac; } perm[] = {
		{ "10.99.1.50", "02:00:00:00:00:50" }, { "fd99:1::50", "02:00:00:00:00:51" },
	};
	for (int k = 0; k < 2; k++) {
		char name[96];
		snprintf(name, sizeof(name), "permanent neighbour %s VALID with its MAC", perm[k].addr);
		uint8_t mac[6];
		parse_mac(perm[k].mac, mac);
		int i = find_neigh(n, perm[k].addr, t0);
		report(i >= 0 && neighs[i].state == XPF_NEIGH_VALID && !memcmp(neighs[i].mac, mac, 6) &&
		       neighs[i].iface_slot == 0xff,
		       name, i < 0 ? "missing" : "state %s slot %u", i < 0 ? "" : state_name(neighs[i].state),
		       i < 0 ? 0 : neighs[i].iface_slot);
	}
	report(find_neigh(n, "10.99.1.2", t0) < 0 && find_neigh(n, "fd99:1::2", t0) < 0,
	       "peer not in the neighbour table before resolve", "already present");
	int small = xpf_nl_dump_neighbours(neighs, 1);
	report(small == -ENOSPC, "neighbour dump into 1 slot → -ENOSPC", "got %d", small);
}

static void test_addrs(uint32_t t0)
{
	int n = xpf_nl_dump_addrs(addrs, 256);
	report(n >= 2, "address dump", "returned %d", n);
	if (n < 0)
		return;
	uint8_t a4[16], b4[16], a6[16];
	ip("10.99.1.1", a4);
	ip("10.99.1.255", b4);
	ip("fd99:1::1", a6);
	int f4 = -1, f6 = -1;
	for (int i = 0; i < n; i++) {
		if (addrs[i].family == 4 && !memcmp(addrs[i].addr, a4, 16))
			f4 = i;
		if (addrs[i].family == 6 && !memcmp(addrs[i].addr, a6, 16))
			f6 = i;
	}
	report(f4 >= 0 && addrs[f4].prefix_len == 24 && addrs[f4].ifindex == t0,
	       "address 10.99.1.1/24 on t0", "index %d", f4);
	report(f4 >= 0 && addrs[f4].has_broadcast && !memcmp(addrs[f4].broadcast, b4, 16),
	       "address 10.99.1.1 has broadcast 10.99.1.255", "index %d", f4);
	report(f6 >= 0 && addrs[f6].prefix_len == 64 && addrs[f6].ifindex == t0 && !addrs[f6].has_broadcast,
	       "address fd99:1::1/64 on t0, no broadcast", "index %d", f6);
}

/* Waits up to `ms` for the monitor fd to become readable, then drains it. */
static int drain_after(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	poll(&p, 1, ms);
	return xpf_nl_drain_monitor(fd);
}

static void test_monitor(void)
{
	int fd = xpf_nl_open_monitor();
	report(fd >= 0, "open monitor", "%d (%s)", fd, fd < 0 ? strerror(-fd) : "");
	if (fd < 0)
		return;
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	report((fl & O_NONBLOCK) && (fdf & FD_CLOEXEC), "monitor is non-blocking and close-on-exec",
	       "fl %#x fd %#x", fl, fdf);

	xpf_nl_drain_monitor(fd); /* whatever the setup left */
	int idle = xpf_nl_drain_monitor(fd);
	report(idle == 0, "monitor idle → 0", "got %d", idle);

	bool added = sh("ip route add 10.99.13.0/24 dev t0");
	int changed = drain_after(fd, 1000);
	report(added && changed == 1, "monitor sees ip route add → 1", "got %d", changed);
	int again = xpf_nl_drain_monitor(fd);
	report(again == 0, "monitor drained → 0", "got %d", again);

	sh("ip neigh add 10.99.1.60 lladdr 02:00:00:00:00:60 dev t0 nud permanent");
	changed = drain_after(fd, 1000);
	report(changed == 1, "monitor sees ip neigh add → 1", "got %d", changed);

	/* Overflow: shrink the buffer, flood it, expect "changed" (not an error)
	 * and a clean state afterwards. */
	int tiny = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny));
	bool flood = sh("for i in $(seq 1 250); do echo route add 10.98.$i.0/24 dev t0; done | ip -batch -");
	changed = drain_after(fd, 1000);
	report(flood && changed == 1, "monitor overflow (ENOBUFS) → 1", "got %d", changed);
	again = xpf_nl_drain_monitor(fd);
	report(again == 0, "monitor after overflow → 0", "got %d", again);
	sh("for i in $(seq 1 250); do echo route del 10.98.$i.0/24 dev t0; done | ip -batch -");

	report(xpf_nl_drain_monitor(-1) == -EBADF, "drain of fd -1 → -EBADF", "");
	close(fd);
}

static void test_resolve(uint32_t t0, const uint8_t peer_mac[6])
{
	uint8_t a[16];
	int n, i;
	unsigned valid = 1u << XPF_NEIGH_VALID, pending = 1u << XPF_NEIGH_INCOMPLETE;

	/* The peer answers over the veth: the entry appears and becomes VALID with
	 * t1's MAC (it can only have learned that from an ARP / NA reply). */
	const char *peers[] = { "10.99.1.2", "fd99:1::2" };
	for (int k = 0; k < 2; k++) {
		char name[96];
		uint8_t fam = ip(peers[k], a);
		int rc = xpf_nl_resolve_neighbour(fam, t0, a);
		snprintf(name, sizeof(name), "resolve %s returns 0", peers[k]);
		report(rc == 0, name, "got %d (%s)", rc, strerror(-rc));
		i = wait_neigh(peers[k], t0, valid | pending, 500, &n);
		snprintf(name, sizeof(name), "resolve %s creates a neighbour entry", peers[k]);
		report(i >= 0, name, "no entry (dump %d)", n);
		if (i >= 0)
			printf("# %s: %s right after resolve\n", peers[k], state_name(neighs[i].state));
		i = wait_neigh(peers[k], t0, valid, 3000, &n);
		snprintf(name, sizeof(name), "%s becomes VALID with the peer's MAC", peers[k]);
		report(i >= 0 && !memcmp(neighs[i].mac, peer_mac, 6), name, "index %d", i);
	}

	/* Nobody owns 10.99.1.77: the entry must be INCOMPLETE (probing). */
	ip("10.99.1.77", a);
	int rc = xpf_nl_resolve_neighbour(4, t0, a);
	i = wait_neigh("10.99.1.77", t0, pending, 500, &n);
	report(rc == 0 && i >= 0, "resolve of a silent address → INCOMPLETE", "rc %d index %d", rc, i);

	/* Resolving a PERMANENT entry must leave it alone (NTF_USE on this kernel
	 * would demote it to INCOMPLETE). */
	uint8_t mac50[6];
	parse_mac("02:00:00:00:00:50", mac50);
	ip("10.99.1.50", a);
	rc = xpf_nl_resolve_neighbour(4, t0, a);
	sleep_ms(50);
	n = xpf_nl_dump_neighbours(neighs, XPF_MAX_NEIGH);
	i = n >= 0 ? find_neigh(n, "10.99.1.50", t0) : -1;
	report(rc == 0 && i >= 0 && neighs[i].state == XPF_NEIGH_VALID && !memcmp(neighs[i].mac, mac50, 6) &&
	       sh("ip neigh show 10.99.1.50 dev t0 | grep -q PERMANENT"),
	       "resolve leaves a PERMANENT entry untouched", "rc %d index %d", rc, i);

	rc = xpf_nl_resolve_neighbour(5, t0, a);
	report(rc == -EAFNOSUPPORT, "resolve family 5 → -EAFNOSUPPORT", "got %d", rc);
	rc = xpf_nl_resolve_neighbour(4, 0, a);
	report(rc == -ENODEV, "resolve ifindex 0 → -ENODEV", "got %d", rc);
	rc = xpf_nl_resolve_neighbour(4, 999999, a);
	report(rc == -ENODEV, "resolve unknown ifindex → -ENODEV", "got %d", rc);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (unshare(CLONE_NEWNET) < 0) {
		report(false, "unshare(CLONE_NEWNET)", "%s (run as root)", strerror(errno));
		printf("%d passed, %d failed\n", n_pass, n_fail);
		return 1;
	}
	atexit(peer_stop);

	/* Set up; every step is a check so a broken environment is visible. */
	/* t1 gets a fixed MAC so the test knows what a resolved entry must hold. */
	const char *peer_mac_str = "02:00:00:00:01:02";
	uint8_t peer_mac[6];
	parse_mac(peer_mac_str, peer_mac);
	bool ok = sh("ip link add t0 type veth peer name t1 address %s", peer_mac_str);
	ok = ok && peer_start();
	ok = ok && sh("ip link set t1 netns %d", (int)peer_pid) && peer_configure();
	/* t0 keeps its link-local address (the kernel sources a neighbour
	 * solicitation that no packet triggered from it, so without one IPv6
	 * resolution never starts); DAD is off so it is usable at once. */
	ok = ok && sh("sysctl -qw net.ipv6.conf.t0.accept_dad=0 && "
		      "ip addr add 10.99.1.1/24 brd + dev t0 && "
		      "ip -6 addr add fd99:1::1/64 dev t0 nodad && ip link set t0 up");
	ok = ok && sh("ip route add 10.99.7.0/24 via 10.99.1.2 && "
		      "ip route add blackhole 10.99.8.0/24 && "
		      "ip route add 10.99.9.0/24 dev t0 metric 100 && "
		      "ip route add 10.99.9.0/24 via 10.99.1.2 metric 200 && "
		      "ip route add 10.99.10.0/24 nexthop via 10.99.1.2 dev t0 nexthop via 10.99.1.3 dev t0 && "
		      "ip route add unreachable 10.99.11.0/24 && "
		      "ip route add 10.99.12.0/24 dev t0 table 100 && "
		      "ip route add default via 10.99.1.2 metric 500");
	ok = ok && sh("ip -6 route add fd99:7::/48 via fd99:1::2 && "
		      "ip -6 route add fd99:9::/48 nexthop via fd99:1::2 dev t0 nexthop via fd99:1::3 dev t0 && "
		      "ip -6 route add prohibit fd99:b::/48");
	ok = ok && sh("ip neigh add 10.99.1.50 lladdr 02:00:00:00:00:50 dev t0 nud permanent && "
		      "ip -6 neigh add fd99:1::50 lladdr 02:00:00:00:00:51 dev t0 nud permanent");
	report(ok, "setup (netns, veth t0/t1 with peer namespace, routes, neighbours)", "see above");
	uint32_t t0 = if_nametoindex("t0");
	if (!ok || !t0) {
		printf("%d passed, %d failed\n", n_pass, n_fail);
		return 1;
	}

	int fds_before = count_fds();
	test_routes(t0);
	test_neighbours(t0);
	test_addrs(t0);
	test_monitor();
	test_resolve(t0, peer_mac);
	int fds_after = count_fds();
	report(fds_before >= 0 && fds_before == fds_after, "no descriptor leaked", "%d before, %d after",
	       fds_before, fds_after);

	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
