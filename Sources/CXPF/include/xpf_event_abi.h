/* xpf_event_abi.h — security events: the records workers write into their
 * event ring (struct xpf_worker_block.event_ring) and xpfd drains into RT_FLOW syslog.
 *
 * Every record is one fixed-size ring entry: the frame header of
 *   [length u32 LE][type u8][3 reserved][sequence u64 LE]
 * then the payload of its type. `length` is the bytes of header + payload that the type
 * uses (≤ sizeof(struct xpf_event)); a reader that does not know a type skips the entry
 * (it never needs `length` to find the next one: entries are fixed-size). `sequence`
 * counts every event the worker emitted, written or dropped, from 1: a gap between two
 * records a reader sees is the number of events dropped in between. (The count lives in
 * the worker's published counters: a worker killed before publishing restarts a few
 * numbers back, so after a kill -9 a sequence number may repeat.)
 *
 * The format is versioned by XPF_EVENT_FORMAT_VERSION (in the region header:
 * event_format_version); a change to any payload bumps it and XPF_ABI_VERSION.
 */
#ifndef XPF_EVENT_ABI_H
#define XPF_EVENT_ABI_H

#include <stdint.h>

#define XPF_EVENT_FORMAT_VERSION 2u
#define XPF_EVENT_RING_SIZE 2048 /* entries per worker, power of two */
#define XPF_EVENT_RATE_UNCAPPED 0xffffffffu /* xpf_config_snapshot.event_rate_cap: no cap */

enum xpf_event_type {
	XPF_EV_SESSION_CREATE = 1,
	XPF_EV_SESSION_CLOSE = 2,
	XPF_EV_SESSION_DENY = 3,   /* policy deny / reject */
	XPF_EV_SCREEN_DROP = 4,
	XPF_EV_FILTER_LOG = 5,
	XPF_EV_NAT_EXCEPTION = 6,
	XPF_EV_TABLE_FULL = 7,     /* a first packet found the session table full */
	XPF_EV_TYPE_COUNT = 8
};

/* Why a session closed (RT_FLOW_SESSION_CLOSE reason). */
enum xpf_close_reason {
	XPF_CLOSE_NONE = 0,
	XPF_CLOSE_TCP_FIN = 1,
	XPF_CLOSE_TCP_RST = 2,
	XPF_CLOSE_IDLE = 3,        /* "idle Timeout" */
	XPF_CLOSE_CLEAR = 4,       /* `clear security flow session` */
	XPF_CLOSE_AGED = 5,        /* "aged out": ended by a later state (e.g. time-wait over) */
	XPF_CLOSE_POLICY = 6,      /* "policy change" */
	XPF_CLOSE_REASON_COUNT = 7
};

/* What a policy deny did (RT_FLOW_SESSION_DENY reason, R-5.2: "reject" only when the
 * RST / ICMP really went out). */
enum xpf_deny_action { XPF_DENY_DROPPED = 0, XPF_DENY_REJECT_SENT = 1 };

struct xpf_event_hdr {
	uint32_t length;
	uint8_t type;              /* enum xpf_event_type */
	uint8_t reserved[3];
	uint64_t sequence;
};

/* A flow direction, laid out as struct xpf_flow_tuple (xpf_abi.h): addresses in network
 * order (IPv4 in the first 4 bytes), ports in network byte order. */
struct xpf_event_tuple {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
};

/* Payload of SESSION_CREATE, SESSION_CLOSE, SESSION_DENY and TABLE_FULL (and the head of
 * struct xpf_event_verdict). Names (zones,
 * policy, interfaces) are resolved by xpfd from the configuration generation and the
 * interface table; the worker writes indices only. */
struct xpf_event_flow {
	uint64_t realtime_ns;      /* CLOCK_REALTIME of the worker loop that emitted it */
	uint32_t session_id;       /* record index + 1 (session-id-32); 0 for DENY / TABLE_FULL */
	uint32_t generation;       /* low 32 bits of the configuration generation that decided it */
	uint8_t family;            /* 4 or 6 */
	uint8_t proto;
	uint8_t if_in;             /* iface slot the flow arrived on (packet-incoming-interface) */
	uint8_t if_out;            /* iface slot it leaves by, 0xff when none */
	uint8_t reason;            /* CLOSE: enum xpf_close_reason; DENY: enum xpf_deny_action */
	uint8_t icmp_type;         /* ICMP/ICMPv6 type of the first packet, else 0 */
	uint8_t queue;             /* the emitting worker */
	uint8_t reserved;
	uint32_t policy;           /* POLICIES index, or XPF_CFG_NONE */
	uint16_t from_zone;        /* ZONES index, or 0xffff */
	uint16_t to_zone;
	struct xpf_event_tuple fwd; /* as the client sent it */
	struct xpf_event_tuple nat; /* as translated (equal to fwd when nothing was) */
	uint32_t elapsed_s;        /* CLOSE: seconds the session lived */
	uint32_t reserved2;
	uint64_t packets[2];       /* CLOSE: [0] from client, [1] from server */
	uint64_t bytes[2];
};

