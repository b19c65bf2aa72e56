/* xpf_abi.h — the shared-memory ABI between xpfd, xpf-worker, xpf-top and xpfctl.
 *
 * One region (a file in /dev/shm, mapped MAP_SHARED by every process) holds,
 * at offsets named in the header:
 *
 *   header | config slots | fib slots | worker blocks (with their event rings) |
 *   session records | session index | UMEM (one slice per worker)
 *
 * Rules (see docs/architecture.md):
 *  - offsets, never pointers;
 *  - every field says who writes it and what ordering readers rely on;
 *  - the identity prefix of the header (magic … supervisor_pid) never moves between
 *    ABI versions, so any build can tell whether a live xpfd owns a region;
 *  - any change to a struct here, or to what a field means, bumps XPF_ABI_VERSION; the layout hash
 *    (xpf_abi_layout_hash(), computed from sizeof/offsetof of every struct)
 *    catches a forgotten bump between binaries built from different trees.
 */
#ifndef XPF_ABI_H
#define XPF_ABI_H

#include <stdint.h>
#include <stddef.h>
#include "xpf_bpf_abi.h"
#include "xpf_config_abi.h"
#include "xpf_event_abi.h"

#define XPF_SHM_MAGIC 0x31304d4853465058ULL /* "XPFSHM01" little-endian */
#define XPF_ABI_VERSION 22u

#define XPF_CACHELINE 64
#define XPF_CONFIG_SLOTS 4
#define XPF_FIB_SLOTS 4
#define XPF_MAX_ROUTES 1024
#define XPF_MAX_NEIGH 1024
#define XPF_MAX_IF_ADDRS 64
#define XPF_REQ_RING_SIZE 256 /* entries, power of two */

/* ---------------------------------------------------------------- interfaces */

/* XDP attach modes (xpf_iface.xdp_mode). */
enum xpf_xdp_mode { XPF_XDP_MODE_NONE = 0, XPF_XDP_MODE_NATIVE = 1, XPF_XDP_MODE_GENERIC = 2 };

/* One dataplane interface. Written by xpfd before any worker starts; constant for
 * the lifetime of the region (changing the interface set needs an xpfd restart). */
struct xpf_iface {
	uint32_t ifindex;
	uint32_t xdp_mode; /* enum xpf_xdp_mode */
	char name[16];
	uint8_t mac[6];
	uint16_t mtu;
	uint32_t rx_queues; /* queues the interface has */
	uint32_t reserved;
};

/* ---------------------------------------------------------------- header */

enum xpf_shm_state { XPF_SHM_INIT = 0, XPF_SHM_RUNNING = 1, XPF_SHM_STOPPING = 2 };

struct xpf_shm_header {
	/* Identity: written once by xpfd before anything else maps the region. */
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size;
	uint64_t total_size;
	uint64_t layout_hash;
	uint64_t created_realtime_ns;
	int32_t supervisor_pid;
	uint32_t state; /* enum xpf_shm_state; xpfd writes with release, readers load acquire */

	/* Geometry: written once by xpfd at creation. */
	uint32_t n_queues;      /* `max-queues`: a worker block, UMEM slice and session partition each; queues beyond `queues` are PARKED */
	uint32_t n_ifaces;
	uint32_t umem_frames;   /* per worker */
	uint32_t frame_size;
	uint32_t config_slot_size;
	uint32_t fib_slot_size;
	uint64_t session_capacity;  /* records; per worker: capacity / n_queues */
	uint64_t index_buckets;     /* ≥ 64; the probe start is the hash scaled onto [0, n) */
	uint64_t off_config;        /* XPF_CONFIG_SLOTS slots of config_slot_size */
	uint64_t off_fib;           /* XPF_FIB_SLOTS slots of fib_slot_size */
	uint64_t off_workers;       /* n_queues struct xpf_worker_block */
	uint64_t off_sessions;      /* session_capacity struct xpf_session */
	uint64_t off_index;         /* index_buckets struct xpf_index_bucket */
	uint64_t off_umem;          /* n_queues slices of umem_frames * frame_size, page aligned */
	uint32_t xskmap_id;         /* BPF map ids: workers open them with bpf_map_get_fd_by_id */
	uint32_t counters_map_id;
	uint32_t batch_size_max;
	uint32_t rx_ring_size;      /* AF_XDP ring sizes every worker uses (RX = fill, TX = completion) */
	uint32_t tx_ring_size;
	uint32_t event_format_version; /* XPF_EVENT_FORMAT_VERSION of the event rings */
	uint64_t off_policy_hits;   /* n_queues struct xpf_policy_hits */
	uint64_t off_filter_hits;   /* n_queues struct xpf_filter_hits */
	uint64_t off_policers;      /* struct xpf_policer_buckets (one for all workers) */
	uint8_t pad0[8];            /* config_current starts a cache line (offset 192) */

	/* Published words (each on its own cache line).
	 * config_current = generation << 8 | slot. Writer: xpfd, store-release after the
	 * slot is fully written. Readers (workers, between batches): load-acquire, then
	 * read the slot. A slot is rewritten only when every live worker's
	 * config_generation_seen is newer than the generation it holds. */
	uint64_t config_current;
	uint8_t pad1[56];
	/* fib_current = version << 8 | slot; same protocol with fib_version_seen. */
	uint64_t fib_current;
	uint8_t pad2[56];

	/* Written once by xpfd before workers start. */
	struct xpf_iface ifaces[XPF_MAX_IFACES];
};
/* Swift cannot import over-aligned fields, so cache-line placement is explicit padding,
 * pinned here. */
_Static_assert(offsetof(struct xpf_shm_header, config_current) == 192, "config_current on its own line");
_Static_assert(offsetof(struct xpf_shm_header, fib_current) == 256, "fib_current on its own line");
_Static_assert(offsetof(struct xpf_shm_header, ifaces) == 320, "ifaces line aligned");

/* ---------------------------------------------------------------- config snapshot */

/* A compiled configuration generation: this fixed head, then the sections its table
 * describes (xpf_config_abi.h), all inside one config slot. Written by xpfd into a
 * free slot, then published through header.config_current; immutable while
 * published. Workers read it between batches only. */
