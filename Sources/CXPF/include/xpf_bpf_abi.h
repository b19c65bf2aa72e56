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
#include <linux/bpf.h> /* struct bpf_spin_lock */

#define XPF_BPF_ABI_VERSION 8

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

/* counters (BPF_MAP_TYPE_PERCPU_ARRAY, max_entries XPF_XDP_CTR_MAX), value __u64, shared
 * by both programs of the object (xpf_xdp and xpf_tc_egress). Index order is append-only
 * forever. */
enum xpf_xdp_counter {
	XPF_XDP_RX_TOTAL = 0,        /* every packet the program saw */
	XPF_XDP_REDIRECT = 1,        /* handed to the worker's AF_XDP socket */
	XPF_XDP_PASS_NOT_IP = 2,     /* ARP, LLDP, anything not IPv4/IPv6 */
	XPF_XDP_PASS_LOCAL = 3,      /* destination is one of the box's own addresses */
	XPF_XDP_PASS_CONTROL = 4,    /* multicast/broadcast, IPv6 link-local not the box's, NDP (ICMPv6 133-137) */
	XPF_XDP_DROP_NO_WORKER = 5,  /* transit packet, but no live worker socket for the queue */
	XPF_XDP_ERR_PARSE = 6,       /* truncated Ethernet/VLAN/IP header: passed to the kernel */
	XPF_XDP_PASS_NOT_DATAPLANE = 7, /* ingress ifindex not in if_slots */
	XPF_XDP_REDIRECT_FAILED = 8, /* bpf_redirect_map refused: dropped */
	XPF_XDP_DROP_HOST_INBOUND = 9, /* to a local address, refused by host-inbound-traffic */
	XPF_XDP_DROP_HOST_POLICY = 10, /* admitted by host-inbound-traffic, refused by a junos-host policy */
	XPF_XDP_DROP_HOST_OUTBOUND = 11, /* the box's own packet (TC egress), refused by a from junos-host policy */
	XPF_XDP_DROP_HOST_FILTER = 12, /* host-bound, discarded by a firewall filter (a term's discard, a reject that sent nothing, the implicit discard) */
	XPF_XDP_DROP_HOST_POLICER = 13, /* host-bound, discarded by a filter term's policer */
	XPF_XDP_TX_HOST_REJECT = 14, /* host-bound, refused by a filter's reject: the TCP RST / ICMP unreachable went back out (XDP_TX) */
	XPF_XDP_HOST_LOG_LOST = 15,  /* a host-bound filter's log record found host_filter_log full: not written */
	XPF_XDP_CTR_MAX = 16
};

/* Host-inbound traffic: what each dataplane interface admits to the box's own
 * addresses. Checked by the program for every packet to a local address (local_addrs),
 * established flows included; refused packets are dropped and counted
 * XPF_XDP_DROP_HOST_INBOUND, admitted ones passed (XPF_XDP_PASS_LOCAL).
 *
 * host_inbound (BPF_MAP_TYPE_ARRAY, max_entries XPF_HOST_INBOUND_BANKS * XPF_MAX_IFACES):
 *   key = bank * XPF_MAX_IFACES + interface slot, value = struct xpf_host_inbound.
 * host_inbound_bank (BPF_MAP_TYPE_ARRAY, max_entries 1): key 0, value __u32, the bank the
 *   program reads (0 or 1).
 * Writer: xpfd only, at start (before attach) and on every commit, before the commit's
 * configuration generation is published. It rewrites every slot of the bank the program
 * does not read, then stores that bank's number in host_inbound_bank: a packet sees one
 * commit's tables whole, never a table half rewritten (an array value is copied in place,
 * not swapped). Readers: the program, one lookup of the bank and one of the table per
 * host-bound packet. The tables are computed from the configuration by
 * HostInboundTable.swift (Sources/Shared/Config), the one place that decides what a
 * service or protocol admits; the rules below are applied identically by the program and
 * by HostInboundTable.admits (tested against one corpus, Tests/bpf/host_inbound_corpus.txt).
 *
 * A packet is admitted when the table has XPF_HOST_INBOUND_F_ZONE (the interface is in a
 * zone; an interface in no zone admits nothing) and one of:
 *   - it is a non-first fragment (no ports to match; the kernel delivers nothing of a
 *     datagram whose first fragment was refused);
 *   - an ICMP error (ICMPv4 3, 4, 11, 12; ICMPv6 1-4: path MTU discovery needs them) or
 *     an echo reply (ICMPv4 0, ICMPv6 129: answers to the box's own pings);
 *   - TCP with ACK set, or UDP, to a destination port in [reply_port_first,
 *     reply_port_last] (the kernel's ip_local_port_range) on a flow the box itself opened
 *     (its tuple, reversed, is in host_flows: a reply to the box's own connection);
 *   - an entry matches: same IP protocol, the packet's family in `families`, and its
 *     "port" in [port_first, port_last] — the destination port for TCP/UDP, the type for
 *     ICMP/ICMPv6, 0 for any other protocol.
 * IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH) are
 * walked, at most XPF_HOST_INBOUND_MAX_EXT_HEADERS of them; a longer chain, or a
 * TCP/UDP/ICMP header cut short — by the end of the frame or by the IP packet's own length
 * (a tiny first fragment), is refused, as is an IPv4 TCP fragment at offset 8 (RFC 1858:
 * it would rewrite the first fragment's flags). */
