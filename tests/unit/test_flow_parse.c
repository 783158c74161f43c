// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the shared packet parser (bpf/flow_parse.h) and accounting rules (bpf/flow.h),
 * one or more per rule of the flow record (docs/flow-record.md). Packets are hand-built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flow_parse.h"

/* --- a small packet builder ---------------------------------------------------------------- */

struct pkt {
	uint8_t data[4096];
	uint32_t len;
};

static void put(struct pkt *p, const void *bytes, uint32_t n)
{
	memcpy(p->data + p->len, bytes, n);
	p->len += n;
}

static void put8(struct pkt *p, uint8_t v)
{
	put(p, &v, 1);
}

static void put16(struct pkt *p, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(p, b, 2);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

static void eth(struct pkt *p, uint16_t ethertype)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

	put(p, macs, sizeof(macs));
	put16(p, ethertype);
}

static void vlan(struct pkt *p, uint16_t tci, uint16_t next)
{
	put16(p, tci);
	put16(p, next);
}

/* IPv4 header, 10.0.0.1 -> 10.0.0.2 unless changed; options_words extra 32-bit words. */
static void ipv4(struct pkt *p, uint8_t proto, uint16_t total_len, uint16_t frag, int options_words)
{
	int i;

	put8(p, (uint8_t)(0x40 | (5 + options_words)));
	put8(p, 0);
	put16(p, total_len);
	put16(p, 0x1234);
	put16(p, frag);
	put8(p, 64);
	put8(p, proto);
	put16(p, 0);
	put32(p, 0x0a000001);
	put32(p, 0x0a000002);
	for (i = 0; i < options_words; i++)
		put32(p, 0x01010101);
}

/* IPv6 header 2001:db8::1 -> 2001:db8::2 */
static void ipv6(struct pkt *p, uint8_t next_header, uint16_t payload_len)
{
	put32(p, 0x60000000);
	put16(p, payload_len);
	put8(p, next_header);
	put8(p, 64);
	put32(p, 0x20010db8);
	put32(p, 0);
	put32(p, 0);
	put32(p, 1);
	put32(p, 0x20010db8);
	put32(p, 0);
	put32(p, 0);
	put32(p, 2);
}

static void tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	put16(p, sport);
	put16(p, dport);
	put32(p, 1);
	put32(p, 0);
	put8(p, 0x50);
	put8(p, flags);
	put16(p, 65535);
	put32(p, 0);
}

static void udp(struct pkt *p, uint16_t sport, uint16_t dport, uint16_t len)
{
	put16(p, sport);
	put16(p, dport);
	put16(p, len);
	put16(p, 0);
}

/* generic extension header of 8 bytes */
static void ext8(struct pkt *p, uint8_t next_header)
{
	put8(p, next_header);
	put8(p, 0);
	put16(p, 0);
	put32(p, 0);
}

struct result {
	int code;
	struct flow_key key;
	struct flow_packet pkt;
};

static struct result parse_full(const struct pkt *p, uint32_t cap_len, uint32_t orig_len,
				uint32_t link_type)
{
	struct result r;
	struct flow_frame frame = {
		.data = p->data,
		.data_end = p->data + cap_len,
		.cap_len = cap_len,
		.orig_len = orig_len,
		.link_type = link_type,
	};

	memset(&r, 0, sizeof(r));
	r.code = flow_parse_frame(&frame, &r.key, &r.pkt);
	return r;
}

static struct result parse(const struct pkt *p, uint32_t link_type)
{
	return parse_full(p, p->len, p->len, link_type);
}

static const uint8_t v4_src[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 };
static const uint8_t v4_dst[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2 };
static const uint8_t v6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

static void assert_flow(const struct result *r, uint8_t proto, uint16_t sport, uint16_t dport,
			uint32_t bytes)
{
	assert_int_equal(r->code, FLOW_CNT_RECORDED);
	assert_int_equal(r->key.proto, proto);
	assert_int_equal(r->key.src_port, sport);
	assert_int_equal(r->key.dst_port, dport);
	assert_int_equal(r->pkt.bytes, bytes);
}

/* --- bytes ------------------------------------------------------------------------------- */

static void test_bytes_ipv4_total_length(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 1500, 0, 0);
	tcp(&p, 443, 50000, 0x18);
	/* snaplen 96: the header says 1500, the frame on the wire 1514 */
	r = parse_full(&p, p.len, 1514, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 443, 50000, 1500);
	assert_memory_equal(r.key.src_addr, v4_src, 16);
	assert_memory_equal(r.key.dst_addr, v4_dst, 16);
	assert_int_equal(r.pkt.tcp_flags, 0x18);
	assert_int_equal(r.pkt.notes, 0);
	/* what each GSO segment repeats: IPv4 20 + TCP 20 */
	assert_int_equal(r.pkt.header_len, 40);
}

