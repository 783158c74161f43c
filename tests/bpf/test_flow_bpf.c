// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tests of the XDP flow program through BPF_PROG_TEST_RUN on hand-built packets: the verdict
 * is always XDP_PASS with the frame untouched, and the flow map, counters and export ring
 * hold exactly what the packets should produce. Needs root; skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "flow.skel.h"
#include "flow_parse.h"

#define NS 1000000000ULL

struct frame {
	uint8_t data[256];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet / IPv4 / TCP, 10.0.0.1:sport -> 10.0.0.<dst>:80, IP total length 40 + payload */
static struct frame tcp_frame(uint16_t sport, uint8_t dst, uint8_t flags, uint16_t payload)
{
	struct frame f = { .len = 54 };
	uint8_t *ip = f.data + 14, *tcp = ip + 20;

	put16(f.data + 12, FLOW_ETH_P_IPV4);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + payload));
	ip[8] = 64;
	ip[9] = FLOW_IPPROTO_TCP;
	ip[12] = 10, ip[15] = 1;
	ip[16] = 10, ip[19] = dst;
	put16(tcp, sport);
	put16(tcp + 2, 80);
	tcp[12] = 0x50;
	tcp[13] = flags;
	return f;
}

static struct flow_bpf *open_and_load(uint32_t replay_meta, uint32_t sampling, uint64_t idle_ns,
				      uint64_t active_ns, uint32_t max_flows)
{
	struct flow_bpf *skel = flow_bpf__open();

	assert_non_null(skel);
	skel->rodata->use_replay_meta = replay_meta;
	skel->rodata->sampling_rate = sampling;
	skel->rodata->idle_timeout_ns = idle_ns;
	skel->rodata->active_timeout_ns = active_ns;
	assert_int_equal(bpf_map__set_max_entries(skel->maps.flow_table, max_flows), 0);
	assert_int_equal(flow_bpf__load(skel), 0);
	return skel;
}

/* Runs one frame live-style (no metadata); asserts XDP_PASS and an untouched frame. */
static void run_live(struct flow_bpf *skel, const struct frame *f, int repeat)
{
	uint8_t out[sizeof(f->data)];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->data, .data_size_in = f->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	assert_int_equal(
		bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_flow_ingress), &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
	assert_int_equal(opts.data_size_out, f->len);
	assert_memory_equal(out, f->data, f->len);
}

/* Runs one frame the way the kernel replay engine does, with flow_replay_meta in front. */
static void run_replay(struct flow_bpf *skel, const struct frame *f, uint64_t ts_ns,
		       uint32_t orig_len, uint32_t link_type)
{
	uint8_t buf[sizeof(struct flow_replay_meta) + sizeof(f->data)];
	struct flow_replay_meta meta = {
		.ts_ns = ts_ns,
		.orig_len = orig_len,
		.cap_len = f->len,
		.link_type = link_type,
	};
	uint32_t frame_len = f->len < 14 ? 14 : f->len;
	struct xdp_md ctx = { .data = sizeof(meta), .data_end = sizeof(meta) + frame_len };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = ctx.data_end,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &meta, sizeof(meta));
	memcpy(buf + sizeof(meta), f->data, f->len);
	assert_int_equal(
		bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_flow_ingress), &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
}

static uint64_t counter(struct flow_bpf *skel, uint32_t index)
{
	int cpus = libbpf_num_possible_cpus();
	uint64_t values[cpus], sum = 0;
	int i;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.flow_counters), &index, values),
			 0);
	for (i = 0; i < cpus; i++)
		sum += values[i];
	return sum;
}

/* The merged per-CPU metrics of flow (sport, dst, direction) in map_fd, packets 0 if absent. */
static struct flow_metrics flow_lookup_in(int map_fd, uint16_t sport, uint8_t dst, uint32_t ifindex,
					  uint8_t direction)
{
	int cpus = libbpf_num_possible_cpus();
	struct flow_metrics values[cpus], total = { 0 };
	struct flow_key key = { .src_port = sport,
				.dst_port = 80,
				.proto = FLOW_IPPROTO_TCP,
				.ifindex = ifindex,
				.direction = direction };
	int i;

	key.src_addr[10] = key.src_addr[11] = key.dst_addr[10] = key.dst_addr[11] = 0xff;
	key.src_addr[12] = 10, key.src_addr[15] = 1;
	key.dst_addr[12] = 10, key.dst_addr[15] = dst;
	if (bpf_map_lookup_elem(map_fd, &key, values))
		return total;
	for (i = 0; i < cpus; i++)
		flow_metrics_merge(&total, &values[i]);
	return total;
}

