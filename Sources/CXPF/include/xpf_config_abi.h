/* xpf_config_abi.h — the compiled configuration inside a config slot (issue 3).
 *
 * A config slot (XPF_CONFIG_SLOTS of header.config_slot_size bytes) holds one snapshot:
 *
 *   struct xpf_config_snapshot (xpf_abi.h): the fixed head (generation, commit time,
 *       batch size, timeouts, …) ending in the section table
 *       sections[XPF_CFG_SEC_COUNT], indexed by enum xpf_cfg_section_id
 *   sections: arrays of fixed-size records at 8-byte aligned offsets from the
 *       snapshot start; snapshot.size bytes in all
 *
 * Ownership: xpfd writes a snapshot into a free slot and publishes it through
 * header.config_current (see xpf_abi.h); workers and tools only read it, and it is
 * immutable while published. Every record below follows that rule, so fields do not
 * repeat it.
 *
 * Conventions:
 *  - references are u32 indices into another section; XPF_CFG_NONE means "none";
 *  - a list is a struct xpf_cfg_range (first, count) over a section; lists of
 *    indices live in XPF_CFG_SEC_INDICES (u32 records);
 *  - names are u32 byte offsets into XPF_CFG_SEC_STRINGS (NUL-terminated UTF-8;
 *    offset 0 is the empty string; XPF_CFG_NONE = no name);
 *  - addresses are 16 bytes in network byte order; IPv4 uses the first 4 bytes, the
 *    rest zero; families are 4 or 6 (as in struct xpf_route);
 *  - 256-bit sets (XPF_CFG_SEC_SETS) hold value v in bits[v / 64] bit (v % 64);
 *  - rates are bytes per second, bursts bytes;
 *  - a worker validates a snapshot once when it switches to it
 *    (ConfigSnapshotView.validate(): the section table and every reference), so the
 *    packet path indexes without further checks beyond Swift's.
 *
 * Any change here bumps XPF_ABI_VERSION and is folded into xpf_abi_layout_hash().
 */
#ifndef XPF_CONFIG_ABI_H
#define XPF_CONFIG_ABI_H

#include <stdint.h>
#include <stddef.h>

#define XPF_CFG_NONE 0xffffffffu

/* ---------------------------------------------------------------- section table */

enum xpf_cfg_section_id {
	XPF_CFG_SEC_STRINGS = 0,        /* uint8_t: NUL-terminated names */
	XPF_CFG_SEC_INDICES = 1,        /* uint32_t: index lists */
	XPF_CFG_SEC_PREFIXES = 2,       /* struct xpf_cfg_prefix */
	XPF_CFG_SEC_PORT_RANGES = 3,    /* struct xpf_cfg_port_range */
	XPF_CFG_SEC_SETS = 4,           /* struct xpf_cfg_set (256-bit sets) */
	XPF_CFG_SEC_ADDR_RANGES = 5,    /* struct xpf_cfg_addr_range */
	XPF_CFG_SEC_IFACES = 6,         /* struct xpf_cfg_iface; index = interface slot */
	XPF_CFG_SEC_ZONES = 7,          /* struct xpf_cfg_zone */
	XPF_CFG_SEC_APPLICATIONS = 8,   /* struct xpf_cfg_application */
	XPF_CFG_SEC_APP_TERMS = 9,      /* struct xpf_cfg_app_term */
	XPF_CFG_SEC_POLICIES = 10,      /* struct xpf_cfg_policy; index = policy id */
	XPF_CFG_SEC_ZONE_PAIRS = 11,    /* struct xpf_cfg_range [from * n_zones + to] */
	XPF_CFG_SEC_FILTERS = 12,       /* struct xpf_cfg_filter */
	XPF_CFG_SEC_TERMS = 13,         /* struct xpf_cfg_term */
	XPF_CFG_SEC_COUNTERS = 14,      /* struct xpf_cfg_counter */
	XPF_CFG_SEC_POLICERS = 15,      /* struct xpf_cfg_policer */
	XPF_CFG_SEC_TC_POLICERS = 16,   /* struct xpf_cfg_tc_policer */
	XPF_CFG_SEC_SCREENS = 17,       /* struct xpf_cfg_screen */
	XPF_CFG_SEC_SNAT_POOLS = 18,    /* struct xpf_cfg_snat_pool */
	XPF_CFG_SEC_DNAT_POOLS = 19,    /* struct xpf_cfg_dnat_pool */
	XPF_CFG_SEC_SNAT_RULE_SETS = 20,   /* struct xpf_cfg_nat_rule_set */
	XPF_CFG_SEC_DNAT_RULE_SETS = 21,   /* struct xpf_cfg_nat_rule_set */
	XPF_CFG_SEC_STATIC_RULE_SETS = 22, /* struct xpf_cfg_nat_rule_set */
	XPF_CFG_SEC_NAT_RULES = 23,     /* struct xpf_cfg_nat_rule */
	XPF_CFG_SEC_MIRRORS = 24,       /* struct xpf_cfg_mirror */
	XPF_CFG_SEC_MIRROR_OUTPUTS = 25,/* struct xpf_cfg_mirror_output */
	XPF_CFG_SEC_POLICY_ROOTS = 26,  /* struct xpf_cfg_policy_root [from * n_zones + to], then the global list's */
	XPF_CFG_SEC_POLICY_NODES = 27,  /* struct xpf_cfg_policy_node */
	XPF_CFG_SEC_POLICY_LEAVES = 28, /* struct xpf_cfg_range: INDICES → POLICIES ids, ascending */
	XPF_CFG_SEC_POLICER_INSTANCES = 29, /* struct xpf_cfg_policer_instance */
	XPF_CFG_SEC_COUNT = 30
};