static void test_bytes_ipv6_payload_length(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_UDP, 1000);
	udp(&p, 53, 40000, 1000);
	r = parse_full(&p, p.len, 1054, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 53, 40000, 1040);
	assert_memory_equal(r.key.src_addr, v6_src, 16);
	assert_int_equal(r.pkt.header_len, 48);
}

static void test_bytes_ipv4_zero_length_uses_frame(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* BIG TCP / TSO: total length 0, the frame is 80014 bytes, behind one VLAN tag */
	eth(&p, FLOW_ETH_P_8021Q);
	vlan(&p, 7, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 0, 0, 0);
	tcp(&p, 1, 2, 0x10);
	r = parse_full(&p, p.len, 80014, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 1, 2, 80014 - 18);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_BYTES_FROM_FRAME));
}

static void test_bytes_ipv6_jumbogram_uses_frame(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_HOPOPTS, 0);
	/* hop-by-hop with the Jumbo Payload option */
	put8(&p, FLOW_IPPROTO_TCP);
	put8(&p, 0);
	put8(&p, 0xc2);
	put8(&p, 4);
	put32(&p, 70000);
	tcp(&p, 5001, 40000, 0x10);
	r = parse_full(&p, p.len, 70000 + 40 + 14, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 5001, 40000, 70040);
}

/* --- link layer -------------------------------------------------------------------------- */

static void test_vlan_untagged_is_zero(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 1, 2, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 1, 2, 28);
	assert_int_equal(r.key.vlan, 0);
}

static void test_vlan_outermost_id_of_each_tpid(void **state)
{
	static const uint16_t tpids[] = { FLOW_ETH_P_8021Q, FLOW_ETH_P_8021AD,
					  FLOW_ETH_P_QINQ_OLD };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tpids) / sizeof(tpids[0]); i++) {
		struct pkt p = { 0 };
		struct result r;

		eth(&p, tpids[i]);
		/* PCP 5 and DEI set: only the 12-bit id counts */
		vlan(&p, (5 << 13) | (1 << 12) | 300, FLOW_ETH_P_8021Q);
		vlan(&p, 400, FLOW_ETH_P_IPV4);
		ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
		udp(&p, 1, 2, 8);
		r = parse(&p, FLOW_LINKTYPE_ETHERNET);
		assert_flow(&r, FLOW_IPPROTO_UDP, 1, 2, 28);
		assert_int_equal(r.key.vlan, 300);
	}
}

static void test_vlan_four_tags_ok_five_counted(void **state)
{
	struct pkt p = { 0 };
	struct result r;
	int i;

	(void)state;
	eth(&p, FLOW_ETH_P_8021AD);
	for (i = 0; i < 3; i++)
		vlan(&p, (uint16_t)(10 + i), FLOW_ETH_P_8021Q);
	vlan(&p, 13, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 1, 2, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 1, 2, 28);
	assert_int_equal(r.key.vlan, 10);

	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_8021AD);
	for (i = 0; i < 4; i++)
		vlan(&p, (uint16_t)(10 + i), FLOW_ETH_P_8021Q);
	vlan(&p, 14, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 1, 2, 8);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_VLAN_TOO_DEEP);
}

static void mpls_packet(struct pkt *p, int labels, int bottom_set, int ip_version)
{
	int i;

	eth(p, FLOW_ETH_P_MPLS_UC);
	for (i = 0; i < labels; i++)
		put32(p, (uint32_t)(100 + i) << 12 | ((i == labels - 1 && bottom_set) ? 0x100 : 0) |
				 64);
	if (ip_version == 4) {
		ipv4(p, FLOW_IPPROTO_TCP, 40, 0, 0);
		tcp(p, 23, 40001, 0x02);
	} else if (ip_version == 6) {
		ipv6(p, FLOW_IPPROTO_TCP, 20);
		tcp(p, 80, 40002, 0x02);
	} else {
		put32(p, 0); /* pseudowire control word */
		put(p, "0123456789abcdefghijklmnopqrstuvwxyz", 36);
	}
}

static void test_mpls_stack_skipped_to_bottom(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	mpls_packet(&p, 1, 1, 4);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 23, 40001, 40);

	memset(&p, 0, sizeof(p));
	mpls_packet(&p, 3, 1, 6);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 80, 40002, 60);

	memset(&p, 0, sizeof(p));
	mpls_packet(&p, 8, 1, 4);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 23, 40001, 40);
}

static void test_mpls_too_deep_and_non_ip_payload(void **state)
{
	struct pkt p = { 0 };

	(void)state;
	mpls_packet(&p, 9, 1, 4);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_MPLS_TOO_DEEP);

	memset(&p, 0, sizeof(p));
	mpls_packet(&p, 2, 1, 0);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_NON_IP);
}