#define XPF_HOST_INBOUND_BANKS 2
#define XPF_HOST_INBOUND_MAX_ENTRIES 48
#define XPF_HOST_INBOUND_MAX_EXT_HEADERS 4

#define XPF_HOST_INBOUND_F_ZONE 1u /* the interface is in a zone */
#define XPF_HOST_INBOUND_FAMILY_INET 1u  /* xpf_host_inbound_entry.families */
#define XPF_HOST_INBOUND_FAMILY_INET6 2u

struct xpf_host_inbound_entry {
	__u8 protocol;    /* IP protocol number */
	__u8 families;    /* XPF_HOST_INBOUND_FAMILY_* */
	__u16 port_first; /* host order; ICMP type for ICMP/ICMPv6, 0..0xffff for portless protocols */
	__u16 port_last;
	__u16 pad;
};

struct xpf_host_inbound {
	__u32 flags;            /* XPF_HOST_INBOUND_F_* */
	__u32 n_entries;        /* entries[0..n_entries) are valid, <= XPF_HOST_INBOUND_MAX_ENTRIES */
	__u16 reply_port_first; /* host order */
	__u16 reply_port_last;
	__u32 pad;
	struct xpf_host_inbound_entry entries[XPF_HOST_INBOUND_MAX_ENTRIES];
};

/* junos-host policies: `security policies from-zone Z to-zone junos-host` (Junos' zone of
 * the box itself), applied to host-bound packets host-inbound-traffic admitted through an
 * entry (a service or protocol the interface's zone names) — not to the ones admitted as
 * replies, ICMP errors, echo replies or non-first fragments, which on an SRX belong to the
 * box's own sessions. A zone without such a context is decided by host-inbound-traffic
 * alone (Junos).
 *
 * junos_host (BPF_MAP_TYPE_ARRAY, max_entries XPF_HOST_INBOUND_BANKS * XPF_MAX_IFACES):
 *   same key as host_inbound (bank * XPF_MAX_IFACES + interface slot), value struct
 *   xpf_junos_host: the policies of the interface's zone. Same writer, banks and ordering
 *   as host_inbound: xpfd writes both maps' slots of the bank the program does not read
 *   before switching host_inbound_bank, so one packet sees one commit's host-inbound entries
 *   and policies together. Computed by JunosHostTable.swift (Sources/Shared/Config); its
 *   matcher and the program's apply the rules below identically (one corpus,
 *   Tests/bpf/junos_host_corpus.txt).
 *
 * The lookup is a bitmap intersection: the packet's source and destination addresses are
 * checked against every prefix (bit i of src_match / dst_match: prefix i contains the
 * address, same family), its protocol, ports and ICMP type/code against every term (bit i
 * of term_match: term i matches, as an application term does in the transit policy
 * lookup — protocol unless ANY_PROTO, both port ranges, ICMP type and code when flagged,
 * which only ICMP/ICMPv6 meets). Ports are TCP/UDP ports, 0 for other protocols; ICMP
 * type and code are 0 for other protocols. Then the first policy i in 0..n_policies with
 * src[] & src_match, dst[] & dst_match and terms & term_match all non-zero decides:
 * PERMIT passes the packet, DENY (the policy's deny or reject: the program answers
 * nothing) drops it, counted XPF_XDP_DROP_HOST_POLICY. No policy matches: the default
 * policy (XPF_JUNOS_HOST_F_DEFAULT_PERMIT) decides. An ICMP header shorter than its type
 * and code is refused when policies apply. */