/* One section: `count` records of `record_size` bytes at `offset` (from the snapshot
 * start, a multiple of 8). record_size is the sizeof of the section's record type and
 * lets a reader refuse a snapshot from a different layout. */
struct xpf_cfg_section {
	uint32_t offset;
	uint32_t count;
	uint32_t record_size;
	uint32_t reserved;
};
_Static_assert(sizeof(struct xpf_cfg_section) == 16, "section entry size");

/* (first, count) over some section; which one is said where it is used. */
struct xpf_cfg_range {
	uint32_t first;
	uint32_t count;
};
_Static_assert(sizeof(struct xpf_cfg_range) == 8, "range size");

/* ---------------------------------------------------------------- enumerations */

/* xpf_config_snapshot.flags */
enum xpf_cfg_flags {
	XPF_CFG_F_BUSY_POLL = 1,        /* system dataplane busy-poll: idle workers spin */
	XPF_CFG_F_SYN_COOKIE = 2,       /* security flow syn-flood-protection-mode syn-cookie */
	XPF_CFG_F_SYN_PROXY = 4,        /* … syn-proxy (treated as "no cookies") */
	XPF_CFG_F_NO_SYN_CHECK = 8,     /* security flow tcp-session no-syn-check: a TCP flow may start without a SYN */
	XPF_CFG_F_NO_SEQUENCE_CHECK = 16, /* … no-sequence-check (stored; sequence checking is not implemented) */
};

/* Policy actions; also xpf_config_snapshot.default_policy (permit or deny). */
enum xpf_policy_action { XPF_POLICY_PERMIT = 0, XPF_POLICY_DENY = 1, XPF_POLICY_REJECT = 2 };

/* host-inbound-traffic system-services: bit n of a services bitmap. Same
 * order as ConfigModel.SystemService.allCases. */
enum xpf_host_service {
	XPF_HOST_SVC_BOOTP = 0, XPF_HOST_SVC_DHCP, XPF_HOST_SVC_DHCPV6, XPF_HOST_SVC_DNS,
	XPF_HOST_SVC_FTP, XPF_HOST_SVC_HTTP, XPF_HOST_SVC_HTTPS, XPF_HOST_SVC_IKE,
	XPF_HOST_SVC_NETCONF, XPF_HOST_SVC_NTP, XPF_HOST_SVC_PING, XPF_HOST_SVC_SNMP,
	XPF_HOST_SVC_SNMP_TRAP, XPF_HOST_SVC_SSH, XPF_HOST_SVC_TELNET, XPF_HOST_SVC_TFTP,
	XPF_HOST_SVC_TRACEROUTE, XPF_HOST_SVC_COUNT
};

/* host-inbound-traffic protocols: bit n of a protocols bitmap. Same order as
 * ConfigModel.HostProtocol.allCases. */
enum xpf_host_protocol {
	XPF_HOST_PROTO_BFD = 0, XPF_HOST_PROTO_BGP, XPF_HOST_PROTO_IGMP, XPF_HOST_PROTO_LDP,
	XPF_HOST_PROTO_OSPF, XPF_HOST_PROTO_OSPF3, XPF_HOST_PROTO_PIM, XPF_HOST_PROTO_RIP,
	XPF_HOST_PROTO_RIPNG, XPF_HOST_PROTO_ROUTER_DISCOVERY, XPF_HOST_PROTO_VRRP,
	XPF_HOST_PROTO_COUNT
};

/* Screen checks, in order: bit n of xpf_cfg_screen.checks. Stable and
 * append-only; equal to ConfigModel.ScreenCheck.rawValue. */
enum xpf_screen_check {
	XPF_SCREEN_SYN_FLOOD = 0, XPF_SCREEN_ICMP_FLOOD, XPF_SCREEN_UDP_FLOOD, XPF_SCREEN_PORT_SCAN,
	XPF_SCREEN_IP_SWEEP, XPF_SCREEN_LAND_ATTACK, XPF_SCREEN_PING_OF_DEATH, XPF_SCREEN_TEARDROP,
	XPF_SCREEN_TCP_SYN_FIN, XPF_SCREEN_TCP_NO_FLAG, XPF_SCREEN_TCP_FIN_NO_ACK, XPF_SCREEN_WINNUKE,
	XPF_SCREEN_IP_SOURCE_ROUTE, XPF_SCREEN_SYN_FRAG, XPF_SCREEN_SYN_COOKIE,
	XPF_SCREEN_SESSION_LIMIT_SRC, XPF_SCREEN_SESSION_LIMIT_DST, XPF_SCREEN_ICMP_FRAGMENT,
	XPF_SCREEN_CHECK_COUNT
};