static void pppoe_packet(struct pkt *p, uint16_t ppp_proto)
{
	eth(p, FLOW_ETH_P_PPPOE_SESSION);
	put8(p, 0x11);
	put8(p, 0);
	put16(p, 0x0042);
	put16(p, 42);
	put16(p, ppp_proto);
}

static void test_pppoe_ipv4_ipv6_other(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	pppoe_packet(&p, FLOW_PPP_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 500, 4500, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 500, 4500, 28);

	memset(&p, 0, sizeof(p));
	pppoe_packet(&p, FLOW_PPP_IPV6);
	ipv6(&p, FLOW_IPPROTO_UDP, 8);
	udp(&p, 547, 546, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 547, 546, 48);

	memset(&p, 0, sizeof(p));
	pppoe_packet(&p, 0xc021); /* LCP */
	put32(&p, 0x01010004);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_NON_IP);
}

/* PPPoE session header with a 1-byte PPP protocol field (RFC 1661 protocol-field compression) */
static void pppoe_compressed_packet(struct pkt *p, uint8_t ppp_proto)
{
	eth(p, FLOW_ETH_P_PPPOE_SESSION);
	put8(p, 0x11);
	put8(p, 0);
	put16(p, 0x0042);
	put16(p, 41);
	put8(p, ppp_proto);
}