static struct flow_metrics flow_lookup(struct flow_bpf *skel, uint16_t sport, uint8_t dst,
				       uint32_t ifindex)
{
	return flow_lookup_in(bpf_map__fd(skel->maps.flow_table), sport, dst, ifindex,
			      FLOW_DIR_INGRESS);
}

static int skip_unless_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	return 0;
}

static void test_live_packet_recorded_and_passed(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 1024);
	struct frame f = tcp_frame(40000, 2, 0x02, 0);
	struct frame g = tcp_frame(40000, 2, 0x18, 1400);
	struct flow_metrics m;

	(void)state;
	run_live(skel, &f, 1);
	g.len = 96; /* snaplen-like: the IP header still says 1440 */
	run_live(skel, &g, 3);
	m = flow_lookup(skel, 40000, 2, 1 /* test runs arrive on loopback */);
	assert_int_equal(m.packets, 4);
	assert_int_equal(m.bytes, 40 + 3 * 1440);
	assert_int_equal(m.tcp_flags, 0x1a);
	assert_true(m.first_seen_ns > 0 && m.last_seen_ns >= m.first_seen_ns);
	assert_int_equal(counter(skel, FLOW_CNT_PACKETS), 4);
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 4);
	flow_bpf__destroy(skel);
}

static void test_non_ip_and_malformed_counted_and_passed(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 1024);
	struct frame arp = { .len = 42 };
	struct frame bad = tcp_frame(1, 2, 0, 0);

	(void)state;
	put16(arp.data + 12, 0x0806);
	run_live(skel, &arp, 2);
	bad.data[14] = 0x44; /* IHL 4 */
	run_live(skel, &bad, 1);
	bad.data[14] = 0x45;
	put16(bad.data + 16, 10); /* total length below the header */
	run_live(skel, &bad, 1);
	assert_int_equal(counter(skel, FLOW_CNT_PACKETS), 4);
	assert_int_equal(counter(skel, FLOW_CNT_NON_IP), 2);
	assert_int_equal(counter(skel, FLOW_CNT_IP_BAD_HEADER_LEN), 1);
	assert_int_equal(counter(skel, FLOW_CNT_IP_BAD_TOTAL_LEN), 1);
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 0);
	flow_bpf__destroy(skel);
}

static void test_map_full_counted_not_dropped(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 2);
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		struct frame f = tcp_frame((uint16_t)(1000 + i), 2, 0x10, 0);

		run_live(skel, &f, 1);
	}
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 2);
	assert_int_equal(counter(skel, FLOW_CNT_MAP_FULL), 3);
	assert_int_equal(flow_lookup(skel, 1000, 2, 1).packets, 1);
	assert_int_equal(flow_lookup(skel, 1004, 2, 1).packets, 0);
	flow_bpf__destroy(skel);
}

static int collect_record(void *ctx, void *data, size_t size)
{
	struct flow_record *records = ctx;

	assert_int_equal(size, sizeof(struct flow_record));
	for (; records->stats.packets; records++)
		;
	memcpy(records, data, sizeof(*records));
	return 0;
}

