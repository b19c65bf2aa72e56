#include "xpf_shim.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>

int xpf_errno(void) { return errno; }

#define H(x) do { uint64_t v = (uint64_t)(x); for (int i = 0; i < 8; i++) { h ^= (v >> (i * 8)) & 0xff; h *= 0x100000001b3ULL; } } while (0)

uint64_t xpf_abi_layout_hash(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	H(XPF_ABI_VERSION); H(XPF_BPF_ABI_VERSION);
	H(sizeof(struct xpf_shm_header)); H(offsetof(struct xpf_shm_header, config_current));
	H(offsetof(struct xpf_shm_header, fib_current)); H(offsetof(struct xpf_shm_header, ifaces));
	H(offsetof(struct xpf_shm_header, off_umem)); H(sizeof(struct xpf_iface));
	H(sizeof(struct xpf_config_snapshot)); H(offsetof(struct xpf_config_snapshot, neigh_hold_ms));
	H(sizeof(struct xpf_route)); H(sizeof(struct xpf_if_addr)); H(offsetof(struct xpf_fib_snapshot, if_addrs)); H(sizeof(struct xpf_neigh)); H(sizeof(struct xpf_fib_snapshot));
	H(sizeof(struct xpf_worker_stats)); H(offsetof(struct xpf_worker_stats, if_rx_packets)); H(offsetof(struct xpf_worker_stats, fill_ring_used)); H(offsetof(struct xpf_shm_header, tx_ring_size)); H(sizeof(struct xpf_ring_hdr)); H(sizeof(struct xpf_neigh_request));
	H(sizeof(struct xpf_worker_block)); H(offsetof(struct xpf_worker_block, stats_seq));
	H(offsetof(struct xpf_worker_block, req_ring)); H(offsetof(struct xpf_worker_block, clear_done)); H(offsetof(struct xpf_worker_block, clear_filter)); H(sizeof(struct xpf_clear_filter)); H(offsetof(struct xpf_worker_block, req_entries));
	H(sizeof(struct xpf_flow_tuple)); H(sizeof(struct xpf_session)); H(offsetof(struct xpf_session, packets));
	H(offsetof(struct xpf_session, fwd)); H(offsetof(struct xpf_session, rev));
	H(offsetof(struct xpf_session, policy)); H(sizeof(struct xpf_policy_hits)); H(offsetof(struct xpf_shm_header, off_policy_hits)); H(sizeof(struct xpf_filter_hits)); H(offsetof(struct xpf_shm_header, off_filter_hits));
	H(offsetof(struct xpf_shm_header, off_policers)); H(sizeof(struct xpf_policer_buckets)); H(XPF_POLICER_ROWS);
	H(offsetof(struct xpf_filter_hits, policer)); H(sizeof(struct xpf_cfg_policer_instance));
	H(offsetof(struct xpf_cfg_term, policer_instance)); H(offsetof(struct xpf_cfg_term, forwarding_classes)); H(offsetof(struct xpf_cfg_term, packet_length)); H(offsetof(struct xpf_cfg_filter, members)); H(offsetof(struct xpf_cfg_tc_policer, c_cost));
	H(XPF_POLICER_TICK_SHIFT); H(XPF_POLICER_COST_SHIFT);
	H(offsetof(struct xpf_config_snapshot, policy_epoch)); H(offsetof(struct xpf_config_snapshot, policy_bank));
	H(offsetof(struct xpf_shm_header, event_format_version)); H(offsetof(struct xpf_worker_stats, events_dropped));
	H(offsetof(struct xpf_worker_block, event_ring)); H(XPF_EVENT_RING_SIZE); H(XPF_EVENT_FORMAT_VERSION);
	H(sizeof(struct xpf_event)); H(offsetof(struct xpf_event_flow, fwd)); H(offsetof(struct xpf_event_flow, packets));
	H(offsetof(struct xpf_worker_block, exceptions)); H(sizeof(struct xpf_exception)); H(XPF_EXCEPTIONS_PER_WORKER);
	H(offsetof(struct xpf_worker_block, event_entries)); H(sizeof(struct xpf_event_flow));
	H(offsetof(struct xpf_event_flow, nat)); H(offsetof(struct xpf_event_flow, policy));
	H(offsetof(struct xpf_event_flow, from_zone)); H(offsetof(struct xpf_event_flow, elapsed_s));
	H(offsetof(struct xpf_exception, flow)); H(offsetof(struct xpf_exception, first_ns));
	H(offsetof(struct xpf_worker_stats, events_rate_limited)); H(offsetof(struct xpf_config_snapshot, event_rate_cap));
	H(offsetof(struct xpf_worker_stats, loop_busy_ns)); H(offsetof(struct xpf_worker_stats, if_batches));
	H(sizeof(struct xpf_worker_socket_stats)); H(offsetof(struct xpf_worker_block, socket_stats_seq)); H(offsetof(struct xpf_worker_block, socket_stats));
	H(offsetof(struct xpf_trace_record, process_ns));
	H(sizeof(struct xpf_event_verdict)); H(offsetof(struct xpf_event_verdict, object)); H(offsetof(struct xpf_event_verdict, ip_length));
	H(sizeof(struct xpf_index_bucket)); H(XPF_MAX_IFACES); H(XPF_MAX_QUEUES); H(XPF_DROP_MAX);
	/* the configuration snapshot's sections (xpf_config_abi.h) */
	H(XPF_CFG_SEC_COUNT); H(offsetof(struct xpf_config_snapshot, sections));
	H(offsetof(struct xpf_config_snapshot, global_policies)); H(sizeof(struct xpf_cfg_section));
	H(sizeof(struct xpf_cfg_range)); H(sizeof(struct xpf_cfg_prefix)); H(sizeof(struct xpf_cfg_port_range));
	H(sizeof(struct xpf_cfg_set)); H(sizeof(struct xpf_cfg_addr_range)); H(sizeof(struct xpf_cfg_iface));
	H(offsetof(struct xpf_cfg_iface, host_services)); H(sizeof(struct xpf_cfg_zone));
	H(sizeof(struct xpf_cfg_application)); H(sizeof(struct xpf_cfg_app_term));
	H(offsetof(struct xpf_cfg_app_term, timeout)); H(sizeof(struct xpf_cfg_policy));
	H(offsetof(struct xpf_cfg_policy, app_terms)); H(sizeof(struct xpf_cfg_term));
	H(offsetof(struct xpf_cfg_term, protocols)); H(offsetof(struct xpf_cfg_term, terminal));
	H(offsetof(struct xpf_cfg_term, counter)); H(sizeof(struct xpf_cfg_filter)); H(sizeof(struct xpf_cfg_counter));
	H(sizeof(struct xpf_cfg_policer)); H(sizeof(struct xpf_cfg_tc_policer)); H(sizeof(struct xpf_cfg_screen));
	H(offsetof(struct xpf_cfg_screen, session_limit_src)); H(sizeof(struct xpf_cfg_snat_pool));
	H(sizeof(struct xpf_cfg_dnat_pool)); H(sizeof(struct xpf_cfg_nat_rule_set)); H(sizeof(struct xpf_cfg_nat_rule));
	H(offsetof(struct xpf_cfg_nat_rule, protocols)); H(sizeof(struct xpf_cfg_mirror));
	H(sizeof(struct xpf_cfg_mirror_output)); H(XPF_HOST_SVC_COUNT); H(XPF_HOST_PROTO_COUNT);
	H(sizeof(struct xpf_cfg_policy_root)); H(sizeof(struct xpf_cfg_policy_node)); H(XPF_PF_COUNT); H(XPF_POLICY_REF_LEAF);
	H(XPF_SCREEN_CHECK_COUNT); H(XPF_REJECT_REASON_COUNT);
	/* packet trace */
	H(offsetof(struct xpf_worker_block, trace_seq)); H(offsetof(struct xpf_worker_block, trace_ring));
	H(sizeof(struct xpf_trace_filter)); H(sizeof(struct xpf_trace_record)); H(XPF_TRACE_RING_SIZE); H(XPF_TRACE_STAGE_COUNT);
	H(offsetof(struct xpf_trace_record, flow)); H(offsetof(struct xpf_trace_record, session)); H(offsetof(struct xpf_trace_record, policy));
	return h;
}

