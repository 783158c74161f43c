// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow meter in the kernel: XDP on ingress and TC on egress parse every frame with the
 * shared parser and aggregate it into a per-CPU flow table, without locks. They never drop or
 * alter traffic: whatever they cannot record is counted by reason and the packet passes.
 *
 * Replay runs this same program through BPF_PROG_TEST_RUN with the capture's timestamp,
 * lengths and link type in the XDP metadata (use_replay_meta), and with packet-time timeouts
 * that close records into the flow_exports ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "flow.h"
#include "flow_parse.h"

#define EEXIST 17
/* the next program or filter runs too: TCX_NEXT for TCX, continue for clsact */
#define TC_ACT_UNSPEC (-1)

/* Load-time configuration, set through skel->rodata before load. */
const volatile __u32 sampling_rate = 1;	  /* 1:N packet sampling */
const volatile __u32 use_replay_meta = 0; /* take ts/lengths/link type from XDP metadata */
const volatile __u32 link_type = FLOW_LINKTYPE_ETHERNET;
const volatile __u64 idle_timeout_ns = 0; /* 0: userspace expires records */
const volatile __u64 active_timeout_ns = 0;

/* All maps of the flow meter. */
struct flow_table_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_metrics);
	__uint(max_entries, 65536); /* --max-flows */
} flow_table SEC(".maps");	    /* flow_key -> per-CPU flow_metrics */

/*
 * 0 -> the flow map packets go to. Live capture swaps a fresh map in to drain the old one
 * completely: the update waits until no program still holds the old map, so no packet is lost
 * between reading an entry and deleting it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct flow_table_map);
} flow_tables SEC(".maps") = {
	.values = { [0] = &flow_table },
};

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
 * Global functions are verified once, with off unknown. Inlined, the verifier walks the IPv6
 * extension headers again for every VLAN/MPLS/PPPoE header length and passes its 1M limit.
 * BPF functions take at most 5 arguments, so off, version and cap_len (each <= 2048) share one.
 * One function per context type: a global function's context argument has a fixed type.
 */
#define IP_ARGS_PACK(off, version, cap_len) ((off) | ((__u32)(version) << 12) | ((cap_len) << 16))

static __always_inline int flow_parse_ip_unpacked(void *data, void *data_end, __u32 packed_args,
						  __u32 orig_len, struct flow_key *key,
						  struct flow_packet *pkt)
{
	struct flow_frame frame = {
		.data = data,
		.data_end = data_end,
		.cap_len = packed_args >> 16,
		.orig_len = orig_len,
	};

	if (!key || !pkt)
		return FLOW_CNT_IP_TRUNCATED;
	return flow_parse_ip(&frame, packed_args & 0xfff, (packed_args >> 12) & 0xf, key, pkt);
}

__noinline int flow_parse_ip_xdp(struct xdp_md *ctx, __u32 packed_args, __u32 orig_len,
				 struct flow_key *key, struct flow_packet *pkt)
{
	return flow_parse_ip_unpacked((void *)(long)ctx->data, (void *)(long)ctx->data_end,
				      packed_args, orig_len, key, pkt);
}

__noinline int flow_parse_ip_skb(struct __sk_buff *ctx, __u32 packed_args, __u32 orig_len,
				 struct flow_key *key, struct flow_packet *pkt)
{
	return flow_parse_ip_unpacked((void *)(long)ctx->data, (void *)(long)ctx->data_end,
				      packed_args, orig_len, key, pkt);
}

/*
 * The link layer, parsed inline; on FLOW_CNT_RECORDED, *packed holds the arguments of the IP
 * parse that follows. The frame is clamped to what the parser may read.
 */
static __always_inline int flow_parse_link_packed(struct flow_frame *frame, struct flow_key *key,
						  __u32 *packed)
{
	int version, result;
	__u32 off;

	if (frame->cap_len > FLOW_PARSE_MAX_BYTES)
		frame->cap_len = FLOW_PARSE_MAX_BYTES;
	result = flow_parse_link(frame, key, &off, &version);
	if (result != FLOW_CNT_RECORDED)
		return result;
	if (off > FLOW_PARSE_MAX_BYTES)
		return FLOW_CNT_IP_TRUNCATED;
	*packed = IP_ARGS_PACK(off, version, frame->cap_len);
	return FLOW_CNT_RECORDED;
}

/*
 * One frame parse per hook, so which global IP parse a program calls is fixed when it is
 * compiled: no runtime branch the verifier would have to see folded away.
 */
static __always_inline int flow_parse_xdp(struct xdp_md *ctx, struct flow_frame *frame,
					  struct flow_key *key, struct flow_packet *pkt)
{
	__u32 packed = 0;
	int result = flow_parse_link_packed(frame, key, &packed);

	if (result != FLOW_CNT_RECORDED)
		return result;
	return flow_parse_ip_xdp(ctx, packed, frame->orig_len, key, pkt);
}

static __always_inline int flow_parse_tc(struct __sk_buff *skb, struct flow_frame *frame,
					 struct flow_key *key, struct flow_packet *pkt)
{
	__u32 packed = 0;
	int result = flow_parse_link_packed(frame, key, &packed);

	if (result != FLOW_CNT_RECORDED)
		return result;
	return flow_parse_ip_skb(skb, packed, frame->orig_len, key, pkt);
}