static void test_replay_meta_timeouts_export_records(void **state)
{
	struct flow_bpf *skel = open_and_load(1, 1, 15 * NS, 60 * NS, 1024);
	struct flow_record records[8] = { 0 };
	struct frame f = tcp_frame(5555, 3, 0x10, 1000);
	struct ring_buffer *ring;
	struct flow_metrics m;

	(void)state;
	f.len = 60;
	run_replay(skel, &f, 100 * NS, 1054, FLOW_LINKTYPE_ETHERNET);
	run_replay(skel, &f, 110 * NS, 1054, FLOW_LINKTYPE_ETHERNET);
	/* 16 s idle: the first record ends */
	run_replay(skel, &f, 126 * NS, 1054, FLOW_LINKTYPE_ETHERNET);
	run_replay(skel, &f, 140 * NS, 1054, FLOW_LINKTYPE_ETHERNET);
	run_replay(skel, &f, 150 * NS, 1054, FLOW_LINKTYPE_ETHERNET);
	/* 60 s after 126: the second record ends on the active timeout */
	run_replay(skel, &f, 186 * NS, 1054, FLOW_LINKTYPE_ETHERNET);

	ring = ring_buffer__new(bpf_map__fd(skel->maps.flow_exports), collect_record, records,
				NULL);
	assert_non_null(ring);
	assert_int_equal(ring_buffer__consume(ring), 2);
	assert_int_equal(records[0].stats.packets, 2);
	assert_int_equal(records[0].stats.bytes, 2 * 1040);
	assert_int_equal(records[0].stats.first_seen_ns, 100 * NS);
	assert_int_equal(records[0].stats.last_seen_ns, 110 * NS);
	assert_int_equal(records[0].sampling, 1);
	assert_int_equal(records[1].stats.packets, 3);
	assert_int_equal(records[1].stats.first_seen_ns, 126 * NS);
	assert_int_equal(records[1].stats.last_seen_ns, 150 * NS);
	/* replay records carry no interface */
	m = flow_lookup(skel, 5555, 3, 0);
	assert_int_equal(m.packets, 1);
	assert_int_equal(m.first_seen_ns, 186 * NS);
	assert_int_equal(counter(skel, FLOW_CNT_SPLIT), 2);
	ring_buffer__free(ring);
	flow_bpf__destroy(skel);
}

static void test_replay_meta_lengths_and_link_type(void **state)
{
	struct flow_bpf *skel = open_and_load(1, 1, 0, 0, 1024);
	struct frame f = tcp_frame(7777, 4, 0x10, 0);
	struct frame raw = { 0 };
	struct frame tiny = { .len = 1 };
	struct flow_metrics m;

	(void)state;
	/* BIG TCP: total length 0, the wire length from the metadata */
	put16(f.data + 16, 0);
	run_replay(skel, &f, 1 * NS, 80014, FLOW_LINKTYPE_ETHERNET);
	m = flow_lookup(skel, 7777, 4, 0);
	assert_int_equal(m.bytes, 80000);
	assert_int_equal(counter(skel, FLOW_CNT_BYTES_FROM_FRAME), 1);

	/* raw IP link type: the same packet without its Ethernet header */
	f = tcp_frame(7778, 4, 0x10, 0);
	memcpy(raw.data, f.data + 14, 40);
	raw.len = 40;
	run_replay(skel, &raw, 2 * NS, 40, FLOW_LINKTYPE_RAW);
	assert_int_equal(flow_lookup(skel, 7778, 4, 0).packets, 1);

	/* a 1-byte capture, padded to the 14-byte test-run minimum, is still 1 byte */
	tiny.data[0] = 0x45;
	run_replay(skel, &tiny, 3 * NS, 60, FLOW_LINKTYPE_RAW);
	assert_int_equal(counter(skel, FLOW_CNT_IP_TRUNCATED), 1);
	flow_bpf__destroy(skel);
}

/* The merged metrics of any key in the flow table of a replay (ifindex 0, ingress). */
static struct flow_metrics flow_lookup_key(struct flow_bpf *skel, const struct flow_key *key)
{
	int cpus = libbpf_num_possible_cpus();
	struct flow_metrics values[cpus], total = { 0 };
	int i;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.flow_table), key, values))
		return total;
	for (i = 0; i < cpus; i++)
		flow_metrics_merge(&total, &values[i]);
	return total;
}

/* 10.0.0.1 -> 10.0.0.<dst>, proto TCP, with the given ports */
static struct flow_key tcp_key(uint16_t sport, uint16_t dport, uint8_t dst)
{
	struct flow_key key = { .src_port = sport, .dst_port = dport, .proto = FLOW_IPPROTO_TCP };

