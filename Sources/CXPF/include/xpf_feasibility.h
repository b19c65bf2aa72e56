/* xpf_feasibility.h — probes behind `xpfctl feasibility`: trial XDP attach,
 * trial AF_XDP bind, the ethtool ioctls (channels, RSS), the compressed kernel config.
 * Each trial undoes itself before it returns. Every function returns 0 / a count on
 * success and -errno on failure. */
#ifndef XPF_FEASIBILITY_H
#define XPF_FEASIBILITY_H

#include <stdint.h>
#include <stddef.h>
#include <linux/if_xdp.h>

/* Bytes the kernel reserves in front of a packet in every XDP buffer, AF_XDP frames
 * included: a UMEM frame holds frame_size - XPF_FEAS_XDP_HEADROOM - frame_headroom bytes
 * of packet (xp_create's frame_len). */
enum { XPF_FEAS_XDP_HEADROOM = 256 };

/* Native (driver) XDP: loads a two-instruction XDP_PASS program, attaches it to ifindex in
 * driver mode only where no program is attached (XDP_FLAGS_UPDATE_IF_NOEXIST: an existing
 * program is never replaced; that answers -EBUSY), and detaches exactly that program at
 * once (XDP_FLAGS_REPLACE with its fd). *detach_err receives the detach result (0 or
 * -errno): nonzero would mean the trial program is still attached. A refusal's reason as
 * the kernel gave it (extack), if any, goes to reason (NUL-terminated, "" if none).
 * Returns the attach result. */
int xpf_feas_native_xdp_trial(int ifindex, int *detach_err, char *reason, size_t reason_len);

/* AF_XDP: binds a socket with a small private UMEM (a few pages) to ifname's queue with
 * bind_flags (XDP_ZEROCOPY or XDP_COPY), loading no XDP program, then reads back the
 * mode the kernel chose (XDP_OPTIONS; *zero_copy = 1 for zero-copy) and closes
 * everything. Returns the bind result. */
int xpf_feas_xsk_trial(const char *ifname, uint32_t queue, uint32_t bind_flags, int *zero_copy);

/* Whether socket(AF_XDP) opens (0) or why not (-errno). */
int xpf_feas_af_xdp_socket(void);

/* ETHTOOL_GDRVINFO: driver name and bus address (each NUL-terminated, truncated to len). */
int xpf_feas_driver(const char *ifname, char *driver, size_t driver_len, char *bus, size_t bus_len);

struct xpf_feas_channels {
	uint32_t max_rx, max_tx, max_other, max_combined;
	uint32_t rx, tx, other, combined;
};
/* ETHTOOL_GCHANNELS. */
int xpf_feas_channels(const char *ifname, struct xpf_feas_channels *out);

/* ETHTOOL_GRXFH for one flow type (TCP_V4_FLOW, …): the RXH_* bit set it hashes on. */
int xpf_feas_rss_hash_fields(const char *ifname, uint32_t flow_type, uint64_t *fields);

/* ETHTOOL_GRSSH: the RSS indirection table of the default context into table[0..max),
 * returns its size (which may exceed max: only max entries are written). */
int xpf_feas_rss_indirection(const char *ifname, uint32_t *table, uint32_t max);

/* The flow types and hash bits of <linux/ethtool.h>, for Swift (macros it cannot see). */
enum {
	XPF_FEAS_TCP_V4_FLOW = 0x01, XPF_FEAS_UDP_V4_FLOW = 0x02,
	XPF_FEAS_TCP_V6_FLOW = 0x05, XPF_FEAS_UDP_V6_FLOW = 0x06,
	XPF_FEAS_RXH_L2DA = 1 << 1, XPF_FEAS_RXH_VLAN = 1 << 2, XPF_FEAS_RXH_L3_PROTO = 1 << 3,
	XPF_FEAS_RXH_IP_SRC = 1 << 4, XPF_FEAS_RXH_IP_DST = 1 << 5,
	XPF_FEAS_RXH_L4_B_0_1 = 1 << 6, XPF_FEAS_RXH_L4_B_2_3 = 1 << 7,
};

/* bind_flags of xpf_feas_xsk_trial (<linux/if_xdp.h>). */
enum { XPF_FEAS_BIND_COPY = XDP_COPY, XPF_FEAS_BIND_ZEROCOPY = XDP_ZEROCOPY };

/* Reads a gzip file (the kernel's /proc/config.gz) into a malloc'd buffer *out (caller
 * frees), returns its length. */
long xpf_feas_read_gzip(const char *path, char **out);

#endif
