#define _GNU_SOURCE
#include "xpf_feasibility.h"
#include <xdp/xsk.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <zlib.h>

static void copy_out(char *dst, size_t len, const char *src)
{
	if (len == 0)
		return;
	strncpy(dst, src, len - 1);
	dst[len - 1] = 0;
}

#ifndef AF_XDP
#define AF_XDP 44
#endif

/* The kernel's extended ack of a refused attach ("virtio_net: Can't set XDP while host is
 * implementing GRO_HW/CSUM, …"): libbpf hands it to its print callback, which is swapped
 * for this one during the trial (xpfctl is single-threaded). */
#define EXTACK_PREFIX "libbpf: Kernel error message: "
static char *extack_buf;
static size_t extack_len;

static int capture_extack(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	(void)level;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (extack_buf && extack_len && strncmp(line, EXTACK_PREFIX, strlen(EXTACK_PREFIX)) == 0) {
		copy_out(extack_buf, extack_len, line + strlen(EXTACK_PREFIX));
		extack_buf[strcspn(extack_buf, "\n")] = 0;
	}
	return 0;
}

int xpf_feas_native_xdp_trial(int ifindex, int *detach_err, char *reason, size_t reason_len)
{
	/* r0 = XDP_PASS; exit */
	const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	*detach_err = 0;
	if (reason_len)
		reason[0] = 0;
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xpf_feas_pass", "GPL", pass, sizeof(pass) / sizeof(pass[0]), NULL);
	if (fd < 0)
		return fd;
	extack_buf = reason;
	extack_len = reason_len;
	libbpf_print_fn_t previous = libbpf_set_print(capture_extack);
	int r = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	libbpf_set_print(previous);
	extack_buf = NULL;
	if (r == 0) {
		/* Only our program: should anything have replaced it meanwhile, it stays. */
		LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = fd);
		*detach_err = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &opts);
	}
	close(fd);
	return r < 0 ? r : 0;
}

/* The trial UMEM: the smallest rings the kernel accepts, frames of one page. */
#define TRIAL_FRAMES 64
#define TRIAL_FRAME_SIZE 4096
#define TRIAL_RING 64

int xpf_feas_xsk_trial(const char *ifname, uint32_t queue, uint32_t bind_flags, int *zero_copy)
{
	size_t size = (size_t)TRIAL_FRAMES * TRIAL_FRAME_SIZE;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	struct xsk_umem *umem = NULL;
	struct xsk_socket *xsk = NULL;
	*zero_copy = 0;
	void *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	struct xsk_umem_config ucfg = { .fill_size = TRIAL_RING, .comp_size = TRIAL_RING,
					.frame_size = TRIAL_FRAME_SIZE, .frame_headroom = 0, .flags = 0 };
	int r = xsk_umem__create(&umem, area, size, &fill, &comp, &ucfg);
	if (r == 0) {
		/* No XDP program is loaded: the bind is what tells the driver's capability. */
		struct xsk_socket_config scfg = { .rx_size = TRIAL_RING, .tx_size = TRIAL_RING,
						  .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
						  .xdp_flags = 0, .bind_flags = (uint16_t)bind_flags };
		r = xsk_socket__create(&xsk, ifname, queue, umem, &rx, &tx, &scfg);
		if (r == 0) {
			struct xdp_options opt = { 0 };
			socklen_t len = sizeof(opt);
			if (getsockopt(xsk_socket__fd(xsk), SOL_XDP, XDP_OPTIONS, &opt, &len) == 0)
				*zero_copy = (opt.flags & XDP_OPTIONS_ZEROCOPY) != 0;
			xsk_socket__delete(xsk);
		}
		xsk_umem__delete(umem);
	}
	munmap(area, size);
	return r < 0 ? r : 0;
}

int xpf_feas_af_xdp_socket(void)
{
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* SIOCETHTOOL on a throwaway datagram socket; data is the command's structure. */
static int ethtool(const char *ifname, void *data)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_data = data;
	int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int xpf_feas_driver(const char *ifname, char *driver, size_t driver_len, char *bus, size_t bus_len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	int r = ethtool(ifname, &info);
	if (r)
		return r;
	copy_out(driver, driver_len, info.driver);
	copy_out(bus, bus_len, info.bus_info);
	return 0;
}

int xpf_feas_channels(const char *ifname, struct xpf_feas_channels *out)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int r = ethtool(ifname, &ch);
	if (r)
		return r;
	*out = (struct xpf_feas_channels){ ch.max_rx, ch.max_tx, ch.max_other, ch.max_combined,
					   ch.rx_count, ch.tx_count, ch.other_count, ch.combined_count };
	return 0;
}

int xpf_feas_rss_hash_fields(const char *ifname, uint32_t flow_type, uint64_t *fields)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_GRXFH, .flow_type = flow_type };
	int r = ethtool(ifname, &nfc);
	if (r)
		return r;
	*fields = nfc.data;
	return 0;
}

int xpf_feas_rss_indirection(const char *ifname, uint32_t *table, uint32_t max)
{
	struct ethtool_rxfh head = { .cmd = ETHTOOL_GRSSH };
	int r = ethtool(ifname, &head); /* indir_size = key_size = 0: sizes only */
	if (r)
		return r;
	uint32_t n = head.indir_size, key = head.key_size;
	if (n == 0)
		return 0;
	struct ethtool_rxfh *full = calloc(1, sizeof(*full) + n * sizeof(uint32_t) + key);
	if (!full)
		return -ENOMEM;
	full->cmd = ETHTOOL_GRSSH;
	full->indir_size = n;
	full->key_size = key;
	r = ethtool(ifname, full);
	if (r == 0)
		memcpy(table, full->rss_config, (n < max ? n : max) * sizeof(uint32_t));
	free(full);
	return r ? r : (int)n;
}

long xpf_feas_read_gzip(const char *path, char **out)
{
	enum { CHUNK = 65536 };
	gzFile f = gzopen(path, "rb");
	if (!f)
		return errno ? -errno : -ENOENT;
	char *buf = NULL;
	size_t len = 0;
	for (;;) {
		char *grown = realloc(buf, len + CHUNK);
		if (!grown) {
			free(buf);
			gzclose(f);
			return -ENOMEM;
		}
		buf = grown;
		int n = gzread(f, buf + len, CHUNK);
		if (n < 0) {
			free(buf);
			gzclose(f);
			return -EIO;
		}
		len += (size_t)n;
		if (n < CHUNK)
			break;
	}
	gzclose(f);
	*out = buf;
	return (long)len;
}
