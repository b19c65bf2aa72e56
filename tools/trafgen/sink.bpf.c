// xpf-sink's XDP program: counts IPv4/UDP frames to the test port (cfg[0]; 0 = any port) in a
// per-CPU array and drops them; everything else (ARP, other traffic) goes on to the stack.
//   counters[0] frames counted and dropped, [1] their bytes, [2] frames passed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

static __always_inline void bump(__u32 k, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (c)
		*c += v;
}

SEC("xdp")
int xpf_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto pass;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		goto pass;
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		goto pass;
	__u32 k = 0, *port = bpf_map_lookup_elem(&cfg, &k);
	if (!port || (*port && udp->dest != bpf_htons((__u16)*port)))
		goto pass;
	bump(0, 1);
	bump(1, (__u64)(end - data));
	return XDP_DROP;
pass:
	bump(2, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