struct xpf_config_snapshot {
	uint64_t generation;
	uint64_t commit_realtime_ns;
	uint32_t batch_size;        /* packets per poll batch (1..batch_size_max) */
	uint32_t flags;             /* enum xpf_cfg_flags */
	/* session timeouts, seconds */
	uint32_t timeout_tcp_initial;
	uint32_t timeout_tcp_established;
	uint32_t timeout_tcp_closing;
	uint32_t timeout_udp;
	uint32_t timeout_icmp;
	uint32_t timeout_other;
	uint32_t neigh_hold_ms;     /* how long a frame waits for neighbour resolution */
	uint32_t size;              /* bytes used from the snapshot start: head + sections (≤ config_slot_size) */
	uint32_t n_sections;        /* XPF_CFG_SEC_COUNT */
	uint32_t default_policy;    /* enum xpf_policy_action: PERMIT or DENY, when no policy matches */
	uint32_t n_dataplane_ifaces; /* IFACES records 0..n-1 are the dataplane slots */
	uint32_t loopback_iface;    /* IFACES index of lo0 (host-bound traffic, R-6.2), or XPF_CFG_NONE */
	struct xpf_cfg_range global_policies; /* POLICIES: the global list */
	/* `security log rate-cap`: security events per second a worker emits per (event
	 * kind, zone of the ingress interface); a token bucket holding one second's worth.
	 * XPF_EVENT_RATE_UNCAPPED: no cap. 0: every event is suppressed. */
	uint32_t event_rate_cap;
	/* Low 32 bits of the generation that last changed anything a session's verdict
	 * depends on (zones, policies, address books, applications, default policy): a
	 * session decided under an older generation is re-checked at its next packet
	 * . Equal to the previous snapshot's when a commit changed none of these. */
	uint32_t policy_epoch;
	/* Which of a worker's two policy hit-counter banks (xpf_policy_hits) counts under
	 * this snapshot: flips with every new policy epoch, so xpfd can read and zero the
	 * other bank once every worker has switched (policy ids change meaning there). */
	uint32_t policy_bank;
	uint32_t reserved;
	struct xpf_cfg_section sections[XPF_CFG_SEC_COUNT]; /* indexed by enum xpf_cfg_section_id */
};
#define XPF_CFG_SECTION_TABLE_OFFSET 96
_Static_assert(offsetof(struct xpf_config_snapshot, neigh_hold_ms) == 48, "head fields of ABI 2 stay in place");
_Static_assert(offsetof(struct xpf_config_snapshot, sections) == XPF_CFG_SECTION_TABLE_OFFSET, "section table offset");
_Static_assert(sizeof(struct xpf_config_snapshot) == XPF_CFG_SECTION_TABLE_OFFSET + 16 * XPF_CFG_SEC_COUNT, "snapshot head size");
_Static_assert(sizeof(struct xpf_config_snapshot) % 8 == 0, "sections after the head start 8-byte aligned");

/* ---------------------------------------------------------------- FIB snapshot */

enum xpf_route_flags {
	XPF_ROUTE_GATEWAY = 1,   /* next hop is `gateway`, else the destination itself */
	XPF_ROUTE_LOCAL = 2,     /* destination is the box (RTN_LOCAL / broadcast) */
	XPF_ROUTE_BLACKHOLE = 4, /* RTN_BLACKHOLE / UNREACHABLE / PROHIBIT */
};

struct xpf_route {
	uint8_t family;      /* 4 or 6 */
	uint8_t prefix_len;
	uint8_t flags;       /* enum xpf_route_flags */
	uint8_t iface_slot;  /* 0xff: egress is not a dataplane interface */
	uint32_t ifindex;
	uint32_t metric;
	uint32_t reserved;
	uint8_t dst[16];
	uint8_t gateway[16];
};

enum xpf_neigh_state { XPF_NEIGH_INCOMPLETE = 0, XPF_NEIGH_VALID = 1, XPF_NEIGH_FAILED = 2 };

struct xpf_neigh {
	uint8_t family;
	uint8_t state;       /* enum xpf_neigh_state */
	uint8_t iface_slot;
	uint8_t reserved;
	uint32_t ifindex;
	uint8_t addr[16];
	uint8_t mac[6];
	uint8_t reserved2[2];
};

/* A FIB version: the kernel's routes and neighbours of the namespace, mirrored by
 * xpfd over rtnetlink. Routes are sorted by family, then prefix_len descending,
 * then metric ascending, so the first match is the longest prefix. Written by
 * xpfd into a free slot and published through header.fib_current. */
/* An address of a dataplane interface: the source of ICMP errors the dataplane sends
 * back out of that interface. */
struct xpf_if_addr {
	uint8_t family;
	uint8_t prefix_len;
	uint8_t iface_slot;
	uint8_t reserved;
	uint32_t ifindex;
	uint8_t addr[16];
};

struct xpf_fib_snapshot {
	uint64_t version;
	uint32_t n_routes;
	uint32_t n_neigh;
	struct xpf_route routes[XPF_MAX_ROUTES];
	struct xpf_neigh neigh[XPF_MAX_NEIGH];
	uint32_t n_if_addrs;
	uint32_t reserved;
	struct xpf_if_addr if_addrs[XPF_MAX_IF_ADDRS];
};

/* ---------------------------------------------------------------- worker blocks */

/* PARKED: the queue is beyond `system dataplane queues` (a commit lowered it, or it is
 * one of the `max-queues` the region was laid out for): no worker runs; xpfd owns the
 * block and its session partition, ages and clears it, and writes the block's counters
 * and events (Shared/Worker/PartitionKeeper.swift). xpfd stores PARKED after reaping the
 * queue's worker, and spawns a worker (STARTING) only after it stopped tending the
 * partition: one owner at a time, ordered by waitpid and by xpfd's single thread. */
enum xpf_worker_state {
	XPF_WORKER_EMPTY = 0, XPF_WORKER_STARTING = 1, XPF_WORKER_RUNNING = 2,
	XPF_WORKER_EXITED = 3, XPF_WORKER_FAILED = 4, XPF_WORKER_PARKED = 5
};

/* Drop reasons counted by workers (append-only). */
/* Why a worker dropped a frame: the one list every reader names them from (xpf-top,
 * xpfctl, /metrics, tests), as X(NAME, value, "name", "meaning"). Values are stable and
 * index xpf_worker_stats.drops; a new reason takes the next free value below
 * XPF_DROP_MAX. */
