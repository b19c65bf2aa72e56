/* The C floor of the in-memory benchmark (tools/xpf-bench, issue 9 "Performance"): the
 * least work an IPv4 forwarder can do per packet — parse Ethernet + IPv4 + UDP/TCP ports,
 * look the 5-tuple up in an open-addressing hash table, rewrite both MACs, decrement the
 * TTL with an incremental header checksum update (RFC 1624). xpf's session hit is reported
 * as a ratio against it. Used only by xpf-bench; never linked into the worker. */
#ifndef XPF_CFLOOR_H
#define XPF_CFLOOR_H

#include <stdint.h>

struct xpf_cfloor;

/* Verdicts written per frame by xpf_cfloor_batch. */
enum { XPF_CFLOOR_DROP = 0, XPF_CFLOOR_TX = 1 };

/* A table of `capacity` slots (a power of two), empty. NULL on allocation failure or a
 * capacity that is not a power of two. */
struct xpf_cfloor *xpf_cfloor_create(uint32_t capacity);
void xpf_cfloor_destroy(struct xpf_cfloor *t);

/* Installs, for each of the `count` frames (`descs` points at `struct xdp_desc`s whose
 * addr is an offset into `umem`), its forward and its reverse 5-tuple (as xpf installs
 * both directions of a session), both resolving to egress `if_out` and the 12 bytes
 * `macs` (destination MAC then source MAC). Returns the number of frames installed; less
 * than `count` if a frame does not parse or the table is full. */
uint32_t xpf_cfloor_install(struct xpf_cfloor *t, const uint8_t *umem, const void *descs, uint32_t count,
			    uint16_t if_out, const uint8_t macs[12]);

/* Forwards the `count` frames in place: parse, lookup, MAC rewrite, TTL decrement.
 * Writes XPF_CFLOOR_TX (with the egress in `if_out[i]`) or XPF_CFLOOR_DROP per frame
 * into `verdicts[i]`; returns the number transmitted. */
uint32_t xpf_cfloor_batch(const struct xpf_cfloor *t, uint8_t *umem, const void *descs, uint32_t count,
			  uint8_t *verdicts, uint16_t *if_out);

#endif
