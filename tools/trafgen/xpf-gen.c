// xpf-gen — UDP traffic generator for the xpf lab benchmarks (tools/bench).
//
// Sends fixed-size IPv4/UDP frames (valid IPv4 and UDP checksums) over N flows (the source port
// varies over N values) from one interface to a destination MAC/IP, as fast as possible or at a
// set rate, for a duration or a packet count, and counts what it handed to the interface.
//
// Methods (--method):
//   xdp   AF_XDP socket in copy mode (XDP_COPY), TX only, no XDP program loaded
//         (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD). The UMEM holds one prebuilt frame per flow;
//         TX descriptors point at them round-robin (copy mode copies every frame into an skb, so a
//         frame may be in flight several times at once). Default: fastest here (docs/performance.md).
//   ring  AF_PACKET with PACKET_TX_RING (TPACKET_V2) and PACKET_QDISC_BYPASS.
//   mmsg  AF_PACKET SOCK_RAW with sendmmsg() and PACKET_QDISC_BYPASS.
//
// Timing: the run starts at --start-at (wall-clock epoch seconds, so that xpf-sink in another
// namespace can open the same window) or at once; it sends for WARMUP + DURATION + TAIL seconds
// and measures over [start + WARMUP, start + WARMUP + DURATION]. With --count N it sends N frames
// and measures the whole send.
//
// "sent" counts frames the interface accepted: for xdp, completions minus sendto() EBUSY (the
// kernel completes a dropped frame and reports EBUSY once); for ring/mmsg, frames whose send did
// not fail. Drops reported by the kernel are "errors". The interface's own tx_packets/tx_dropped
// deltas over the window are reported as a cross-check.
//
// --new-flows (xdp method only): every frame a new 5-tuple, for session-creation rates. Frame k
// (counted from --flow-offset) has source port 1024 + k mod 64512 and source address --src-ip +
// (k / 64512) mod --src-hosts, so --src-hosts H gives H x 64 512 distinct tuples before one
// repeats; the frame is rewritten in its UMEM slot just before it is queued (the UMEM holds
// NEWFLOW_FRAMES > RING slots, so a slot is rewritten only after its previous send completed),
// with the IPv4 header checksum recomputed and the UDP checksum 0 (none; RFC 768).
//
// Output: last line "xpf-gen sent N pps N" (window), or one JSON object with --json.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

#define XSK_FRAME 2048u
#define RING 2048u
#define MAX_FLOWS 65535u
#define MAX_BATCH 256u
/* --new-flows: UMEM slots rewritten in turn (more than RING: see the header), source ports. */
#define NEWFLOW_FRAMES (2u * RING)
#define NEWFLOW_SPORT_MIN 1024u
#define NEWFLOW_PORTS (65536u - NEWFLOW_SPORT_MIN)
#define NEWFLOW_DEFAULT_HOSTS 200u

struct opts {
	const char *ifname, *method;
	struct in_addr src, dst;
	unsigned char dmac[6], smac[6];
	int have_smac, have_dmac, have_src;
	unsigned size, flows, sport, dport, batch, queue, budget;
	double pps, duration, warmup, tail, start_at;
	unsigned long long count, flow_offset;
	unsigned src_hosts;
	int cpu, json, verbose, new_flows;
};

#include "common.h"

static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec t = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&t, &t) && errno == EINTR && !stop_flag)
		;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "xpf-gen: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static int parse_mac(const char *s, unsigned char *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", m, m + 1, m + 2, m + 3, m + 4, m + 5) == 6 ? 0 : -1;
}

static unsigned long long read_stat(const char *ifname, const char *name)
{
	char path[256], buf[64] = "";
	snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", ifname, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof buf, f))
		buf[0] = 0;
	fclose(f);
	return strtoull(buf, NULL, 10);
}

// ------------------------------------------------------------------ frames

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