static void test_pppoe_protocol_field_compression(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* 0x21 0x45: IPv4, not protocol 0x2145 */
	pppoe_compressed_packet(&p, 0x21);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 500, 4500, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 500, 4500, 28);
	assert_memory_equal(r.key.src_addr, v4_src, 16);
	assert_int_equal(r.pkt.notes, 0);

	memset(&p, 0, sizeof(p));
	pppoe_compressed_packet(&p, 0x57);
	ipv6(&p, FLOW_IPPROTO_TCP, 20);
	tcp(&p, 443, 50443, 0x12);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 443, 50443, 60);
	assert_memory_equal(r.key.src_addr, v6_src, 16);
	assert_int_equal(r.pkt.tcp_flags, 0x12);

	/* another compressed protocol (0x23, OSI network layer) is not IP */
	memset(&p, 0, sizeof(p));
	pppoe_compressed_packet(&p, 0x23);
	put32(&p, 0x45000014);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_NON_IP);

	/* the 1-byte field is enough: cut right after it, the IP header is what is missing */
	memset(&p, 0, sizeof(p));
	pppoe_compressed_packet(&p, 0x21);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_IP_TRUNCATED);
	/* cut before the protocol field: the PPPoE header is cut short */
	assert_int_equal(parse_full(&p, 14 + 6, 60, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_LINK_TRUNCATED);
	/* an even first byte needs its second one */
	memset(&p, 0, sizeof(p));
	pppoe_packet(&p, FLOW_PPP_IPV4);
	assert_int_equal(parse_full(&p, 14 + 7, 60, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_LINK_TRUNCATED);
}

/*
 * Link types 9 and 50 read the same frames: PPP with or without address and control, and Cisco
 * HDLC, as Wireshark dissects them.
 */
static void test_link_ppp_and_ppp_hdlc(void **state)
{
	static const uint8_t heads[][4] = {
		{ 0xff, 0x03, 0x00, 0x21 }, /* address, control, protocol */
		{ 0xff, 0x03, 0x21 },	    /* compressed protocol */
		{ 0x00, 0x21 },		    /* address and control omitted */
		{ 0x21 },		    /* both compressions */
		{ 0x0f, 0x00, 0x08, 0x00 }, /* Cisco HDLC unicast, ethertype IPv4 */
		{ 0x8f, 0x00, 0x08, 0x00 }, /* Cisco HDLC multicast */
	};
	static const uint8_t head_len[] = { 4, 3, 2, 1, 4, 4 };
	static const uint32_t link_types[] = { FLOW_LINKTYPE_PPP, FLOW_LINKTYPE_PPP_HDLC };
	struct pkt p;
	struct result r;
	size_t i, t;

	(void)state;
	for (t = 0; t < 2; t++) {
		for (i = 0; i < sizeof(head_len); i++) {
			memset(&p, 0, sizeof(p));
			put(&p, heads[i], head_len[i]);
			ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
			udp(&p, 4433, 50000 + (uint16_t)i, 8);
			r = parse(&p, link_types[t]);
			assert_flow(&r, FLOW_IPPROTO_UDP, 4433, 50000 + i, 28);
			assert_memory_equal(r.key.dst_addr, v4_dst, 16);
		}

		/* IPv6, compressed and not, and behind Cisco HDLC */
		memset(&p, 0, sizeof(p));
		put16(&p, 0xff03);
		put8(&p, 0x57);
		ipv6(&p, FLOW_IPPROTO_UDP, 8);
		udp(&p, 443, 60000, 8);
		r = parse(&p, link_types[t]);
		assert_flow(&r, FLOW_IPPROTO_UDP, 443, 60000, 48);
		assert_memory_equal(r.key.src_addr, v6_src, 16);
		memset(&p, 0, sizeof(p));
		put16(&p, 0xff03);
		put16(&p, FLOW_PPP_IPV6);
		ipv6(&p, FLOW_IPPROTO_UDP, 8);
		udp(&p, 443, 60001, 8);
		r = parse(&p, link_types[t]);
		assert_flow(&r, FLOW_IPPROTO_UDP, 443, 60001, 48);
		memset(&p, 0, sizeof(p));
		put16(&p, 0x0f00);
		put16(&p, FLOW_ETH_P_IPV6);
		ipv6(&p, FLOW_IPPROTO_UDP, 8);
		udp(&p, 443, 60002, 8);
		r = parse(&p, link_types[t]);
		assert_flow(&r, FLOW_IPPROTO_UDP, 443, 60002, 48);

		/* LCP and Cisco SLARP are not IP */
		memset(&p, 0, sizeof(p));
		put16(&p, 0xff03);
		put16(&p, 0xc021);
		put32(&p, 0x01010004);
		assert_int_equal(parse(&p, link_types[t]).code, FLOW_CNT_NON_IP);
		memset(&p, 0, sizeof(p));
		put16(&p, 0x8f00);
		put16(&p, 0x8035);
		put32(&p, 0);
		assert_int_equal(parse(&p, link_types[t]).code, FLOW_CNT_NON_IP);

		/* cut short: nothing, or address and control without a protocol */
		memset(&p, 0, sizeof(p));
		put16(&p, 0xff03);
		put16(&p, FLOW_PPP_IPV4);
		assert_int_equal(parse_full(&p, 0, 60, link_types[t]).code,
				 FLOW_CNT_LINK_TRUNCATED);
		assert_int_equal(parse_full(&p, 2, 60, link_types[t]).code,
				 FLOW_CNT_LINK_TRUNCATED);
		assert_int_equal(parse_full(&p, 3, 60, link_types[t]).code,
				 FLOW_CNT_LINK_TRUNCATED);
		/* the protocol says IPv4, the header is not */
		memset(&p, 0, sizeof(p));
		put8(&p, 0x21);
		ipv6(&p, FLOW_IPPROTO_UDP, 8);
		assert_int_equal(parse(&p, link_types[t]).code, FLOW_CNT_IP_BAD_VERSION);
	}
}

static void test_link_raw_ipv4_ipv6(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	tcp(&p, 1000, 2000, 0x02);
	r = parse(&p, FLOW_LINKTYPE_RAW);
	assert_flow(&r, FLOW_IPPROTO_TCP, 1000, 2000, 40);
	r = parse(&p, FLOW_LINKTYPE_IPV4);
	assert_flow(&r, FLOW_IPPROTO_TCP, 1000, 2000, 40);
	/* an IPv4 packet under LINKTYPE_IPV6 is malformed */
	assert_int_equal(parse(&p, FLOW_LINKTYPE_IPV6).code, FLOW_CNT_IP_BAD_VERSION);

	memset(&p, 0, sizeof(p));
	ipv6(&p, FLOW_IPPROTO_TCP, 20);
	tcp(&p, 1000, 2000, 0x02);
	r = parse(&p, FLOW_LINKTYPE_RAW);
	assert_flow(&r, FLOW_IPPROTO_TCP, 1000, 2000, 60);
	r = parse(&p, FLOW_LINKTYPE_IPV6);
	assert_flow(&r, FLOW_IPPROTO_TCP, 1000, 2000, 60);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_IPV4).code, FLOW_CNT_IP_BAD_VERSION);

	/* raw IP with a version that is neither 4 nor 6 */
	p.data[0] = 0x50;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_RAW).code, FLOW_CNT_IP_BAD_VERSION);
}

static void test_link_linux_sll_and_sll2(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* SLL: packet type, ARPHRD, address length, 8 address bytes, protocol */
	put16(&p, 0);
	put16(&p, 1);
	put16(&p, 6);
	put32(&p, 0x02000000);
	put32(&p, 0x00010000);
	put16(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 123, 123, 8);
	r = parse(&p, FLOW_LINKTYPE_LINUX_SLL);
	assert_flow(&r, FLOW_IPPROTO_UDP, 123, 123, 28);

	memset(&p, 0, sizeof(p));
	/* SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 bytes */
	put16(&p, FLOW_ETH_P_IPV6);
	put16(&p, 0);
	put32(&p, 2);
	put16(&p, 1);
	put8(&p, 4);
	put8(&p, 6);
	put32(&p, 0x02000000);
	put32(&p, 0x00010000);
	ipv6(&p, FLOW_IPPROTO_TCP, 20);
	tcp(&p, 22, 50022, 0x12);
	r = parse(&p, FLOW_LINKTYPE_LINUX_SLL2);
	assert_flow(&r, FLOW_IPPROTO_TCP, 22, 50022, 60);
	assert_int_equal(r.pkt.tcp_flags, 0x12);
}

