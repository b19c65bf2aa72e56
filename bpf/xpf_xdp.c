// SPDX-License-Identifier: GPL-2.0
/* xpf_xdp.c — the XDP program xpfd attaches to every dataplane interface.
 *
 * Its job is triage: every frame either stays with the kernel (XDP_PASS), goes
 * to the worker that owns the receive queue (redirect into xsks_map), or is
 * dropped — because no worker is there to take it, or because it is addressed to
 * the box and its interface's host-inbound-traffic or junos-host policies refuse it
 * (the one check made here, since such packets never reach a worker). Everything
 * else the firewall decides lives in the userspace worker. The program reads the maps
 * xpfd fills in and host_flows, the flows the box opened, which this object's second
 * program (xpf_tc_egress, at the end of this file) records as the box sends.
 *
 * What goes to the kernel, and why:
 *   - frames on interfaces xpfd did not register (if_slots): not ours;
 *   - non-IP frames (ARP, LLDP, STP, ...): the kernel's own stack answers ARP
 *     and runs whatever L2 control protocols are configured;
 *   - multicast/broadcast, IPv6 link-local other than the box's own, and NDP: routing
 *     protocols, DHCP,
 *     neighbour discovery — the kernel keeps the neighbour tables the worker
 *     relies on, so it must see these;
 *   - traffic to the box's own addresses (local_addrs): SSH, management, BGP
 *     sessions terminate in the kernel, not in the forwarding path — but only what
 *     the ingress interface's input firewall filter, its host-inbound-traffic (and
 *     junos-host policies) and lo0's input filter all let through, checked on every
 *     packet, established flows included (host_filters, host_inbound); the rest is
 *     dropped here, or answered with the filter's reject (a RST or an ICMP unreachable
 *     sent back with XDP_TX);
 *   - frames we cannot parse: the kernel drops malformed packets itself and
 *     accounts for them, which is better than a silent drop here.
 * Everything else is transit traffic and belongs to a worker. If the worker for
 * the queue is missing (its socket closed, so the kernel removed its xsks_map
 * entry) the frame is dropped: transit traffic must never bypass the firewall
 * by falling through to the kernel's forwarding (fail closed).
 *
 * The map layout, counter indices and ABI version are defined in
 * xpf_bpf_abi.h, shared with userspace.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xpf_bpf_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* ABI version of this object, compared by xpfd against its own
 * XPF_BPF_ABI_VERSION before attaching. `const volatile` puts it in .rodata,
 * which libbpf exposes as the internal map "<obj>.rodata" (find it with
 * bpf_object__find_map_by_name(obj, ".rodata")); read it with
 * bpf_map__initial_value() before load, or with a lookup of key 0 on that
 * map's fd after load. It sits at offset 0 of .rodata as the only read-only
 * global; BTF (the DATASEC for .rodata) records its exact offset either way. */
const volatile __u32 xpf_abi_version = XPF_BPF_ABI_VERSION;

/* XSKMAP takes no BTF key/value types, so sizes are given instead. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XPF_MAX_IFACES * XPF_MAX_QUEUES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_if_slot);
} if_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_MAX_LOCAL_ADDRS);
	__type(key, struct xpf_addr_key);
	__type(value, __u32);
} local_addrs SEC(".maps");

/* Host-inbound tables, two banks of one per interface slot; host_inbound_bank says
 * which bank is current (layout, writer and ordering in xpf_bpf_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS * XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_host_inbound);
} host_inbound SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} host_inbound_bank SEC(".maps");

/* junos-host policies, beside host_inbound: same keys, banks and bank word. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS * XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_junos_host);
} junos_host SEC(".maps");

/* The box's own flows (xpf_bpf_abi.h): written by xpf_tc_egress, read by the reply rule. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XPF_HOST_FLOWS_MAX);
	__type(key, struct xpf_host_flow);
	__type(value, __u32);
} host_flows SEC(".maps");

/* The box's own traffic: from junos-host policies, read by xpf_tc_egress. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS * XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_junos_host);
} junos_host_out SEC(".maps");

/* Firewall filters on host-bound traffic (xpf_bpf_abi.h, "Firewall filters on host-bound
 * traffic"): the tables per bank, beside host_inbound and switched by the same bank word. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS);
	__type(key, __u32);
	__type(value, struct xpf_host_filters);
} host_filters SEC(".maps");

/* Per-CPU packet and byte counts of the filters' terms, counters and policers, per bank. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS * XPF_HF_ROWS);
	__type(key, __u32);
	__type(value, struct xpf_hf_count);
} host_filter_hits SEC(".maps");

/* The program's own policer buckets for host-bound packets, per bank (parameters from xpfd). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_HOST_INBOUND_BANKS * XPF_HF_MAX_POLICERS);
	__type(key, __u32);
	__type(value, struct xpf_hf_policer);
} host_filter_policers SEC(".maps");

/* `log` / `syslog` records, drained by xpfd. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XPF_HF_LOG_BYTES);
} host_filter_log SEC(".maps");

/* The ICMP errors a reject sends, limited per CPU as each worker limits its own
 * (ICMPError.swift, ICMPRateLimit: RFC 1812 §4.3.2.8): HF_ICMP_PER_SECOND in bursts of
 * HF_ICMP_BURST. A RST is not limited (it is no larger than the segment it answers and goes
 * to the same source, as the workers' are). Per CPU: XDP runs to completion on one CPU, so
 * the plain read-modify-write needs no lock. Tests reset it (hf_icmp_limit_reset). */
#define HF_ICMP_PER_SECOND 100
#define HF_ICMP_BURST 20
#define HF_MS_PER_SECOND 1000
#define HF_NS_PER_MS 1000000
struct hf_icmp_limit {
	__u64 last_ms; /* when tokens were last added; 0: never (the bucket starts full) */
	__u32 tokens;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hf_icmp_limit);
} hf_icmp_limit SEC(".maps");

/* Scratch for a reject's reply (per CPU: XDP runs to completion on one CPU, so no two
 * packets share it). The reply is built here and stored into the frame in one copy, which
 * keeps variable lengths (IPv4 options, the ICMPv6 quote) out of direct packet access.
 * Layout: the reply from offset 0, the original TCP header at HF_REPLY_ORIG. */
#define HF_REPLY_BYTES 512
#define HF_REPLY_ORIG 448
struct hf_reply_buf {
	__u8 b[HF_REPLY_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hf_reply_buf);
} hf_reply_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_XDP_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* 802.1Q / 802.1ad tag as it follows the MAC addresses (linux/if_vlan.h is
 * kernel-internal, so it is spelled out here). */
struct vlan_tag {
	__be16 tci;
	__be16 encap_proto;
};

#define ICMPV6_ND_FIRST 133 /* Router Solicitation */
#define ICMPV6_ND_LAST 137  /* Redirect */

/* Header fields the host-inbound check reads. */
#define IPV4_FRAG_OFFSET_MASK 0x1fff /* frag_off without the flags */
#define IPV4_FRAG_OVERLAPS_TCP_FLAGS 1 /* offset in 8-byte units that lands on TCP's flags */
#define IPV6_FRAG_OFFSET_MASK 0xfff8 /* fragment header's offset, in place */
#define TCP_FLAGS_OFFSET 13	     /* byte of TCP flags in the TCP header */
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_SYN 0x02
#define IPV4_MULTICAST_MASK 0xf0000000 /* 224.0.0.0/4 */
#define IPV4_MULTICAST_NET 0xe0000000
#define IPV4_LIMITED_BROADCAST 0xffffffff
#define L4_PORTS_BYTES 4	     /* source and destination port */
#define L4_DST_PORT_OFFSET 2	     /* TCP/UDP destination port, network order */
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETER_PROB 12
#define ICMPV6_ERROR_FIRST 1	     /* destination unreachable */
#define ICMPV6_ERROR_LAST 4	     /* parameter problem */
#define ICMPV6_ECHO_REPLY 129
#define ICMP_ECHO_REQUEST 8
#define ICMPV6_ECHO_REQUEST 128
/* IPv6 extension headers: next header and length (8-octet units beyond the first 8;
 * AH counts 4-octet units beyond the first 8) in their first two bytes. */
#define IPV6_EXT_HOP_BY_HOP 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_AH 51
#define IPV6_EXT_DSTOPTS 60
#define IPV6_FRAGMENT_HEADER_BYTES 8
#define IPV6_FRAG_OFFSET_BYTE 2 /* offset and M flag, network order, in the fragment header */
#define IPV6_FRAG_MORE 0x01	/* M flag, in the fragment header's byte IPV6_FRAG_OFFSET_BYTE + 1 */
#define IPV4_MORE_FRAGMENTS 0x2000 /* frag_off's MF flag */
#define IPV4_DSCP_SHIFT 2	    /* DSCP: the TOS / traffic class without its 2 ECN bits */
#define IPV6_MAX_LENGTH 0xffff	    /* a datagram length as filters see it (u16; jumbograms clamp) */

/* Per-CPU counter, so a plain increment is race-free. */
static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline int pass(__u32 idx)
{
	count(idx);
	return XDP_PASS;
}

static __always_inline int is_local(struct xpf_addr_key *key)
{
	return bpf_map_lookup_elem(&local_addrs, key) != NULL;
}

/* What a host-bound packet is, for the host-inbound check and the junos-host policies. */
struct host_packet {
	__u8 family_bit;     /* XPF_HOST_INBOUND_FAMILY_* */
	__u8 protocol;	     /* after IPv6 extension headers */
	__u8 later_fragment; /* a non-first fragment: no L4 header */
	void *l4;	     /* start of the L4 header (unchecked against data_end) */
	__u32 l4_len;	     /* bytes from l4 to the end of the IP packet as its header declares */
	__u32 src[4], dst[4]; /* addresses as raw words in network order; IPv4 in word 0, rest 0 */
	/* For the filters only; last, in stack slots of their own (in the slots of the fields
	 * above they cost the verifier several times the states). */
	__u16 length;	     /* the IP datagram's length as its header declares */
	__u16 l4_off;	     /* l4 - the IP header's start (a reject's reply) */
	__u8 first_fragment; /* offset 0 with more fragments to come */
};

/* Whether `n` bytes of the L4 header are there: in the frame and inside the IP packet (an
 * attacker's Ethernet padding after a tiny first fragment is not TCP header). */
static __always_inline int l4_has(const struct host_packet *p, __u32 n, void *data_end)
{
	return (void *)((__u8 *)p->l4 + n) <= data_end && p->l4_len >= n;
}

/* host_inbound_admits' verdicts: refused, admitted as a reply to the box's own traffic
 * (ICMP errors, echo replies, replies to its connections, later fragments), or admitted
 * by an entry of the zone's services and protocols — only these meet junos-host policies. */
#define HOST_REFUSED 0
#define HOST_ADMIT_REPLY 1
#define HOST_ADMIT_ENTRY 2
#define L4_SRC_PORT_OFFSET 0 /* TCP/UDP source port, network order */
#define ICMP_TYPE_CODE_BYTES 2
#define IPV4_WORDS 1	     /* an IPv4 address fills word 0 of the four */
#define IPV6_WORDS 4

static __always_inline int in_range(__u16 v, __u16 first, __u16 last)
{
	return v >= first && v <= last;
}

/* The host_flows key of a packet's flow: `local` is the box's side (the destination of a
 * packet arriving, the source of one the box sends). */
static __always_inline void host_flow_key(struct xpf_host_flow *k, const struct host_packet *p, int box_sends,
					  __u16 sport, __u16 dport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->family_bit == XPF_HOST_INBOUND_FAMILY_INET ? 4 : 6;
	k->protocol = p->protocol;
	k->local_port = box_sends ? sport : dport;
	k->remote_port = box_sends ? dport : sport;
	__builtin_memcpy(k->local, box_sends ? p->src : p->dst, sizeof(k->local));
	__builtin_memcpy(k->remote, box_sends ? p->dst : p->src, sizeof(k->remote));
}

/* Whether an arriving TCP/UDP packet belongs to a flow the box opened (host_flows). */
static __always_inline int box_flow_known(const struct host_packet *p, __u16 sport, __u16 dport)
{
	struct xpf_host_flow k;

	host_flow_key(&k, p, 0, sport, dport);
	return bpf_map_lookup_elem(&host_flows, &k) != NULL;
}

/* entry_admits' pass over the entries, a bpf_loop callback: one verification of the body
 * instead of one per iteration on every path into it (with clang 21's code the unrolled
 * walks of the three callers exceeded the verifier's budget). */
struct entry_ctx {
	const struct xpf_host_inbound *t;
	__u8 protocol, family_bit;
	__u16 port;
	int found;
};

static long entry_step(__u64 i, void *arg)
{
	struct entry_ctx *c = arg;
	const struct xpf_host_inbound_entry *e;

	if (i >= XPF_HOST_INBOUND_MAX_ENTRIES)
		return 1;
	e = &c->t->entries[i];
	if (e->protocol == c->protocol && (e->families & c->family_bit) && in_range(c->port, e->port_first, e->port_last)) {
		c->found = 1;
		return 1;
	}
	return 0;
}

/* Whether an entry of `t` names (protocol, family, port): port is the TCP/UDP port or the
 * ICMP type, 0 for other protocols. */