static __always_inline void counter_add(__u32 counter, __u64 value)
{
	__u64 *count = bpf_map_lookup_elem(&flow_counters, &counter);

	if (count)
		*count += value;
}

static __always_inline void flow_export(const struct flow_key *key,
					const struct flow_metrics *stats)
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
					const struct flow_packet *pkt, __u32 packets)
{
	struct flow_metrics fresh = {};
	struct flow_metrics *stats;
	__u32 zero = 0;
	void *table;
	int err;

	table = bpf_map_lookup_elem(&flow_tables, &zero);
	if (!table)
		return FLOW_CNT_MAP_FULL;
	stats = bpf_map_lookup_elem(table, key);
	if (!stats) {
		flow_metrics_start_n(&fresh, ts_ns, packets, pkt->bytes, pkt->tcp_flags);
		err = bpf_map_update_elem(table, key, &fresh, BPF_NOEXIST);
		if (!err) {
			counter_add(FLOW_CNT_FLOW_CREATED, 1);
			return FLOW_CNT_RECORDED;
		}
		if (err != -EEXIST)
			return FLOW_CNT_MAP_FULL;
		/* Another CPU inserted the key meanwhile; our CPU's slot is zeroed. */
		stats = bpf_map_lookup_elem(table, key);
		if (!stats)
			return FLOW_CNT_MAP_FULL;
	}
	if (stats->packets == 0) {
		flow_metrics_start_n(stats, ts_ns, packets, pkt->bytes, pkt->tcp_flags);
	} else if (flow_metrics_should_split(stats, ts_ns, idle_timeout_ns, active_timeout_ns)) {
		flow_export(key, stats);
		counter_add(FLOW_CNT_SPLIT, 1);
		flow_metrics_start_n(stats, ts_ns, packets, pkt->bytes, pkt->tcp_flags);
	} else {
		flow_metrics_add_n(stats, ts_ns, packets, pkt->bytes, pkt->tcp_flags);
	}
	return FLOW_CNT_RECORDED;
}

/*
 * Records one parsed frame, or counts why it was not: result is what the parse returned. A GSO
 * skb on egress stands for `segments` packets on the wire, each with its own copy of the
 * headers; the IP length field covers one copy.
 */
static __always_inline void flow_meter(int result, struct flow_key *key, struct flow_packet *pkt,
				       __u64 ts_ns, __u32 ifindex, __u8 direction, __u32 segments)
{
	int i;

	if (result == FLOW_CNT_RECORDED) {
		key->ifindex = ifindex;
		key->direction = direction;
		if (segments > 1 && pkt->header_len)
			pkt->bytes += (segments - 1) * pkt->header_len;
		else
			segments = 1;
		result = flow_account(key, ts_ns, pkt, segments);
	}
	counter_add(result, 1);
	if (result == FLOW_CNT_RECORDED && pkt->notes) {
		for (i = 0; i < FLOW_CNT_MAX - FLOW_CNT_NOTES_FIRST; i++)
			if (pkt->notes & (1u << i))
				counter_add(FLOW_CNT_NOTES_FIRST + i, 1);
	}
}

static __always_inline int flow_sampled_out(void)
{
	counter_add(FLOW_CNT_PACKETS, 1);
	if (sampling_rate > 1 && bpf_get_prandom_u32() % sampling_rate) {
		counter_add(FLOW_CNT_SAMPLED_OUT, 1);
		return 1;
	}
	return 0;
}

SEC("xdp")
int xdp_flow_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_frame frame = {
		.data = data,
		.data_end = data_end,
	};
	__u32 readable = data_end - data;
	struct flow_packet pkt = {};
	struct flow_key key = {};
	__u64 ts_ns;

	if (flow_sampled_out())
		return XDP_PASS;
	if (use_replay_meta) {
		struct flow_replay_meta *meta = (void *)(long)ctx->data_meta;

		if ((void *)(meta + 1) > data) {
			counter_add(FLOW_CNT_META_INVALID, 1);
			return XDP_PASS;
		}
		ts_ns = meta->ts_ns;
		frame.cap_len = meta->cap_len < readable ? meta->cap_len : readable;
		frame.orig_len = meta->orig_len;
		frame.link_type = meta->link_type;
		flow_meter(flow_parse_xdp(ctx, &frame, &key, &pkt), &key, &pkt, ts_ns, 0,
			   FLOW_DIR_INGRESS, 1);
		return XDP_PASS;
	}
	/* without xdp.frags the program only ever gets linear frames: all of it is readable */
	frame.cap_len = readable;
	frame.orig_len = readable;
	frame.link_type = link_type;
	flow_meter(flow_parse_xdp(ctx, &frame, &key, &pkt), &key, &pkt, bpf_ktime_get_ns(),
		   ctx->ingress_ifindex, FLOW_DIR_INGRESS, 1);
	return XDP_PASS;
}

/* Egress, on the same flow map. Headers sit in the linear part of the skb. */
SEC("tc")
int tc_flow_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow_frame frame = {
		.data = data,
		.data_end = data_end,
		.cap_len = data_end - data,
		.orig_len = skb->len,
		.link_type = FLOW_LINKTYPE_ETHERNET,
	};
	struct flow_packet pkt = {};
	struct flow_key key = {};

	if (!flow_sampled_out())
		flow_meter(flow_parse_tc(skb, &frame, &key, &pkt), &key, &pkt, bpf_ktime_get_ns(),
			   skb->ifindex, FLOW_DIR_EGRESS, skb->gso_segs);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