/* The box's own traffic: `from-zone junos-host to-zone Z` policies. The object's second
 * program, xpf_tc_egress (TC, clsact egress of every dataplane interface), sees the packets
 * the kernel sends — the box's own; the workers' AF_XDP transmissions bypass TC — and
 * applies the policies of the egress interface's zone to the box's own connections: TCP
 * SYN without ACK, and every TCP segment from a reply-range (ephemeral) port (a connection
 * the box opened: a commit that refuses it stops it at its next packet); UDP unless its
 * source port is one the egress interface's
 * host-inbound table admits through an entry (the box answering on a service it offers in
 * that zone); ICMP/ICMPv6 but echo replies and errors (ICMPv4 0, 3, 4, 11, 12; ICMPv6
 * 1-4, 129); every packet of another protocol (no way to tell a request from a reply).
 * Answers, non-first fragments, multicast, broadcast and link-local destinations, NDP and
 * non-IP frames pass. The lookup is the one above with the packet's source (the box) as
 * source address. Headers past the skb's linear part are pulled in first; an IP packet
 * whose headers still cannot be read is refused when the zone has such policies.
 *
 * junos_host_out (BPF_MAP_TYPE_ARRAY, same keys, banks, writer and ordering as junos_host):
 *   struct xpf_junos_host of the egress interface's zone's from junos-host policies.
 * Refused packets are dropped (TC_ACT_SHOT) and counted XPF_XDP_DROP_HOST_OUTBOUND. */
/* The box's own flows: host_flows (BPF_MAP_TYPE_LRU_HASH, max_entries XPF_HOST_FLOWS_MAX),
 * key struct xpf_host_flow, value __u32 (unused). Writer: xpf_tc_egress, for every TCP
 * segment and UDP datagram the box sends from a port in the host-inbound table's reply
 * range (the kernel's ephemeral ports: a connection the box opened) that its policies let
 * out — every packet, not only the first, so an entry evicted or lost with a restart of
 * xpfd comes back with the box's next packet of that flow. Reader: xpf_xdp, whose reply
 * rule (TCP with ACK, or UDP, to a reply-range port) admits a packet only when its tuple
 * reversed is here; otherwise the packet meets the service entries (and junos-host
 * policies) like any other. Entries are never deleted: the LRU drops the oldest. */
#define XPF_HOST_FLOWS_MAX 65536
struct xpf_host_flow {
	__u8 family;	   /* 4 or 6 */
	__u8 protocol;	   /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 local_port;  /* the box's port, host order */
	__u16 remote_port; /* host order */
	__u16 pad;	   /* 0 */
	__u32 local[4];	   /* the box's address, raw words in network order; IPv4 in word 0 */
	__u32 remote[4];
};

#define XPF_JUNOS_HOST_MAX_PREFIXES 128 /* two 64-bit words of prefix bits per policy */
#define XPF_JUNOS_HOST_MAX_TERMS 64
#define XPF_JUNOS_HOST_MAX_POLICIES 64
#define XPF_JUNOS_HOST_PREFIX_WORDS (XPF_JUNOS_HOST_MAX_PREFIXES / 64)

#define XPF_JUNOS_HOST_F_POLICIES 1u	   /* the zone has a from-zone Z to-zone junos-host context */
#define XPF_JUNOS_HOST_F_DEFAULT_PERMIT 2u /* security policies default-policy permit-all */

#define XPF_JUNOS_HOST_TERM_ANY_PROTO 1u /* xpf_junos_host_term.flags: the predefined `any` */
#define XPF_JUNOS_HOST_TERM_ICMP_TYPE 2u /* icmp_type must match */
#define XPF_JUNOS_HOST_TERM_ICMP_CODE 4u /* icmp_code must match */

#define XPF_JUNOS_HOST_PERMIT 1u /* xpf_junos_host_policy.action; 0 denies */

/* An address prefix as 4 words in network order: an address (IPv4 in word 0, the rest
 * zero, as xpf_addr_key) is inside when (addr[w] & mask[w]) == net[w] for every w. */