static __always_inline int entry_admits(const struct xpf_host_inbound *t, __u8 protocol, __u8 family_bit, __u16 port)
{
	struct entry_ctx c = {.t = t, .protocol = protocol, .family_bit = family_bit, .port = port};
	__u32 n = t->n_entries;

	bpf_loop(n < XPF_HOST_INBOUND_MAX_ENTRIES ? n : XPF_HOST_INBOUND_MAX_ENTRIES, entry_step, &c, 0);
	return c.found;
}

/* The rules of xpf_bpf_abi.h ("Host-inbound traffic"), in the same order as
 * HostInboundTable.admits. Returns HOST_REFUSED, HOST_ADMIT_REPLY or HOST_ADMIT_ENTRY. Cost (BPF_PROG_TEST_RUN, whole
 * program): a 3-entry table as cheap as a transit packet's triage, ~60 ns; all 27
 * entries of `system-services all; protocols all` scanned to a refusal ~108 ns. */
static __always_inline int host_inbound_admits(const struct xpf_host_inbound *t,
					       const struct host_packet *p, void *data_end)
{
	__u8 *l4 = p->l4;
	__u16 port = 0;

	if (!(t->flags & XPF_HOST_INBOUND_F_ZONE))
		return HOST_REFUSED;
	if (p->later_fragment)
		return HOST_ADMIT_REPLY;
	if (p->protocol == IPPROTO_TCP) {
		if (!l4_has(p, TCP_FLAGS_OFFSET + 1, data_end))
			return HOST_REFUSED;
		port = ((__u16)l4[L4_DST_PORT_OFFSET] << 8) | l4[L4_DST_PORT_OFFSET + 1];
		if ((l4[TCP_FLAGS_OFFSET] & TCP_FLAG_ACK) && in_range(port, t->reply_port_first, t->reply_port_last) &&
		    box_flow_known(p, ((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1], port))
			return HOST_ADMIT_REPLY;
	} else if (p->protocol == IPPROTO_UDP) {
		if (!l4_has(p, L4_PORTS_BYTES, data_end))
			return HOST_REFUSED;
		port = ((__u16)l4[L4_DST_PORT_OFFSET] << 8) | l4[L4_DST_PORT_OFFSET + 1];
		if (in_range(port, t->reply_port_first, t->reply_port_last) &&
		    box_flow_known(p, ((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1], port))
			return HOST_ADMIT_REPLY;
	} else if ((p->protocol == IPPROTO_ICMP && p->family_bit == XPF_HOST_INBOUND_FAMILY_INET) ||
		   (p->protocol == IPPROTO_ICMPV6 && p->family_bit == XPF_HOST_INBOUND_FAMILY_INET6)) {
		if (!l4_has(p, 1, data_end))
			return HOST_REFUSED;
		port = l4[0];
		if (p->protocol == IPPROTO_ICMP &&
		    (port == ICMP_ECHO_REPLY || port == ICMP_DEST_UNREACH || port == ICMP_SOURCE_QUENCH ||
		     port == ICMP_TIME_EXCEEDED || port == ICMP_PARAMETER_PROB))
			return HOST_ADMIT_REPLY;
		if (p->protocol == IPPROTO_ICMPV6 &&
		    (port == ICMPV6_ECHO_REPLY || in_range(port, ICMPV6_ERROR_FIRST, ICMPV6_ERROR_LAST)))
			return HOST_ADMIT_REPLY;
	}
	return entry_admits(t, p->protocol, p->family_bit, port) ? HOST_ADMIT_ENTRY : HOST_REFUSED;
}

/* The junos-host lookup's three passes run as bpf_loop callbacks: the verifier checks
 * each callback once instead of walking every iteration of three bounded loops on every
 * path into them (which exceeded its budget). `t` is the map value the caller looked up;
 * indices are checked against the array sizes before any access. */
struct junos_host_prefix_ctx {
	const struct xpf_junos_host *t;
	const __u32 *addr; /* 4 words */
	__u8 family;
	__u64 bits[XPF_JUNOS_HOST_PREFIX_WORDS];
};

/* Sets bit i when prefix i contains the address. */
static long junos_host_prefix_step(__u64 i, void *arg)
{
	struct junos_host_prefix_ctx *c = arg;
	const struct xpf_junos_host_prefix *e;
	const __u32 *a = c->addr;

	if (i >= XPF_JUNOS_HOST_MAX_PREFIXES)
		return 1;
	e = &c->t->prefixes[i];
	if (e->family == c->family && (a[0] & e->mask[0]) == e->net[0] && (a[1] & e->mask[1]) == e->net[1] &&
	    (a[2] & e->mask[2]) == e->net[2] && (a[3] & e->mask[3]) == e->net[3])
		c->bits[i / 64] |= 1ull << (i % 64);
	return 0;
}

struct junos_host_term_ctx {
	const struct xpf_junos_host *t;
	__u8 protocol, icmp_type, icmp_code;
	__u16 sport, dport;
	__u64 bits;
};

/* Sets bit i when term i matches, as an application term does in the transit lookup. */
static long junos_host_term_step(__u64 i, void *arg)
{
	struct junos_host_term_ctx *c = arg;
	const struct xpf_junos_host_term *e;

	if (i >= XPF_JUNOS_HOST_MAX_TERMS)
		return 1;
	e = &c->t->terms[i];
	if (!(e->flags & XPF_JUNOS_HOST_TERM_ANY_PROTO) && e->protocol != c->protocol)
		return 0;
	if (!in_range(c->sport, e->sport_first, e->sport_last) || !in_range(c->dport, e->dport_first, e->dport_last))
		return 0;
	if (e->flags & (XPF_JUNOS_HOST_TERM_ICMP_TYPE | XPF_JUNOS_HOST_TERM_ICMP_CODE)) {
		if (c->protocol != IPPROTO_ICMP && c->protocol != IPPROTO_ICMPV6)
			return 0;
		if ((e->flags & XPF_JUNOS_HOST_TERM_ICMP_TYPE) && e->icmp_type != c->icmp_type)
			return 0;
		if ((e->flags & XPF_JUNOS_HOST_TERM_ICMP_CODE) && e->icmp_code != c->icmp_code)
			return 0;
	}
	c->bits |= 1ull << i;
	return 0;
}

#define JUNOS_HOST_NO_MATCH (-1)

struct junos_host_policy_ctx {
	const struct xpf_junos_host *t;
	__u64 src[XPF_JUNOS_HOST_PREFIX_WORDS], dst[XPF_JUNOS_HOST_PREFIX_WORDS], terms;
	int action; /* JUNOS_HOST_NO_MATCH until a policy matches */
};

/* Stops at the first policy whose prefix and term bits all meet the packet's. */
static long junos_host_policy_step(__u64 i, void *arg)
{
	struct junos_host_policy_ctx *c = arg;
	const struct xpf_junos_host_policy *e;

	if (i >= XPF_JUNOS_HOST_MAX_POLICIES)
		return 1;
	e = &c->t->policies[i];
	if (((e->src[0] & c->src[0]) | (e->src[1] & c->src[1])) &&
	    ((e->dst[0] & c->dst[0]) | (e->dst[1] & c->dst[1])) && (e->terms & c->terms)) {
		c->action = e->action;
		return 1;
	}
	return 0;
}

/* The junos-host policies of xpf_bpf_abi.h, in the order of JunosHostTable.decide, for a
 * packet host_inbound_admits admitted through an entry. Returns nonzero to pass. Cost
 * (BPF_PROG_TEST_RUN of the whole program, a TCP SYN to the box, 3 runs of 10^6, a shared
 * machine): 53-181 ns without junos-host policies, 95-150 ns with one policy, 1.4-2.3 us
 * with the largest table (128 prefixes, 64 terms, 64 policies, the last one matching) —
 * the four bpf_loop passes run every iteration through a helper call. */
static __always_inline int junos_host_permits(const struct xpf_junos_host *t, const struct host_packet *p,
					      void *data_end)
{
	__u8 *l4 = p->l4;
	__u8 family = p->family_bit == XPF_HOST_INBOUND_FAMILY_INET ? 4 : 6;
	struct junos_host_prefix_ctx src = {.t = t, .addr = p->src, .family = family};
	struct junos_host_prefix_ctx dst = {.t = t, .addr = p->dst, .family = family};
	struct junos_host_term_ctx term = {.t = t, .protocol = p->protocol};
	struct junos_host_policy_ctx policy = {.t = t, .action = JUNOS_HOST_NO_MATCH};

	if (!(t->flags & XPF_JUNOS_HOST_F_POLICIES))
		return 1;
	/* host_inbound_admits checked the bytes it read: TCP to its flags, UDP's ports. */
	if (p->protocol == IPPROTO_TCP || p->protocol == IPPROTO_UDP) {
		if (!l4_has(p, L4_PORTS_BYTES, data_end))
			return 0;
		term.sport = ((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1];
		term.dport = ((__u16)l4[L4_DST_PORT_OFFSET] << 8) | l4[L4_DST_PORT_OFFSET + 1];
	} else if (p->protocol == IPPROTO_ICMP || p->protocol == IPPROTO_ICMPV6) {
		if (!l4_has(p, ICMP_TYPE_CODE_BYTES, data_end))
			return 0;
		term.icmp_type = l4[0];
		term.icmp_code = l4[1];
	}
	bpf_loop(t->n_prefixes, junos_host_prefix_step, &src, 0);
	bpf_loop(t->n_prefixes, junos_host_prefix_step, &dst, 0);
	bpf_loop(t->n_terms, junos_host_term_step, &term, 0);
	policy.src[0] = src.bits[0];
	policy.src[1] = src.bits[1];
	policy.dst[0] = dst.bits[0];
	policy.dst[1] = dst.bits[1];
	policy.terms = term.bits;
	bpf_loop(t->n_policies, junos_host_policy_step, &policy, 0);
	if (policy.action != JUNOS_HOST_NO_MATCH)
		return policy.action == XPF_JUNOS_HOST_PERMIT;
	return (t->flags & XPF_JUNOS_HOST_F_DEFAULT_PERMIT) != 0;
}

/* table_key's results. */
#define TABLES_NONE 0	 /* no bank word yet: xpfd has written no configuration */
#define TABLES_INVALID 1 /* the bank word or the slot is out of range */
#define TABLES_FOUND 2

/* The key of interface `slot`'s tables (host_inbound, junos_host, junos_host_out) in the
 * bank xpfd last switched to, read once: xpfd may switch it meanwhile. */
static __always_inline int table_key(__u32 slot, __u32 *key)
{
	__u32 zero = 0, bank;
	__u32 *current = bpf_map_lookup_elem(&host_inbound_bank, &zero);

	if (!current)
		return TABLES_NONE;
	bank = *(volatile __u32 *)current;
	if (bank >= XPF_HOST_INBOUND_BANKS || slot >= XPF_MAX_IFACES)
		return TABLES_INVALID;
	*key = bank * XPF_MAX_IFACES + slot;
	return TABLES_FOUND;
}

/* host-inbound-traffic and junos-host policies for a host-bound packet on interface
 * `slot`, with the tables of `bank` (the bank word as host_bound_verdict read it;
 * XPF_HOST_INBOUND_BANKS: none written yet). -1 when its interface's host-inbound-traffic
 * admits it and, when admitted by a service or protocol entry, its zone's junos-host
 * policies permit it; else the counter of the drop (DROP_HOST_INBOUND or
 * DROP_HOST_POLICY), for the caller to count. A slot without tables (none written yet)
 * admits nothing: fail closed. */
static __noinline int host_inbound_check(__u32 bank, __u32 slot, const struct host_packet *p, void *data_end)
{
	__u32 key;
	struct xpf_host_inbound *t;
	struct xpf_junos_host *jh;
	int admitted;

	if (bank >= XPF_HOST_INBOUND_BANKS || slot >= XPF_MAX_IFACES)
		goto deny;
	key = bank * XPF_MAX_IFACES + slot;
	t = bpf_map_lookup_elem(&host_inbound, &key);
	if (!t)
		goto deny;
	admitted = host_inbound_admits(t, p, data_end);
	if (admitted == HOST_ADMIT_REPLY)
		return -1;
	if (admitted != HOST_ADMIT_ENTRY)
		goto deny;
	jh = bpf_map_lookup_elem(&junos_host, &key);
	if (jh && junos_host_permits(jh, p, data_end))
		return -1;
	return XPF_XDP_DROP_HOST_POLICY;
deny:
	return XPF_XDP_DROP_HOST_INBOUND;
}

/* ---- firewall filters on host-bound traffic ------------------------------------------ */

/* Values of xpf_config_abi.h, which cannot be included here (it pulls in libc headers
 * the BPF target has none of): enum xpf_loss_priority's middle priorities, the policer
 * tick and cost shifts, and the enum xpf_reject_reason values RejectReply.filter maps. */
#define HF_LP_MEDIUM_LOW 2
#define HF_LP_MEDIUM_HIGH 3
#define HF_POLICER_TICK_SHIFT 6
#define HF_POLICER_COST_SHIFT 8
#define HF_REJECT_ADDRESS_UNREACHABLE 1
#define HF_REJECT_BEYOND_SCOPE 2
#define HF_REJECT_FRAGMENTATION_NEEDED 3
#define HF_REJECT_HOST_PROHIBITED 4
#define HF_REJECT_HOST_UNKNOWN 5
#define HF_REJECT_HOST_UNREACHABLE 6
#define HF_REJECT_NETWORK_PROHIBITED 7
#define HF_REJECT_NETWORK_UNKNOWN 8
#define HF_REJECT_NETWORK_UNREACHABLE 9
#define HF_REJECT_NO_ROUTE 10
#define HF_REJECT_PORT_UNREACHABLE 11
#define HF_REJECT_PROTOCOL_UNREACHABLE 12
#define HF_REJECT_SOURCE_ROUTE_FAILED 13

#define HF_FAMILY_INET 0 /* xpf_hf_chain's family index */
#define HF_FAMILY_INET6 1
#define HF_SET_WORD_SHIFT 6 /* xpf_hf_set: value v in bits[v >> 6], bit v & 63 */
#define HF_SET_BIT_MASK 63
#define HF_DSCP_MASK 63
#define HF_LP_BITS 8 /* xpf_hf_term.loss_priorities is a byte */
#define HF_NO_REWRITE (-1)
#define HF_IPV6_HEADER_BYTES 40
#define IPV4_HEADER_BYTES 20
#define IPV4_IHL_MASK 0x0f

/* A segment's outcome (hf_state.verdict). */
#define HF_SEG_NONE 0	 /* no term decided: the implicit discard */
#define HF_SEG_ACCEPT 1
#define HF_SEG_DISCARD 2
#define HF_SEG_REJECT 3
#define HF_SEG_POLICED 4 /* a term's policer discarded the packet */

/* What the packet offers a term's conditions (FilterStage.swift's FilterFields): copied from
 * the parse by host_bound_verdict, the L4 fields and the DSCP read from the frame at each
 * segment's start (hf_fields_read), so lo0's filter sees a DSCP the interface's wrote. */
#define HF_ECHO_REQUEST 1	/* hf_icmp_echo's results */
#define HF_ECHO_REPLY 2
#define ICMP_ECHO_ID_OFFSET 4	/* an echo's identifier, after type, code and checksum */
#define ICMP_ECHO_ID_END 6

struct hf_fields {
	__u32 src[4], dst[4]; /* network-order words, IPv4 in word 0 */
	__u16 sport, dport;   /* host order; valid with has_ports */
	__u16 length;	      /* the IP datagram's length */
	__u8 family;	      /* 4 or 6 */
	__u8 protocol;
	__u8 has_ports, is_tcp, is_icmp; /* the header is there and the packet is not a later fragment */
	__u8 tcp_flags, icmp_type, icmp_code;
	__u8 later_fragment, first_fragment;
	__u8 dscp;
	__u16 icmp_id;	      /* an echo request's or reply's identifier (host order), else 0 */
};

/* What hf_term_match reads: the bank, the pool term, the packet's fields and its marks
 * as the segment's filter found them. */
struct hf_match {
	struct hf_fields f;
	__u32 bank;
	__u32 term;
	__u32 match_fc;
	__u8 match_lp;
	__u8 match_dscp;
	__u8 pad[2];
};

/* The evaluation of one packet's chain: hf_chain_step's context, scalars only (hf_step is
 * a global function: to it this is plain memory). The marks carry from the interface's
 * segment to lo0's. */
struct hf_state {
	struct hf_match m;	/* first: hf_term_match's argument */
	__u32 slot, family_index;
	__u32 pos;		/* the segment's first chain position */
	__u32 fc;		/* forwarding class now */
	__u8 lp;		/* loss priority now */
	__u8 verdict;		/* HF_SEG_* */
	__s16 dscp_rewrite;	/* the DSCP a matched term set, not yet in the frame; HF_NO_REWRITE */
	__u16 decided;		/* the deciding pool term, XPF_HF_NONE: none */
	__u8 wire;		/* XPF_HF_ACCEPT, DISCARD or REJECT: what hf_log_step records */
	__u8 n_logs;
	__u16 logs[XPF_HF_MAX_PENDING_LOGS]; /* `next term` terms that log, in order */
	__u32 l3off, l4off, l4_len; /* where the IP packet starts in the frame, its L4 header (from
				     * the IP header) and L4 length: a reject's reply reads them */
};

/* The packet's hf_state, per CPU (XDP runs to completion on one CPU, from the NAPI poll
 * with bottom halves off: no other packet's program run comes between on that CPU): on
 * the stack it took the call chain past the verifier's 512-byte limit. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hf_state);
} hf_state_scratch SEC(".maps");

/* Whether set `set` (a pool index; XPF_HF_NONE or out of range: an empty set) holds `v`. */
static __always_inline int hf_set_has(const struct xpf_host_filters *t, __u32 set, __u8 v)
{
	if (set >= XPF_HF_MAX_SETS)
		return 0;
	return (t->sets[set].bits[v >> HF_SET_WORD_SHIFT] >> (v & HF_SET_BIT_MASK)) & 1;
}

/* The list walks run as bpf_loop callbacks, as the junos-host passes do: each callback is
 * verified once, not once per iteration on every path into it. A pool index at or past
 * its pool's end stops the walk: the rest of the list matches nothing. */
struct hf_range_ctx {
	const struct xpf_host_filters *t;
	__u32 first;
	__u16 value;
	int found;
};

/* Stops at the first range containing the value (FilterTables.portListMatches). */
static long hf_range_step(__u64 i, void *arg)
{
	struct hf_range_ctx *c = arg;
	__u64 idx = (__u64)c->first + i;
	const struct xpf_hf_range *r;

	if (idx >= XPF_HF_MAX_RANGES)
		return 1;
	barrier_var(idx);
	r = &c->t->ranges[idx];
	if (r->low <= c->value && c->value <= r->high) {
		c->found = 1;
		return 1;
	}
	return 0;
}

static __always_inline int hf_range_has(const struct xpf_host_filters *t, struct xpf_hf_ref list, __u16 v)
{
	struct hf_range_ctx c = {.t = t, .first = list.first, .value = v};

	bpf_loop(list.count < XPF_HF_MAX_RANGES ? list.count : XPF_HF_MAX_RANGES, hf_range_step, &c, 0);
	return c.found;
}

struct hf_class_ctx {
	const struct xpf_host_filters *t;
	__u32 first, value;
	int found;
};

/* Stops at the class equal to the value (FilterTables.indexListContains). */
static long hf_class_step(__u64 i, void *arg)
{
	struct hf_class_ctx *c = arg;
	__u64 idx = (__u64)c->first + i;

	if (idx >= XPF_HF_MAX_CLASSES)
		return 1;
	barrier_var(idx);
	if (c->t->classes[idx] == c->value) {
		c->found = 1;
		return 1;
	}
	return 0;
}

static __always_inline int hf_class_has(const struct xpf_host_filters *t, struct xpf_hf_ref list, __u32 v)
{
	struct hf_class_ctx c = {.t = t, .first = list.first, .value = v};

	bpf_loop(list.count < XPF_HF_MAX_CLASSES ? list.count : XPF_HF_MAX_CLASSES, hf_class_step, &c, 0);
	return c.found;
}

struct hf_prefix_ctx {
	const struct xpf_host_filters *t;
	__u32 addr[4];
	__u32 first;
	__u8 family;
	__u8 except; /* the best entry's */
	int best;    /* the longest containing entry's length so far; -1: none */
};

/* Keeps the longest entry of the family containing the address (the first of equals), as
 * FilterTables.prefixListMatches does. */
static long hf_prefix_step(__u64 i, void *arg)
{
	struct hf_prefix_ctx *c = arg;
	__u64 idx = (__u64)c->first + i;
	const struct xpf_hf_prefix *e;
	const __u32 *a = c->addr;

	if (idx >= XPF_HF_MAX_PREFIXES)
		return 1;
	barrier_var(idx);
	e = &c->t->prefixes[idx];
	if (e->family != c->family || (int)e->length <= c->best)
		return 0;
	if (((a[0] ^ e->net[0]) & e->mask[0]) == 0 && ((a[1] ^ e->net[1]) & e->mask[1]) == 0 &&
	    ((a[2] ^ e->net[2]) & e->mask[2]) == 0 && ((a[3] ^ e->net[3]) & e->mask[3]) == 0) {
		c->best = e->length;
		c->except = e->except;
	}
	return 0;
}

/* Whether the longest entry of `list` containing `addr` exists and is not `except`. */
static __always_inline int hf_prefix_has(const struct xpf_host_filters *t, struct xpf_hf_ref list, __u8 family,
					 const __u32 *addr)
{
	struct hf_prefix_ctx c = {.t = t, .first = list.first, .family = family, .best = -1};

	__builtin_memcpy(c.addr, addr, sizeof(c.addr));
	bpf_loop(list.count < XPF_HF_MAX_PREFIXES ? list.count : XPF_HF_MAX_PREFIXES, hf_prefix_step, &c, 0);
	return c.best >= 0 && !c.except;
}

/* Whether every condition of pool term `in->term` holds (FilterTables.termMatches, same
 * order). A global function: the verifier checks it once, on its own, and its calls as a
 * black box — inlined into hf_chain_step, its ten list walks were explored again for every
 * state the chain walk reached, past the 1 M instruction budget. So it looks the bank's
 * table up itself (a pointer it is handed would be plain memory to it). */
__noinline int hf_term_match(const struct hf_match *in)
{
	const struct xpf_host_filters *t;
	const struct xpf_hf_term *e;
	const struct hf_fields *f;
	__u32 m, bank, ti;

	if (!in)
		return 0;
	bank = in->bank;
	ti = in->term;
	f = &in->f;
	t = bpf_map_lookup_elem(&host_filters, &bank);
	if (!t || ti >= XPF_HF_MAX_TERMS)
		return 0;
	e = &t->terms[ti];
	m = e->match;

	if ((m & XPF_HF_M_PROTO) && !hf_set_has(t, e->protocols, f->protocol))
		return 0;
	if (m & (XPF_HF_M_SRC_PORT | XPF_HF_M_DST_PORT | XPF_HF_M_PORT)) {
		if (!f->has_ports)
			return 0;
		if ((m & XPF_HF_M_DST_PORT) && !hf_range_has(t, e->dst_port, f->dport))
			return 0;
		if ((m & XPF_HF_M_SRC_PORT) && !hf_range_has(t, e->src_port, f->sport))
			return 0;
		if ((m & XPF_HF_M_PORT) && !hf_range_has(t, e->port, f->sport) && !hf_range_has(t, e->port, f->dport))
			return 0;
	}
	if ((m & XPF_HF_M_DSCP) && !((e->dscp >> (in->match_dscp & HF_DSCP_MASK)) & 1))
		return 0;
	if ((m & XPF_HF_M_ICMP_TYPE) && !(f->is_icmp && hf_set_has(t, e->icmp_types, f->icmp_type)))
		return 0;
	if ((m & XPF_HF_M_ICMP_CODE) && !(f->is_icmp && hf_set_has(t, e->icmp_codes, f->icmp_code)))
		return 0;
	if ((m & XPF_HF_M_TCP_FLAGS) && !(f->is_tcp && hf_set_has(t, e->tcp_flags, f->tcp_flags)))
		return 0;
	if ((m & XPF_HF_M_IS_FRAGMENT) && !f->later_fragment)
		return 0;
	if ((m & XPF_HF_M_FIRST_FRAGMENT) && !f->first_fragment)
		return 0;
	if ((m & XPF_HF_M_LOSS_PRIORITY) &&
	    !(in->match_lp < HF_LP_BITS && ((e->loss_priorities >> in->match_lp) & 1)))
		return 0;
	if ((m & XPF_HF_M_FORWARDING_CLASS) && !hf_class_has(t, e->classes, in->match_fc))
		return 0;
	if ((m & XPF_HF_M_PACKET_LENGTH) && !hf_range_has(t, e->packet_length, f->length))
		return 0;
	if ((m & XPF_HF_M_SRC_ADDR) && !hf_prefix_has(t, e->src_addr, f->family, f->src))
		return 0;
	if ((m & XPF_HF_M_DST_ADDR) && !hf_prefix_has(t, e->dst_addr, f->family, f->dst))
		return 0;
	if ((m & XPF_HF_M_ADDR) && !hf_prefix_has(t, e->addr, f->family, f->src) &&
	    !hf_prefix_has(t, e->addr, f->family, f->dst))
		return 0;
	return 1;
}

/* Counts the packet (its IP datagram's bytes) in row `row` of the bank's hits. */
static __always_inline void hf_count(const struct hf_state *s, __u32 row)
{
	__u32 key = s->m.bank * XPF_HF_ROWS + row;
	struct xpf_hf_count *c = bpf_map_lookup_elem(&host_filter_hits, &key);

	if (c) {
		c->packets += 1;
		c->bytes += s->m.f.length;
	}
}

/* `then loss-priority` / `then forwarding-class` (FilterStage.swift's mark). */
static __always_inline void hf_mark(struct hf_state *s, const struct xpf_hf_term *e)
{
	if (e->action & XPF_HF_A_LOSS_PRIORITY)
		s->lp = e->loss_priority;
	if (e->action & XPF_HF_A_FORWARDING_CLASS)
		s->fc = e->forwarding_class;
}

/* Colors of three-color policing (Policing.Color). */
#define HF_GREEN 0
#define HF_YELLOW 1
#define HF_RED 2
#define HF_POLICER_ROW_OUT 0	/* two-color out of profile, three-color red */
#define HF_POLICER_ROW_YELLOW 1

static __always_inline __u64 hf_max(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

/* Term `e`'s policer on the packet (Policer.swift's police / outOfProfile /
 * policeThreeColor, with the bucket under the instance's spin lock instead of a
 * compare-and-swap). Returns nonzero when the packet is to be discarded. A policer index
 * outside the pool, or a bank without the instance, discards: a term that polices never
 * lets more through than its policer would. */
static __always_inline int hf_police(struct hf_state *s, const struct xpf_hf_term *e)
{
	__u32 p = e->policer, key;
	struct xpf_hf_policer *pol;
	__u64 now, bytes = s->m.f.length, c_cost, x_cost, c_depth, x_depth, w0, w1, next, p_next;
	__u8 pre = HF_GREEN, color, marked;
	int aware, conform;

	if (p >= XPF_HF_MAX_POLICERS)
		return 1;
	key = s->m.bank * XPF_HF_MAX_POLICERS + p;
	pol = bpf_map_lookup_elem(&host_filter_policers, &key);
	if (!pol)
		return 1;
	now = bpf_ktime_get_ns() << HF_POLICER_TICK_SHIFT;
	c_cost = (bytes * pol->c_cost) >> HF_POLICER_COST_SHIFT;
	c_depth = pol->c_depth;
	x_depth = pol->x_depth;
	if (!(pol->flags & XPF_HF_P_THREE_COLOR)) {
		/* GCRA: the packet fits when max(TAT, now) + cost - now <= depth. */
		bpf_spin_lock(&pol->lock);
		next = hf_max(pol->tat, now) + c_cost;
		conform = next - now <= c_depth;
		if (conform)
			pol->tat = next;
		bpf_spin_unlock(&pol->lock);
		if (conform)
			return 0;
		hf_count(s, XPF_HF_ROW_POLICER(p, HF_POLICER_ROW_OUT));
		if (pol->flags & XPF_HF_P_DISCARD)
			return 1;
		if (pol->flags & XPF_HF_P_LOSS_PRIORITY)
			s->lp = pol->loss_priority;
		if (pol->flags & XPF_HF_P_FORWARDING_CLASS)
			s->fc = pol->forwarding_class;
		return 0;
	}
	aware = (pol->flags & XPF_HF_P_COLOR_AWARE) != 0;
	if (aware)
		pre = s->lp >= XPF_HF_LP_HIGH ? HF_RED : s->lp >= HF_LP_MEDIUM_LOW ? HF_YELLOW : HF_GREEN;
	x_cost = (bytes * pol->x_cost) >> HF_POLICER_COST_SHIFT;
	bpf_spin_lock(&pol->lock);
	w0 = pol->tat;
	w1 = pol->aux;
	if (pol->flags & XPF_HF_P_TWO_RATE) {
		/* RFC 2698: w0 the committed bucket's TAT, w1 the peak one's. */
		p_next = hf_max(w1, now) + x_cost;
		next = hf_max(w0, now) + c_cost;
		if (pre == HF_RED || p_next - now > x_depth) {
			color = HF_RED;
		} else if (pre == HF_YELLOW || next - now > c_depth) {
			color = HF_YELLOW;
			w1 = p_next;
		} else {
			color = HF_GREEN;
			w0 = next;
			w1 = p_next;
		}
	} else {
		/* RFC 2697: w1 the excess tokens, filled by the time C has been full. */
		if (w0 < now) {
			w1 = w1 + (now - w0);
			if (w1 > x_depth)
				w1 = x_depth;
			w0 = now;
		}
		if (pre == HF_GREEN && w0 + c_cost - now <= c_depth) {
			color = HF_GREEN;
			w0 += c_cost;
		} else if (pre != HF_RED && w1 >= c_cost) {
			color = HF_YELLOW;
			w1 -= c_cost;
		} else {
			color = HF_RED;
		}
	}
	pol->tat = w0;
	pol->aux = w1;
	bpf_spin_unlock(&pol->lock);
	if (color == HF_YELLOW) {
		hf_count(s, XPF_HF_ROW_POLICER(p, HF_POLICER_ROW_YELLOW));
	} else if (color == HF_RED) {
		hf_count(s, XPF_HF_ROW_POLICER(p, HF_POLICER_ROW_OUT));
		if (pol->flags & XPF_HF_P_DISCARD)
			return 1;
	}
	marked = color == HF_GREEN ? XPF_HF_LP_LOW : color == HF_YELLOW ? HF_LP_MEDIUM_HIGH : XPF_HF_LP_HIGH;
	/* Color-aware: never lower what the packet had. */
	s->lp = aware && s->lp > marked ? s->lp : marked;
	return 0;
}

/* One chain position `pos` of the segment being run (FilterStage.swift's evaluateFilter
 * scan with passNextTerm and the counting of applyMatch); 1 ends the walk. A global
 * function, like hf_term_match and for the same reason: checked once on its own, while
 * inlined in the callback its paths were explored again for every state of the walk (the
 * marks, the queued logs, the verdict). It looks the bank's table up itself. A matched `next
 * term` term counts, queues its log, marks, polices and sets the DSCP to write, and the
 * walk goes on; any other matched term decides (counted, marked, policed) and stops it.
 * The frame itself is changed after the walk (hf_segment). A pool term index out of range
 * matches nothing. */
__noinline int hf_step(struct hf_state *s, __u64 pos)
{
	const struct xpf_host_filters *t;
	const struct xpf_hf_term *e;
	__u32 slot, fam, ti, bank;

	if (!s)
		return 1;
	slot = s->slot;
	fam = s->family_index;
	bank = s->m.bank;
	if (pos >= XPF_HF_MAX_CHAIN || slot >= XPF_MAX_IFACES || fam > HF_FAMILY_INET6)
		return 1;
	t = bpf_map_lookup_elem(&host_filters, &bank);
	if (!t)
		return 1;
	/* Keeps clang from checking a copy of the index other than the one it uses. */
	barrier_var(pos);
	ti = t->chains[slot][fam].terms[pos];
	if (ti >= XPF_HF_MAX_TERMS)
		return 0;
	e = &t->terms[ti];
	s->m.term = ti;
	if (!hf_term_match(&s->m))
		return 0;
	hf_count(s, XPF_HF_ROW_TERM(ti));
	if (e->counter < XPF_HF_MAX_COUNTERS)
		hf_count(s, XPF_HF_ROW_COUNTER(e->counter));
	if (e->terminal == XPF_HF_NEXT) {
		/* Its log waits for the action the wire sees; more than the queue holds are lost. */
		if ((e->action & (XPF_HF_A_LOG | XPF_HF_A_SYSLOG)) && s->n_logs < XPF_HF_MAX_PENDING_LOGS)
			s->logs[s->n_logs++] = ti;
		hf_mark(s, e);
		if ((e->action & XPF_HF_A_POLICE) && hf_police(s, e)) {
			s->verdict = HF_SEG_POLICED;
			return 1;
		}
		if (e->action & XPF_HF_A_DSCP)
			s->dscp_rewrite = e->dscp_rewrite & HF_DSCP_MASK;
		return 0;
	}
	s->decided = ti;
	hf_mark(s, e);
	if ((e->action & XPF_HF_A_POLICE) && hf_police(s, e)) {
		s->verdict = HF_SEG_POLICED;
		return 1;
	}
	if (e->terminal == XPF_HF_ACCEPT) {
		s->verdict = HF_SEG_ACCEPT;
		if (e->action & XPF_HF_A_DSCP)
			s->dscp_rewrite = e->dscp_rewrite & HF_DSCP_MASK;
	} else {
		s->verdict = e->terminal == XPF_HF_REJECT ? HF_SEG_REJECT : HF_SEG_DISCARD;
	}
	return 1;
}

/* bpf_loop's context for the walks over an hf_state, which lives in hf_state_scratch (a
 * callback's context must be on the stack; the state is too large for it). */
struct hf_loop_ctx {
	struct hf_state *s;
};

/* The chain walk's bpf_loop callback: position s->pos + i (hf_step). */
static long hf_chain_step(__u64 i, void *arg)
{
	struct hf_state *s = ((struct hf_loop_ctx *)arg)->s;
	long stop = hf_step(s, (__u64)s->pos + i);

	/* A callback returns 0 or 1, which the verifier must see: clang 21 knows hf_step's
	 * results and drops a plain `? 1 : 0`; the barrier hides them. */
	barrier_var(stop);
	return stop & 1;
}

/* The record of logging term `ti` for the packet, naming `wire`. A full ring drops it. */
/* Whether an ICMP / ICMPv6 packet is an echo request (1) or reply (2), else 0. */
static __always_inline int hf_icmp_echo(const struct hf_fields *f)
{
	if (f->icmp_type == (f->family == 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST))
		return HF_ECHO_REQUEST;
	if (f->icmp_type == (f->family == 4 ? ICMP_ECHO_REPLY : ICMPV6_ECHO_REPLY))
		return HF_ECHO_REPLY;
	return 0;
}

static __always_inline void hf_log(const struct hf_state *s, __u32 ti, __u8 wire)
{
	const struct hf_fields *f = &s->m.f;
	struct xpf_host_filter_log *r;
	const struct xpf_host_filters *t;
	const struct xpf_hf_term *e;
	__u32 bank = s->m.bank;

	t = bpf_map_lookup_elem(&host_filters, &bank);
	if (!t || ti >= XPF_HF_MAX_TERMS)
		return;
	e = &t->terms[ti];
	if (!(e->action & (XPF_HF_A_LOG | XPF_HF_A_SYSLOG)))
		return;
	r = bpf_ringbuf_reserve(&host_filter_log, sizeof(*r), 0);
	if (!r) {
		count(XPF_XDP_HOST_LOG_LOST); /* the ring is full: xpfd falls behind */
		return;
	}
	r->generation = t->generation;
	r->filter = e->filter;
	r->snapshot_term = e->snapshot_term;
	r->family = f->family;
	r->protocol = f->protocol;
	r->icmp_type = f->is_icmp ? f->icmp_type : 0;
	r->action = wire;
	r->slot = s->slot;
	r->pad = 0;
	r->ip_length = f->length;
	r->sport = f->has_ports ? f->sport : 0;
	r->dport = f->has_ports ? f->dport : 0;
	if (f->is_icmp) {
		/* The ports the workers' flow key gives ICMP (Parse.swift, icmpKeyPorts), so a
		 * term logs the same line whichever path the packet took: an echo's identifier
		 * and its successor (request: id, id + 1; reply: id + 1, id), else type << 8 | code
		 * for both. */
		switch (hf_icmp_echo(f)) {
		case HF_ECHO_REQUEST:
			r->sport = f->icmp_id;
			r->dport = f->icmp_id + 1;
			break;
		case HF_ECHO_REPLY:
			r->sport = f->icmp_id + 1;
			r->dport = f->icmp_id;
			break;
		default:
			r->sport = r->dport = (__u16)f->icmp_type << 8 | f->icmp_code;
		}
	}
	__builtin_memcpy(r->src, f->src, sizeof(r->src));
	__builtin_memcpy(r->dst, f->dst, sizeof(r->dst));
	bpf_ringbuf_submit(r, 0);
}

/* The queued `next term` logs, in order (a bpf_loop callback over s->logs). */
static long hf_log_step(__u64 i, void *arg)
{
	struct hf_state *s = ((struct hf_loop_ctx *)arg)->s;

	if (i >= XPF_HF_MAX_PENDING_LOGS)
		return 1;
	hf_log(s, s->logs[i], s->wire);
	return 0;
}

/* The segment's logs naming `wire`: the deciding term's, then the queued ones (the order
 * of evaluateFilter: applyMatch's log, then logChain). */
static __always_inline void hf_logs(struct hf_state *s, __u8 wire)
{
	struct hf_loop_ctx c = {.s = s};

	if (s->decided != XPF_HF_NONE)
		hf_log(s, s->decided, wire);

	s->wire = wire;
	bpf_loop(s->n_logs < XPF_HF_MAX_PENDING_LOGS ? s->n_logs : XPF_HF_MAX_PENDING_LOGS, hf_log_step, &c, 0);
}

/* One's complement sum folded to the 16-bit checksum, in memory order (the internet
 * checksum is byte-order independent: sums of words as loaded store back right). */
static __always_inline __u16 hf_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#define VLAN_L3_OFFSET (sizeof(struct ethhdr) + sizeof(struct vlan_tag)) /* the furthest l3 starts */
#define IPV4_CHECKSUM_OFFSET 10
#define IPV6_DSCP_SHIFT 22	     /* in the first word: version 4 bits, traffic class 8, flow 20 */
#define IPV6_DSCP_CLEAR 0xf03fffff
#define IPV4_DSCP_CLEAR 0xff03	     /* version/IHL and TOS as one word: all but the DSCP */

/* `then dscp N` into the frame, once its segment accepted the packet (or before a reject
 * quotes it): IPv4's TOS with the header checksum updated (RFC 1624 eqn 3), IPv6's traffic
 * class; the ECN bits stay. Later terms of the same filter still match the DSCP the filter
 * found (FilterFields is read once per filter); lo0's filter sees the new one. */
static __always_inline void hf_rewrite_dscp(struct xdp_md *ctx, struct hf_state *s, __u32 l3off)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 dscp, *l3;
	__u32 sum;
	__u16 old, new;

	if (s->dscp_rewrite == HF_NO_REWRITE)
		return;
	dscp = s->dscp_rewrite & HF_DSCP_MASK;
	s->dscp_rewrite = HF_NO_REWRITE;
	if (l3off > VLAN_L3_OFFSET)
		return;
	l3 = data + l3off;
	if (s->m.f.family == 4) {
		if ((void *)(l3 + IPV4_HEADER_BYTES) > data_end)
			return;
		old = ((__u16)l3[0] << 8) | l3[1];
		new = (old & IPV4_DSCP_CLEAR) | ((__u16)dscp << IPV4_DSCP_SHIFT);
		l3[1] = new & 0xff;
		sum = (__u16)~(((__u16)l3[IPV4_CHECKSUM_OFFSET] << 8) | l3[IPV4_CHECKSUM_OFFSET + 1]);
		sum += (__u16)~old;
		sum += new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (__u16)~sum;
		l3[IPV4_CHECKSUM_OFFSET] = sum >> 8;
		l3[IPV4_CHECKSUM_OFFSET + 1] = sum & 0xff;
	} else {
		__u32 w;

		if ((void *)(l3 + sizeof(__u32)) > data_end)
			return;
		w = ((__u32)l3[0] << 24) | ((__u32)l3[1] << 16);
		w = (w & IPV6_DSCP_CLEAR) | ((__u32)dscp << IPV6_DSCP_SHIFT);
		l3[0] = w >> 24;
		l3[1] = (w >> 16) & 0xff;
	}
}

/* ---- reject: the reply, built in hf_reply_scratch and sent with XDP_TX ---- */

#define ETH_GROUP_BIT 0x01	/* I/G bit of the destination MAC: multicast or broadcast */
#define ICMP_INFO_FIRST 13	/* timestamp … address mask reply: informational, answerable */
#define ICMP_INFO_LAST 18
#define ICMPV6_INFORMATIONAL 128 /* ICMPv6 types below are errors */
#define ICMPV6_REDIRECT 137
#define IPV4_NET_ZERO 0
#define IPV4_LOOPBACK_NET 127
#define IPV4_CLASS_D_NIBBLE 0xe
#define IPV6_MULTICAST_BYTE 0xff
#define ICMPV4_UNREACH 3	/* RejectReply.unreachableV4 */
#define ICMPV6_UNREACH 1	/* RejectReply.unreachableV6 */
#define ICMPV4_ADMIN_PROHIBITED 13
#define ICMPV6_ADMIN_PROHIBITED 1
#define ICMP_HEADER_BYTES 8
#define ICMPV4_QUOTE_PAYLOAD 8	/* bytes of the datagram's payload quoted after its header */
#define ICMPV4_TOS 0xc0		/* internetwork control, as ICMPError.build */
#define REPLY_TTL 64		/* TTL / hop limit of every reply (Linux's default) */
#define IPV4_DONT_FRAGMENT 0x40 /* in the flags byte */
#define TCP_HEADER_BYTES 20
#define TCP_DATA_OFFSET_NO_OPTIONS 0x50
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04
#define TCP_SEQ_OFFSET 4
#define TCP_ACK_OFFSET 8
#define TCP_DATA_OFFSET_BYTE 12
#define TCP_CHECKSUM_OFFSET 16
/* ICMPv6 errors quote the offending packet; ICMPError.build quotes up to the minimum MTU,
 * the program at most this many bytes (all the headers anyone reads, and a bounded copy and
 * checksum for the verifier; RFC 4443 §2.4(c) asks only "as much as possible"). */
#define ICMPV6_QUOTE_MAX 256
#define ICMPV6_REPLY_HEADERS (HF_IPV6_HEADER_BYTES + ICMP_HEADER_BYTES)
#define ICMPV4_QUOTE_MAX (60 + ICMPV4_QUOTE_PAYLOAD) /* the longest IPv4 header and 8 bytes */
#define ICMPV4_REPLY_HEADERS (IPV4_HEADER_BYTES + ICMP_HEADER_BYTES)
#define CSUM_ALIGN 3 /* bpf_csum_diff sums whole 32-bit words: lengths round up over zeroes */

/* ICMPError.allowed: no error about a later fragment, a link-level multicast/broadcast, an
 * ICMP error (or ICMPv6 redirect), a packet to a multicast/broadcast address or from an
 * address that names no single host. */
static __always_inline int hf_reply_allowed(struct xdp_md *ctx, const struct hf_fields *f)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *mac = data;
	__u32 src, dst;
	const __u8 *s6 = (const __u8 *)f->src, *d6 = (const __u8 *)f->dst;

	if (f->later_fragment || (void *)(mac + 1) > data_end || (mac[0] & ETH_GROUP_BIT))
		return 0;
	if (f->family == 4) {
		if (f->protocol == IPPROTO_ICMP &&
		    !(f->is_icmp && (f->icmp_type == ICMP_ECHO_REPLY || f->icmp_type == ICMP_ECHO_REQUEST ||
				     in_range(f->icmp_type, ICMP_INFO_FIRST, ICMP_INFO_LAST))))
			return 0;
		src = bpf_ntohl(f->src[0]);
		dst = bpf_ntohl(f->dst[0]);
		if ((dst >> 28) == IPV4_CLASS_D_NIBBLE || dst == IPV4_LIMITED_BROADCAST)
			return 0;
		if ((src >> 24) == IPV4_NET_ZERO || (src >> 24) == IPV4_LOOPBACK_NET || (src >> 28) >= IPV4_CLASS_D_NIBBLE)
			return 0;
		return 1;
	}
	if (f->protocol == IPPROTO_ICMPV6 &&
	    !(f->is_icmp && f->icmp_type >= ICMPV6_INFORMATIONAL && f->icmp_type != ICMPV6_REDIRECT))
		return 0;
	if (d6[0] == IPV6_MULTICAST_BYTE || s6[0] == IPV6_MULTICAST_BYTE)
		return 0;
	if (f->src[0] == 0 && f->src[1] == 0 && f->src[2] == 0 && (f->src[3] == 0 || f->src[3] == bpf_htonl(1)))
		return 0;
	return 1;
}

/* Resizes the frame to `l3off + len` bytes, stores the reply from the scratch over its IP
 * packet and swaps the MAC addresses (the reply goes back to the sender from the address
 * it was sent to; a VLAN tag stays). A reply longer than the frame grows it at the front,
 * into the headroom every XDP buffer has (XDP_PACKET_HEADROOM, 256 bytes; a reply adds at
 * most an ICMPv6 header pair, 48 bytes), the link header moved there; the tail's room
 * depends on the driver (veth rounds a small frame's buffer up to a few bytes only), so it
 * is used for shrinking only. Nonzero when the frame cannot take it. */
static __always_inline int hf_reply_send(struct xdp_md *ctx, __u8 *b, __u64 l3off, __u64 len)
{
	void *data, *data_end;
	struct ethhdr *eth;
	__u8 mac[ETH_ALEN];
	__u8 link[VLAN_L3_OFFSET];
	int delta = (int)(l3off + len) - (int)bpf_xdp_get_buff_len(ctx);

	barrier_var(len);
	if (len == 0 || len > HF_REPLY_ORIG || l3off > VLAN_L3_OFFSET)
		return -1;
	if (delta > 0) {
		/* Constant sizes for the helpers: an untagged or a tagged link header. */
		if (l3off == sizeof(struct ethhdr)) {
			if (bpf_xdp_load_bytes(ctx, 0, link, sizeof(struct ethhdr)) || bpf_xdp_adjust_head(ctx, -delta) ||
			    bpf_xdp_store_bytes(ctx, 0, link, sizeof(struct ethhdr)))
				return -1;
		} else if (l3off == VLAN_L3_OFFSET) {
			if (bpf_xdp_load_bytes(ctx, 0, link, VLAN_L3_OFFSET) || bpf_xdp_adjust_head(ctx, -delta) ||
			    bpf_xdp_store_bytes(ctx, 0, link, VLAN_L3_OFFSET))
				return -1;
		} else {
			return -1;
		}
	} else if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta)) {
		return -1;
	}
	if (bpf_xdp_store_bytes(ctx, l3off, b, len))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return 0;
}