/* SCREEN_DROP `action`: what the screen did with the packet. */
enum xpf_screen_outcome { XPF_SCREEN_DROPPED = 0, XPF_SCREEN_ALARM_ONLY = 1 /* alarm-without-drop */ };

/* NAT_EXCEPTION: which kind of rule (and so which pool section) failed. */
enum xpf_nat_kind { XPF_NAT_KIND_SOURCE = 0, XPF_NAT_KIND_DESTINATION = 1, XPF_NAT_KIND_STATIC = 2 };

/* NAT_EXCEPTION: why a translation could not be made (the flow is dropped). */
enum xpf_nat_failure {
	XPF_NAT_FAIL_POOL_EXHAUSTED = 1,  /* no free address/port in the pool */
	XPF_NAT_FAIL_NO_ADDRESS = 2,      /* interface NAT: the egress interface has no address of the family */
	XPF_NAT_FAIL_FAMILY = 3,          /* the pool has no address of the packet's family */
	XPF_NAT_FAIL_COUNT
};

/* Payload of SCREEN_DROP, FILTER_LOG and NAT_EXCEPTION: the packet's flow laid out as
 * struct xpf_event_flow (session_id, policy, elapsed and counters zero; nat equal to fwd),
 * then what decided about it. */
struct xpf_event_verdict {
	struct xpf_event_flow flow;
	uint32_t object;      /* SCREEN_DROP: SCREENS index; FILTER_LOG: FILTERS index;
	                       * NAT_EXCEPTION: NAT_RULES index, or XPF_CFG_NONE */
	uint32_t item;        /* SCREEN_DROP: enum xpf_screen_check; FILTER_LOG: TERMS index;
	                       * NAT_EXCEPTION: SNAT_POOLS / DNAT_POOLS index (by nat_kind), or XPF_CFG_NONE */
	uint16_t ip_length;   /* FILTER_LOG: length of the packet's IP datagram */
	uint8_t action;       /* SCREEN_DROP: enum xpf_screen_outcome; FILTER_LOG: enum xpf_term_terminal;
	                       * NAT_EXCEPTION: enum xpf_nat_failure */
	uint8_t nat_kind;     /* NAT_EXCEPTION: enum xpf_nat_kind */
	uint32_t reserved;
};

/* One ring entry. */
struct xpf_event {
	struct xpf_event_hdr hdr;
	union {
		struct xpf_event_flow flow;
		struct xpf_event_verdict verdict;
		uint8_t raw[176];
	} u;
};
_Static_assert(sizeof(struct xpf_event_verdict) == sizeof(struct xpf_event_flow) + 16, "verdict payload");
_Static_assert(sizeof(struct xpf_event_hdr) == 16, "R-9.2 frame header");
_Static_assert(sizeof(struct xpf_event) == 192, "three cache lines per event");

/* ---------------------------------------------------------------- exceptions */

/* Recent exceptions: per worker, a bounded list in its worker block that `xpfctl show
 * exceptions` merges by time. Written by the worker only, without locks. */
#define XPF_EXCEPTIONS_PER_WORKER 64 /* power of two */

enum xpf_exception_kind {
	XPF_EXC_TABLE_FULL = 1,        /* a first packet found no free session record or index slot */
	XPF_EXC_POOL_MISSING = 2,      /* NAT, written by the NAT stage */
	XPF_EXC_POOL_EMPTY = 3,
	XPF_EXC_POOL_INVALID = 4,
	XPF_EXC_POOL_INVALID_PORT_RANGE = 5,
	XPF_EXC_POOL_WRONG_FAMILY = 6,
	XPF_EXC_POOL_EXHAUSTED = 7,
	XPF_EXC_KIND_COUNT = 8
};

/* One exception. The worker writes it as a seqlock: `seq` odd while it writes, then the
 * fields, then `seq` even with release; a reader loads `seq` (acquire), copies, loads it
 * again and keeps the copy only if both loads are equal and even. A repeat of the latest
 * entry's kind, rule and pool within XPF_EXCEPTION_COALESCE_NS is counted on that entry
 * (count, last_ns) instead of taking a new one, so a flood cannot flush the list. */
#define XPF_EXCEPTION_COALESCE_NS 1000000000ull
struct xpf_exception {
	uint32_t seq;
	uint16_t kind;                 /* enum xpf_exception_kind */
	uint8_t family;                /* the packet's flow */
	uint8_t proto;
	uint32_t rule;                 /* NAT_RULES index, or XPF_CFG_NONE */
	uint32_t pool;                 /* SNAT_POOLS / DNAT_POOLS index, or XPF_CFG_NONE */
	uint32_t generation;           /* low 32 bits of the configuration generation */
	uint32_t count;                /* occurrences counted on this entry */
	uint64_t first_ns;             /* CLOCK_REALTIME of the first and the latest */
	uint64_t last_ns;
	struct xpf_event_tuple flow;
	uint32_t reserved;
};
_Static_assert(sizeof(struct xpf_exception) == 80, "exception record size");

#endif