	key.src_addr[10] = key.src_addr[11] = key.dst_addr[10] = key.dst_addr[11] = 0xff;
	key.src_addr[12] = 10, key.src_addr[15] = 1;
	key.dst_addr[12] = 10, key.dst_addr[15] = dst;
	return key;
}

/* The IP packet of an Ethernet frame behind another link-layer header. */
static struct frame relink(const struct frame *eth, const uint8_t *head, uint32_t head_len)
{
	struct frame f = { .len = head_len + eth->len - 14 };

	memcpy(f.data, head, head_len);
	memcpy(f.data + head_len, eth->data + 14, eth->len - 14);
	return f;
}

/*
 * A first fragment whose total length leaves 16 bytes for TCP, padded to a 60-byte frame: no
 * ports from the padding. IPv6 likewise, bounded by its payload length.
 */
static void test_l4_header_bounded_by_the_datagram(void **state)
{
	struct flow_bpf *skel = open_and_load(1, 1, 0, 0, 1024);
	struct frame f = tcp_frame(24102, 5, 0x23, 0);
	struct frame v6 = { .len = 14 + 40 + 20 };
	struct flow_key key4 = tcp_key(0, 0, 5), key6 = { .proto = FLOW_IPPROTO_TCP };
	struct flow_metrics m;

	(void)state;
	put16(f.data + 16, 36);
	put16(f.data + 20, 0x2000); /* more fragments, offset 0 */
	memset(f.data + 50, 0x29, 10);
	f.len = 60;
	run_replay(skel, &f, 1 * NS, 60, FLOW_LINKTYPE_ETHERNET);
	assert_int_equal(flow_lookup(skel, 24102, 5, 0).packets, 0);
	m = flow_lookup_key(skel, &key4);
	assert_int_equal(m.packets, 1);
	assert_int_equal(m.bytes, 36);
	assert_int_equal(m.tcp_flags, 0);

	/* the same header with total length 40 is whole: ports and flags */
	put16(f.data + 16, 40);
	run_replay(skel, &f, 2 * NS, 60, FLOW_LINKTYPE_ETHERNET);
	m = flow_lookup(skel, 24102, 5, 0);
	assert_int_equal(m.packets, 1);
	assert_int_equal(m.bytes, 40);
	assert_int_equal(m.tcp_flags, 0x23);

	/* IPv6, payload length 12: the 20-byte TCP header does not fit */
	put16(v6.data + 12, FLOW_ETH_P_IPV6);
	v6.data[14] = 0x60;
	put16(v6.data + 18, 12);
	v6.data[20] = FLOW_IPPROTO_TCP;
	v6.data[22 + 15] = 1;
	v6.data[38 + 15] = 2;
	put16(v6.data + 54, 80);
	put16(v6.data + 56, 1234);
	v6.data[54 + 12] = 0x50;
	v6.data[54 + 13] = 0x02;
	run_replay(skel, &v6, 3 * NS, v6.len, FLOW_LINKTYPE_ETHERNET);
	key6.src_addr[15] = 1;
	key6.dst_addr[15] = 2;
	m = flow_lookup_key(skel, &key6);
	assert_int_equal(m.packets, 1);
	assert_int_equal(m.bytes, 52);
	assert_int_equal(m.tcp_flags, 0);

	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 3);
	assert_int_equal(counter(skel, FLOW_CNT_L4_TRUNCATED), 2);
	assert_int_equal(counter(skel, FLOW_CNT_FLOW_CREATED), 3);
	flow_bpf__destroy(skel);
}