#define XPF_DROP_REASONS(X) \
	X(PARSE, 0, "parse", "malformed or truncated frame") \
	X(NO_ROUTE, 1, "no_route", "no route to the destination") \
	X(NEIGH_TIMEOUT, 2, "neigh_timeout", "the next hop never resolved") \
	X(NEIGH_QUEUE_FULL, 3, "neigh_queue_full", "no room to hold the frame while its next hop resolves") \
	X(TX_FULL, 4, "tx_full", "egress TX ring full") \
	X(SESSION_FULL, 5, "session_full", "session table full: a new flow fails closed") \
	X(TTL, 6, "ttl", "TTL / hop limit exhausted") \
	X(NOT_DATAPLANE, 7, "not_dataplane", "egress is not a dataplane interface, or the box itself") \
	X(BLACKHOLE, 8, "blackhole", "blackhole / unreachable / prohibit route") \
	X(TOO_BIG, 9, "too_big", "larger than the egress MTU") \
	X(UNSUPPORTED, 10, "unsupported", "a protocol the dataplane does not forward") \
	X(TCP_NOT_SYN, 11, "tcp_not_syn", "first packet of a TCP flow is not a SYN (security flow tcp-session no-syn-check admits it)") \
	X(ZONE_NONE, 12, "zone_none", "the ingress or egress interface is in no security zone") \
	X(POLICY_DENY, 13, "policy_deny", "a security policy (or the default policy) denies the flow") \
	X(POLICY_REJECT, 14, "policy_reject", "a security policy rejects the flow (a TCP RST or ICMP unreachable answered when allowed)") \
	X(POLICY_CHANGE, 15, "policy_change", "the session is no longer permitted after a commit (R-4.4)") \
	X(ICMP_UNMATCHED, 16, "icmp_unmatched", "an ICMP error quoting a packet of no session") \
	X(SESSION_ZONE, 17, "session_zone", "a packet of a session came from, or would leave to, a zone other than the session's") \
	X(FILTER_DISCARD, 18, "filter_discard", "a firewall filter discards the packet: a discard term, or no term matched (implicit discard)") \
	X(FILTER_REJECT, 19, "filter_reject", "a firewall filter term rejects the packet (an ICMP unreachable or TCP RST answered when allowed)") \
	X(POLICER_DISCARD, 20, "policer_discard", "a firewall filter term's policer discards the packet (out of profile, or red with loss-priority high then discard)")

enum xpf_drop_reason {
#define XPF_DROP_ENUM(name, value, text, meaning) XPF_DROP_##name = value,
	XPF_DROP_REASONS(XPF_DROP_ENUM)
#undef XPF_DROP_ENUM
	XPF_DROP_MAX = 32 /* size of the drops array (a power of two) */
};

/* The name of drop reason `r` ("parse", "no_route", ...), or NULL for a value no reason has. */
static inline const char *xpf_drop_reason_name(unsigned r) {
	switch (r) {
#define XPF_DROP_NAME(name, value, text, meaning) case value: return text;
	XPF_DROP_REASONS(XPF_DROP_NAME)
#undef XPF_DROP_NAME
	}
	return 0;
}

/* What drop reason `r` means, or NULL. */
static inline const char *xpf_drop_reason_meaning(unsigned r) {
	switch (r) {
#define XPF_DROP_MEANING(name, value, text, meaning) case value: return meaning;
	XPF_DROP_REASONS(XPF_DROP_MEANING)
#undef XPF_DROP_MEANING
	}
	return 0;
}

/* Counters of one worker. Writer: that worker only, once per batch, between
 * stats_seq increments (odd = update in progress; release on the closing even
 * store). Readers: load stats_seq (acquire), copy, load again; retry if odd or
 * changed. A restarted worker continues the same counters. */
struct xpf_worker_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t batches;          /* non-empty RX batches */
	uint64_t batch_packets;    /* sum of batch sizes (fill = batch_packets / batches) */
	uint64_t polls;            /* times the worker slept in poll() */
	uint64_t sessions_created, sessions_closed;
	uint64_t session_hits, session_misses;
	uint64_t neigh_parked, neigh_sent;  /* frames held for resolution, and later sent */
	uint64_t drops[XPF_DROP_MAX];
	uint64_t tx_kicks;
	uint64_t icmp_errors_sent;   /* time exceeded / unreachable generated by the worker */
	uint64_t icmp_errors_limited; /* suppressed by the worker's ICMP rate limit */
	uint64_t events_emitted;     /* security events emitted: written to the event ring or dropped */
	uint64_t events_dropped;     /* of those, refused because the event ring was full */
	uint64_t events_rate_limited; /* suppressed by the rate cap before the ring (not in events_emitted) */
	/* Saturation accounting (issue 11 §1). The worker reads CLOCK_MONOTONIC once per loop
	 * pass; the time from one pass's read to the next is given to what the earlier pass
	 * was: idle the time it slept in poll() (measured by two more clock reads around the
	 * sleep, in passes that sleep only), the rest busy when it moved packets (took some
	 * from an RX ring, or kicked or completed TX) or spin when it moved none (busy-poll,
	 * a clear being swept). Time the worker was runnable but not running (preempted,
	 * throttled by a CPU quota) goes to what the pass was doing — except once woken in
	 * poll(): the wait to run again ends before the clock read after poll(), so it is idle.
	 * busy / (busy + idle + spin) is the worker's busy share. */
	uint64_t loop_busy_ns, loop_idle_ns, loop_spin_ns;
	uint64_t loops;              /* loop passes */
	/* Per dataplane interface slot (updated per batch, not per packet). */
	uint64_t if_rx_packets[XPF_MAX_IFACES];
	uint64_t if_tx_packets[XPF_MAX_IFACES];
	/* Ring gauges at the last loop iteration, per interface slot: RX descriptors waiting
	 * (before the worker took its batch), TX descriptors not yet completed, fill-ring
	 * frames the kernel may write into. With the ring sizes (header) they give occupancy. */
	uint32_t rx_ring_used[XPF_MAX_IFACES];
	uint32_t tx_ring_used[XPF_MAX_IFACES];
	uint32_t fill_ring_used[XPF_MAX_IFACES];
	/* Non-empty RX batches (vectors) per interface slot: with if_rx_packets, the average
	 * vector size per interface (VPP's `show runtime` vectors/call). */
	uint64_t if_batches[XPF_MAX_IFACES];
	uint64_t reserved[6];        /* zero; keeps the worker block's rings on cache lines */
};

/* The kernel's XDP_STATISTICS of a worker's socket on each interface slot (issue 11 §1).
 * Writer: that worker only. It reads the statistics every WorkerControl.publishIntervalNs
 * (and once more before it closes its sockets) and publishes them then — not with the
 * per-pass xpf_worker_stats, so a pass with work copies none of these 512 bytes — under
 * xpf_worker_block.socket_stats_seq, the same seqlock protocol as stats_seq. Each value
 * is added to what earlier incarnations of the worker published (a new socket counts from
 * zero), so the counters continue across worker restarts. Meanings (net/xdp/xsk.c):
 *   rx_ring_full     packets dropped because the RX ring was full (the worker fell behind);
 *   fill_ring_empty  times the kernel found no frame in the fill ring. In copy mode
 *                    (__xsk_rcv) each is a dropped packet, counted in rx_dropped as well;
 *                    zero-copy drivers (mlx5, i40e, ice) count failed refill attempts of
 *                    their RX queue here, not drops (the driver retries);
 *   rx_dropped       packets dropped on the socket: in copy mode this includes the
 *                    fill-ring-empty drops, plus frames too large for a UMEM frame;
 *   tx_ring_empty    TX attempts (a kick) that found the TX ring empty.
 * With them, on the same cadence, the scheduler's view of the worker's thread
 * (/proc/thread-self/schedstat, issue 11 §1): sched_run_ns on a CPU, sched_wait_ns runnable
 * but waiting for one — preempted by another task on its core, or its cgroup's CPU quota
 * spent (a throttled task counts as waiting) — both continued across restarts as above,
 * and sched_sampled_ns, the CLOCK_MONOTONIC of that reading (0: never read), so a reader
 * divides their differences by the time between two readings. The loop's own clock cannot
 * see the wait for a CPU after a wake-up: it ends before the read that closes the sleep. */