/* The sum of the words of b[off, off + len) (len rounded up to whole words, over zeroes
 * the caller wrote). Lengths passed to helpers are 64-bit in this part of the file: with
 * 32-bit ones clang checks a zero-extended copy and passes the unextended register. */
static __always_inline __u64 hf_sum(__u8 *b, __u64 off, __u64 len)
{
	__s64 r;

	len = (len + CSUM_ALIGN) & ~CSUM_ALIGN;
	barrier_var(len);
	if (off > HF_REPLY_BYTES || len > HF_REPLY_BYTES - off || len == 0)
		return 0;
	r = bpf_csum_diff(NULL, 0, (__be32 *)(b + off), len, 0);
	return r < 0 ? 0 : (__u32)r;
}

/* Reject.buildTCPReset into the scratch, then sent: to a segment with ACK <SEQ=SEG.ACK>
 * <CTL=RST>, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (RFC 9293 §3.10.7.1); the
 * segment's IP options or extension headers and TCP options go. Nonzero: not sent. */
static __always_inline int hf_reply_rst(struct xdp_md *ctx, struct hf_state *s, __u8 *b)
{
	const struct hf_fields *f = &s->m.f;
	__u32 l3off = s->l3off, l4off = s->l4off, l4_len = s->l4_len;
	__u8 *o = b + HF_REPLY_ORIG, *tcp, flags, hdr;
	__u32 seq, ack, seg_len;
	__u64 doff, ip_len;
	__u64 sum;

	if (f->is_tcp == 0 || (f->tcp_flags & TCP_FLAG_RST) || l4_len < TCP_HEADER_BYTES || l4off > 0xffff)
		return -1;
	if (bpf_xdp_load_bytes(ctx, l3off + l4off, o, TCP_HEADER_BYTES))
		return -1;
	doff = (__u32)(o[TCP_DATA_OFFSET_BYTE] >> 4) * 4;
	if (doff < TCP_HEADER_BYTES || doff > l4_len)
		return -1;
	flags = o[TCP_FLAGS_OFFSET];
	seq = ((__u32)o[TCP_SEQ_OFFSET] << 24) | ((__u32)o[TCP_SEQ_OFFSET + 1] << 16) |
	      ((__u32)o[TCP_SEQ_OFFSET + 2] << 8) | o[TCP_SEQ_OFFSET + 3];
	ack = ((__u32)o[TCP_ACK_OFFSET] << 24) | ((__u32)o[TCP_ACK_OFFSET + 1] << 16) |
	      ((__u32)o[TCP_ACK_OFFSET + 2] << 8) | o[TCP_ACK_OFFSET + 3];
	/* SEG.LEN: the data, plus one for SYN and one for FIN (RFC 9293 §3.4). */
	seg_len = l4_len - doff + ((flags & TCP_FLAG_SYN) ? 1 : 0) + ((flags & TCP_FLAG_FIN) ? 1 : 0);
	hdr = f->family == 4 ? IPV4_HEADER_BYTES : HF_IPV6_HEADER_BYTES;
	ip_len = hdr + TCP_HEADER_BYTES;
	__builtin_memset(b, 0, HF_IPV6_HEADER_BYTES + TCP_HEADER_BYTES);
	if (f->family == 4) {
		b[0] = 0x45; /* version 4, IHL 5 */
		b[2] = ip_len >> 8;
		b[3] = ip_len & 0xff;
		b[6] = IPV4_DONT_FRAGMENT;
		b[8] = REPLY_TTL;
		b[9] = IPPROTO_TCP;
		__builtin_memcpy(b + 12, &f->dst[0], sizeof(__u32));
		__builtin_memcpy(b + 16, &f->src[0], sizeof(__u32));
		sum = hf_sum(b, 0, IPV4_HEADER_BYTES);
		*(__u16 *)(b + IPV4_CHECKSUM_OFFSET) = hf_csum_fold(sum);
		sum = hf_sum(b, 12, 2 * sizeof(__u32));
		tcp = b + IPV4_HEADER_BYTES;
	} else {
		b[0] = 0x60; /* version 6 */
		b[5] = TCP_HEADER_BYTES;
		b[6] = IPPROTO_TCP;
		b[7] = REPLY_TTL;
		__builtin_memcpy(b + 8, f->dst, 4 * sizeof(__u32));
		__builtin_memcpy(b + 24, f->src, 4 * sizeof(__u32));
		sum = hf_sum(b, 8, 8 * sizeof(__u32));
		tcp = b + HF_IPV6_HEADER_BYTES;
	}
	/* Ports swapped; no options, no data, window 0, urgent pointer 0. */
	tcp[0] = o[2];
	tcp[1] = o[3];
	tcp[2] = o[0];
	tcp[3] = o[1];
	if (flags & TCP_FLAG_ACK) {
		__builtin_memcpy(tcp + TCP_SEQ_OFFSET, o + TCP_ACK_OFFSET, sizeof(__u32));
		tcp[TCP_FLAGS_OFFSET] = TCP_FLAG_RST;
	} else {
		ack = seq + seg_len;
		tcp[TCP_ACK_OFFSET] = ack >> 24;
		tcp[TCP_ACK_OFFSET + 1] = (ack >> 16) & 0xff;
		tcp[TCP_ACK_OFFSET + 2] = (ack >> 8) & 0xff;
		tcp[TCP_ACK_OFFSET + 3] = ack & 0xff;
		tcp[TCP_FLAGS_OFFSET] = TCP_FLAG_RST | TCP_FLAG_ACK;
	}
	tcp[TCP_DATA_OFFSET_BYTE] = TCP_DATA_OFFSET_NO_OPTIONS;
	/* Pseudo-header: the addresses summed above, the protocol and the TCP length. */
	sum += bpf_htons(IPPROTO_TCP) + bpf_htons(TCP_HEADER_BYTES);
	sum += hf_sum(b, hdr, TCP_HEADER_BYTES);
	*(__u16 *)(tcp + TCP_CHECKSUM_OFFSET) = hf_csum_fold(sum);
	return hf_reply_send(ctx, b, l3off, ip_len);
}