/* Filter term terminal actions. XPF_TERM_NEXT (`then next term`) is none: the
 * term's other actions apply and evaluation goes on with the next term (the next filter's
 * first term at the end of a list member); a filter with such a term is per-packet. */
enum xpf_term_terminal { XPF_TERM_ACCEPT = 0, XPF_TERM_DISCARD = 1, XPF_TERM_REJECT = 2, XPF_TERM_NEXT = 3 };

/* `reject REASON`; same order as ConfigModel.RejectReason.allCases. */
enum xpf_reject_reason {
	XPF_REJECT_ADMINISTRATIVELY_PROHIBITED = 0, XPF_REJECT_ADDRESS_UNREACHABLE,
	XPF_REJECT_BEYOND_SCOPE, XPF_REJECT_FRAGMENTATION_NEEDED, XPF_REJECT_HOST_PROHIBITED,
	XPF_REJECT_HOST_UNKNOWN, XPF_REJECT_HOST_UNREACHABLE, XPF_REJECT_NETWORK_PROHIBITED,
	XPF_REJECT_NETWORK_UNKNOWN, XPF_REJECT_NETWORK_UNREACHABLE, XPF_REJECT_NO_ROUTE,
	XPF_REJECT_PORT_UNREACHABLE, XPF_REJECT_PROTOCOL_UNREACHABLE, XPF_REJECT_SOURCE_ROUTE_FAILED,
	XPF_REJECT_TCP_RESET, XPF_REJECT_REASON_COUNT
};

/* Loss priority; 0 = not set. */
enum xpf_loss_priority {
	XPF_LP_NONE = 0, XPF_LP_LOW = 1, XPF_LP_MEDIUM_LOW = 2, XPF_LP_MEDIUM_HIGH = 3, XPF_LP_HIGH = 4
};

/* NAT rule actions. */
enum xpf_nat_action {
	XPF_NAT_OFF = 0,               /* matched, not translated; stops the search */
	XPF_NAT_INTERFACE = 1,         /* source NAT to the egress interface's address */
	XPF_NAT_SOURCE_POOL = 2,       /* target: XPF_CFG_SEC_SNAT_POOLS */
	XPF_NAT_DESTINATION_POOL = 3,  /* target: XPF_CFG_SEC_DNAT_POOLS */
	XPF_NAT_STATIC_PREFIX = 4,     /* target: XPF_CFG_SEC_PREFIXES (the mapped prefix) */
};

/* What a NAT rule-set's from/to lists name. */
enum xpf_nat_context { XPF_NAT_CTX_NONE = 0, XPF_NAT_CTX_ZONES = 1, XPF_NAT_CTX_IFACES = 2 };

/* ---------------------------------------------------------------- shared records */

enum xpf_cfg_prefix_flags {
	XPF_CFG_PREFIX_EXCEPT = 1,     /* a filter address entry marked `except` */
};

/* A prefix. Prefixes used for matching have their host bits cleared; interface
 * addresses (xpf_cfg_iface.addrs4/addrs6) keep theirs. */
struct xpf_cfg_prefix {
	uint8_t family;       /* 4 or 6 */
	uint8_t length;
	uint8_t flags;        /* enum xpf_cfg_prefix_flags */
	uint8_t reserved;
	uint32_t reserved2;
	uint8_t addr[16];     /* at offset 8: loadable as two 64-bit words */
};
_Static_assert(sizeof(struct xpf_cfg_prefix) == 24, "prefix record size");
_Static_assert(offsetof(struct xpf_cfg_prefix, addr) == 8, "prefix address 8-byte aligned");

/* An inclusive port range, host byte order. */
struct xpf_cfg_port_range {
	uint16_t low;
	uint16_t high;
};
_Static_assert(sizeof(struct xpf_cfg_port_range) == 4, "port range record size");

/* A set of byte values (protocols, ICMP types/codes) or a truth table over the TCP
 * flags byte: value v is in the set when bits[v >> 6] >> (v & 63) & 1. */
struct xpf_cfg_set {
	uint64_t bits[4];
};
_Static_assert(sizeof(struct xpf_cfg_set) == 32, "set record size");

/* An inclusive address range of one family (NAT pools). */
struct xpf_cfg_addr_range {
	uint8_t family;       /* 4 or 6 */
	uint8_t reserved[7];
	uint8_t low[16];
	uint8_t high[16];
};
_Static_assert(sizeof(struct xpf_cfg_addr_range) == 40, "address range record size");

/* ---------------------------------------------------------------- interfaces and zones */

enum xpf_cfg_iface_flags {
	XPF_CFG_IF_DATAPLANE = 1,      /* listed in system dataplane interfaces: index = slot */
	XPF_CFG_IF_OWN_HOST_INBOUND = 2, /* the zone's `interfaces IF host-inbound-traffic` replaces the zone's */
};

/* One interface of the configuration. Records 0 .. n_dataplane_ifaces-1 are the
 * dataplane interfaces in slot order (the same slots as header.ifaces); interfaces
 * defined only under `interfaces` (lo0 …) follow. */