struct xpf_worker_socket_stats {
	uint64_t rx_ring_full[XPF_MAX_IFACES];
	uint64_t fill_ring_empty[XPF_MAX_IFACES];
	uint64_t rx_dropped[XPF_MAX_IFACES];
	uint64_t tx_ring_empty[XPF_MAX_IFACES];
	uint64_t sched_run_ns;
	uint64_t sched_wait_ns;
	uint64_t sched_sampled_ns;
	uint64_t reserved[5];
};
_Static_assert(sizeof(struct xpf_worker_socket_stats) % XPF_CACHELINE == 0, "socket statistics tile cache lines");

/* A single-producer/single-consumer ring in shared memory. Indices run free (uint32,
 * wrapping); entry i lives at (i & (size-1)). Producer: writes entries, then stores
 * `producer` with release. Consumer: loads `producer` with acquire, reads entries,
 * then stores `consumer` with release; the producer loads `consumer` with acquire
 * before reusing entries. Producer and consumer indices sit on separate lines. */
struct xpf_ring_hdr {
	uint32_t producer;
	uint8_t pad0[60];
	uint32_t consumer;
	uint8_t pad1[60];
	uint32_t size;        /* entries, power of two; constant */
	uint32_t entry_size;  /* bytes; constant */
	uint64_t dropped;     /* producer only: pushes refused because the ring was full */
	uint8_t pad2[48];
};
_Static_assert(offsetof(struct xpf_ring_hdr, consumer) == 64, "consumer on its own line");
_Static_assert(sizeof(struct xpf_ring_hdr) == 192, "ring header is three lines");


/* xpf_session.policy when no policy matched and `default-policy permit-all` admitted the
 * session. */
#define XPF_SESS_POLICY_DEFAULT 0xffffu
/* Policies a configuration may hold: a session's policy id is 16 bits. */
#define XPF_MAX_POLICIES 0xffffu

/* One policy's counters in one worker and bank. hits: the first packets (not the re-checks
 * of sessions) the policy matched (`show security policies hit-count`, Policy lookups).
 * packets / bytes [0] forward (input: from the initiator), [1] reverse (output), and
 * closed: the sessions of a `then count` policy (XPF_SESS_COUNT) that closed, added by
 * whoever removes the session (its owner, or xpfd for a worker that failed for good),
 * only while the session's verdict is of the running policy epoch (an older id means
 * another policy here). Live sessions' counts are in their records. */
struct xpf_policy_counters {
	uint64_t hits;
	uint64_t packets[2];
	uint64_t bytes[2];
	uint64_t closed;
};
/* The record as 64-bit words, for code that adds to one word by index. */
enum xpf_policy_counter_word {
	XPF_PC_HITS = 0,
	XPF_PC_PACKETS_FWD = 1,
	XPF_PC_PACKETS_REV = 2,
	XPF_PC_BYTES_FWD = 3,
	XPF_PC_BYTES_REV = 4,
	XPF_PC_CLOSED = 5,
	XPF_PC_WORDS = 6,
};
_Static_assert(offsetof(struct xpf_policy_counters, packets) == XPF_PC_PACKETS_FWD * 8, "policy counter words");
_Static_assert(offsetof(struct xpf_policy_counters, bytes) == XPF_PC_BYTES_FWD * 8, "policy counter words");
_Static_assert(offsetof(struct xpf_policy_counters, closed) == XPF_PC_CLOSED * 8, "policy counter words");
_Static_assert(sizeof(struct xpf_policy_counters) == XPF_PC_WORDS * 8, "policy counter words");

/* Policy counters of one worker: c[bank][id] counts for policy `id` under a snapshot whose
 * policy_bank is `bank`; id XPF_SESS_POLICY_DEFAULT is the default policy.
 * Writer: that worker only (relaxed load + store), or xpfd in its place once it failed for
 * good. Readers (xpfd): relaxed loads, summed over the workers. xpfd zeroes bank b only
 * when no live worker counts in it (every worker has acknowledged a generation whose
 * policy_bank is the other one) and before it publishes the epoch that flips back to b.
 * Pages a configuration's ids never reach stay untouched (6 MiB of address space per
 * worker, a few pages resident). */
struct xpf_policy_hits {
	struct xpf_policy_counters c[2][XPF_MAX_POLICIES + 1];
};

/* Firewall filter terms and named counters (`then count C`) a configuration may hold:
 * the rows of struct xpf_filter_hits (SnapshotWriter refuses more). */
#define XPF_MAX_FILTER_TERMS 8192u
#define XPF_MAX_FILTER_COUNTERS 8192u

/* Policer instances a configuration may hold (SnapshotWriter refuses more): rows of
 * xpf_filter_hits.policer and buckets of xpf_policer_buckets. */
#define XPF_MAX_POLICER_INSTANCES 4096u

/* What a policer instance counts (xpf_filter_hits.policer rows instance × ROWS + row):
 * the packets a two-color policer found out of profile, or a three-color one marked red;
 * and the ones a three-color policer marked yellow. */
enum xpf_policer_row { XPF_POLICER_ROW_OUT = 0, XPF_POLICER_ROW_YELLOW = 1, XPF_POLICER_ROWS = 2 };

/* Packets and bytes (of the IP datagram, as Junos counts) one term or counter saw. */
struct xpf_filter_count {
	uint64_t packets;
	uint64_t bytes;
};
_Static_assert(sizeof(struct xpf_filter_count) == 16, "filter counter record");

/* Firewall filter counters of one worker (issue 10, R-6.1): term[bank][t] counts the packets
 * term t (TERMS index) matched, counter[bank][c] those of the terms with `then count` naming
 * counter c (COUNTERS index), policer[bank][i × XPF_POLICER_ROWS + row] what policer
 * instance i (POLICER_INSTANCES index) found out of profile or marked (enum
 * xpf_policer_row). Indices change meaning with the configuration, so they are
 * banked exactly as xpf_policy_hits: `bank` is the snapshot's policy_bank, and a commit
 * that changes filters starts a new policy epoch (ConfigModel.decidesSessions), which
 * flips it. Writer: that worker only (relaxed load + store). Readers (xpfd): relaxed loads,
 * summed over workers. Zeroing: xpfd, as for xpf_policy_hits (a bank nobody counts in any
 * more, before the flip back to it). 768 KiB of address space per worker; pages no
 * configuration reaches stay untouched. */
