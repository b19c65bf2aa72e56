/* xpf_sys.h — C helpers for things whose natural API is C macros or libbpf objects:
 * loading/attaching the XDP program, summing per-CPU counters, CPU affinity,
 * signalfd. Every function returns 0 / a count on success and -errno on failure. */
#ifndef XPF_SYS_H
#define XPF_SYS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

struct bpf_object;

/* The loaded XDP object with the fds and ids xpfd needs. */
struct xpf_bpf {
	struct bpf_object *obj;
	int prog_fd;
	int tc_prog_fd; /* xpf_tc_egress: the box's own traffic (from junos-host policies) */
	int xsks_fd, if_slots_fd, local_addrs_fd, counters_fd;
	int host_inbound_fd, host_inbound_bank_fd; /* host-inbound tables and their current bank */
	int junos_host_fd;                        /* junos-host policy tables (same keys and bank) */
	int junos_host_out_fd;                    /* from junos-host policy tables (same keys and bank) */
	int host_filters_fd, host_filter_hits_fd; /* host-bound firewall filters (same bank) and their counts */
	int host_filter_policers_fd, host_filter_log_fd;
	uint32_t xsks_id, counters_id;
	uint32_t abi_version; /* the program's xpf_abi_version */
};

/* Opens and loads (verifies) the object at `path`, finds its program and maps and
 * reads its ABI version. On failure writes a message into err. */
int xpf_bpf_open(const char *path, struct xpf_bpf *out, char *err, size_t errlen);
void xpf_bpf_close(struct xpf_bpf *b);

/* Host-bound filter counts (host_filter_hits, a per-CPU array of struct xpf_hf_count):
 * row `key` summed over every possible CPU into *out; 0, or -errno. */
int xpf_hf_count_read(int fd, uint32_t key, uint64_t *packets, uint64_t *bytes);
/* Zeroes row `key` on every CPU; 0, or -errno. */
int xpf_hf_count_zero(int fd, uint32_t key);

/* The host-bound filters' log ring (host_filter_log, a BPF ring buffer). Opened once;
 * xpf_hf_log_drain copies up to `max` records of struct xpf_host_filter_log into `out`
 * (records of another size are skipped) and returns how many, or -errno. */
struct xpf_hf_log;
struct xpf_hf_log *xpf_hf_log_open(int fd);
int xpf_hf_log_drain(struct xpf_hf_log *log, void *out, int max);
void xpf_hf_log_close(struct xpf_hf_log *log);

/* Attaches prog_fd to ifindex in native (mode 1) or generic (mode 2) XDP mode,
 * replacing any program there. */
int xpf_xdp_attach(int ifindex, int prog_fd, int mode);
/* Detaches whatever XDP program is attached, in either mode. */
int xpf_xdp_detach(int ifindex);
/* Attaches prog_fd as xpf's filter on ifindex's clsact egress hook (creating the qdisc if
 * needed), replacing xpf's previous one; detach removes only that filter (none: 0). */
int xpf_tc_attach(int ifindex, int prog_fd);
int xpf_tc_detach(int ifindex);
/* Id of the XDP program attached to ifindex (0 = none), or -errno. */
int xpf_xdp_query(int ifindex, uint32_t *prog_id, uint8_t *attach_mode);

/* Sums a per-CPU array of u64 counters into out[0..n). */
int xpf_percpu_sum(int map_fd, uint32_t n, uint64_t *out);

/* CPU affinity. */
int xpf_pin_to_cpu(int cpu);
int xpf_allowed_cpus(int *out, int max);
/* CPUs of a NUMA node (libnuma), intersected with the allowed set. */
int xpf_node_cpus(int node, int *out, int max);

/* Blocks `signals` (a list, n entries) in the calling thread and returns a
 * non-blocking signalfd for them. */
int xpf_signalfd(const int *signals, int n);
/* Reads one signal from a signalfd: the signal number, 0 if none pending, -errno. */
int xpf_signalfd_read(int fd);
/* posix_spawn with an empty signal mask and default handlers, so the child does not
 * inherit the supervisor's blocked signals. */
int xpf_spawn(pid_t *pid, const char *path, char *const argv[]);

/* prctl(PR_SET_PDEATHSIG, sig). */
int xpf_set_pdeathsig(int sig);


/* Callgrind client requests (no-ops outside valgrind): the benchmark counts
 * instructions of exactly the measured region. */
void xpf_callgrind_start(void);
void xpf_callgrind_stop(void);

#endif