// Builds the frame of flow i into buf (size bytes): Ethernet, IPv4 (DF, TTL 64), UDP, payload.
static void build_frame(const struct opts *o, unsigned i, uint8_t *buf)
{
	unsigned ip_len = o->size - 14, udp_len = ip_len - 20;
	memset(buf, 0, o->size);
	memcpy(buf, o->dmac, 6);
	memcpy(buf + 6, o->smac, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	uint8_t *ip = buf + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &o->src, 4);
	memcpy(ip + 16, &o->dst, 4);
	uint16_t c = csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	unsigned sport = o->sport + i;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(o->dport >> 8);
	udp[3] = (uint8_t)o->dport;
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	for (unsigned k = 8; k < udp_len; k++)
		udp[k] = (uint8_t)('a' + k % 26);
	uint8_t pseudo[12];
	memcpy(pseudo, &o->src, 4);
	memcpy(pseudo + 4, &o->dst, 4);
	pseudo[8] = 0;
	pseudo[9] = 17;
	pseudo[10] = (uint8_t)(udp_len >> 8);
	pseudo[11] = (uint8_t)udp_len;
	c = csum_fold(csum_add(csum_add(0, pseudo, 12), udp, udp_len));
	if (c == 0)
		c = 0xffff;
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
}

// --new-flows: makes the frame at f (built by build_frame) carry tuple k (see the header).
static void set_new_tuple(const struct opts *o, uint8_t *f, unsigned long long k)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	unsigned sport = NEWFLOW_SPORT_MIN + (unsigned)(k % NEWFLOW_PORTS);
	uint32_t src = htonl(ntohl(o->src.s_addr) + (uint32_t)(k / NEWFLOW_PORTS % o->src_hosts));
	memcpy(ip + 12, &src, 4);
	ip[10] = ip[11] = 0;
	uint16_t c = csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[6] = udp[7] = 0;
}

// ------------------------------------------------------------------ run state

struct run {
	const struct opts *o;
	double t_start, t_win0, t_win1, t_end;
	unsigned long long submitted, completed, errors, eagain;
	/* snapshots of (completed - errors), errors and interface counters at the window edges */
	int win_open, win_closed;
	unsigned long long w_sent0, w_sent1, w_err0, w_err1, if_tx0, if_tx1, if_drop0, if_drop1;
	double w_t0, w_t1;
	unsigned next_flow;
};

static unsigned long long sent_ok(const struct run *r) { return r->completed - r->errors; }

// Called in the send loop: opens/closes the measurement window; returns 1 when the run is over.
static int tick(struct run *r, double t)
{
	if (!r->win_open && t >= r->t_win0) {
		r->win_open = 1;
		r->w_t0 = t;
		r->w_sent0 = sent_ok(r);
		r->w_err0 = r->errors;
		r->if_tx0 = read_stat(r->o->ifname, "tx_packets");
		r->if_drop0 = read_stat(r->o->ifname, "tx_dropped");
	}
	if (r->win_open && !r->win_closed && (t >= r->t_win1 || stop_flag)) {
		r->win_closed = 1;
		r->w_t1 = t;
		r->w_sent1 = sent_ok(r);
		r->w_err1 = r->errors;
		r->if_tx1 = read_stat(r->o->ifname, "tx_packets");
		r->if_drop1 = read_stat(r->o->ifname, "tx_dropped");
	}
	if (stop_flag)
		return 1;
	if (r->o->count)
		return r->submitted >= r->o->count;
	return t >= r->t_end;
}

// How many frames may go now (rate limit, count, batch).
static unsigned budget_now(struct run *r, double t)
{
	const struct opts *o = r->o;
	unsigned long long n = o->batch;
	if (o->count && o->count - r->submitted < n)
		n = o->count - r->submitted;
	if (o->pps > 0) {
		double due = o->pps * (t - r->t_start) + 1;
		unsigned long long allowed = due > (double)r->submitted ? (unsigned long long)due - r->submitted : 0;
		if (allowed < n)
			n = allowed;
	}
	return (unsigned)n;
}

// Rate-limited and idle: sleep a little instead of spinning.
static void pace_wait(struct run *r, double t)
{
	const struct opts *o = r->o;
	if (o->pps <= 0)
		return;
	double next = (double)r->submitted / o->pps + r->t_start;
	double d = next - t;
	if (d > 20e-6)
		sleep_s(d > 1e-3 ? 1e-3 : d);
}

// ------------------------------------------------------------------ AF_XDP (copy mode, TX only)