struct xpf_junos_host_prefix {
	__u32 net[4];
	__u32 mask[4];
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

struct xpf_junos_host_term {
	__u8 flags;	 /* XPF_JUNOS_HOST_TERM_* */
	__u8 protocol;	 /* ignored with ANY_PROTO */
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 sport_first; /* host order */
	__u16 sport_last;
	__u16 dport_first;
	__u16 dport_last;
};

struct xpf_junos_host_policy {
	__u64 src[XPF_JUNOS_HOST_PREFIX_WORDS]; /* bit i of word i / 64: prefix i */
	__u64 dst[XPF_JUNOS_HOST_PREFIX_WORDS];
	__u64 terms;				/* bit i: term i */
	__u32 action;				/* XPF_JUNOS_HOST_PERMIT or 0 */
	__u32 pad;
};

struct xpf_junos_host {
	__u32 flags;	  /* XPF_JUNOS_HOST_F_* */
	__u32 n_prefixes; /* <= XPF_JUNOS_HOST_MAX_PREFIXES */
	__u32 n_terms;	  /* <= XPF_JUNOS_HOST_MAX_TERMS */
	__u32 n_policies; /* <= XPF_JUNOS_HOST_MAX_POLICIES */
	struct xpf_junos_host_prefix prefixes[XPF_JUNOS_HOST_MAX_PREFIXES];
	struct xpf_junos_host_term terms[XPF_JUNOS_HOST_MAX_TERMS];
	struct xpf_junos_host_policy policies[XPF_JUNOS_HOST_MAX_POLICIES];
};

/* ---- Firewall filters on host-bound traffic (issue 10) -------------------
 *
 * Every packet to one of the box's addresses (local_addrs) meets, in this order: the input
 * filter (or input-list) of its ingress interface for its family, then host-inbound-traffic
 * and the junos-host policies above, then lo0's input filter (or input-list) — the filter of
 * the box itself, as on Junos. Evaluated on every packet (nothing is cached: a commit takes
 * effect on the next packet of every flow, established ones included). Transit packets
 * never run this (the workers apply the filters to them).
 *
 * host_filters (BPF_MAP_TYPE_ARRAY, max_entries XPF_HOST_INBOUND_BANKS): key = the bank of
 *   host_inbound_bank, value struct xpf_host_filters: pools of terms, prefixes, ranges, sets
 *   and forwarding classes, and per (interface slot, family) the chain of pool terms to
 *   run. Same writer, banks and ordering as host_inbound: xpfd writes the bank the program
 *   does not read (with host_filter_policers' entries of that bank), then switches
 *   host_inbound_bank. Computed by HostFilterTable.swift (Sources/Shared/Config) from the
 *   snapshot xpfd publishes in the same commit: the terms are that snapshot's (the same
 *   records the workers match transit against), re-based into these pools.
 *
 * A chain's positions [0, lo0_start) are the ingress interface's filter, [lo0_start, n)
 * lo0's; `flags` says which of the two has a filter at all (XPF_HF_CHAIN_*): a segment
 * without its flag is skipped, one with it runs even when empty — a filter without terms
 * is the implicit discard of everything, as in the workers. A list's members' terms follow each other in
 * one segment (a list is one filter: only its end is the implicit discard). Within a
 * segment the first term whose conditions all hold decides, as in the workers
 * (FilterStage.swift, termMatches): a term with terminal XPF_HF_NEXT counts, marks,
 * polices and rewrites DSCP and the search goes on after it; ACCEPT ends the segment (the
 * packet goes on to the next check); DISCARD and REJECT end the packet; no deciding term
 * in a segment is the implicit discard. Conditions (all present ones must hold; bits of
 * xpf_hf_term.match, the same values as enum xpf_term_match):
 *   SRC_ADDR / DST_ADDR: the longest prefix of the list (same family) containing the
 *     address exists and is not `except`; ADDR: that holds for the source or the
 *     destination. PROTO: protocol (after IPv6 extension headers) in the set. SRC_PORT /
 *     DST_PORT / PORT (either): TCP/UDP only, a port in one of the ranges (a non-first
 *     fragment has no ports: no match). DSCP: bit dscp of the mask. ICMP_TYPE / ICMP_CODE:
 *     ICMP for inet, ICMPv6 for inet6, first fragment or whole, value in the set.
 *     TCP_FLAGS: TCP, not a later fragment, the flags byte in the set. IS_FRAGMENT: a
 *     non-first fragment; FIRST_FRAGMENT: offset 0 with more fragments. LOSS_PRIORITY:
 *     bit (packet's loss priority) of loss_priorities. FORWARDING_CLASS: the packet's class
 *     among classes (XPF_HF_CLASS_BEST_EFFORT stands for best-effort). PACKET_LENGTH: the IP
 *     datagram's length (IPv4 total length, IPv6 payload length + 40) in a range.
 * A packet starts with loss priority XPF_HF_LP_LOW and class best-effort; terms' `then
 * loss-priority` / `forwarding-class` and policers change them for the filters after (lo0's
 * filter sees what the interface's filter set) and for a color-aware policer; a filter reads
 * the packet's fields once, so later terms of the same filter match what it found (as the
 * workers' FilterStage does).
 * Actions of a deciding term, in order: count (its term row and its counter's), mark,
 * police (out of profile with discard: dropped, counted XPF_XDP_DROP_HOST_POLICER), then
 * ACCEPT (DSCP rewrite: the IPv4 checksum updated), DISCARD (XPF_XDP_DROP_HOST_FILTER) or
 * REJECT: a TCP RST for tcp-reset on TCP, else ICMP / ICMPv6 destination unreachable with
 * the reason's code (Reject.swift's RejectReply.filter), sent back out of the ingress
 * interface with XDP_TX (XPF_XDP_TX_HOST_REJECT); no reply to an ICMP error, a RST, a
 * non-first fragment or a packet whose headers the reply cannot be built from: dropped
 * as a discard (XPF_XDP_DROP_HOST_FILTER). LOG / SYSLOG: a struct xpf_host_filter_log
 * record on host_filter_log naming the action the wire saw.
 *
 * host_filter_hits (BPF_MAP_TYPE_PERCPU_ARRAY, max_entries XPF_HOST_INBOUND_BANKS *
 *   XPF_HF_ROWS), value struct xpf_hf_count: key bank * XPF_HF_ROWS + row; rows: pool term i
 *   at XPF_HF_ROW_TERM(i), pool counter c at XPF_HF_ROW_COUNTER(c), pool policer p's out
 *   of profile (two-color) or red packets at XPF_HF_ROW_POLICER(p, 0), its yellow ones at
 *   XPF_HF_ROW_POLICER(p, 1). Writer: the program (per-CPU: plain adds). Reader: xpfd,
 *   which folds a bank's rows into its lasting counts (by filter, term, counter and
 *   instance name) and zeroes them before it writes that bank's tables again.
 *
 * host_filter_policers (BPF_MAP_TYPE_ARRAY, max_entries XPF_HOST_INBOUND_BANKS *
 *   XPF_HF_MAX_POLICERS): key bank * XPF_HF_MAX_POLICERS + pool policer, value struct
 *   xpf_hf_policer: parameters (xpfd writes them with the bank, state zero = full) and
 *   the bucket state, updated under the value's spin lock. The arithmetic is the workers'
 *   (Policer.swift: GCRA for two-color, RFC 2697 / 2698 for three-color, ticks of
 *   2^-XPF_POLICER_TICK_SHIFT ns of CLOCK_MONOTONIC) but the buckets are the program's own:
 *   host-bound packets through an interface filter's policer do not share its bucket with
 *   the transit packets the workers police.
 *
 * host_filter_log (BPF_MAP_TYPE_RINGBUF, XPF_HF_LOG_BYTES): struct xpf_host_filter_log per
 *   logged term; xpfd drains it with the workers' event rings into FILTER_LOG events,
 *   applying `security log rate-cap` as the workers do (per zone of the ingress interface).
 *   A full ring drops the record, counted XPF_XDP_HOST_LOG_LOST. */
#define XPF_HF_MAX_TERMS 1024
#define XPF_HF_MAX_CHAIN 1024	/* terms of one (interface, family): its filter's and lo0's */
#define XPF_HF_MAX_PREFIXES 2048
#define XPF_HF_MAX_RANGES 2048
#define XPF_HF_MAX_SETS 256
#define XPF_HF_MAX_CLASSES 128
#define XPF_HF_MAX_COUNTERS 256
#define XPF_HF_MAX_POLICERS 64
#define XPF_HF_MAX_PENDING_LOGS 8 /* `next term` terms that log, waiting for the wire's action */
#define XPF_HF_NONE 0xffffu	/* a 16-bit pool reference to nothing */
#define XPF_HF_CLASS_BEST_EFFORT 0xffffffffu /* forwarding class of an unclassified packet */
#define XPF_HF_LOG_BYTES (256 * 1024)

#define XPF_HF_POLICER_ROWS 2
#define XPF_HF_ROWS (XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS + XPF_HF_MAX_POLICERS * XPF_HF_POLICER_ROWS)
#define XPF_HF_ROW_TERM(i) (i)
#define XPF_HF_ROW_COUNTER(c) (XPF_HF_MAX_TERMS + (c))
#define XPF_HF_ROW_POLICER(p, row) (XPF_HF_MAX_TERMS + XPF_HF_MAX_COUNTERS + (p) * XPF_HF_POLICER_ROWS + (row))

/* xpf_hf_term.match: the values of enum xpf_term_match (asserted in xpf_sys.c). */
#define XPF_HF_M_SRC_ADDR (1u << 0)
#define XPF_HF_M_DST_ADDR (1u << 1)
#define XPF_HF_M_ADDR (1u << 2)
#define XPF_HF_M_PROTO (1u << 3)
#define XPF_HF_M_SRC_PORT (1u << 4)
#define XPF_HF_M_DST_PORT (1u << 5)
#define XPF_HF_M_PORT (1u << 6)
#define XPF_HF_M_DSCP (1u << 7)
#define XPF_HF_M_ICMP_TYPE (1u << 8)
#define XPF_HF_M_ICMP_CODE (1u << 9)
#define XPF_HF_M_TCP_FLAGS (1u << 10)
#define XPF_HF_M_IS_FRAGMENT (1u << 11)
#define XPF_HF_M_FIRST_FRAGMENT (1u << 12)
#define XPF_HF_M_LOSS_PRIORITY (1u << 13)
#define XPF_HF_M_PACKET_LENGTH (1u << 14)
#define XPF_HF_M_FORWARDING_CLASS (1u << 16)

/* xpf_hf_term.terminal: enum xpf_term_terminal's values. */
#define XPF_HF_ACCEPT 0
#define XPF_HF_DISCARD 1
#define XPF_HF_REJECT 2
#define XPF_HF_NEXT 3
/* xpf_hf_term.action: enum xpf_term_action_flags' values. */
#define XPF_HF_A_LOG 1
#define XPF_HF_A_SYSLOG 2
#define XPF_HF_A_DSCP 4
#define XPF_HF_A_POLICE 8
#define XPF_HF_A_LOSS_PRIORITY 16
#define XPF_HF_A_FORWARDING_CLASS 32
/* Loss priorities: enum xpf_loss_priority's values. */
#define XPF_HF_LP_LOW 1
#define XPF_HF_LP_HIGH 4
/* xpf_hf_term.reject_reason: enum xpf_reject_reason; tcp-reset is XPF_HF_REJECT_TCP_RESET. */
#define XPF_HF_REJECT_TCP_RESET 14

/* (first, count) into one of the pools. */
struct xpf_hf_ref {
	__u16 first;
	__u16 count;
};

struct xpf_hf_term {
	__u64 dscp;		  /* DSCP: bit n = code point n */
	__u32 match;		  /* XPF_HF_M_* */
	__u32 filter;		  /* the snapshot's FILTERS index of the term's own filter (logs) */
	__u32 snapshot_term;	  /* the snapshot's TERMS index (logs) */
	__u32 forwarding_class;	  /* XPF_HF_A_FORWARDING_CLASS: the class to set (XPF_HF_CLASS_BEST_EFFORT) */
	struct xpf_hf_ref src_addr, dst_addr, addr;		   /* prefixes */
	struct xpf_hf_ref src_port, dst_port, port, packet_length; /* ranges */
	struct xpf_hf_ref classes;				   /* classes (FORWARDING_CLASS) */
	__u16 protocols, icmp_types, icmp_codes, tcp_flags;	   /* sets, or XPF_HF_NONE */
	__u16 counter;		  /* pool counter (its row), or XPF_HF_NONE */
	__u16 policer;		  /* pool policer, or XPF_HF_NONE */
	__u8 terminal;		  /* XPF_HF_ACCEPT … XPF_HF_NEXT */
	__u8 reject_reason;
	__u8 action;		  /* XPF_HF_A_* */
	__u8 dscp_rewrite;
	__u8 loss_priority;	  /* XPF_HF_A_LOSS_PRIORITY: the priority to set */
	__u8 loss_priorities;	  /* LOSS_PRIORITY: bit n = priority n matches */
	__u8 pad[2];
};

/* Addresses as four words in network order (IPv4 in word 0, the rest zero). */
struct xpf_hf_prefix {
	__u32 net[4];
	__u32 mask[4];
	__u8 family;	/* 4 or 6 */
	__u8 length;	/* bits */
	__u8 except;	/* an `except` entry */
	__u8 pad;
};

struct xpf_hf_range {
	__u16 low; /* host order, inclusive */
	__u16 high;
};

struct xpf_hf_set {
	__u64 bits[4]; /* bit v % 64 of word v / 64: value v */
};

#define XPF_HF_CHAIN_IFACE 1u /* xpf_hf_chain.flags: the interface has an input filter (list) for the family */
#define XPF_HF_CHAIN_LO0 2u   /* lo0 has one */

struct xpf_hf_chain {
	__u16 n;	 /* terms[0..n) */
	__u16 lo0_start; /* first position of lo0's filter */
	__u16 flags;	 /* XPF_HF_CHAIN_* */
	__u16 pad;	 /* 0 */
	__u16 terms[XPF_HF_MAX_CHAIN]; /* pool term indices */
};

struct xpf_host_filters {
	__u32 generation;  /* the configuration generation these tables belong to (logs name it) */
	__u32 n_terms;
	struct xpf_hf_chain chains[XPF_MAX_IFACES][2]; /* [slot][0: inet, 1: inet6] */
	struct xpf_hf_term terms[XPF_HF_MAX_TERMS];
	struct xpf_hf_prefix prefixes[XPF_HF_MAX_PREFIXES];
	struct xpf_hf_range ranges[XPF_HF_MAX_RANGES];
	struct xpf_hf_set sets[XPF_HF_MAX_SETS];
	__u32 classes[XPF_HF_MAX_CLASSES];
};

struct xpf_hf_count {
	__u64 packets;
	__u64 bytes; /* of the IP datagram */
};

/* xpf_hf_policer.flags */
#define XPF_HF_P_THREE_COLOR 1u	  /* RFC 2697 / 2698; else two-color GCRA */
#define XPF_HF_P_TWO_RATE 2u	  /* three-color: RFC 2698 */
#define XPF_HF_P_COLOR_AWARE 4u	  /* three-color: the packet's loss priority is its color so far */
#define XPF_HF_P_DISCARD 8u	  /* two-color: out of profile discarded; three-color: red discarded */
#define XPF_HF_P_LOSS_PRIORITY 16u /* two-color: out of profile gets loss_priority */
#define XPF_HF_P_FORWARDING_CLASS 32u /* two-color: out of profile gets forwarding_class */

/* One policer instance for host-bound packets. Costs and depths as struct xpf_cfg_policer's
 * and xpf_cfg_tc_policer's (xpf_config_abi.h): c_* the committed (two-color: the only)
 * bucket, x_* the excess (single-rate) or peak (two-rate) one. State under `lock`: tat the
 * committed bucket's theoretical arrival time (0: full), aux the excess tokens (single-rate)
 * or the peak bucket's arrival time (two-rate), as xpf_policer_bucket's w[0], w[1]. */
struct xpf_hf_policer {
	struct bpf_spin_lock lock;
	__u32 flags;		  /* XPF_HF_P_* */
	__u64 c_cost, c_depth, x_cost, x_depth;
	__u64 tat, aux;
	__u32 forwarding_class;	  /* XPF_HF_P_FORWARDING_CLASS */
	__u8 loss_priority;	  /* XPF_HF_P_LOSS_PRIORITY */
	__u8 pad[3];
};

/* A `log` / `syslog` term's record (host_filter_log). */
struct xpf_host_filter_log {
	__u32 generation;    /* xpf_host_filters.generation */
	__u32 filter;	     /* xpf_hf_term.filter */
	__u32 snapshot_term; /* xpf_hf_term.snapshot_term */
	__u8 family;	     /* 4 or 6 */
	__u8 protocol;
	__u8 icmp_type;	     /* ICMP / ICMPv6 with a header, else 0 */
	__u8 action;	     /* XPF_HF_ACCEPT, DISCARD or REJECT: what the wire saw */
	__u8 slot;	     /* ingress interface slot */
	__u8 pad;
	__u16 ip_length;     /* the IP datagram's length */
	__u16 sport, dport;  /* host order; 0 without ports */
	__u32 src[4], dst[4]; /* network order words, IPv4 in word 0 */
};

#endif