/* ICMPError.build into the scratch, then sent: destination unreachable (`code`) from the
 * box's address the packet was sent to, quoting IPv4's header (options too) and 8 bytes,
 * or up to ICMPV6_QUOTE_MAX bytes of the IPv6 packet. Nonzero: not sent. */
static __always_inline int hf_reply_icmp(struct xdp_md *ctx, struct hf_state *s, __u8 *b, __u8 code)
{
	const struct hf_fields *f = &s->m.f;
	__u32 l3off = s->l3off;
	__u64 quoted, total, ihl, frame = bpf_xdp_get_buff_len(ctx); /* 64-bit: see hf_sum */
	__u64 sum;
	__u8 first;

	if (frame <= l3off || l3off > VLAN_L3_OFFSET)
		return -1;
	frame -= l3off; /* bytes of the IP packet in the frame */
	if (f->family == 4) {
		if (bpf_xdp_load_bytes(ctx, l3off, &first, 1))
			return -1;
		ihl = (__u32)(first & IPV4_IHL_MASK) * 4;
		if (ihl < IPV4_HEADER_BYTES || f->length < ihl)
			return -1;
		quoted = ihl + (f->length - ihl < ICMPV4_QUOTE_PAYLOAD ? f->length - ihl : ICMPV4_QUOTE_PAYLOAD);
		barrier_var(quoted);
		if (quoted > frame || quoted > ICMPV4_QUOTE_MAX || quoted == 0)
			return -1;
		/* Zeroes after the quote for the word-wise checksum. */
		__builtin_memset(b + ICMPV4_REPLY_HEADERS + ICMPV4_QUOTE_MAX, 0, sizeof(__u32));
		if (bpf_xdp_load_bytes(ctx, l3off, b + ICMPV4_REPLY_HEADERS, quoted))
			return -1;
		__builtin_memset(b + ICMPV4_REPLY_HEADERS + quoted, 0, sizeof(__u32));
		total = ICMPV4_REPLY_HEADERS + quoted;
		__builtin_memset(b, 0, ICMPV4_REPLY_HEADERS);
		b[0] = 0x45;
		b[1] = ICMPV4_TOS;
		b[2] = total >> 8;
		b[3] = total & 0xff;
		b[8] = REPLY_TTL;
		b[9] = IPPROTO_ICMP;
		__builtin_memcpy(b + 12, &f->dst[0], sizeof(__u32));
		__builtin_memcpy(b + 16, &f->src[0], sizeof(__u32));
		*(__u16 *)(b + IPV4_CHECKSUM_OFFSET) = hf_csum_fold(hf_sum(b, 0, IPV4_HEADER_BYTES));
		b[IPV4_HEADER_BYTES] = ICMPV4_UNREACH;
		b[IPV4_HEADER_BYTES + 1] = code;
		*(__u16 *)(b + IPV4_HEADER_BYTES + 2) =
			hf_csum_fold(hf_sum(b, IPV4_HEADER_BYTES, ICMP_HEADER_BYTES + quoted));
		return hf_reply_send(ctx, b, l3off, total);
	}
	quoted = f->length < frame ? f->length : frame;
	if (quoted > ICMPV6_QUOTE_MAX)
		quoted = ICMPV6_QUOTE_MAX;
	/* The checks below on the register the helpers get (clang may test a copy). */
	barrier_var(quoted);
	if (quoted < HF_IPV6_HEADER_BYTES || quoted > ICMPV6_QUOTE_MAX)
		return -1;
	if (bpf_xdp_load_bytes(ctx, l3off, b + ICMPV6_REPLY_HEADERS, quoted))
		return -1;
	__builtin_memset(b + ICMPV6_REPLY_HEADERS + quoted, 0, sizeof(__u32));
	__builtin_memset(b, 0, ICMPV6_REPLY_HEADERS);
	b[0] = 0x60;
	b[4] = (ICMP_HEADER_BYTES + quoted) >> 8;
	b[5] = (ICMP_HEADER_BYTES + quoted) & 0xff;
	b[6] = IPPROTO_ICMPV6;
	b[7] = REPLY_TTL;
	__builtin_memcpy(b + 8, f->dst, 4 * sizeof(__u32));
	__builtin_memcpy(b + 24, f->src, 4 * sizeof(__u32));
	b[HF_IPV6_HEADER_BYTES] = ICMPV6_UNREACH;
	b[HF_IPV6_HEADER_BYTES + 1] = code;
	/* Pseudo-header: addresses, upper-layer length, next header. */
	sum = hf_sum(b, 8, 8 * sizeof(__u32)) + bpf_htons(ICMP_HEADER_BYTES + quoted) + bpf_htons(IPPROTO_ICMPV6);
	sum += hf_sum(b, HF_IPV6_HEADER_BYTES, ICMP_HEADER_BYTES + quoted);
	*(__u16 *)(b + HF_IPV6_HEADER_BYTES + 2) = hf_csum_fold(sum);
	return hf_reply_send(ctx, b, l3off, ICMPV6_REPLY_HEADERS + quoted);
}

