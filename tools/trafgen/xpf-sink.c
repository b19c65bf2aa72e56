// xpf-sink — counts the benchmark's UDP frames arriving on an interface, without the cost of the
// kernel's stack: attaches sink.bpf.o (XDP, native mode by default), which counts IPv4/UDP frames
// to the test port in a per-CPU array and drops them (ARP and everything else passes).
//
// Timing: like xpf-gen, the window is [start + WARMUP, start + WARMUP + DURATION] where start is
// --start-at (wall-clock epoch seconds) or the moment the program is attached. After the window it
// waits TAIL seconds, reads the total since attaching, detaches and prints:
//   last line "xpf-sink received N pps N" (window), or one JSON object with --json.
// The XDP program runs in the softirq of whichever CPU transmits into the peer veth (see
// docs/performance.md); this loader only sleeps. With --json it also reports each CPU's busy,
// user, system and softirq shares over the window (/proc/stat), to show where the work ran.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

// Sleeps until monotonic time `until`, waking early on a signal.
static void sleep_until(double until)
{
	while (!stop_flag) {
		double d = until - now_mono();
		if (d <= 0)
			return;
		if (d > 0.05)
			d = 0.05;
		struct timespec t = { 0, (long)(d * 1e9) };
		nanosleep(&t, NULL);
	}
}

static int ncpus;
static int counters_fd;

struct snap { unsigned long long pkts, bytes, passed; double t; };

// Per-CPU time from /proc/stat (jiffies), so the report can show where the work ran.
#define MAX_CPUS 64
struct cpustat { int n; unsigned long long user[MAX_CPUS], sys[MAX_CPUS], softirq[MAX_CPUS], idle[MAX_CPUS], total[MAX_CPUS]; };