struct xpf_cfg_iface {
	uint32_t name;            /* string */
	uint32_t flags;           /* enum xpf_cfg_iface_flags */
	uint32_t zone;            /* ZONES, or NONE: not in a zone */
	uint32_t mirror;          /* MIRRORS instance mirroring packets received here, or NONE */
	uint32_t filter_in4;      /* FILTERS (family inet filter input, or a record of input-list), or NONE */
	uint32_t filter_out4;
	uint32_t filter_in6;
	uint32_t filter_out6;
	uint32_t host_services;   /* effective bitmap (enum xpf_host_service): own, else the zone's; 0 outside zones */
	uint32_t host_protocols;  /* effective bitmap (enum xpf_host_protocol) */
	struct xpf_cfg_range addrs4; /* PREFIXES: family inet addresses, host bits kept, in the order written */
	struct xpf_cfg_range addrs6; /* PREFIXES: family inet6 addresses */
};
_Static_assert(sizeof(struct xpf_cfg_iface) == 56, "interface record size");

struct xpf_cfg_zone {
	uint32_t name;            /* string */
	uint32_t screen;          /* SCREENS, or NONE */
	uint32_t host_services;   /* the zone's bitmap (enum xpf_host_service) */
	uint32_t host_protocols;  /* (enum xpf_host_protocol) */
	struct xpf_cfg_range ifaces; /* INDICES → IFACES, in the order written */
};
_Static_assert(sizeof(struct xpf_cfg_zone) == 24, "zone record size");

/* ---------------------------------------------------------------- applications and policies */

enum xpf_cfg_app_flags { XPF_CFG_APP_PREDEFINED = 1 };

struct xpf_cfg_application {
	uint32_t name;            /* string */
	uint32_t flags;           /* enum xpf_cfg_app_flags */
	struct xpf_cfg_range terms; /* APP_TERMS */
};
_Static_assert(sizeof(struct xpf_cfg_application) == 16, "application record size");

enum xpf_cfg_app_term_flags {
	XPF_CFG_AT_ANY_PROTO = 1,      /* no protocol: matches every packet (`any`) */
	XPF_CFG_AT_ICMP_TYPE = 2,      /* icmp_type is a condition */
	XPF_CFG_AT_ICMP_CODE = 4,      /* icmp_code is a condition */
};

/* One protocol/port combination; a packet matches an application when it matches any
 * of its terms. Ports 0..65535 = any. */
struct xpf_cfg_app_term {
	uint32_t application;     /* APPLICATIONS: the application this term belongs to */
	uint32_t name;            /* string, or NONE */
	uint8_t proto;            /* IP protocol (unless XPF_CFG_AT_ANY_PROTO) */
	uint8_t flags;            /* enum xpf_cfg_app_term_flags */
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t sport_low, sport_high;
	uint16_t dport_low, dport_high;
	uint32_t timeout;         /* inactivity-timeout, seconds; 0 = the flow timeouts */
};
_Static_assert(sizeof(struct xpf_cfg_app_term) == 24, "application term record size");

enum xpf_cfg_policy_flags {
	XPF_CFG_POL_LOG_INIT = 1,      /* then log session-init */
	XPF_CFG_POL_LOG_CLOSE = 2,     /* then log session-close */
	XPF_CFG_POL_COUNT = 4,         /* then count */
	XPF_CFG_POL_GLOBAL = 8,        /* a global policy */
	XPF_CFG_POL_ANY_FROM = 16,     /* global: from any zone (from_zones unused) */
	XPF_CFG_POL_ANY_TO = 32,       /* global: to any zone (to_zones unused) */
	XPF_CFG_POL_APP_TIMEOUT = 64,  /* one of its application terms sets an inactivity-timeout */
};

/* A security policy. POLICIES holds every policy in id order — each zone pair's list
 * (ZONE_PAIRS gives its range), then the global list (snapshot.global_policies) — so
 * the record index is the policy id and its hit counter index. Evaluation for
 * (from, to): the pair's range, then the global policies whose zone lists admit the
 * pair, then snapshot.default_policy. First match wins. */
struct xpf_cfg_policy {
	uint32_t name;            /* string */
	uint8_t action;           /* enum xpf_policy_action */
	uint8_t flags;            /* enum xpf_cfg_policy_flags */
	uint16_t reserved;
	uint32_t from_zone;       /* ZONES (zone pair policies); NONE for global */
	uint32_t to_zone;
	struct xpf_cfg_range src;        /* PREFIXES, both families; `any` is 0.0.0.0/0 + ::/0 */
	struct xpf_cfg_range dst;        /* PREFIXES */
	struct xpf_cfg_range app_terms;  /* INDICES → APP_TERMS: every term of every application */
	struct xpf_cfg_range from_zones; /* global: INDICES → ZONES (unless XPF_CFG_POL_ANY_FROM) */
	struct xpf_cfg_range to_zones;   /* global: INDICES → ZONES (unless XPF_CFG_POL_ANY_TO) */
};
_Static_assert(sizeof(struct xpf_cfg_policy) == 56, "policy record size");