static int run_xdp(struct run *r)
{
	const struct opts *o = r->o;
	size_t umem_len = ((size_t)o->flows * XSK_FRAME + 4095) & ~(size_t)4095;
	void *area = mmap(NULL, umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (area == MAP_FAILED)
		die("mmap UMEM: %s", strerror(errno));
	for (unsigned i = 0; i < o->flows; i++)
		build_frame(o, i, (uint8_t *)area + (size_t)i * XSK_FRAME);

	/* zeroed: libxdp does not initialise the cached indices of the completion ring */
	struct xsk_ring_prod fq = { 0 }, tx = { 0 };
	struct xsk_ring_cons cq = { 0 };
	struct xsk_umem *umem;
	struct xsk_umem_config uc = { .fill_size = RING, .comp_size = RING, .frame_size = XSK_FRAME,
				      .frame_headroom = 0, .flags = 0 };
	int e = xsk_umem__create(&umem, area, umem_len, &fq, &cq, &uc);
	if (e)
		die("xsk_umem__create: %s", strerror(-e));
	struct xsk_socket *xsk;
	struct xsk_socket_config sc = { .rx_size = RING, .tx_size = RING,
					.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					.bind_flags = XDP_COPY };
	/* A socket closed just before (previous run) releases its queue binding asynchronously:
	 * EBUSY for a moment. Retry for up to 3 s. */
	for (int tries = 0;; tries++) {
		e = xsk_socket__create(&xsk, o->ifname, o->queue, umem, NULL, &tx, &sc);
		if (e != -EBUSY || tries >= 60 || stop_flag)
			break;
		sleep_s(0.05);
	}
	if (e)
		die("xsk_socket__create (copy mode, TX only): %s", strerror(-e));
	int fd = xsk_socket__fd(xsk);
	if (o->budget) {
		unsigned b = o->budget;
		if (setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &b, sizeof b) && o->verbose)
			fprintf(stderr, "xpf-gen: XDP_MAX_TX_SKB_BUDGET not supported here (%s); kernel default\n",
				strerror(errno));
	}

	double t = now_mono();
	while (!tick(r, t)) {
		unsigned idx;
		unsigned n = xsk_ring_cons__peek(&cq, RING, &idx);
		if (n) {
			xsk_ring_cons__release(&cq, n);
			r->completed += n;
		}
		unsigned want = budget_now(r, t);
		unsigned long long outstanding = r->submitted - r->completed;
		if (want > RING - outstanding)
			want = (unsigned)(RING - outstanding);
		if (want) {
			unsigned m = xsk_ring_prod__reserve(&tx, want, &idx);
			for (unsigned k = 0; k < m; k++) {
				struct xdp_desc *d = xsk_ring_prod__tx_desc(&tx, idx + k);
				d->addr = (uint64_t)r->next_flow * XSK_FRAME;
				d->len = o->size;
				d->options = 0;
				if (o->new_flows)
					set_new_tuple(o, (uint8_t *)area + d->addr, o->flow_offset + r->submitted + k);
				if (++r->next_flow == o->flows)
					r->next_flow = 0;
			}
			xsk_ring_prod__submit(&tx, m);
			r->submitted += m;
		}
		if (r->submitted != r->completed) {
			if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
				if (errno == EBUSY)
					r->errors++; /* one frame dropped by the device (completed, not sent) */
				else if (errno == EAGAIN || errno == ENOBUFS)
					r->eagain++;
				else if (errno != EINTR)
					die("sendto: %s", strerror(errno));
			}
		} else if (!want) {
			pace_wait(r, t);
		}
		t = now_mono();
	}
	/* drain: wait (bounded) for the kernel to complete what was submitted */
	double deadline = now_mono() + 1.0;
	while (r->completed < r->submitted && now_mono() < deadline) {
		unsigned idx, n = xsk_ring_cons__peek(&cq, RING, &idx);
		if (n) {
			xsk_ring_cons__release(&cq, n);
			r->completed += n;
		} else if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno == EBUSY) {
			r->errors++;
		}
	}
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	munmap(area, umem_len);
	return 0;
}

// ------------------------------------------------------------------ AF_PACKET