/* RejectReply.filter's ICMP code for reject reason `reason`, IPv4 or IPv6. */
static __always_inline __u8 hf_reject_code(__u8 reason, int v4)
{
	switch (reason) {
	case HF_REJECT_NETWORK_UNREACHABLE:
	case HF_REJECT_NO_ROUTE:
		return 0; /* network unreachable; ICMPv6 no route */
	case HF_REJECT_HOST_UNREACHABLE:
	case HF_REJECT_ADDRESS_UNREACHABLE:
		return v4 ? 1 : 3;
	case HF_REJECT_PROTOCOL_UNREACHABLE:
		return v4 ? 2 : 1;
	case HF_REJECT_PORT_UNREACHABLE:
		return v4 ? 3 : 4;
	case HF_REJECT_FRAGMENTATION_NEEDED:
		return v4 ? 4 : 1;
	case HF_REJECT_SOURCE_ROUTE_FAILED:
		return v4 ? 5 : 1;
	case HF_REJECT_NETWORK_UNKNOWN:
		return v4 ? 6 : 0;
	case HF_REJECT_HOST_UNKNOWN:
		return v4 ? 7 : 3;
	case HF_REJECT_NETWORK_PROHIBITED:
		return v4 ? 9 : 1;
	case HF_REJECT_HOST_PROHIBITED:
		return v4 ? 10 : 1;
	case HF_REJECT_BEYOND_SCOPE:
		return v4 ? 13 : 2;
	default: /* administratively-prohibited, tcp-reset to anything but TCP */
		return v4 ? ICMPV4_ADMIN_PROHIBITED : ICMPV6_ADMIN_PROHIBITED;
	}
}

