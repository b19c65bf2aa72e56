// SPDX-License-Identifier: GPL-2.0
/* xdp_test.c — verdict tests for bpf/xpf_xdp.c.
 *
 * Loads the object with libbpf (which runs the verifier), fills the maps the way
 * xpfd would, and runs the program on crafted frames with BPF_PROG_TEST_RUN.
 * Each case checks the XDP action and the exact change of every counter
 * (summed over CPUs): RX_TOTAL and the verdict's own counter go up by one,
 * everything else stays put.
 *
 * Runs in a private network namespace (unshare(CLONE_NEWNET)), so the veth
 * pairs it creates vanish with the process and nothing needs cleaning up.
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN).
 *
 * The host-inbound cases come from Tests/bpf/host_inbound_corpus.txt, which the Swift
 * matcher (HostInboundTableTests) runs too: each table's `entry` lines go into the
 * host_inbound map as xpfd would write them, each case becomes a frame to a local address.
 *
 * The junos-host cases come from Tests/bpf/junos_host_corpus.txt, which the Swift matcher
 * (JunosHostTableTests) runs too: each table's `prefix`, `term` and `policy` lines go into the
 * junos_host map as xpfd would write them, each case becomes a frame to a local address that
 * the host-inbound table admits through an entry.
 *
 * The host-bound firewall filter cases come from Tests/bpf/host_filter_corpus.txt (format:
 * the file's header), shared with HostFilterTableTests.swift: each table's lines go into
 * host_filters bank 0 (its policers into host_filter_policers), each case becomes a frame
 * to a local address on its slot's interface, checked for its action, counter and the
 * filter hit rows it moved. Replies, DSCP rewrites, logs and policers have C-built cases
 * besides (host_filter_cases), which read the frame out and the log ring.
 *
 * Usage: xdp_test [path/to/xpf_xdp.o [path/to/host_inbound_corpus.txt
 *                 [path/to/junos_host_corpus.txt [path/to/host_filter_corpus.txt]]]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "xpf_bpf_abi.h"

/* Interfaces used by the tests. The multi-queue veth exists to exercise the
 * queue bound: its queue XPF_MAX_QUEUES would alias slot+1's queue 0. */
#define VETH_A "xpft0"	     /* dataplane, slot SLOT_A, 1 queue, gets a socket */
#define VETH_A_PEER "xpft1"  /* never registered: "not dataplane" */
#define VETH_MQ "xpftm0"     /* dataplane, slot SLOT_MQ, many queues */
#define VETH_MQ_PEER "xpftm1"
#define MQ_QUEUES (XPF_MAX_QUEUES + 8)
#define SLOT_MQ 0
#define SLOT_A 1 /* = SLOT_MQ + 1, so (SLOT_MQ, XPF_MAX_QUEUES) aliases (SLOT_A, 0) */
#define SLOT_LO 2
#define ICMP_DEST_UNREACH_TYPE 3

static int passed, failed;

static struct {
	int prog;
	int counters;
	int if_slots;
	int local_addrs;
	int xsks;
	int host_inbound;
	int host_inbound_bank;
	int junos_host;
	int junos_host_out;
	int host_flows;
	int tc_prog;
} fd;

static int ncpus;
static unsigned lo_ifindex, a_ifindex, a_peer_ifindex, mq_ifindex;

static void ok(const char *name)
{
	printf("ok - %s\n", name);
	passed++;
}

static void not_ok(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* Warnings include the verifier log when a load fails; debug is noise. */
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static const char *ctr_name(int i)
{
	static const char *names[XPF_XDP_CTR_MAX] = {
		[XPF_XDP_RX_TOTAL] = "RX_TOTAL",
		[XPF_XDP_REDIRECT] = "REDIRECT",
		[XPF_XDP_PASS_NOT_IP] = "PASS_NOT_IP",
		[XPF_XDP_PASS_LOCAL] = "PASS_LOCAL",
		[XPF_XDP_PASS_CONTROL] = "PASS_CONTROL",
		[XPF_XDP_DROP_NO_WORKER] = "DROP_NO_WORKER",
		[XPF_XDP_ERR_PARSE] = "ERR_PARSE",
		[XPF_XDP_PASS_NOT_DATAPLANE] = "PASS_NOT_DATAPLANE",
		[XPF_XDP_REDIRECT_FAILED] = "REDIRECT_FAILED",
		[XPF_XDP_DROP_HOST_INBOUND] = "DROP_HOST_INBOUND",
		[XPF_XDP_DROP_HOST_POLICY] = "DROP_HOST_POLICY",
		[XPF_XDP_DROP_HOST_OUTBOUND] = "DROP_HOST_OUTBOUND",
		[XPF_XDP_DROP_HOST_FILTER] = "DROP_HOST_FILTER",
		[XPF_XDP_DROP_HOST_POLICER] = "DROP_HOST_POLICER",
		[XPF_XDP_TX_HOST_REJECT] = "TX_HOST_REJECT",
		[XPF_XDP_HOST_LOG_LOST] = "HOST_LOG_LOST",
	};
	return names[i] ? names[i] : "?";
}

static const char *action_name(int a)
{
	switch (a) {
	case XDP_ABORTED: return "XDP_ABORTED";
	case XDP_DROP: return "XDP_DROP";
	case XDP_PASS: return "XDP_PASS";
	case XDP_TX: return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	default: return "?";
	}
}

/* Reads all counters, each summed over the possible CPUs. */
static int read_counters(uint64_t out[XPF_XDP_CTR_MAX])
{
	uint64_t percpu[ncpus];

	for (uint32_t i = 0; i < XPF_XDP_CTR_MAX; i++) {
		if (bpf_map_lookup_elem(fd.counters, &i, percpu))
			return -errno;
		out[i] = 0;
		for (int c = 0; c < ncpus; c++)
			out[i] += percpu[c];
	}
	return 0;
}

/* ---- frame construction ------------------------------------------------ */

struct frame {
	uint8_t b[256];
	size_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put16(struct frame *f, uint16_t v)
{
	v = htons(v);
	put(f, &v, 2);
}

static void eth(struct frame *f, uint16_t ethertype)
{
	static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x02};

	f->len = 0;
	put(f, dst, 6);
	put(f, src, 6);
	put16(f, ethertype);
}

static void vlan(struct frame *f, uint16_t vid, uint16_t inner)
{
	put16(f, vid);
	put16(f, inner);
}

/* IPv4 header (checksum left zero: the program does not look at it) followed by
 * an 8-byte UDP header; `ihl` lets a case claim options that are not there. */
static void ipv4(struct frame *f, const char *src, const char *dst, uint8_t ihl)
{
	uint8_t h[20] = {0};

	h[0] = 0x40 | ihl;
	h[3] = 28; /* total length */
	h[8] = 64; /* TTL */
	h[9] = IPPROTO_UDP;
	inet_pton(AF_INET, src, h + 12);
	inet_pton(AF_INET, dst, h + 16);
	put(f, h, sizeof(h));
	put(f, (uint8_t[8]){0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0, 0}, 8);
}

/* IPv6 fixed header followed by an 8-byte payload whose first byte is
 * `first` (the ICMPv6 type when next_header is 58). */
static void ipv6(struct frame *f, const char *src, const char *dst, uint8_t next_header,
		 uint8_t first)
{
	uint8_t h[40] = {0};
	uint8_t payload[8] = {first};

	h[0] = 0x60;
	h[5] = sizeof(payload); /* payload length */
	h[6] = next_header;
	h[7] = 255; /* hop limit (NDP requires 255) */
	inet_pton(AF_INET6, src, h + 8);
	inet_pton(AF_INET6, dst, h + 24);
	put(f, h, sizeof(h));
	put(f, payload, sizeof(payload));
}

static void arp_request(struct frame *f)
{
	uint8_t body[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};

	eth(f, ETH_P_ARP);
	put(f, body, sizeof(body));
}

/* ---- running one case --------------------------------------------------- */

struct run {
	unsigned ifindex;
	unsigned queue;
};

static int test_run(const struct frame *f, const struct run *r, int *action)
{
	struct xdp_md md = {
		.data_end = f->len,
		.ingress_ifindex = r->ifindex,
		.rx_queue_index = r->queue,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f->b,
		.data_size_in = f->len,
		.ctx_in = &md,
		.ctx_size_in = sizeof(md),
		.repeat = 1,
	);

	if (bpf_prog_test_run_opts(fd.prog, &opts))
		return -errno;
	*action = opts.retval;
	return 0;
}

/* Runs `f` once and checks the action and that exactly RX_TOTAL and
 * `counter` moved, each by one. */
static void expect(const char *name, const struct frame *f, const struct run *r,
		   int want_action, int counter)
{
	uint64_t before[XPF_XDP_CTR_MAX], after[XPF_XDP_CTR_MAX];
	char detail[512] = "";
	size_t n = 0;
	int action = -1, err;

	if ((err = read_counters(before)) || (err = test_run(f, r, &action)) ||
	    (err = read_counters(after))) {
		not_ok(name, "test_run/counters: %s", strerror(-err));
		return;
	}
	if (action != want_action)
		n += snprintf(detail + n, sizeof(detail) - n, "action %s (%d), want %s; ",
			      action_name(action), action, action_name(want_action));
	for (int i = 0; i < XPF_XDP_CTR_MAX; i++) {
		uint64_t want = (i == XPF_XDP_RX_TOTAL || i == counter) ? 1 : 0;
		uint64_t got = after[i] - before[i];

		if (got != want && n < sizeof(detail))
			n += snprintf(detail + n, sizeof(detail) - n, "%s +%llu, want +%llu; ",
				      ctr_name(i), (unsigned long long)got,
				      (unsigned long long)want);
	}
	if (n)
		not_ok(name, "%s", detail);
	else
		ok(name);
}

/* ---- setup -------------------------------------------------------------- */

static int set_slot(unsigned ifindex, uint32_t slot)
{
	struct xpf_if_slot v = {.slot = slot};
	uint32_t k = ifindex;

	return bpf_map_update_elem(fd.if_slots, &k, &v, BPF_ANY) ? -errno : 0;
}

/* Writes `t` for `slot` into `bank` of host_inbound. */
static int set_host_inbound(uint32_t bank, uint32_t slot, const struct xpf_host_inbound *t)
{
	uint32_t k = bank * XPF_MAX_IFACES + slot;

	return bpf_map_update_elem(fd.host_inbound, &k, t, BPF_ANY) ? -errno : 0;
}

static int set_host_inbound_bank(uint32_t bank)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(fd.host_inbound_bank, &zero, &bank, BPF_ANY) ? -errno : 0;
}

/* The triage cases send UDP to local addresses; their slots admit all UDP. */
static int admit_udp(uint32_t slot)
{
	struct xpf_host_inbound t = {
		.flags = XPF_HOST_INBOUND_F_ZONE,
		.n_entries = 1,
		.entries[0] = {.protocol = IPPROTO_UDP,
			       .families = XPF_HOST_INBOUND_FAMILY_INET | XPF_HOST_INBOUND_FAMILY_INET6,
			       .port_first = 0, .port_last = 0xffff},
	};

	return set_host_inbound(0, slot, &t);
}

static int add_local(int family, const char *text)
{
	struct xpf_addr_key k = {.family = family == AF_INET ? 4 : 6};
	uint32_t owner = lo_ifindex;

	if (inet_pton(family, text, k.addr) != 1)
		return -EINVAL;
	return bpf_map_update_elem(fd.local_addrs, &k, &owner, BPF_ANY) ? -errno : 0;
}

/* Finds xpf_abi_version through BTF (the .rodata DATASEC gives its offset)
 * and reads it from the kernel's copy of .rodata, i.e. what the loaded
 * program actually sees. */
static void check_abi_version(struct bpf_object *obj)
{
	const char *name = "abi version global equals XPF_BPF_ABI_VERSION";
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	uint8_t *image;
	uint32_t zero = 0, version;
	int id, found = -1;

	if (!rodata || !btf) {
		not_ok(name, "no .rodata map or no BTF in the object");
		return;
	}
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0) {
		not_ok(name, "no .rodata DATASEC in BTF");
		return;
	}
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), "xpf_abi_version") == 0 &&
		    vs->size == sizeof(version))
			found = vs->offset;
	}
	if (found < 0) {
		not_ok(name, "xpf_abi_version (4 bytes) not in .rodata");
		return;
	}
	image = calloc(1, bpf_map__value_size(rodata));
	if (!image || bpf_map_lookup_elem(bpf_map__fd(rodata), &zero, image)) {
		not_ok(name, "reading .rodata: %s", strerror(errno));
		free(image);
		return;
	}
	memcpy(&version, image + found, sizeof(version));
	free(image);
	if (version != XPF_BPF_ABI_VERSION)
		not_ok(name, "got %u, want %u", version, XPF_BPF_ABI_VERSION);
	else
		ok(name);
}

static int make_veth(const char *a, const char *b, unsigned queues)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "ip link add %s numtxqueues %u numrxqueues %u type veth peer name %s && "
		 "ip link set %s up && ip link set %s up",
		 a, queues, queues, b, a, b);
	return system(cmd) == 0 ? 0 : -1;
}

/* An AF_XDP socket bound to (ifindex, queue 0) without libxdp loading its own
 * XDP program: the test only needs a live socket to put into xsks_map. */
struct xsk_ctx {
	void *area;
	size_t area_size;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
	struct xsk_ring_prod tx;
};

static int open_xsk(struct xsk_ctx *x, const char *ifname)
{
	const struct xsk_socket_config cfg = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	};
	int err;

	x->area_size = (size_t)XSK_RING_PROD__DEFAULT_NUM_DESCS * 2 * XSK_UMEM__DEFAULT_FRAME_SIZE;
	x->area = mmap(NULL, x->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (x->area == MAP_FAILED)
		return -errno;
	err = xsk_umem__create(&x->umem, x->area, x->area_size, &x->fill, &x->comp, NULL);
	if (err)
		return err;
	return xsk_socket__create(&x->xsk, ifname, 0, x->umem, &x->rx, &x->tx, &cfg);
}

static void close_xsk(struct xsk_ctx *x)
{
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area && x->area != MAP_FAILED)
		munmap(x->area, x->area_size);
	memset(x, 0, sizeof(*x));
}

/* ---- cases -------------------------------------------------------------- */

/* test_run rejects (EINVAL) any frame shorter than an Ethernet header once
 * the metadata is taken off, so the program's short-frame branch cannot be
 * reached from here; only the verifier (which insists on the bounds check)
 * covers it. Should a kernel ever accept such a frame, it is checked like any
 * other case. */
static void truncated_ethernet_case(const struct run *r)
{
	const char *name = "truncated Ethernet -> PASS, ERR_PARSE";
	struct frame f;
	int action;

	eth(&f, ETH_P_IP);
	f.len = ETH_HLEN - 1;
	if (test_run(&f, r, &action) == -EINVAL) {
		ok("truncated Ethernet: kernel refuses test_run frames < ETH_HLEN (EINVAL), "
		   "branch covered by the verifier only");
		return;
	}
	expect(name, &f, r, XDP_PASS, XPF_XDP_ERR_PARSE);
}