static void read_cpustat(struct cpustat *cs)
{
	memset(cs, 0, sizeof *cs);
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned cpu;
		unsigned long long v[10] = { 0 };
		if (sscanf(line, "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 8 || cpu >= MAX_CPUS)
			continue;
		cs->user[cpu] = v[0] + v[1];
		cs->sys[cpu] = v[2] + v[5];
		cs->softirq[cpu] = v[6];
		cs->idle[cpu] = v[3] + v[4];
		for (int k = 0; k < 8; k++)
			cs->total[cpu] += v[k];
		if ((int)cpu + 1 > cs->n)
			cs->n = (int)cpu + 1;
	}
	fclose(f);
}

static struct snap read_counters(void)
{
	struct snap s = { 0, 0, 0, now_mono() };
	uint64_t vals[ncpus];
	unsigned long long *dst[3] = { &s.pkts, &s.bytes, &s.passed };
	for (uint32_t k = 0; k < 3; k++) {
		memset(vals, 0, sizeof vals);
		if (bpf_map_lookup_elem(counters_fd, &k, vals) == 0)
			for (int c = 0; c < ncpus; c++)
				*dst[k] += vals[c];
	}
	return s;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xpf-sink -i IFNAME [options]\n"
		"  --port N          UDP destination port counted (default 9; 0 = any UDP)\n"
		"  --duration S      measured seconds (default 5)\n"
		"  --warmup S        seconds before the window (default 0)\n"
		"  --tail S          seconds waited after the window before the total is read (default 0.3)\n"
		"  --start-at EPOCH  window start reference, wall-clock epoch seconds (default: when attached)\n"
		"  --mode native|generic  XDP attach mode (default native)\n"
		"  --obj FILE        the XDP object (default: sink.bpf.o next to this program)\n"
		"  --ready-file F    create F once the program is attached\n"
		"  --json            print one JSON object instead of the text line\n");
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *obj_path = NULL, *ready = NULL, *mode = "native";
	double duration = 5, warmup = 0, tail = 0.3, start_at = 0;
	unsigned port = 9;
	int json = 0, c;
	enum { O_PORT = 256, O_DUR, O_WARM, O_TAIL, O_START, O_MODE, O_OBJ, O_READY, O_JSON };
	static const struct option lo[] = {
		{ "ifname", 1, 0, 'i' }, { "port", 1, 0, O_PORT }, { "duration", 1, 0, O_DUR },
		{ "warmup", 1, 0, O_WARM }, { "tail", 1, 0, O_TAIL }, { "start-at", 1, 0, O_START },
		{ "mode", 1, 0, O_MODE }, { "obj", 1, 0, O_OBJ }, { "ready-file", 1, 0, O_READY },
		{ "json", 0, 0, O_JSON }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	while ((c = getopt_long(argc, argv, "i:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case O_PORT: port = (unsigned)atoi(optarg); break;
		case O_DUR: duration = atof(optarg); break;
		case O_WARM: warmup = atof(optarg); break;
		case O_TAIL: tail = atof(optarg); break;
		case O_START: start_at = atof(optarg); break;
		case O_MODE: mode = optarg; break;
		case O_OBJ: obj_path = optarg; break;
		case O_READY: ready = optarg; break;
		case O_JSON: json = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!ifname || duration <= 0 || port > 65535) {
		usage();
		return 2;
	}
	unsigned flags = XDP_FLAGS_UPDATE_IF_NOEXIST;
	if (!strcmp(mode, "native"))
		flags |= XDP_FLAGS_DRV_MODE;
	else if (!strcmp(mode, "generic"))
		flags |= XDP_FLAGS_SKB_MODE;
	else {
		fprintf(stderr, "xpf-sink: --mode must be native or generic\n");
		return 2;
	}
	char def_obj[PATH_MAX];
	if (!obj_path) {
		ssize_t n = readlink("/proc/self/exe", def_obj, sizeof def_obj - 32);
		if (n <= 0) {
			fprintf(stderr, "xpf-sink: cannot locate myself: give --obj\n");
			return 1;
		}
		def_obj[n] = 0;
		char *slash = strrchr(def_obj, '/');
		strcpy(slash ? slash + 1 : def_obj, "sink.bpf.o");
		obj_path = def_obj;
	}
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "xpf-sink: no interface %s in this namespace\n", ifname);
		return 1;
	}
	libbpf_set_print(NULL);
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || libbpf_get_error(obj)) {
		fprintf(stderr, "xpf-sink: cannot open %s\n", obj_path);
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "xpf-sink: loading %s failed (verifier or permissions)\n", obj_path);
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "xpf_sink");
	struct bpf_map *cm = bpf_object__find_map_by_name(obj, "counters");
	struct bpf_map *cfgm = bpf_object__find_map_by_name(obj, "cfg");
	if (!prog || !cm || !cfgm) {
		fprintf(stderr, "xpf-sink: %s lacks xpf_sink/counters/cfg\n", obj_path);
		return 1;
	}
	counters_fd = bpf_map__fd(cm);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "xpf-sink: cannot count CPUs\n");
		return 1;
	}
	uint32_t k0 = 0, p = port;
	if (bpf_map_update_elem(bpf_map__fd(cfgm), &k0, &p, BPF_ANY)) {
		fprintf(stderr, "xpf-sink: setting the port: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), flags, NULL);
	if (err) {
		fprintf(stderr, "xpf-sink: attaching XDP (%s) to %s: %s%s\n", mode, ifname, strerror(-err),
			err == -EBUSY || err == -EEXIST ? " (another XDP program is attached)" : "");
		return 1;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
	}
	double t_attach = now_mono();
	double start = start_at > 0 ? t_attach + (start_at - now_real()) : t_attach;
	struct cpustat c0, c1;
	sleep_until(start + warmup);
	struct snap s0 = read_counters();
	read_cpustat(&c0);
	sleep_until(start + warmup + duration);
	struct snap s1 = read_counters();
	read_cpustat(&c1);
	int interrupted = stop_flag;
	sleep_until(s1.t + tail);
	struct snap se = read_counters();
	err = bpf_xdp_detach(ifindex, flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err)
		fprintf(stderr, "xpf-sink: detaching from %s: %s\n", ifname, strerror(-err));
	bpf_object__close(obj);

	double secs = s1.t - s0.t;
	unsigned long long n = s1.pkts - s0.pkts;
	unsigned long long pps = secs > 0 ? (unsigned long long)((double)n / secs + 0.5) : 0;
	if (json) {
		printf("{\"tool\": \"xpf-sink\", \"ifname\": \"%s\", \"mode\": \"%s\", \"port\": %u, "
		       "\"received\": %llu, \"pps\": %llu, \"seconds\": %.6f, \"bytes\": %llu, "
		       "\"total_received\": %llu, \"total_passed\": %llu, \"total_seconds\": %.6f, \"interrupted\": %s, "
		       "\"cpu\": [",
		       ifname, mode, port, n, pps, secs, s1.bytes - s0.bytes, se.pkts, se.passed, se.t - t_attach,
		       interrupted ? "true" : "false");
		for (int k = 0; k < c1.n; k++) {
			double tot = (double)(c1.total[k] - c0.total[k]);
			if (tot <= 0)
				tot = 1;
#define PCT(a) (100.0 * (double)(c1.a[k] - c0.a[k]) / tot)
			printf("%s{\"cpu\": %d, \"busy_pct\": %.1f, \"user_pct\": %.1f, \"sys_pct\": %.1f, "
			       "\"softirq_pct\": %.1f}", k ? ", " : "", k, 100.0 - PCT(idle), PCT(user), PCT(sys),
			       PCT(softirq));
#undef PCT
		}
		printf("]}\n");
	} else {
		printf("xpf-sink on %s (%s XDP, UDP port %u): window %.3f s; total since attach %llu counted, "
		       "%llu passed\n", ifname, mode, port, secs, se.pkts, se.passed);
		printf("xpf-sink received %llu pps %llu\n", n, pps);
	}
	return err ? 1 : 0;
}