/* PPPoE with a 1-byte PPP protocol, and link types 9 and 50 (PPP, Cisco HDLC). */
static void test_ppp_links_and_protocol_compression(void **state)
{
	static const uint8_t pppoe_head[] = { 2, 0,    0,    0,	   0, 1, 2,    0, 0,  0,   0,
					      2, 0x88, 0x64, 0x11, 0, 0, 0x42, 0, 41, 0x21 };
	static const uint8_t ppp_head[] = { 0xff, 0x03, 0x21 };
	static const uint8_t ppp_bare_head[] = { 0x00, 0x21 };
	static const uint8_t chdlc_head[] = { 0x0f, 0x00, 0x08, 0x00 };
	static const uint8_t lcp_head[] = { 0xff, 0x03, 0xc0, 0x21 };
	struct flow_bpf *skel = open_and_load(1, 1, 0, 0, 1024);
	struct frame f;
	struct flow_metrics m;
	int i;

	(void)state;
	f = tcp_frame(6000, 6, 0x02, 0);
	f = relink(&f, pppoe_head, sizeof(pppoe_head));
	run_replay(skel, &f, 1 * NS, f.len, FLOW_LINKTYPE_ETHERNET);
	f = tcp_frame(6001, 6, 0x02, 0);
	f = relink(&f, ppp_head, sizeof(ppp_head));
	run_replay(skel, &f, 2 * NS, f.len, FLOW_LINKTYPE_PPP);
	f = tcp_frame(6002, 6, 0x02, 0);
	f = relink(&f, ppp_bare_head, sizeof(ppp_bare_head));
	run_replay(skel, &f, 3 * NS, f.len, FLOW_LINKTYPE_PPP);
	f = tcp_frame(6003, 6, 0x02, 0);
	f = relink(&f, ppp_head, sizeof(ppp_head));
	run_replay(skel, &f, 4 * NS, f.len, FLOW_LINKTYPE_PPP_HDLC);
	f = tcp_frame(6004, 6, 0x02, 0);
	f = relink(&f, chdlc_head, sizeof(chdlc_head));
	run_replay(skel, &f, 5 * NS, f.len, FLOW_LINKTYPE_PPP_HDLC);
	f = tcp_frame(6005, 6, 0x02, 0);
	f = relink(&f, lcp_head, sizeof(lcp_head));
	run_replay(skel, &f, 6 * NS, f.len, FLOW_LINKTYPE_PPP);
	for (i = 0; i < 5; i++) {
		m = flow_lookup(skel, (uint16_t)(6000 + i), 6, 0);
		assert_int_equal(m.packets, 1);
		assert_int_equal(m.bytes, 40);
		assert_int_equal(m.tcp_flags, 0x02);
		assert_int_equal(m.first_seen_ns, (uint64_t)(i + 1) * NS);
	}
	assert_int_equal(flow_lookup(skel, 6005, 6, 0).packets, 0);
	assert_int_equal(counter(skel, FLOW_CNT_PACKETS), 6);
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 5);
	assert_int_equal(counter(skel, FLOW_CNT_NON_IP), 1);
	assert_int_equal(counter(skel, FLOW_CNT_LINK_UNSUPPORTED), 0);
	flow_bpf__destroy(skel);
}

static void test_replay_without_meta_is_counted(void **state)
{
	struct flow_bpf *skel = open_and_load(1, 1, 0, 0, 1024);
	struct frame f = tcp_frame(1, 2, 0, 0);

	(void)state;
	run_live(skel, &f, 1);
	assert_int_equal(counter(skel, FLOW_CNT_META_INVALID), 1);
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 0);
	flow_bpf__destroy(skel);
}

static void test_sampling_one_in_n(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 4, 0, 0, 1024);
	struct frame f = tcp_frame(9999, 5, 0x10, 0);
	uint64_t recorded, sampled_out;

	(void)state;
	run_live(skel, &f, 4000);
	recorded = counter(skel, FLOW_CNT_RECORDED);
	sampled_out = counter(skel, FLOW_CNT_SAMPLED_OUT);
	assert_int_equal(recorded + sampled_out, 4000);
	assert_int_equal(flow_lookup(skel, 9999, 5, 1).packets, recorded);
	/* 1 in 4 at random: 1000 expected, far outside this band only if sampling is broken */
	assert_in_range(recorded, 700, 1300);
	flow_bpf__destroy(skel);
}