struct xpf_filter_hits {
	struct xpf_filter_count term[2][XPF_MAX_FILTER_TERMS];
	struct xpf_filter_count counter[2][XPF_MAX_FILTER_COUNTERS];
	struct xpf_filter_count policer[2][XPF_MAX_POLICER_INSTANCES * XPF_POLICER_ROWS];
};
/* Swift does not import arrays this large: FilterCounters.swift computes the offsets. */
_Static_assert(offsetof(struct xpf_filter_hits, term) == 0, "filter counters: terms first");
_Static_assert(offsetof(struct xpf_filter_hits, counter) == 2 * XPF_MAX_FILTER_TERMS * sizeof(struct xpf_filter_count),
	       "filter counters: then the named counters");
_Static_assert(offsetof(struct xpf_filter_hits, policer) == 2 * (XPF_MAX_FILTER_TERMS + XPF_MAX_FILTER_COUNTERS) * sizeof(struct xpf_filter_count),
	       "filter counters: then the policer instances'");

/* One policer instance's buckets, shared by every worker (R-6.3: the rate holds for the
 * sum of the queues). w[0]: a two-color policer's, or a three-color one's committed bucket,
 * as its theoretical arrival time (GCRA: the bucket is full at and after that tick, in
 * XPF_POLICER_TICK_SHIFT ticks of CLOCK_MONOTONIC; 0: full). w[1]: single-rate
 * three-color: the excess bucket's tokens, in ticks at the committed rate (RFC 2697: it
 * fills only while the committed one is full); two-rate: the peak bucket's arrival time.
 * Writers: every worker, a two-color policer's w[0] by 8-byte compare-and-swap, a
 * three-color one's pair by 16-byte compare-and-swap (the pair changes together), which is
 * also how a worker reads the pair whole; no lock, no wait (a failed swap re-reads and
 * decides again). xpfd zeroes bank b (every bucket full) only when no live worker polices
 * in it, exactly as it zeroes xpf_filter_hits bank b. 16-byte aligned (the region's parts
 * start on pages). */
struct xpf_policer_bucket {
	uint64_t w[2];
};
_Static_assert(sizeof(struct xpf_policer_bucket) == 16, "policer bucket pair");

/* The buckets of every policer instance, banked with the policy ids (an instance index
 * means something under one configuration only): bank[b][i] serves instance i under a
 * snapshot whose policy_bank is b. A commit that changes filters or policers starts a new
 * policy epoch, so its policers start with full buckets. */
struct xpf_policer_buckets {
	struct xpf_policer_bucket bank[2][XPF_MAX_POLICER_INSTANCES];
};

/* `clear security flow session FILTERS`: which conditions of xpf_clear_filter hold (every
 * one set must; none set = every session). */
enum xpf_clear_match {
	XPF_CLEAR_SRC_PREFIX = 1,   /* the forward tuple's source in src/src_len (family src_family) */
	XPF_CLEAR_DST_PREFIX = 2,   /* its destination in dst/dst_len (family dst_family) */
	XPF_CLEAR_PROTO = 4,
	XPF_CLEAR_SRC_PORT = 8,     /* the forward tuple's source port */
	XPF_CLEAR_DST_PORT = 16,
	XPF_CLEAR_IF_IN = 32,       /* if_in is a slot of the if_in bitmap (from-zone: the zone's interfaces) */
	XPF_CLEAR_IF_OUT = 64,      /* if_out is a slot of the if_out bitmap (to-zone) */
	XPF_CLEAR_POLICY = 128,     /* decided in policy_epoch or later by one of `policies` (policy NAME) */
};
#define XPF_CLEAR_MAX_POLICIES 64 /* ids one policy name may have (one per zone-pair list, global, default) */

/* The filter of a clear request (xpf_worker_block.clear_filter), evaluated by the worker
 * on each session of its partition (SessionClearFilter.swift). Writer: xpfd, with plain
 * stores, only while the worker block has no clear pending (clear_done == clear_requested,
 * loaded with acquire) or no live worker (EXITED/FAILED: xpfd spawns workers itself, never
 * during this write); then it stores clear_requested with release. Reader: the worker,
 * after its acquire load of clear_requested showed a new request, during the whole sweep;
 * xpfd does not rewrite the filter before the worker's release store of clear_done ends it
 * (a new clear is refused meanwhile). xpfd sweeps a FAILED worker's partition itself
 * with the filter it wrote, and a PARKED queue's keeper (xpfd) reads it as a worker does:
 * xpfd's one thread writes the filter only between the keeper's passes. */
struct xpf_clear_filter {
	uint32_t match;             /* enum xpf_clear_match */
	uint8_t proto;
	uint8_t src_family;         /* 4 or 6 */
	uint8_t src_len;
	uint8_t dst_family;
	uint8_t dst_len;
	uint8_t reserved;
	uint16_t sport;             /* host byte order */
	uint16_t dport;
	uint16_t if_in;             /* bit n = interface slot n */
	uint16_t if_out;
	uint16_t n_policies;        /* entries of `policies` in use */
	uint32_t policy_epoch;      /* the policy epoch whose ids `policies` are */
	uint8_t src[16];            /* network order, IPv4 in the first 4 bytes */
	uint8_t dst[16];
	uint16_t policies[XPF_CLEAR_MAX_POLICIES]; /* policy ids (XPF_SESS_POLICY_DEFAULT: the default policy) */
	uint8_t reserved2[8];
};
_Static_assert(sizeof(struct xpf_clear_filter) == 192, "clear filter: three cache lines (the worker block's rings stay aligned)");
_Static_assert(XPF_MAX_IFACES <= 16, "interface bitmaps of the clear filter are 16 bits");

/* ---------------------------------------------------------------- packet trace */

/* One direction of a flow, as it appears on the wire. Ports in network byte order;
 * ICMP/ICMPv6 carry icmpKeyPorts (Parse.swift: from the echo identifier and the type).
 * IPv4 addresses use the first 4 bytes of the 16, the rest zero. */
struct xpf_flow_tuple {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
};

/* Packet trace (issue 9 §1, Pipeline/Trace.swift): `xpfctl trace` / `xpfctl monitor security
 * packet-drop`. xpfd arms a filter in every worker block; a worker records each stage's
 * decision for the packets that match, up to `count` of them, into its trace ring; xpfd
 * drains the rings for xpfctl. Off (count 0), a worker pays one load and one predictable
 * branch per batch. */

/* The stages a trace record names, in the order of the first path (Process.swift), as
 * X(NAME, value, "name", "meaning"). A record's `stages` has bit `value` set for each stage
 * that ran; `decided` names the one that decided the packet's fate. */