/* ---------------------------------------------------------------- policy lookup (issue 9) */

/* The policy classifier, compiled at commit (docs/architecture.md "Policy lookup"): for
 * each policy list (a zone pair's own list; the global list) and each family, a binary
 * decision tree over the packet's fields whose leaf lists the policies that can match
 * a packet reaching it, in id (= evaluation) order. The worker walks the tree, then
 * checks the leaf's policies in full (struct xpf_cfg_policy) and takes the first that
 * matches: the tree only prunes, the policy records decide.
 *
 * A field is a 64-bit unsigned value taken from the packet, compared against a node's
 * threshold: */
enum xpf_policy_field {
	XPF_PF_SRC_HI = 0,   /* source address bytes 0-7 as a big-endian u64 (IPv4: the address << 32) */
	XPF_PF_SRC_LO = 1,   /* source address bytes 8-15 (IPv4: 0) */
	XPF_PF_DST_HI = 2,
	XPF_PF_DST_LO = 3,
	XPF_PF_PROTO = 4,    /* IP protocol << 56 */
	XPF_PF_SPORT = 5,    /* source port << 48 (0 for protocols without ports) */
	XPF_PF_DPORT = 6,    /* destination port << 48 */
	XPF_PF_ICMP = 7,     /* ICMP / ICMPv6: (type << 8 | code) << 48; other protocols 0 */
	XPF_PF_COUNT = 8
};

/* A tree reference: a POLICY_NODES index, or XPF_POLICY_REF_LEAF | a POLICY_LEAVES index.
 * A node refers only to nodes of higher index (so every walk ends), which validate()
 * checks. Leaf 0 is the empty leaf. */
#define XPF_POLICY_REF_LEAF 0x80000000u

/* The roots of one policy list: one tree per family. */
struct xpf_cfg_policy_root {
	uint32_t v4;              /* tree reference for IPv4 packets */
	uint32_t v6;              /* tree reference for IPv6 packets */
};
_Static_assert(sizeof(struct xpf_cfg_policy_root) == 8, "policy root record size");

/* An inner node: packets whose field value is <= threshold go to `le`, the others to `gt`. */
struct xpf_cfg_policy_node {
	uint64_t threshold;
	uint32_t field;           /* enum xpf_policy_field */
	uint32_t le;              /* tree reference */
	uint32_t gt;              /* tree reference */
	uint32_t reserved;
};
_Static_assert(sizeof(struct xpf_cfg_policy_node) == 24, "policy node record size");

/* ---------------------------------------------------------------- filters and policers */

/* Which conditions of a term's `from` are present (an absent one always holds; a
 * present one with an empty list never does). */
enum xpf_term_match {
	XPF_TM_SRC_ADDR = 1 << 0,      /* src_addr */
	XPF_TM_DST_ADDR = 1 << 1,      /* dst_addr */
	XPF_TM_ADDR = 1 << 2,          /* addr: source or destination */
	XPF_TM_PROTO = 1 << 3,         /* protocols (protocol / next-header) */
	XPF_TM_SRC_PORT = 1 << 4,
	XPF_TM_DST_PORT = 1 << 5,
	XPF_TM_PORT = 1 << 6,          /* source or destination */
	XPF_TM_DSCP = 1 << 7,          /* dscp / traffic-class: the term's 64-bit mask */
	XPF_TM_ICMP_TYPE = 1 << 8,
	XPF_TM_ICMP_CODE = 1 << 9,
	XPF_TM_TCP_FLAGS = 1 << 10,    /* tcp_flags truth table (tcp-flags, tcp-initial, tcp-established) */
	XPF_TM_IS_FRAGMENT = 1 << 11,
	XPF_TM_FIRST_FRAGMENT = 1 << 12,
	XPF_TM_LOSS_PRIORITY = 1 << 13, /* loss_priorities: the packet's loss priority (set by an earlier filter or policer) */
	XPF_TM_PACKET_LENGTH = 1 << 14, /* packet_length: the IP datagram's length (IPv4 total length, IPv6 payload + 40) */
	XPF_TM_FORWARDING_CLASS = 1 << 16, /* forwarding_classes: the packet's forwarding class (set by an earlier filter or policer) */
	/* the term reads a per-packet field that is not in the session key (DSCP,
	 * TCP flags, fragment bits, ICMP type/code, loss priority, packet length): evaluate
	 * it on every packet, never freeze its result into a session. */
	XPF_TM_PER_PACKET = 1 << 15,
};

enum xpf_term_action_flags {
	XPF_TA_LOG = 1,
	XPF_TA_SYSLOG = 2,
	XPF_TA_DSCP = 4,               /* rewrite DSCP to dscp_rewrite */
	XPF_TA_POLICE = 8,             /* policer or tc_policer, with policer_instance */
	XPF_TA_LOSS_PRIORITY = 16,     /* set the packet's loss priority to loss_priority */
	XPF_TA_FORWARDING_CLASS = 32,  /* set the packet's forwarding class to forwarding_class */
};