static int packet_socket(const struct opts *o)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: receives nothing */
	if (fd < 0)
		die("socket(AF_PACKET): %s", strerror(errno));
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one))
		fprintf(stderr, "xpf-gen: PACKET_QDISC_BYPASS: %s (continuing)\n", strerror(errno));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(o->ifname) };
	if (!sll.sll_ifindex)
		die("no interface %s", o->ifname);
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll))
		die("bind(AF_PACKET): %s", strerror(errno));
	return fd;
}

static int run_ring(struct run *r)
{
	const struct opts *o = r->o;
	int fd = packet_socket(o);
	int v = TPACKET_V2;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v))
		die("PACKET_VERSION: %s", strerror(errno));
	unsigned data_off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	unsigned fsz = 128;
	while (fsz < data_off + o->size)
		fsz <<= 1;
	struct tpacket_req req = { .tp_block_size = 1u << 16, .tp_frame_size = fsz };
	req.tp_frame_nr = RING * 2;
	req.tp_block_nr = req.tp_frame_nr / (req.tp_block_size / fsz);
	if (!req.tp_block_nr)
		req.tp_block_nr = 1;
	req.tp_frame_nr = req.tp_block_nr * (req.tp_block_size / fsz);
	if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req))
		die("PACKET_TX_RING: %s", strerror(errno));
	size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
	uint8_t *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (ring == MAP_FAILED)
		die("mmap TX ring: %s", strerror(errno));
	uint8_t *frames = malloc((size_t)o->flows * o->size);
	if (!frames)
		die("%s", "out of memory");
	for (unsigned i = 0; i < o->flows; i++)
		build_frame(o, i, frames + (size_t)i * o->size);
	unsigned nslots = req.tp_frame_nr, head = 0;
	unsigned char *mine = calloc(nslots, 1); /* slot holds a frame we submitted, not yet seen free */

	double t = now_mono();
	while (!tick(r, t)) {
		unsigned want = budget_now(r, t), m = 0;
		while (m < want) {
			struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)head * fsz);
			unsigned st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
			if (st != TP_STATUS_AVAILABLE) {
				if (st & TP_STATUS_WRONG_FORMAT)
					die("%s", "TX ring: frame in wrong format");
				break; /* ring full: kernel still sending */
			}
			if (mine[head]) {
				r->completed++;
				mine[head] = 0;
			}
			memcpy((uint8_t *)h + data_off, frames + (size_t)r->next_flow * o->size, o->size);
			h->tp_len = o->size;
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			mine[head] = 1;
			if (++r->next_flow == o->flows)
				r->next_flow = 0;
			if (++head == nslots)
				head = 0;
			m++;
		}
		r->submitted += m;
		if (m || r->submitted != r->completed) {
			if (send(fd, NULL, 0, MSG_DONTWAIT) < 0) {
				if (errno == ENOBUFS)
					r->errors++; /* the device dropped a frame */
				else if (errno == EAGAIN)
					r->eagain++;
				else if (errno != EINTR)
					die("send(TX ring): %s", strerror(errno));
			}
		}
		if (!want)
			pace_wait(r, t);
		t = now_mono();
		/* completions are counted lazily when a slot is reused; count the free ones now and then */
		if (!m) {
			for (unsigned k = 0; k < nslots; k++) {
				struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)k * fsz);
				if (mine[k] && __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_AVAILABLE) {
					mine[k] = 0;
					r->completed++;
				}
			}
		}
	}
	double deadline = now_mono() + 1.0;
	for (;;) {
		unsigned pending = 0;
		for (unsigned k = 0; k < nslots; k++) {
			struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)k * fsz);
			if (!mine[k])
				continue;
			if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_AVAILABLE) {
				mine[k] = 0;
				r->completed++;
			} else {
				pending++;
			}
		}
		if (!pending || now_mono() > deadline)
			break;
		if (send(fd, NULL, 0, MSG_DONTWAIT) < 0 && errno == ENOBUFS)
			r->errors++;
	}
	munmap(ring, len);
	close(fd);
	free(frames);
	free(mine);
	return 0;
}