static void test_link_bsd_null_and_loop(void **state)
{
	static const uint8_t af_inet_le[4] = { 2, 0, 0, 0 };
	static const uint8_t af_inet6_be_freebsd[4] = { 0, 0, 0, 28 };
	static const uint8_t af_unknown[4] = { 99, 0, 0, 0 };
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	put(&p, af_inet_le, 4);
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	tcp(&p, 4840, 50000, 0x18);
	r = parse(&p, FLOW_LINKTYPE_NULL);
	assert_flow(&r, FLOW_IPPROTO_TCP, 4840, 50000, 40);

	memset(&p, 0, sizeof(p));
	put(&p, af_inet6_be_freebsd, 4);
	ipv6(&p, FLOW_IPPROTO_TCP, 20);
	tcp(&p, 4840, 50000, 0x18);
	r = parse(&p, FLOW_LINKTYPE_LOOP);
	assert_flow(&r, FLOW_IPPROTO_TCP, 4840, 50000, 60);

	memset(&p, 0, sizeof(p));
	put(&p, af_unknown, 4);
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_NULL).code, FLOW_CNT_NON_IP);
}

static void test_link_unsupported_and_non_ip(void **state)
{
	struct pkt p = { 0 };

	(void)state;
	eth(&p, 0x0806); /* ARP */
	put32(&p, 0x00010800);
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_NON_IP);
	/* 802.3 length field instead of an ethertype */
	p.data[12] = 0x00;
	p.data[13] = 0x26;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_NON_IP);
	assert_int_equal(parse(&p, 105 /* 802.11 */).code, FLOW_CNT_LINK_UNSUPPORTED);
	/* an Ethernet header cut short */
	assert_int_equal(parse_full(&p, 10, 60, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_LINK_TRUNCATED);
}

static void test_tunnels_count_as_outer_flows(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* GRE carrying IPv4: a flow of proto 47, no ports */
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, 47, 68, 0, 0);
	put16(&p, 0);
	put16(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 44, 0, 0);
	tcp(&p, 80, 1234, 0x10);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, 47, 0, 0, 68);

	/* VXLAN: the outer UDP flow */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 100, 0, 0);
	udp(&p, 55555, 4789, 80);
	put32(&p, 0x08000000);
	put32(&p, 0x00045700);
	eth(&p, FLOW_ETH_P_IPV4);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 55555, 4789, 100);

	/* IP-in-IP */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, 4, 60, 0, 0);
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, 4, 0, 0, 60);
}

/* --- IPv6 extension headers -------------------------------------------------------------- */

static void test_ipv6_extension_headers_walked(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_HOPOPTS, 8 + 8 + 8 + 12 + 20);
	ext8(&p, FLOW_IPPROTO_ROUTING);
	ext8(&p, FLOW_IPPROTO_DSTOPTS);
	ext8(&p, FLOW_IPPROTO_AH);
	/* AH: payload length in 4-byte units minus 2: 1 -> 12 bytes */
	put8(&p, FLOW_IPPROTO_TCP);
	put8(&p, 1);
	put16(&p, 0);
	put32(&p, 0x100);
	put32(&p, 1);
	tcp(&p, 179, 40179, 0x18);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 179, 40179, 40 + 56);
}

static void test_ipv6_more_than_eight_extensions(void **state)
{
	struct pkt p = { 0 };
	struct result r;
	int i;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_DSTOPTS, 9 * 8 + 8);
	for (i = 0; i < 8; i++)
		ext8(&p, FLOW_IPPROTO_DSTOPTS);
	ext8(&p, FLOW_IPPROTO_UDP);
	udp(&p, 1, 2, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	/* still a flow, counted, with the unresolved header as its protocol */
	assert_flow(&r, FLOW_IPPROTO_DSTOPTS, 0, 0, 40 + 80);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_IPV6_EXT_LIMIT));
}

static void test_ipv6_extension_cut_by_snaplen(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_HOPOPTS, 100);
	/* nothing captured after the fixed header */
	r = parse_full(&p, p.len, 154, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_HOPOPTS, 0, 0, 140);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
}

