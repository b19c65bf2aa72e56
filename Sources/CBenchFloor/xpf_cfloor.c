/* The benchmark's C floor: see include/xpf_cfloor.h. Written the way a competent C
 * programmer would write the minimum, not tuned: one pass per frame, no prefetching. */
#include "xpf_cfloor.h"

#include <linux/if_xdp.h>
#include <stdlib.h>
#include <string.h>

enum {
	ETH_HLEN_ = 14,
	ETH_TYPE_OFF = 12,
	ETH_P_IPV4 = 0x0800,
	IPV4_MIN_HLEN = 20,
	IPV4_VERSION_IHL5 = 0x45,
	IP_TTL_OFF = 8,
	IP_CSUM_OFF = 10,
	IP_SRC_OFF = 12,
	IP_DST_OFF = 16,
	IP_FRAG_OFF = 6,
	IP_PROTO_OFF = 9,
	IP_FRAG_MASK = 0x3fff,  /* MF + fragment offset */
	PROTO_TCP = 6,
	PROTO_UDP = 17,
	L4_PORTS_LEN = 4,
	MAC_PAIR_LEN = 12,
	MAX_PROBES = 64,  /* bounded probing: a lookup never walks more than this */
};

/* One slot: the key (addresses and ports in wire order) and what a hit rewrites. */
struct slot {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t used;
	uint16_t if_out;
	uint8_t macs[MAC_PAIR_LEN];
};

struct xpf_cfloor {
	struct slot *slots;
	uint32_t mask;
};

struct key {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
};

static inline uint16_t load_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void store_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static inline uint32_t hash_key(const struct key *k)
{
	/* Two 64-bit multiplies and a fold: a good spread for a power-of-two table. */
	uint64_t a = ((uint64_t)k->src << 32 | k->dst) * 0x9e3779b97f4a7c15ull;
	uint64_t b = ((uint64_t)k->proto << 32 | (uint32_t)k->sport << 16 | k->dport) * 0xc2b2ae3d27d4eb4full;
	uint64_t h = a ^ b;
	return (uint32_t)(h ^ h >> 32);
}

/* Parses the frame into `k`; 0 if it is not an unfragmented IPv4 UDP/TCP frame with
 * TTL > 1 and a 20-byte header (options are out of the floor's scope). */
static inline int parse(const uint8_t *f, uint32_t len, struct key *k)
{
	if (len < ETH_HLEN_ + IPV4_MIN_HLEN + L4_PORTS_LEN)
		return 0;
	const uint8_t *ip = f + ETH_HLEN_;
	if (load_be16(f + ETH_TYPE_OFF) != ETH_P_IPV4 || ip[0] != IPV4_VERSION_IHL5 || ip[IP_TTL_OFF] <= 1)
		return 0;
	k->proto = ip[IP_PROTO_OFF];
	if ((load_be16(ip + IP_FRAG_OFF) & IP_FRAG_MASK) || (k->proto != PROTO_UDP && k->proto != PROTO_TCP))
		return 0;
	memcpy(&k->src, ip + IP_SRC_OFF, sizeof k->src);
	memcpy(&k->dst, ip + IP_DST_OFF, sizeof k->dst);
	memcpy(&k->sport, ip + IPV4_MIN_HLEN, sizeof k->sport);
	memcpy(&k->dport, ip + IPV4_MIN_HLEN + 2, sizeof k->dport);
	return 1;
}

static inline int same(const struct slot *s, const struct key *k)
{
	return s->src == k->src && s->dst == k->dst && s->sport == k->sport && s->dport == k->dport &&
	       s->proto == k->proto;
}

static const struct slot *lookup(const struct xpf_cfloor *t, const struct key *k)
{
	uint32_t i = hash_key(k);
	for (int p = 0; p < MAX_PROBES; p++, i++) {
		const struct slot *s = &t->slots[i & t->mask];
		if (!s->used)
			return NULL;
		if (same(s, k))
			return s;
	}
	return NULL;
}

static int insert(struct xpf_cfloor *t, const struct key *k, uint16_t if_out, const uint8_t *macs)
{
	uint32_t i = hash_key(k);
	for (int p = 0; p < MAX_PROBES; p++, i++) {
		struct slot *s = &t->slots[i & t->mask];
		if (s->used && !same(s, k))
			continue;
		s->src = k->src; s->dst = k->dst; s->sport = k->sport; s->dport = k->dport; s->proto = k->proto;
		s->if_out = if_out;
		memcpy(s->macs, macs, MAC_PAIR_LEN);
		s->used = 1;
		return 1;
	}
	return 0;
}

struct xpf_cfloor *xpf_cfloor_create(uint32_t capacity)
{
	if (capacity == 0 || (capacity & (capacity - 1)))
		return NULL;
	struct xpf_cfloor *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	t->slots = calloc(capacity, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = capacity - 1;
	return t;
}

void xpf_cfloor_destroy(struct xpf_cfloor *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

uint32_t xpf_cfloor_install(struct xpf_cfloor *t, const uint8_t *umem, const void *descs, uint32_t count,
			    uint16_t if_out, const uint8_t macs[12])
{
	const struct xdp_desc *d = descs;
	uint32_t n = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct key k, r;
		if (!parse(umem + d[i].addr, d[i].len, &k))
			break;
		r.src = k.dst; r.dst = k.src; r.sport = k.dport; r.dport = k.sport; r.proto = k.proto;
		if (!insert(t, &k, if_out, macs) || !insert(t, &r, if_out, macs))
			break;
		n++;
	}
	return n;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for one 16-bit word; arguments in host order. */
static inline uint16_t csum_update16(uint16_t hc, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint32_t)(uint16_t)~hc + (uint16_t)~old + new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t xpf_cfloor_batch(const struct xpf_cfloor *t, uint8_t *umem, const void *descs, uint32_t count,
			  uint8_t *verdicts, uint16_t *if_out)
{
	const struct xdp_desc *d = descs;
	uint32_t tx = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *f = umem + d[i].addr;
		struct key k;
		const struct slot *s;
		verdicts[i] = XPF_CFLOOR_DROP;
		if (!parse(f, d[i].len, &k) || !(s = lookup(t, &k)))
			continue;
		memcpy(f, s->macs, MAC_PAIR_LEN);
		uint8_t *ip = f + ETH_HLEN_;
		uint16_t old = load_be16(ip + IP_TTL_OFF);
		uint16_t new = (uint16_t)(old - 0x0100);  /* TTL is the high byte of the TTL|protocol word */
		store_be16(ip + IP_TTL_OFF, new);
		store_be16(ip + IP_CSUM_OFF, csum_update16(load_be16(ip + IP_CSUM_OFF), old, new));
		verdicts[i] = XPF_CFLOOR_TX;
		if_out[i] = s->if_out;
		tx++;
	}
	return tx;
}