_Static_assert(sizeof(struct xpf_session) == 128, "session record must stay two cache lines");
_Static_assert(sizeof(struct xpf_index_bucket) == 64, "index bucket must be one cache line");
_Static_assert(sizeof(struct xpf_route) == 48, "route record size");
_Static_assert(sizeof(struct xpf_neigh) == 32, "neighbour record size");
_Static_assert(sizeof(struct xpf_if_addr) == 24, "interface address record size");

int xpf_xsk_create(struct xsk_socket **xsk, const char *ifname, uint32_t queue,
                   struct xsk_umem *umem, struct xsk_ring_cons *rx, struct xsk_ring_prod *tx,
                   struct xsk_ring_prod *fill, struct xsk_ring_cons *comp,
                   uint32_t rx_size, uint32_t tx_size)
{
	struct xsk_socket_config cfg = {
		.rx_size = rx_size,
		.tx_size = tx_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	if (fill == NULL)
		return xsk_socket__create(xsk, ifname, queue, umem, rx, tx, &cfg);
	return xsk_socket__create_shared(xsk, ifname, queue, umem, rx, tx, fill, comp, &cfg);
}

int xpf_xsk_statistics(int fd, uint64_t out[XPF_XSK_STATS])
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);

	memset(&st, 0, sizeof(st));
	if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
		return -errno;
	out[XPF_XSK_RX_RING_FULL] = st.rx_ring_full;
	out[XPF_XSK_FILL_RING_EMPTY] = st.rx_fill_ring_empty_descs;
	out[XPF_XSK_RX_DROPPED] = st.rx_dropped;
	out[XPF_XSK_TX_RING_EMPTY] = st.tx_ring_empty_descs;
	return 0;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level > LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int quiet_xdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (level > LIBXDP_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void xpf_quiet_libbpf(void)
{
	libbpf_set_print(quiet_print);
	libxdp_set_print(quiet_xdp_print);
}