static void test_ipv6_chain_past_parse_limit(void **state)
{
	struct pkt p = { 0 };
	struct result r;
	int i;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_DSTOPTS, 2048 + 20);
	/* one 2048-byte destination options header: the TCP header lies past the limit */
	put8(&p, FLOW_IPPROTO_TCP);
	put8(&p, 255);
	for (i = 0; i < 2046; i++)
		put8(&p, 1);
	tcp(&p, 1, 2, 0x02);
	r = parse_full(&p, FLOW_PARSE_MAX_BYTES, p.len, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 0, 0, 40 + 2048 + 20);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
}

/* --- ports ------------------------------------------------------------------------------- */

static void test_ports_tcp_udp_sctp_udplite(void **state)
{
	static const uint8_t protos[] = { FLOW_IPPROTO_TCP, FLOW_IPPROTO_UDP, FLOW_IPPROTO_SCTP,
					  FLOW_IPPROTO_UDPLITE };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(protos); i++) {
		struct pkt p = { 0 };
		struct result r;

		eth(&p, FLOW_ETH_P_IPV4);
		ipv4(&p, protos[i], 60, 0, 0);
		tcp(&p, 3868, 40000 + (uint16_t)i, 0x11); /* 20 bytes, enough for each */
		r = parse(&p, FLOW_LINKTYPE_ETHERNET);
		assert_flow(&r, protos[i], 3868, 40000 + i, 60);
		assert_int_equal(r.pkt.tcp_flags, protos[i] == FLOW_IPPROTO_TCP ? 0x11 : 0);
	}
}

static void test_ports_icmp_type_code(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_ICMP, 28, 0, 0);
	put8(&p, 3); /* destination unreachable */
	put8(&p, 3); /* port unreachable */
	put16(&p, 0);
	put32(&p, 0);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_ICMP, 0, 3 * 256 + 3, 28);

	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_ICMPV6, 8);
	put8(&p, 128); /* echo request */
	put8(&p, 0);
	put16(&p, 0);
	put32(&p, 0x00010001);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_ICMPV6, 0, 128 * 256, 48);
}

static void test_ports_zero_for_non_first_fragments(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* first fragment: MF set, offset 0, ports kept */
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 1500, 0x2000, 0);
	udp(&p, 4000, 5000, 3000);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 4000, 5000, 1500);
	assert_int_equal(r.pkt.notes, 0);

	/* a later fragment: its first bytes look like ports but are payload */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 1500, 185, 0);
	udp(&p, 4000, 5000, 3000);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 0, 0, 1500);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_FRAGMENT));

	/* IPv6 non-first fragment */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_FRAGMENT, 1208);
	put8(&p, FLOW_IPPROTO_TCP);
	put8(&p, 0);
	put16(&p, 1232); /* offset 154 * 8, M clear */
	put32(&p, 0xabcd);
	tcp(&p, 80, 1234, 0x10);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 0, 0, 1248);
	assert_int_equal(r.pkt.tcp_flags, 0);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_FRAGMENT));

	/* IPv6 first fragment: offset 0, M set, ports kept */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_FRAGMENT, 1208);
	put8(&p, FLOW_IPPROTO_UDP);
	put8(&p, 0);
	put16(&p, 1);
	put32(&p, 0xabcd);
	udp(&p, 53, 33333, 3000);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 53, 33333, 1248);
}

static void test_ports_zero_when_l4_cut_by_snaplen(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 1500, 0, 0);
	tcp(&p, 443, 50000, 0x18);
	/* 19 of the 20 TCP header bytes captured */
	r = parse_full(&p, 14 + 20 + 19, 1514, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 0, 0, 1500);
	assert_int_equal(r.pkt.tcp_flags, 0);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
}

static void pad_to(struct pkt *p, uint32_t len, uint8_t byte)
{
	while (p->len < len)
		put8(p, byte);
}

/*
 * A first fragment whose total length leaves 16 bytes for TCP, in a frame padded to 60 bytes
 * (ndpi-ip_fragmented_garbage.pcap): the padding is not the rest of a TCP header.
 */
