#define _GNU_SOURCE
#include "xpf_sys.h"
#include "xpf_bpf_abi.h"
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/if_link.h>
#include <numa.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

extern char **environ;

static int map_fd(struct bpf_object *obj, const char *name, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (!m) {
		snprintf(err, errlen, "map '%s' not found in the XDP object", name);
		return -ENOENT;
	}
	return bpf_map__fd(m);
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* xpf_abi_version lives in .rodata; BTF's DATASEC gives its offset, and the loaded
 * map holds the value the kernel verified. */
static int read_abi_version(struct bpf_object *obj, uint32_t *out)
{
	struct bpf_map *rodata = NULL, *m;
	struct btf *btf = bpf_object__btf(obj);
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t l = strlen(n);
		if (l >= 7 && strcmp(n + l - 7, ".rodata") == 0)
			rodata = m;
	}
	if (!rodata || !btf)
		return -ENOENT;
	int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	const struct btf_type *sec = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), "xpf_abi_version") != 0 || vs->size != 4)
			continue;
		size_t size = bpf_map__value_size(rodata);
		unsigned char *image = calloc(1, size);
		uint32_t zero = 0;
		if (!image)
			return -ENOMEM;
		int r = bpf_map_lookup_elem(bpf_map__fd(rodata), &zero, image);
		if (r == 0)
			memcpy(out, image + vs->offset, 4);
		free(image);
		return r ? -errno : 0;
	}
	return -ENOENT;
}

int xpf_bpf_open(const char *path, struct xpf_bpf *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->prog_fd = out->tc_prog_fd = out->xsks_fd = out->if_slots_fd = out->local_addrs_fd = out->counters_fd = -1;
	out->host_inbound_fd = out->host_inbound_bank_fd = out->junos_host_fd = out->junos_host_out_fd = -1;
	out->host_filters_fd = out->host_filter_hits_fd = out->host_filter_policers_fd = out->host_filter_log_fd = -1;
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		int e = errno;
		snprintf(err, errlen, "cannot open XDP object %s: %s", path, strerror(e));
		return -e;
	}
	int r = bpf_object__load(obj);
	if (r) {
		snprintf(err, errlen, "loading XDP object %s failed (verifier or kernel): %s", path, strerror(-r));
		bpf_object__close(obj);
		return r;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "xpf_xdp");
	if (!prog) {
		snprintf(err, errlen, "program 'xpf_xdp' not found in %s", path);
		bpf_object__close(obj);
		return -ENOENT;
	}
	out->obj = obj;
	out->prog_fd = bpf_program__fd(prog);
	prog = bpf_object__find_program_by_name(obj, "xpf_tc_egress");
	out->tc_prog_fd = prog ? bpf_program__fd(prog) : -1;
	/* The version first: an object of another ABI may lack the maps this one needs. */
	if (read_abi_version(obj, &out->abi_version) != 0) {
		snprintf(err, errlen, "%s carries no xpf_abi_version (not an xpf XDP object?)", path);
		xpf_bpf_close(out);
		return -ENOENT;
	}
	if (out->abi_version != XPF_BPF_ABI_VERSION) {
		snprintf(err, errlen, "%s has BPF ABI version %u, this xpfd needs %u: rebuild bpf/", path,
			 out->abi_version, XPF_BPF_ABI_VERSION);
		xpf_bpf_close(out);
		return -EPROTO;
	}
	if ((out->xsks_fd = map_fd(obj, "xsks_map", err, errlen)) < 0 ||
	    (out->if_slots_fd = map_fd(obj, "if_slots", err, errlen)) < 0 ||
	    (out->local_addrs_fd = map_fd(obj, "local_addrs", err, errlen)) < 0 ||
	    (out->counters_fd = map_fd(obj, "counters", err, errlen)) < 0 ||
	    (out->host_inbound_fd = map_fd(obj, "host_inbound", err, errlen)) < 0 ||
	    (out->host_inbound_bank_fd = map_fd(obj, "host_inbound_bank", err, errlen)) < 0 ||
	    (out->junos_host_fd = map_fd(obj, "junos_host", err, errlen)) < 0 ||
	    (out->junos_host_out_fd = map_fd(obj, "junos_host_out", err, errlen)) < 0 ||
	    (out->host_filters_fd = map_fd(obj, "host_filters", err, errlen)) < 0 ||
	    (out->host_filter_hits_fd = map_fd(obj, "host_filter_hits", err, errlen)) < 0 ||
	    (out->host_filter_policers_fd = map_fd(obj, "host_filter_policers", err, errlen)) < 0 ||
	    (out->host_filter_log_fd = map_fd(obj, "host_filter_log", err, errlen)) < 0) {
		xpf_bpf_close(out);
		return -ENOENT;
	}
	if (out->tc_prog_fd < 0) {
		snprintf(err, errlen, "program 'xpf_tc_egress' not found in %s", path);
		xpf_bpf_close(out);
		return -ENOENT;
	}
	out->xsks_id = map_id(out->xsks_fd);
	out->counters_id = map_id(out->counters_fd);
	return 0;
}

