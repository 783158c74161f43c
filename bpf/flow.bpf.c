// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow meter in the kernel: parses every frame with the shared parser and aggregates it
 * into a per-CPU flow table, without locks. It never drops or alters traffic: whatever it
 * cannot record is counted by reason and the packet passes.
 *
 * Replay runs this same program through BPF_PROG_TEST_RUN with the capture's timestamp,
 * lengths and link type in the XDP metadata (use_replay_meta), and with packet-time timeouts
 * that close records into the flow_exports ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "flow.h"

struct flow_frame;
struct flow_key;
struct flow_packet;
static __always_inline int flow_parse_ip_checked_once(const struct flow_frame *frame, __u32 off,
						      int version, struct flow_key *key,
						      struct flow_packet *pkt);
#define FLOW_PARSE_IP flow_parse_ip_checked_once
#include "flow_parse.h"

#define EEXIST 17

/* Load-time configuration, set through skel->rodata before load. */
const volatile __u32 sampling_rate = 1;		/* 1:N packet sampling */
const volatile __u32 use_replay_meta = 0;	/* take ts/lengths/link type from XDP metadata */
const volatile __u32 link_type = FLOW_LINKTYPE_ETHERNET;
const volatile __u64 idle_timeout_ns = 0;	/* 0: userspace expires records */
const volatile __u64 active_timeout_ns = 0;

/* All maps of the flow meter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_metrics);
	__uint(max_entries, 65536); /* --max-flows */
} flow_table SEC(".maps"); /* flow_key -> per-CPU flow_metrics */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FLOW_CNT_MAX);
} flow_counters SEC(".maps"); /* enum flow_counter -> per-CPU count */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} flow_exports SEC(".maps"); /* struct flow_record closed by a timeout, in order */

/*
 * A global function is verified once, with off unknown. Inlined, the verifier walks the IPv6
 * extension headers again for every VLAN/MPLS/PPPoE header length and passes its 1M limit.
 * BPF functions take at most 5 arguments, so off, version and cap_len (each <= 2048) share one.
 */
#define IP_ARGS_PACK(off, version, cap_len) ((off) | ((__u32)(version) << 12) | ((cap_len) << 16))

__noinline int flow_parse_ip_global(struct xdp_md *ctx, __u32 packed_args, __u32 orig_len,
				    struct flow_key *key, struct flow_packet *pkt)
{
	struct flow_frame frame = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
		.cap_len = packed_args >> 16,
		.orig_len = orig_len,
	};

	if (!key || !pkt)
		return FLOW_CNT_IP_TRUNCATED;
	return flow_parse_ip(&frame, packed_args & 0xfff, (packed_args >> 12) & 0xf, key, pkt);
}

static __always_inline int flow_parse_ip_checked_once(const struct flow_frame *frame, __u32 off,
						      int version, struct flow_key *key,
						      struct flow_packet *pkt)
{
	if (off > FLOW_PARSE_MAX_BYTES)
		return FLOW_CNT_IP_TRUNCATED;
	return flow_parse_ip_global(frame->bpf_ctx, IP_ARGS_PACK(off, version, frame->cap_len),
				    frame->orig_len, key, pkt);
}

static __always_inline void counter_add(__u32 counter, __u64 value)
{
	__u64 *count = bpf_map_lookup_elem(&flow_counters, &counter);

	if (count)
		*count += value;
}

static __always_inline void flow_export(const struct flow_key *key, const struct flow_metrics *stats)
{
	struct flow_record *record = bpf_ringbuf_reserve(&flow_exports, sizeof(*record), 0);

	if (!record) {
		counter_add(FLOW_CNT_EXPORT_LOST, 1);
		return;
	}
	__builtin_memcpy(&record->key, key, sizeof(*key));
	record->sampling = sampling_rate;
	__builtin_memcpy(&record->stats, stats, sizeof(*stats));
	bpf_ringbuf_submit(record, 0);
}

static __always_inline int flow_account(const struct flow_key *key, __u64 ts_ns,
					const struct flow_packet *pkt)
{
	struct flow_metrics fresh = {};
	struct flow_metrics *stats;
	int err;

	stats = bpf_map_lookup_elem(&flow_table, key);
	if (!stats) {
		flow_metrics_start(&fresh, ts_ns, pkt->bytes, pkt->tcp_flags);
		err = bpf_map_update_elem(&flow_table, key, &fresh, BPF_NOEXIST);
		if (!err)
			return FLOW_CNT_RECORDED;
		if (err != -EEXIST)
			return FLOW_CNT_MAP_FULL;
		/* Another CPU inserted the key meanwhile; our CPU's slot is zeroed. */
		stats = bpf_map_lookup_elem(&flow_table, key);
		if (!stats)
			return FLOW_CNT_MAP_FULL;
	}
	if (stats->packets == 0) {
		flow_metrics_start(stats, ts_ns, pkt->bytes, pkt->tcp_flags);
	} else if (flow_metrics_should_split(stats, ts_ns, idle_timeout_ns, active_timeout_ns)) {
		flow_export(key, stats);
		counter_add(FLOW_CNT_SPLIT, 1);
		flow_metrics_start(stats, ts_ns, pkt->bytes, pkt->tcp_flags);
	} else {
		flow_metrics_add(stats, ts_ns, pkt->bytes, pkt->tcp_flags);
	}
	return FLOW_CNT_RECORDED;
}

SEC("xdp")
int xdp_flow_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_packet pkt = {};
	struct flow_key key = {};
	struct flow_frame frame;
	__u32 readable = data_end - data;
	__u64 ts_ns;
	int result, i;

	counter_add(FLOW_CNT_PACKETS, 1);
	if (sampling_rate > 1 && bpf_get_prandom_u32() % sampling_rate) {
		counter_add(FLOW_CNT_SAMPLED_OUT, 1);
		return XDP_PASS;
	}

	frame.data = data;
	frame.data_end = data_end;
	frame.bpf_ctx = ctx;
	if (use_replay_meta) {
		struct flow_replay_meta *meta = (void *)(long)ctx->data_meta;

		if ((void *)(meta + 1) > data) {
			counter_add(FLOW_CNT_META_INVALID, 1);
			return XDP_PASS;
		}
		ts_ns = meta->ts_ns;
		frame.cap_len = meta->cap_len;
		frame.orig_len = meta->orig_len;
		frame.link_type = meta->link_type;
	} else {
		ts_ns = bpf_ktime_get_ns();
		frame.cap_len = readable;
		frame.orig_len = bpf_xdp_get_buff_len(ctx);
		frame.link_type = link_type;
	}
	if (frame.cap_len > readable)
		frame.cap_len = readable;
	if (frame.cap_len > FLOW_PARSE_MAX_BYTES)
		frame.cap_len = FLOW_PARSE_MAX_BYTES;

	result = flow_parse_frame(&frame, &key, &pkt);
	if (result == FLOW_CNT_RECORDED) {
		if (!use_replay_meta)
			key.ifindex = ctx->ingress_ifindex;
		key.direction = FLOW_DIR_INGRESS;
		result = flow_account(&key, ts_ns, &pkt);
	}
	counter_add(result, 1);
	if (result == FLOW_CNT_RECORDED && pkt.notes) {
		for (i = 0; i < FLOW_CNT_MAX - FLOW_CNT_NOTES_FIRST; i++)
			if (pkt.notes & (1u << i))
				counter_add(FLOW_CNT_NOTES_FIRST + i, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