static void test_l4_header_must_fit_the_ipv4_datagram(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 36, 0x2000, 0);
	tcp(&p, 24102, 10792, 0x23);
	p.len = 14 + 36;
	pad_to(&p, 60, 0x29);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 0, 0, 36);
	assert_int_equal(r.pkt.tcp_flags, 0);
	assert_int_equal(r.pkt.header_len, 0);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));

	/* exactly the 20-byte TCP header in the datagram, padded: ports and flags read */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	tcp(&p, 443, 50000, 0x10);
	pad_to(&p, 60, 0xee);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 443, 50000, 40);
	assert_int_equal(r.pkt.tcp_flags, 0x10);
	assert_int_equal(r.pkt.notes, 0);

	/* UDP: 8 bytes fit in a 28-byte datagram, 7 do not; ICMP needs 4 */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 28, 0, 0);
	udp(&p, 53, 33000, 8);
	pad_to(&p, 60, 0);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 53, 33000, 28);
	p.data[14 + 3] = 27;
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 0, 0, 27);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
	p.data[14 + 9] = FLOW_IPPROTO_ICMP;
	p.data[14 + 3] = 23;
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_ICMP, 0, 0, 23);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));

	/* total length 0 (TSO/BIG TCP): the frame is the datagram */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 0, 0, 0);
	tcp(&p, 5201, 40000, 0x18);
	r = parse_full(&p, p.len, 64014, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 5201, 40000, 64000);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_BYTES_FROM_FRAME));
}

static void test_l4_header_must_fit_the_ipv6_datagram(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	/* payload length 12: a TCP header cannot fit, whatever the frame carries after it */
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_TCP, 12);
	tcp(&p, 80, 1234, 0x02);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 0, 0, 52);
	assert_int_equal(r.pkt.tcp_flags, 0);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
	/* payload length 20: it does */
	p.data[14 + 5] = 20;
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_TCP, 80, 1234, 60);
	assert_int_equal(r.pkt.notes, 0);

	/* the payload ends inside an extension header's first 2 bytes: no upper protocol */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_DSTOPTS, 1);
	ext8(&p, FLOW_IPPROTO_UDP);
	udp(&p, 1, 2, 8);
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_DSTOPTS, 0, 0, 41);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
	/* the extension fits, the UDP header after it does not */
	p.data[14 + 5] = 12;
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 0, 0, 52);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));
	p.data[14 + 5] = 16;
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 1, 2, 56);
	assert_int_equal(r.pkt.notes, 0);
}

static void test_ipv4_options_cut_by_snaplen_still_a_flow(void **state)
{
	struct pkt p = { 0 };
	struct result r;

	(void)state;
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_UDP, 100, 0, 10); /* IHL 15: 60-byte header */
	udp(&p, 1, 2, 40);
	/* 30 of the 60 header bytes captured */
	r = parse_full(&p, 14 + 30, 114, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 0, 0, 100);
	assert_int_equal(r.pkt.notes, FLOW_NOTE(FLOW_CNT_L4_TRUNCATED));

	/* fully captured, the ports are behind the options */
	r = parse(&p, FLOW_LINKTYPE_ETHERNET);
	assert_flow(&r, FLOW_IPPROTO_UDP, 1, 2, 100);
}

/* --- malformed IP ------------------------------------------------------------------------ */