static int run_mmsg(struct run *r)
{
	const struct opts *o = r->o;
	int fd = packet_socket(o);
	uint8_t *frames = malloc((size_t)o->flows * o->size);
	if (!frames)
		die("%s", "out of memory");
	for (unsigned i = 0; i < o->flows; i++)
		build_frame(o, i, frames + (size_t)i * o->size);
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	memset(msgs, 0, sizeof msgs);
	double t = now_mono();
	while (!tick(r, t)) {
		unsigned want = budget_now(r, t);
		if (!want) {
			pace_wait(r, t);
			t = now_mono();
			continue;
		}
		for (unsigned k = 0; k < want; k++) {
			iov[k].iov_base = frames + (size_t)r->next_flow * o->size;
			iov[k].iov_len = o->size;
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			if (++r->next_flow == o->flows)
				r->next_flow = 0;
		}
		int n = sendmmsg(fd, msgs, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS) {
				r->errors++;
				n = 1; /* the first frame was dropped */
			} else if (errno == EAGAIN || errno == EINTR) {
				r->eagain++;
				n = 0;
			} else {
				die("sendmmsg: %s", strerror(errno));
			}
		}
		/* a frame the next call would start with is the one after the last accepted */
		r->next_flow = (unsigned)((r->next_flow + o->flows - (want - (unsigned)n) % o->flows) % o->flows);
		r->submitted += (unsigned)n;
		r->completed += (unsigned)n;
		t = now_mono();
	}
	close(fd);
	free(frames);
	return 0;
}

// ------------------------------------------------------------------ main

static void usage(void)
{
	fprintf(stderr,
		"usage: xpf-gen -i IFNAME --dst-ip A.B.C.D --dst-mac MAC [options]\n"
		"  --src-ip A.B.C.D     source address (default: the interface's first IPv4 address)\n"
		"  --src-mac MAC        source MAC (default: the interface's)\n"
		"  --size N             frame size in bytes incl. Ethernet header, no FCS (default 64; 42..1514)\n"
		"  --flows N            flows: source ports SPORT..SPORT+N-1 (default 1000)\n"
		"  --sport N            first source port (default 10000)\n"
		"  --dport N            destination port (default 9)\n"
		"  --pps N              rate limit in frames per second (default: as fast as possible)\n"
		"  --duration S         measured seconds (default 5)\n"
		"  --warmup S           seconds sent before the measurement window (default 0)\n"
		"  --tail S             seconds sent after the window (default 0)\n"
		"  --count N            send N frames instead (window = the whole send)\n"
		"  --start-at EPOCH     start at this wall-clock time (seconds since the epoch, fractional)\n"
		"  --method xdp|ring|mmsg  AF_XDP copy-mode TX (default), AF_PACKET TX ring, sendmmsg\n"
		"  --cpu N              pin to CPU N\n"
		"  --batch N            frames per send call (default 64, max 256)\n"
		"  --queue N            TX queue for AF_XDP (default 0)\n"
		"  --tx-budget N        AF_XDP: XDP_MAX_TX_SKB_BUDGET if the kernel has it (default 0: kernel default)\n"
		"  --json               print one JSON object instead of the text line\n"
		"  --new-flows          xdp only: every frame a new 5-tuple (source port, then source address)\n"
		"  --src-hosts N        --new-flows: source addresses --src-ip .. +N-1 (default 200)\n"
		"  --flow-offset N      --new-flows: index of the first tuple (default 0)\n"
		"  -v                   verbose\n");
}

static int get_if_ipv4(const char *ifname, struct in_addr *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	int r = ioctl(fd, SIOCGIFADDR, &ifr);
	close(fd);
	if (r)
		return -1;
	*a = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
	return 0;
}