static void verdict_cases(void)
{
	const struct run lo = {.ifindex = lo_ifindex};
	struct frame f;

	arp_request(&f);
	expect("ARP -> PASS, PASS_NOT_IP", &f, &lo, XDP_PASS, XPF_XDP_PASS_NOT_IP);

	truncated_ethernet_case(&lo);

	eth(&f, ETH_P_8021Q);
	put16(&f, 10); /* TCI only, the inner ethertype is missing */
	expect("truncated VLAN tag -> PASS, ERR_PARSE", &f, &lo, XDP_PASS, XPF_XDP_ERR_PARSE);

	eth(&f, ETH_P_IP);
	put(&f, (uint8_t[10]){0x45}, 10);
	expect("truncated IPv4 header -> PASS, ERR_PARSE", &f, &lo, XDP_PASS,
	       XPF_XDP_ERR_PARSE);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 15); /* claims 60 bytes of header */
	put(&f, (uint8_t[12]){0}, 12);		     /* but only 40 bytes of IP follow */
	expect("IPv4 options past end of frame -> PASS, ERR_PARSE", &f, &lo, XDP_PASS,
	       XPF_XDP_ERR_PARSE);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 4);
	expect("IPv4 header length < 20 -> PASS, ERR_PARSE", &f, &lo, XDP_PASS,
	       XPF_XDP_ERR_PARSE);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "192.0.2.1", 5);
	expect("IPv4 to local address -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "192.0.2.255", 5);
	expect("IPv4 to local subnet broadcast -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "224.0.0.5", 5);
	expect("IPv4 multicast -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS, XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IP);
	ipv4(&f, "0.0.0.0", "255.255.255.255", 5);
	expect("IPv4 limited broadcast -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IPV6);
	put(&f, (uint8_t[20]){0x60}, 20);
	expect("truncated IPv6 header -> PASS, ERR_PARSE", &f, &lo, XDP_PASS, XPF_XDP_ERR_PARSE);

	/* Unicast NS (neighbour unreachability detection) to a global address
	 * that is not the box's: only the ICMPv6 type check can catch it. */
	eth(&f, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8:2::9", IPPROTO_ICMPV6, 135);
	expect("IPv6 unicast NS (ICMPv6 135) -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "fe80::7", "ff02::1:ff00:9", IPPROTO_ICMPV6, 135);
	expect("IPv6 NS to solicited-node multicast -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8:2::9", IPPROTO_ICMPV6, 128); /* echo request */
	expect("IPv6 transit ICMPv6 echo -> DROP, DROP_NO_WORKER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "fe80::7", "fe80::1", IPPROTO_UDP, 0);
	expect("IPv6 link-local destination, not the box's -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_CONTROL);

	/* The box's own link-local address meets host-inbound-traffic like any other. */
	eth(&f, ETH_P_IPV6);
	ipv6(&f, "fe80::7", "fe80::b0c5", IPPROTO_UDP, 0);
	expect("IPv6 to the box's link-local address (UDP admitted) -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);
	eth(&f, ETH_P_IPV6);
	ipv6(&f, "fe80::7", "fe80::b0c5", IPPROTO_ICMPV6, 128);
	expect("IPv6 echo to the box's link-local address (not admitted) -> DROP, DROP_HOST_INBOUND", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_INBOUND);
	eth(&f, ETH_P_IPV6);
	ipv6(&f, "fe80::7", "fe80::b0c5", IPPROTO_ICMPV6, 135);
	expect("IPv6 unicast NS to the box's link-local address -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "ff05::2", IPPROTO_UDP, 0);
	expect("IPv6 multicast -> PASS, PASS_CONTROL", &f, &lo, XDP_PASS, XPF_XDP_PASS_CONTROL);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8::1", IPPROTO_UDP, 0);
	expect("IPv6 to local address -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("IPv4 transit, no socket -> DROP, DROP_NO_WORKER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);

	eth(&f, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8:2::9", IPPROTO_UDP, 0);
	expect("IPv6 transit, no socket -> DROP, DROP_NO_WORKER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);

	eth(&f, ETH_P_8021Q);
	vlan(&f, 100, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("802.1Q IPv4 transit, no socket -> DROP, DROP_NO_WORKER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);

	eth(&f, ETH_P_8021AD);
	vlan(&f, 200, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8::1", IPPROTO_UDP, 0);
	expect("802.1ad IPv6 to local address -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);

	/* Q-in-Q: only one tag is looked through, the next ethertype is a tag. */
	eth(&f, ETH_P_8021AD);
	vlan(&f, 200, ETH_P_8021Q);
	vlan(&f, 100, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("double-tagged frame -> PASS, PASS_NOT_IP", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_NOT_IP);
}

static void interface_cases(void)
{
	struct xsk_ctx x = {0};
	struct frame f;
	uint32_t key;
	int xsk_fd, err;

	if (!a_ifindex || !mq_ifindex) {
		not_ok("veth setup", "could not create veth pairs (needs ip(8) and CAP_NET_ADMIN)");
		return;
	}

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("unregistered ifindex -> PASS, PASS_NOT_DATAPLANE", &f,
	       &(struct run){.ifindex = a_peer_ifindex}, XDP_PASS, XPF_XDP_PASS_NOT_DATAPLANE);

	/* The interface check comes before the protocol check: a foreign
	 * interface's ARP is "not dataplane", not "not IP". */
	arp_request(&f);
	expect("ARP on unregistered ifindex -> PASS, PASS_NOT_DATAPLANE", &f,
	       &(struct run){.ifindex = a_peer_ifindex}, XDP_PASS, XPF_XDP_PASS_NOT_DATAPLANE);

	err = open_xsk(&x, VETH_A);
	if (err) {
		not_ok("AF_XDP socket on " VETH_A " queue 0", "%s", strerror(-err));
		close_xsk(&x);
		return;
	}
	ok("AF_XDP socket on " VETH_A " queue 0");

	xsk_fd = xsk_socket__fd(x.xsk);
	key = XPF_XSKMAP_KEY(SLOT_A, 0);
	if (bpf_map_update_elem(fd.xsks, &key, &xsk_fd, BPF_ANY)) {
		not_ok("socket into xsks_map", "%s", strerror(errno));
		close_xsk(&x);
		return;
	}
	ok("socket into xsks_map");

	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("IPv4 transit with worker socket -> REDIRECT", &f,
	       &(struct run){.ifindex = a_ifindex}, XDP_REDIRECT, XPF_XDP_REDIRECT);

	eth(&f, ETH_P_8021Q);
	vlan(&f, 100, ETH_P_IPV6);
	ipv6(&f, "2001:db8:1::7", "2001:db8:2::9", IPPROTO_TCP, 0);
	expect("802.1Q IPv6 transit with worker socket -> REDIRECT", &f,
	       &(struct run){.ifindex = a_ifindex}, XDP_REDIRECT, XPF_XDP_REDIRECT);

	/* Other interfaces' queues must not reach this socket. Queue
	 * XPF_MAX_QUEUES of slot SLOT_MQ would compute the same key as
	 * (SLOT_A, 0) if the program did not bound the queue index. */
	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("queue 0 of another slot -> DROP, DROP_NO_WORKER", &f,
	       &(struct run){.ifindex = mq_ifindex, .queue = 0}, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);
	expect("queue >= XPF_MAX_QUEUES does not alias the next slot -> DROP, DROP_NO_WORKER",
	       &f, &(struct run){.ifindex = mq_ifindex, .queue = XPF_MAX_QUEUES}, XDP_DROP,
	       XPF_XDP_DROP_NO_WORKER);

	/* Local traffic stays with the kernel even when a worker is present. */
	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "192.0.2.1", 5);
	expect("IPv4 to local address with worker socket -> PASS, PASS_LOCAL", &f,
	       &(struct run){.ifindex = a_ifindex}, XDP_PASS, XPF_XDP_PASS_LOCAL);

	/* A worker that dies closes its socket; the kernel then removes the
	 * xsks_map entry by itself and transit fails closed. */
	close_xsk(&x);
	eth(&f, ETH_P_IP);
	ipv4(&f, "198.51.100.7", "203.0.113.9", 5);
	expect("transit after the worker's socket closed -> DROP, DROP_NO_WORKER", &f,
	       &(struct run){.ifindex = a_ifindex}, XDP_DROP, XPF_XDP_DROP_NO_WORKER);
}

/* ---- host-inbound corpus ------------------------------------------------ */

#define CORPUS_MAX_TABLES 16
#define CORPUS_NAME_MAX 32
#define L4_MAX 40		/* bytes of upper-layer header built before cutting */
#define LATER_FRAGMENT_OFFSET 185 /* any non-zero offset, in 8-byte units */
#define IPV4_MF 0x2000
#define IPV6_FRAG_M 0x0001

struct corpus_table {
	char name[CORPUS_NAME_MAX];
	struct xpf_host_inbound t;
};

static struct corpus_table tables[CORPUS_MAX_TABLES];
static int n_tables;

static struct corpus_table *find_table(const char *name)
{
	for (int i = 0; i < n_tables; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

static uint8_t tcp_flags(const char *letters)
{
	uint8_t f = 0;

	for (const char *c = letters; *c; c++) {
		switch (*c) {
		case 'F': f |= 0x01; break;
		case 'S': f |= 0x02; break;
		case 'R': f |= 0x04; break;
		case 'P': f |= 0x08; break;
		case 'A': f |= 0x10; break;
		case 'U': f |= 0x20; break;
		}
	}
	return f;
}

/* The upper-layer header of a case, whole: TCP (ports, flags), UDP (ports), ICMP (type),
 * zeros for anything else. */
#define CORPUS_SOURCE_PORT 40000 /* the source port of every corpus frame */

static void l4_header(uint8_t out[L4_MAX], int family, unsigned proto, unsigned port,
		      const char *flags)
{
	memset(out, 0, L4_MAX);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		out[0] = CORPUS_SOURCE_PORT >> 8;
		out[1] = CORPUS_SOURCE_PORT & 0xff;
		out[2] = port >> 8;
		out[3] = port & 0xff;
		if (proto == IPPROTO_TCP) {
			out[12] = 5 << 4; /* data offset */
			out[13] = tcp_flags(flags);
		}
	} else if ((proto == IPPROTO_ICMP && family == 4) ||
		   (proto == IPPROTO_ICMPV6 && family == 6)) {
		out[0] = port;
	}
}

/* A frame to the box (192.0.2.1 / 2001:db8::1, both in local_addrs) as the case says. */
static void corpus_frame(struct frame *f, int family, unsigned proto, unsigned port,
			 const char *flags, const char *fragment, int ext, int l4_bytes)
{
	uint8_t l4[L4_MAX];

	l4_header(l4, family, proto, port, flags);
	if (family == 4) {
		uint8_t h[20] = {0};
		uint16_t frag = 0;

		if (strcmp(fragment, "first") == 0)
			frag = IPV4_MF;
		else if (strcmp(fragment, "later") == 0)
			frag = LATER_FRAGMENT_OFFSET;
		eth(f, ETH_P_IP);
		h[0] = 0x45;
		h[2] = (20 + l4_bytes) >> 8;
		h[3] = (20 + l4_bytes) & 0xff;
		h[6] = frag >> 8;
		h[7] = frag & 0xff;
		h[8] = 64;
		h[9] = proto;
		inet_pton(AF_INET, "198.51.100.7", h + 12);
		inet_pton(AF_INET, "192.0.2.1", h + 16);
		put(f, h, sizeof(h));
	} else {
		uint8_t h[40] = {0};
		int frag_header = strcmp(fragment, "none") != 0;
		int payload = (ext + frag_header) * 8 + l4_bytes;
		uint8_t next = ext ? IPPROTO_DSTOPTS : frag_header ? IPPROTO_FRAGMENT : proto;

		eth(f, ETH_P_IPV6);
		h[0] = 0x60;
		h[4] = payload >> 8;
		h[5] = payload & 0xff;
		h[6] = next;
		h[7] = 64;
		inet_pton(AF_INET6, "2001:db8:1::7", h + 8);
		inet_pton(AF_INET6, "2001:db8::1", h + 24);
		put(f, h, sizeof(h));
		for (int i = 0; i < ext; i++) {
			/* Destination options, length 0 (8 bytes), one PadN option. */
			uint8_t d[8] = {i + 1 < ext ? IPPROTO_DSTOPTS : frag_header ? IPPROTO_FRAGMENT : proto,
					0, 1, 4};
			put(f, d, sizeof(d));
		}
		if (frag_header) {
			uint16_t off = strcmp(fragment, "later") == 0 ? LATER_FRAGMENT_OFFSET << 3
								      : IPV6_FRAG_M;
			uint8_t fh[8] = {proto, 0, off >> 8, off & 0xff, 0, 0, 0, 1};
			put(f, fh, sizeof(fh));
		}
	}
	put(f, l4, l4_bytes);
}

/* The host_flows key of the flow a corpus frame (corpus_frame) replies to: the box's
 * address and `port`, the frame's source address and port. */
static struct xpf_host_flow corpus_flow(int family, unsigned proto, unsigned port)
{
	struct xpf_host_flow k = {.family = family, .protocol = proto, .local_port = port,
				  .remote_port = CORPUS_SOURCE_PORT};

	inet_pton(family == 4 ? AF_INET : AF_INET6, family == 4 ? "192.0.2.1" : "2001:db8::1", k.local);
	inet_pton(family == 4 ? AF_INET : AF_INET6, family == 4 ? "198.51.100.7" : "2001:db8:1::7", k.remote);
	return k;
}

/* Reads the corpus: `table` lines start a table (zone flag, reply ports), `entry` lines
 * fill it, `case` and `reply` lines run at once with the table written into SLOT_LO of
 * bank 0 — a `reply` with its flow in host_flows for the run. */
static void corpus_cases(const char *path)
{
	const struct run lo = {.ifindex = lo_ifindex};
	FILE *in = fopen(path, "r");
	char line[256];
	int lineno = 0, cases = 0, err;

	if (!in) {
		not_ok("host-inbound corpus", "open %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), in)) {
		char kind[8], name[CORPUS_NAME_MAX], a[8], b[128], c[128], flags[8], fragment[8],
			verdict[8];
		unsigned u1, u2, u3, u4;
		int family, ext, l4_bytes;
		struct corpus_table *t;

		lineno++;
		if (line[0] == '#' || line[0] == '\n' || sscanf(line, "%7s", kind) != 1)
			continue;
		if (strcmp(kind, "table") == 0 &&
		    sscanf(line, "table %31s %7s %127s %127s %u %u", name, a, b, c, &u1, &u2) == 6 &&
		    n_tables < CORPUS_MAX_TABLES) {
			t = &tables[n_tables++];
			memset(t, 0, sizeof(*t));
			snprintf(t->name, sizeof(t->name), "%s", name);
			t->t.flags = strcmp(a, "zone") == 0 ? XPF_HOST_INBOUND_F_ZONE : 0;
			t->t.reply_port_first = u1;
			t->t.reply_port_last = u2;
		} else if (strcmp(kind, "entry") == 0 &&
			   sscanf(line, "entry %31s %u %u %u %u", name, &u1, &u2, &u3, &u4) == 5 &&
			   (t = find_table(name)) && t->t.n_entries < XPF_HOST_INBOUND_MAX_ENTRIES) {
			t->t.entries[t->t.n_entries++] = (struct xpf_host_inbound_entry){
				.protocol = u1, .families = u2, .port_first = u3, .port_last = u4};
		} else if ((strcmp(kind, "case") == 0 || strcmp(kind, "reply") == 0) &&
			   sscanf(line, "%*s %31s %d %u %u %7s %7s %d %d %7s", name, &family, &u1,
				  &u2, flags, fragment, &ext, &l4_bytes, verdict) == 9 &&
			   (t = find_table(name))) {
			char title[320];
			struct frame f;
			int admit = strcmp(verdict, "admit") == 0, reply = strcmp(kind, "reply") == 0;
			struct xpf_host_flow flow = corpus_flow(family, u1, u2);
			__u32 one = 1;

			if ((err = set_host_inbound(0, SLOT_LO, &t->t)) ||
			    (reply && bpf_map_update_elem(fd.host_flows, &flow, &one, BPF_ANY) && (err = -errno))) {
				not_ok("host-inbound corpus", "line %d: map update: %s", lineno,
				       strerror(-err));
				break;
			}
			corpus_frame(&f, family, u1, u2, flags, fragment, ext, l4_bytes);
			line[strcspn(line, "\n")] = 0;
			snprintf(title, sizeof(title), "corpus line %d (%s) -> %s", lineno, line,
				 admit ? "PASS, PASS_LOCAL" : "DROP, DROP_HOST_INBOUND");
			expect(title, &f, &lo, admit ? XDP_PASS : XDP_DROP,
			       admit ? XPF_XDP_PASS_LOCAL : XPF_XDP_DROP_HOST_INBOUND);
			if (reply)
				bpf_map_delete_elem(fd.host_flows, &flow);
			cases++;
		} else {
			line[strcspn(line, "\n")] = 0;
			not_ok("host-inbound corpus", "line %d: cannot read: %s", lineno, line);
		}
	}
	fclose(in);
	if (cases < 100)
		not_ok("host-inbound corpus", "only %d cases run", cases);
	else
		ok("host-inbound corpus read whole");
}

#define IPV4_TOT_LEN_OFFSET (ETH_HLEN + 2)
#define IPV4_FRAG_OFF_OFFSET (ETH_HLEN + 6)
#define TINY_TCP_BYTES 8 /* ports and sequence number: no flags */

/* RFC 1858 fragment attacks on the reply rule (TCP with ACK to an ephemeral port is
 * admitted): the flags must come from inside the IP packet, and a TCP fragment at offset 8
 * (overwriting the first one's flags) is refused. */
static void fragment_attack_cases(void)
{
	const struct run lo = {.ifindex = lo_ifindex};
	struct corpus_table *trust = find_table("trust");
	struct frame f;
	int err;

	if (!trust || (err = set_host_inbound(0, SLOT_LO, &trust->t)) || (err = set_host_inbound_bank(0))) {
		not_ok("fragment attacks", "corpus table trust");
		return;
	}
	/* A first fragment declaring 8 bytes of TCP, with an ACK flag in the Ethernet padding. */
	corpus_frame(&f, 4, IPPROTO_TCP, 40000, "A", "first", 0, 20);
	f.b[IPV4_TOT_LEN_OFFSET] = 0;
	f.b[IPV4_TOT_LEN_OFFSET + 1] = 20 + TINY_TCP_BYTES;
	expect("tiny first fragment (8 bytes of TCP, flags in the padding) -> DROP, DROP_HOST_INBOUND", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_INBOUND);
	corpus_frame(&f, 4, IPPROTO_TCP, 40000, "A", "later", 0, 20);
	f.b[IPV4_FRAG_OFF_OFFSET] = 0;
	f.b[IPV4_FRAG_OFF_OFFSET + 1] = 1; /* offset 1 (8 bytes) */
	expect("TCP fragment at offset 8 (over the flags) -> DROP, DROP_HOST_INBOUND", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_INBOUND);
	{
		struct xpf_host_flow flow = corpus_flow(4, IPPROTO_TCP, 40000);
		__u32 one = 1;

		bpf_map_update_elem(fd.host_flows, &flow, &one, BPF_ANY);
		corpus_frame(&f, 4, IPPROTO_TCP, 40000, "A", "first", 0, 20);
		expect("the same first fragment whole (20 bytes of TCP, ACK, the box's flow) -> PASS, PASS_LOCAL", &f, &lo,
		       XDP_PASS, XPF_XDP_PASS_LOCAL);
		bpf_map_delete_elem(fd.host_flows, &flow);
	}
}

/* xpfd writes the bank the program does not read, then switches: the program must follow
 * the bank word, not a fixed bank. */
static void bank_cases(void)
{
	const struct run lo = {.ifindex = lo_ifindex};
	struct xpf_host_inbound nothing = {.flags = XPF_HOST_INBOUND_F_ZONE};
	struct corpus_table *trust = find_table("trust");
	struct frame f;
	int err;

	if (!trust) {
		not_ok("host-inbound banks", "corpus has no table 'trust'");
		return;
	}
	corpus_frame(&f, 4, IPPROTO_TCP, 22, "A", "none", 0, 20);
	if ((err = set_host_inbound(0, SLOT_LO, &trust->t)) ||
	    (err = set_host_inbound(1, SLOT_LO, &nothing)) || (err = set_host_inbound_bank(0))) {
		not_ok("host-inbound banks", "%s", strerror(-err));
		return;
	}
	expect("bank 0 (ssh admitted): SSH segment -> PASS, PASS_LOCAL", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);
	if ((err = set_host_inbound_bank(1))) {
		not_ok("host-inbound banks", "%s", strerror(-err));
		return;
	}
	expect("switched to bank 1 (ssh removed): same segment -> DROP, DROP_HOST_INBOUND", &f,
	       &lo, XDP_DROP, XPF_XDP_DROP_HOST_INBOUND);
	if ((err = set_host_inbound_bank(XPF_HOST_INBOUND_BANKS))) {
		not_ok("host-inbound banks", "%s", strerror(-err));
		return;
	}
	expect("bank word out of range -> DROP, DROP_HOST_INBOUND (fail closed)", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_INBOUND);
	set_host_inbound_bank(0);
}

/* ---- junos-host corpus -------------------------------------------------- */

#define JH_MAX_TABLES 8
#define JH_WORD_BITS 64
#define JH_ALL_PORTS_LAST 0xffff

struct jh_table {
	char name[CORPUS_NAME_MAX];
	struct xpf_junos_host t;
};

static struct jh_table jh_tables[JH_MAX_TABLES];
static int n_jh_tables;

static struct jh_table *find_jh_table(const char *name)
{
	for (int i = 0; i < n_jh_tables; i++)
		if (strcmp(jh_tables[i].name, name) == 0)
			return &jh_tables[i];
	return NULL;
}

static int set_junos_host(uint32_t bank, uint32_t slot, const struct xpf_junos_host *t)
{
	uint32_t k = bank * XPF_MAX_IFACES + slot;

	return bpf_map_update_elem(fd.junos_host, &k, t, BPF_ANY) ? -errno : 0;
}

/* `A/L` into the program's network and mask words; 0 on success. */
static int jh_prefix(const char *text, struct xpf_junos_host_prefix *out)
{
	char addr[64];
	unsigned len;
	uint8_t net[16] = {0}, mask[16] = {0};
	int v6 = strchr(text, ':') != NULL;

	if (sscanf(text, "%63[^/]/%u", addr, &len) != 2 || len > (v6 ? 128u : 32u) ||
	    inet_pton(v6 ? AF_INET6 : AF_INET, addr, net) != 1)
		return -1;
	for (unsigned bit = 0; bit < len; bit++)
		mask[bit / 8] |= 0x80 >> (bit % 8);
	memset(out, 0, sizeof(*out));
	memcpy(out->net, net, sizeof(net));
	memcpy(out->mask, mask, sizeof(mask));
	out->family = v6 ? 6 : 4;
	return 0;
}

/* `0,2,5` into bits of `words` (words of 64 bits); 0 on success. */
static int jh_bits(const char *list, __u64 *words, unsigned n_words)
{
	char copy[128], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned i = (unsigned)strtoul(tok, NULL, 10);

		if (i >= n_words * JH_WORD_BITS)
			return -1;
		words[i / JH_WORD_BITS] |= 1ull << (i % JH_WORD_BITS);
	}
	return 0;
}

/* A frame from `src` to `dst`: TCP with `flags` (letters, as tcp_flags) or UDP with the
 * ports, ICMP with type and code, or 8 zero bytes of any other protocol. */
static void jh_frame(struct frame *f, int family, const char *src, const char *dst, unsigned proto,
		     unsigned sport, unsigned dport, unsigned type, unsigned code, const char *flags)
{
	uint8_t l4[20] = {0};
	size_t l4_len = proto == IPPROTO_TCP ? 20 : 8;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		l4[0] = sport >> 8;
		l4[1] = sport & 0xff;
		l4[2] = dport >> 8;
		l4[3] = dport & 0xff;
		if (proto == IPPROTO_TCP) {
			l4[12] = 5 << 4; /* data offset */
			l4[13] = tcp_flags(flags);
		}
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		l4[0] = type;
		l4[1] = code;
	}
	if (family == 4) {
		uint8_t h[20] = {0x45};

		eth(f, ETH_P_IP);
		h[3] = 20 + l4_len;
		h[8] = 64;
		h[9] = proto;
		inet_pton(AF_INET, src, h + 12);
		inet_pton(AF_INET, dst, h + 16);
		put(f, h, sizeof(h));
	} else {
		uint8_t h[40] = {0x60};

		eth(f, ETH_P_IPV6);
		h[5] = l4_len;
		h[6] = proto;
		h[7] = 64;
		inet_pton(AF_INET6, src, h + 8);
		inet_pton(AF_INET6, dst, h + 24);
		put(f, h, sizeof(h));
	}
	put(f, l4, l4_len);
}

/* A host-inbound table admitting every corpus case through an entry (never as a reply:
 * the reply-port range is empty), so each case meets the junos-host policies. */
static int jh_admit_all(uint32_t slot)
{
	const uint8_t both = XPF_HOST_INBOUND_FAMILY_INET | XPF_HOST_INBOUND_FAMILY_INET6;
	struct xpf_host_inbound t = {
		.flags = XPF_HOST_INBOUND_F_ZONE,
		.reply_port_first = 1,
		.reply_port_last = 0,
		.n_entries = 5,
		.entries = {
			{.protocol = IPPROTO_TCP, .families = both, .port_last = JH_ALL_PORTS_LAST},
			{.protocol = IPPROTO_UDP, .families = both, .port_last = JH_ALL_PORTS_LAST},
			{.protocol = IPPROTO_ICMP, .families = XPF_HOST_INBOUND_FAMILY_INET,
			 .port_last = JH_ALL_PORTS_LAST},
			{.protocol = IPPROTO_ICMPV6, .families = XPF_HOST_INBOUND_FAMILY_INET6,
			 .port_last = JH_ALL_PORTS_LAST},
			{.protocol = IPPROTO_GRE, .families = both, .port_last = JH_ALL_PORTS_LAST},
		},
	};

	return set_host_inbound(0, slot, &t);
}

/* Reads the junos-host corpus: `table` lines start a table, `prefix` / `term` / `policy`
 * lines fill it (`config` lines are the Swift side's), `case` lines run at once with the
 * table in SLOT_LO of bank 0. Then one check that a reply is not subject to the policies. */
static void junos_host_cases(const char *path)
{
	const struct run lo = {.ifindex = lo_ifindex};
	FILE *in = fopen(path, "r");
	char line[1024];
	int lineno = 0, cases = 0, err;

	if (!in) {
		not_ok("junos-host corpus", "open %s: %s", path, strerror(errno));
		return;
	}
	if ((err = jh_admit_all(SLOT_LO)) || (err = set_host_inbound_bank(0))) {
		not_ok("junos-host corpus", "host_inbound: %s", strerror(-err));
		fclose(in);
		return;
	}
	while (fgets(line, sizeof(line), in)) {
		char kind[8], name[CORPUS_NAME_MAX], a[64], b[64], c[128], d[128], e[128];
		char src[64], dst[64], verdict[8];
		unsigned idx, u1, u2, u3, u4, proto, sport, dport, type, code;
		int family;
		struct jh_table *t;

		lineno++;
		if (line[0] == '#' || line[0] == '\n' || sscanf(line, "%7s", kind) != 1 ||
		    strcmp(kind, "config") == 0)
			continue;
		if (strcmp(kind, "table") == 0 && sscanf(line, "table %31s %63s %63s", name, a, b) == 3 &&
		    n_jh_tables < JH_MAX_TABLES) {
			t = &jh_tables[n_jh_tables++];
			memset(t, 0, sizeof(*t));
			snprintf(t->name, sizeof(t->name), "%s", name);
			t->t.flags = (strcmp(a, "policies") == 0 ? XPF_JUNOS_HOST_F_POLICIES : 0) |
				     (strcmp(b, "permit") == 0 ? XPF_JUNOS_HOST_F_DEFAULT_PERMIT : 0);
		} else if (strcmp(kind, "prefix") == 0 &&
			   sscanf(line, "prefix %31s %u %63s", name, &idx, a) == 3 && (t = find_jh_table(name)) &&
			   idx == t->t.n_prefixes && idx < XPF_JUNOS_HOST_MAX_PREFIXES &&
			   jh_prefix(a, &t->t.prefixes[idx]) == 0) {
			t->t.n_prefixes++;
		} else if (strcmp(kind, "term") == 0 &&
			   sscanf(line, "term %31s %u %63s %u-%u %u-%u %63s %127s", name, &idx, a, &u1, &u2, &u3,
				  &u4, b, c) == 9 &&
			   (t = find_jh_table(name)) && idx == t->t.n_terms && idx < XPF_JUNOS_HOST_MAX_TERMS) {
			struct xpf_junos_host_term *term = &t->t.terms[idx];

			memset(term, 0, sizeof(*term));
			if (strcmp(a, "any") == 0)
				term->flags |= XPF_JUNOS_HOST_TERM_ANY_PROTO;
			else
				term->protocol = (uint8_t)strtoul(a, NULL, 10);
			if (strcmp(b, "-") != 0) {
				term->flags |= XPF_JUNOS_HOST_TERM_ICMP_TYPE;
				term->icmp_type = (uint8_t)strtoul(b, NULL, 10);
			}
			if (strcmp(c, "-") != 0) {
				term->flags |= XPF_JUNOS_HOST_TERM_ICMP_CODE;
				term->icmp_code = (uint8_t)strtoul(c, NULL, 10);
			}
			term->sport_first = u1;
			term->sport_last = u2;
			term->dport_first = u3;
			term->dport_last = u4;
			t->t.n_terms++;
		} else if (strcmp(kind, "policy") == 0 &&
			   sscanf(line, "policy %31s %u %63s %127s %127s %127s", name, &idx, a, c, d, e) == 6 &&
			   (t = find_jh_table(name)) && idx == t->t.n_policies &&
			   idx < XPF_JUNOS_HOST_MAX_POLICIES) {
			struct xpf_junos_host_policy *p = &t->t.policies[idx];

			memset(p, 0, sizeof(*p));
			p->action = strcmp(a, "permit") == 0 ? XPF_JUNOS_HOST_PERMIT : 0;
			if (jh_bits(c, p->src, XPF_JUNOS_HOST_PREFIX_WORDS) ||
			    jh_bits(d, p->dst, XPF_JUNOS_HOST_PREFIX_WORDS) || jh_bits(e, &p->terms, 1)) {
				not_ok("junos-host corpus", "line %d: index out of range", lineno);
				continue;
			}
			t->t.n_policies++;
		} else if (strcmp(kind, "case") == 0 &&
			   sscanf(line, "case %31s %d %63s %63s %u %u %u %u %u %7s", name, &family, src, dst,
				  &proto, &sport, &dport, &type, &code, verdict) == 10 &&
			   (t = find_jh_table(name))) {
			char title[1200];
			struct frame f;
			int permit = strcmp(verdict, "permit") == 0;

			if ((err = set_junos_host(0, SLOT_LO, &t->t))) {
				not_ok("junos-host corpus", "line %d: map update: %s", lineno, strerror(-err));
				break;
			}
			/* SYN without ACK: never a reply to one of the box's own connections. */
			jh_frame(&f, family, src, dst, proto, sport, dport, type, code, "S");
			line[strcspn(line, "\n")] = 0;
			snprintf(title, sizeof(title), "junos-host corpus line %d (%s) -> %s", lineno, line,
				 permit ? "PASS, PASS_LOCAL" : "DROP, DROP_HOST_POLICY");
			expect(title, &f, &lo, permit ? XDP_PASS : XDP_DROP,
			       permit ? XPF_XDP_PASS_LOCAL : XPF_XDP_DROP_HOST_POLICY);
			cases++;
		} else {
			line[strcspn(line, "\n")] = 0;
			not_ok("junos-host corpus", "line %d: cannot read: %s", lineno, line);
		}
	}
	fclose(in);
	if (cases < 40)
		not_ok("junos-host corpus", "only %d cases run", cases);
	else
		ok("junos-host corpus read whole");

	/* Replies and ICMP errors are the box's own sessions: no policy applies to them. */
	{
		struct xpf_junos_host deny_all = {.flags = XPF_JUNOS_HOST_F_POLICIES};
		struct xpf_host_inbound replies = {
			.flags = XPF_HOST_INBOUND_F_ZONE, .reply_port_first = 32768, .reply_port_last = 60999};
		struct frame f;

		if ((err = set_junos_host(0, SLOT_LO, &deny_all)) || (err = set_host_inbound(0, SLOT_LO, &replies))) {
			not_ok("junos-host replies", "%s", strerror(-err));
			return;
		}
		jh_frame(&f, 4, "10.2.0.1", "192.0.2.1", IPPROTO_ICMP, 0, 0, ICMP_DEST_UNREACH_TYPE, 4, "");
		expect("junos-host deny-all: ICMP fragmentation-needed to the box -> PASS, PASS_LOCAL", &f, &lo,
		       XDP_PASS, XPF_XDP_PASS_LOCAL);
		struct xpf_host_flow flow = {.family = 4, .protocol = IPPROTO_UDP, .local_port = 40000, .remote_port = 53};
		__u32 one = 1;

		inet_pton(AF_INET, "192.0.2.1", flow.local);
		inet_pton(AF_INET, "10.2.0.1", flow.remote);
		bpf_map_update_elem(fd.host_flows, &flow, &one, BPF_ANY);
		jh_frame(&f, 4, "10.2.0.1", "192.0.2.1", IPPROTO_UDP, 53, 40000, 0, 0, "");
		expect("junos-host deny-all: UDP reply on the box's flow -> PASS, PASS_LOCAL", &f, &lo,
		       XDP_PASS, XPF_XDP_PASS_LOCAL);
		bpf_map_delete_elem(fd.host_flows, &flow);
		set_junos_host(0, SLOT_LO, &(struct xpf_junos_host){0});
	}
}

/* ---- firewall filters on host-bound traffic ---------------------------------------- */

#define HF_MAX_TABLES 64 /* ~70 KB each */
#define HF_DSCP_SHIFT 2
#define HF_IPV4_TOS_OFFSET (ETH_HLEN + 1)

struct hf_table {
	char name[CORPUS_NAME_MAX];
	struct xpf_host_filters t;
	struct xpf_hf_policer policers[XPF_HF_MAX_POLICERS];
	bool policers_written; /* at the table's first case: buckets carry over its later cases */
};

static struct hf_table hf_tables[HF_MAX_TABLES];
static int n_hf_tables;
static int hf_fd, hf_hits_fd, hf_log_fd, hf_pol_fd, hf_icmp_fd;

static struct hf_table *find_hf_table(const char *name)
{
	for (int i = 0; i < n_hf_tables; i++)
		if (strcmp(hf_tables[i].name, name) == 0)
			return &hf_tables[i];
	return NULL;
}

/* The program's ICMP error limit back to a full bucket on every CPU (a case's reply must
 * not depend on how many replies the cases before it sent). */
static void hf_icmp_limit_reset(void)
{
	uint32_t zero = 0;
	uint8_t *v = calloc((size_t)ncpus, 16); /* struct hf_icmp_limit: 16 bytes, zero = full */

	if (!v || bpf_map_update_elem(hf_icmp_fd, &zero, v, BPF_ANY))
		not_ok("hf_icmp_limit reset", "%s", strerror(errno));
	free(v);
}

/* The flags of a chain whose segments are exactly those with terms (hand-built tables). */
static uint16_t hf_chain_flags(const struct xpf_hf_chain *c)
{
	return (c->lo0_start > 0 ? XPF_HF_CHAIN_IFACE : 0) | (c->lo0_start < c->n ? XPF_HF_CHAIN_LO0 : 0);
}

/* Writes `t` as bank 0's host_filters (xpfd's job). */
static int hf_write(const struct xpf_host_filters *t)
{
	uint32_t bank = 0;

	return bpf_map_update_elem(hf_fd, &bank, t, BPF_ANY) ? -errno : 0;
}

/* Writes table `t`'s policers into bank 0 of host_filter_policers (state zero: full), once:
 * the buckets then carry from one of its cases to the next, in the file's order. */
static int hf_write_policers(struct hf_table *t)
{
	if (t->policers_written)
		return 0;
	for (uint32_t k = 0; k < XPF_HF_MAX_POLICERS; k++)
		if (bpf_map_update_elem(hf_pol_fd, &k, &t->policers[k], BPF_ANY))
			return -errno;
	t->policers_written = true;
	return 0;
}

/* Packets counted in row `row` of bank 0, summed over CPUs. */
static uint64_t hf_row(uint32_t row)
{
	struct xpf_hf_count v[ncpus];
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(hf_hits_fd, &row, v))
		return UINT64_MAX;
	for (int c = 0; c < ncpus; c++)
		sum += v[c].packets;
	return sum;
}

/* Term and counter rows, read whole before and after a case. */
static void hf_rows(uint64_t out[XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS])
{
	for (uint32_t r = 0; r < XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS; r++)
		out[r] = hf_row(r);
}

/* A host-bound frame for the filter cases: `dscp` in the TOS / traffic class, `frag` 0
 * whole, 1 first fragment, 2 later fragment; `len` the IP length the header declares (0:
 * the real one). */
static void hf_frame(struct frame *f, int family, const char *src, const char *dst, unsigned proto,
		     unsigned sport, unsigned dport, unsigned type, unsigned code, const char *flags,
		     unsigned dscp, int frag, unsigned len)
{
	jh_frame(f, family, src, dst, proto, sport, dport, type, code, flags);
	if (family == 4) {
		uint8_t *ip = f->b + ETH_HLEN;

		ip[1] = dscp << HF_DSCP_SHIFT;
		if (frag == 1)
			ip[6] = IPV4_MF >> 8;
		if (frag == 2)
			ip[7] = LATER_FRAGMENT_OFFSET;
		if (len) {
			ip[2] = len >> 8;
			ip[3] = len & 0xff;
		}
	} else {
		uint8_t *ip = f->b + ETH_HLEN;
		size_t l4_len = f->len - ETH_HLEN - 40;
		uint8_t l4[64];

		ip[0] = 0x60 | (dscp >> 2);
		ip[1] = (dscp & 3) << 6;
		if (frag) {
			uint8_t fh[8] = {ip[6]};
			uint16_t off = frag == 2 ? LATER_FRAGMENT_OFFSET << 3 : 0;

			if (frag == 1)
				off |= IPV6_FRAG_M;
			fh[2] = off >> 8;
			fh[3] = off & 0xff;
			memcpy(l4, ip + 40, l4_len);
			ip[6] = 44; /* fragment header */
			memcpy(ip + 40, fh, sizeof(fh));
			memcpy(ip + 48, l4, l4_len);
			f->len += sizeof(fh);
			l4_len += sizeof(fh);
			ip[4] = l4_len >> 8;
			ip[5] = l4_len & 0xff;
		}
		if (len) {
			ip[4] = (len - 40) >> 8;
			ip[5] = (len - 40) & 0xff;
		}
	}
}

/* Runs `f` on interface `ifindex` and checks the action, the counter and that exactly the
 * term rows `terms` and the counter rows `counters` (-1 ends each list) counted one. */
static void hf_expect(const char *name, const struct frame *f, unsigned ifindex, int action, int counter,
		      const int *terms, const int *counters)
{
	static uint64_t before[XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS], after[XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS];
	int failed_before = failed;
	char title[2300];

	hf_icmp_limit_reset();
	hf_rows(before);
	expect(name, f, &(struct run){.ifindex = ifindex}, action, counter);
	hf_rows(after);
	for (int r = 0; r < XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS; r++) {
		uint64_t want = 0;

		for (const int *t = terms; t && *t >= 0; t++)
			want += r == XPF_HF_ROW_TERM(*t);
		for (const int *c = counters; c && *c >= 0; c++)
			want += r == (int)XPF_HF_ROW_COUNTER(*c);
		if (after[r] - before[r] != want) {
			snprintf(title, sizeof(title), "%s: hits", name);
			not_ok(title, "row %d +%llu, want +%llu", r, (unsigned long long)(after[r] - before[r]),
			       (unsigned long long)want);
			return;
		}
	}
	if (failed == failed_before) {
		snprintf(title, sizeof(title), "%s: hits", name);
		ok(title);
	}
}

/* `F+C` → a pool reference. */
static int hf_ref(const char *v, struct xpf_hf_ref *r)
{
	unsigned a, b;

	if (sscanf(v, "%u+%u", &a, &b) != 2)
		return -1;
	r->first = a;
	r->count = b;
	return 0;
}

/* One `term` line's optional fields (key=value tokens). */
static int hf_term_field(struct xpf_hf_term *t, const char *key, const char *v)
{
	struct { const char *k; struct xpf_hf_ref *r; } refs[] = {
		{"src", &t->src_addr}, {"dst", &t->dst_addr}, {"addr", &t->addr}, {"sport", &t->src_port},
		{"dport", &t->dst_port}, {"port", &t->port}, {"len", &t->packet_length}, {"classes", &t->classes},
	};
	struct { const char *k; __u16 *p; } u16s[] = {
		{"proto", &t->protocols}, {"itype", &t->icmp_types}, {"icode", &t->icmp_codes},
		{"flags", &t->tcp_flags}, {"counter", &t->counter}, {"policer", &t->policer},
	};

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		if (strcmp(key, refs[i].k) == 0)
			return hf_ref(v, refs[i].r);
	for (size_t i = 0; i < sizeof(u16s) / sizeof(u16s[0]); i++)
		if (strcmp(key, u16s[i].k) == 0) {
			*u16s[i].p = strtoul(v, NULL, 0);
			return 0;
		}
	if (strcmp(key, "terminal") == 0) {
		t->terminal = strcmp(v, "accept") == 0 ? XPF_HF_ACCEPT : strcmp(v, "discard") == 0 ? XPF_HF_DISCARD
			      : strcmp(v, "reject") == 0 ? XPF_HF_REJECT : XPF_HF_NEXT;
	} else if (strcmp(key, "action") == 0) {
		t->action = strtoul(v, NULL, 0);
	} else if (strcmp(key, "match") == 0) {
		t->match = strtoul(v, NULL, 0);
	} else if (strcmp(key, "filter") == 0) {
		t->filter = strtoul(v, NULL, 0);
	} else if (strcmp(key, "sterm") == 0) {
		t->snapshot_term = strtoul(v, NULL, 0);
	} else if (strcmp(key, "dscp") == 0) {
		t->dscp = strtoull(v, NULL, 0);
	} else if (strcmp(key, "lps") == 0) {
		t->loss_priorities = strtoul(v, NULL, 0);
	} else if (strcmp(key, "rewrite") == 0) {
		t->dscp_rewrite = strtoul(v, NULL, 0);
	} else if (strcmp(key, "lp") == 0) {
		t->loss_priority = strtoul(v, NULL, 0);
	} else if (strcmp(key, "fc") == 0) {
		t->forwarding_class = strcmp(v, "be") == 0 ? XPF_HF_CLASS_BEST_EFFORT : strtoul(v, NULL, 0);
	} else if (strcmp(key, "reject") == 0) {
		t->reject_reason = strtoul(v, NULL, 0);
	} else {
		return -1;
	}
	return 0;
}

/* "1,2,3" → a list ended by -1 (at most `n` - 1 entries). */
static void hf_list(const char *v, int *out, int n)
{
	int k = 0;

	for (char *end; *v && k < n - 1; v = *end ? end + 1 : end)
		out[k++] = strtol(v, &end, 10);
	out[k] = -1;
}

/* Reads the host-filter corpus (format: its header, shared with HostFilterTableTests.swift):
 * tables into hf_tables, each `case` run at once with its table in bank 0, on the interface
 * of its slot (0, 1 or 2: the harness's three), every slot admitting everything through
 * host-inbound-traffic. Policers: see hf_write_policers. */
static void host_filter_corpus(const char *path)
{
	FILE *in = fopen(path, "r");
	char line[2048];
	int lineno = 0, cases = 0, err;
	struct hf_table *cur = NULL;
	/* The harness's interfaces by slot: a case's frame arrives on its slot's. */
	unsigned slot_ifindex[] = {[SLOT_MQ] = mq_ifindex, [SLOT_A] = a_ifindex, [SLOT_LO] = lo_ifindex};

	if (!in) {
		not_ok("host-filter corpus", "open %s: %s", path, strerror(errno));
		return;
	}
	/* Every slot admits every case through host-inbound-traffic (put back at the end). */
	if ((err = jh_admit_all(SLOT_MQ)) || (err = jh_admit_all(SLOT_A))) {
		not_ok("host-filter corpus", "host_inbound: %s", strerror(-err));
		fclose(in);
		return;
	}
	while (fgets(line, sizeof(line), in)) {
		char *tok[48], *save, kind[16];
		int n = 0, bad = 0;
		unsigned idx;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#' || line[0] == 0 || sscanf(line, "%15s", kind) != 1 || strcmp(kind, "config") == 0)
			continue;
		{
			char copy[2048];

			snprintf(copy, sizeof(copy), "%s", line);
			for (char *p = strtok_r(copy, " ", &save); p && n < 48; p = strtok_r(NULL, " ", &save))
				tok[n++] = strdup(p);
		}
		if (strcmp(kind, "table") == 0 && n == 2) {
			cur = n_hf_tables < HF_MAX_TABLES ? &hf_tables[n_hf_tables++] : NULL;
			if (cur) {
				memset(cur, 0, sizeof(*cur));
				snprintf(cur->name, sizeof(cur->name), "%s", tok[1]);
			} else {
				not_ok("host-filter corpus", "line %d: more than %d tables", lineno, HF_MAX_TABLES);
			}
		} else if (strcmp(kind, "term") == 0 && cur && n >= 2 && (idx = atoi(tok[1])) < XPF_HF_MAX_TERMS) {
			struct xpf_hf_term *t = &cur->t.terms[idx];

			memset(t, 0, sizeof(*t));
			t->protocols = t->icmp_types = t->icmp_codes = t->tcp_flags = XPF_HF_NONE;
			t->counter = t->policer = XPF_HF_NONE;
			for (int k = 2; k < n; k++) {
				char *eq = strchr(tok[k], '=');

				if (!eq) {
					bad = 1;
					break;
				}
				*eq = 0;
				bad |= hf_term_field(t, tok[k], eq + 1) != 0;
			}
			if (idx >= cur->t.n_terms)
				cur->t.n_terms = idx + 1;
		} else if (strcmp(kind, "prefix") == 0 && cur && n >= 4 && (idx = atoi(tok[1])) < XPF_HF_MAX_PREFIXES) {
			struct xpf_hf_prefix *p = &cur->t.prefixes[idx];
			char *slash = strchr(tok[3], '/');
			int fam = atoi(tok[2]);
			uint8_t addr[16] = {0}, mask[16] = {0};

			memset(p, 0, sizeof(*p));
			if (!slash || inet_pton(fam == 4 ? AF_INET : AF_INET6, (*slash = 0, tok[3]), addr) != 1) {
				bad = 1;
			} else {
				p->family = fam;
				p->length = atoi(slash + 1);
				for (int b = 0; b < p->length; b++)
					mask[b / 8] |= 0x80 >> (b % 8);
				for (int b = 0; b < 16; b++)
					addr[b] &= mask[b];
				memcpy(p->net, addr, 16);
				memcpy(p->mask, mask, 16);
				p->except = n > 4 && strcmp(tok[4], "except") == 0;
			}
		} else if (strcmp(kind, "range") == 0 && cur && n == 4 && (idx = atoi(tok[1])) < XPF_HF_MAX_RANGES) {
			cur->t.ranges[idx].low = atoi(tok[2]);
			cur->t.ranges[idx].high = atoi(tok[3]);
		} else if (strcmp(kind, "set") == 0 && cur && n == 6 && (idx = atoi(tok[1])) < XPF_HF_MAX_SETS) {
			for (int w = 0; w < 4; w++)
				cur->t.sets[idx].bits[w] = strtoull(tok[2 + w], NULL, 0);
		} else if (strcmp(kind, "class") == 0 && cur && n == 3 && (idx = atoi(tok[1])) < XPF_HF_MAX_CLASSES) {
			cur->t.classes[idx] = strcmp(tok[2], "be") == 0 ? XPF_HF_CLASS_BEST_EFFORT : strtoul(tok[2], NULL, 0);
		} else if (strcmp(kind, "policer") == 0 && cur && n >= 2 && (idx = atoi(tok[1])) < XPF_HF_MAX_POLICERS) {
			struct xpf_hf_policer *p = &cur->policers[idx];

			memset(p, 0, sizeof(*p));
			for (int k = 2; k < n; k++) {
				char *eq = strchr(tok[k], '='), *v;

				if (!eq) {
					bad = 1;
					continue;
				}
				*eq = 0;
				v = eq + 1;
				if (strcmp(tok[k], "flags") == 0) p->flags = strtoul(v, NULL, 0);
				else if (strcmp(tok[k], "c_cost") == 0) p->c_cost = strtoull(v, NULL, 0);
				else if (strcmp(tok[k], "c_depth") == 0) p->c_depth = strtoull(v, NULL, 0);
				else if (strcmp(tok[k], "x_cost") == 0) p->x_cost = strtoull(v, NULL, 0);
				else if (strcmp(tok[k], "x_depth") == 0) p->x_depth = strtoull(v, NULL, 0);
				else if (strcmp(tok[k], "lp") == 0) p->loss_priority = strtoul(v, NULL, 0);
				else if (strcmp(tok[k], "fc") == 0)
					p->forwarding_class = strcmp(v, "be") == 0 ? XPF_HF_CLASS_BEST_EFFORT : strtoul(v, NULL, 0);
				else bad = 1;
			}
		} else if (strcmp(kind, "chain") == 0 && cur && (n == 5 || n == 6) && (idx = atoi(tok[1])) < XPF_MAX_IFACES) {
			struct xpf_hf_chain *c = &cur->t.chains[idx][strcmp(tok[2], "inet") == 0 ? 0 : 1];
			int list[XPF_HF_MAX_CHAIN + 1], k;

			hf_list(tok[n - 1] + strlen("terms="), list, XPF_HF_MAX_CHAIN + 1);
			for (k = 0; list[k] >= 0; k++)
				c->terms[k] = list[k];
			c->n = k;
			c->lo0_start = atoi(tok[3] + strlen("lo0="));
			/* `filters=` (as HostFilterTable writes it), else: the segments with terms. */
			c->flags = n == 6 ? strtoul(tok[4] + strlen("filters="), NULL, 0) : hf_chain_flags(c);
		} else if (strcmp(kind, "case") == 0 && n >= 3) {
			struct hf_table *t = NULL;
			int family = 4, frag = 0, action, counter, terms[64] = {-1}, counters[64] = {-1};
			unsigned proto = 0, sport = 0, dport = 0, dscp = 0, itype = 0, icode = 0, len = 0, slot = SLOT_LO;
			const char *src = "", *dst = "", *flags = "", *want = "";
			char title[2200];
			struct frame f;

			for (int k = 2; k < n; k++) {
				char *eq = strchr(tok[k], '='), *v;

				if (!eq) {
					bad = 1;
					continue;
				}
				*eq = 0;
				v = eq + 1;
				if (strcmp(tok[k], "table") == 0) t = find_hf_table(v);
				else if (strcmp(tok[k], "slot") == 0) slot = atoi(v);
				else if (strcmp(tok[k], "family") == 0) family = atoi(v);
				else if (strcmp(tok[k], "proto") == 0) proto = atoi(v);
				else if (strcmp(tok[k], "src") == 0) src = v;
				else if (strcmp(tok[k], "dst") == 0) dst = v;
				else if (strcmp(tok[k], "sport") == 0) sport = atoi(v);
				else if (strcmp(tok[k], "dport") == 0) dport = atoi(v);
				else if (strcmp(tok[k], "flags") == 0) flags = v;
				else if (strcmp(tok[k], "dscp") == 0) dscp = atoi(v);
				else if (strcmp(tok[k], "itype") == 0) itype = atoi(v);
				else if (strcmp(tok[k], "icode") == 0) icode = atoi(v);
				else if (strcmp(tok[k], "frag") == 0) frag = strcmp(v, "first") == 0 ? 1 : 2;
				else if (strcmp(tok[k], "len") == 0) len = atoi(v);
				else if (strcmp(tok[k], "expect") == 0) want = v;
				else if (strcmp(tok[k], "terms") == 0) hf_list(v, terms, 64);
				else if (strcmp(tok[k], "counters") == 0) hf_list(v, counters, 64);
				else bad = 1;
			}
			if (!t || bad || slot >= sizeof(slot_ifindex) / sizeof(slot_ifindex[0]) || !slot_ifindex[slot]) {
				not_ok("host-filter corpus", "line %d: cannot run: %s", lineno, line);
			} else if ((err = hf_write(&t->t)) || (err = hf_write_policers(t)) ||
				   /* The case's destination is one of the box's addresses. */
				   (err = add_local(family == 4 ? AF_INET : AF_INET6, dst))) {
				not_ok("host-filter corpus", "line %d: map update: %s", lineno, strerror(-err));
			} else {
				action = strcmp(want, "accept") == 0 ? XDP_PASS : strcmp(want, "reject") == 0 ? XDP_TX : XDP_DROP;
				counter = strcmp(want, "accept") == 0 ? XPF_XDP_PASS_LOCAL
					  : strcmp(want, "reject") == 0 ? XPF_XDP_TX_HOST_REJECT
					  : strcmp(want, "policer") == 0 ? XPF_XDP_DROP_HOST_POLICER : XPF_XDP_DROP_HOST_FILTER;
				hf_frame(&f, family, src, dst, proto, sport, dport, itype, icode, flags, dscp, frag, len);
				snprintf(title, sizeof(title), "host-filter corpus line %d (%s)", lineno, tok[1]);
				hf_expect(title, &f, slot_ifindex[slot], action, counter, terms, counters);
				cases++;
			}
		} else {
			not_ok("host-filter corpus", "line %d: cannot read: %s", lineno, line);
		}
		if (bad && strcmp(kind, "case") != 0)
			not_ok("host-filter corpus", "line %d: bad field: %s", lineno, line);
		for (int k = 0; k < n; k++)
			free(tok[k]);
	}
	fclose(in);
	hf_write(&(struct xpf_host_filters){0});
	if ((err = admit_udp(SLOT_MQ)) || (err = admit_udp(SLOT_A)))
		not_ok("host-filter corpus", "host_inbound back: %s", strerror(-err));
	if (cases < 10)
		not_ok("host-filter corpus", "only %d cases run", cases);
	else
		ok("host-filter corpus read whole");
}

/* ---- host-bound filters: C-built tables (replies, DSCP, logs, policers, marks) --------- */

#define HF_OUT_MAX 512
#define HF_SYN_SEQ 0x11223344u
#define HF_ACK_SEQ 0x55667788u
#define HF_ECN_BITS 1		   /* an ECN codepoint that a DSCP rewrite must keep */
#define HF_DSCP_EF 46
#define HF_DSCP_AF11 10
#define HF_TIMING_REPEAT 1000000
#define HF_TIMING_TERMS 10
#define HF_PORT_TELNET 23
#define HF_VLAN_TAG_BYTES 4
#define HF_VLAN_ID 42
#define HF_SLOW_COST (1ull << 40)  /* ticks per byte << COST_SHIFT: one 40-byte packet is ~2.7 s */
#define HF_COST_SHIFT 8		   /* XPF_POLICER_COST_SHIFT (xpf_config_abi.h) */
#define HF_LP_MEDIUM_HIGH 3	   /* enum xpf_loss_priority */

/* A table with terms `terms` (copied to pool 0..n) as lo0's filter on lo for `family`. */
static void hf_table_lo0(struct xpf_host_filters *t, int family, const struct xpf_hf_term *terms, int n)
{
	struct xpf_hf_chain *c = &t->chains[SLOT_LO][family == 4 ? 0 : 1];

	for (int i = 0; i < n; i++) {
		t->terms[i] = terms[i];
		c->terms[i] = i;
	}
	t->n_terms = n;
	c->n = n;
	c->lo0_start = 0;
	c->flags = XPF_HF_CHAIN_LO0;
}

/* A term of no conditions, no references. */
static struct xpf_hf_term hf_term(uint8_t terminal, uint8_t action)
{
	return (struct xpf_hf_term){
		.terminal = terminal, .action = action, .protocols = XPF_HF_NONE, .icmp_types = XPF_HF_NONE,
		.icmp_codes = XPF_HF_NONE, .tcp_flags = XPF_HF_NONE, .counter = XPF_HF_NONE, .policer = XPF_HF_NONE};
}

/* Runs `f` on lo; the frame out in `out` (its length returned), the action in `action`. */
static int hf_run_out(const struct frame *f, uint8_t *out, int *action)
{
	struct xdp_md md = {.data_end = f->len, .ingress_ifindex = lo_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b, .data_size_in = f->len, .data_out = out,
		    .data_size_out = HF_OUT_MAX, .ctx_in = &md, .ctx_size_in = sizeof(md), .repeat = 1);

	if (bpf_prog_test_run_opts(fd.prog, &opts))
		return -errno;
	*action = opts.retval;
	return (int)opts.data_size_out;
}

/* The internet checksum's sum of `n` bytes as big-endian words (odd length: zero padded). */
static uint32_t hf_sum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return sum;
}

static uint16_t hf_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Whether the L4 checksum of `l4` (n bytes) is right for its IP header `ip`. */
static int hf_l4_ok(const uint8_t *ip, int family, uint8_t proto, const uint8_t *l4, size_t n)
{
	uint32_t sum = family == 4 ? hf_sum(ip + 12, 8, 0) : hf_sum(ip + 8, 32, 0);

	sum += proto + (uint32_t)n;
	return hf_fold(hf_sum(l4, n, sum)) == 0xffff;
}

static uint32_t hf_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sets a valid checksum in the IPv4 header at `l3` bytes into frame `f`. */
static void hf_ipv4_checksum_at(struct frame *f, size_t l3)
{
	uint8_t *ip = f->b + l3;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = ~hf_fold(hf_sum(ip, 20, 0));
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
}

static void hf_ipv4_checksum(struct frame *f)
{
	hf_ipv4_checksum_at(f, ETH_HLEN);
}

/* Checks field `what` and reports the first mismatch into `bad`. */
#define HF_CHECK(cond, what)                                  \
	do {                                                  \
		if (!(cond) && !bad[0])                       \
			snprintf(bad, sizeof(bad), "%s", what); \
	} while (0)

static void hf_reply_cases(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[2] = {hf_term(XPF_HF_REJECT, 0), hf_term(XPF_HF_REJECT, 0)};
	uint8_t out[HF_OUT_MAX], *ip, *l4;
	const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02}, box_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	char bad[128];
	struct frame f;
	int action, len;

	/* term 0: tcp-reset for TCP; term 1: port-unreachable for the rest. */
	terms[0].match = XPF_HF_M_PROTO;
	terms[0].protocols = 0;
	terms[0].reject_reason = XPF_HF_REJECT_TCP_RESET;
	terms[1].reject_reason = 11; /* XPF_REJECT_PORT_UNREACHABLE */
	t->sets[0].bits[0] = 1ull << IPPROTO_TCP;
	hf_table_lo0(t, 4, terms, 2);
	hf_table_lo0(t, 6, terms, 2);
	hf_write(t);
	hf_icmp_limit_reset();

	/* RST to a SYN carrying 3 bytes of data and a TCP option: <SEQ=0><ACK=SEG.SEQ+4><RST,ACK>. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, HF_PORT_TELNET, 0, 0, "S");
	ip = f.b + ETH_HLEN;
	l4 = ip + 20;
	l4[4] = HF_SYN_SEQ >> 24, l4[5] = HF_SYN_SEQ >> 16 & 0xff, l4[6] = HF_SYN_SEQ >> 8 & 0xff, l4[7] = HF_SYN_SEQ & 0xff;
	l4[12] = 6 << 4; /* data offset 6: a 4-byte option */
	put(&f, (uint8_t[7]){1, 1, 1, 1, 'a', 'b', 'c'}, 7);
	ip[3] = 20 + 20 + 4 + 3;
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 20;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 40, "action / length");
	HF_CHECK(memcmp(out, peer_mac, 6) == 0 && memcmp(out + 6, box_mac, 6) == 0, "MACs swapped");
	HF_CHECK(ip[0] == 0x45 && ip[2] == 0 && ip[3] == 40 && ip[6] == 0x40 && ip[8] == 64 && ip[9] == IPPROTO_TCP,
		 "IPv4 header fields");
	HF_CHECK(hf_fold(hf_sum(ip, 20, 0)) == 0xffff, "IPv4 header checksum");
	HF_CHECK(memcmp(ip + 12, f.b + ETH_HLEN + 16, 4) == 0 && memcmp(ip + 16, f.b + ETH_HLEN + 12, 4) == 0,
		 "addresses swapped");
	HF_CHECK(l4[0] == 0 && l4[1] == HF_PORT_TELNET && (l4[2] << 8 | l4[3]) == 40000, "ports swapped");
	HF_CHECK(hf_be32(l4 + 4) == 0 && hf_be32(l4 + 8) == HF_SYN_SEQ + 3 + 1, "seq 0, ack SEG.SEQ+SEG.LEN");
	HF_CHECK(l4[12] == 0x50 && l4[13] == 0x14 && l4[14] == 0 && l4[15] == 0 && l4[18] == 0 && l4[19] == 0,
		 "RST,ACK, no options, window 0");
	HF_CHECK(hf_l4_ok(ip, 4, IPPROTO_TCP, l4, 20), "TCP checksum");
	if (bad[0])
		not_ok("host filter reject: RST to a SYN with data and options", "%s", bad);
	else
		ok("host filter reject: RST to a SYN with data and options");

	/* RST to an ACK segment: <SEQ=SEG.ACK><RST>. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, HF_PORT_TELNET, 0, 0, "A");
	l4 = f.b + ETH_HLEN + 20;
	l4[8] = HF_ACK_SEQ >> 24, l4[9] = HF_ACK_SEQ >> 16 & 0xff, l4[10] = HF_ACK_SEQ >> 8 & 0xff, l4[11] = HF_ACK_SEQ & 0xff;
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 20;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 40, "action / length");
	HF_CHECK(hf_be32(l4 + 4) == HF_ACK_SEQ && hf_be32(l4 + 8) == 0 && l4[13] == 0x04, "seq SEG.ACK, RST only");
	HF_CHECK(hf_l4_ok(ip, 4, IPPROTO_TCP, l4, 20), "TCP checksum");
	if (bad[0])
		not_ok("host filter reject: RST to an ACK", "%s", bad);
	else
		ok("host filter reject: RST to an ACK");

	/* ICMP port unreachable to UDP: the header and 8 bytes quoted, from the box's address. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	put(&f, (uint8_t[4]){9, 9, 9, 9}, 4); /* 4 bytes of data: the quote stops at 8 */
	f.b[ETH_HLEN + 3] = 20 + 8 + 4;
	hf_ipv4_checksum(&f);
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 20;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 20 + 8 + 28, "action / length");
	HF_CHECK(memcmp(out, peer_mac, 6) == 0 && memcmp(out + 6, box_mac, 6) == 0, "MACs swapped");
	HF_CHECK(ip[0] == 0x45 && ip[1] == 0xc0 && ip[3] == 56 && ip[8] == 64 && ip[9] == IPPROTO_ICMP, "IPv4 header");
	HF_CHECK(hf_fold(hf_sum(ip, 20, 0)) == 0xffff, "IPv4 header checksum");
	HF_CHECK(memcmp(ip + 12, f.b + ETH_HLEN + 16, 4) == 0 && memcmp(ip + 16, f.b + ETH_HLEN + 12, 4) == 0,
		 "from the box's address to the sender");
	HF_CHECK(l4[0] == 3 && l4[1] == 3 && hf_be32(l4 + 4) == 0, "type 3 code 3");
	HF_CHECK(memcmp(l4 + 8, f.b + ETH_HLEN, 28) == 0, "quote: the IP header and 8 bytes");
	HF_CHECK(hf_fold(hf_sum(l4, 8 + 28, 0)) == 0xffff, "ICMP checksum");
	if (bad[0])
		not_ok("host filter reject: ICMP port unreachable to UDP", "%s", bad);
	else
		ok("host filter reject: ICMP port unreachable to UDP");

	/* ICMPv6 port unreachable (code 4) to UDP: the whole packet quoted (below the bound). */
	jh_frame(&f, 6, "2001:db8:a::5", "2001:db8::1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 40;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 48 + 48, "action / length");
	HF_CHECK(ip[0] == 0x60 && ip[4] == 0 && ip[5] == 8 + 48 && ip[6] == IPPROTO_ICMPV6 && ip[7] == 64, "IPv6 header");
	HF_CHECK(memcmp(ip + 8, f.b + ETH_HLEN + 24, 16) == 0 && memcmp(ip + 24, f.b + ETH_HLEN + 8, 16) == 0,
		 "from the box's address to the sender");
	HF_CHECK(l4[0] == 1 && l4[1] == 4, "type 1 code 4");
	HF_CHECK(memcmp(l4 + 8, f.b + ETH_HLEN, 48) == 0, "quote: the packet");
	HF_CHECK(hf_l4_ok(ip, 6, IPPROTO_ICMPV6, l4, 8 + 48), "ICMPv6 checksum");
	if (bad[0])
		not_ok("host filter reject: ICMPv6 port unreachable to UDP", "%s", bad);
	else
		ok("host filter reject: ICMPv6 port unreachable to UDP");

	/* RST over IPv6. */
	jh_frame(&f, 6, "2001:db8:a::5", "2001:db8::1", IPPROTO_TCP, 40000, HF_PORT_TELNET, 0, 0, "S");
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 40;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 60, "action / length");
	HF_CHECK(ip[0] == 0x60 && ip[5] == 20 && ip[6] == IPPROTO_TCP && ip[7] == 64, "IPv6 header");
	HF_CHECK(hf_be32(l4 + 8) == 1 && l4[13] == 0x14, "ack SEG.SEQ+1 (SYN), RST,ACK");
	HF_CHECK(hf_l4_ok(ip, 6, IPPROTO_TCP, l4, 20), "TCP checksum");
	if (bad[0])
		not_ok("host filter reject: RST over IPv6", "%s", bad);
	else
		ok("host filter reject: RST over IPv6");

	/* Through a VLAN tag: the reply keeps it, its IP packet 4 bytes further in. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	memmove(f.b + 2 * ETH_ALEN + HF_VLAN_TAG_BYTES, f.b + 2 * ETH_ALEN, f.len - 2 * ETH_ALEN);
	f.b[2 * ETH_ALEN] = ETH_P_8021Q >> 8;
	f.b[2 * ETH_ALEN + 1] = ETH_P_8021Q & 0xff;
	f.b[2 * ETH_ALEN + 2] = 0;
	f.b[2 * ETH_ALEN + 3] = HF_VLAN_ID;
	f.len += HF_VLAN_TAG_BYTES;
	hf_ipv4_checksum_at(&f, ETH_HLEN + HF_VLAN_TAG_BYTES);
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN + HF_VLAN_TAG_BYTES;
	l4 = ip + 20;
	if (action != XDP_TX || len != ETH_HLEN + HF_VLAN_TAG_BYTES + 20 + 8 + 28)
		snprintf(bad, sizeof(bad), "action %d length %d", action, len);
	HF_CHECK(memcmp(out + 2 * ETH_ALEN, f.b + 2 * ETH_ALEN, HF_VLAN_TAG_BYTES + 2) == 0, "tag and ethertype kept");
	HF_CHECK(ip[0] == 0x45 && ip[9] == IPPROTO_ICMP && l4[0] == 3 && l4[1] == 3, "ICMP port unreachable");
	HF_CHECK(hf_fold(hf_sum(ip, 20, 0)) == 0xffff && hf_fold(hf_sum(l4, 8 + 28, 0)) == 0xffff, "checksums");
	HF_CHECK(memcmp(l4 + 8, f.b + ETH_HLEN + HF_VLAN_TAG_BYTES, 28) == 0, "quote");
	if (bad[0])
		not_ok("host filter reject: ICMP through a VLAN tag", "%s", bad);
	else
		ok("host filter reject: ICMP through a VLAN tag");

	/* tcp-reset to anything but TCP: administratively prohibited (code 13). A datagram of 4
	 * payload bytes followed by Ethernet padding: the quote stops at its end. */
	t->terms[1].reject_reason = XPF_HF_REJECT_TCP_RESET;
	hf_write(t);
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_GRE, 0, 0, 0, 0, "");
	f.b[ETH_HLEN + 3] = 20 + 4;
	hf_ipv4_checksum(&f);
	len = hf_run_out(&f, out, &action);
	bad[0] = 0;
	ip = out + ETH_HLEN;
	l4 = ip + 20;
	HF_CHECK(action == XDP_TX && len == ETH_HLEN + 20 + 8 + 24, "action / length: 24 bytes quoted");
	HF_CHECK(ip[3] == 20 + 8 + 24, "IPv4 total length");
	HF_CHECK(l4[0] == 3 && l4[1] == 13, "type 3 code 13");
	HF_CHECK(memcmp(l4 + 8, f.b + ETH_HLEN, 24) == 0, "quote: the header and the 4 bytes");
	HF_CHECK(hf_fold(hf_sum(l4, 8 + 24, 0)) == 0xffff, "ICMP checksum");
	if (bad[0])
		not_ok("host filter reject: tcp-reset to GRE, a short datagram quoted whole", "%s", bad);
	else
		ok("host filter reject: tcp-reset to GRE, a short datagram quoted whole");

	/* A link-level broadcast gets no reply: a discard. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	memset(f.b, 0xff, 6);
	expect("host filter reject: no reply to a link-level broadcast -> DROP, DROP_HOST_FILTER", &f,
	       &(struct run){.ifindex = lo_ifindex}, XDP_DROP, XPF_XDP_DROP_HOST_FILTER);
	free(t);
}

static void hf_dscp_cases(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[3] = {hf_term(XPF_HF_NEXT, XPF_HF_A_DSCP), hf_term(XPF_HF_ACCEPT, 0),
				       hf_term(XPF_HF_ACCEPT, 0)};
	struct xpf_hf_chain *c;
	uint8_t out[HF_OUT_MAX], *ip;
	struct frame f;
	int action, len;
	char bad[128];

	/* Interface segment: term 0 `next term` rewrites to AF11, term 1 accepts; lo0's term 2
	 * accepts AF11 only: it sees the rewritten DSCP (anything else: implicit discard). */
	terms[0].dscp_rewrite = HF_DSCP_AF11;
	terms[2].match = XPF_HF_M_DSCP;
	terms[2].dscp = 1ull << HF_DSCP_AF11;
	for (int fam = 0; fam < 2; fam++) {
		c = &t->chains[SLOT_LO][fam];
		c->n = 3;
		c->lo0_start = 2;
		c->flags = hf_chain_flags(c);
		for (int i = 0; i < 3; i++)
			c->terms[i] = i;
	}
	memcpy(t->terms, terms, sizeof(terms));
	t->n_terms = 3;
	hf_write(t);

	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	f.b[HF_IPV4_TOS_OFFSET] = HF_DSCP_EF << HF_DSCP_SHIFT | HF_ECN_BITS;
	hf_ipv4_checksum(&f);
	len = hf_run_out(&f, out, &action);
	ip = out + ETH_HLEN;
	bad[0] = 0;
	HF_CHECK(action == XDP_PASS && len == (int)f.len, "accepted by lo0's AF11 term");
	HF_CHECK(ip[1] == (HF_DSCP_AF11 << HF_DSCP_SHIFT | HF_ECN_BITS), "TOS: AF11, ECN kept");
	HF_CHECK(hf_fold(hf_sum(ip, 20, 0)) == 0xffff, "header checksum");
	HF_CHECK(memcmp(ip + 12, f.b + ETH_HLEN + 12, 8) == 0, "rest unchanged");
	if (bad[0])
		not_ok("host filter DSCP rewrite (IPv4, next term, seen by lo0)", "%s", bad);
	else
		ok("host filter DSCP rewrite (IPv4, next term, seen by lo0)");

	jh_frame(&f, 6, "2001:db8:a::5", "2001:db8::1", IPPROTO_UDP, 53, 5353, 0, 0, "");
	f.b[ETH_HLEN] = 0x60 | HF_DSCP_EF >> 2;
	f.b[ETH_HLEN + 1] = (HF_DSCP_EF & 3) << 6 | HF_ECN_BITS << 4 | 0x0a; /* ECN, flow label bits */
	len = hf_run_out(&f, out, &action);
	ip = out + ETH_HLEN;
	bad[0] = 0;
	HF_CHECK(action == XDP_PASS, "accepted by lo0's AF11 term");
	HF_CHECK(ip[0] == (0x60 | HF_DSCP_AF11 >> 2) &&
		 ip[1] == ((HF_DSCP_AF11 & 3) << 6 | HF_ECN_BITS << 4 | 0x0a), "traffic class: AF11, ECN and flow label kept");
	if (bad[0])
		not_ok("host filter DSCP rewrite (IPv6)", "%s", bad);
	else
		ok("host filter DSCP rewrite (IPv6)");
	free(t);
}

struct hf_logs {
	int n;
	struct xpf_host_filter_log r[8];
};

static int hf_log_sample(void *ctx, void *data, size_t size)
{
	struct hf_logs *l = ctx;

	if (size == sizeof(struct xpf_host_filter_log) && l->n < 8)
		memcpy(&l->r[l->n++], data, size);
	return 0;
}

#define HF_ICMP_ECHO_REQUEST 8
#define HF_ICMP_TIMESTAMP 13
#define HF_ICMP_ID_OFFSET 4 /* an echo's identifier in the ICMP header */
#define HF_ECHO_ID 0x1234

static void hf_log_cases(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[2] = {hf_term(XPF_HF_NEXT, XPF_HF_A_LOG), hf_term(XPF_HF_DISCARD, XPF_HF_A_SYSLOG)};
	struct ring_buffer *rb = ring_buffer__new(hf_log_fd, hf_log_sample, NULL, NULL);
	struct hf_logs logs = {0};
	struct frame f;
	char bad[128] = "";
	uint32_t src, dst;

	if (!rb) {
		not_ok("host filter logs", "ring_buffer__new: %s", strerror(errno));
		free(t);
		return;
	}
	ring_buffer__free(rb);
	rb = ring_buffer__new(hf_log_fd, hf_log_sample, &logs, NULL);
	ring_buffer__consume(rb); /* anything earlier cases logged */
	logs.n = 0;
	terms[0].filter = 7, terms[0].snapshot_term = 70;
	terms[1].filter = 8, terms[1].snapshot_term = 81;
	t->generation = 42;
	hf_table_lo0(t, 4, terms, 2);
	hf_write(t);
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, 22, 0, 0, "S");
	expect("host filter logs: next term + discard -> DROP, DROP_HOST_FILTER", &f,
	       &(struct run){.ifindex = lo_ifindex}, XDP_DROP, XPF_XDP_DROP_HOST_FILTER);
	ring_buffer__consume(rb);
	inet_pton(AF_INET, "10.1.2.3", &src);
	inet_pton(AF_INET, "192.0.2.1", &dst);
	/* The deciding term's record first, then the `next term` one's, both saying discard. */
	HF_CHECK(logs.n == 2, "two records");
	HF_CHECK(logs.r[0].filter == 8 && logs.r[0].snapshot_term == 81 && logs.r[1].filter == 7 &&
		 logs.r[1].snapshot_term == 70, "deciding term first, then the next term's");
	for (int i = 0; i < logs.n && i < 2; i++) {
		const struct xpf_host_filter_log *r = &logs.r[i];

		HF_CHECK(r->generation == 42 && r->family == 4 && r->protocol == IPPROTO_TCP && r->icmp_type == 0,
			 "generation, family, protocol");
		HF_CHECK(r->action == XPF_HF_DISCARD && r->slot == SLOT_LO && r->ip_length == 40, "action, slot, length");
		HF_CHECK(r->sport == 40000 && r->dport == 22 && r->src[0] == src && r->dst[0] == dst && r->src[1] == 0,
			 "ports, addresses");
	}
	if (bad[0])
		not_ok("host filter logs: records", "%s (%d records)", bad, logs.n);
	else
		ok("host filter logs: records");

	/* ICMP: the ports of the workers' flow key (icmpKeyPorts), so a term logs the same line
	 * on either path: an echo request's identifier and its successor, type << 8 | code for
	 * other messages. */
	bad[0] = 0;
	logs.n = 0;
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_ICMP, 0, 0, HF_ICMP_ECHO_REQUEST, 0, "");
	f.b[ETH_HLEN + 20 + HF_ICMP_ID_OFFSET] = HF_ECHO_ID >> 8;
	f.b[ETH_HLEN + 20 + HF_ICMP_ID_OFFSET + 1] = HF_ECHO_ID & 0xff;
	expect("host filter logs: ICMP echo -> DROP", &f, &(struct run){.ifindex = lo_ifindex}, XDP_DROP,
	       XPF_XDP_DROP_HOST_FILTER);
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_ICMP, 0, 0, HF_ICMP_TIMESTAMP, 0, "");
	expect("host filter logs: ICMP timestamp -> DROP", &f, &(struct run){.ifindex = lo_ifindex}, XDP_DROP,
	       XPF_XDP_DROP_HOST_FILTER);
	ring_buffer__consume(rb);
	HF_CHECK(logs.n == 4, "four records");
	HF_CHECK(logs.n == 4 && logs.r[0].icmp_type == HF_ICMP_ECHO_REQUEST && logs.r[0].sport == HF_ECHO_ID &&
			 logs.r[0].dport == HF_ECHO_ID + 1 && logs.r[1].sport == HF_ECHO_ID,
		 "echo: identifier and its successor");
	HF_CHECK(logs.n == 4 && logs.r[2].sport == HF_ICMP_TIMESTAMP << 8 && logs.r[2].dport == HF_ICMP_TIMESTAMP << 8,
		 "timestamp: type << 8 | code");
	if (bad[0])
		not_ok("host filter logs: ICMP ports as the workers' keys", "%s (%d records)", bad, logs.n);
	else
		ok("host filter logs: ICMP ports as the workers' keys");
	ring_buffer__free(rb);
	free(t);
}

/* Writes pool policer 0 of bank 0. */
static int hf_policer(const struct xpf_hf_policer *p)
{
	uint32_t k = 0;

	return bpf_map_update_elem(hf_pol_fd, &k, p, BPF_ANY) ? -errno : 0;
}

/* Packets counted in policer 0's row `row`. */
static uint64_t hf_pol_row(int row)
{
	return hf_row(XPF_HF_ROW_POLICER(0, row));
}

static void hf_policer_cases(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[3] = {hf_term(XPF_HF_ACCEPT, XPF_HF_A_POLICE), hf_term(XPF_HF_DISCARD, 0),
				       hf_term(XPF_HF_ACCEPT, 0)};
	const uint64_t packet_ticks = (40 * HF_SLOW_COST) >> HF_COST_SHIFT; /* a 40-byte TCP SYN */
	struct xpf_hf_policer p = {.c_cost = HF_SLOW_COST, .c_depth = packet_ticks + packet_ticks / 2};
	const struct run lo = {.ifindex = lo_ifindex};
	struct xpf_hf_chain *c = &t->chains[SLOT_LO][0];
	uint64_t out0, yellow0;
	struct frame f;

	/* Two-color, discard: the burst holds one packet, the next is out of profile (the rate
	 * refills a byte in ~2.7 s: nothing comes back within the test). */
	terms[0].policer = 0;
	hf_table_lo0(t, 4, terms, 1);
	hf_write(t);
	p.flags = XPF_HF_P_DISCARD;
	hf_policer(&p);
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, 22, 0, 0, "S");
	out0 = hf_pol_row(0);
	expect("host filter policer two-color: 1st packet conforms -> PASS", &f, &lo, XDP_PASS, XPF_XDP_PASS_LOCAL);
	expect("host filter policer two-color: 2nd out of profile -> DROP, DROP_HOST_POLICER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_POLICER);
	if (hf_pol_row(0) - out0 != 1)
		not_ok("host filter policer two-color: out-of-profile row", "+%llu", (unsigned long long)(hf_pol_row(0) - out0));
	else
		ok("host filter policer two-color: out-of-profile row");

	/* Two-color marking loss priority high: the interface's term 0 polices and accepts,
	 * lo0's term 1 discards loss priority high, its term 2 accepts the rest. */
	terms[0].terminal = XPF_HF_ACCEPT;
	terms[1].match = XPF_HF_M_LOSS_PRIORITY;
	terms[1].loss_priorities = 1 << XPF_HF_LP_HIGH;
	memcpy(t->terms, terms, sizeof(terms));
	c->n = 3;
	c->lo0_start = 1;
	c->flags = hf_chain_flags(c);
	for (int i = 0; i < 3; i++)
		c->terms[i] = i;
	hf_write(t);
	p.flags = XPF_HF_P_LOSS_PRIORITY;
	p.loss_priority = XPF_HF_LP_HIGH;
	p.tat = 0;
	hf_policer(&p);
	expect("host filter policer marking: 1st packet low -> lo0 accepts -> PASS", &f, &lo, XDP_PASS,
	       XPF_XDP_PASS_LOCAL);
	expect("host filter policer marking: 2nd marked high -> lo0 discards -> DROP, DROP_HOST_FILTER", &f, &lo,
	       XDP_DROP, XPF_XDP_DROP_HOST_FILTER);

	/* Three-color single-rate, color-blind, red discarded: C holds one packet, E one: green,
	 * yellow, red. */
	hf_table_lo0(t, 4, terms, 1);
	t->chains[SLOT_LO][0].n = 1;
	hf_write(t);
	p = (struct xpf_hf_policer){.flags = XPF_HF_P_THREE_COLOR | XPF_HF_P_DISCARD, .c_cost = HF_SLOW_COST,
				    .c_depth = packet_ticks + packet_ticks / 2, .x_depth = packet_ticks + packet_ticks / 2};
	hf_policer(&p);
	out0 = hf_pol_row(0);
	yellow0 = hf_pol_row(1);
	expect("host filter policer srTCM: green -> PASS", &f, &lo, XDP_PASS, XPF_XDP_PASS_LOCAL);
	expect("host filter policer srTCM: yellow -> PASS", &f, &lo, XDP_PASS, XPF_XDP_PASS_LOCAL);
	expect("host filter policer srTCM: red -> DROP, DROP_HOST_POLICER", &f, &lo, XDP_DROP, XPF_XDP_DROP_HOST_POLICER);
	if (hf_pol_row(0) - out0 != 1 || hf_pol_row(1) - yellow0 != 1)
		not_ok("host filter policer srTCM: rows", "red +%llu yellow +%llu",
		       (unsigned long long)(hf_pol_row(0) - out0), (unsigned long long)(hf_pol_row(1) - yellow0));
	else
		ok("host filter policer srTCM: rows");

	/* trTCM, color-aware: a packet already high (term 0 marks it) is red at once. */
	terms[0] = hf_term(XPF_HF_ACCEPT, XPF_HF_A_POLICE | XPF_HF_A_LOSS_PRIORITY);
	terms[0].policer = 0;
	terms[0].loss_priority = XPF_HF_LP_HIGH;
	hf_table_lo0(t, 4, terms, 1);
	hf_write(t);
	p = (struct xpf_hf_policer){.flags = XPF_HF_P_THREE_COLOR | XPF_HF_P_TWO_RATE | XPF_HF_P_COLOR_AWARE |
					     XPF_HF_P_DISCARD,
				    .c_cost = HF_SLOW_COST, .x_cost = HF_SLOW_COST, .c_depth = packet_ticks * 4,
				    .x_depth = packet_ticks * 4};
	hf_policer(&p);
	expect("host filter policer trTCM color-aware: high in, red -> DROP, DROP_HOST_POLICER", &f, &lo, XDP_DROP,
	       XPF_XDP_DROP_HOST_POLICER);
	/* Color-blind, the same packet is green. */
	p.flags &= ~XPF_HF_P_COLOR_AWARE;
	hf_policer(&p);
	expect("host filter policer trTCM color-blind: green -> PASS", &f, &lo, XDP_PASS, XPF_XDP_PASS_LOCAL);
	hf_policer(&(struct xpf_hf_policer){0});
	free(t);
}

/* BPF_PROG_TEST_RUN timing (printed, never a pass/fail): a TCP SYN to the box without a
 * filter, then through a lo0 filter of HF_TIMING_TERMS terms (protocol and destination
 * port each), the last one matching. */
static void hf_timing(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[HF_TIMING_TERMS];
	struct frame f;
	struct xdp_md md = {.ingress_ifindex = lo_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &md, .ctx_size_in = sizeof(md), .repeat = HF_TIMING_REPEAT);

	for (int i = 0; i < HF_TIMING_TERMS; i++) {
		terms[i] = hf_term(XPF_HF_ACCEPT, 0);
		terms[i].match = XPF_HF_M_PROTO | XPF_HF_M_DST_PORT;
		terms[i].protocols = 0;
		terms[i].dst_port = (struct xpf_hf_ref){.first = i, .count = 1};
		t->ranges[i].low = t->ranges[i].high = 1000 + i;
	}
	t->ranges[HF_TIMING_TERMS - 1].low = t->ranges[HF_TIMING_TERMS - 1].high = 22;
	t->sets[0].bits[0] = 1ull << IPPROTO_TCP;
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, 22, 0, 0, "S");
	md.data_end = f.len;
	opts.data_in = f.b;
	opts.data_size_in = f.len;
	/* First without a filter (the same path, no table for the slot), then with it. */
	for (int filtered = 0; filtered < 2; filtered++) {
		if (filtered)
			hf_table_lo0(t, 4, terms, HF_TIMING_TERMS);
		hf_write(t);
		if (bpf_prog_test_run_opts(fd.prog, &opts) || opts.retval != XDP_PASS) {
			not_ok("host filter timing run", "%s, action %d", strerror(errno), opts.retval);
			break;
		}
		printf("# host filter timing: TCP SYN to the box, %s (%d terms): %u ns per run (BPF_PROG_TEST_RUN, "
		       "repeat %d)\n", filtered ? "lo0 filter, the last term matching" : "no filter",
		       filtered ? HF_TIMING_TERMS : 0, opts.duration, HF_TIMING_REPEAT);
	}
	free(t);
}

#define HF_LIMIT_TRIES 40
#define HF_LIMIT_BURST 20	/* the program's HF_ICMP_BURST */
#define HF_LIMIT_PER_SECOND 100 /* its HF_ICMP_PER_SECOND */

/* ICMP errors are limited as the workers' are: after a burst of 20 only 100 per second; a
 * RST is not limited. The count allowed depends on the time the runs took, which is
 * measured: at most the burst plus what that time refills, and never fewer than the burst. */
static void hf_icmp_limit_cases(void)
{
	struct xpf_host_filters *t = calloc(1, sizeof(*t));
	struct xpf_hf_term terms[2] = {hf_term(XPF_HF_REJECT, 0), hf_term(XPF_HF_REJECT, 0)};
	uint8_t out[HF_OUT_MAX];
	struct timespec t0, t1;
	struct frame f;
	int action, sent = 0, rst = 0;
	uint64_t elapsed_ms, allowed;

	terms[0].match = XPF_HF_M_PROTO;
	terms[0].protocols = 0;
	terms[0].reject_reason = XPF_HF_REJECT_TCP_RESET;
	terms[1].reject_reason = 11; /* XPF_REJECT_PORT_UNREACHABLE */
	t->sets[0].bits[0] = 1ull << IPPROTO_TCP;
	hf_table_lo0(t, 4, terms, 2);
	hf_write(t);
	hf_icmp_limit_reset();
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_UDP, 40000, 69, 0, 0, "");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < HF_LIMIT_TRIES; i++)
		if (hf_run_out(&f, out, &action) > 0 && action == XDP_TX)
			sent++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed_ms = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (uint64_t)(t1.tv_nsec - t0.tv_nsec) / 1000000 + 1;
	allowed = HF_LIMIT_BURST + elapsed_ms * HF_LIMIT_PER_SECOND / 1000;
	if (sent >= HF_LIMIT_BURST && (uint64_t)sent <= allowed)
		ok("ICMP rejects limited: the burst, then what the elapsed time refills");
	else
		not_ok("ICMP rejects limited", "%d of %d sent in %llu ms, want %d..%llu", sent, HF_LIMIT_TRIES,
		       (unsigned long long)elapsed_ms, HF_LIMIT_BURST, (unsigned long long)allowed);
	/* The bucket is empty now (or nearly): RSTs still go out. */
	jh_frame(&f, 4, "10.1.2.3", "192.0.2.1", IPPROTO_TCP, 40000, HF_PORT_TELNET, 0, 0, "S");
	for (int i = 0; i < HF_LIMIT_TRIES; i++)
		if (hf_run_out(&f, out, &action) > 0 && action == XDP_TX)
			rst++;
	if (rst == HF_LIMIT_TRIES)
		ok("RSTs are not limited");
	else
		not_ok("RSTs are not limited", "%d of %d sent", rst, HF_LIMIT_TRIES);
	free(t);
}

static void host_filter_cases(void)
{
	hf_reply_cases();
	hf_icmp_limit_cases();
	hf_dscp_cases();
	hf_log_cases();
	hf_policer_cases();
	hf_timing();
	hf_write(&(struct xpf_host_filters){0});
}

/* ---- the box's own traffic: xpf_tc_egress ------------------------------------------ */

#define ICMP_ECHO_REQUEST_TYPE 8
#define ICMP_ECHO_REPLY_TYPE 0
#define ICMPV6_ECHO_REQUEST_TYPE 128
#define ICMPV6_NEIGHBOR_SOLICIT_TYPE 135
#define OSPF_PROTOCOL 89
#define ICMP_TIMESTAMP_TYPE 13
#define DNS_PORT 53
#define MDNS_PORT 5353

/* Runs the TC program on `f` (the test run's device is the namespace's lo, slot SLOT_LO)
 * and checks its verdict and that only `counter` moved (by one), or nothing (-1). */
static void tc_expect(const char *name, const struct frame *f, int want_action, int counter)
{
	uint64_t before[XPF_XDP_CTR_MAX], after[XPF_XDP_CTR_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b, .data_size_in = f->len, .repeat = 1);
	char detail[512] = "";
	size_t n = 0;
	int err;

	if ((err = read_counters(before)))
		goto fail;
	if (bpf_prog_test_run_opts(fd.tc_prog, &opts)) {
		err = -errno;
		goto fail;
	}
	if ((err = read_counters(after)))
		goto fail;
	if ((int)opts.retval != want_action)
		n += snprintf(detail + n, sizeof(detail) - n, "action %d, want %d; ", (int)opts.retval, want_action);
	for (int i = 0; i < XPF_XDP_CTR_MAX; i++) {
		uint64_t want = i == counter ? 1 : 0, got = after[i] - before[i];

		if (got != want && n < sizeof(detail))
			n += snprintf(detail + n, sizeof(detail) - n, "%s +%llu, want +%llu; ", ctr_name(i),
				      (unsigned long long)got, (unsigned long long)want);
	}
	if (n)
		not_ok(name, "%s", detail);
	else
		ok(name);
	return;
fail:
	not_ok(name, "test_run/counters: %s", strerror(-err));
}

/* from junos-host policies: only packets that open a connection meet them; here one policy
 * permits TCP to port 22, the default denies the rest. */
static void tc_egress_cases(void)
{
	const uint8_t both = XPF_HOST_INBOUND_FAMILY_INET | XPF_HOST_INBOUND_FAMILY_INET6;
	/* The zone offers DNS (UDP 53): the box's datagrams from port 53 are answers. */
	struct xpf_host_inbound dns = {
		.flags = XPF_HOST_INBOUND_F_ZONE, .reply_port_first = 32768, .reply_port_last = 60999,
		.n_entries = 1, .entries = {{.protocol = IPPROTO_UDP, .families = both, .port_first = DNS_PORT,
					     .port_last = DNS_PORT}}};
	struct xpf_junos_host ssh_only = {.flags = XPF_JUNOS_HOST_F_POLICIES, .n_prefixes = 2, .n_terms = 1,
					  .n_policies = 1};
	struct frame f;
	int err;

	if (jh_prefix("0.0.0.0/0", &ssh_only.prefixes[0]) || jh_prefix("::/0", &ssh_only.prefixes[1])) {
		not_ok("tc egress", "prefixes");
		return;
	}
	ssh_only.terms[0] = (struct xpf_junos_host_term){.protocol = IPPROTO_TCP, .sport_last = JH_ALL_PORTS_LAST,
							 .dport_first = 22, .dport_last = 22};
	ssh_only.policies[0] = (struct xpf_junos_host_policy){.src = {0x3}, .dst = {0x3}, .terms = 0x1,
							      .action = XPF_JUNOS_HOST_PERMIT};
	if ((err = set_host_inbound(0, SLOT_LO, &dns)) || (err = set_host_inbound_bank(0)) ||
	    (err = bpf_map_update_elem(fd.junos_host_out, &(uint32_t){SLOT_LO}, &ssh_only, BPF_ANY) ? -errno : 0)) {
		not_ok("tc egress", "maps: %s", strerror(-err));
		return;
	}
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 40000, 22, 0, 0, "S");
	tc_expect("tc egress: the box's SYN to port 22 permitted by policy -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 40000, 80, 0, 0, "S");
	tc_expect("tc egress: the box's SYN to port 80 (default deny) -> SHOT, DROP_HOST_OUTBOUND", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	/* The permitted SYN recorded the box's flow, the refused one did not: the reply rule
	 * admits the server's answer on the first only. */
	jh_frame(&f, 4, "10.2.0.1", "192.0.2.1", IPPROTO_TCP, 22, 40000, 0, 0, "SA");
	expect("the answer on the flow the box opened (recorded at TC egress) -> PASS, PASS_LOCAL", &f,
	       &(struct run){.ifindex = lo_ifindex}, XDP_PASS, XPF_XDP_PASS_LOCAL);
	jh_frame(&f, 4, "10.2.0.1", "192.0.2.1", IPPROTO_TCP, 80, 40000, 0, 0, "SA");
	expect("an answer on the flow the policies refused -> DROP, DROP_HOST_INBOUND", &f,
	       &(struct run){.ifindex = lo_ifindex}, XDP_DROP, XPF_XDP_DROP_HOST_INBOUND);
	jh_frame(&f, 4, "10.2.0.9", "192.0.2.1", IPPROTO_TCP, 41000, 40001, 0, 0, "A");
	expect("an ACK to a reply port on no flow of the box's -> DROP, DROP_HOST_INBOUND", &f,
	       &(struct run){.ifindex = lo_ifindex}, XDP_DROP, XPF_XDP_DROP_HOST_INBOUND);
	jh_frame(&f, 6, "2001:db8::1", "2001:db8:b::1", IPPROTO_TCP, 40000, 80, 0, 0, "S");
	tc_expect("tc egress: IPv6 SYN to port 80 -> SHOT, DROP_HOST_OUTBOUND", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 80, 40000, 0, 0, "SA");
	tc_expect("tc egress: SYN-ACK (the box answers) -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 80, 40000, 0, 0, "A");
	tc_expect("tc egress: ACK from a well-known port (an inbound connection's answer) -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 40000, 80, 0, 0, "A");
	tc_expect("tc egress: ACK from an ephemeral port (the box's own connection, refused) -> SHOT", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 40000, 22, 0, 0, "A");
	tc_expect("tc egress: ACK from an ephemeral port to 22 (permitted) -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_UDP, 40000, 53, 0, 0, "");
	tc_expect("tc egress: UDP from an ephemeral port (the box is the client) -> SHOT", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_UDP, DNS_PORT, 40000, 0, 0, "");
	tc_expect("tc egress: UDP from a port the zone's host-inbound admits (the box answers) -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_UDP, MDNS_PORT, 40000, 0, 0, "");
	tc_expect("tc egress: UDP from a port no entry admits (below the ephemeral range too) -> SHOT", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_ICMP, 0, 0, ICMP_TIMESTAMP_TYPE, 0, "");
	tc_expect("tc egress: ICMP timestamp request -> SHOT", &f, TC_ACT_SHOT, XPF_XDP_DROP_HOST_OUTBOUND);
	eth(&f, ETH_P_IP);
	put(&f, (uint8_t[20]){0x4f}, 20); /* claims 60 bytes of header */
	tc_expect("tc egress: IPv4 options past the frame, policies in place -> SHOT (fail closed)", &f, TC_ACT_SHOT,
		  XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_ICMP, 0, 0, ICMP_ECHO_REQUEST_TYPE, 0, "");
	tc_expect("tc egress: echo request -> SHOT", &f, TC_ACT_SHOT, XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_ICMP, 0, 0, ICMP_ECHO_REPLY_TYPE, 0, "");
	tc_expect("tc egress: echo reply -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_ICMP, 0, 0, ICMP_DEST_UNREACH_TYPE, 3, "");
	tc_expect("tc egress: ICMP port unreachable -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 6, "2001:db8::1", "2001:db8:b::1", IPPROTO_ICMPV6, 0, 0, ICMPV6_ECHO_REQUEST_TYPE, 0, "");
	tc_expect("tc egress: ICMPv6 echo request -> SHOT", &f, TC_ACT_SHOT, XPF_XDP_DROP_HOST_OUTBOUND);
	jh_frame(&f, 6, "2001:db8::1", "2001:db8:b::1", IPPROTO_ICMPV6, 0, 0, ICMPV6_NEIGHBOR_SOLICIT_TYPE, 0, "");
	tc_expect("tc egress: neighbour solicitation -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "224.0.0.5", OSPF_PROTOCOL, 0, 0, 0, 0, "");
	tc_expect("tc egress: OSPF hello to 224.0.0.5 -> OK", &f, TC_ACT_OK, -1);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_GRE, 0, 0, 0, 0, "");
	tc_expect("tc egress: GRE (no request/answer to tell) -> SHOT", &f, TC_ACT_SHOT, XPF_XDP_DROP_HOST_OUTBOUND);
	arp_request(&f);
	tc_expect("tc egress: ARP -> OK", &f, TC_ACT_OK, -1);
	/* A zone without from junos-host policies: everything passes. */
	bpf_map_update_elem(fd.junos_host_out, &(uint32_t){SLOT_LO}, &(struct xpf_junos_host){0}, BPF_ANY);
	jh_frame(&f, 4, "192.0.2.1", "10.2.0.1", IPPROTO_TCP, 40000, 80, 0, 0, "S");
	tc_expect("tc egress: no from junos-host policies -> OK", &f, TC_ACT_OK, -1);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "../../bpf/build/xpf_xdp.o";
	const char *corpus_path = argc > 2 ? argv[2] : "host_inbound_corpus.txt";
	const char *junos_host_path = argc > 3 ? argv[3] : "junos_host_corpus.txt";
	const char *host_filter_path = argc > 4 ? argv[4] : "host_filter_corpus.txt";
	struct bpf_object *obj;
	struct bpf_program *prog;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);

	/* A private namespace: fresh lo, and the veths go away with us. */
	if (unshare(CLONE_NEWNET)) {
		printf("not ok - unshare(CLONE_NEWNET): %s\n", strerror(errno));
		printf("0 passed, 1 failed\n");
		return 1;
	}

	ncpus = libbpf_num_possible_cpus();
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		printf("not ok - open %s: %s\n", path, strerror(errno));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		not_ok("object loads (passes the verifier)", "%s", strerror(-err));
		goto out;
	}
	ok("object loads (passes the verifier)");

	fd.counters = bpf_object__find_map_fd_by_name(obj, "counters");
	fd.if_slots = bpf_object__find_map_fd_by_name(obj, "if_slots");
	fd.local_addrs = bpf_object__find_map_fd_by_name(obj, "local_addrs");
	fd.xsks = bpf_object__find_map_fd_by_name(obj, "xsks_map");
	fd.host_inbound = bpf_object__find_map_fd_by_name(obj, "host_inbound");
	fd.host_inbound_bank = bpf_object__find_map_fd_by_name(obj, "host_inbound_bank");
	fd.junos_host = bpf_object__find_map_fd_by_name(obj, "junos_host");
	fd.junos_host_out = bpf_object__find_map_fd_by_name(obj, "junos_host_out");
	fd.host_flows = bpf_object__find_map_fd_by_name(obj, "host_flows");
	prog = bpf_object__find_program_by_name(obj, "xpf_tc_egress");
	fd.tc_prog = prog ? bpf_program__fd(prog) : -1;
	prog = bpf_object__find_program_by_name(obj, "xpf_xdp");
	fd.prog = prog ? bpf_program__fd(prog) : -1;
	if (fd.prog < 0 || fd.counters < 0 || fd.if_slots < 0 || fd.local_addrs < 0 ||
	    fd.xsks < 0 || fd.host_inbound < 0 || fd.host_inbound_bank < 0 || fd.junos_host < 0 ||
	    fd.junos_host_out < 0 || fd.host_flows < 0 || fd.tc_prog < 0) {
		not_ok("program and maps present", "prog %d counters %d if_slots %d "
		       "local_addrs %d xsks_map %d host_inbound %d host_inbound_bank %d junos_host %d "
		       "junos_host_out %d xpf_tc_egress %d",
		       fd.prog, fd.counters, fd.if_slots, fd.local_addrs, fd.xsks, fd.host_inbound,
		       fd.host_inbound_bank, fd.junos_host, fd.junos_host_out, fd.tc_prog);
		goto out;
	}
	if (prog && bpf_program__type(prog) != BPF_PROG_TYPE_XDP)
		not_ok("program and maps present", "xpf_xdp is not an XDP program");
	else
		ok("program and maps present");

	check_abi_version(obj);

	lo_ifindex = if_nametoindex("lo");
	if (make_veth(VETH_A, VETH_A_PEER, 1) == 0) {
		a_ifindex = if_nametoindex(VETH_A);
		a_peer_ifindex = if_nametoindex(VETH_A_PEER);
	}
	if (make_veth(VETH_MQ, VETH_MQ_PEER, MQ_QUEUES) == 0)
		mq_ifindex = if_nametoindex(VETH_MQ);

	if ((err = set_slot(lo_ifindex, SLOT_LO)) ||
	    (a_ifindex && (err = set_slot(a_ifindex, SLOT_A))) ||
	    (mq_ifindex && (err = set_slot(mq_ifindex, SLOT_MQ))) ||
	    (err = add_local(AF_INET, "192.0.2.1")) ||
	    (err = add_local(AF_INET, "192.0.2.255")) ||
	    (err = add_local(AF_INET6, "2001:db8::1")) ||
	    (err = add_local(AF_INET6, "fe80::b0c5"))) {
		not_ok("fill if_slots and local_addrs", "%s", strerror(-err));
		goto out;
	}

	/* Before any table is written every slot is in no zone: nothing host-bound passes. */
	{
		struct frame f;

		eth(&f, ETH_P_IP);
		ipv4(&f, "198.51.100.7", "192.0.2.1", 5);
		expect("host-bound before any host-inbound table -> DROP, DROP_HOST_INBOUND", &f,
		       &(struct run){.ifindex = lo_ifindex}, XDP_DROP, XPF_XDP_DROP_HOST_INBOUND);
	}
	if ((err = admit_udp(SLOT_LO)) || (err = admit_udp(SLOT_A))) {
		not_ok("fill host_inbound", "%s", strerror(-err));
		goto out;
	}

	verdict_cases();
	interface_cases();
	corpus_cases(corpus_path);
	fragment_attack_cases();
	bank_cases();
	junos_host_cases(junos_host_path);
	hf_fd = bpf_object__find_map_fd_by_name(obj, "host_filters");
	hf_hits_fd = bpf_object__find_map_fd_by_name(obj, "host_filter_hits");
	hf_log_fd = bpf_object__find_map_fd_by_name(obj, "host_filter_log");
	hf_pol_fd = bpf_object__find_map_fd_by_name(obj, "host_filter_policers");
	hf_icmp_fd = bpf_object__find_map_fd_by_name(obj, "hf_icmp_limit");
	if (hf_fd < 0 || hf_hits_fd < 0 || hf_log_fd < 0 || hf_pol_fd < 0 || hf_icmp_fd < 0 || (err = jh_admit_all(SLOT_LO)) ||
	    (err = set_junos_host(0, SLOT_LO, &(struct xpf_junos_host){0})))
		not_ok("host-filter maps", "host_filters %d host_filter_hits %d host_filter_log %d host_filter_policers %d",
		       hf_fd, hf_hits_fd, hf_log_fd, hf_pol_fd);
	else
		host_filter_corpus(host_filter_path);
	if (hf_fd >= 0 && hf_pol_fd >= 0)
		host_filter_cases();
	tc_egress_cases();
out:
	bpf_object__close(obj);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
