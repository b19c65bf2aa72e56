/* Helpers shared by xpf-gen and xpf-sink: stop flag set by signals, clocks. */
#ifndef XPF_TRAFGEN_COMMON_H
#define XPF_TRAFGEN_COMMON_H

#include <signal.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;
static void on_signal(int s) { (void)s; stop_flag = 1; }

static double now_mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Wall clock: the generator and the sink agree on a start time across processes. */
static double now_real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif
