/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The packet parser, written once for the XDP program and the userspace replay engine.
 * It turns a captured frame into a flow key, its L3 byte count and its TCP flags, or into the
 * reason it is not a flow (an enum flow_counter). The rules are in docs/flow-record.md.
 *
 * Every read goes through flow_bytes(), which bounds-checks against the frame end in the form
 * the verifier understands, and every loop has a constant bound.
 */
#ifndef FLOW_PARSE_H
#define FLOW_PARSE_H

#include "flow.h"

/* Link types (LINKTYPE_* of pcap/pcapng). */
#define FLOW_LINKTYPE_NULL	 0
#define FLOW_LINKTYPE_ETHERNET	 1
#define FLOW_LINKTYPE_PPP	 9  /* PPP, HDLC-like framing optional (libpcap DLT_PPP) */
#define FLOW_LINKTYPE_RAW_OLD12	 12 /* DLT_RAW as some writers store it */
#define FLOW_LINKTYPE_RAW_OLD14	 14
#define FLOW_LINKTYPE_PPP_HDLC	 50 /* PPP in HDLC-like framing, or Cisco HDLC */
#define FLOW_LINKTYPE_RAW	 101
#define FLOW_LINKTYPE_LOOP	 108
#define FLOW_LINKTYPE_LINUX_SLL	 113
#define FLOW_LINKTYPE_IPV4	 228
#define FLOW_LINKTYPE_IPV6	 229
#define FLOW_LINKTYPE_LINUX_SLL2 276

#define FLOW_MAX_VLAN_TAGS   4
#define FLOW_MAX_MPLS_LABELS 8
#define FLOW_MAX_IPV6_EXT    8
/*
 * The parser never looks past this many bytes of a frame. It bounds every offset for the
 * verifier, and it is below the 3.5 KiB a BPF_PROG_TEST_RUN frame can hold, so the kernel
 * replay engine sees exactly what the userspace one sees.
 */
#define FLOW_PARSE_MAX_BYTES 2048

#define FLOW_ETH_P_IPV4		 0x0800
#define FLOW_ETH_P_IPV6		 0x86dd
#define FLOW_ETH_P_8021Q	 0x8100
#define FLOW_ETH_P_8021AD	 0x88a8
#define FLOW_ETH_P_QINQ_OLD	 0x9100
#define FLOW_ETH_P_MPLS_UC	 0x8847
#define FLOW_ETH_P_MPLS_MC	 0x8848
#define FLOW_ETH_P_PPPOE_SESSION 0x8864
#define FLOW_PPP_IPV4		 0x0021
#define FLOW_PPP_IPV6		 0x0057
#define FLOW_PPP_ADDRESS	 0xff /* HDLC-like framing: all-stations address, then */
#define FLOW_PPP_CONTROL	 0x03 /* unnumbered information */
#define FLOW_CHDLC_UNICAST	 0x0f /* Cisco HDLC address bytes */
#define FLOW_CHDLC_MULTICAST	 0x8f

#define FLOW_IPPROTO_HOPOPTS  0
#define FLOW_IPPROTO_ICMP     1
#define FLOW_IPPROTO_TCP      6
#define FLOW_IPPROTO_UDP      17
#define FLOW_IPPROTO_ROUTING  43
#define FLOW_IPPROTO_FRAGMENT 44
#define FLOW_IPPROTO_AH	      51
#define FLOW_IPPROTO_ICMPV6   58
#define FLOW_IPPROTO_DSTOPTS  60
#define FLOW_IPPROTO_SCTP     132
#define FLOW_IPPROTO_UDPLITE  136

/* Notes on a recorded packet, bit i counts in FLOW_CNT_NOTES_FIRST + i. */
#define FLOW_NOTE(counter) (1u << ((counter)-FLOW_CNT_NOTES_FIRST))

/* What the parser reads: the frame, and what the capture says about it. */
struct flow_frame {
	const __u8 *data;
	const __u8 *data_end; /* end of the readable buffer: the verifier's bound */
	__u32 cap_len;	      /* captured bytes, <= data_end - data, <= FLOW_PARSE_MAX_BYTES */
	__u32 orig_len;	      /* bytes on the wire */
	__u32 link_type;
};