/* A filter term: match conditions and actions. First matching term wins (a `next term`
 * one applies its actions and lets the search go on); no match discards. Address conditions hold when the longest entry containing the
 * address exists and is not an `except` entry (XPF_CFG_PREFIX_EXCEPT). */
struct xpf_cfg_term {
	uint64_t dscp;            /* XPF_TM_DSCP: bit n = code point n */
	uint32_t name;            /* string */
	uint32_t match;           /* enum xpf_term_match */
	struct xpf_cfg_range src_addr;  /* PREFIXES */
	struct xpf_cfg_range dst_addr;  /* PREFIXES */
	struct xpf_cfg_range addr;      /* PREFIXES */
	struct xpf_cfg_range src_port;  /* PORT_RANGES */
	struct xpf_cfg_range dst_port;  /* PORT_RANGES */
	struct xpf_cfg_range port;      /* PORT_RANGES */
	uint32_t protocols;       /* SETS, or NONE (no condition) */
	uint32_t icmp_types;      /* SETS, or NONE */
	uint32_t icmp_codes;      /* SETS, or NONE */
	uint32_t tcp_flags;       /* SETS: the set of TCP flags bytes the expression accepts, or NONE */
	uint8_t terminal;         /* enum xpf_term_terminal */
	uint8_t reject_reason;    /* enum xpf_reject_reason (XPF_TERM_REJECT) */
	uint8_t action;           /* enum xpf_term_action_flags */
	uint8_t dscp_rewrite;     /* XPF_TA_DSCP: the code point */
	uint8_t loss_priority;    /* XPF_TA_LOSS_PRIORITY: enum xpf_loss_priority to set */
	uint8_t loss_priorities;  /* XPF_TM_LOSS_PRIORITY: bit n = enum xpf_loss_priority n matches */
	uint8_t reserved[2];
	uint32_t counter;         /* COUNTERS (`count C`), or NONE */
	uint32_t policer;         /* POLICERS, or NONE */
	uint32_t tc_policer;      /* TC_POLICERS, or NONE (never both: the compiler refuses it) */
	uint32_t forwarding_class; /* XPF_TA_FORWARDING_CLASS: the string to set (NONE: best-effort) */
	uint32_t filter;          /* FILTERS: the filter this term belongs to */
	uint32_t policer_instance; /* POLICER_INSTANCES: the buckets and counters of policer / tc_policer, or NONE */
	struct xpf_cfg_range packet_length; /* PORT_RANGES: XPF_TM_PACKET_LENGTH's lengths (bytes, inclusive ranges) */
	/* INDICES: XPF_TM_FORWARDING_CLASS's classes as string offsets; NONE stands for
	 * best-effort, the class of a packet nothing classified (Junos's default). */
	struct xpf_cfg_range forwarding_classes;
};
_Static_assert(sizeof(struct xpf_cfg_term) == 128, "term record size");
_Static_assert(offsetof(struct xpf_cfg_term, terminal) == 80, "term action offset");

enum xpf_cfg_filter_flags {
	XPF_CFG_FILTER_PER_PACKET = 1, /* some term has XPF_TM_PER_PACKET */
	XPF_CFG_FILTER_INTERFACE_SPECIFIC = 2, /* one copy of an interface-specific filter: this record serves one attachment */
	XPF_CFG_FILTER_LIST = 4,       /* an `input-list` / `output-list`: no terms of its own, `members` evaluated as one filter */
};

/* A filter, or (XPF_CFG_FILTER_LIST) an interface's filter list: its members' terms in
 * order, as one filter — a member no term of which matches passes the packet to the next
 * member, and only the last one's end is the implicit discard. A list's terms keep their
 * own filter (xpf_cfg_term.filter): counters, logs and policer instances stay its. A list
 * is PER_PACKET when a member is. It is named after its members ("a+b"), for traces only:
 * show firewall lists filters, never lists. */
struct xpf_cfg_filter {
	uint32_t name;            /* string */
	uint8_t family;           /* 4 or 6 */
	uint8_t flags;            /* enum xpf_cfg_filter_flags */
	uint16_t reserved;
	struct xpf_cfg_range terms; /* TERMS, in order (a list: empty) */
	struct xpf_cfg_range members; /* XPF_CFG_FILTER_LIST: INDICES → FILTERS (none a list), in order; else empty */
};
_Static_assert(sizeof(struct xpf_cfg_filter) == 24, "filter record size");

/* A filter counter (`then count NAME`): one per (filter, name); terms of a filter that
 * name the same counter share it. The record index is the counter's index. */
struct xpf_cfg_counter {
	uint32_t name;            /* string */
	uint32_t filter;          /* FILTERS */
};
_Static_assert(sizeof(struct xpf_cfg_counter) == 8, "counter record size");

/* Policer time: buckets count in ticks of 2^-XPF_POLICER_TICK_SHIFT ns of CLOCK_MONOTONIC
 * (a tick is 1/64 ns: 2^64 ticks last 9 years), and a byte's cost at a rate is a fixed-point
 * number of ticks with XPF_POLICER_COST_SHIFT fraction bits: cost = round(8e9 × 2^(TICK +
 * COST) / bits per second), so a packet of n bytes takes (n × cost) >> COST ticks — below
 * 2^64 for any IP length at the slowest rate (8 kbit/s: 1e6 ns a byte, cost ≈ 1.6e10) and
 * still 0.4 % fine at 1 Tbit/s (cost 131). Depths (burst × cost >> COST) are clamped to XPF_POLICER_MAX_TICKS. */