#define XPF_TRACE_STAGES(X) \
	X(PARSE, 0, "parse", "Ethernet, IP and L4 headers; TTL / hop limit (after the lookup and the input filter)") \
	X(SESSION, 1, "session", "session lookup: a hit takes the fast path, a miss the first path") \
	X(ICMP_ERROR, 2, "icmp-error", "an ICMP error forwarded only for the session of the packet it quotes") \
	X(RECHECK, 3, "recheck", "a session decided under an older policy epoch, decided again") \
	X(ROUTE, 4, "route", "forwarding decision and egress MTU") \
	X(TCP_CHECK, 5, "tcp-syn-check", "a TCP flow starts with a SYN") \
	X(ZONES, 6, "zones", "zones of the ingress and egress interfaces (a session hit: its sides)") \
	X(POLICY, 7, "policy", "security policy lookup") \
	X(INSTALL, 8, "install", "session installed, both directions") \
	X(REWRITE, 9, "rewrite", "next hop, MACs, TTL / hop limit: sent or parked") \
	X(FILTER_IN, 10, "filter-input", "the ingress interface's input filter (every packet, right after the session lookup)") \
	X(FILTER_OUT, 11, "filter-output", "the egress interface's output filter (every packet that is to be sent)")

enum xpf_trace_stage {
#define XPF_TRACE_STAGE_ENUM(name, value, text, meaning) XPF_TRACE_##name = value,
	XPF_TRACE_STAGES(XPF_TRACE_STAGE_ENUM)
#undef XPF_TRACE_STAGE_ENUM
	XPF_TRACE_STAGE_COUNT
};

/* The name of trace stage `s` ("parse", "session", ...), or NULL. */
static inline const char *xpf_trace_stage_name(unsigned s) {
	switch (s) {
#define XPF_TRACE_STAGE_NAME(name, value, text, meaning) case value: return text;
	XPF_TRACE_STAGES(XPF_TRACE_STAGE_NAME)
#undef XPF_TRACE_STAGE_NAME
	}
	return 0;
}

/* What became of a traced packet (xpf_trace_record.action). */
enum xpf_trace_action {
	XPF_TRACE_TRANSMIT = 0, /* sent out of `egress` */
	XPF_TRACE_DROP = 1,     /* dropped, `reason` */
	XPF_TRACE_PARK = 2,     /* held for its next hop's link-layer address on `egress` */
	XPF_TRACE_REPLY = 3,    /* dropped (`reason`), and the frame rewritten into a reply (ICMP error,
	                         * TCP RST) sent back out of `egress`, the ingress interface */
};

/* Which conditions of xpf_trace_filter hold (every one set must; none = every packet). */
enum xpf_trace_match {
	XPF_TRACE_SRC_PREFIX = 1,   /* the packet's source address in src/src_len (family src_family) */
	XPF_TRACE_DST_PREFIX = 2,
	XPF_TRACE_PROTO = 4,
	XPF_TRACE_SRC_PORT = 8,     /* TCP/UDP source port (host order) */
	XPF_TRACE_DST_PORT = 16,
	XPF_TRACE_IF_IN = 32,       /* the ingress interface slot is in the if_in bitmap */
};
/* xpf_trace_filter.flags */
enum xpf_trace_flags {
	XPF_TRACE_DROPS_ONLY = 1,   /* record only packets the dataplane drops (monitor security packet-drop) */
};
#define XPF_TRACE_RING_SIZE 128    /* records per worker ring: also the most one trace records per worker */

/* The filter of a trace (xpf_worker_block.trace_filter). Writer: xpfd, under the block's
 * trace_seq seqlock (store trace_seq odd, release fence, write the filter, store trace_seq
 * even with release). Reader: the worker, between batches: load trace_seq with acquire;
 * when it is even and new, copy the filter, acquire fence, load trace_seq again, and adopt
 * the copy only when it did not change (else it tries again next loop pass). */
struct xpf_trace_filter {
	uint32_t id;                /* xpfd's number for this trace; its records carry it. 0: none */
	uint32_t count;             /* packets this worker records under it, at most XPF_TRACE_RING_SIZE; 0 disarms */
	uint32_t match;             /* enum xpf_trace_match */
	uint8_t flags;              /* enum xpf_trace_flags */
	uint8_t proto;
	uint8_t src_family;         /* 4 or 6 */
	uint8_t src_len;
	uint8_t dst_family;
	uint8_t dst_len;
	uint16_t sport;             /* host byte order */
	uint16_t dport;
	uint16_t if_in;             /* bit n = interface slot n */
	uint8_t src[16];            /* network order, IPv4 in the first 4 bytes */
	uint8_t dst[16];
	uint8_t reserved[8];
};
_Static_assert(sizeof(struct xpf_trace_filter) == 64, "trace filter: one cache line");

/* One traced packet: its flow, then each stage's decision. Written by the worker into the
 * entry its trace ring reserved while the packet goes through the stages, submitted after
 * (worker → xpfd ring, xpf_ring_hdr protocol). Fields of a stage that did not run (its bit
 * clear in `stages`) are 0. */
struct xpf_trace_record {
	uint64_t time_ns;           /* CLOCK_REALTIME of the worker loop pass that processed it */
	uint32_t trace_id;          /* xpf_trace_filter.id it was recorded under */
	uint32_t generation;        /* low 32 bits of the configuration generation that decided it */
	/* The packet. family 0: it did not parse (no flow). */
	uint8_t family;
	uint8_t proto;
	uint8_t ingress;            /* interface slot it arrived on */
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t length;            /* frame bytes */
	struct xpf_flow_tuple flow; /* as the session key holds it: ports in network order (ICMP: icmpKeyPorts) */
	/* The stages. */
	uint16_t stages;            /* bit s: stage s (enum xpf_trace_stage) ran */
	uint8_t decided;            /* enum xpf_trace_stage that decided the packet's fate */
	uint8_t action;             /* enum xpf_trace_action */
	uint8_t reason;             /* enum xpf_drop_reason (DROP, REPLY) */
	uint8_t egress;             /* ROUTE: the egress slot; REPLY: the ingress slot the reply leaves by */
	uint8_t direction;          /* SESSION hit: 0 the session's forward direction, 1 reverse */
	uint8_t hit;                /* SESSION: 1 hit, 0 miss */
	uint32_t session;           /* SESSION hit, INSTALL: the record index */
	uint32_t from_zone;         /* ZONES: ZONES indices, XPF_CFG_NONE for an interface in no zone */
	uint32_t to_zone;
	uint16_t policy;            /* POLICY: the deciding policy id (XPF_SESS_POLICY_DEFAULT: the default policy) */
	uint8_t policy_action;      /* POLICY: enum xpf_policy_action */
	uint8_t recheck_kept;       /* RECHECK: 1 still permitted, 0 closed */
	uint8_t icmp_matched;       /* ICMP_ERROR: 1 the quoted packet's session exists */
	uint8_t reserved[3];
	/* The pipeline's time for this packet (parse to action, CLOCK_MONOTONIC around
	 * Pipeline.process): the sampled cost of a traced packet (issue 11 §1). Includes the
	 * two clock reads; the hot path (untraced packets) reads no clock per packet. */
	uint32_t process_ns;
	uint8_t reserved2[4];
	/* Each stage's share of it (Pipeline/StageClock.swift): a clock read as each step of
	 * the pipeline ends, the time since the previous read added to that step's stage
	 * (enum xpf_trace_stage; a stage with two steps, like the parse stage's TTL check,
	 * sums); each includes one clock read. 0 for a stage the packet never reached. A stage
	 * that only checked whether it applied (the ICMP error stage for a packet that is no
	 * ICMP error, a filter stage of an interface without a filter) has the time of that
	 * check though `stages` does not list it; a session hit's check of its sides, with its
	 * re-check, and its accounting are charged to SESSION. */
	uint32_t stage_ns[XPF_TRACE_STAGE_COUNT];
};
_Static_assert(sizeof(struct xpf_trace_record) == 144, "trace record size");