/* The deciding term's reject (Pipeline.reject with RejectReply.filter): a RST for
 * tcp-reset on TCP, else the reason's unreachable. Nonzero: nothing sent (the frame may
 * be the reply half-built: the caller drops it either way). A function of its own (not
 * inlined) for the stack: the replies' locals would otherwise add to every caller's. */
/* One ICMP error may go out now (a token taken), or the limit is reached. */
static __always_inline int hf_icmp_take(void)
{
	__u32 zero = 0;
	struct hf_icmp_limit *l = bpf_map_lookup_elem(&hf_icmp_limit, &zero);
	__u64 now = bpf_ktime_get_ns() / HF_NS_PER_MS, elapsed, tokens;

	if (!l)
		return 0;
	if (l->last_ms == 0) {
		l->last_ms = now;
		l->tokens = HF_ICMP_BURST;
	}
	elapsed = now - l->last_ms;
	if (elapsed >= HF_MS_PER_SECOND / HF_ICMP_PER_SECOND) {
		tokens = l->tokens + elapsed * HF_ICMP_PER_SECOND / HF_MS_PER_SECOND;
		l->tokens = tokens > HF_ICMP_BURST ? HF_ICMP_BURST : tokens;
		l->last_ms = now;
	}
	if (l->tokens == 0)
		return 0;
	l->tokens--;
	return 1;
}

static __noinline int hf_reject(struct xdp_md *ctx, struct hf_state *s)
{
	__u32 zero = 0, ti = s->decided, bank = s->m.bank;
	const struct xpf_host_filters *t = bpf_map_lookup_elem(&host_filters, &bank);
	struct hf_reply_buf *scratch;
	__u8 reason;

	if (!t || ti >= XPF_HF_MAX_TERMS || !hf_reply_allowed(ctx, &s->m.f))
		return -1;
	reason = t->terms[ti].reject_reason;
	scratch = bpf_map_lookup_elem(&hf_reply_scratch, &zero);
	if (!scratch)
		return -1;
	if (s->m.f.protocol == IPPROTO_TCP && reason == XPF_HF_REJECT_TCP_RESET)
		return hf_reply_rst(ctx, s, scratch->b);
	if (!hf_icmp_take())
		return -1; /* over the limit: no reply, a discard */
	return hf_reply_icmp(ctx, s, scratch->b, hf_reject_code(reason, s->m.f.family == 4));
}

#define HF_L4_READ 14 /* bytes of the L4 header the conditions read: TCP up to its flags */

/* FilterFields' L4 fields and DSCP of the packet (the rest the caller copied in), read from
 * the frame with bpf_xdp_load_bytes at the offsets the parse found: no packet pointer is
 * needed, which keeps this out of the callers' verification (hf_segment is global). The
 * L4 fields only when the header is there (bytes in the frame and in the datagram) and the
 * packet is not a later fragment. */
static __always_inline void hf_fields_read(struct xdp_md *ctx, struct hf_state *s)
{
	struct hf_fields *f = &s->m.f;
	__u8 b[HF_L4_READ] = {}, ip[2];
	__u32 l4 = s->l3off + s->l4off;

	if (bpf_xdp_load_bytes(ctx, s->l3off, ip, sizeof(ip)) == 0)
		f->dscp = (f->family == 4 ? ip[1] : (__u8)((ip[0] << 4) | (ip[1] >> 4))) >> IPV4_DSCP_SHIFT;
	f->has_ports = f->is_tcp = f->is_icmp = 0;
	if (f->later_fragment)
		return;
	if ((f->protocol == IPPROTO_TCP || f->protocol == IPPROTO_UDP) && s->l4_len >= L4_PORTS_BYTES &&
	    bpf_xdp_load_bytes(ctx, l4, b, L4_PORTS_BYTES) == 0) {
		f->has_ports = 1;
		f->sport = ((__u16)b[L4_SRC_PORT_OFFSET] << 8) | b[L4_SRC_PORT_OFFSET + 1];
		f->dport = ((__u16)b[L4_DST_PORT_OFFSET] << 8) | b[L4_DST_PORT_OFFSET + 1];
	}
	if (f->protocol == IPPROTO_TCP && s->l4_len >= TCP_FLAGS_OFFSET + 1 &&
	    bpf_xdp_load_bytes(ctx, l4, b, TCP_FLAGS_OFFSET + 1) == 0) {
		f->is_tcp = 1;
		f->tcp_flags = b[TCP_FLAGS_OFFSET];
	}
	if (((f->protocol == IPPROTO_ICMP && f->family == 4) || (f->protocol == IPPROTO_ICMPV6 && f->family == 6)) &&
	    s->l4_len >= ICMP_TYPE_CODE_BYTES && bpf_xdp_load_bytes(ctx, l4, b, ICMP_TYPE_CODE_BYTES) == 0) {
		f->is_icmp = 1;
		f->icmp_type = b[0];
		f->icmp_code = b[1];
		if (hf_icmp_echo(f) && s->l4_len >= ICMP_ECHO_ID_END &&
		    bpf_xdp_load_bytes(ctx, l4, b, ICMP_ECHO_ID_END) == 0)
			f->icmp_id = (__u16)b[ICMP_ECHO_ID_OFFSET] << 8 | b[ICMP_ECHO_ID_OFFSET + 1];
	}
}