static void test_malformed_ip_counted_by_reason(void **state)
{
	struct pkt p = { 0 };

	(void)state;
	/* wrong version under the IPv4 ethertype */
	eth(&p, FLOW_ETH_P_IPV4);
	ipv4(&p, FLOW_IPPROTO_TCP, 40, 0, 0);
	tcp(&p, 1, 2, 0);
	p.data[14] = 0x65;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_IP_BAD_VERSION);
	/* IHL 4 */
	p.data[14] = 0x44;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_IP_BAD_HEADER_LEN);
	/* total length 19 < 20-byte header */
	p.data[14] = 0x45;
	p.data[16] = 0;
	p.data[17] = 19;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_IP_BAD_TOTAL_LEN);
	/* the IPv4 header cut short by the snaplen */
	assert_int_equal(parse_full(&p, 14 + 19, 60, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_IP_TRUNCATED);
	/* version 0 under the IPv6 ethertype */
	memset(&p, 0, sizeof(p));
	eth(&p, FLOW_ETH_P_IPV6);
	ipv6(&p, FLOW_IPPROTO_ICMPV6, 8);
	p.data[14] = 0x00;
	assert_int_equal(parse(&p, FLOW_LINKTYPE_ETHERNET).code, FLOW_CNT_IP_BAD_VERSION);
	p.data[14] = 0x60;
	assert_int_equal(parse_full(&p, 14 + 39, 100, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_IP_TRUNCATED);
	/* nothing after the link header */
	assert_int_equal(parse_full(&p, 14, 100, FLOW_LINKTYPE_ETHERNET).code,
			 FLOW_CNT_IP_TRUNCATED);
}

/* --- accounting rules -------------------------------------------------------------------- */

static void test_split_on_idle_and_active_timeouts(void **state)
{
	struct flow_metrics m = { 0 };
	const uint64_t s = 1000000000ULL;

	(void)state;
	flow_metrics_start(&m, 100 * s, 40, 0x02);
	/* exactly the idle timeout later: same record; one ns more: a new one */
	assert_false(flow_metrics_should_split(&m, 115 * s, 15 * s, 60 * s));
	assert_true(flow_metrics_should_split(&m, 115 * s + 1, 15 * s, 60 * s));
	flow_metrics_add(&m, 110 * s, 40, 0x10);
	flow_metrics_add(&m, 120 * s, 40, 0x10);
	flow_metrics_add(&m, 130 * s, 40, 0x10);
	flow_metrics_add(&m, 145 * s, 40, 0x10);
	flow_metrics_add(&m, 159 * s, 40, 0x01);
	/* the active timeout: 60 s after the first packet ends the record */
	assert_false(flow_metrics_should_split(&m, 160 * s - 1, 15 * s, 60 * s));
	assert_true(flow_metrics_should_split(&m, 160 * s, 15 * s, 60 * s));
	/* 0 disables */
	assert_false(flow_metrics_should_split(&m, 1000 * s, 0, 0));
	/* time running backwards never splits, and widens the record */
	assert_false(flow_metrics_should_split(&m, 1 * s, 15 * s, 60 * s));
	flow_metrics_add(&m, 1 * s, 40, 0);
	assert_int_equal(m.packets, 7);
	assert_int_equal(m.bytes, 280);
	assert_int_equal(m.first_seen_ns, 1 * s);
	assert_int_equal(m.last_seen_ns, 159 * s);
	assert_int_equal(m.tcp_flags, 0x13);
	assert_true(flow_metrics_is_idle(&m, 174 * s + 1, 15 * s));
	assert_false(flow_metrics_is_idle(&m, 174 * s, 15 * s));
}

static void test_merge_per_cpu_values(void **state)
{
	struct flow_metrics total = { 0 }, a = { 0 }, b = { 0 }, empty = { 0 };

	(void)state;
	flow_metrics_start(&a, 50, 100, 0x02);
	flow_metrics_add(&a, 70, 100, 0x10);
	flow_metrics_start(&b, 40, 60, 0x01);
	flow_metrics_merge(&total, &empty);
	flow_metrics_merge(&total, &a);
	flow_metrics_merge(&total, &empty);
	flow_metrics_merge(&total, &b);
	assert_int_equal(total.packets, 3);
	assert_int_equal(total.bytes, 260);
	assert_int_equal(total.first_seen_ns, 40);
	assert_int_equal(total.last_seen_ns, 70);
	assert_int_equal(total.tcp_flags, 0x13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_ipv4_total_length),
		cmocka_unit_test(test_bytes_ipv6_payload_length),
		cmocka_unit_test(test_bytes_ipv4_zero_length_uses_frame),
		cmocka_unit_test(test_bytes_ipv6_jumbogram_uses_frame),
		cmocka_unit_test(test_vlan_untagged_is_zero),
		cmocka_unit_test(test_vlan_outermost_id_of_each_tpid),
		cmocka_unit_test(test_vlan_four_tags_ok_five_counted),
		cmocka_unit_test(test_mpls_stack_skipped_to_bottom),
		cmocka_unit_test(test_mpls_too_deep_and_non_ip_payload),
		cmocka_unit_test(test_pppoe_ipv4_ipv6_other),
		cmocka_unit_test(test_pppoe_protocol_field_compression),
		cmocka_unit_test(test_link_ppp_and_ppp_hdlc),
		cmocka_unit_test(test_link_raw_ipv4_ipv6),
		cmocka_unit_test(test_link_linux_sll_and_sll2),
		cmocka_unit_test(test_link_bsd_null_and_loop),
		cmocka_unit_test(test_link_unsupported_and_non_ip),
		cmocka_unit_test(test_tunnels_count_as_outer_flows),
		cmocka_unit_test(test_ipv6_extension_headers_walked),
		cmocka_unit_test(test_ipv6_more_than_eight_extensions),
		cmocka_unit_test(test_ipv6_extension_cut_by_snaplen),
		cmocka_unit_test(test_ipv6_chain_past_parse_limit),
		cmocka_unit_test(test_ports_tcp_udp_sctp_udplite),
		cmocka_unit_test(test_ports_icmp_type_code),
		cmocka_unit_test(test_ports_zero_for_non_first_fragments),
		cmocka_unit_test(test_ports_zero_when_l4_cut_by_snaplen),
		cmocka_unit_test(test_l4_header_must_fit_the_ipv4_datagram),
		cmocka_unit_test(test_l4_header_must_fit_the_ipv6_datagram),
		cmocka_unit_test(test_ipv4_options_cut_by_snaplen_still_a_flow),
		cmocka_unit_test(test_malformed_ip_counted_by_reason),
		cmocka_unit_test(test_split_on_idle_and_active_timeouts),
		cmocka_unit_test(test_merge_per_cpu_values),
	};

	return cmocka_run_group_tests_name("flow_parse", tests, NULL, NULL);
}