/* What the parser returns besides the key. */
struct flow_packet {
	__u32 bytes;	  /* L3 octets */
	__u16 header_len; /* L3 + TCP/UDP header bytes, 0 if not parsed: GSO segments repeat them */
	__u8 tcp_flags;
	__u8 notes; /* FLOW_NOTE() bits */
};

#define FLOW_BE16(p) ((__u16)(((__u16)(p)[0] << 8) | (p)[1]))
#define FLOW_LE32(p) \
	((__u32)(p)[0] | ((__u32)(p)[1] << 8) | ((__u32)(p)[2] << 16) | ((__u32)(p)[3] << 24))

/* The len bytes at off, or NULL when they were not captured. */
FLOW_INLINE const __u8 *flow_bytes(const struct flow_frame *frame, __u32 off, __u32 len)
{
	const __u8 *p;

	/* Bounds off for the verifier before it becomes a packet pointer offset. */
	if (off > FLOW_PARSE_MAX_BYTES)
		return 0;
	p = frame->data + off;
	if (p + len > frame->data_end)
		return 0;
	if (off + len > frame->cap_len)
		return 0;
	return p;
}

FLOW_INLINE int flow_is_vlan(__u16 ethertype)
{
	return ethertype == FLOW_ETH_P_8021Q || ethertype == FLOW_ETH_P_8021AD ||
	       ethertype == FLOW_ETH_P_QINQ_OLD;
}

FLOW_INLINE int flow_is_ipv6_ext(__u8 next_header)
{
	return next_header == FLOW_IPPROTO_HOPOPTS || next_header == FLOW_IPPROTO_ROUTING ||
	       next_header == FLOW_IPPROTO_DSTOPTS || next_header == FLOW_IPPROTO_AH ||
	       next_header == FLOW_IPPROTO_FRAGMENT;
}

/* L3 length from the frame when the IP length field is 0 (TSO/BIG TCP, jumbograms). */
FLOW_INLINE __u32 flow_bytes_from_frame(const struct flow_frame *frame, __u32 l3_off)
{
	return frame->orig_len > l3_off ? frame->orig_len - l3_off : 0;
}

/*
 * The frame cut at end, the end of the IP datagram, so that Ethernet padding and trailers are
 * never read as an extension or L4 header. end 0 (a length field of 0) leaves it whole.
 */
FLOW_INLINE void flow_frame_clip(struct flow_frame *datagram, const struct flow_frame *frame,
				 __u32 end)
{
	*datagram = *frame;
	if (end && end < datagram->cap_len)
		datagram->cap_len = end;
}

/* The len-byte L4 header at off, noting one cut short by the snaplen or the datagram's end. */
FLOW_INLINE const __u8 *flow_l4_header(const struct flow_frame *frame, __u32 off, __u32 len,
				       struct flow_packet *pkt)
{
	const __u8 *p = flow_bytes(frame, off, len);

	if (!p)
		pkt->notes |= FLOW_NOTE(FLOW_CNT_L4_TRUNCATED);
	return p;
}

/*
 * Ports and TCP flags; an L4 header cut short leaves them 0. Each protocol checks and reads
 * its own header: with one shared length check the verifier cannot tell which length held.
 */
FLOW_INLINE int flow_parse_l4(const struct flow_frame *frame, __u32 l3_off, __u32 off,
			      struct flow_key *key, struct flow_packet *pkt)
{
	const __u8 *p;
	__u32 tcp_len;

	switch (key->proto) {
	case FLOW_IPPROTO_TCP:
		p = flow_l4_header(frame, off, 20, pkt);
		if (p) {
			key->src_port = FLOW_BE16(p);
			key->dst_port = FLOW_BE16(p + 2);
			pkt->tcp_flags = p[13];
			tcp_len = (__u32)(p[12] >> 4) * 4;
			pkt->header_len = (__u16)(off - l3_off + (tcp_len > 20 ? tcp_len : 20));
		}
		break;
	case FLOW_IPPROTO_UDP:
	case FLOW_IPPROTO_UDPLITE:
	case FLOW_IPPROTO_SCTP:
		p = flow_l4_header(frame, off, key->proto == FLOW_IPPROTO_SCTP ? 12 : 8, pkt);
		if (p) {
			key->src_port = FLOW_BE16(p);
			key->dst_port = FLOW_BE16(p + 2);
			pkt->header_len = (__u16)(off - l3_off + 8);
		}
		break;
	case FLOW_IPPROTO_ICMP:
	case FLOW_IPPROTO_ICMPV6:
		/* type and code in dst_port, the NetFlow convention */
		p = flow_l4_header(frame, off, 4, pkt);
		if (p)
			key->dst_port = FLOW_BE16(p);
		break;
	}
	return FLOW_CNT_RECORDED;
}

FLOW_INLINE int flow_parse_ipv4(const struct flow_frame *frame, __u32 off, struct flow_key *key,
				struct flow_packet *pkt)
{
	const __u8 *p = flow_bytes(frame, off, 20);
	struct flow_frame datagram;
	__u32 header_len, total_len;

	if (!p)
		return FLOW_CNT_IP_TRUNCATED;
	header_len = (p[0] & 0x0f) * 4;
	if (header_len < 20)
		return FLOW_CNT_IP_BAD_HEADER_LEN;
	total_len = FLOW_BE16(p + 2);
	if (total_len == 0) {
		pkt->bytes = flow_bytes_from_frame(frame, off);
		pkt->notes |= FLOW_NOTE(FLOW_CNT_BYTES_FROM_FRAME);
	} else if (total_len < header_len) {
		return FLOW_CNT_IP_BAD_TOTAL_LEN;
	} else {
		pkt->bytes = total_len;
	}
	key->proto = p[9];
	key->src_addr[10] = 0xff;
	key->src_addr[11] = 0xff;
	key->dst_addr[10] = 0xff;
	key->dst_addr[11] = 0xff;
	__builtin_memcpy(key->src_addr + 12, p + 12, 4);
	__builtin_memcpy(key->dst_addr + 12, p + 16, 4);
	if (FLOW_BE16(p + 6) & 0x1fff) {
		pkt->notes |= FLOW_NOTE(FLOW_CNT_FRAGMENT);
		return FLOW_CNT_RECORDED;
	}
	flow_frame_clip(&datagram, frame, total_len ? off + total_len : 0);
	return flow_parse_l4(&datagram, off, off + header_len, key, pkt);
}

FLOW_INLINE int flow_parse_ipv6(const struct flow_frame *frame, __u32 off, struct flow_key *key,
				struct flow_packet *pkt)
{
	const __u8 *p = flow_bytes(frame, off, 40);
	__u32 payload_len, l3_off = off;
	struct flow_frame datagram;
	__u8 next_header;
	int i;

	if (!p)
		return FLOW_CNT_IP_TRUNCATED;
	payload_len = FLOW_BE16(p + 4);
	if (payload_len == 0) {
		pkt->bytes = flow_bytes_from_frame(frame, off);
		pkt->notes |= FLOW_NOTE(FLOW_CNT_BYTES_FROM_FRAME);
	} else {
		pkt->bytes = 40 + payload_len;
	}
	next_header = p[6];
	__builtin_memcpy(key->src_addr, p + 8, 16);
	__builtin_memcpy(key->dst_addr, p + 24, 16);
	flow_frame_clip(&datagram, frame, payload_len ? off + 40 + payload_len : 0);
	frame = &datagram;
	off += 40;

	/* Each header type reads with its own constant length, for the verifier (see L4). */
	for (i = 0; i < FLOW_MAX_IPV6_EXT; i++) {
		if (next_header == FLOW_IPPROTO_FRAGMENT) {
			p = flow_bytes(frame, off, 8);
			if (!p)
				goto truncated;
			next_header = p[0];
			if (FLOW_BE16(p + 2) & 0xfff8) {
				key->proto = next_header;
				pkt->notes |= FLOW_NOTE(FLOW_CNT_FRAGMENT);
				return FLOW_CNT_RECORDED;
			}
			off += 8;
		} else if (flow_is_ipv6_ext(next_header)) {
			p = flow_bytes(frame, off, 2);
			if (!p)
				goto truncated;
			if (next_header == FLOW_IPPROTO_AH)
				off += ((__u32)p[1] + 2) * 4;
			else
				off += ((__u32)p[1] + 1) * 8;
			next_header = p[0];
		} else {
			break;
		}
	}
	key->proto = next_header;
	if (flow_is_ipv6_ext(next_header)) {
		pkt->notes |= FLOW_NOTE(FLOW_CNT_IPV6_EXT_LIMIT);
		return FLOW_CNT_RECORDED;
	}
	return flow_parse_l4(frame, l3_off, off, key, pkt);

truncated:
	/* an extension header cut short: the upper protocol is unknown */
	key->proto = next_header;
	pkt->notes |= FLOW_NOTE(FLOW_CNT_L4_TRUNCATED);
	return FLOW_CNT_RECORDED;
}

/* The IP header at off; version is what the link layer announced, 0 = read the nibble. */
FLOW_INLINE int flow_parse_ip(const struct flow_frame *frame, __u32 off, int version,
			      struct flow_key *key, struct flow_packet *pkt)
{
	const __u8 *p = flow_bytes(frame, off, 1);

	if (!p)
		return FLOW_CNT_IP_TRUNCATED;
	if (version == 0 && (p[0] >> 4 == 4 || p[0] >> 4 == 6))
		version = p[0] >> 4;
	if (version == 0 || p[0] >> 4 != version)
		return FLOW_CNT_IP_BAD_VERSION;
	if (version == 4)
		return flow_parse_ipv4(frame, off, key, pkt);
	return flow_parse_ipv6(frame, off, key, pkt);
}

/* Address family of a BSD NULL/LOOP header, in either byte order: 4, 6 or 0. */
FLOW_INLINE int flow_null_family_version(const __u8 *p)
{
	__u32 family = FLOW_LE32(p);

	if (family > 0xffff)
		family = ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
	if (family == 2)
		return 4;
	/* AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on Darwin */
	if (family == 10 || family == 24 || family == 28 || family == 30)
		return 6;
	return 0;
}

/*
 * The PPP protocol field at *off, moved past it: one byte when that byte is odd (protocol-field
 * compression, RFC 1661), else two. Returns the IP version it announces, 0 for any other
 * protocol, -1 when the field was not captured.
 */
FLOW_INLINE int flow_ppp_protocol(const struct flow_frame *frame, __u32 *off)
{
	const __u8 *p = flow_bytes(frame, *off, 1);
	__u16 protocol;

	if (!p)
		return -1;
	if (p[0] & 1) {
		protocol = p[0];
		*off += 1;
	} else {
		p = flow_bytes(frame, *off, 2);
		if (!p)
			return -1;
		protocol = FLOW_BE16(p);
		*off += 2;
	}
	if (protocol == FLOW_PPP_IPV4)
		return 4;
	if (protocol == FLOW_PPP_IPV6)
		return 6;
	return 0;
}

/*
 * Parses the link layer of a frame: the VLAN id into key, and where the IP header starts. Returns
 * FLOW_CNT_RECORDED when an IP header should follow at *ip_off, with *ip_version the version
 * the link layer announces (0: read it from the header), else the counter to bump. The BPF
 * programs call this and then their own IP parse (see bpf/flow.bpf.c).
 */