void xpf_bpf_close(struct xpf_bpf *b)
{
	if (b->obj)
		bpf_object__close(b->obj);
	b->obj = NULL;
}

int xpf_xdp_attach(int ifindex, int prog_fd, int mode)
{
	uint32_t flags = mode == 1 ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	int r = bpf_xdp_attach(ifindex, prog_fd, flags, NULL);
	return r < 0 ? r : 0;
}

int xpf_xdp_detach(int ifindex)
{
	int r1 = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	int r2 = bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL);
	return r1 < 0 && r2 < 0 ? r1 : 0;
}

/* The egress filter's place on the clsact qdisc, fixed so a restart replaces its own. */
#define XPF_TC_HANDLE 0x5850 /* "XP" */
#define XPF_TC_PRIORITY 1

int xpf_tc_attach(int ifindex, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XPF_TC_HANDLE, .priority = XPF_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int r = bpf_tc_hook_create(&hook);

	if (r && r != -EEXIST)
		return r;
	return bpf_tc_attach(&hook, &opts);
}

int xpf_tc_detach(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XPF_TC_HANDLE, .priority = XPF_TC_PRIORITY);
	int r = bpf_tc_detach(&hook, &opts);

	return r == -ENOENT ? 0 : r;
}

int xpf_xdp_query(int ifindex, uint32_t *prog_id, uint8_t *attach_mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, opts);
	int r = bpf_xdp_query(ifindex, 0, &opts);
	if (r < 0)
		return r;
	*prog_id = opts.prog_id;
	*attach_mode = opts.attach_mode;
	return 0;
}

int xpf_percpu_sum(int map_fd, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return -EINVAL;
	uint64_t *vals = calloc((size_t)ncpu, sizeof(uint64_t));
	if (!vals)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(map_fd, &k, vals) != 0) {
			int e = errno;
			free(vals);
			return -e;
		}
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

int xpf_pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int xpf_allowed_cpus(int *out, int max)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			out[n++] = c;
	return n;
}

int xpf_node_cpus(int node, int *out, int max)
{
	if (numa_available() < 0 || node < 0 || node > numa_max_node())
		return -ENOENT;
	struct bitmask *bm = numa_allocate_cpumask();
	if (!bm)
		return -ENOMEM;
	if (numa_node_to_cpus(node, bm) < 0) {
		numa_free_cpumask(bm);
		return -EINVAL;
	}
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof(allowed), &allowed)) {
		numa_free_cpumask(bm);
		return -errno;
	}
	int n = 0;
	for (unsigned c = 0; c < bm->size && c < CPU_SETSIZE && n < max; c++)
		if (numa_bitmask_isbitset(bm, c) && CPU_ISSET(c, &allowed))
			out[n++] = (int)c;
	numa_free_cpumask(bm);
	return n;
}

