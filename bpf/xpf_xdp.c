// SPDX-License-Identifier: GPL-2.0
/* xpf_xdp.c — the XDP program xpfd attaches to every dataplane interface.
 *
 * Its only job is triage: every frame either stays with the kernel (XDP_PASS),
 * goes to the worker that owns the receive queue (redirect into xsks_map), or
 * is dropped because no worker is there to take it. All policy (the firewall
 * itself) lives in the userspace worker; this program holds no state beyond
 * the maps xpfd fills in.
 *
 * What goes to the kernel, and why:
 *   - frames on interfaces xpfd did not register (if_slots): not ours;
 *   - non-IP frames (ARP, LLDP, STP, ...): the kernel's own stack answers ARP
 *     and runs whatever L2 control protocols are configured;
 *   - multicast/broadcast, IPv6 link-local and NDP: routing protocols, DHCP,
 *     neighbour discovery — the kernel keeps the neighbour tables the worker
 *     relies on, so it must see these;
 *   - traffic to the box's own addresses (local_addrs): SSH, management, BGP
 *     sessions terminate in the kernel, not in the forwarding path;
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

/* Verdict for an IPv4 packet whose header starts at `l3`:
 * XDP_PASS (counted here) or -1 for transit. */
static __always_inline int triage_ipv4(void *l3, void *data_end)
{
	struct iphdr *iph = l3;
	struct xpf_addr_key key;
	__u32 ihl_bytes;
	__u32 daddr;

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
	if (is_local(&key))
		return pass(XPF_XDP_PASS_LOCAL);

	return -1;
}

/* Same for IPv6. Extension headers are not walked: NDP is only recognised when
 * ICMPv6 follows the fixed header directly, which is how NDP is sent (RFC 4861
 * messages carry no extension headers in practice, and their destinations are
 * mostly multicast or link-local, caught before that check anyway). */
static __always_inline int triage_ipv6(void *l3, void *data_end)
{
	struct ipv6hdr *ip6h = l3;
	struct xpf_addr_key key;
	__u8 *dst;

	if ((void *)(ip6h + 1) > data_end)
		return pass(XPF_XDP_ERR_PARSE);
	if (ip6h->version != 6)
		return pass(XPF_XDP_ERR_PARSE);

	dst = ip6h->daddr.in6_u.u6_addr8;
	/* ff00::/8 multicast (includes all NDP solicited-node traffic) and
	 * fe80::/10 link-local never leave the link, so they are not transit. */
	if (dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80))
		return pass(XPF_XDP_PASS_CONTROL);

	/* NDP to a unicast global address (e.g. unicast neighbour
	 * unreachability probes) still belongs to the kernel's neighbour table. */
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
	if (is_local(&key))
		return pass(XPF_XDP_PASS_LOCAL);

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
		verdict = triage_ipv4(l3, data_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		verdict = triage_ipv6(l3, data_end);
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