/* Worker → xpfd request: resolve a neighbour. */
struct xpf_neigh_request {
	uint8_t family;
	uint8_t iface_slot;
	uint16_t reserved;
	uint32_t ifindex;
	uint8_t addr[16];
	uint64_t reserved2;
};

struct xpf_worker_block {
	/* Identity line. pid/core/numa_node/queue: written by xpfd before spawn and by
	 * the worker after it pinned itself, and by xpfd when it keeps the queue's partition
	 * (pid 0, core and node -1: no process runs; relaxed; informational for tools).
	 * state: worker stores RUNNING with release once its sockets are registered;
	 * xpfd stores EXITED/FAILED/PARKED after reaping, PARKED for a queue it never
	 * started, STARTING before it spawns. */
	int32_t pid;
	uint32_t queue;
	int32_t core;
	int32_t numa_node;
	uint32_t state;
	uint32_t restarts;            /* xpfd */
	uint64_t started_ns;          /* CLOCK_MONOTONIC, worker */
	uint64_t heartbeat_ns;        /* CLOCK_MONOTONIC, worker, relaxed store every loop */
	uint64_t config_generation_seen; /* worker, store-release after it switched */
	uint64_t fib_version_seen;       /* worker, store-release after it switched */
	uint64_t reserved_line0;

	uint64_t stats_seq;       /* starts the second line (offset 64) */
	struct xpf_worker_stats stats;
	/* `clear security flow session`: xpfd writes clear_filter, then stores
	 * clear_requested = n (release); the worker, between batches, removes every session
	 * of its partition that the filter matches and stores clear_done = n (release). A
	 * restarted worker honours a pending request at start. */
	uint64_t clear_requested;
	uint64_t clear_done;
	struct xpf_clear_filter clear_filter;

	/* The kernel's statistics of the worker's sockets (struct xpf_worker_socket_stats):
	 * socket_stats_seq is their seqlock (writer: the worker, every publishIntervalNs;
	 * odd = update in progress, the closing even store is a release; readers as for
	 * stats_seq). A worker that finds either sequence odd at start (its predecessor was
	 * killed between the two stores) stores it + 1 before anything else reads it. */
	uint64_t socket_stats_seq;
	uint8_t pad_socket[56];
	struct xpf_worker_socket_stats socket_stats;

	/* worker (producer) → xpfd (consumer) */
	struct xpf_ring_hdr req_ring;
	struct xpf_neigh_request req_entries[XPF_REQ_RING_SIZE];

	/* Security events (xpf_event_abi.h): worker (producer) → xpfd (consumer, drains
	 * them into syslog). A full ring drops the event (stats.events_dropped). */
	struct xpf_ring_hdr event_ring;
	struct xpf_event event_entries[XPF_EVENT_RING_SIZE];

	/* Recent exceptions (xpf_event_abi.h): the worker writes entry n % size, then stores
	 * exceptions_written = n + 1 with release; readers load it with acquire and read the
	 * last min(n, size) entries, each under its own seqlock. */
	uint64_t exceptions_written;
	uint8_t pad_exc[56];
	struct xpf_exception exceptions[XPF_EXCEPTIONS_PER_WORKER];

	/* Packet trace (struct xpf_trace_filter): trace_seq is the seqlock over trace_filter,
	 * written by xpfd only. Trace ring: worker (producer) → xpfd (consumer, relays the records
	 * to xpfctl); a worker writes at most trace_filter.count records per trace, and a full
	 * ring refuses the record (counted in trace_ring.dropped). */
	uint64_t trace_seq;
	uint8_t pad_trace[56];
	struct xpf_trace_filter trace_filter;
	struct xpf_ring_hdr trace_ring;
	struct xpf_trace_record trace_entries[XPF_TRACE_RING_SIZE];
};
_Static_assert(offsetof(struct xpf_worker_block, stats_seq) == 64, "stats on their own lines");
_Static_assert(offsetof(struct xpf_worker_block, socket_stats_seq) % XPF_CACHELINE == 0, "socket statistics on their own lines");
_Static_assert(offsetof(struct xpf_worker_block, req_ring) % XPF_CACHELINE == 0, "ring aligned");
_Static_assert(offsetof(struct xpf_worker_block, event_ring) % XPF_CACHELINE == 0, "event ring aligned");
_Static_assert(offsetof(struct xpf_worker_block, trace_seq) % XPF_CACHELINE == 0, "trace seqlock on its own line");
_Static_assert(offsetof(struct xpf_worker_block, trace_ring) % XPF_CACHELINE == 0, "trace ring aligned");
_Static_assert(sizeof(struct xpf_worker_block) % XPF_CACHELINE == 0, "blocks tile cache lines");

/* ---------------------------------------------------------------- sessions */

enum xpf_session_state { XPF_SESS_FREE = 0, XPF_SESS_BUSY = 1, XPF_SESS_LIVE = 2 };
/* xpf_session.tcp_state: where a TCP session is in its handshake and teardown,
 * as X(NAME, value, "name", "meaning"). Written by whichever worker forwards a packet of
 * it (TCPStage.swift, trackTCP); its idle timeout follows (xpf_config_snapshot
 * idleTimeout): initial for INITIAL and SYN_ACK, established for ESTABLISHED, closing
 * for the rest. "Initiator": the side that sent the session's first packet (direction 0). */