int xpf_signalfd(const int *signals, int n)
{
	sigset_t mask;
	sigemptyset(&mask);
	for (int i = 0; i < n; i++)
		sigaddset(&mask, signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int xpf_signalfd_read(int fd)
{
	struct signalfd_siginfo si;
	ssize_t r = read(fd, &si, sizeof(si));
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (r != sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

int xpf_spawn(pid_t *pid, const char *path, char *const argv[])
{
	posix_spawnattr_t attr;
	sigset_t empty, defaults;
	int r = posix_spawnattr_init(&attr);
	if (r)
		return -r;
	sigemptyset(&empty);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGCHLD);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(pid, path, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	return -r;
}

int xpf_set_pdeathsig(int sig)
{
	return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) ? -errno : 0;
}

#include <valgrind/callgrind.h>

void xpf_callgrind_start(void)
{
	CALLGRIND_ZERO_STATS;
	CALLGRIND_START_INSTRUMENTATION;
}

void xpf_callgrind_stop(void)
{
	/* Counting stops here; callgrind writes the totals of the region at exit. */
	CALLGRIND_STOP_INSTRUMENTATION;
}

/* ---- host-bound firewall filters (xpf_bpf_abi.h) ---- */

#include "xpf_config_abi.h"

/* The program's term fields carry the snapshot's values as they are. */
_Static_assert(XPF_HF_M_SRC_ADDR == XPF_TM_SRC_ADDR && XPF_HF_M_DST_ADDR == XPF_TM_DST_ADDR &&
		       XPF_HF_M_ADDR == XPF_TM_ADDR && XPF_HF_M_PROTO == XPF_TM_PROTO &&
		       XPF_HF_M_SRC_PORT == XPF_TM_SRC_PORT && XPF_HF_M_DST_PORT == XPF_TM_DST_PORT &&
		       XPF_HF_M_PORT == XPF_TM_PORT && XPF_HF_M_DSCP == XPF_TM_DSCP &&
		       XPF_HF_M_ICMP_TYPE == XPF_TM_ICMP_TYPE && XPF_HF_M_ICMP_CODE == XPF_TM_ICMP_CODE &&
		       XPF_HF_M_TCP_FLAGS == XPF_TM_TCP_FLAGS && XPF_HF_M_IS_FRAGMENT == XPF_TM_IS_FRAGMENT &&
		       XPF_HF_M_FIRST_FRAGMENT == XPF_TM_FIRST_FRAGMENT &&
		       XPF_HF_M_LOSS_PRIORITY == XPF_TM_LOSS_PRIORITY &&
		       XPF_HF_M_PACKET_LENGTH == XPF_TM_PACKET_LENGTH &&
		       XPF_HF_M_FORWARDING_CLASS == XPF_TM_FORWARDING_CLASS,
	       "host filter match bits are xpf_term_match's");
_Static_assert(XPF_HF_ACCEPT == XPF_TERM_ACCEPT && XPF_HF_DISCARD == XPF_TERM_DISCARD &&
		       XPF_HF_REJECT == XPF_TERM_REJECT && XPF_HF_NEXT == XPF_TERM_NEXT,
	       "host filter terminals are xpf_term_terminal's");
_Static_assert(XPF_HF_A_LOG == XPF_TA_LOG && XPF_HF_A_SYSLOG == XPF_TA_SYSLOG && XPF_HF_A_DSCP == XPF_TA_DSCP &&
		       XPF_HF_A_POLICE == XPF_TA_POLICE && XPF_HF_A_LOSS_PRIORITY == XPF_TA_LOSS_PRIORITY &&
		       XPF_HF_A_FORWARDING_CLASS == XPF_TA_FORWARDING_CLASS,
	       "host filter actions are xpf_term_action_flags'");
_Static_assert(XPF_HF_LP_LOW == XPF_LP_LOW && XPF_HF_LP_HIGH == XPF_LP_HIGH, "loss priorities");
_Static_assert(XPF_HF_REJECT_TCP_RESET == XPF_REJECT_TCP_RESET, "tcp-reset");
_Static_assert(XPF_HF_CLASS_BEST_EFFORT == XPF_CFG_NONE, "best-effort is the snapshot's NONE class");

/* A zeroed value of a per-CPU array of struct xpf_hf_count: one element per possible CPU
 * (the size bpf_map_lookup_elem and bpf_map_update_elem read or write). NULL with *n the
 * error on failure. */
static struct xpf_hf_count *hf_count_percpu(int *n)
{
	*n = libbpf_num_possible_cpus();
	if (*n <= 0) {
		*n = *n < 0 ? *n : -EINVAL;
		return NULL;
	}
	struct xpf_hf_count *v = calloc((size_t)*n, sizeof(*v));
	if (!v)
		*n = -ENOMEM;
	return v;
}

int xpf_hf_count_read(int fd, uint32_t key, uint64_t *packets, uint64_t *bytes)
{
	int n;
	struct xpf_hf_count *v = hf_count_percpu(&n);
	if (!v)
		return n;
	int r = bpf_map_lookup_elem(fd, &key, v) ? -errno : 0;
	uint64_t p = 0, b = 0;
	for (int i = 0; r == 0 && i < n; i++) {
		p += v[i].packets;
		b += v[i].bytes;
	}
	free(v);
	*packets = p;
	*bytes = b;
	return r;
}

int xpf_hf_count_zero(int fd, uint32_t key)
{
	int n;
	struct xpf_hf_count *v = hf_count_percpu(&n);
	if (!v)
		return n;
	int r = bpf_map_update_elem(fd, &key, v, BPF_ANY) ? -errno : 0;
	free(v);
	return r;
}

struct xpf_hf_log {
	struct ring_buffer *rb;
	/* The drain in progress: where the callback copies records to, how many fit. */
	unsigned char *out;
	int max, n;
};

static int hf_log_record(void *ctx, void *data, size_t size)
{
	struct xpf_hf_log *log = ctx;

	if (size != sizeof(struct xpf_host_filter_log))
		return 0; /* another layout: skipped, never misread */
	memcpy(log->out + (size_t)log->n * sizeof(struct xpf_host_filter_log), data, size);
	/* A negative return stops ring_buffer__consume once the caller's buffer is full (this
	 * record already counted as consumed); the records after it stay in the ring for the
	 * next drain. */
	return ++log->n >= log->max ? -ENOSPC : 0;
}

struct xpf_hf_log *xpf_hf_log_open(int fd)
{
	struct xpf_hf_log *log = calloc(1, sizeof(*log));
	if (!log)
		return NULL;
	log->rb = ring_buffer__new(fd, hf_log_record, log, NULL);
	if (!log->rb) {
		free(log);
		return NULL;
	}
	return log;
}

int xpf_hf_log_drain(struct xpf_hf_log *log, void *out, int max)
{
	if (max <= 0)
		return 0;
	log->out = out;
	log->max = max;
	log->n = 0;
	int r = ring_buffer__consume(log->rb);
	return r < 0 && log->n == 0 ? r : log->n;
}

void xpf_hf_log_close(struct xpf_hf_log *log)
{
	if (!log)
		return;
	ring_buffer__free(log->rb);
	free(log);
}
