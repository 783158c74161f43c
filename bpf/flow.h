/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The flow record: the data contract of the whole project. The XDP program, both replay
 * engines and (later) the wire format all use these structs, and the accounting rules below,
 * so kernel and userspace cannot drift. Fixed-width types only: this header is compiled by
 * clang -target bpf (with vmlinux.h) and by the host compiler (with <linux/types.h>).
 */
#ifndef FLOW_H
#define FLOW_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#ifdef __bpf__
#define FLOW_INLINE static __always_inline
#else
#define FLOW_INLINE static inline __attribute__((always_inline))
#endif

#define FLOW_ADDR_LEN 16

enum flow_direction {
	FLOW_DIR_INGRESS = 0,
	FLOW_DIR_EGRESS = 1,
};

/* IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d); ports in host byte order. */
struct flow_key {
	__u8 src_addr[FLOW_ADDR_LEN];
	__u8 dst_addr[FLOW_ADDR_LEN];
	__u32 ifindex; /* 0 in replay */
	__u16 vlan;    /* outermost VLAN id, 0 if untagged */
	__u16 src_port;
	__u16 dst_port;
	__u8 proto;
	__u8 direction; /* enum flow_direction */
};
_Static_assert(sizeof(struct flow_key) == 44, "flow_key layout is part of the wire format");

struct flow_metrics {
	__u64 packets;
	__u64 bytes;	     /* L3 octets */
	__u64 first_seen_ns; /* Unix epoch in replay; kernel clock until userspace converts */
	__u64 last_seen_ns;
	__u8 tcp_flags; /* OR of every TCP flags byte seen */
	__u8 pad[7];
};
_Static_assert(sizeof(struct flow_metrics) == 40, "flow_metrics is shared with the kernel");

/* One exported flow: what the ring buffer carries and what the output writers format. */
struct flow_record {
	struct flow_key key;
	__u32 sampling; /* 1:N packet sampling in force; 1 = every packet */
	struct flow_metrics stats;
};
_Static_assert(sizeof(struct flow_record) == 88, "flow_record is shared with the kernel");

/*
 * Replay puts this in the XDP metadata area in front of each packet it runs through
 * BPF_PROG_TEST_RUN, because a test run has no wire length, timestamp or link type of its own.
 */
struct flow_replay_meta {
	__u64 ts_ns;
	__u32 orig_len;
	__u32 cap_len; /* may be below the test-run frame, which must be >= 14 bytes */
	__u32 link_type;
	__u32 pad;
};
_Static_assert(sizeof(struct flow_replay_meta) == 24, "XDP metadata must be <= 32, 4-aligned");

/*
 * Per-reason packet counters, an array map in the kernel. The first block is exclusive:
 * every packet seen lands in exactly one of RECORDED, SAMPLED_OUT, the parse failures,
 * MAP_FULL or META_INVALID. The notes after FLOW_CNT_NOTES_FIRST count recorded packets again.
 */
enum flow_counter {
	FLOW_CNT_PACKETS = 0,	    /* every packet the program saw */
	FLOW_CNT_RECORDED,	    /* added to a flow */
	FLOW_CNT_SAMPLED_OUT,	    /* skipped by 1:N sampling */
	FLOW_CNT_NON_IP,	    /* not IPv4/IPv6 (ARP, LLC, MPLS/PPP payload not IP, ...) */
	FLOW_CNT_LINK_UNSUPPORTED,  /* link type the parser does not know */
	FLOW_CNT_LINK_TRUNCATED,    /* link-layer header cut short by the snaplen */
	FLOW_CNT_VLAN_TOO_DEEP,	    /* more than FLOW_MAX_VLAN_TAGS tags */
	FLOW_CNT_MPLS_TOO_DEEP,	    /* no bottom of stack within FLOW_MAX_MPLS_LABELS */
	FLOW_CNT_IP_BAD_VERSION,    /* version does not match the ethertype or link type */
	FLOW_CNT_IP_BAD_HEADER_LEN, /* IPv4 IHL < 5 */
	FLOW_CNT_IP_BAD_TOTAL_LEN,  /* IPv4 total length < header length */
	FLOW_CNT_IP_TRUNCATED,	    /* IP fixed header cut short by the snaplen */
	FLOW_CNT_MAP_FULL,	    /* flow table full: packet not recorded */
	FLOW_CNT_META_INVALID,	    /* replay metadata missing */
	FLOW_CNT_NOTES_FIRST,
	FLOW_CNT_L4_TRUNCATED = FLOW_CNT_NOTES_FIRST, /* recorded with ports 0 */
	FLOW_CNT_FRAGMENT,	   /* non-first fragment, recorded with ports 0 */
	FLOW_CNT_IPV6_EXT_LIMIT,   /* > FLOW_MAX_IPV6_EXT headers, recorded with ports 0 */
	FLOW_CNT_BYTES_FROM_FRAME, /* IP length field 0: bytes taken from the frame */
	FLOW_CNT_SPLIT,		   /* a record closed by the idle or active timeout */
	FLOW_CNT_FLOW_CREATED,	   /* a new entry in the flow map */
	FLOW_CNT_EXPORT_LOST,	   /* records lost: ring buffer full */
	FLOW_CNT_MAX,
};