FLOW_INLINE int flow_parse_link(const struct flow_frame *frame, struct flow_key *key, __u32 *ip_off,
				int *ip_version)
{
	const __u8 *p;
	__u32 off = 0;
	__u16 ethertype;
	int version = 0; /* the IP version the link layer announces, 0 = read it */
	int i;

	switch (frame->link_type) {
	case FLOW_LINKTYPE_ETHERNET:
		p = flow_bytes(frame, 0, 14);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		ethertype = FLOW_BE16(p + 12);
		off = 14;
		break;
	case FLOW_LINKTYPE_LINUX_SLL:
		p = flow_bytes(frame, 0, 16);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		ethertype = FLOW_BE16(p + 14);
		off = 16;
		break;
	case FLOW_LINKTYPE_LINUX_SLL2:
		p = flow_bytes(frame, 0, 20);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		ethertype = FLOW_BE16(p);
		off = 20;
		break;
	case FLOW_LINKTYPE_PPP:
	case FLOW_LINKTYPE_PPP_HDLC:
		/* as Wireshark reads both: Cisco HDLC, or PPP with or without address and control */
		p = flow_bytes(frame, 0, 4);
		if (p && (p[0] == FLOW_CHDLC_UNICAST || p[0] == FLOW_CHDLC_MULTICAST)) {
			ethertype = FLOW_BE16(p + 2);
			off = 4;
			break;
		}
		p = flow_bytes(frame, 0, 2);
		if (p && p[0] == FLOW_PPP_ADDRESS && p[1] == FLOW_PPP_CONTROL)
			off = 2;
		version = flow_ppp_protocol(frame, &off);
		if (version < 0)
			return FLOW_CNT_LINK_TRUNCATED;
		if (!version)
			return FLOW_CNT_NON_IP;
		goto ip;
	case FLOW_LINKTYPE_NULL:
	case FLOW_LINKTYPE_LOOP:
		p = flow_bytes(frame, 0, 4);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		version = flow_null_family_version(p);
		if (!version)
			return FLOW_CNT_NON_IP;
		off = 4;
		goto ip;
	case FLOW_LINKTYPE_RAW:
	case FLOW_LINKTYPE_RAW_OLD12:
	case FLOW_LINKTYPE_RAW_OLD14:
		goto ip;
	case FLOW_LINKTYPE_IPV4:
		version = 4;
		goto ip;
	case FLOW_LINKTYPE_IPV6:
		version = 6;
		goto ip;
	default:
		return FLOW_CNT_LINK_UNSUPPORTED;
	}

	for (i = 0; i < FLOW_MAX_VLAN_TAGS; i++) {
		if (!flow_is_vlan(ethertype))
			break;
		p = flow_bytes(frame, off, 4);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		if (i == 0)
			key->vlan = FLOW_BE16(p) & 0x0fff;
		ethertype = FLOW_BE16(p + 2);
		off += 4;
	}
	if (flow_is_vlan(ethertype))
		return FLOW_CNT_VLAN_TOO_DEEP;

	switch (ethertype) {
	case FLOW_ETH_P_IPV4:
		version = 4;
		break;
	case FLOW_ETH_P_IPV6:
		version = 6;
		break;
	case FLOW_ETH_P_MPLS_UC:
	case FLOW_ETH_P_MPLS_MC:
		for (i = 0; i < FLOW_MAX_MPLS_LABELS; i++) {
			p = flow_bytes(frame, off, 4);
			if (!p)
				return FLOW_CNT_LINK_TRUNCATED;
			off += 4;
			if (p[2] & 0x01) /* bottom of stack */
				break;
		}
		if (i == FLOW_MAX_MPLS_LABELS)
			return FLOW_CNT_MPLS_TOO_DEEP;
		/* No ethertype after the stack: the first nibble says what follows. */
		p = flow_bytes(frame, off, 1);
		if (!p)
			return FLOW_CNT_LINK_TRUNCATED;
		if (p[0] >> 4 != 4 && p[0] >> 4 != 6)
			return FLOW_CNT_NON_IP;
		break;
	case FLOW_ETH_P_PPPOE_SESSION:
		/* version/type, code, session id and length, then the PPP protocol */
		if (!flow_bytes(frame, off, 6))
			return FLOW_CNT_LINK_TRUNCATED;
		off += 6;
		version = flow_ppp_protocol(frame, &off);
		if (version < 0)
			return FLOW_CNT_LINK_TRUNCATED;
		if (!version)
			return FLOW_CNT_NON_IP;
		break;
	default:
		return FLOW_CNT_NON_IP;
	}

ip:
	*ip_off = off;
	*ip_version = version;
	return FLOW_CNT_RECORDED;
}

/*
 * Parses one frame. key must be zeroed and pkt zeroed by the caller. Returns
 * FLOW_CNT_RECORDED when key and pkt describe a flow packet, else the counter to bump.
 */
FLOW_INLINE int flow_parse_frame(const struct flow_frame *frame, struct flow_key *key,
				 struct flow_packet *pkt)
{
	int version, result;
	__u32 off;

	result = flow_parse_link(frame, key, &off, &version);
	if (result != FLOW_CNT_RECORDED)
		return result;
	return flow_parse_ip(frame, off, version, key, pkt);
}

#endif