#define XPF_TCP_STATES(X) \
	X(NONE, 0, "none", "not TCP") \
	X(INITIAL, 1, "initial", "the initiator's SYN (with no-syn-check: any first packet)") \
	X(ESTABLISHED, 2, "established", "the initiator ACKed the SYN-ACK, or an ACK went each way") \
	X(CLOSING, 3, "closing", "time-wait: FIN both ways and then an ACK, or an RST") \
	X(SYN_ACK, 4, "syn-ack", "the responder's SYN-ACK") \
	X(FIN_INITIATOR, 5, "fin-initiator", "FIN from the initiator only") \
	X(FIN_RESPONDER, 6, "fin-responder", "FIN from the responder only") \
	X(FIN_BOTH, 7, "fin-both", "FIN from both sides, the last not yet ACKed")

enum xpf_tcp_state {
#define XPF_TCP_ENUM(name, value, text, meaning) XPF_TCP_##name = value,
	XPF_TCP_STATES(XPF_TCP_ENUM)
#undef XPF_TCP_ENUM
};

/* The name of TCP state `s` ("initial", "established", ...), or NULL for a value no state has. */
static inline const char *xpf_tcp_state_name(unsigned s) {
	switch (s) {
#define XPF_TCP_NAME(name, value, text, meaning) case value: return text;
	XPF_TCP_STATES(XPF_TCP_NAME)
#undef XPF_TCP_NAME
	}
	return 0;
}
/* xpf_session.flags. FIN_SEEN / RST_SEEN: what closed a TCP session (the close event's
 * reason). LOG_CLOSE: the permitting policy says `then log session-close` (set with the
 * verdict: at insert and by a re-check). POLICY_CLOSED: a re-check under a newer policy
 * epoch found the session no longer permitted; every packet of it is dropped and
 * its owner removes it with reason "policy change". COUNT: the permitting policy says
 * `then count` (set and cleared with the verdict, as LOG_CLOSE). Changed with atomic or / and only
 * (xpf_sess_or_flags, xpf_sess_and_flags), so concurrent workers never lose a bit. */
enum xpf_session_flags {
	XPF_SESS_FIN_SEEN = 1,
	XPF_SESS_RST_SEEN = 2,
	XPF_SESS_LOG_CLOSE = 4,
	XPF_SESS_POLICY_CLOSED = 8,
	XPF_SESS_COUNT = 16, /* the permitting policy says `then count`: its counters take the session's at close */
};


/* A session record: 128 bytes, two cache lines.
 * seq_state: bits 0-1 = enum xpf_session_state, bits 2-31 = sequence, bumped on
 *   every transition into BUSY (so each BUSY phase has its own word). Only the owning worker (the record lies
 *   in its partition) moves it, in this order (Sessions/SessionTable.pml checks it):
 *     insert  FREE→BUSY, fence, write the fields, index both directions, →LIVE;
 *     remove  LIVE→BUSY, tombstone both index entries, →FREE.
 *   So at every instant a LIVE record is indexed in both directions and no index slot
 *   refers to a FREE record; a BUSY record may be referenced by 0, 1 or 2 slots. A
 *   worker killed mid-operation leaves at most one BUSY record in its partition; its
 *   successor un-indexes it (with the key fields it holds) and frees it at start.
 *   The owner stores BUSY, then a release fence, then the fields (relaxed atomics),
 *   then LIVE with release. Readers (lookups, tools) load-acquire seq_state, check LIVE,
 *   read family/proto/tuple with relaxed atomic loads, acquire fence, re-load seq_state
 *   and discard the read if it changed (a seqlock).
 * last_seen_ms, packets, bytes, tcp_state: updated by whichever worker forwards a
 *   packet of the session (relaxed atomics; the other direction may arrive on
 *   another queue).
 * Both tuples start 8-byte aligned, so a lookup compares one with four 8-byte and
 *   one 4-byte atomic load (xpf_sess_key_equal). */
struct xpf_session {
	uint32_t seq_state;
	uint32_t generation;      /* low 32 bits of the config generation whose policy decided it (at
	                           * insert, or the last re-check). Stale when older than the running
	                           * snapshot's policy_epoch (signed 32-bit difference < 0): the next
	                           * packet re-checks it. Written by the owner at insert (the
	                           * record is BUSY), by any forwarding worker on a re-check: policy
	                           * and flags first, then generation with release; readers load it
	                           * with acquire (xpf_sess_generation), so a reader that sees the new
	                           * generation sees the verdict stored before it. */
	uint32_t last_seen_ms;    /* CLOCK_MONOTONIC milliseconds, wrapping */
	uint32_t created_s;       /* CLOCK_MONOTONIC seconds */
	struct xpf_flow_tuple fwd; /* as the first packet carried it */
	uint8_t family;           /* 4 or 6 */
	uint8_t proto;
	uint8_t tcp_state;        /* enum xpf_tcp_state */
	uint8_t flags;            /* enum xpf_session_flags; relaxed, by whichever worker forwards */
	struct xpf_flow_tuple rev; /* as replies carry it (after NAT, when NAT lands) */
	uint8_t if_in;            /* iface slot the forward direction arrived on */
	uint8_t if_out;           /* iface slot the forward direction left by */
	uint16_t policy;          /* POLICIES id (under `generation`) that permitted it, or
	                           * XPF_SESS_POLICY_DEFAULT. Its zones are those of if_in / if_out
	                           * under the same generation. The owning worker is the partition
	                           * the record index lies in (SessionTable.swift). */
	uint64_t packets[2];      /* [0] forward, [1] reverse */
	uint64_t bytes[2];
};
_Static_assert(offsetof(struct xpf_session, fwd) == 16 && offsetof(struct xpf_session, rev) == 56,
               "tuples 8-byte aligned (xpf_sess_key_equal loads them as words)");
_Static_assert(offsetof(struct xpf_session, packets) == 96, "counters on the second line");
_Static_assert(offsetof(struct xpf_session, if_out) == offsetof(struct xpf_session, if_in) + 1,
               "if_in and if_out adjacent: the fast path reads both as one 16-bit word");

/* Index: open addressing over 64-byte buckets of 8 slots, linear probing bucket by
 * bucket. A slot is 0 (empty, ends a probe), XPF_INDEX_TOMBSTONE (deleted, probe
 * continues) or tag << 32 | ref, ref = (record_index << 1 | direction) + 1.
 * Inserts CAS 0/tombstone → value; deletes CAS value → tombstone. Any worker may
 * insert or delete; readers verify the record's tuple, so a stale slot is harmless. */
#define XPF_INDEX_TOMBSTONE 0xffffffffffffffffULL
#define XPF_INDEX_SLOTS 8
struct xpf_index_bucket {
	uint64_t slot[XPF_INDEX_SLOTS];
};

/* ---------------------------------------------------------------- helpers */

/* Hash of sizeof/offsetof of every struct above (FNV-1a). Equal binaries ⇒ equal hash. */
uint64_t xpf_abi_layout_hash(void);

#endif