/*
 * The accounting rules, shared so both engines split records at exactly the same packets.
 * A record ends before a packet that arrives more than idle_ns after the record's last
 * packet, or active_ns or more after its first one. Time that runs backwards never splits.
 * A timeout of 0 disables that rule (live capture exports from userspace instead).
 */
FLOW_INLINE int flow_metrics_should_split(const struct flow_metrics *stats, __u64 ts_ns,
					  __u64 idle_ns, __u64 active_ns)
{
	if (idle_ns && ts_ns > stats->last_seen_ns && ts_ns - stats->last_seen_ns > idle_ns)
		return 1;
	if (active_ns && ts_ns > stats->first_seen_ns && ts_ns - stats->first_seen_ns >= active_ns)
		return 1;
	return 0;
}

/* A record's first packets: packets > 1 when one GSO skb stands for several on the wire. */
FLOW_INLINE void flow_metrics_start_n(struct flow_metrics *stats, __u64 ts_ns, __u32 packets,
				      __u32 bytes, __u8 tcp_flags)
{
	stats->packets = packets;
	stats->bytes = bytes;
	stats->first_seen_ns = ts_ns;
	stats->last_seen_ns = ts_ns;
	stats->tcp_flags = tcp_flags;
}

FLOW_INLINE void flow_metrics_add_n(struct flow_metrics *stats, __u64 ts_ns, __u32 packets,
				    __u32 bytes, __u8 tcp_flags)
{
	stats->packets += packets;
	stats->bytes += bytes;
	if (ts_ns < stats->first_seen_ns)
		stats->first_seen_ns = ts_ns;
	if (ts_ns > stats->last_seen_ns)
		stats->last_seen_ns = ts_ns;
	stats->tcp_flags |= tcp_flags;
}

FLOW_INLINE void flow_metrics_start(struct flow_metrics *stats, __u64 ts_ns, __u32 bytes,
				    __u8 tcp_flags)
{
	flow_metrics_start_n(stats, ts_ns, 1, bytes, tcp_flags);
}

FLOW_INLINE void flow_metrics_add(struct flow_metrics *stats, __u64 ts_ns, __u32 bytes,
				  __u8 tcp_flags)
{
	flow_metrics_add_n(stats, ts_ns, 1, bytes, tcp_flags);
}

/* Folds one CPU's slot of a per-CPU entry into dst; an untouched (zero) slot adds nothing. */
FLOW_INLINE void flow_metrics_merge(struct flow_metrics *dst, const struct flow_metrics *src)
{
	if (!src->packets)
		return;
	if (!dst->packets) {
		*dst = *src;
		return;
	}
	dst->packets += src->packets;
	dst->bytes += src->bytes;
	if (src->first_seen_ns < dst->first_seen_ns)
		dst->first_seen_ns = src->first_seen_ns;
	if (src->last_seen_ns > dst->last_seen_ns)
		dst->last_seen_ns = src->last_seen_ns;
	dst->tcp_flags |= src->tcp_flags;
}

/* An idle record at an expiry scan: no packet for more than idle_ns before now_ns. */
FLOW_INLINE int flow_metrics_is_idle(const struct flow_metrics *stats, __u64 now_ns, __u64 idle_ns)
{
	return now_ns > stats->last_seen_ns && now_ns - stats->last_seen_ns > idle_ns;
}

#endif
