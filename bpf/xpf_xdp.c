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
 *     the ingress interface's host-inbound-traffic admits (host_inbound, checked on
 *     every packet, established flows included); the rest is dropped here;
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
/* IPv6 extension headers: next header and length (8-octet units beyond the first 8;
 * AH counts 4-octet units beyond the first 8) in their first two bytes. */
#define IPV6_EXT_HOP_BY_HOP 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_AH 51
#define IPV6_EXT_DSTOPTS 60
#define IPV6_FRAGMENT_HEADER_BYTES 8
#define IPV6_FRAG_OFFSET_BYTE 2 /* offset and M flag, network order, in the fragment header */

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

/* Host-bound packet on interface `slot`: XDP_PASS (counted PASS_LOCAL) when its
 * interface's host-inbound-traffic admits it and, when admitted by a service or protocol
 * entry, its zone's junos-host policies permit it; else XDP_DROP (DROP_HOST_INBOUND or
 * DROP_HOST_POLICY). A slot without tables (none written yet) admits nothing: fail closed. */
static __always_inline int host_inbound_verdict(__u32 slot, const struct host_packet *p, void *data_end)
{
	__u32 key;
	struct xpf_host_inbound *t;
	struct xpf_junos_host *jh;
	int admitted;

	if (table_key(slot, &key) != TABLES_FOUND)
		goto deny;
	t = bpf_map_lookup_elem(&host_inbound, &key);
	if (!t)
		goto deny;
	admitted = host_inbound_admits(t, p, data_end);
	if (admitted == HOST_ADMIT_REPLY)
		return pass(XPF_XDP_PASS_LOCAL);
	if (admitted != HOST_ADMIT_ENTRY)
		goto deny;
	jh = bpf_map_lookup_elem(&junos_host, &key);
	if (jh && junos_host_permits(jh, p, data_end))
		return pass(XPF_XDP_PASS_LOCAL);
	count(XPF_XDP_DROP_HOST_POLICY);
	return XDP_DROP;
deny:
	count(XPF_XDP_DROP_HOST_INBOUND);
	return XDP_DROP;
}

/* Verdict for an IPv4 packet whose header starts at `l3`:
 * XDP_PASS (counted here) or -1 for transit. */
static __always_inline int triage_ipv4(void *l3, void *data_end, __u32 slot)
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
		hp.l4 = l3 + ihl_bytes;
		tot_len = bpf_ntohs(iph->tot_len);
		hp.l4_len = tot_len > ihl_bytes ? tot_len - ihl_bytes : 0;
		/* RFC 1858: a TCP fragment at offset 8 rewrites the first one's flags. */
		if (frag == IPV4_FRAG_OVERLAPS_TCP_FLAGS && hp.protocol == IPPROTO_TCP) {
			count(XPF_XDP_DROP_HOST_INBOUND);
			return XDP_DROP;
		}
		return host_inbound_verdict(slot, &hp, data_end);
	}

	return -1;
}

/* Walks at most XPF_HOST_INBOUND_MAX_EXT_HEADERS IPv6 extension headers to the upper
 * layer and fills `p`'s protocol and L4 start, or marks a non-first fragment. Returns 0
 * when the chain is longer or runs past the frame (refused). */
static __always_inline int ipv6_upper_layer(struct ipv6hdr *ip6h, void *data_end,
					    struct host_packet *p)
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
	p->l4_len = payload > consumed ? payload - consumed : 0;
	return 1;
}

/* Same for IPv6 (the box's link-local addresses are local addresses like the others).
 * Extension headers are not walked: NDP is only recognised when
 * ICMPv6 follows the fixed header directly, which is how NDP is sent (RFC 4861
 * messages carry no extension headers in practice, and their destinations are
 * mostly multicast, caught before that check anyway). */
static __always_inline int triage_ipv6(void *l3, void *data_end, __u32 slot)
{
	struct ipv6hdr *ip6h = l3;
	struct host_packet hp;
	struct xpf_addr_key key;
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
		if (ipv6_upper_layer(ip6h, data_end, &hp))
			return host_inbound_verdict(slot, &hp, data_end);
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
	}

	/* xpfd attaches only to interfaces it registered, but the program object
	 * may be shared or attached by hand; an unknown interface has no slot and
	 * therefore no worker, so it keeps the kernel's normal behaviour. */
	slot = bpf_map_lookup_elem(&if_slots, &ifindex);
	if (!slot)
		return pass(XPF_XDP_PASS_NOT_DATAPLANE);

	if (proto == bpf_htons(ETH_P_IP))
		verdict = triage_ipv4(l3, data_end, slot->slot);
	else if (proto == bpf_htons(ETH_P_IPV6))
		verdict = triage_ipv6(l3, data_end, slot->slot);
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

#define TCP_FLAG_SYN 0x02
#define IPV4_MULTICAST_MASK 0xf0000000 /* 224.0.0.0/4 */
#define IPV4_MULTICAST_NET 0xe0000000
#define IPV4_LIMITED_BROADCAST 0xffffffff

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
		if (!ipv6_upper_layer(ip6h, data_end, &hp))
			return host_outbound_verdict(slot->slot, NULL, data_end);
	} else {
		return TC_ACT_OK;
	}
	verdict = host_outbound_verdict(slot->slot, &hp, data_end);
	if (verdict == TC_ACT_OK)
		record_box_flow(slot->slot, &hp, data_end);
	return verdict;
}