#define XPF_POLICER_TICK_SHIFT 6u
#define XPF_POLICER_COST_SHIFT 8u
#define XPF_POLICER_MAX_TICKS (1ull << 62)

enum xpf_cfg_policer_flags {
	XPF_CFG_POLICER_DISCARD = 1,          /* out-of-profile packets are discarded */
	XPF_CFG_POLICER_FILTER_SPECIFIC = 2,  /* one instance per filter, not per term */
	XPF_CFG_POLICER_FORWARDING_CLASS = 4, /* out-of-profile packets get forwarding_class */
};

/* Single-rate two-color token bucket. */
struct xpf_cfg_policer {
	uint64_t rate;            /* bytes per second (bandwidth-limit / 8) */
	uint64_t burst;           /* bytes (burst-size-limit) */
	uint64_t cost;            /* ticks per byte at `rate`, fixed point (XPF_POLICER_COST_SHIFT) */
	uint64_t depth;           /* ticks: burst × cost >> XPF_POLICER_COST_SHIFT (≤ XPF_POLICER_MAX_TICKS) */
	uint32_t name;            /* string */
	uint8_t flags;            /* enum xpf_cfg_policer_flags */
	uint8_t loss_priority;    /* enum xpf_loss_priority for out-of-profile packets, or NONE */
	uint16_t reserved;
	uint32_t forwarding_class; /* XPF_CFG_POLICER_FORWARDING_CLASS: string for out-of-profile packets (NONE: best-effort) */
	uint32_t reserved2;
};
_Static_assert(sizeof(struct xpf_cfg_policer) == 48, "policer record size");

enum xpf_cfg_tc_policer_flags {
	XPF_CFG_TCP_TWO_RATE = 1,      /* RFC 2698 (cir, cbs, pir, pbs); else RFC 2697 (cir, cbs, ebs) */
	XPF_CFG_TCP_COLOR_AWARE = 2,
	XPF_CFG_TCP_DISCARD_RED = 4,   /* loss-priority high then discard */
	XPF_CFG_TCP_FILTER_SPECIFIC = 8, /* one instance per filter, not per term */
};

/* Three-color marker. Costs and depths as struct xpf_cfg_policer's. */
struct xpf_cfg_tc_policer {
	uint64_t cir;             /* committed information rate, bytes/s */
	uint64_t cbs;             /* committed burst size, bytes */
	uint64_t ebs;             /* single-rate: excess burst size; two-rate: 0 */
	uint64_t pir;             /* two-rate: peak information rate, bytes/s; single-rate: 0 */
	uint64_t pbs;             /* two-rate: peak burst size; single-rate: 0 */
	uint64_t c_cost;          /* ticks per byte at cir */
	uint64_t p_cost;          /* two-rate: ticks per byte at pir; single-rate: c_cost */
	uint64_t c_depth;         /* ticks: cbs at cir */
	uint64_t x_depth;         /* ticks: single-rate ebs at cir; two-rate pbs at pir */
	uint32_t name;            /* string */
	uint32_t flags;           /* enum xpf_cfg_tc_policer_flags */
};
_Static_assert(sizeof(struct xpf_cfg_tc_policer) == 80, "three-color policer record size");

enum xpf_cfg_policer_instance_flags { XPF_CFG_PI_THREE_COLOR = 1 };

/* One policer instance: the buckets (xpf_policer_bucket) and counters (xpf_filter_hits
 * .policer) every worker shares for it. Junos makes one per term that names the policer
 * (named "policer-term"), one per filter for a filter-specific policer (named "policer"),
 * and an interface-specific filter's copies each have their own. The record index is the
 * instance's. */
struct xpf_cfg_policer_instance {
	uint32_t name;            /* string */
	uint32_t filter;          /* FILTERS */
	uint32_t policer;         /* POLICERS, or TC_POLICERS with XPF_CFG_PI_THREE_COLOR */
	uint32_t flags;           /* enum xpf_cfg_policer_instance_flags */
};
_Static_assert(sizeof(struct xpf_cfg_policer_instance) == 16, "policer instance record size");

/* ---------------------------------------------------------------- screens */

enum xpf_cfg_screen_flags { XPF_CFG_SCREEN_ALARM_WITHOUT_DROP = 1 };

/* A screen (ids-option), attached to zones by xpf_cfg_zone.screen (R-7.x). Rates are
 * per second; scans and sweeps keep the Junos window too (10 events in N µs). */
