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
static inline struct xpf_worker_stats *xpf_wb_stats(struct xpf_worker_block *w) { return &w->stats; }
static inline struct xpf_ring_hdr *xpf_wb_req_ring(struct xpf_worker_block *w) { return &w->req_ring; }
static inline struct xpf_neigh_request *xpf_wb_req_entries(struct xpf_worker_block *w) { return w->req_entries; }
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
static inline uint64_t xpf_sess_packets(const struct xpf_session *s, unsigned dir) { return __atomic_load_n(&s->packets[dir & 1], __ATOMIC_RELAXED); }
static inline uint64_t xpf_sess_bytes(const struct xpf_session *s, unsigned dir) { return __atomic_load_n(&s->bytes[dir & 1], __ATOMIC_RELAXED); }
static inline uint64_t *xpf_index_slot(struct xpf_index_bucket *b, unsigned i) { return &b->slot[i]; }

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

/* Silence libbpf/libxdp's stderr chatter below warnings. */
void xpf_quiet_libbpf(void);

#endif
