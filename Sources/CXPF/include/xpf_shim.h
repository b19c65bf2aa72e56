/* xpf_shim.h — the C surface Swift sees: libxdp's AF_XDP rings, libbpf, libnuma,
 * the shared ABI, and tiny atomic helpers for fields in shared memory.
 *
 * The atomics are static inline so the compiler inlines them into Swift callers.
 * Each names its ordering; callers say which store/load it pairs with. */
#ifndef XPF_SHIM_H
#define XPF_SHIM_H

#include <stdint.h>
#include <stdbool.h>
#include <xdp/xsk.h>
#include <xdp/libxdp.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <numa.h>
#include "xpf_abi.h"
#include "xpf_netlink.h"
#include "xpf_sys.h"

static inline uint64_t xpf_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t xpf_load_relaxed_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void xpf_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void xpf_store_relaxed_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t xpf_fetch_add_relaxed_u64(uint64_t *p, uint64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline bool xpf_cas_u64(uint64_t *p, uint64_t expected, uint64_t desired) {
	return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
/* 16-byte compare-and-swap of a 16-byte aligned pair (cmpxchg16b; every x86-64 CPU that
 * runs AF_XDP has it): *p == {e0, e1} is replaced by {d0, d1}. On failure {e0, e1} receive
 * what *p held — one atomic read of the pair, so a caller may also read with a swap of a
 * guess for itself. Lock-free across processes (no libatomic lock table). */
__attribute__((target("cx16")))
static inline bool xpf_cas_pair_u64(uint64_t *p, uint64_t *e0, uint64_t *e1, uint64_t d0, uint64_t d1) {
	unsigned __int128 expected = (unsigned __int128)*e1 << 64 | *e0;
	unsigned __int128 desired = (unsigned __int128)d1 << 64 | d0;
	unsigned __int128 seen = __sync_val_compare_and_swap((unsigned __int128 *)p, expected, desired);
	*e0 = (uint64_t)seen;
	*e1 = (uint64_t)(seen >> 64);
	return seen == expected;
}
static inline uint32_t xpf_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t xpf_load_relaxed_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void xpf_store_release_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void xpf_store_relaxed_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void xpf_store_relaxed_u8(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint8_t xpf_load_relaxed_u8(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
/* Prefetch a cache line for reading (a hint: never faults, never changes state). */
static inline void xpf_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
/* Full fence: orders the seqlock's payload stores/loads against its sequence word. */
static inline void xpf_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void xpf_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void xpf_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

/* Addresses of fields that other processes read or write concurrently. Swift takes
 * them once and then uses the atomics above; taking them in C keeps the layout
 * knowledge in one language. */
static inline uint64_t *xpf_wb_heartbeat(struct xpf_worker_block *w) { return &w->heartbeat_ns; }
static inline uint64_t *xpf_wb_config_seen(struct xpf_worker_block *w) { return &w->config_generation_seen; }
static inline uint64_t *xpf_wb_fib_seen(struct xpf_worker_block *w) { return &w->fib_version_seen; }
static inline uint64_t *xpf_wb_stats_seq(struct xpf_worker_block *w) { return &w->stats_seq; }
static inline uint32_t *xpf_wb_state(struct xpf_worker_block *w) { return &w->state; }
static inline uint64_t *xpf_wb_clear_requested(struct xpf_worker_block *w) { return &w->clear_requested; }
static inline uint64_t *xpf_wb_clear_done(struct xpf_worker_block *w) { return &w->clear_done; }
static inline struct xpf_clear_filter *xpf_wb_clear_filter(struct xpf_worker_block *w) { return &w->clear_filter; }
static inline struct xpf_worker_stats *xpf_wb_stats(struct xpf_worker_block *w) { return &w->stats; }
static inline struct xpf_ring_hdr *xpf_wb_req_ring(struct xpf_worker_block *w) { return &w->req_ring; }
static inline struct xpf_neigh_request *xpf_wb_req_entries(struct xpf_worker_block *w) { return w->req_entries; }
static inline struct xpf_ring_hdr *xpf_wb_event_ring(struct xpf_worker_block *w) { return &w->event_ring; }
static inline struct xpf_event *xpf_wb_event_entries(struct xpf_worker_block *w) { return w->event_entries; }
static inline uint64_t *xpf_wb_exceptions_written(struct xpf_worker_block *w) { return &w->exceptions_written; }
static inline struct xpf_exception *xpf_wb_exceptions(struct xpf_worker_block *w) { return w->exceptions; }
static inline uint64_t *xpf_wb_trace_seq(struct xpf_worker_block *w) { return &w->trace_seq; }
static inline struct xpf_trace_filter *xpf_wb_trace_filter(struct xpf_worker_block *w) { return &w->trace_filter; }
static inline struct xpf_ring_hdr *xpf_wb_trace_ring(struct xpf_worker_block *w) { return &w->trace_ring; }
static inline struct xpf_trace_record *xpf_wb_trace_entries(struct xpf_worker_block *w) { return w->trace_entries; }
static inline uint32_t *xpf_ring_producer(struct xpf_ring_hdr *r) { return &r->producer; }
static inline uint32_t *xpf_ring_consumer(struct xpf_ring_hdr *r) { return &r->consumer; }
static inline uint64_t *xpf_ring_dropped(struct xpf_ring_hdr *r) { return &r->dropped; }

/* Session record fields touched on every packet (see struct xpf_session for who
 * writes what). */
static inline uint32_t xpf_sess_load_state(const struct xpf_session *s) { return __atomic_load_n(&s->seq_state, __ATOMIC_ACQUIRE); }
static inline void xpf_sess_store_state(struct xpf_session *s, uint32_t v) { __atomic_store_n(&s->seq_state, v, __ATOMIC_RELEASE); }
/* Per-packet accounting. Each direction of a flow arrives on one queue (RSS hashes a
 * direction consistently), so its counters have one writer in practice; a relaxed
 * load + store (not a locked RMW, ~20 cycles each) is enough. Should two workers ever
 * update the same direction at once, an increment may be lost: these are statistics,
 * never a security decision, and memory stays consistent. */
static inline void xpf_sess_touch(struct xpf_session *s, unsigned dir, uint32_t now_ms, uint64_t bytes)
{
	unsigned d = dir & 1;
	__atomic_store_n(&s->last_seen_ms, now_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&s->packets[d], __atomic_load_n(&s->packets[d], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->bytes[d], __atomic_load_n(&s->bytes[d], __ATOMIC_RELAXED) + bytes, __ATOMIC_RELAXED);
}
static inline uint32_t xpf_sess_last_seen(const struct xpf_session *s) { return __atomic_load_n(&s->last_seen_ms, __ATOMIC_RELAXED); }
static inline uint8_t xpf_sess_tcp_state(const struct xpf_session *s) { return __atomic_load_n(&s->tcp_state, __ATOMIC_RELAXED); }
static inline void xpf_sess_set_tcp_state(struct xpf_session *s, uint8_t v) { __atomic_store_n(&s->tcp_state, v, __ATOMIC_RELAXED); }
static inline uint8_t xpf_sess_flags(const struct xpf_session *s) { return __atomic_load_n(&s->flags, __ATOMIC_RELAXED); }
static inline void xpf_sess_set_flags(struct xpf_session *s, uint8_t v) { __atomic_store_n(&s->flags, v, __ATOMIC_RELAXED); }
static inline void xpf_sess_or_flags(struct xpf_session *s, uint8_t v) { __atomic_fetch_or(&s->flags, v, __ATOMIC_RELAXED); }
static inline void xpf_sess_and_flags(struct xpf_session *s, uint8_t v) { __atomic_fetch_and(&s->flags, v, __ATOMIC_RELAXED); }
/* generation: a re-check stores the verdict (policy, flags), then the generation with
 * release; a reader that then reads the verdict loads the generation with acquire
 * (xpf_sess_generation) and sees that verdict. The fast path only compares it with the
 * policy epoch and reads no verdict: relaxed (xpf_sess_generation_relaxed). */
static inline uint32_t xpf_sess_generation(const struct xpf_session *s) { return __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE); }
static inline uint32_t xpf_sess_generation_relaxed(const struct xpf_session *s) { return __atomic_load_n(&s->generation, __ATOMIC_RELAXED); }
static inline void xpf_sess_set_generation(struct xpf_session *s, uint32_t v) { __atomic_store_n(&s->generation, v, __ATOMIC_RELEASE); }
static inline uint16_t xpf_sess_policy(const struct xpf_session *s) { return __atomic_load_n(&s->policy, __ATOMIC_RELAXED); }
static inline void xpf_sess_set_policy(struct xpf_session *s, uint16_t v) { __atomic_store_n(&s->policy, v, __ATOMIC_RELAXED); }
static inline uint64_t xpf_sess_packets(const struct xpf_session *s, unsigned dir) { return __atomic_load_n(&s->packets[dir & 1], __ATOMIC_RELAXED); }
static inline uint64_t xpf_sess_bytes(const struct xpf_session *s, unsigned dir) { return __atomic_load_n(&s->bytes[dir & 1], __ATOMIC_RELAXED); }
static inline uint64_t *xpf_index_slot(struct xpf_index_bucket *b, unsigned i) { return &b->slot[i]; }

/* The session key fields (family, protocol, both tuples) under the record's seqlock
 * (struct xpf_session): the owner writes them while the record is BUSY, other workers'
 * lookups and the tools read them between two loads of seq_state. Both sides use
 * relaxed atomics, so the race the seqlock tolerates is not undefined behaviour (and
 * ThreadSanitizer sees it as intended); on x86-64 these are the plain moves a memcpy
 * or compare would use. A tuple is four 8-byte words and one 4-byte word (it starts
 * 8-byte aligned in the record, pinned in xpf_abi.h). `key` points at any 36 bytes in
 * private memory (unaligned is fine). */
static inline const struct xpf_flow_tuple *xpf_sess_tuple(const struct xpf_session *s, unsigned dir)
{
	return (dir & 1) ? &s->rev : &s->fwd;
}
static inline uint64_t xpf_sess_key_word(const void *key, unsigned at)
{
	uint64_t v;
	__builtin_memcpy(&v, (const uint8_t *)key + at, sizeof v);
	return v;
}
static inline bool xpf_sess_key_equal(const struct xpf_session *s, unsigned dir, uint8_t family, uint8_t proto,
                                      const void *key)
{
	/* Each record word is XORed with its key word right away (not all loaded first): the
	 * compiler keeps a handful of registers live instead of spilling ten. */
	const uint64_t *w = (const uint64_t *)(const void *)xpf_sess_tuple(s, dir);
	uint32_t k4;
	__builtin_memcpy(&k4, (const uint8_t *)key + 32, sizeof k4);
	uint64_t diff = __atomic_load_n(&w[0], __ATOMIC_RELAXED) ^ xpf_sess_key_word(key, 0);
	diff |= __atomic_load_n(&w[1], __ATOMIC_RELAXED) ^ xpf_sess_key_word(key, 8);
	diff |= __atomic_load_n(&w[2], __ATOMIC_RELAXED) ^ xpf_sess_key_word(key, 16);
	diff |= __atomic_load_n(&w[3], __ATOMIC_RELAXED) ^ xpf_sess_key_word(key, 24);
	diff |= __atomic_load_n((const uint32_t *)(w + 4), __ATOMIC_RELAXED) ^ k4;
	diff |= (uint64_t)(__atomic_load_n(&s->family, __ATOMIC_RELAXED) ^ family)
	      | (uint64_t)(__atomic_load_n(&s->proto, __ATOMIC_RELAXED) ^ proto);
	return diff == 0;
}
/* Copies one direction's key out of a record (relaxed loads; validate with seq_state). */
static inline void xpf_sess_load_key(const struct xpf_session *s, unsigned dir, uint8_t *family, uint8_t *proto,
                                     struct xpf_flow_tuple *out)
{
	const uint64_t *w = (const uint64_t *)(const void *)xpf_sess_tuple(s, dir);
	uint64_t k[4] = { __atomic_load_n(&w[0], __ATOMIC_RELAXED), __atomic_load_n(&w[1], __ATOMIC_RELAXED),
	                  __atomic_load_n(&w[2], __ATOMIC_RELAXED), __atomic_load_n(&w[3], __ATOMIC_RELAXED) };
	uint32_t k4 = __atomic_load_n((const uint32_t *)(w + 4), __ATOMIC_RELAXED);
	__builtin_memcpy(out, k, sizeof k);
	__builtin_memcpy((uint8_t *)out + 32, &k4, sizeof k4);
	*family = __atomic_load_n(&s->family, __ATOMIC_RELAXED);
	*proto = __atomic_load_n(&s->proto, __ATOMIC_RELAXED);
}
static inline void xpf_sess_store_tuple(struct xpf_flow_tuple *dst, const void *key)
{
	uint64_t *w = (uint64_t *)(void *)dst;
	uint32_t k4;
	__builtin_memcpy(&k4, (const uint8_t *)key + 32, sizeof k4);
	__atomic_store_n(&w[0], xpf_sess_key_word(key, 0), __ATOMIC_RELAXED);
	__atomic_store_n(&w[1], xpf_sess_key_word(key, 8), __ATOMIC_RELAXED);
	__atomic_store_n(&w[2], xpf_sess_key_word(key, 16), __ATOMIC_RELAXED);
	__atomic_store_n(&w[3], xpf_sess_key_word(key, 24), __ATOMIC_RELAXED);
	__atomic_store_n((uint32_t *)(w + 4), k4, __ATOMIC_RELAXED);
}
/* Owner only, while the record is BUSY (after xpf_fence_release): the key and the
 * fields other workers update per packet. */
static inline void xpf_sess_store_key(struct xpf_session *s, uint8_t family, uint8_t proto, const void *fwd,
                                      const void *rev)
{
	__atomic_store_n(&s->family, family, __ATOMIC_RELAXED);
	__atomic_store_n(&s->proto, proto, __ATOMIC_RELAXED);
	xpf_sess_store_tuple(&s->fwd, fwd);
	xpf_sess_store_tuple(&s->rev, rev);
}
static inline void xpf_sess_reset_activity(struct xpf_session *s, uint32_t now_ms, uint8_t tcp_state)
{
	__atomic_store_n(&s->last_seen_ms, now_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&s->tcp_state, tcp_state, __ATOMIC_RELAXED);
	for (unsigned d = 0; d < 2; d++) {
		__atomic_store_n(&s->packets[d], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->bytes[d], 0, __ATOMIC_RELAXED);
	}
}

/* errno after a failed libc call, for Swift (errno is a macro in glibc). */
int xpf_errno(void);

/* AF_XDP socket creation with xpf's defaults: no libxdp program load (xpfd owns the
 * XDP program), need-wakeup, copy or zero-copy as the driver allows. The first
 * socket of a UMEM passes fill/comp NULL to reuse the UMEM's own rings. Returns 0
 * or -errno. */
int xpf_xsk_create(struct xsk_socket **xsk, const char *ifname, uint32_t queue,
                   struct xsk_umem *umem, struct xsk_ring_cons *rx, struct xsk_ring_prod *tx,
                   struct xsk_ring_prod *fill, struct xsk_ring_cons *comp,
                   uint32_t rx_size, uint32_t tx_size);

/* The kernel's XDP_STATISTICS of an AF_XDP socket (linux/if_xdp.h), the counts the worker
 * publishes per interface (xpf_worker_stats.xsk_*): out[XPF_XSK_*]. 0 or -errno. */
enum xpf_xsk_stat { XPF_XSK_RX_RING_FULL, XPF_XSK_FILL_RING_EMPTY, XPF_XSK_RX_DROPPED, XPF_XSK_TX_RING_EMPTY, XPF_XSK_STATS };
int xpf_xsk_statistics(int fd, uint64_t out[XPF_XSK_STATS]);

/* Silence libbpf/libxdp's stderr chatter below warnings. */
void xpf_quiet_libbpf(void);

#endif