static void test_tc_egress_recorded_with_direction(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 1024);
	struct frame f = tcp_frame(6000, 9, 0x18, 960);
	uint8_t out[sizeof(f.data)];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data, .data_size_in = f.len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 2);
	struct flow_metrics egress, ingress;

	(void)state;
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tc_flow_egress), &opts),
			 0);
	assert_int_equal(opts.retval, (__u32)-1 /* TC_ACT_UNSPEC: the next program runs */);
	assert_memory_equal(out, f.data, f.len);
	/* test runs of an skb carry the loopback ifindex */
	egress = flow_lookup_in(bpf_map__fd(skel->maps.flow_table), 6000, 9, 1, FLOW_DIR_EGRESS);
	ingress = flow_lookup_in(bpf_map__fd(skel->maps.flow_table), 6000, 9, 1, FLOW_DIR_INGRESS);
	assert_int_equal(egress.packets, 2);
	assert_int_equal(egress.bytes, 2 * 1000);
	assert_int_equal(egress.tcp_flags, 0x18);
	assert_int_equal(ingress.packets, 0);
	assert_int_equal(counter(skel, FLOW_CNT_RECORDED), 2);
	flow_bpf__destroy(skel);
}

/* A GSO skb of 2 segments: 2 packets on the wire, each with its own 40 header bytes. */
static void test_tc_gso_counts_wire_packets(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 1024);
	struct frame f = tcp_frame(6100, 9, 0x10, 2 * 1448);
	struct __sk_buff ctx = { .gso_segs = 2, .gso_size = 1448 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data, .data_size_in = f.len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	struct flow_metrics egress;

	(void)state;
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tc_flow_egress), &opts),
			 0);
	egress = flow_lookup_in(bpf_map__fd(skel->maps.flow_table), 6100, 9, 1, FLOW_DIR_EGRESS);
	assert_int_equal(egress.packets, 2);
	assert_int_equal(egress.bytes, 2 * (40 + 1448));
	flow_bpf__destroy(skel);
}

/* Live capture drains by swapping a fresh map into flow_tables: packets go to the new one. */
static void test_swapped_map_takes_new_packets(void **state)
{
	struct flow_bpf *skel = open_and_load(0, 1, 0, 0, 1024);
	struct frame f = tcp_frame(7000, 8, 0x10, 0);
	int old_fd = bpf_map__fd(skel->maps.flow_table);
	__u32 zero = 0;
	int spare_fd;

	(void)state;
	spare_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "flow_spare", sizeof(struct flow_key),
				  sizeof(struct flow_metrics), 1024, NULL);
	assert_true(spare_fd >= 0);
	run_live(skel, &f, 3);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.flow_tables), &zero, &spare_fd,
					     BPF_ANY),
			 0);
	run_live(skel, &f, 5);
	assert_int_equal(flow_lookup_in(old_fd, 7000, 8, 1, FLOW_DIR_INGRESS).packets, 3);
	assert_int_equal(flow_lookup_in(spare_fd, 7000, 8, 1, FLOW_DIR_INGRESS).packets, 5);
	close(spare_fd);
	flow_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_live_packet_recorded_and_passed, skip_unless_root),
		cmocka_unit_test_setup(test_non_ip_and_malformed_counted_and_passed,
				       skip_unless_root),
		cmocka_unit_test_setup(test_map_full_counted_not_dropped, skip_unless_root),
		cmocka_unit_test_setup(test_replay_meta_timeouts_export_records, skip_unless_root),
		cmocka_unit_test_setup(test_replay_meta_lengths_and_link_type, skip_unless_root),
		cmocka_unit_test_setup(test_l4_header_bounded_by_the_datagram, skip_unless_root),
		cmocka_unit_test_setup(test_ppp_links_and_protocol_compression, skip_unless_root),
		cmocka_unit_test_setup(test_replay_without_meta_is_counted, skip_unless_root),
		cmocka_unit_test_setup(test_sampling_one_in_n, skip_unless_root),
		cmocka_unit_test_setup(test_tc_egress_recorded_with_direction, skip_unless_root),
		cmocka_unit_test_setup(test_swapped_map_takes_new_packets, skip_unless_root),
		cmocka_unit_test_setup(test_tc_gso_counts_wire_packets, skip_unless_root),
	};

	return cmocka_run_group_tests_name("flow_bpf", tests, NULL, NULL);
}