/* Runs chain positions [first, end) of the packet's chain (one filter: the interface's or
 * lo0's) and acts on the outcome. -1: accepted, the packet goes on; else the XDP action
 * (counted here). A global function: verified once, not again for every state its callers
 * reach it in (with the reject's replies and the logs inlined that passed the budget). */
__noinline int hf_segment(struct xdp_md *ctx, struct hf_state *s, __u32 first, __u32 end)
{
	struct hf_loop_ctx c = {.s = s};
	__u32 l3off;
	int sent, v;

	if (!s || !ctx)
		return XDP_DROP;
	l3off = s->l3off;
	hf_fields_read(ctx, s);
	s->pos = first;
	s->verdict = HF_SEG_NONE;
	s->decided = XPF_HF_NONE;
	s->n_logs = 0;
	s->m.match_lp = s->lp;
	s->m.match_fc = s->fc;
	s->m.match_dscp = s->m.f.dscp;
	bpf_loop(end - first, hf_chain_step, &c, 0);
	switch (s->verdict) {
	case HF_SEG_ACCEPT:
		hf_rewrite_dscp(ctx, s, l3off);
		hf_logs(s, XPF_HF_ACCEPT);
		v = -1;
		break;
	case HF_SEG_REJECT:
		/* A `next term` rewrite reaches the frame the reply quotes, as in the workers. */
		hf_rewrite_dscp(ctx, s, l3off);
		sent = hf_reject(ctx, s) == 0;
		hf_logs(s, sent ? XPF_HF_REJECT : XPF_HF_DISCARD);
		count(sent ? XPF_XDP_TX_HOST_REJECT : XPF_XDP_DROP_HOST_FILTER);
		v = sent ? XDP_TX : XDP_DROP;
		break;
	case HF_SEG_POLICED:
		hf_logs(s, XPF_HF_DISCARD);
		count(XPF_XDP_DROP_HOST_POLICER);
		v = XDP_DROP;
		break;
	default: /* a discard term, or none decided: the implicit discard */
		hf_logs(s, XPF_HF_DISCARD);
		count(XPF_XDP_DROP_HOST_FILTER);
		v = XDP_DROP;
		break;
	}
	return v; /* the marks and the DSCP stay in `s` for lo0's segment */
}

/* A packet to one of the box's addresses, arriving on interface `slot` with its IP header
 * `l3off` bytes into the frame, in the order of xpf_bpf_abi.h: the interface's input
 * filter, then host-inbound-traffic and the junos-host policies, then lo0's input filter.
 * The bank word is read once here: every table the packet meets is of that bank.
 * XDP_PASS (counted PASS_LOCAL), XDP_DROP or XDP_TX (a reject's reply), counted. Not
 * inlined, nor host_inbound_check: each has a stack frame of its own (the filters' state
 * and the junos-host passes' contexts), and one copy serves IPv4 and IPv6. */
static __noinline int host_bound_verdict(struct xdp_md *ctx, __u32 slot, const struct host_packet *p,
					 void *data_end, __u32 l3off)
{
	__u32 zero = 0, bank = XPF_HOST_INBOUND_BANKS, n = 0, lo0 = 0, filters = 0, fam;
	__u32 *current = bpf_map_lookup_elem(&host_inbound_bank, &zero);
	const struct xpf_host_filters *t = NULL;
	struct hf_state *s = NULL;
	int v, refused;

	if (current)
		bank = *(volatile __u32 *)current;
	/* Decided before the interface's filter runs, applied after it: hf_segment may rewrite
	 * the frame (a DSCP, a reply), after which the verifier knows no packet pointer, and
	 * nothing the filter does changes what host-inbound-traffic decides. */
	refused = host_inbound_check(bank, slot, p, data_end);
	fam = p->family_bit == XPF_HOST_INBOUND_FAMILY_INET ? HF_FAMILY_INET : HF_FAMILY_INET6;
	if (bank < XPF_HOST_INBOUND_BANKS && slot < XPF_MAX_IFACES)
		t = bpf_map_lookup_elem(&host_filters, &bank);
	if (t)
		s = bpf_map_lookup_elem(&hf_state_scratch, &zero);
	if (t && s) {
		const struct xpf_hf_chain *chain;

		/* slot < XPF_MAX_IFACES here, but clang's code checks another copy of it: the
		 * barrier makes it mask the one the verifier follows (a power of two). */
		barrier_var(slot);
		chain = &t->chains[slot & (XPF_MAX_IFACES - 1)][fam];

		n = chain->n;
		n = n < XPF_HF_MAX_CHAIN ? n : XPF_HF_MAX_CHAIN;
		lo0 = chain->lo0_start;
		lo0 = lo0 < n ? lo0 : n;
		filters = chain->flags;
		__builtin_memset(s, 0, sizeof(*s));
		/* The rest of the fields hf_segment reads from the frame (hf_fields_read). */
		__builtin_memcpy(s->m.f.src, p->src, sizeof(s->m.f.src));
		__builtin_memcpy(s->m.f.dst, p->dst, sizeof(s->m.f.dst));
		s->m.f.family = p->family_bit == XPF_HOST_INBOUND_FAMILY_INET ? 4 : 6;
		s->m.f.protocol = p->protocol;
		s->m.f.length = p->length;
		s->m.f.later_fragment = p->later_fragment;
		s->m.f.first_fragment = p->first_fragment && !p->later_fragment;
		s->m.bank = bank;
		s->slot = slot;
		s->family_index = fam;
		/* Every packet starts low and best-effort (FilterStage.inputFilterStage). */
		s->lp = XPF_HF_LP_LOW;
		s->fc = XPF_HF_CLASS_BEST_EFFORT;
		s->dscp_rewrite = HF_NO_REWRITE;
		s->l3off = l3off;
		s->l4off = p->l4_off;
		s->l4_len = p->l4_len;
	}
	/* A table whose per-packet scratch cannot be had (it always can: a one-entry per-CPU
	 * array) must not let a filtered packet through: fail closed. */
	if (t && !s)
		goto refuse;
	/* A segment runs when its filter exists, even without terms: the end of a filter is
	 * the implicit discard (a filter with no terms discards everything, as in the workers). */
	if (s && (filters & XPF_HF_CHAIN_IFACE)) {
		v = hf_segment(ctx, s, 0, lo0);
		if (v >= 0)
			return v;
	}
	if (refused >= 0) {
		count(refused);
		return XDP_DROP;
	}
	if (s && (filters & XPF_HF_CHAIN_LO0)) {
		v = hf_segment(ctx, s, lo0, n);
		if (v >= 0)
			return v;
	}
	return pass(XPF_XDP_PASS_LOCAL);
refuse:
	count(XPF_XDP_DROP_HOST_FILTER);
	return XDP_DROP;
}

/* Verdict for an IPv4 packet whose header starts at `l3`:
 * XDP_PASS (counted here) or -1 for transit. */
static __always_inline int triage_ipv4(struct xdp_md *ctx, void *l3, void *data_end, __u32 slot, __u32 l3off)
{
	struct iphdr *iph = l3;
	struct host_packet hp;
	struct xpf_addr_key key;
	__u32 ihl_bytes, tot_len;
	__u32 daddr;
	__u16 frag;

	if ((void *)(iph + 1) > data_end)
		return pass(XPF_XDP_ERR_PARSE);
	/* A bad version or header length (including options running past the
	 * frame) is malformed: the kernel discards it and counts it in its IP
	 * statistics. */
	ihl_bytes = (__u32)iph->ihl * 4;
	if (iph->version != 4 || ihl_bytes < sizeof(*iph) || l3 + ihl_bytes > data_end)
		return pass(XPF_XDP_ERR_PARSE);

	daddr = bpf_ntohl(iph->daddr);
	/* 224.0.0.0/4 and the limited broadcast carry routing protocols, DHCP
	 * and the like; never forwarded as transit. */
	if ((daddr & 0xf0000000) == 0xe0000000 || daddr == 0xffffffff)
		return pass(XPF_XDP_PASS_CONTROL);

	__builtin_memset(&key, 0, sizeof(key));
	key.family = 4;
	__builtin_memcpy(key.addr, &iph->daddr, 4);
	if (is_local(&key)) {
		__builtin_memset(hp.src, 0, sizeof(hp.src));
		__builtin_memset(hp.dst, 0, sizeof(hp.dst));
		__builtin_memcpy(hp.src, &iph->saddr, sizeof(__u32) * IPV4_WORDS);
		__builtin_memcpy(hp.dst, &iph->daddr, sizeof(__u32) * IPV4_WORDS);
		hp.family_bit = XPF_HOST_INBOUND_FAMILY_INET;
		hp.protocol = iph->protocol;
		frag = bpf_ntohs(iph->frag_off) & IPV4_FRAG_OFFSET_MASK;
		hp.later_fragment = frag != 0;
		hp.first_fragment = frag == 0 && (bpf_ntohs(iph->frag_off) & IPV4_MORE_FRAGMENTS);
		hp.l4 = l3 + ihl_bytes;
		hp.l4_off = ihl_bytes;
		tot_len = bpf_ntohs(iph->tot_len);
		hp.length = tot_len;
		hp.l4_len = tot_len > ihl_bytes ? tot_len - ihl_bytes : 0;
		/* RFC 1858: a TCP fragment at offset 8 rewrites the first one's flags. */
		if (frag == IPV4_FRAG_OVERLAPS_TCP_FLAGS && hp.protocol == IPPROTO_TCP) {
			count(XPF_XDP_DROP_HOST_INBOUND);
			return XDP_DROP;
		}
		return host_bound_verdict(ctx, slot, &hp, data_end, l3off);
	}

	return -1;
}

/* Walks at most XPF_HOST_INBOUND_MAX_EXT_HEADERS IPv6 extension headers to the upper
 * layer and fills `p`'s protocol and L4 start, or marks a non-first fragment. Returns 0
 * when the chain is longer or runs past the frame (refused). */
static __always_inline int ipv6_upper_layer(struct ipv6hdr *ip6h, void *data_end,
					    struct host_packet *p, int filters)
{
	__u8 *h = (__u8 *)(ip6h + 1);
	__u8 next = ip6h->nexthdr;
	__u32 len, payload = bpf_ntohs(ip6h->payload_len), consumed = 0;

	for (int i = 0; i < XPF_HOST_INBOUND_MAX_EXT_HEADERS; i++) {
		if (next != IPV6_EXT_HOP_BY_HOP && next != IPV6_EXT_ROUTING &&
		    next != IPV6_EXT_FRAGMENT && next != IPV6_EXT_AH && next != IPV6_EXT_DSTOPTS)
			break;
		/* Every extension header is at least 8 bytes. */
		if ((void *)(h + IPV6_FRAGMENT_HEADER_BYTES) > data_end)
			return 0;
		if (next == IPV6_EXT_FRAGMENT) {
			if ((((__u16)h[IPV6_FRAG_OFFSET_BYTE] << 8) | h[IPV6_FRAG_OFFSET_BYTE + 1]) &
			    IPV6_FRAG_OFFSET_MASK) {
				p->protocol = h[0];
				p->later_fragment = 1;
				p->l4 = h + IPV6_FRAGMENT_HEADER_BYTES;
				return 1;
			}
			if (filters)
				p->first_fragment = h[IPV6_FRAG_OFFSET_BYTE + 1] & IPV6_FRAG_MORE;
			len = IPV6_FRAGMENT_HEADER_BYTES;
		} else if (next == IPV6_EXT_AH) {
			len = ((__u32)h[1] + 2) * 4;
		} else {
			len = ((__u32)h[1] + 1) * 8;
		}
		next = h[0];
		h += len;
		consumed += len;
	}
	if (next == IPV6_EXT_HOP_BY_HOP || next == IPV6_EXT_ROUTING || next == IPV6_EXT_FRAGMENT ||
	    next == IPV6_EXT_AH || next == IPV6_EXT_DSTOPTS)
		return 0;
	p->protocol = next;
	p->l4 = h;
	if (filters)
		p->l4_off = sizeof(*ip6h) + consumed;
	p->l4_len = payload > consumed ? payload - consumed : 0;
	return 1;
}

/* Same for IPv6 (the box's link-local addresses are local addresses like the others).
 * Extension headers are not walked: NDP is only recognised when
 * ICMPv6 follows the fixed header directly, which is how NDP is sent (RFC 4861
 * messages carry no extension headers in practice, and their destinations are
 * mostly multicast, caught before that check anyway). */