struct xpf_cfg_screen {
	uint32_t name;            /* string */
	uint32_t checks;          /* bit n = enum xpf_screen_check n */
	uint32_t flags;           /* enum xpf_cfg_screen_flags */
	uint32_t icmp_flood_pps;
	uint32_t udp_flood_pps;
	uint32_t syn_attack_pps;
	uint32_t syn_alarm_pps;
	uint32_t syn_source_pps;
	uint32_t syn_destination_pps;
	uint32_t syn_timeout_s;
	uint32_t port_scan_window_us;
	uint32_t port_scan_pps;   /* 10,000,000 / port_scan_window_us */
	uint32_t ip_sweep_window_us;
	uint32_t ip_sweep_pps;    /* 10,000,000 / ip_sweep_window_us */
	uint32_t session_limit_src; /* concurrent sessions per source address, or NONE */
	uint32_t session_limit_dst; /* per destination address, or NONE */
};
_Static_assert(sizeof(struct xpf_cfg_screen) == 64, "screen record size");

/* ---------------------------------------------------------------- NAT */

enum xpf_cfg_snat_pool_flags {
	XPF_CFG_SNAT_NO_PORT_TRANSLATION = 1, /* port no-translation */
	XPF_CFG_SNAT_ADDRESS_PERSISTENT = 2,
};

struct xpf_cfg_snat_pool {
	uint32_t name;            /* string */
	uint32_t flags;           /* enum xpf_cfg_snat_pool_flags */
	uint16_t port_low;        /* translated ports (unless no-translation) */
	uint16_t port_high;
	uint32_t reserved;
	struct xpf_cfg_range addrs; /* ADDR_RANGES, in the order written; may be empty (pool-empty, R-8.2) */
};
_Static_assert(sizeof(struct xpf_cfg_snat_pool) == 24, "source pool record size");

enum xpf_cfg_dnat_pool_flags { XPF_CFG_DNAT_PORT = 1 /* translate the port to `port` */ };

struct xpf_cfg_dnat_pool {
	uint32_t name;            /* string */
	uint32_t flags;           /* enum xpf_cfg_dnat_pool_flags */
	uint32_t addr;            /* ADDR_RANGES, or NONE (pool-empty) */
	uint16_t port;
	uint16_t reserved;
};
_Static_assert(sizeof(struct xpf_cfg_dnat_pool) == 16, "destination pool record size");

/* A rule-set: its rules are tried top-down, first match wins. SNAT_RULE_SETS,
 * DNAT_RULE_SETS and STATIC_RULE_SETS hold the three kinds, each in configuration
 * order. */
struct xpf_cfg_nat_rule_set {
	uint32_t name;            /* string */
	uint8_t from_kind;        /* enum xpf_nat_context (zones or interfaces) */
	uint8_t to_kind;          /* enum xpf_nat_context; NONE except for source NAT */
	uint16_t reserved;
	struct xpf_cfg_range from;  /* INDICES → ZONES or IFACES */
	struct xpf_cfg_range to;    /* INDICES → ZONES or IFACES */
	struct xpf_cfg_range rules; /* NAT_RULES */
};
_Static_assert(sizeof(struct xpf_cfg_nat_rule_set) == 32, "NAT rule-set record size");

/* A NAT rule. Empty match lists (and protocols NONE) match anything. */
struct xpf_cfg_nat_rule {
	uint32_t name;            /* string */
	uint32_t rule_set;        /* index of the owning set in its kind's section */
	uint8_t action;           /* enum xpf_nat_action */
	uint8_t reserved[3];
	uint32_t target;          /* pool or prefix index (see enum xpf_nat_action), or NONE */
	struct xpf_cfg_range src_addr; /* PREFIXES */
	struct xpf_cfg_range dst_addr; /* PREFIXES */
	struct xpf_cfg_range src_port; /* PORT_RANGES */
	struct xpf_cfg_range dst_port; /* PORT_RANGES */
	uint32_t protocols;       /* SETS, or NONE */
	uint32_t reserved2;
};
_Static_assert(sizeof(struct xpf_cfg_nat_rule) == 56, "NAT rule record size");

/* ---------------------------------------------------------------- port mirroring */

/* A port-mirroring instance. */
struct xpf_cfg_mirror {
	uint32_t name;            /* string; NONE for the instance written directly under port-mirroring */
	uint32_t rate;            /* mirror one packet in `rate` */
	uint32_t max_packet_length; /* truncate copies to this many bytes; 0 = whole packets */
	uint32_t reserved;
	struct xpf_cfg_range ingress; /* INDICES → IFACES */
	struct xpf_cfg_range outputs; /* MIRROR_OUTPUTS */
};
_Static_assert(sizeof(struct xpf_cfg_mirror) == 32, "mirror record size");

enum xpf_cfg_mirror_output_flags { XPF_CFG_MIRROR_NEXT_HOP = 1 };

struct xpf_cfg_mirror_output {
	uint32_t iface_name;      /* string, as configured (need not exist: reported and skipped at run time) */
	uint32_t slot;            /* the dataplane interface slot of that name, or NONE */
	uint8_t family;           /* 4 or 6 */
	uint8_t flags;            /* enum xpf_cfg_mirror_output_flags */
	uint16_t reserved;
	uint32_t reserved2;
	uint8_t next_hop[16];
};
_Static_assert(sizeof(struct xpf_cfg_mirror_output) == 32, "mirror output record size");

#endif