static int get_if_mac(const char *ifname, unsigned char *m)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	int r = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (r)
		return -1;
	memcpy(m, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .method = "xdp", .size = 64, .flows = 1000, .sport = 10000, .dport = 9, .batch = 64,
			  .duration = 5, .cpu = -1, .src_hosts = NEWFLOW_DEFAULT_HOSTS };
	enum { O_DSTIP = 256, O_SRCIP, O_DSTMAC, O_SRCMAC, O_SIZE, O_FLOWS, O_SPORT, O_DPORT, O_PPS, O_DUR,
	       O_WARM, O_TAIL, O_COUNT, O_START, O_METHOD, O_CPU, O_BATCH, O_QUEUE, O_BUDGET, O_JSON,
	       O_NEWFLOWS, O_HOSTS, O_OFFSET };
	static const struct option lo[] = {
		{ "ifname", 1, 0, 'i' }, { "dst-ip", 1, 0, O_DSTIP }, { "src-ip", 1, 0, O_SRCIP },
		{ "dst-mac", 1, 0, O_DSTMAC }, { "src-mac", 1, 0, O_SRCMAC }, { "size", 1, 0, O_SIZE },
		{ "flows", 1, 0, O_FLOWS }, { "sport", 1, 0, O_SPORT }, { "dport", 1, 0, O_DPORT },
		{ "pps", 1, 0, O_PPS }, { "duration", 1, 0, O_DUR }, { "warmup", 1, 0, O_WARM },
		{ "tail", 1, 0, O_TAIL }, { "count", 1, 0, O_COUNT }, { "start-at", 1, 0, O_START },
		{ "method", 1, 0, O_METHOD }, { "cpu", 1, 0, O_CPU }, { "batch", 1, 0, O_BATCH },
		{ "queue", 1, 0, O_QUEUE }, { "tx-budget", 1, 0, O_BUDGET }, { "json", 0, 0, O_JSON },
		{ "new-flows", 0, 0, O_NEWFLOWS }, { "src-hosts", 1, 0, O_HOSTS }, { "flow-offset", 1, 0, O_OFFSET },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "i:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case 'v': o.verbose = 1; break;
		case O_DSTIP: if (inet_pton(AF_INET, optarg, &o.dst) != 1) die("bad --dst-ip %s", optarg); break;
		case O_SRCIP: if (inet_pton(AF_INET, optarg, &o.src) != 1) die("bad --src-ip %s", optarg); o.have_src = 1; break;
		case O_DSTMAC: if (parse_mac(optarg, o.dmac)) die("bad --dst-mac %s", optarg); o.have_dmac = 1; break;
		case O_SRCMAC: if (parse_mac(optarg, o.smac)) die("bad --src-mac %s", optarg); o.have_smac = 1; break;
		case O_SIZE: o.size = (unsigned)atoi(optarg); break;
		case O_FLOWS: o.flows = (unsigned)atoi(optarg); break;
		case O_SPORT: o.sport = (unsigned)atoi(optarg); break;
		case O_DPORT: o.dport = (unsigned)atoi(optarg); break;
		case O_PPS: o.pps = atof(optarg); break;
		case O_DUR: o.duration = atof(optarg); break;
		case O_WARM: o.warmup = atof(optarg); break;
		case O_TAIL: o.tail = atof(optarg); break;
		case O_COUNT: o.count = strtoull(optarg, NULL, 10); break;
		case O_START: o.start_at = atof(optarg); break;
		case O_METHOD: o.method = optarg; break;
		case O_CPU: o.cpu = atoi(optarg); break;
		case O_BATCH: o.batch = (unsigned)atoi(optarg); break;
		case O_QUEUE: o.queue = (unsigned)atoi(optarg); break;
		case O_BUDGET: o.budget = (unsigned)atoi(optarg); break;
		case O_JSON: o.json = 1; break;
		case O_NEWFLOWS: o.new_flows = 1; break;
		case O_HOSTS: o.src_hosts = (unsigned)atoi(optarg); break;
		case O_OFFSET: o.flow_offset = strtoull(optarg, NULL, 10); break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!o.ifname || !o.dst.s_addr || !o.have_dmac) {
		usage();
		return 2;
	}
	if (o.size < 42 || o.size > 1514)
		die("%s", "--size must be 42..1514");
	if (o.flows < 1 || o.flows > MAX_FLOWS || o.sport + o.flows - 1 > 65535 || o.sport < 1)
		die("%s", "--flows/--sport: source ports must stay within 1..65535 (flows 1..65535)");
	if (o.dport < 1 || o.dport > 65535)
		die("%s", "--dport must be 1..65535");
	if (o.batch < 1 || o.batch > MAX_BATCH)
		die("%s", "--batch must be 1..256");
	if (o.duration <= 0 && !o.count)
		die("%s", "--duration must be > 0");
	if (o.new_flows && strcmp(o.method, "xdp"))
		die("%s", "--new-flows needs --method xdp");
	if (o.new_flows && (o.src_hosts < 1 || o.src_hosts > 65536))
		die("%s", "--src-hosts must be 1..65536");
	if (o.new_flows) /* UMEM slots, rewritten in turn */
		o.flows = NEWFLOW_FRAMES;
	if (!o.have_smac && get_if_mac(o.ifname, o.smac))
		die("cannot read the MAC of %s (does it exist in this namespace?)", o.ifname);
	if (!o.have_src && get_if_ipv4(o.ifname, &o.src))
		die("%s has no IPv4 address: give --src-ip", o.ifname);
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set))
			die("cannot pin to the CPU: %s", strerror(errno));
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	struct run r = { .o = &o };
	if (o.start_at > 0) {
		double d = o.start_at - now_real();
		if (d > 60)
			die("%s", "--start-at is more than 60 s away");
		sleep_s(d);
	}
	r.t_start = now_mono();
	if (o.count) {
		r.t_win0 = r.t_start;
		r.t_win1 = 1e300; /* closed when the count is reached */
		r.t_end = 1e300;
	} else {
		r.t_win0 = r.t_start + o.warmup;
		r.t_win1 = r.t_win0 + o.duration;
		r.t_end = r.t_win1 + o.tail;
	}
	int rc;
	if (!strcmp(o.method, "xdp"))
		rc = run_xdp(&r);
	else if (!strcmp(o.method, "ring"))
		rc = run_ring(&r);
	else if (!strcmp(o.method, "mmsg"))
		rc = run_mmsg(&r);
	else
		die("unknown --method %s (xdp, ring, mmsg)", o.method);
	double t_done = now_mono();
	if (o.verbose)
		fprintf(stderr, "xpf-gen: submitted %llu completed %llu errors %llu eagain %llu\n", r.submitted,
			r.completed, r.errors, r.eagain);
	if (!r.win_open) { /* stopped before the window opened */
		r.win_open = 1;
		r.w_t0 = t_done;
		r.w_sent0 = sent_ok(&r);
		r.w_err0 = r.errors;
	}
	if (!r.win_closed) { /* count mode, or interrupted: the window ends after the drain */
		r.win_closed = 1;
		r.w_t1 = t_done;
		r.w_sent1 = sent_ok(&r);
		r.w_err1 = r.errors;
		r.if_tx1 = read_stat(o.ifname, "tx_packets");
		r.if_drop1 = read_stat(o.ifname, "tx_dropped");
	}
	double secs = r.w_t1 - r.w_t0;
	unsigned long long wsent = r.w_sent1 - r.w_sent0, werr = r.w_err1 - r.w_err0;
	unsigned long long pps = secs > 0 ? (unsigned long long)((double)wsent / secs + 0.5) : 0;
	unsigned long long iftx = r.if_tx1 - r.if_tx0, ifdrop = r.if_drop1 - r.if_drop0;
	if (o.json) {
		printf("{\"tool\": \"xpf-gen\", \"method\": \"%s\", \"ifname\": \"%s\", \"size\": %u, \"flows\": %u, "
		       "\"sent\": %llu, \"errors\": %llu, \"pps\": %llu, \"seconds\": %.6f, "
		       "\"total_sent\": %llu, \"total_errors\": %llu, \"total_seconds\": %.6f, "
		       "\"if_tx_packets\": %llu, \"if_tx_dropped\": %llu, \"eagain\": %llu, \"new_flows\": %s}\n",
		       o.method, o.ifname, o.size, o.flows, wsent, werr, pps, secs, sent_ok(&r), r.errors,
		       t_done - r.t_start, iftx, ifdrop, r.eagain, o.new_flows ? "true" : "false");
	} else {
		printf("xpf-gen %s on %s: %u-byte frames, %u flows; window %.3f s: sent %llu errors %llu "
		       "(interface tx %llu dropped %llu); total sent %llu errors %llu in %.3f s\n",
		       o.method, o.ifname, o.size, o.flows, secs, wsent, werr, iftx, ifdrop, sent_ok(&r), r.errors,
		       t_done - r.t_start);
		printf("xpf-gen sent %llu pps %llu\n", wsent, pps);
	}
	return rc;
}