static __always_inline int triage_ipv6(struct xdp_md *ctx, void *l3, void *data_end, __u32 slot, __u32 l3off)
{
	struct ipv6hdr *ip6h = l3;
	struct host_packet hp;
	struct xpf_addr_key key;
	__u32 tot_len;
	__u8 *dst;

	if ((void *)(ip6h + 1) > data_end)
		return pass(XPF_XDP_ERR_PARSE);
	if (ip6h->version != 6)
		return pass(XPF_XDP_ERR_PARSE);

	dst = ip6h->daddr.in6_u.u6_addr8;
	/* ff00::/8 multicast (includes all NDP solicited-node traffic) never leaves the
	 * link as transit. */
	if (dst[0] == 0xff)
		return pass(XPF_XDP_PASS_CONTROL);

	/* NDP to a unicast address (neighbour unreachability probes, link-local or global)
	 * belongs to the kernel's neighbour table. */
	if (ip6h->nexthdr == IPPROTO_ICMPV6) {
		__u8 *icmp_type = (__u8 *)(ip6h + 1);

		if ((void *)(icmp_type + 1) > data_end)
			return pass(XPF_XDP_ERR_PARSE);
		if (*icmp_type >= ICMPV6_ND_FIRST && *icmp_type <= ICMPV6_ND_LAST)
			return pass(XPF_XDP_PASS_CONTROL);
	}

	__builtin_memset(&key, 0, sizeof(key));
	key.family = 6;
	__builtin_memcpy(key.addr, dst, 16);
	if (is_local(&key)) {
		__builtin_memcpy(hp.src, ip6h->saddr.in6_u.u6_addr8, sizeof(__u32) * IPV6_WORDS);
		__builtin_memcpy(hp.dst, dst, sizeof(__u32) * IPV6_WORDS);
		hp.family_bit = XPF_HOST_INBOUND_FAMILY_INET6;
		hp.later_fragment = 0;
		hp.first_fragment = 0;
		hp.l4_len = 0;
		hp.l4_off = 0;
		tot_len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
		hp.length = tot_len < IPV6_MAX_LENGTH ? tot_len : IPV6_MAX_LENGTH;
		if (ipv6_upper_layer(ip6h, data_end, &hp, 1))
			return host_bound_verdict(ctx, slot, &hp, data_end, l3off);
		count(XPF_XDP_DROP_HOST_INBOUND);
		return XDP_DROP;
	}
	/* fe80::/10 link-local that is not the box's (its own are checked above, as any
	 * local address): never routed, so not transit either. */
	if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80)
		return pass(XPF_XDP_PASS_CONTROL);

	return -1;
}

SEC("xdp")
int xpf_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct xpf_if_slot *slot;
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 queue = ctx->rx_queue_index;
	void *l3;
	__u32 l3_off = sizeof(*eth); /* bytes before the IP header */
	__u16 proto;
	__u32 key;
	int verdict;
	int ret;

	count(XPF_XDP_RX_TOTAL);

	if ((void *)(eth + 1) > data_end)
		return pass(XPF_XDP_ERR_PARSE);
	proto = eth->h_proto;
	l3 = eth + 1;

	/* One tag (802.1Q, or an 802.1ad outer tag) is looked through so tagged
	 * transit reaches the worker too. A second tag leaves an ethertype that
	 * is not IP, so double-tagged frames go to the kernel as non-IP. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag *tag = l3;

		if ((void *)(tag + 1) > data_end)
			return pass(XPF_XDP_ERR_PARSE);
		proto = tag->encap_proto;
		l3 = tag + 1;
		l3_off += sizeof(*tag);
	}

	/* xpfd attaches only to interfaces it registered, but the program object
	 * may be shared or attached by hand; an unknown interface has no slot and
	 * therefore no worker, so it keeps the kernel's normal behaviour. */
	slot = bpf_map_lookup_elem(&if_slots, &ifindex);
	if (!slot)
		return pass(XPF_XDP_PASS_NOT_DATAPLANE);

	if (proto == bpf_htons(ETH_P_IP))
		verdict = triage_ipv4(ctx, l3, data_end, slot->slot, l3_off);
	else if (proto == bpf_htons(ETH_P_IPV6))
		verdict = triage_ipv6(ctx, l3, data_end, slot->slot, l3_off);
	else
		return pass(XPF_XDP_PASS_NOT_IP);
	if (verdict >= 0)
		return verdict;

	/* Transit. A slot or queue outside the table has no xsks_map entry of
	 * its own (a queue >= XPF_MAX_QUEUES would alias the next interface's
	 * sockets), so it is treated as having no worker. */
	if (slot->slot >= XPF_MAX_IFACES || queue >= XPF_MAX_QUEUES) {
		count(XPF_XDP_DROP_NO_WORKER);
		return XDP_DROP;
	}
	key = XPF_XSKMAP_KEY(slot->slot, queue);

	/* Fail closed: with no live socket, transit is dropped rather than
	 * passed, so traffic never bypasses the firewall via kernel forwarding. */
	if (!bpf_map_lookup_elem(&xsks_map, &key)) {
		count(XPF_XDP_DROP_NO_WORKER);
		return XDP_DROP;
	}

	/* The socket can still go away between the lookup and the redirect; the
	 * XDP_DROP in the flags is the action returned then. */
	ret = bpf_redirect_map(&xsks_map, key, XDP_DROP);
	count(ret == XDP_REDIRECT ? XPF_XDP_REDIRECT : XPF_XDP_REDIRECT_FAILED);
	return ret;
}

/* ---- the box's own traffic (TC egress) ---------------------------------------------- */


/* Whether a packet the box sends is its own connection's (xpf_bpf_abi.h: only those meet
 * the from junos-host policies): a TCP SYN, or any TCP segment from a reply-range
 * (ephemeral) port — every packet of a connection the box opened, so a commit that
 * refuses it stops it at its next packet. `t` is the egress interface's host-inbound
 * table: a UDP datagram from a port one of its entries admits is the box answering on a
 * service it offers there. -1: cut short (refused). */
static __always_inline int opens_connection(const struct host_packet *p, const struct xpf_host_inbound *t,
					    void *data_end)
{
	__u8 *l4 = p->l4;
	__u8 type;

	if (p->later_fragment)
		return 0;
	if (p->protocol == IPPROTO_TCP) {
		if (!l4_has(p, TCP_FLAGS_OFFSET + 1, data_end))
			return -1;
		return (l4[TCP_FLAGS_OFFSET] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN ||
		       in_range(((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1], t->reply_port_first,
				t->reply_port_last);
	}
	if (p->protocol == IPPROTO_UDP) {
		if (!l4_has(p, L4_PORTS_BYTES, data_end))
			return -1;
		return !entry_admits(t, IPPROTO_UDP, p->family_bit,
				     ((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1]);
	}
	if (p->protocol == IPPROTO_ICMP) {
		if (!l4_has(p, 1, data_end))
			return -1;
		type = l4[0];
		return !(type == ICMP_ECHO_REPLY || type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
			 type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETER_PROB);
	}
	if (p->protocol == IPPROTO_ICMPV6) {
		if (!l4_has(p, 1, data_end))
			return -1;
		type = l4[0];
		return !(type == ICMPV6_ECHO_REPLY || in_range(type, ICMPV6_ERROR_FIRST, ICMPV6_ERROR_LAST));
	}
	return 1;
}

/* The box's packet leaving through dataplane interface `slot`: TC_ACT_OK unless it opens a
 * connection that the from junos-host policies of the interface's zone refuse. `p` is NULL
 * for an IP packet whose headers could not be read (refused when policies apply: nothing
 * to match it against). */
static __always_inline int host_outbound_verdict(__u32 slot, const struct host_packet *p, void *data_end)
{
	__u32 key;
	struct xpf_host_inbound *t;
	struct xpf_junos_host *jh;
	int opens, tables = table_key(slot, &key);

	if (tables == TABLES_NONE)
		return TC_ACT_OK; /* no configuration written yet: no policies to apply */
	if (tables != TABLES_FOUND)
		goto deny;
	jh = bpf_map_lookup_elem(&junos_host_out, &key);
	t = bpf_map_lookup_elem(&host_inbound, &key);
	if (!jh || !t)
		goto deny;
	if (!(jh->flags & XPF_JUNOS_HOST_F_POLICIES))
		return TC_ACT_OK;
	opens = p ? opens_connection(p, t, data_end) : -1;
	if (opens == 0)
		return TC_ACT_OK;
	if (opens > 0 && p && junos_host_permits(jh, p, data_end))
		return TC_ACT_OK;
deny:
	count(XPF_XDP_DROP_HOST_OUTBOUND);
	return TC_ACT_SHOT;
}

/* The box sends `p` (permitted) through interface `slot`: a TCP segment or UDP datagram
 * from a reply-range port belongs to a flow the box opened, whose replies the XDP
 * program's reply rule admits (host_flows). A lookup first: it marks a present entry
 * recently used in the LRU, and most packets find theirs. */
static __always_inline void record_box_flow(__u32 slot, const struct host_packet *p, void *data_end)
{
	__u32 one = 1, key;
	struct xpf_host_inbound *t;
	struct xpf_host_flow k;
	__u8 *l4 = p->l4;
	__u16 sport, dport;

	if (p->later_fragment || (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP) ||
	    !l4_has(p, L4_PORTS_BYTES, data_end))
		return;
	if (table_key(slot, &key) != TABLES_FOUND)
		return;
	t = bpf_map_lookup_elem(&host_inbound, &key);
	sport = ((__u16)l4[L4_SRC_PORT_OFFSET] << 8) | l4[L4_SRC_PORT_OFFSET + 1];
	dport = ((__u16)l4[L4_DST_PORT_OFFSET] << 8) | l4[L4_DST_PORT_OFFSET + 1];
	if (!t || !in_range(sport, t->reply_port_first, t->reply_port_last))
		return;
	host_flow_key(&k, p, 1, sport, dport);
	if (!bpf_map_lookup_elem(&host_flows, &k))
		bpf_map_update_elem(&host_flows, &k, &one, BPF_ANY);
}

/* Bytes of headers pulled into the skb's linear part before parsing: Ethernet, a VLAN tag,
 * IPv6 with a few extension headers, and TCP up to its flags. */
#define TC_HEADER_PULL 128

SEC("tc")
int xpf_tc_egress(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct ethhdr *eth;
	struct xpf_if_slot *slot;
	struct host_packet hp = {};
	__u32 ifindex = skb->ifindex;
	void *l3;
	__u16 proto;
	int verdict;

	slot = bpf_map_lookup_elem(&if_slots, &ifindex);
	if (!slot)
		return TC_ACT_OK;
	/* The kernel's headers are normally linear already; a failed pull leaves what is. */
	bpf_skb_pull_data(skb, skb->len < TC_HEADER_PULL ? skb->len : TC_HEADER_PULL);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK; /* not even Ethernet: nothing xpf could match */
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag *tag = l3;

		if ((void *)(tag + 1) > data_end)
			return TC_ACT_OK;
		proto = tag->encap_proto;
		l3 = tag + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = l3;
		__u32 ihl_bytes, daddr, tot_len;

		if ((void *)(iph + 1) > data_end)
			return host_outbound_verdict(slot->slot, NULL, data_end);
		ihl_bytes = (__u32)iph->ihl * 4;
		if (ihl_bytes < sizeof(*iph) || l3 + ihl_bytes > data_end)
			return host_outbound_verdict(slot->slot, NULL, data_end);
		daddr = bpf_ntohl(iph->daddr);
		if ((daddr & IPV4_MULTICAST_MASK) == IPV4_MULTICAST_NET || daddr == IPV4_LIMITED_BROADCAST)
			return TC_ACT_OK;
		__builtin_memcpy(hp.src, &iph->saddr, sizeof(__u32) * IPV4_WORDS);
		__builtin_memcpy(hp.dst, &iph->daddr, sizeof(__u32) * IPV4_WORDS);
		hp.family_bit = XPF_HOST_INBOUND_FAMILY_INET;
		hp.protocol = iph->protocol;
		hp.later_fragment = (bpf_ntohs(iph->frag_off) & IPV4_FRAG_OFFSET_MASK) != 0;
		hp.l4 = l3 + ihl_bytes;
		tot_len = bpf_ntohs(iph->tot_len);
		hp.l4_len = tot_len > ihl_bytes ? tot_len - ihl_bytes : 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = l3;
		__u8 *dst, *icmp_type;

		if ((void *)(ip6h + 1) > data_end)
			return host_outbound_verdict(slot->slot, NULL, data_end);
		dst = ip6h->daddr.in6_u.u6_addr8;
		if (dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80))
			return TC_ACT_OK;
		icmp_type = (__u8 *)(ip6h + 1);
		if (ip6h->nexthdr == IPPROTO_ICMPV6 && (void *)(icmp_type + 1) <= data_end &&
		    *icmp_type >= ICMPV6_ND_FIRST && *icmp_type <= ICMPV6_ND_LAST)
			return TC_ACT_OK;
		__builtin_memcpy(hp.src, ip6h->saddr.in6_u.u6_addr8, sizeof(__u32) * IPV6_WORDS);
		__builtin_memcpy(hp.dst, dst, sizeof(__u32) * IPV6_WORDS);
		hp.family_bit = XPF_HOST_INBOUND_FAMILY_INET6;
		if (!ipv6_upper_layer(ip6h, data_end, &hp, 0))
			return host_outbound_verdict(slot->slot, NULL, data_end);
	} else {
		return TC_ACT_OK;
	}
	verdict = host_outbound_verdict(slot->slot, &hp, data_end);
	if (verdict == TC_ACT_OK)
		record_box_flow(slot->slot, &hp, data_end);
	return verdict;
}
