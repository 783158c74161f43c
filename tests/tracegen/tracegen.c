// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracegen: writes a deterministic MAWI-like packet trace and the exact per-flow totals a flow
 * meter must report for it. Tests, benchmarks and the demo replay its traces and compare against
 * the truth file, so every packet written is counted under exactly the key the meter derives
 * (bpf/flow_parse.h): outermost VLAN, L3 octets, ICMP type/code in dst_port, ports 0 on
 * non-first fragments.
 *
 * The trace looks like MAWI samplepoint-F: classic pcap, headers only (snaplen 96), one
 * capture window a day at 05:00 UTC (14:00 JST). Traffic is an event-driven simulation of
 * sessions (TCP with handshakes, request/response rounds, acks and FIN/RST; QUIC; DNS; NTP;
 * RTP-like media; fragmenting UDP; ping; neighbour solicitation; scans) between clients and
 * servers drawn from a weighted table of regions. Only the sessions in flight are kept in memory,
 * in a heap ordered by the time of their next packet, so packets come out in time order; the
 * truth table (~70 bytes per distinct key) is the only thing that grows with the trace.
 *
 * The mix is held to REFERENCE.md by steering, not luck: each new session's service, regions,
 * family and VLAN lean towards whatever is behind its share so far, and session arrivals
 * track the day's packet budget so the last packet lands at the end of the window.
 * check_truth.py cross-checks a truth file against tshark's reading of the trace.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SNAPLEN		  96
#define PCAP_MAGIC_USEC	  0xa1b2c3d4u
#define LINKTYPE_ETHERNET 1
#define MTU		  1500
#define USEC_PER_SEC	  1000000LL
#define USEC_PER_DAY	  (86400LL * USEC_PER_SEC)
#define CAPTURE_HOUR_UTC  5 /* MAWI captures at 14:00 JST */
#define OUT_BUF_SIZE	  (1 << 20)
#define PORTS		  65536
#define VLAN_SHARE	  0.04	/* of the packets, 802.1Q tagged (some of them QinQ) */
#define IPV6_SHARE	  0.125 /* of the packets */

enum {
	DIR_C2S = 0,
	DIR_S2C = 1
};
enum {
	FAM_V4 = 0,
	FAM_V6 = 1
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

#define PROTO_ICMP   1
#define PROTO_TCP    6
#define PROTO_UDP    17
#define PROTO_FRAG6  44
#define PROTO_ICMPV6 58

/* ---- deterministic randomness: splitmix64 to seed, xoshiro256** to draw ---- */

struct rng {
	uint64_t s[4];
};

/* splitmix64's finalizer: also the stateless hash behind addresses and jitter. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++) {
		seed += 0x9e3779b97f4a7c15ULL;
		r->s[i] = mix64(seed);
	}
}

static inline uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

/* Uniform in [0, n): Lemire's multiply-shift, no modulo bias worth caring about here. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

static inline double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static inline bool rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

static double rng_exp(struct rng *r, double mean)
{
	return -mean * log1p(-rng_unit(r));
}

static double rng_normal(struct rng *r)
{
	double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double rng_lognormal(struct rng *r, double median, double sigma)
{
	return median * exp(sigma * rng_normal(r));
}

static double rng_pareto(struct rng *r, double xm, double alpha)
{
	return xm * pow(1.0 - rng_unit(r), -1.0 / alpha);
}

/* Rank in [1, n] with P(k) ~ 1/k: a few very popular hosts and a long tail of rare ones. */
static uint64_t rng_zipf(struct rng *r, uint64_t n)
{
	uint64_t k = (uint64_t)exp(rng_unit(r) * log((double)n + 1.0));

	return k < 1 ? 1 : k > n ? n : k;
}

static uint64_t clamp_u64(double v, uint64_t lo, uint64_t hi)
{
	if (!(v > (double)lo))
		return lo;
	if (v >= (double)hi)
		return hi;
	return (uint64_t)v;
}

/* ---- regions ---- */

/*
 * Where endpoints come from, weighted to the regions of the old MAWI dashboards (US, JP, CN,
 * then CA, AU/IN and DE, plus a tail). Clients and servers have separate weights: servers send
 * most bytes, so a server-heavy region ranks higher by bytes than by packets (IN vs AU).
 * rtt_ms is the round trip from the monitor (a Japan-US transit link) to the region.
 *
 * The prefixes are real allocations of each country, picked so a later geolocation database
 * maps them back; keep this table self-contained, the summary and --list-regions read it.
 */
#define REGION_MAX_PREFIXES 7

struct region {
	const char *code; /* ISO 3166-1 alpha-2 */
	const char *name;
	uint16_t client_weight;
	uint16_t server_weight;
	uint16_t rtt_ms;
	const char *prefixes[REGION_MAX_PREFIXES]; /* IPv4 and IPv6 CIDRs, NULL-terminated */
};

static const struct region regions[] = {
	{ "US",
	  "United States",
	  3300,
	  4200,
	  120,
	  { "12.0.0.0/8", "17.0.0.0/8", "73.0.0.0/8", "104.16.0.0/13", "142.250.0.0/15",
	    "2601::/20", "2607:f8b0::/32" } },
	{ "JP",
	  "Japan",
	  2400,
	  1800,
	  8,
	  { "133.0.0.0/8", "126.0.0.0/8", "203.178.128.0/17", "60.32.0.0/12", "2001:200::/32",
	    "240b::/24", NULL } },
	{ "CN",
	  "China",
	  950,
	  950,
	  60,
	  { "61.128.0.0/10", "218.0.0.0/11", "36.96.0.0/11", "223.64.0.0/11", "240e::/20",
	    "2408:8000::/20", "2409:8000::/20" } },
	{ "CA",
	  "Canada",
	  400,
	  420,
	  140,
	  { "99.224.0.0/11", "142.112.0.0/13", "24.200.0.0/13", "2607:fea8::/32", "2001:56a::/32",
	    NULL } },
	{ "AU",
	  "Australia",
	  460,
	  190,
	  110,
	  { "1.120.0.0/13", "101.160.0.0/11", "58.160.0.0/12", "2001:8000::/20", "2001:44b8::/32",
	    NULL } },
	{ "IN",
	  "India",
	  220,
	  380,
	  120,
	  { "117.192.0.0/10", "49.32.0.0/11", "122.160.0.0/12", "2405:200::/29", "2401:4900::/32",
	    NULL } },
	{ "DE",
	  "Germany",
	  190,
	  200,
	  230,
	  { "79.192.0.0/10", "84.128.0.0/10", "141.20.0.0/16", "2003::/19", "2001:638::/32",
	    NULL } },
	{ "GB",
	  "United Kingdom",
	  130,
	  120,
	  230,
	  { "86.128.0.0/10", "2.24.0.0/13", "2a00:23c0::/28", NULL } },
	{ "FR",
	  "France",
	  130,
	  120,
	  230,
	  { "90.0.0.0/9", "78.192.0.0/10", "2a01:cb00::/24", "2a01:e00::/26", NULL } },
	{ "NL",
	  "Netherlands",
	  130,
	  120,
	  230,
	  { "145.100.0.0/15", "84.24.0.0/13", "2001:610::/32", NULL } },
	{ "KR",
	  "Korea, Republic of",
	  130,
	  120,
	  35,
	  { "121.128.0.0/10", "175.192.0.0/10", "2001:e60::/32", NULL } },
	{ "TW",
	  "Taiwan",
	  130,
	  120,
	  40,
	  { "114.32.0.0/12", "118.160.0.0/13", "2001:b000::/20", NULL } },
	{ "SG",
	  "Singapore",
	  130,
	  120,
	  75,
	  { "165.21.0.0/16", "116.86.0.0/15", "2001:d08::/32", NULL } },
	{ "HK",
	  "Hong Kong",
	  130,
	  120,
	  50,
	  { "112.118.0.0/15", "218.102.0.0/16", "2404:e800::/31", NULL } },
	{ "ID",
	  "Indonesia",
	  130,
	  120,
	  90,
	  { "36.64.0.0/11", "110.136.0.0/13", "2001:448a::/32", NULL } },
	{ "VN",
	  "Viet Nam",
	  130,
	  120,
	  80,
	  { "113.160.0.0/11", "14.160.0.0/11", "2001:ee0::/32", NULL } },
	{ "BR", "Brazil", 130, 120, 270, { "177.0.0.0/10", "189.0.0.0/11", "2804::/16", NULL } },
	{ "MX", "Mexico", 130, 120, 180, { "187.128.0.0/11", "189.128.0.0/11", "2806::/19", NULL } },
	{ "RU",
	  "Russian Federation",
	  130,
	  120,
	  200,
	  { "95.24.0.0/13", "178.64.0.0/12", "2a00:1fa0::/28", NULL } },
	{ "IT", "Italy", 130, 120, 240, { "79.0.0.0/10", "151.64.0.0/11", "2001:b07::/32", NULL } },
	{ "ES", "Spain", 130, 120, 240, { "83.32.0.0/11", "88.0.0.0/11", "2a0c:5a80::/29", NULL } },
	{ "SE",
	  "Sweden",
	  130,
	  120,
	  240,
	  { "81.224.0.0/12", "130.235.0.0/16", "2001:6b0::/32", NULL } },
};

#define NREGIONS	 ((int)(sizeof(regions) / sizeof(regions[0])))
#define REGION_MULTICAST NREGIONS /* stats slot for the NS multicast destination */

struct prefix {
	uint8_t addr[16];
	uint8_t len;
};

struct region_net {
	struct prefix pfx[2][REGION_MAX_PREFIXES];
	int npfx[2];
};

/* ---- services ---- */

enum app {
	APP_WEB,       /* TCP request/response rounds: pages, downloads, video, long polls */
	APP_BULK,      /* TCP bulk transfers: rsync mirrors, object storage, git */
	APP_SSH,       /* brute-force attempts, interactive sessions, scp */
	APP_MAIL,      /* a few small exchanges; IMAP IDLE keeps some open for minutes */
	APP_P2P,       /* TCP chunks between per-host high ports */
	APP_SCAN,      /* one SYN, sometimes refused */
	APP_QUIC,      /* web over UDP 443 */
	APP_DNS,       /* query/response, a few large (fragmented) answers */
	APP_NTP,       /* 48-byte request/response */
	APP_MEDIA,     /* RTP, games, VPN: periodic datagrams both ways for minutes */
	APP_UDP_BULK,  /* NFS-like reads: datagrams above the MTU, the IP fragments */
	APP_UDP_PROBE, /* UDP to a closed port, answered by ICMP port unreachable */
	APP_PING,      /* ICMP / ICMPv6 echo */
	APP_NDP,       /* ICMPv6 neighbour solicitation */
};

struct service {
	const char *name;
	uint8_t proto;
	uint8_t app;
	uint16_t port;	      /* server port; 0 = a per-host high port */
	uint32_t share;	      /* target share of the packets, in 1/1000 % */
	float mean_packets;   /* measured packets per session of the model, in the window */
	uint16_t v6_permille; /* IPv6 sessions per thousand */
	uint16_t pool;	      /* services with the same pool share their server hosts */
	uint32_t servers;     /* server hosts per region: how concentrated the traffic is */
	uint32_t clients;     /* client hosts per region */
};

/*
 * The traffic mix, calibrated to REFERENCE.md: TCP 68%/69% of packets/bytes, UDP 32%/31% minus
 * ~0.5% ICMP; ports 443, 80, 53, 873, 9000, 22, 993 on top both by bytes and by packets, every
 * other port below 993 (so the VPN ports stay small and the bulk of "other" traffic runs
 * between per-host high ports). share is what each service should carry; a new session picks
 * a service with odds share / mean_packets, nudged by how far each is from its share so far.
 * mean_packets was measured by running each service alone (5M packets, 3 days); re-measure it
 * after changing a service's model.
 */
static const struct service services[] = {
	/* name, proto, app, port, share, mean_packets, v6 permille, pool, servers, clients */
	{ "https", PROTO_TCP, APP_WEB, 443, 31000, 72.8f, 140, 1, 20000, 200000 },
	{ "http", PROTO_TCP, APP_WEB, 80, 13500, 104.7f, 100, 1, 20000, 200000 },
	{ "quic", PROTO_UDP, APP_QUIC, 443, 20500, 60.2f, 180, 1, 5000, 200000 },
	{ "dns", PROTO_UDP, APP_DNS, 53, 6500, 2.7f, 130, 2, 5000, 3000 },
	{ "rsync", PROTO_TCP, APP_BULK, 873, 1400, 498.0f, 120, 3, 60, 5000 },
	{ "cslistener", PROTO_TCP, APP_BULK, 9000, 1100, 493.9f, 80, 4, 200, 20000 },
	{ "ssh", PROTO_TCP, APP_SSH, 22, 800, 319.9f, 90, 5, 5000, 50000 },
	{ "imaps", PROTO_TCP, APP_MAIL, 993, 600, 56.8f, 90, 6, 500, 100000 },
	{ "smtp", PROTO_TCP, APP_MAIL, 25, 200, 109.2f, 60, 7, 2000, 5000 },
	{ "submission", PROTO_TCP, APP_MAIL, 587, 80, 109.2f, 60, 7, 500, 50000 },
	{ "imap", PROTO_TCP, APP_MAIL, 143, 100, 56.9f, 60, 6, 500, 50000 },
	{ "pop3s", PROTO_TCP, APP_MAIL, 995, 60, 56.9f, 60, 6, 500, 50000 },
	{ "http-alt", PROTO_TCP, APP_WEB, 8080, 200, 73.6f, 60, 8, 2000, 100000 },
	{ "https-alt", PROTO_TCP, APP_WEB, 8443, 150, 73.6f, 60, 8, 2000, 100000 },
	{ "irdmi", PROTO_TCP, APP_WEB, 8000, 100, 73.6f, 60, 8, 2000, 100000 },
	{ "jupyter", PROTO_TCP, APP_WEB, 8888, 50, 72.7f, 40, 9, 500, 5000 },
	{ "xmpp-client", PROTO_TCP, APP_MAIL, 5222, 100, 56.9f, 120, 10, 300, 100000 },
	{ "git", PROTO_TCP, APP_BULK, 9418, 60, 509.6f, 100, 11, 50, 20000 },
	{ "rtmp", PROTO_TCP, APP_BULK, 1935, 50, 494.6f, 50, 12, 200, 50000 },
	{ "bgp", PROTO_TCP, APP_MAIL, 179, 20, 57.0f, 200, 13, 100, 100 },
	{ "p2p-tcp", PROTO_TCP, APP_P2P, 0, 16830, 1220.1f, 150, 14, 200000, 100000 },
	{ "scan", PROTO_TCP, APP_SCAN, 0, 1600, 1.5f, 30, 15, 1000000, 300 },
	{ "ntp", PROTO_UDP, APP_NTP, 123, 300, 2.5f, 120, 16, 500, 100000 },
	{ "media", PROTO_UDP, APP_MEDIA, 0, 3200, 1987.3f, 120, 17, 50000, 100000 },
	{ "ipsec-nat-t", PROTO_UDP, APP_MEDIA, 4500, 100, 898.3f, 100, 18, 2000, 20000 },
	{ "openvpn", PROTO_UDP, APP_MEDIA, 1194, 100, 898.3f, 100, 19, 2000, 20000 },
	{ "stun", PROTO_UDP, APP_MEDIA, 3478, 60, 39.1f, 150, 20, 500, 100000 },
	{ "nfs-udp", PROTO_UDP, APP_UDP_BULK, 0, 850, 88.6f, 120, 21, 3000, 10000 },
	{ "traceroute", PROTO_UDP, APP_UDP_PROBE, 0, 80, 3.7f, 0, 22, 100000, 2000 },
	{ "ping", PROTO_ICMP, APP_PING, 0, 360, 47.3f, 150, 23, 50000, 20000 },
	{ "ndp", PROTO_ICMPV6, APP_NDP, 0, 40, 1.9f, 1000, 24, 50000, 20000 },
};

#define NSERVICES ((int)(sizeof(services) / sizeof(services[0])))

/* TCP ports scanners knock on; the rest of their probes go to random ports. */
static const uint16_t scan_ports[] = { 23,   22,   445,	 3389, 80,   8080, 443,	 5900,
				       1433, 3306, 6379, 2323, 8443, 9200, 5555, 81 };

/* ---- the simulation's state ---- */

struct endpoint {
	uint8_t addr[16];
	uint32_t seq; /* TCP: next sequence number this side sends */
	uint32_t flow_label;
	uint16_t port;
	uint16_t ipid; /* next IPv4 identification */
	uint16_t window;
	uint8_t ttl; /* TTL / hop limit as seen at the monitor */
	uint8_t region;
};

/*
 * A data transfer in one direction, paced at the session's rate, with the receiver acking
 * every few packets one receiver-RTT later. Data and ack times are both increasing sequences,
 * so the next packet is simply the earlier of the two.
 */
struct xfer {
	int64_t t0;	    /* first data packet at the monitor */
	uint32_t gap;	    /* µs between data packets */
	uint32_t ack_delay; /* µs from a data packet to the ack that covers it */
	uint32_t n;	    /* data packets */
	uint32_t sent;
	uint32_t nacks;
	uint32_t acked;
	uint32_t mss;	   /* payload of every data packet but the last */
	uint32_t last_len; /* payload of the last one */
	uint32_t base_seq; /* TCP: sequence number of the first data byte */
	uint16_t every;	   /* data packets per ack */
	uint8_t dir;	   /* sender */
	uint8_t request;   /* a response follows and acks the tail */
};

enum phase {
	PH_SYN, /* TCP handshake */
	PH_SYNACK,
	PH_HSACK,
	PH_XFER, /* a request or a response in flight (TCP, QUIC) */
	PH_FIN1, /* TCP close by s->closer */
	PH_FIN2,
	PH_LASTACK,
	PH_RST,	       /* TCP abort by s->closer */
	PH_SCAN_RST,   /* a scanned host refuses: RST|ACK */
	PH_SCAN_ABORT, /* the scanner resets a half-open connection */
	PH_QUIC_CLOSE, /* CONNECTION_CLOSE by s->closer */
	PH_UREQ,       /* one datagram exchange: DNS, NTP, NFS-like, probes */
	PH_URESP,
	PH_MEDIA, /* two periodic streams */
	PH_ECHO_REQ,
	PH_ECHO_REP,
	PH_NS,
	PH_DONE, /* ends without a packet: idle QUIC, unanswered last probe */
};

enum sub {
	SUB_NONE,
	SUB_PAGE,
	SUB_DOWNLOAD,
	SUB_VIDEO,
	SUB_POLL,
	SUB_BRUTE,
	SUB_INTERACTIVE,
	SUB_COPY,
	SUB_IDLE,
	SUB_UPLOAD,
};

struct session {
	struct endpoint ep[2]; /* indexed by sender: [DIR_C2S] client, [DIR_S2C] server */
	struct xfer x;
	int64_t next_us; /* its next packet, relative to the window start */
	int64_t mark;	 /* the last echo request's time; the last probe's IP ID */
	int64_t media_t[2];
	uint64_t id;
	uint64_t pkts;	   /* packets so far, written or not (warm-up) */
	uint64_t cap;	   /* packets it may send: bounds the elephants */
	uint64_t pending;  /* bytes of the response to the current request */
	uint32_t truth[2]; /* truth index + 1 of each direction's main key; 0 = not seen yet */
	uint32_t rtt[2];   /* µs from the monitor to that endpoint and back */
	uint32_t rounds;   /* exchanges (echoes, datagrams) left after the current one */
	uint32_t round_no;
	uint32_t think;	  /* µs, mean pause between rounds */
	uint32_t rate;	  /* kbit/s of data transfers */
	uint32_t req_len; /* UDP exchange payloads */
	uint32_t resp_len;
	uint32_t media_left[2];
	uint32_t media_ival[2];
	uint16_t media_lo[2];
	uint16_t media_hi[2];
	uint16_t vlan[2]; /* [0] outermost */
	uint16_t mss;
	uint16_t echo_id;
	uint16_t echo_seq;
	uint8_t ntags;
	uint8_t svc;
	uint8_t app;
	uint8_t proto;
	uint8_t fam;
	uint8_t phase;
	uint8_t sub;
	uint8_t closer;
	uint8_t ack_every;
	uint8_t ack_len;  /* QUIC ack payload */
	uint8_t answered; /* the current UDP request gets a response */
};

struct heap_node {
	int64_t t;
	uint32_t idx;
};

/* The meter's flow key, exactly: see bpf/flow.h and bpf/flow_parse.h. */
struct tkey {
	uint8_t src[16]; /* IPv4 in the first 4 bytes, the rest zero */
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint16_t vlan;
	uint8_t proto;
	uint8_t fam;
};
_Static_assert(sizeof(struct tkey) == 40, "tkey is hashed and compared as raw bytes");

struct tflow {
	struct tkey key;
	uint64_t packets;
	uint64_t bytes;
	uint64_t first_ns;
	uint64_t last_ns;
};

struct counter {
	uint64_t packets;
	uint64_t bytes;
};

/* Per port, TCP and UDP apart. */
struct port_counter {
	struct counter c[2];
};

struct day_stats {
	struct counter all, tcp, udp;
	uint64_t first_ns, last_ns;
	uint64_t sessions;
	int64_t end_us; /* last packet relative to the window start */
};

struct stats {
	struct counter total;
	struct counter tcp, udp, icmp, icmp6;
	struct counter ipv6, vlan, qinq, frag4, frag6;
	struct counter src_region[NREGIONS + 1], dst_region[NREGIONS + 1];
	struct counter svc[NSERVICES];
	uint64_t svc_sessions[NSERVICES];
	struct port_counter *src_port, *dst_port, *service_port;
};

struct out {
	FILE *file;
	gzFile gz;
	uint8_t *buf;
	size_t len;
	int err; /* 0 or a positive errno */
};

struct env {
	const char *output;
	const char *truth;
	const char *summary;
	uint64_t packets;
	uint64_t days;
	uint64_t window_s;
	uint64_t seed;
	int64_t start_day; /* days since 1970-01-01 */
	int gzip_level;	   /* -1 = plain pcap */
	bool list_regions;
	bool verbose;
	bool quiet;
};

struct gen {
	const struct env *env;
	struct rng rng;
	struct region_net nets[NREGIONS];
	double region_share[2][NREGIONS];     /* [DIR_C2S] clients, [DIR_S2C] servers */
	uint64_t region_virtual[2][NREGIONS]; /* packets simulated this day, per endpoint role */
	uint64_t vlan_virtual[2];	      /* ... untagged, tagged */
	uint64_t v6_virtual;		      /* ... over IPv6 */
	double svc_share[NSERVICES];	      /* target fraction of the packets */
	double svc_odds[NSERVICES];	      /* share / mean packets: odds of a new session */
	double svc_slack[NSERVICES];	 /* a couple of sessions' packets, see pick_steered() */
	uint64_t svc_virtual[NSERVICES]; /* packets simulated this day, warm-up included */
	double mean_packets;		 /* per session, over the mix */
	uint64_t addr_seed;

	/* sessions in flight */
	struct session *pool;
	uint32_t pool_cap, pool_used;
	uint32_t *free_idx;
	uint32_t nfree;
	struct heap_node *heap;
	uint32_t heap_n, heap_cap;
	uint64_t next_id;

	/* the day being simulated */
	int day;
	int64_t day_base_us;   /* Unix µs of the window start */
	int64_t now;	       /* µs relative to the window start */
	int64_t t_begin;       /* warm-up start */
	int64_t t_arrival;     /* next session arrival */
	uint64_t budget;       /* packets to write this day */
	uint64_t emitted;      /* packets written this day */
	uint64_t virtual_pkts; /* packets simulated this day, warm-up included */
	uint64_t sess_cap;     /* packets any one session may send */
	double rate_pps;
	double tau_s;
	uint64_t *day_budget;
	struct day_stats *days;
	uint64_t last_ts_us;
	uint64_t order_fixups;

	/* the truth: every distinct key, in order of first appearance */
	struct tflow *flows;
	uint32_t nflows, flows_cap;
	uint32_t *slots; /* flow index + 1, 0 = empty */
	uint32_t slot_mask;

	struct stats st;
	struct out out;
};

static void fatal_oom(void)
{
	fprintf(stderr, "tracegen: out of memory\n");
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		fatal_oom();
	return p;
}

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatal_oom();
	p = realloc(p, n * size);
	if (!p)
		fatal_oom();
	return p;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* ---- calendar ---- */

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned int *m, unsigned int *d)
{
	int64_t era;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* 0 = Monday */
static int weekday(int64_t days)
{
	return (int)(((days % 7) + 7 + 3) % 7);
}

/* ---- output ---- */

static void out_flush(struct out *o)
{
	if (!o->len || o->err)
		return;
	if (o->gz) {
		if (gzwrite(o->gz, o->buf, (unsigned int)o->len) != (int)o->len) {
			int zerr;

			gzerror(o->gz, &zerr);
			o->err = zerr == Z_ERRNO && errno ? errno : EIO;
		}
	} else if (fwrite(o->buf, 1, o->len, o->file) != o->len) {
		o->err = errno ? errno : EIO;
	}
	o->len = 0;
}

static inline void out_write(struct out *o, const void *data, size_t len)
{
	if (o->len + len > OUT_BUF_SIZE)
		out_flush(o);
	memcpy(o->buf + o->len, data, len);
	o->len += len;
}

static int out_open(struct out *o, const char *path, int gzip_level)
{
	bool to_stdout = !strcmp(path, "-");
	char mode[16];

	o->buf = xcalloc(1, OUT_BUF_SIZE);
	if (gzip_level >= 0) {
		snprintf(mode, sizeof(mode), "wb%d", gzip_level);
		o->gz = to_stdout ? gzdopen(fileno(stdout), mode) : gzopen(path, mode);
		if (!o->gz)
			return errno ? -errno : -ENOMEM;
		/* fewer, larger deflate calls */
		gzbuffer(o->gz, 1 << 20);
		return 0;
	}
	o->file = to_stdout ? stdout : fopen(path, "wb");
	if (!o->file)
		return -errno;
	return 0;
}

static int out_close(struct out *o)
{
	int err;

	out_flush(o);
	err = o->err;
	if (o->gz) {
		if (gzclose(o->gz) != Z_OK && !err)
			err = EIO;
	} else if (o->file) {
		if (fflush(o->file) && !err)
			err = errno;
		if (o->file != stdout && fclose(o->file) && !err)
			err = errno;
	}
	free(o->buf);
	memset(o, 0, sizeof(*o));
	return -err;
}

static void pcap_write_header(struct out *o)
{
	uint8_t h[24];

	put32le(h, PCAP_MAGIC_USEC);
	h[4] = 2; /* version 2.4, little-endian like the magic */
	h[5] = 0;
	h[6] = 4;
	h[7] = 0;
	put32le(h + 8, 0);  /* thiszone */
	put32le(h + 12, 0); /* sigfigs */
	put32le(h + 16, SNAPLEN);
	put32le(h + 20, LINKTYPE_ETHERNET);
	out_write(o, h, sizeof(h));
}

/* ---- the truth: an open-addressing table over every distinct key ---- */

static inline uint64_t tkey_hash(const struct tkey *k)
{
	uint64_t w[5];

	memcpy(w, k, sizeof(w));
	return mix64(w[0] ^ mix64(w[1] ^ mix64(w[2] ^ mix64(w[3] ^ mix64(w[4])))));
}

static void truth_grow_slots(struct gen *g)
{
	uint32_t cap = g->slot_mask ? (g->slot_mask + 1) * 2 : 1u << 16;
	uint32_t i;

	free(g->slots);
	g->slots = xcalloc(cap, sizeof(*g->slots));
	g->slot_mask = cap - 1;
	for (i = 0; i < g->nflows; i++) {
		uint32_t s = (uint32_t)tkey_hash(&g->flows[i].key) & g->slot_mask;

		while (g->slots[s])
			s = (s + 1) & g->slot_mask;
		g->slots[s] = i + 1;
	}
}

/* The index of key's flow, created on first sight. */
static uint32_t truth_upsert(struct gen *g, const struct tkey *key, uint64_t ts_ns)
{
	uint32_t s = (uint32_t)tkey_hash(key) & g->slot_mask;
	struct tflow *f;

	while (g->slots[s]) {
		f = &g->flows[g->slots[s] - 1];
		if (!memcmp(&f->key, key, sizeof(*key)))
			return g->slots[s] - 1;
		s = (s + 1) & g->slot_mask;
	}
	if (g->nflows == UINT32_MAX - 1)
		fatal_oom();
	if (g->nflows == g->flows_cap) {
		g->flows_cap = g->flows_cap ? g->flows_cap * 2 : 1u << 16;
		g->flows = xrealloc(g->flows, g->flows_cap, sizeof(*g->flows));
	}
	f = &g->flows[g->nflows];
	memset(f, 0, sizeof(*f));
	f->key = *key;
	f->first_ns = ts_ns;
	g->nflows++;
	/* keep the load under a half so probes stay short */
	if ((uint64_t)g->nflows * 2 > (uint64_t)g->slot_mask + 1)
		truth_grow_slots(g);
	else
		g->slots[s] = g->nflows;
	return g->nflows - 1;
}

/* ---- sessions in flight: a pool with a free list and a binary min-heap on next_us ---- */

static uint32_t pool_alloc(struct gen *g)
{
	if (g->nfree)
		return g->free_idx[--g->nfree];
	if (g->pool_used == g->pool_cap) {
		g->pool_cap = g->pool_cap ? g->pool_cap * 2 : 4096;
		g->pool = xrealloc(g->pool, g->pool_cap, sizeof(*g->pool));
		g->free_idx = xrealloc(g->free_idx, g->pool_cap, sizeof(*g->free_idx));
	}
	return g->pool_used++;
}

static void pool_free(struct gen *g, uint32_t idx)
{
	g->free_idx[g->nfree++] = idx;
}

static void heap_sift_down(struct gen *g, uint32_t i)
{
	struct heap_node *h = g->heap, node = h[i];
	uint32_t n = g->heap_n;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].t < h[c].t)
			c++;
		if (h[c].t >= node.t)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = node;
}

static void heap_push(struct gen *g, int64_t t, uint32_t idx)
{
	struct heap_node *h;
	uint32_t i;

	if (g->heap_n == g->heap_cap) {
		g->heap_cap = g->heap_cap ? g->heap_cap * 2 : 4096;
		g->heap = xrealloc(g->heap, g->heap_cap, sizeof(*g->heap));
	}
	h = g->heap;
	i = g->heap_n++;
	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (h[parent].t <= t)
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i].t = t;
	h[i].idx = idx;
}

static void heap_pop(struct gen *g)
{
	g->heap[0] = g->heap[--g->heap_n];
	if (g->heap_n)
		heap_sift_down(g, 0);
}

/* ---- packet building ---- */

static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	while (len > 1) {
		sum += ((uint32_t)p[0] << 8) | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* RFC 768 / RFC 8200 pseudo-header; l4_len counts the payload the snaplen drops (zeros). */
static uint32_t csum_pseudo(int fam, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			    uint32_t l4_len)
{
	uint32_t alen = fam == FAM_V4 ? 4 : 16;
	uint32_t sum = csum_add(0, src, alen);

	sum = csum_add(sum, dst, alen);
	return sum + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

/* Two routers face each other on the link; a VLAN gets its own pair. */
static void router_mac(uint8_t mac[6], uint16_t vlan, int side)
{
	/* Juniper and Arista OUIs: globally administered unicast, like a real transit link */
	static const uint8_t oui[2][3] = { { 0x2c, 0x21, 0x31 }, { 0x00, 0x1c, 0x73 } };
	uint64_t h = mix64(((uint64_t)vlan << 1) | (uint64_t)side);

	memcpy(mac, oui[side], 3);
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* Ethernet header and VLAN tags; returns the L3 offset. dst_mac NULL = the facing router. */
static uint32_t build_eth(uint8_t *p, const struct session *s, int dir, uint16_t ethertype,
			  const uint8_t *dst_mac)
{
	uint32_t off = 12;

	if (dst_mac)
		memcpy(p, dst_mac, 6);
	else
		router_mac(p, s->vlan[0], !dir);
	router_mac(p + 6, s->vlan[0], dir);
	if (s->ntags == 2) {
		/* QinQ: 802.1ad service tag outside, 802.1Q customer tag inside */
		put16(p + off, 0x88a8);
		put16(p + off + 2, s->vlan[0]);
		put16(p + off + 4, 0x8100);
		put16(p + off + 6, s->vlan[1]);
		off += 8;
	} else if (s->ntags == 1) {
		put16(p + off, 0x8100);
		put16(p + off + 2, s->vlan[0]);
		off += 4;
	}
	put16(p + off, ethertype);
	return off + 2;
}

static void build_ipv4(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t ttl,
		       uint8_t proto, uint32_t total_len, uint16_t id, uint16_t frag)
{
	p[0] = 0x45;
	p[1] = 0;
	put16(p + 2, (uint16_t)total_len);
	put16(p + 4, id);
	put16(p + 6, frag);
	p[8] = ttl;
	p[9] = proto;
	p[10] = 0;
	p[11] = 0;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	put16(p + 10, csum_fold(csum_add(0, p, 20)));
}

static void build_ipv6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t hlim,
		       uint8_t next, uint32_t payload_len, uint32_t flow_label)
{
	p[0] = 0x60;
	p[1] = (uint8_t)((flow_label >> 16) & 0x0f);
	put16(p + 2, (uint16_t)flow_label);
	put16(p + 4, (uint16_t)payload_len);
	p[6] = next;
	p[7] = hlim;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
}

/* What the meter will make of a packet: its key and where to count it. */
struct pktinfo {
	int dir;
	uint8_t key_proto;
	uint16_t key_sport;
	uint16_t key_dport;
	bool cached; /* the direction's main key: its index lives in s->truth[dir] */
	bool fragment;
	const uint8_t *key_dst; /* NULL = the peer */
	int dst_region;
	uint32_t l3_len;
};

/* Counts a packet simulated; false when it is not to be written (warm-up, budget spent). */
static inline bool emit_begin(struct gen *g, struct session *s)
{
	s->pkts++;
	g->virtual_pkts++;
	g->svc_virtual[s->svc]++;
	g->region_virtual[DIR_C2S][s->ep[DIR_C2S].region]++;
	g->region_virtual[DIR_S2C][s->ep[DIR_S2C].region]++;
	g->vlan_virtual[s->ntags != 0]++;
	g->v6_virtual += s->fam;
	return g->now >= 0 && g->emitted < g->budget;
}

static inline void counter_add(struct counter *c, uint32_t bytes)
{
	c->packets++;
	c->bytes += bytes;
}

static void emit_finish(struct gen *g, struct session *s, const uint8_t *frame, uint32_t l3_off,
			const struct pktinfo *pi)
{
	uint32_t wire = l3_off + pi->l3_len, cap = wire < SNAPLEN ? wire : SNAPLEN;
	uint64_t ts_us = (uint64_t)(g->day_base_us + g->now), ts_ns;
	struct day_stats *ds = &g->days[g->day];
	struct stats *st = &g->st;
	uint8_t rec[16];
	uint32_t idx, bytes = pi->l3_len;
	struct tflow *f;

	/* the heap guarantees order; this only guards the guarantee */
	if (ts_us < g->last_ts_us) {
		ts_us = g->last_ts_us;
		g->order_fixups++;
	}
	g->last_ts_us = ts_us;
	ts_ns = ts_us * 1000;

	put32le(rec, (uint32_t)(ts_us / USEC_PER_SEC));
	put32le(rec + 4, (uint32_t)(ts_us % USEC_PER_SEC));
	put32le(rec + 8, cap);
	put32le(rec + 12, wire);
	out_write(&g->out, rec, sizeof(rec));
	out_write(&g->out, frame, cap);

	if (pi->cached && s->truth[pi->dir]) {
		idx = s->truth[pi->dir] - 1;
	} else {
		struct tkey k;
		const struct endpoint *src = &s->ep[pi->dir], *dst = &s->ep[!pi->dir];
		uint32_t alen = s->fam == FAM_V4 ? 4 : 16;

		memset(&k, 0, sizeof(k));
		memcpy(k.src, src->addr, alen);
		memcpy(k.dst, pi->key_dst ? pi->key_dst : dst->addr, alen);
		k.sport = pi->key_sport;
		k.dport = pi->key_dport;
		k.vlan = s->ntags ? s->vlan[0] : 0;
		k.proto = pi->key_proto;
		k.fam = s->fam;
		idx = truth_upsert(g, &k, ts_ns);
		if (pi->cached)
			s->truth[pi->dir] = idx + 1;
	}
	f = &g->flows[idx];
	f->packets++;
	f->bytes += bytes;
	f->last_ns = ts_ns;

	g->emitted++;
	counter_add(&st->total, bytes);
	counter_add(&ds->all, bytes);
	if (!ds->first_ns)
		ds->first_ns = ts_ns;
	ds->last_ns = ts_ns;
	ds->end_us = g->now;
	switch (pi->key_proto) {
	case PROTO_TCP:
		counter_add(&st->tcp, bytes);
		counter_add(&ds->tcp, bytes);
		break;
	case PROTO_UDP:
		counter_add(&st->udp, bytes);
		counter_add(&ds->udp, bytes);
		break;
	case PROTO_ICMP:
		counter_add(&st->icmp, bytes);
		break;
	case PROTO_ICMPV6:
		counter_add(&st->icmp6, bytes);
		break;
	}
	if (pi->key_proto == PROTO_TCP || pi->key_proto == PROTO_UDP) {
		int p = pi->key_proto == PROTO_UDP;

		counter_add(&st->src_port[pi->key_sport].c[p], bytes);
		counter_add(&st->dst_port[pi->key_dport].c[p], bytes);
		counter_add(&st->service_port[s->ep[DIR_S2C].port].c[p], bytes);
	}
	if (s->fam == FAM_V6)
		counter_add(&st->ipv6, bytes);
	if (s->ntags)
		counter_add(&st->vlan, bytes);
	if (s->ntags == 2)
		counter_add(&st->qinq, bytes);
	if (pi->fragment)
		counter_add(s->fam == FAM_V4 ? &st->frag4 : &st->frag6, bytes);
	counter_add(&st->src_region[s->ep[pi->dir].region], bytes);
	counter_add(&st->dst_region[pi->dst_region], bytes);
	counter_add(&st->svc[s->svc], bytes);
}

/*
 * Ethernet, tags and the IP header of an unfragmented packet from s->ep[dir] carrying l4_len
 * bytes of proto. Returns the L4 offset.
 */
static uint32_t build_l2l3(uint8_t *frame, struct session *s, int dir, uint8_t proto,
			   uint32_t l4_len, bool df, uint32_t *l3_off, uint32_t *l3_len)
{
	struct endpoint *src = &s->ep[dir], *dst = &s->ep[!dir];
	uint32_t off;

	if (s->fam == FAM_V4) {
		off = build_eth(frame, s, dir, 0x0800, NULL);
		build_ipv4(frame + off, src->addr, dst->addr, src->ttl, proto, 20 + l4_len,
			   src->ipid++, df ? 0x4000 : 0);
		*l3_off = off;
		*l3_len = 20 + l4_len;
		return off + 20;
	}
	off = build_eth(frame, s, dir, 0x86dd, NULL);
	build_ipv6(frame + off, src->addr, dst->addr, src->ttl, proto, l4_len, src->flow_label);
	*l3_off = off;
	*l3_len = 40 + l4_len;
	return off + 40;
}

static void emit_tcp(struct gen *g, struct session *s, int dir, uint8_t flags, uint32_t seq,
		     uint32_t ack, uint32_t payload, bool syn_options)
{
	uint8_t frame[128];
	struct endpoint *src = &s->ep[dir], *dst = &s->ep[!dir];
	uint32_t hl = syn_options ? 32 : 20, l3_off, l4;
	struct pktinfo pi = { .dir = dir, .key_proto = PROTO_TCP, .cached = true };
	uint8_t *p;

	if (!emit_begin(g, s))
		return;
	memset(frame, 0, SNAPLEN);
	l4 = build_l2l3(frame, s, dir, PROTO_TCP, hl + payload, true, &l3_off, &pi.l3_len);
	p = frame + l4;
	put16(p, src->port);
	put16(p + 2, dst->port);
	put32(p + 4, seq);
	put32(p + 8, (flags & TCP_ACK) ? ack : 0);
	p[12] = (uint8_t)((hl / 4) << 4);
	p[13] = flags;
	put16(p + 14, (flags & TCP_SYN) ? 64240 : src->window);
	if (syn_options) {
		/* MSS, NOP, window scale 7, NOP, NOP, SACK permitted: 12 bytes, a common SYN */
		static const uint8_t opts[12] = { 2, 4, 0, 0, 1, 3, 3, 7, 1, 1, 4, 2 };

		memcpy(p + 20, opts, sizeof(opts));
		put16(p + 22, s->mss);
	}
	put16(p + 16, csum_fold(csum_pseudo(s->fam, src->addr, dst->addr, PROTO_TCP, hl + payload) +
				csum_add(0, p, hl)));
	pi.key_sport = src->port;
	pi.key_dport = dst->port;
	pi.dst_region = dst->region;
	emit_finish(g, s, frame, l3_off, &pi);
}

/*
 * One UDP datagram of payload bytes, starting with head (the rest zeros); above the MTU it
 * leaves as IP fragments: the first carries the UDP header (and so the ports), the others are
 * keyed with ports 0 by the meter.
 */
static void emit_udp(struct gen *g, struct session *s, int dir, uint32_t payload,
		     const uint8_t *head, uint32_t head_len)
{
	struct endpoint *src = &s->ep[dir], *dst = &s->ep[!dir];
	uint32_t udp_len = 8 + payload, ip_hl = s->fam == FAM_V4 ? 20 : 40;
	/* fragment data per packet: a multiple of 8 that fits the MTU (1480 / 1448) */
	uint32_t room = s->fam == FAM_V4 ? MTU - 20 : (MTU - 40 - 8) & ~7u;
	uint32_t off, frag_id;
	uint16_t csum;
	uint8_t udp[8];

	put16(udp, src->port);
	put16(udp + 2, dst->port);
	put16(udp + 4, (uint16_t)udp_len);
	put16(udp + 6, 0);
	if (head_len > payload)
		head_len = payload;
	/* the header is 8 bytes and zeros follow head, so summing head apart is exact */
	csum = csum_fold(csum_pseudo(s->fam, src->addr, dst->addr, PROTO_UDP, udp_len) +
			 csum_add(0, udp, 8) + csum_add(0, head, head_len));
	put16(udp + 6, csum ? csum : 0xffff);

	if (ip_hl + udp_len <= MTU) {
		uint8_t frame[128];
		struct pktinfo pi = { .dir = dir, .key_proto = PROTO_UDP, .cached = true };
		uint32_t l3_off, l4;

		if (!emit_begin(g, s))
			return;
		memset(frame, 0, SNAPLEN);
		/* DF as Linux sets it on connected sockets with PMTU discovery */
		l4 = build_l2l3(frame, s, dir, PROTO_UDP, udp_len, true, &l3_off, &pi.l3_len);
		memcpy(frame + l4, udp, 8);
		if (head_len)
			memcpy(frame + l4 + 8, head,
			       head_len < SNAPLEN - l4 - 8 ? head_len : SNAPLEN - l4 - 8);
		pi.key_sport = src->port;
		pi.key_dport = dst->port;
		pi.dst_region = dst->region;
		emit_finish(g, s, frame, l3_off, &pi);
		return;
	}

	frag_id = s->fam == FAM_V4 ? src->ipid++ : (uint32_t)mix64(s->id ^ src->ipid++);
	for (off = 0; off < udp_len; off += room) {
		uint32_t chunk = udp_len - off < room ? udp_len - off : room;
		bool more = off + chunk < udp_len;
		uint8_t frame[128];
		struct pktinfo pi = { .dir = dir, .key_proto = PROTO_UDP, .fragment = true };
		uint32_t l3_off, l4;

		if (!emit_begin(g, s))
			return;
		memset(frame, 0, SNAPLEN);
		if (s->fam == FAM_V4) {
			l3_off = build_eth(frame, s, dir, 0x0800, NULL);
			build_ipv4(frame + l3_off, src->addr, dst->addr, src->ttl, PROTO_UDP,
				   20 + chunk, (uint16_t)frag_id,
				   (uint16_t)((more ? 0x2000 : 0) | (off / 8)));
			l4 = l3_off + 20;
			pi.l3_len = 20 + chunk;
		} else {
			uint8_t *fh;

			l3_off = build_eth(frame, s, dir, 0x86dd, NULL);
			build_ipv6(frame + l3_off, src->addr, dst->addr, src->ttl, PROTO_FRAG6,
				   8 + chunk, src->flow_label);
			fh = frame + l3_off + 40;
			fh[0] = PROTO_UDP;
			fh[1] = 0;
			put16(fh + 2, (uint16_t)(off | (more ? 1 : 0)));
			put32(fh + 4, frag_id);
			l4 = l3_off + 48;
			pi.l3_len = 40 + 8 + chunk;
		}
		if (off == 0) {
			memcpy(frame + l4, udp, 8);
			if (head_len)
				memcpy(frame + l4 + 8, head,
				       head_len < SNAPLEN - l4 - 8 ? head_len : SNAPLEN - l4 - 8);
			pi.key_sport = src->port;
			pi.key_dport = dst->port;
			pi.cached = true;
		}
		pi.dst_region = dst->region;
		emit_finish(g, s, frame, l3_off, &pi);
	}
}

/* Echo request (dir C2S) or reply (S2C), ICMP or ICMPv6 by family, 56 bytes of data like ping. */
static void emit_echo(struct gen *g, struct session *s, int dir)
{
	struct endpoint *src = &s->ep[dir], *dst = &s->ep[!dir];
	uint8_t frame[128], type;
	uint32_t l3_off, l4, len = 8 + 56;
	struct pktinfo pi = { .dir = dir, .cached = true };
	uint32_t sum;
	uint8_t *p;

	if (!emit_begin(g, s))
		return;
	memset(frame, 0, SNAPLEN);
	if (s->fam == FAM_V4)
		type = dir == DIR_C2S ? 8 : 0;
	else
		type = dir == DIR_C2S ? 128 : 129;
	pi.key_proto = s->fam == FAM_V4 ? PROTO_ICMP : PROTO_ICMPV6;
	l4 = build_l2l3(frame, s, dir, pi.key_proto, len, false, &l3_off, &pi.l3_len);
	p = frame + l4;
	p[0] = type;
	p[1] = 0;
	put16(p + 4, s->echo_id);
	put16(p + 6, s->echo_seq);
	sum = csum_add(0, p, 8);
	if (s->fam == FAM_V6)
		sum += csum_pseudo(s->fam, src->addr, dst->addr, PROTO_ICMPV6, len);
	put16(p + 2, csum_fold(sum));
	pi.key_dport = (uint16_t)(type << 8);
	pi.dst_region = dst->region;
	emit_finish(g, s, frame, l3_off, &pi);
}

/*
 * ICMP port unreachable from the server, quoting the client's probe (its IPv4 header and the
 * first 8 bytes of its UDP header) as RFC 792 requires.
 */
static void emit_port_unreachable(struct gen *g, struct session *s)
{
	struct endpoint *srv = &s->ep[DIR_S2C], *cli = &s->ep[DIR_C2S];
	uint32_t probe_len = 8 + s->req_len, l3_off, l4, len = 8 + 20 + 8;
	struct pktinfo pi = { .dir = DIR_S2C, .key_proto = PROTO_ICMP, .cached = true };
	uint8_t frame[128], *p, *q;
	uint16_t csum;

	if (!emit_begin(g, s))
		return;
	memset(frame, 0, SNAPLEN);
	l4 = build_l2l3(frame, s, DIR_S2C, PROTO_ICMP, len, false, &l3_off, &pi.l3_len);
	p = frame + l4;
	p[0] = 3;
	p[1] = 3;
	q = p + 8;
	/* the probe as it arrived: TTL spent on the way, the ID it carried */
	build_ipv4(q, cli->addr, srv->addr, 1, PROTO_UDP, 20 + probe_len, (uint16_t)s->mark,
		   0x4000);
	put16(q + 20, cli->port);
	put16(q + 22, srv->port);
	put16(q + 24, (uint16_t)probe_len);
	csum = csum_fold(csum_pseudo(FAM_V4, cli->addr, srv->addr, PROTO_UDP, probe_len) +
			 csum_add(0, q + 20, 8));
	put16(q + 26, csum ? csum : 0xffff);
	put16(p + 2, csum_fold(csum_add(0, p, len)));
	pi.key_dport = 3 << 8 | 3;
	pi.dst_region = cli->region;
	emit_finish(g, s, frame, l3_off, &pi);
}

/* A neighbour solicitation for the server's address, to its solicited-node multicast group. */
static void emit_neighbor_solicit(struct gen *g, struct session *s)
{
	struct endpoint *src = &s->ep[DIR_C2S], *target = &s->ep[DIR_S2C];
	uint8_t frame[128], group[16] = { 0xff, 0x02 }, mac[6] = { 0x33, 0x33, 0xff };
	uint32_t l3_off, l4, len = 32;
	struct pktinfo pi = { .dir = DIR_C2S, .key_proto = PROTO_ICMPV6, .cached = true };
	uint8_t *p;

	if (!emit_begin(g, s))
		return;
	group[11] = 0x01;
	group[12] = 0xff;
	memcpy(group + 13, target->addr + 13, 3);
	memcpy(mac + 3, target->addr + 13, 3);
	memset(frame, 0, SNAPLEN);
	l3_off = build_eth(frame, s, DIR_C2S, 0x86dd, mac);
	/* hop limit 255: RFC 4861 receivers drop anything else */
	build_ipv6(frame + l3_off, src->addr, group, 255, PROTO_ICMPV6, len, 0);
	l4 = l3_off + 40;
	p = frame + l4;
	p[0] = 135;
	memcpy(p + 8, target->addr, 16);
	p[24] = 1; /* source link-layer address option */
	p[25] = 1;
	memcpy(p + 26, frame + 6, 6);
	put16(p + 2, csum_fold(csum_pseudo(FAM_V6, src->addr, group, PROTO_ICMPV6, len) +
			       csum_add(0, p, len)));
	pi.l3_len = 40 + len;
	pi.key_dport = 135 << 8;
	pi.key_dst = group;
	pi.dst_region = REGION_MULTICAST;
	emit_finish(g, s, frame, l3_off, &pi);
}

/* ---- the session model ---- */

#define DNS_HEAD_MAX 96 /* more than a 96-byte snaplen can show of a DNS message */

struct bounded {
	uint8_t *buf;
	uint32_t pos;
};

static inline void bput(struct bounded *b, uint8_t v)
{
	if (b->pos < DNS_HEAD_MAX)
		b->buf[b->pos] = v;
	b->pos++;
}

static inline void bput16(struct bounded *b, uint16_t v)
{
	bput(b, (uint8_t)(v >> 8));
	bput(b, (uint8_t)v);
}

/*
 * The first DNS_HEAD_MAX bytes of the current round's query or response, a message of exactly
 * req_len / resp_len bytes: header, one question, A records in a response, and an EDNS0 OPT
 * record whose padding option (RFC 7830) takes the rest, so that a fully captured message
 * parses with nothing left over. The query sizes its name to fit; the response repeats it.
 * Returns the bytes written.
 */
static uint32_t dns_message(const struct session *s, uint8_t *buf, bool response)
{
	uint64_t h = mix64(s->id ^ ((uint64_t)s->round_no << 48));
	uint32_t len = response ? s->resp_len : s->req_len;
	/* 12 header + 4 qtype/qclass + 11 OPT + 4 padding option header */
	uint32_t fixed = 31, qname_len = s->req_len - fixed - (uint32_t)(h % 8), left, answers = 0;
	struct bounded b = { buf, 0 };
	uint32_t i;

	if (qname_len < 1 || qname_len > s->req_len - fixed)
		qname_len = 1;
	if (response) {
		answers = (len - fixed - qname_len) / 16;
		if (answers > 8)
			answers = 8;
	}
	bput16(&b, (uint16_t)(h >> 16));	/* ID */
	bput16(&b, response ? 0x8180 : 0x0100); /* QR RD RA / RD */
	bput16(&b, 1);				/* QDCOUNT */
	bput16(&b, (uint16_t)answers);		/* ANCOUNT */
	bput16(&b, 0);				/* NSCOUNT */
	bput16(&b, 1);				/* ARCOUNT: OPT */
	/* the name: labels of lowercase letters, qname_len bytes with the root */
	for (left = qname_len - 1, i = 0; left >= 2; i++) {
		uint32_t l = left - 1 > 15 ? 3 + (uint32_t)(mix64(h + i) % 12) : left - 1;
		uint32_t k;

		if (left - (l + 1) == 1)
			l++; /* never leave one byte: a label needs two */
		if (l > 63)
			l = 63;
		bput(&b, (uint8_t)l);
		for (k = 0; k < l; k++)
			bput(&b, (uint8_t)('a' + mix64(h ^ (i << 8 | k)) % 26));
		left -= l + 1;
	}
	bput(&b, 0);
	bput16(&b, 1); /* A */
	bput16(&b, 1); /* IN */
	for (i = 0; i < answers; i++) {
		bput16(&b, 0xc00c); /* the question's name */
		bput16(&b, 1);
		bput16(&b, 1);
		bput16(&b, 0);
		bput16(&b, 300); /* TTL */
		bput16(&b, 4);
		bput16(&b, (uint16_t)(h >> (i * 4)));
		bput16(&b, (uint16_t)(h >> (i * 4 + 16)));
	}
	left = len - (b.pos > len ? len : b.pos);
	bput(&b, 0);			   /* OPT: root name */
	bput16(&b, 41);			   /* OPT */
	bput16(&b, 1232);		   /* UDP payload size */
	bput16(&b, 0);			   /* extended RCODE, version */
	bput16(&b, 0);			   /* flags */
	bput16(&b, (uint16_t)(left - 11)); /* RDLEN */
	bput16(&b, 12);			   /* padding */
	bput16(&b, (uint16_t)(left - 15));
	return b.pos < DNS_HEAD_MAX ? b.pos : DNS_HEAD_MAX;
}

static inline int64_t xfer_data_time(const struct session *s, uint32_t i)
{
	const struct xfer *x = &s->x;
	/* jitter below half a gap keeps the times increasing */
	uint32_t jitter = 0;

	if (x->gap >= 4)
		jitter = (uint32_t)(mix64(s->id * 0x100000001b3ULL + i) % (x->gap / 2));

	return x->t0 + (int64_t)i * x->gap + jitter;
}

static inline uint32_t xfer_ack_covers(const struct xfer *x, uint32_t j)
{
	uint64_t c = (uint64_t)(j + 1) * x->every;

	return (uint32_t)((c > x->n ? x->n : c) - 1);
}

static inline int64_t xfer_ack_time(const struct session *s, uint32_t j)
{
	return xfer_data_time(s, xfer_ack_covers(&s->x, j)) + s->x.ack_delay;
}

/* The time of the transfer's next packet; *data says whether it is data or an ack. */
static int64_t xfer_next(const struct session *s, bool *data)
{
	const struct xfer *x = &s->x;

	if (x->sent < x->n) {
		int64_t td = xfer_data_time(s, x->sent);

		if (x->acked >= x->nacks || td <= xfer_ack_time(s, x->acked)) {
			*data = true;
			return td;
		}
	}
	*data = false;
	return xfer_ack_time(s, x->acked);
}

/* Starts sending bytes from dir at t0; request = a response will follow and ack the tail. */
static void xfer_start(struct session *s, int dir, uint64_t bytes, int64_t t0, bool request)
{
	struct xfer *x = &s->x;
	uint32_t mss = s->mss; /* TCP MSS, or QUIC's datagram payload */
	uint64_t n, room;
	bool data;

	if (!bytes)
		bytes = 1;
	n = (bytes + mss - 1) / mss;
	/* an elephant stops at the session cap: keeps one session from owning the mix */
	room = s->pkts < s->cap ? (s->cap - s->pkts) * s->ack_every / (s->ack_every + 1u) : 1;
	if (n > room) {
		n = room ? room : 1;
		bytes = n * mss;
	}
	x->dir = (uint8_t)dir;
	x->request = request;
	x->t0 = t0;
	x->n = (uint32_t)n;
	x->sent = 0;
	x->acked = 0;
	x->mss = mss;
	x->last_len = (uint32_t)(bytes - (n - 1) * mss);
	x->every = s->ack_every;
	x->gap = (uint32_t)clamp_u64((double)mss * 8000.0 / s->rate, 1, 10 * USEC_PER_SEC);
	x->ack_delay = s->rtt[!dir];
	if (s->proto == PROTO_TCP && dir == DIR_C2S && s->round_no == 1)
		/*
		 * The first flight after the handshake: the server has only advertised its
		 * unscaled SYN-ACK window, so no more than that before its first ACK.
		 */
		x->gap = x->gap > x->ack_delay / 40 ? x->gap : x->ack_delay / 40 + 1;
	x->nacks = request ? (x->n - 1) / x->every : (x->n + x->every - 1) / x->every;
	x->base_seq = s->ep[dir].seq;
	s->phase = PH_XFER;
	s->next_us = xfer_next(s, &data);
}

/* Sizes of the next request/response round of a TCP or QUIC session. */
static void round_sizes(struct gen *g, struct session *s, uint64_t *req, uint64_t *resp)
{
	struct rng *r = &g->rng;
	uint32_t no = s->round_no++;

	switch (s->app) {
	case APP_WEB:
	case APP_QUIC:
		if (no == 0 && s->app == APP_QUIC) {
			/* client Initial padded to 1200; server Initial + Handshake */
			*req = 1200;
			*resp = rng_range(r, 2400, 4200);
			return;
		}
		if (no == 0 && s->ep[DIR_S2C].port != 80 && s->app == APP_WEB) {
			/* TLS ClientHello; ServerHello and certificates */
			*req = rng_range(r, 250, 600);
			*resp = rng_range(r, 2500, 6500);
			return;
		}
		*req = rng_range(r, 150, 1200);
		switch (s->sub) {
		case SUB_DOWNLOAD:
			*resp = clamp_u64(rng_pareto(r, 300e3, 1.15), 1, 2000000000);
			break;
		case SUB_VIDEO:
			*resp = clamp_u64(rng_lognormal(r, 1.0e6, 0.5), 1, 20000000);
			break;
		case SUB_POLL:
			*req = rng_range(r, 80, 600);
			*resp = rng_range(r, 60, 1500);
			break;
		case SUB_UPLOAD:
			*req = clamp_u64(rng_pareto(r, 100e3, 1.2), 1, 200000000);
			*resp = rng_range(r, 200, 800);
			break;
		default:
			*resp = clamp_u64(rng_lognormal(r, 3000, 1.7), 40, 30000000);
			break;
		}
		return;
	case APP_BULK:
		if (no == 0) {
			/* protocol greeting / request line */
			*req = rng_range(r, 20, 300);
			*resp = rng_range(r, 20, 400);
		} else if (s->sub == SUB_UPLOAD) {
			*req = clamp_u64(rng_pareto(r, 30e3, 1.4), 1, 4000000000ULL);
			*resp = rng_range(r, 20, 200);
		} else {
			*req = rng_range(r, 30, 400);
			*resp = clamp_u64(rng_pareto(r, 30e3, 1.4), 1, 4000000000ULL);
		}
		return;
	case APP_SSH:
		if (s->sub == SUB_COPY && no == 3) {
			if (rng_chance(r, 0.2)) {
				*req = clamp_u64(rng_pareto(r, 200e3, 1.1), 1, 4000000000ULL);
				*resp = rng_range(r, 36, 200);
			} else {
				*req = rng_range(r, 36, 200);
				*resp = clamp_u64(rng_pareto(r, 200e3, 1.1), 1, 4000000000ULL);
			}
			return;
		}
		if (no < 3) {
			/* version strings, key exchange */
			*req = rng_range(r, 20, 1500);
			*resp = rng_range(r, 20, 1500);
			return;
		}
		*req = rng_range(r, 36, 120);
		*resp = rng_chance(r, 0.8) ? rng_range(r, 36, 200) : rng_range(r, 200, 3000);
		return;
	case APP_MAIL:
		if (s->sub == SUB_UPLOAD && no == 3) {
			*req = clamp_u64(rng_lognormal(r, 20e3, 1.5), 200, 50000000);
			*resp = rng_range(r, 20, 100);
			return;
		}
		*req = rng_range(r, 10, 200);
		*resp = clamp_u64(rng_lognormal(r, 800, 1.6), 10, 20000000);
		return;
	case APP_P2P:
		if (rng_chance(r, 0.5)) {
			*req = rng_range(r, 17, 120);
			*resp = clamp_u64(rng_pareto(r, 16384, 1.3), 1, 100000000);
		} else {
			*req = clamp_u64(rng_pareto(r, 16384, 1.3), 1, 100000000);
			*resp = rng_range(r, 17, 120);
		}
		return;
	default:
		*req = 100;
		*resp = 100;
		return;
	}
}

static void round_start(struct gen *g, struct session *s, int64_t t)
{
	uint64_t req, resp;

	round_sizes(g, s, &req, &resp);
	s->pending = resp;
	xfer_start(s, DIR_C2S, req, t, true);
}

static int64_t think_time(struct gen *g, struct session *s)
{
	if (s->sub == SUB_VIDEO)
		return (int64_t)(s->think * (0.6 + 0.8 * rng_unit(&g->rng)));
	return (int64_t)rng_exp(&g->rng, s->think);
}

/* How long the connection idles after its last round before someone closes it. */
static int64_t close_delay(struct gen *g, struct session *s)
{
	struct rng *r = &g->rng;

	switch (s->app) {
	case APP_WEB:
	case APP_QUIC:
		/* a quarter of the connections sit in a keep-alive pool for minutes */
		if (rng_chance(r, 0.25))
			return (int64_t)rng_range(r, 5, 150) * USEC_PER_SEC;
		return (int64_t)rng_exp(r, 2e6);
	case APP_P2P:
		return (int64_t)rng_exp(r, 5e6);
	case APP_MAIL:
		return (int64_t)rng_exp(r, 5e5);
	default:
		return (int64_t)rng_exp(r, 1e5);
	}
}

static void close_start(struct gen *g, struct session *s, int64_t t)
{
	struct rng *r = &g->rng;

	s->next_us = t;
	if (s->proto == PROTO_UDP) {
		/* QUIC: half the connections just go idle, the others send CONNECTION_CLOSE */
		s->closer = rng_chance(r, 0.6) ? DIR_C2S : DIR_S2C;
		s->phase = rng_chance(r, 0.5) ? PH_QUIC_CLOSE : PH_DONE;
		return;
	}
	s->closer = rng_chance(r, s->app == APP_WEB ? 0.5 : 0.7) ? DIR_C2S : DIR_S2C;
	s->phase = rng_chance(r, 0.04) ? PH_RST : PH_FIN1;
}

/* What follows a finished transfer. */
static void xfer_done(struct gen *g, struct session *s)
{
	struct xfer *x = &s->x;
	int64_t last_data = xfer_data_time(s, x->n - 1);

	if (s->proto == PROTO_TCP)
		s->ep[x->dir].seq = x->base_seq + (x->n - 1) * x->mss + x->last_len;
	if (x->request) {
		/* the server answers once the request is in, after some processing */
		int64_t proc = (int64_t)rng_exp(&g->rng, 3000) + 50;

		xfer_start(s, DIR_S2C, s->pending, last_data + s->rtt[DIR_S2C] + proc, false);
		return;
	}
	if (s->rounds && s->pkts < s->cap) {
		s->rounds--;
		round_start(g, s, g->now + think_time(g, s));
		return;
	}
	close_start(g, s, g->now + close_delay(g, s));
}

static void xfer_step(struct gen *g, struct session *s)
{
	struct xfer *x = &s->x;
	bool data;

	xfer_next(s, &data);
	if (data) {
		uint32_t i = x->sent++;
		uint32_t len = i + 1 == x->n ? x->last_len : x->mss;

		if (s->proto == PROTO_TCP)
			emit_tcp(g, s, x->dir, (uint8_t)(TCP_ACK | (i + 1 == x->n ? TCP_PSH : 0)),
				 x->base_seq + i * x->mss, s->ep[!x->dir].seq, len, false);
		else
			emit_udp(g, s, x->dir, len, NULL, 0);
	} else {
		uint32_t j = x->acked++, c = xfer_ack_covers(x, j);
		uint32_t upto = c + 1 == x->n ? (x->n - 1) * x->mss + x->last_len :
						(c + 1) * x->mss;

		if (s->proto == PROTO_TCP)
			emit_tcp(g, s, !x->dir, TCP_ACK, s->ep[!x->dir].seq, x->base_seq + upto, 0,
				 false);
		else
			emit_udp(g, s, !x->dir, s->ack_len, NULL, 0);
	}
	if (x->sent < x->n || x->acked < x->nacks)
		s->next_us = xfer_next(s, &data);
	else
		xfer_done(g, s);
}

/* Draws the payloads of the next UDP exchange and whether it is answered. */
static bool udp_draw_round(struct gen *g, struct session *s)
{
	struct rng *r = &g->rng;

	switch (s->app) {
	case APP_DNS:
		/* queries with EDNS0 and cookies; signed (DNSSEC) answers from authoritatives */
		s->req_len = (uint32_t)rng_range(r, 40, 100);
		if (rng_chance(r, 0.015))
			/* above the MTU: fragmented, mostly into two */
			s->resp_len = (uint32_t)rng_range(r, 1480, 3000);
		else
			s->resp_len = (uint32_t)clamp_u64(rng_lognormal(r, 260, 0.6), 40, 1400);
		/* the answer repeats the question and adds at least one record */
		if (s->resp_len < s->req_len + 16)
			s->resp_len = s->req_len + 16;
		return !rng_chance(r, 0.03);
	case APP_NTP:
		s->req_len = 48;
		s->resp_len = 48;
		return !rng_chance(r, 0.02);
	case APP_UDP_BULK: {
		/*
		 * Replies a little above the MTU (NFS with a small rsize, IKE with certificates,
		 * game snapshots) and some 4 KiB reads: the non-first fragments, which all key to
		 * port 0, stay small enough that port 0 ranks below the well-known ports.
		 */
		double u = rng_unit(r);

		s->req_len = (uint32_t)rng_range(r, 100, 200);
		if (u < 0.6)
			s->resp_len = (uint32_t)rng_range(r, 1480, 2400);
		else if (u < 0.7)
			s->resp_len = 4096 + 120;
		else
			s->resp_len = (uint32_t)rng_range(r, 100, 1400);
		return true;
	}
	case APP_UDP_PROBE:
		s->req_len = 32;
		s->resp_len = 0;
		return !rng_chance(r, 0.1);
	default:
		s->req_len = 100;
		s->resp_len = 100;
		return true;
	}
}

static void udp_round_start(struct gen *g, struct session *s, int64_t t)
{
	s->round_no++;
	s->answered = udp_draw_round(g, s);
	s->phase = PH_UREQ;
	s->next_us = t;
}

static void udp_next_round(struct gen *g, struct session *s, int64_t t)
{
	if (!s->rounds) {
		s->phase = PH_DONE;
		return;
	}
	s->rounds--;
	udp_round_start(g, s, t + (int64_t)rng_exp(&g->rng, s->think));
}

static void media_step(struct gen *g, struct session *s)
{
	struct rng *r = &g->rng;
	int d;
	uint32_t ival;

	if (!s->media_left[1] || (s->media_left[0] && s->media_t[0] <= s->media_t[1]))
		d = 0;
	else
		d = 1;
	emit_udp(g, s, d, (uint32_t)rng_range(r, s->media_lo[d], s->media_hi[d]), NULL, 0);
	s->media_left[d]--;
	ival = s->media_ival[d];
	s->media_t[d] += (int64_t)(ival - ival / 10 + rng_below(r, ival / 5 + 1));
	if (!s->media_left[0] && !s->media_left[1])
		s->phase = PH_DONE;
	else if (!s->media_left[1] || (s->media_left[0] && s->media_t[0] <= s->media_t[1]))
		s->next_us = s->media_t[0];
	else
		s->next_us = s->media_t[1];
}

/* Emits the packet due at g->now; returns false when the session is over. */
static bool session_step(struct gen *g, struct session *s)
{
	struct rng *r = &g->rng;
	struct endpoint *c = &s->ep[DIR_C2S], *sv = &s->ep[DIR_S2C];
	int closer = s->closer, other = !s->closer;

	switch (s->phase) {
	case PH_SYN:
		emit_tcp(g, s, DIR_C2S, TCP_SYN, c->seq, 0, 0, s->app != APP_SCAN);
		c->seq++;
		if (s->app == APP_SCAN) {
			double u = rng_unit(r);

			if (u < 0.3) {
				s->phase = PH_SCAN_RST;
			} else if (u < 0.4) {
				s->phase = PH_SYNACK;
			} else {
				return false;
			}
		} else {
			s->phase = PH_SYNACK;
		}
		s->next_us = g->now + s->rtt[DIR_S2C];
		return true;
	case PH_SYNACK:
		emit_tcp(g, s, DIR_S2C, TCP_SYN | TCP_ACK, sv->seq, c->seq, 0, true);
		sv->seq++;
		s->phase = s->app == APP_SCAN ? PH_SCAN_ABORT : PH_HSACK;
		s->next_us = g->now + s->rtt[DIR_C2S];
		return true;
	case PH_HSACK:
		emit_tcp(g, s, DIR_C2S, TCP_ACK, c->seq, sv->seq, 0, false);
		/* the request follows the handshake's last ACK at once */
		round_start(g, s, g->now + (int64_t)rng_range(r, 5, 300));
		return true;
	case PH_XFER:
		xfer_step(g, s);
		return true;
	case PH_FIN1:
		emit_tcp(g, s, closer, TCP_FIN | TCP_ACK, s->ep[closer].seq, s->ep[other].seq, 0,
			 false);
		s->ep[closer].seq++;
		s->phase = PH_FIN2;
		s->next_us = g->now + s->rtt[other];
		return true;
	case PH_FIN2:
		emit_tcp(g, s, other, TCP_FIN | TCP_ACK, s->ep[other].seq, s->ep[closer].seq, 0,
			 false);
		s->ep[other].seq++;
		s->phase = PH_LASTACK;
		s->next_us = g->now + s->rtt[closer];
		return true;
	case PH_LASTACK:
		emit_tcp(g, s, closer, TCP_ACK, s->ep[closer].seq, s->ep[other].seq, 0, false);
		return false;
	case PH_RST:
		emit_tcp(g, s, closer, TCP_RST | TCP_ACK, s->ep[closer].seq, s->ep[other].seq, 0,
			 false);
		return false;
	case PH_SCAN_RST:
		emit_tcp(g, s, DIR_S2C, TCP_RST | TCP_ACK, 0, c->seq, 0, false);
		return false;
	case PH_SCAN_ABORT:
		/* the scanner's kernel never opened this connection: a bare RST */
		emit_tcp(g, s, DIR_C2S, TCP_RST, c->seq, 0, 0, false);
		return false;
	case PH_QUIC_CLOSE:
		emit_udp(g, s, closer, (uint32_t)rng_range(r, 20, 60), NULL, 0);
		return false;
	case PH_UREQ:
		/* the port unreachable quotes the probe's IP ID */
		s->mark = s->ep[DIR_C2S].ipid;
		if (s->app == APP_DNS) {
			uint8_t head[DNS_HEAD_MAX];

			emit_udp(g, s, DIR_C2S, s->req_len, head, dns_message(s, head, false));
		} else {
			emit_udp(g, s, DIR_C2S, s->req_len, NULL, 0);
		}
		if (s->answered) {
			s->phase = PH_URESP;
			s->next_us = g->now + s->rtt[DIR_S2C] + (int64_t)rng_exp(r, 2000);
			return true;
		}
		/* unanswered: the client tries again after its timeout, or gives up */
		udp_next_round(g, s, g->now + USEC_PER_SEC);
		return s->phase != PH_DONE;
	case PH_URESP:
		if (s->app == APP_UDP_PROBE) {
			emit_port_unreachable(g, s);
		} else if (s->app == APP_DNS) {
			uint8_t head[DNS_HEAD_MAX];

			emit_udp(g, s, DIR_S2C, s->resp_len, head, dns_message(s, head, true));
		} else {
			emit_udp(g, s, DIR_S2C, s->resp_len, NULL, 0);
		}
		udp_next_round(g, s, g->now + s->rtt[DIR_C2S]);
		return s->phase != PH_DONE;
	case PH_MEDIA:
		media_step(g, s);
		return s->phase != PH_DONE;
	case PH_ECHO_REQ:
		s->echo_seq++;
		s->mark = g->now;
		emit_echo(g, s, DIR_C2S);
		if (!rng_chance(r, 0.05)) {
			s->phase = PH_ECHO_REP;
			s->next_us = g->now + s->rtt[DIR_S2C];
			return true;
		}
		if (!s->rounds)
			return false;
		s->rounds--;
		s->next_us = s->mark + USEC_PER_SEC + (int64_t)rng_below(r, 2000);
		return true;
	case PH_ECHO_REP:
		emit_echo(g, s, DIR_S2C);
		if (!s->rounds)
			return false;
		s->rounds--;
		s->phase = PH_ECHO_REQ;
		/* ping sends every second, but never before a slow reply is in */
		s->next_us = s->mark + USEC_PER_SEC + (int64_t)rng_below(r, 2000);
		if (s->next_us < g->now)
			s->next_us = g->now;
		return true;
	case PH_NS:
		emit_neighbor_solicit(g, s);
		if (!s->rounds)
			return false;
		s->rounds--;
		s->next_us = g->now + USEC_PER_SEC;
		return true;
	default:
		return false;
	}
}

/* ---- session creation ---- */

/*
 * The address of host number rank of a pool in a region. It depends only on its arguments and
 * the seed, so popular hosts recur across sessions and days. Returns the host's hash, which
 * also fixes its other traits (initial TTL, window, listening port).
 */
static uint64_t host_addr(const struct gen *g, int region, int fam, uint64_t pool, uint64_t rank,
			  bool server, uint8_t out[16])
{
	const struct region_net *net = &g->nets[region];
	uint64_t h =
		mix64(g->addr_seed ^ mix64((pool << 24) ^ ((uint64_t)region << 8) ^ (uint64_t)fam) ^
		      mix64(rank));
	const struct prefix *p = &net->pfx[fam][h % (uint64_t)net->npfx[fam]];
	uint64_t r1 = mix64(h + 1), r2 = mix64(h + 2);

	memset(out, 0, 16);
	if (fam == FAM_V4) {
		uint32_t mask = p->len ? ~0u << (32 - p->len) : 0;
		uint32_t a = (get32(p->addr) & mask) | ((uint32_t)r1 & ~mask);

		/* no network or broadcast-looking host bytes */
		if (p->len <= 24 && ((a & 0xff) == 0 || (a & 0xff) == 0xff))
			a = (a & ~0xffu) | (uint32_t)(1 + r2 % 254);
		put32(out, a);
	} else {
		uint64_t mask = p->len ? ~0ULL << (64 - p->len) : 0;
		uint64_t hi = (get64(p->addr) & mask) | (r1 & ~mask);
		/* servers get short interface ids (::1, ::80), clients privacy addresses */
		uint64_t lo = server ? 1 + r2 % 0x1ff : r2 | 1;

		put64(out, hi);
		put64(out + 8, lo);
	}
	return h;
}

static uint64_t endpoint_init(struct gen *g, struct session *s, int dir, int region, uint64_t pool,
			      uint32_t pool_size, bool flat)
{
	static const uint8_t initial_ttl[] = { 64, 64, 64, 64, 128, 128, 128, 255 };
	/* no tiny windows: mid-flow, a reader cannot know the scale and sees a full window */
	static const uint16_t windows[] = { 2053,  4106,  8212,	 16383, 29200, 32768,
					    64240, 65535, 64240, 29200, 65535, 8212 };
	struct endpoint *e = &s->ep[dir];
	struct rng *r = &g->rng;
	uint64_t rank = flat ? 1 + rng_below(r, pool_size) : rng_zipf(r, pool_size);
	uint64_t h = host_addr(g, region, s->fam, pool, rank, dir == DIR_S2C, e->addr);
	uint8_t ttl = initial_ttl[(h >> 8) % sizeof(initial_ttl)];

	e->region = (uint8_t)region;
	/* IPv6 hosts are nearly all 64: Windows uses 128 for both, but fewer of them here */
	if (s->fam == FAM_V6 && ttl == 255)
		ttl = 64;
	e->ttl = (uint8_t)(ttl - 3 - (h >> 16) % 22);
	e->window = windows[(h >> 24) % (sizeof(windows) / sizeof(windows[0]))];
	e->ipid = (uint16_t)rng_next(r);
	e->seq = (uint32_t)rng_next(r);
	e->flow_label = s->fam == FAM_V6 ? (uint32_t)rng_next(r) & 0xfffff : 0;
	return h;
}

static uint16_t ephemeral_port(struct rng *r)
{
	double u = rng_unit(r);

	if (u < 0.6)
		return (uint16_t)rng_range(r, 32768, 60999); /* Linux */
	if (u < 0.9)
		return (uint16_t)rng_range(r, 49152, 65535); /* Windows, macOS */
	/* NAT port allocation; starting at 10240 keeps clear of X11 and CAPWAP's ports, whose
	 * dissectors would choke on the zero payload */
	return (uint16_t)rng_range(r, 10240, 65535);
}

static uint32_t draw_rtt(struct rng *r, int region)
{
	double ms = regions[region].rtt_ms * (0.9 + 0.3 * rng_unit(r)) + rng_lognormal(r, 1.5, 1.0);

	return (uint32_t)clamp_u64(ms * 1000.0, 100, 2 * USEC_PER_SEC);
}

static uint32_t draw_rate(struct rng *r, double median_mbps, double sigma)
{
	return (uint32_t)clamp_u64(rng_lognormal(r, median_mbps * 1000.0, sigma), 200, 1000000);
}

/* Mostly a plain Ethernet path; some clients sit behind PPPoE or a tunnel. */
static uint16_t draw_mss(struct rng *r, int fam)
{
	static const uint16_t reduced[] = { 1452, 1400, 1380 };
	uint16_t mss = rng_chance(r, 0.85) ? 1460 : reduced[rng_below(r, 3)];

	return (uint16_t)(fam == FAM_V6 ? mss - 20 : mss);
}

static void media_init(struct gen *g, struct session *s, int64_t t)
{
	struct rng *r = &g->rng;
	uint16_t port = services[s->svc].port;
	double u = rng_unit(r), dur_s;
	uint64_t total;
	int d;

	if (port == 4500 || port == 1194) {
		/* a VPN tunnel: whatever runs inside, both ways */
		for (d = 0; d < 2; d++) {
			s->media_ival[d] = (uint32_t)rng_range(r, 10000, 100000);
			s->media_lo[d] = 60;
			s->media_hi[d] = 1400;
		}
		dur_s = rng_lognormal(r, 15, 1.0);
	} else if (port == 3478) {
		/* STUN binding requests and keepalives; the media itself flows elsewhere */
		for (d = 0; d < 2; d++) {
			s->media_ival[d] = (uint32_t)rng_range(r, 200000, 2000000);
			s->media_lo[d] = 20;
			s->media_hi[d] = 100;
		}
		dur_s = rng_lognormal(r, 10, 1.0);
	} else if (u < 0.35) {
		/* voice: one RTP packet per 20 ms each way */
		for (d = 0; d < 2; d++) {
			s->media_ival[d] = 20000;
			s->media_lo[d] = 70;
			s->media_hi[d] = 220;
		}
		dur_s = rng_lognormal(r, 60, 1.1);
	} else if (u < 0.8) {
		/* video call */
		for (d = 0; d < 2; d++) {
			s->media_ival[d] = (uint32_t)rng_range(r, 15000, 33000);
			s->media_lo[d] = 700;
			s->media_hi[d] = 1200;
		}
		dur_s = rng_lognormal(r, 40, 1.2);
	} else {
		/* game: small client inputs, larger server snapshots */
		s->media_ival[0] = s->media_ival[1] = (uint32_t)rng_range(r, 16000, 50000);
		s->media_lo[0] = 40;
		s->media_hi[0] = 120;
		s->media_lo[1] = 80;
		s->media_hi[1] = 400;
		dur_s = rng_lognormal(r, 90, 1.0);
	}
	dur_s = fmin(fmax(dur_s, 1.0), 3600.0);
	total = 0;
	for (d = 0; d < 2; d++) {
		s->media_left[d] = (uint32_t)fmax(1.0, dur_s * 1e6 / s->media_ival[d]);
		total += s->media_left[d];
	}
	if (total > s->cap) {
		/* sparser rather than shorter: calls longer than the active timeout stay */
		for (d = 0; d < 2; d++) {
			uint64_t left = (uint64_t)s->media_left[d] * s->cap / total + 1;

			s->media_ival[d] = (uint32_t)fmin(dur_s * 1e6 / (double)left, 60e6);
			s->media_left[d] = (uint32_t)left;
		}
	}
	s->media_t[0] = t;
	s->media_t[1] = t + (int64_t)rng_below(r, s->media_ival[1]);
	s->phase = PH_MEDIA;
	s->next_us = t;
}

/* Rounds after the first: a geometric number with the given mean. */
static uint32_t more_rounds(struct rng *r, double mean, uint32_t max)
{
	return (uint32_t)clamp_u64(rng_exp(r, mean), 0, max);
}

static void app_init(struct gen *g, struct session *s, int64_t t)
{
	struct rng *r = &g->rng;
	double u = rng_unit(r);

	/* delayed ACKs every second segment; quick-ack receivers (and Windows) ack each one */
	s->ack_every = rng_chance(r, 0.6) ? 2 : 1;
	s->next_us = t;
	s->sub = SUB_NONE;
	switch (s->app) {
	case APP_WEB:
	case APP_QUIC:
		s->rate = draw_rate(r, 8, 1.2);
		if (u < 0.025) {
			s->sub = SUB_DOWNLOAD;
			s->rounds = (uint32_t)rng_below(r, 2);
			s->think = 300000;
		} else if (u < 0.035) {
			/* adaptive streaming: a segment every few seconds, for minutes */
			s->sub = SUB_VIDEO;
			s->rounds = (uint32_t)rng_zipf(r, 300) + 5;
			s->think = (uint32_t)rng_range(r, 2000000, 6000000);
			s->rate = draw_rate(r, 20, 0.8);
		} else if (u < 0.065) {
			s->sub = SUB_POLL;
			s->rounds = (uint32_t)rng_range(r, 3, 40);
			s->think = 15000000;
		} else if (u < 0.075) {
			s->sub = SUB_UPLOAD;
			s->rounds = 1 + (uint32_t)rng_below(r, 3);
			s->think = 500000;
		} else {
			s->sub = SUB_PAGE;
			s->rounds = more_rounds(r, 1.5, 60);
			s->think = 400000;
		}
		if (s->app == APP_QUIC) {
			static const uint16_t v4_sizes[] = { 1252, 1350, 1350, 1350 };

			s->mss = s->fam == FAM_V4 ? v4_sizes[rng_below(r, 4)] : 1232;
			/* QUIC acks every other packet, or less often with ACK frequency */
			s->ack_every = rng_chance(r, 0.3) ? 2 : (uint8_t)rng_range(r, 4, 10);
			s->ack_len = (uint8_t)rng_range(r, 28, 50);
			round_start(g, s, t);
			return;
		}
		break;
	case APP_BULK:
		/*
		 * Many moderate transfers rather than a few giant ones: with so small a share of
		 * the packets, a handful of elephants would make 873 vs 9000 a coin toss.
		 */
		s->sub = u < 0.25 ? SUB_UPLOAD : SUB_NONE;
		s->rounds = 1 + (uint32_t)rng_zipf(r, 10);
		s->think = 30000;
		s->rate = draw_rate(r, 30, 1.0);
		break;
	case APP_SSH:
		s->rate = draw_rate(r, 10, 1.0);
		if (u < 0.4) {
			s->sub = SUB_BRUTE;
			s->rounds = (uint32_t)rng_range(r, 4, 14);
			s->think = 300000;
		} else if (u < 0.75) {
			s->sub = SUB_INTERACTIVE;
			s->rounds = (uint32_t)clamp_u64(rng_lognormal(r, 100, 1.0), 5, 3000);
			s->think = 1500000;
		} else {
			s->sub = SUB_COPY;
			s->rounds = 4;
			s->think = 500000;
		}
		break;
	case APP_MAIL:
		s->rate = draw_rate(r, 5, 1.0);
		if (services[s->svc].port == 25 || services[s->svc].port == 587) {
			s->sub = SUB_UPLOAD;
			s->rounds = (uint32_t)rng_range(r, 4, 8);
			s->think = 200000;
		} else if (u < 0.3) {
			/* IMAP IDLE, XMPP, BGP keepalives: sparse exchanges for minutes */
			s->sub = SUB_IDLE;
			s->rounds = (uint32_t)rng_range(r, 4, 25);
			s->think = 40000000;
		} else {
			s->rounds = (uint32_t)rng_range(r, 2, 14);
			s->think = 500000;
		}
		break;
	case APP_P2P:
		s->rate = draw_rate(r, 3, 1.2);
		s->rounds = (uint32_t)rng_zipf(r, 200);
		s->think = 200000;
		break;
	case APP_SCAN:
		break;
	case APP_DNS:
		s->rounds = u < 0.75 ? 0 : u < 0.93 ? 1 : (uint32_t)rng_range(r, 2, 4);
		s->think = 5000;
		udp_round_start(g, s, t);
		return;
	case APP_NTP:
		s->rounds = u < 0.9 ? 0 : 3;
		s->think = 2000000;
		if (rng_chance(r, 0.4))
			s->ep[DIR_C2S].port = 123; /* ntpd's symmetric mode */
		udp_round_start(g, s, t);
		return;
	case APP_UDP_BULK:
		s->rounds = (uint32_t)clamp_u64(rng_lognormal(r, 20, 1.0), 0, 5000);
		s->think = 3000;
		udp_round_start(g, s, t);
		return;
	case APP_UDP_PROBE:
		s->rounds = (uint32_t)rng_below(r, 3);
		s->think = 50000;
		udp_round_start(g, s, t);
		return;
	case APP_MEDIA:
		media_init(g, s, t);
		return;
	case APP_PING:
		if (u < 0.7)
			s->rounds = (uint32_t)rng_below(r, 5);
		else if (u < 0.95)
			s->rounds = (uint32_t)rng_range(r, 5, 30);
		else
			/* monitoring: runs for minutes */
			s->rounds = (uint32_t)rng_range(r, 60, 900);
		s->echo_id = (uint16_t)rng_next(r);
		s->phase = PH_ECHO_REQ;
		return;
	case APP_NDP:
		s->rounds = (uint32_t)rng_below(r, 3);
		s->phase = PH_NS;
		return;
	}
	/* every TCP app starts with the handshake */
	s->phase = PH_SYN;
}

/*
 * Picks one of n choices with the given odds, each times a factor that favours the choices
 * behind their share of the packets so far and holds back those ahead. Heavy-tailed sessions
 * make the realized mix drift a lot otherwise, enough to swap 873 and 9000 or India and
 * Australia in a small trace. The slack (slack[i], or slack_common when slack is NULL) keeps
 * one session from swinging it. The gain is high because the odds come from means measured
 * at one trace size; a lower one leaves a steady offset wherever the cap changes them.
 */
static int pick_steered(struct gen *g, int n, const double *odds, const double *share,
			const uint64_t *virt, const double *slack, double slack_common)
{
	double cum[NSERVICES > NREGIONS ? NSERVICES : NREGIONS], total = 0, x;
	double v = (double)g->virtual_pkts;
	int i;

	for (i = 0; i < n; i++) {
		double target = share[i] * v;
		double lag =
			(target - (double)virt[i]) / (target + (slack ? slack[i] : slack_common));

		total += odds[i] * exp(fmax(-3.0, fmin(3.0, 10.0 * lag)));
		cum[i] = total;
	}
	x = rng_unit(&g->rng) * total;
	for (i = 0; i < n - 1 && cum[i] <= x; i++)
		;
	/* a zero-odds choice can only be reached through rounding at the very end */
	while (i > 0 && odds[i] == 0)
		i--;
	return i;
}

/*
 * IPv6 or not: the service's odds, scaled by how far IPv6 is from its share so far (see
 * pick_steered). A service that is all IPv4 or all IPv6 stays so.
 */
static int pick_family(struct gen *g, const struct service *svc)
{
	double p = svc->v6_permille / 1000.0, target = IPV6_SHARE * (double)g->virtual_pkts;
	double lag = (target - (double)g->v6_virtual) / (target + (double)g->sess_cap);

	if (p > 0 && p < 1)
		p = fmin(1.0, p * exp(fmax(-3.0, fmin(3.0, 10.0 * lag))));
	return rng_unit(&g->rng) < p ? FAM_V6 : FAM_V4;
}

static void session_new(struct gen *g, int64_t t)
{
	static const uint16_t vlan_ids[] = { 100, 100, 100, 200, 200, 300, 10, 4000 };
	static const double vlan_odds[2] = { 1.0 - VLAN_SHARE, VLAN_SHARE };
	struct rng *r = &g->rng;
	const struct service *svc;
	struct session *s;
	uint32_t idx = pool_alloc(g);
	int cregion, sregion, i;
	uint64_t h;

	s = &g->pool[idx];
	memset(s, 0, sizeof(*s));
	s->id = g->next_id++;
	i = pick_steered(g, NSERVICES, g->svc_odds, g->svc_share, g->svc_virtual, g->svc_slack, 0);
	svc = &services[i];
	s->svc = (uint8_t)i;
	s->app = svc->app;
	/* a quarter of its service's day at most, or a small service is a few elephants */
	s->cap = (uint64_t)fmin((double)g->sess_cap,
				fmax(64.0, g->svc_share[i] * (double)g->budget / 4));
	s->proto = svc->proto;
	s->fam = (uint8_t)pick_family(g, svc);
	if (svc->proto == PROTO_ICMP && s->fam == FAM_V6)
		s->proto = PROTO_ICMPV6;
	g->st.svc_sessions[i]++;
	g->days[g->day].sessions++;

	cregion = pick_steered(g, NREGIONS, g->region_share[DIR_C2S], g->region_share[DIR_C2S],
			       g->region_virtual[DIR_C2S], NULL, (double)g->sess_cap);
	sregion = pick_steered(g, NREGIONS, g->region_share[DIR_S2C], g->region_share[DIR_S2C],
			       g->region_virtual[DIR_S2C], NULL, (double)g->sess_cap);
	endpoint_init(g, s, DIR_C2S, cregion, 0, svc->clients, false);
	/*
	 * Servers of a well-known port are Zipf-popular. Peers listening on their own port are
	 * not: one popular peer would put its port above the well-known ones.
	 */
	h = endpoint_init(g, s, DIR_S2C, sregion, svc->pool, svc->servers, !svc->port);
	s->ep[DIR_C2S].port = ephemeral_port(r);
	if (svc->port)
		s->ep[DIR_S2C].port = svc->port;
	else if (svc->app == APP_SCAN)
		s->ep[DIR_S2C].port =
			rng_chance(r, 0.7) ?
				scan_ports[rng_below(r, sizeof(scan_ports) / sizeof(scan_ports[0]))] :
				(uint16_t)rng_range(r, 1, 65535);
	else if (svc->app == APP_UDP_PROBE)
		s->ep[DIR_S2C].port = (uint16_t)rng_range(r, 33434, 33534);
	else
		/* peers and media relays listen on a port of their own */
		s->ep[DIR_S2C].port = (uint16_t)(10000 + (h >> 32) % 50000);
	if (svc->proto == PROTO_ICMP || svc->proto == PROTO_ICMPV6) {
		s->ep[DIR_C2S].port = 0;
		s->ep[DIR_S2C].port = 0;
	}

	/*
	 * Tags belong to the link the session crosses, so they are constant per flow. Steered
	 * like the services: otherwise a few heavy sessions decide the tagged share.
	 */
	if (pick_steered(g, 2, vlan_odds, vlan_odds, g->vlan_virtual, NULL, (double)g->sess_cap)) {
		if (rng_chance(r, 0.12)) {
			s->ntags = 2;
			s->vlan[0] = (uint16_t)rng_range(r, 1000, 1001);
			s->vlan[1] = (uint16_t)rng_range(r, 101, 108);
		} else {
			s->ntags = 1;
			s->vlan[0] = vlan_ids[rng_below(r, sizeof(vlan_ids) / sizeof(vlan_ids[0]))];
		}
	}
	s->rtt[DIR_C2S] = draw_rtt(r, cregion);
	s->rtt[DIR_S2C] = draw_rtt(r, sregion);
	s->mss = draw_mss(r, s->fam);
	app_init(g, s, t);
	heap_push(g, s->next_us, idx);
}

/* ---- one capture window ---- */

/*
 * Session arrivals are Poisson with a rate steered by how far the packets simulated so far
 * lag or lead the day's budget spread evenly over the window: this lands the last packet near
 * the window end whatever the model's mean session size.
 */
static int64_t arrival_gap(struct gen *g)
{
	double elapsed = (double)(g->t_arrival - g->t_begin) / 1e6;
	/* at tiny rates tau's worth of packets is below one session: do not overreact */
	double scale = fmax(g->rate_pps * g->tau_s, g->mean_packets);
	double err = (g->rate_pps * elapsed - (double)g->virtual_pkts) / scale;
	double lambda;

	err = fmax(-4.0, fmin(4.0, err));
	lambda = g->rate_pps / g->mean_packets * exp(err);
	return (int64_t)rng_exp(&g->rng, 1e6 / lambda);
}

static void day_run(struct gen *g, int day)
{
	const struct env *env = g->env;
	int64_t window = (int64_t)env->window_s * USEC_PER_SEC, warm, grace;

	g->day = day;
	g->budget = g->day_budget[day];
	g->emitted = 0;
	g->virtual_pkts = 0;
	memset(g->svc_virtual, 0, sizeof(g->svc_virtual));
	memset(g->region_virtual, 0, sizeof(g->region_virtual));
	memset(g->vlan_virtual, 0, sizeof(g->vlan_virtual));
	g->v6_virtual = 0;
	if (!g->budget)
		return;
	g->day_base_us =
		(env->start_day + day) * USEC_PER_DAY + CAPTURE_HOUR_UTC * 3600 * USEC_PER_SEC;
	/* a stream per day: a day does not depend on how much randomness the previous used */
	rng_seed(&g->rng, mix64(env->seed) ^ mix64(0x7261636567656eULL + (uint64_t)day));
	g->rate_pps = (double)g->budget / (double)env->window_s;
	/* start before the window so it opens on sessions already in flight, as a capture does */
	warm = window / 4 < 30 * USEC_PER_SEC ? window / 4 : 30 * USEC_PER_SEC;
	g->tau_s = fmax(0.05, fmin(5.0, (double)env->window_s / 20.0));
	/*
	 * Elephants are relative to the trace: one session may carry 0.15% of the day. Any more
	 * and its ephemeral or per-host port would outrank 993 by bytes (REFERENCE.md: every
	 * port after 993 is the long tail).
	 */
	g->sess_cap = (uint64_t)fmin(fmax((double)g->budget * 0.0015, 64), 100000);
	g->t_begin = -warm;
	g->t_arrival = -warm;
	/* how late the day may run before the budget is forced out */
	grace = (int64_t)fmin(fmax((double)window / 100, USEC_PER_SEC), 30 * USEC_PER_SEC);

	while (g->emitted < g->budget) {
		struct session *s;
		uint32_t idx;

		if (g->t_arrival > window + grace && (!g->heap_n || g->heap[0].t > window + grace))
			/*
			 * Past the window and still short (tiny budgets, mostly): open sessions
			 * at once, each writes its first packet now, so the day cannot run
			 * into the next one.
			 */
			g->t_arrival = g->now > window + grace ? g->now : window + grace;
		if (!g->heap_n || g->t_arrival <= g->heap[0].t) {
			session_new(g, g->t_arrival);
			g->t_arrival += arrival_gap(g);
			continue;
		}
		idx = g->heap[0].idx;
		s = &g->pool[idx];
		g->now = g->heap[0].t;
		if (session_step(g, s)) {
			if (s->next_us < g->now) {
				/* a model bug; keep the trace ordered anyway */
				s->next_us = g->now;
				g->order_fixups++;
			}
			g->heap[0].t = s->next_us;
			heap_sift_down(g, 0);
		} else {
			heap_pop(g);
			pool_free(g, idx);
		}
	}
	/* the capture ends: what is still open is cut off */
	g->heap_n = 0;
	g->pool_used = 0;
	g->nfree = 0;
}

/*
 * Packets per day: a weekday/weekend factor (MAWI's 14:00 JST window is busier on workdays),
 * a slow upward trend and a little day-to-day noise, rounded so the days add up exactly.
 */
static void days_allocate(struct gen *g)
{
	static const double weekday_factor[7] = { 1.00, 1.03, 1.04, 1.02, 0.97, 0.81, 0.77 };
	const struct env *env = g->env;
	uint64_t n = env->days, d, assigned = 0;
	double *w = xcalloc(n, sizeof(*w)), *frac = xcalloc(n, sizeof(*frac)), sum = 0;
	struct rng r;

	rng_seed(&r, mix64(env->seed) ^ 0x64617973ULL);
	for (d = 0; d < n; d++) {
		w[d] = weekday_factor[weekday(env->start_day + (int64_t)d)] *
		       (1.0 + 0.004 * (double)d) * (1.0 + 0.04 * (rng_unit(&r) - 0.5));
		sum += w[d];
	}
	for (d = 0; d < n; d++) {
		double exact = (double)env->packets * w[d] / sum;

		g->day_budget[d] = (uint64_t)floor(exact);
		frac[d] = exact - floor(exact);
		assigned += g->day_budget[d];
	}
	/* largest remainders first, earlier day on a tie */
	while (assigned < env->packets) {
		uint64_t best = 0;

		for (d = 1; d < n; d++)
			if (frac[d] > frac[best])
				best = d;
		g->day_budget[best]++;
		frac[best] = -1.0;
		assigned++;
		if (assigned < env->packets) {
			bool left = false;

			for (d = 0; d < n; d++)
				left |= frac[d] >= 0;
			if (!left)
				for (d = 0; d < n; d++)
					frac[d] = 0;
		}
	}
	while (assigned > env->packets) {
		/* floor() of a double above 2^53 could round up; take it back from the largest */
		uint64_t best = 0;

		for (d = 1; d < n; d++)
			if (g->day_budget[d] > g->day_budget[best])
				best = d;
		g->day_budget[best]--;
		assigned--;
	}
	free(w);
	free(frac);
}

/* ---- setup ---- */

static int parse_prefix(const char *text, struct prefix *p, int *fam)
{
	char buf[64], *slash, *end;
	unsigned long len;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		*fam = FAM_V4;
		if (len < 8 || len > 30)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		*fam = FAM_V6;
		/* host_addr randomizes up to the /64 and picks the interface id itself */
		if (len < 8 || len > 64)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	p->len = (uint8_t)len;
	return 0;
}

static int gen_init(struct gen *g, const struct env *env)
{
	double cw = 0, sw = 0, share_sum = 0, sessions_per_packet = 0;
	int i, j, err;

	g->env = env;
	g->addr_seed = mix64(env->seed ^ 0x61646472ULL);
	for (i = 0; i < NREGIONS; i++) {
		struct region_net *net = &g->nets[i];

		for (j = 0; j < REGION_MAX_PREFIXES && regions[i].prefixes[j]; j++) {
			struct prefix p;
			int fam;

			err = parse_prefix(regions[i].prefixes[j], &p, &fam);
			if (err) {
				fprintf(stderr, "tracegen: region %s: bad prefix %s\n",
					regions[i].code, regions[i].prefixes[j]);
				return err;
			}
			net->pfx[fam][net->npfx[fam]++] = p;
		}
		if (!net->npfx[FAM_V4] || !net->npfx[FAM_V6]) {
			fprintf(stderr, "tracegen: region %s needs IPv4 and IPv6 prefixes\n",
				regions[i].code);
			return -EINVAL;
		}
		cw += regions[i].client_weight;
		sw += regions[i].server_weight;
	}
	for (i = 0; i < NREGIONS; i++) {
		g->region_share[DIR_C2S][i] = regions[i].client_weight / cw;
		g->region_share[DIR_S2C][i] = regions[i].server_weight / sw;
	}
	for (i = 0; i < NSERVICES; i++)
		share_sum += services[i].share;
	for (i = 0; i < NSERVICES; i++) {
		g->svc_share[i] = services[i].share / share_sum;
		g->svc_odds[i] = g->svc_share[i] / services[i].mean_packets;
		g->svc_slack[i] = 2.0 * services[i].mean_packets;
		sessions_per_packet += g->svc_odds[i];
	}
	g->mean_packets = 1.0 / sessions_per_packet;
	g->st.src_port = xcalloc(PORTS, sizeof(struct port_counter));
	g->st.dst_port = xcalloc(PORTS, sizeof(struct port_counter));
	g->st.service_port = xcalloc(PORTS, sizeof(struct port_counter));
	g->day_budget = xcalloc(env->days, sizeof(*g->day_budget));
	g->days = xcalloc(env->days, sizeof(*g->days));
	truth_grow_slots(g);
	days_allocate(g);
	return 0;
}

static void gen_free(struct gen *g)
{
	free(g->pool);
	free(g->free_idx);
	free(g->heap);
	free(g->flows);
	free(g->slots);
	free(g->st.src_port);
	free(g->st.dst_port);
	free(g->st.service_port);
	free(g->day_budget);
	free(g->days);
}

/* ---- truth and summary ---- */

static FILE *open_text(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;

	if (f)
		setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static int close_text(FILE *f)
{
	int err = 0;

	if (fflush(f) || ferror(f))
		err = errno ? -errno : -EIO;
	if (f != stdout && fclose(f) && !err)
		err = -errno;
	return err;
}

static void format_addr(char *buf, size_t len, int fam, const uint8_t *addr)
{
	inet_ntop(fam == FAM_V4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len);
}

static int truth_write(const struct gen *g, const char *path)
{
	FILE *f = open_text(path);
	uint32_t i;

	if (!f)
		return -errno;
	for (i = 0; i < g->nflows; i++) {
		const struct tflow *fl = &g->flows[i];
		char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

		format_addr(src, sizeof(src), fl->key.fam, fl->key.src);
		format_addr(dst, sizeof(dst), fl->key.fam, fl->key.dst);
		fprintf(f,
			"{\"src_addr\":\"%s\",\"dst_addr\":\"%s\",\"src_port\":%u,\"dst_port\":%u,"
			"\"proto\":%u,\"vlan\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"first_seen_ns\":%" PRIu64 ",\"last_seen_ns\":%" PRIu64 "}\n",
			src, dst, fl->key.sport, fl->key.dport, fl->key.proto, fl->key.vlan,
			fl->packets, fl->bytes, fl->first_ns, fl->last_ns);
	}
	return close_text(f);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void json_counter(FILE *f, const char *name, const struct counter *c)
{
	fprintf(f, "\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", name, c->packets,
		c->bytes);
}

struct port_rank {
	uint32_t port;
	struct counter all;
	const struct port_counter *pc;
};

static int port_rank_by_bytes(const void *a, const void *b)
{
	const struct port_rank *x = a, *y = b;

	if (x->all.bytes != y->all.bytes)
		return x->all.bytes < y->all.bytes ? 1 : -1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static int port_rank_by_packets(const void *a, const void *b)
{
	const struct port_rank *x = a, *y = b;

	if (x->all.packets != y->all.packets)
		return x->all.packets < y->all.packets ? 1 : -1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static void json_top_ports(FILE *f, const char *name, const struct port_counter *pcs,
			   struct port_rank *rank, bool by_packets)
{
	uint32_t i;

	for (i = 0; i < PORTS; i++) {
		rank[i].port = i;
		rank[i].pc = &pcs[i];
		rank[i].all.packets = pcs[i].c[0].packets + pcs[i].c[1].packets;
		rank[i].all.bytes = pcs[i].c[0].bytes + pcs[i].c[1].bytes;
	}
	qsort(rank, PORTS, sizeof(*rank), by_packets ? port_rank_by_packets : port_rank_by_bytes);
	fprintf(f, ",\n\"%s\":[", name);
	for (i = 0; i < 20 && rank[i].all.packets; i++)
		fprintf(f,
			"%s\n {\"port\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"tcp_packets\":%" PRIu64 ",\"tcp_bytes\":%" PRIu64
			",\"udp_packets\":%" PRIu64 ",\"udp_bytes\":%" PRIu64 "}",
			i ? "," : "", rank[i].port, rank[i].all.packets, rank[i].all.bytes,
			rank[i].pc->c[0].packets, rank[i].pc->c[0].bytes, rank[i].pc->c[1].packets,
			rank[i].pc->c[1].bytes);
	fprintf(f, "]");
}

static void json_regions(FILE *f, const char *name, const struct counter *c, int n)
{
	int order[NREGIONS + 1], i, j;

	for (i = 0; i < n; i++)
		order[i] = i;
	/* by bytes, a small insertion sort */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && c[order[j]].bytes > c[order[j - 1]].bytes; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	fprintf(f, ",\n\"%s\":[", name);
	for (i = 0; i < n; i++) {
		int k = order[i];

		fprintf(f,
			"%s\n {\"code\":\"%s\",\"name\":\"%s\",\"packets\":%" PRIu64
			",\"bytes\":%" PRIu64 "}",
			i ? "," : "", k < NREGIONS ? regions[k].code : "ZZ",
			k < NREGIONS ? regions[k].name : "multicast", c[k].packets, c[k].bytes);
	}
	fprintf(f, "]");
}

static int summary_write(const struct gen *g, const char *path)
{
	const struct env *env = g->env;
	const struct stats *st = &g->st;
	struct port_rank *rank;
	FILE *f;
	uint64_t d;
	int y, i;
	unsigned int m, dd;

	f = open_text(path);
	if (!f)
		return -errno;
	rank = xcalloc(PORTS, sizeof(*rank));
	civil_from_days(env->start_day, &y, &m, &dd);
	fprintf(f,
		"{\"generator\":\"tracegen\",\"seed\":%" PRIu64 ",\"start\":\"%04d-%02u-%02u\","
		"\"days\":%" PRIu64 ",\"window_s\":%" PRIu64 ",\"snaplen\":%d,\n",
		env->seed, y, m, dd, env->days, env->window_s, SNAPLEN);
	fprintf(f, "\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"flows\":%u,\n",
		st->total.packets, st->total.bytes, g->nflows);
	fprintf(f, "\"protocols\":{");
	json_counter(f, "tcp", &st->tcp);
	fputc(',', f);
	json_counter(f, "udp", &st->udp);
	fputc(',', f);
	json_counter(f, "icmp", &st->icmp);
	fputc(',', f);
	json_counter(f, "icmpv6", &st->icmp6);
	fprintf(f, "},\n");
	json_counter(f, "ipv6", &st->ipv6);
	fputc(',', f);
	json_counter(f, "vlan", &st->vlan);
	fputc(',', f);
	json_counter(f, "qinq", &st->qinq);
	fputc(',', f);
	json_counter(f, "ipv4_fragments", &st->frag4);
	fputc(',', f);
	json_counter(f, "ipv6_fragments", &st->frag6);

	fprintf(f, ",\n\"per_day\":[");
	for (d = 0; d < env->days; d++) {
		const struct day_stats *ds = &g->days[d];

		civil_from_days(env->start_day + (int64_t)d, &y, &m, &dd);
		fprintf(f,
			"%s\n {\"date\":\"%04d-%02u-%02u\",\"packets\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"tcp_packets\":%" PRIu64 ",\"tcp_bytes\":%" PRIu64
			",\"udp_packets\":%" PRIu64 ",\"udp_bytes\":%" PRIu64
			",\"first_seen_ns\":%" PRIu64 ",\"last_seen_ns\":%" PRIu64 "}",
			d ? "," : "", y, m, dd, ds->all.packets, ds->all.bytes, ds->tcp.packets,
			ds->tcp.bytes, ds->udp.packets, ds->udp.bytes, ds->first_ns, ds->last_ns);
	}
	fprintf(f, "]");
	/* flow-key ports of TCP and UDP packets: non-first fragments count under port 0 */
	json_top_ports(f, "top_dst_ports_by_bytes", st->dst_port, rank, false);
	json_top_ports(f, "top_dst_ports_by_packets", st->dst_port, rank, true);
	json_top_ports(f, "top_src_ports_by_bytes", st->src_port, rank, false);
	json_top_ports(f, "top_src_ports_by_packets", st->src_port, rank, true);
	/* both directions of a session under its server's port, fragments included */
	json_top_ports(f, "top_service_ports_by_bytes", st->service_port, rank, false);
	json_top_ports(f, "top_service_ports_by_packets", st->service_port, rank, true);
	/* the region each source address was drawn from, as a geolocation of src_addr gives */
	json_regions(f, "src_regions", st->src_region, NREGIONS);
	json_regions(f, "dst_regions", st->dst_region, NREGIONS + 1);
	fprintf(f, ",\n\"services\":[");
	for (i = 0; i < NSERVICES; i++)
		fprintf(f,
			"%s\n {\"name\":\"%s\",\"proto\":%u,\"port\":%u,\"sessions\":%" PRIu64
			",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
			i ? "," : "", services[i].name, services[i].proto, services[i].port,
			st->svc_sessions[i], st->svc[i].packets, st->svc[i].bytes);
	fprintf(f, "]}\n");
	free(rank);
	return close_text(f);
}

static void summary_line(const struct gen *g)
{
	const struct stats *st = &g->st;
	uint64_t p = st->total.packets, b = st->total.bytes;

	fprintf(stderr,
		"tracegen: %" PRIu64 " packets, %u flows, %" PRIu64 " bytes; packets/bytes: "
		"TCP %.1f%%/%.1f%% UDP %.1f%%/%.1f%% ICMP %.2f%%/%.2f%%; IPv6 %" PRIu64
		" (%.1f%%), VLAN %" PRIu64 " (%.1f%%, QinQ %" PRIu64 "), fragments %" PRIu64
		" IPv4 + %" PRIu64 " IPv6\n",
		p, g->nflows, b, pct(st->tcp.packets, p), pct(st->tcp.bytes, b),
		pct(st->udp.packets, p), pct(st->udp.bytes, b),
		pct(st->icmp.packets + st->icmp6.packets, p),
		pct(st->icmp.bytes + st->icmp6.bytes, b), st->ipv6.packets,
		pct(st->ipv6.packets, p), st->vlan.packets, pct(st->vlan.packets, p),
		st->qinq.packets, st->frag4.packets, st->frag6.packets);
}

static void verbose_report(const struct gen *g)
{
	const struct env *env = g->env;
	const struct stats *st = &g->st;
	uint64_t d;
	int i, y;
	unsigned int m, dd;

	for (d = 0; d < env->days; d++) {
		const struct day_stats *ds = &g->days[d];

		civil_from_days(env->start_day + (int64_t)d, &y, &m, &dd);
		fprintf(stderr,
			"tracegen: %04d-%02u-%02u: %" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64
			" sessions, last packet at %.3f s of %" PRIu64 " s\n",
			y, m, dd, ds->all.packets, ds->all.bytes, ds->sessions,
			(double)ds->end_us / 1e6, env->window_s);
	}
	for (i = 0; i < NSERVICES; i++) {
		uint64_t n = st->svc_sessions[i];

		fprintf(stderr,
			"tracegen: %-12s %8" PRIu64 " sessions %6.2f%% packets %6.2f%% bytes, "
			"%6.1f pkts/session\n",
			services[i].name, n, pct(st->svc[i].packets, st->total.packets),
			pct(st->svc[i].bytes, st->total.bytes),
			n ? (double)st->svc[i].packets / (double)n : 0.0);
	}
	if (g->order_fixups)
		fprintf(stderr, "tracegen: %" PRIu64 " timestamps had to be reordered\n",
			g->order_fixups);
}

static void regions_list(void)
{
	int i, j;

	printf("prefix,code,name\n");
	for (i = 0; i < NREGIONS; i++)
		for (j = 0; j < REGION_MAX_PREFIXES && regions[i].prefixes[j]; j++)
			printf("%s,%s,%s\n", regions[i].prefixes[j], regions[i].code,
			       regions[i].name);
}

/* ---- command line ---- */

const char *argp_program_version = "tracegen 1.0";

/* Paragraphs without line breaks: argp wraps them to the terminal. */
static const char argp_doc[] =
	"Writes a deterministic MAWI-like trace (pcap, Ethernet, snaplen 96, headers only) and "
	"the exact per-flow totals a flow meter must report for it.\n"
	"\n"
	"Each of --days days gets one capture window of --window seconds at 05:00 UTC (MAWI's "
	"14:00 JST); a weekday/weekend pattern shapes the days, which add up to exactly "
	"--packets. The same options and --seed give byte-identical output.\n"
	"\n"
	"The truth file has one JSON object per line per flow key (src_addr, dst_addr, "
	"src_port, dst_port, proto, vlan) with its packets, L3 bytes and first/last "
	"timestamps in ns. ICMP keys carry type*256+code in dst_port; non-first fragments "
	"have ports 0.\n"
	"\n"
	"EXAMPLES:\n"
	"  tracegen -o t.pcap -t t.jsonl         # 1M packets, 3 days x 15 minutes\n"
	"  tracegen -n 5M -d 1 -w 60 -o t.pcap   # MAWI's density, ~83k packets/s\n"
	"  tracegen -o 202601051400.pcap.gz      # gzip, like the MAWI archive\n"
	"  tracegen -o - -n 1000 | tcpdump -nr - | head\n"
	"  tracegen --list-regions > regions.csv # the address plan, for a geo table\n";

enum {
	OPT_LIST_REGIONS = 256,
};

static const struct argp_option argp_options[] = {
	{ "output", 'o', "FILE", 0, "Write the pcap to FILE ('-' = stdout)", 0 },
	{ "truth", 't', "FILE", 0, "Write the per-flow truth (JSON lines) to FILE", 0 },
	{ "summary-json", 'j', "FILE", 0, "Write totals per protocol, port, region and day to FILE",
	  0 },
	{ "packets", 'n', "N", 0, "Packets over all days (default 1000000; k, M, G suffixes)", 0 },
	{ "days", 'd', "N", 0, "Capture days (default 3)", 0 },
	{ "window", 'w', "SECONDS", 0, "Capture window per day (default 900)", 0 },
	{ "start", 'S', "YYYY-MM-DD", 0, "First day (default 2026-01-05, a Monday)", 0 },
	{ "seed", 's', "N", 0, "Random seed (default 1)", 0 },
	{ "gzip", 'z', "LEVEL", OPTION_ARG_OPTIONAL,
	  "gzip the pcap (default level 6; implied by an output name ending in .gz)", 0 },
	{ "list-regions", OPT_LIST_REGIONS, NULL, 0,
	  "Print the region address plan as CSV (prefix,code,name) and exit", 0 },
	{ "verbose", 'v', NULL, 0, "Per-day and per-service report on stderr", 0 },
	{ "quiet", 'q', NULL, 0, "No summary line on stderr", 0 },
	{},
};

/* strtoull that refuses signs, blanks, trailing junk and overflow; mult_suffix allows k/M/G */
static int parse_u64(const char *arg, uint64_t min, uint64_t max, bool mult_suffix, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (!arg || *arg < '0' || *arg > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno)
		return -errno;
	if (mult_suffix && *end && !end[1]) {
		if (*end == 'k' || *end == 'K')
			mult = 1000;
		else if (*end == 'M')
			mult = 1000000;
		else if (*end == 'G')
			mult = 1000000000;
		if (mult > 1)
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	v *= mult;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_date(const char *arg, int64_t *days)
{
	static const unsigned int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	uint64_t y, m, d;
	char buf[11];
	bool leap;

	if (strlen(arg) != 10 || arg[4] != '-' || arg[7] != '-')
		return -EINVAL;
	memcpy(buf, arg, sizeof(buf));
	buf[4] = buf[7] = '\0';
	if (parse_u64(buf, 1970, 2099, false, &y) || parse_u64(buf + 5, 1, 12, false, &m) ||
	    parse_u64(buf + 8, 1, 31, false, &d))
		return -EINVAL;
	leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
	if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return -EINVAL;
	*days = days_from_civil((int64_t)y, (unsigned int)m, (unsigned int)d);
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;
	uint64_t v;

	switch (key) {
	case 'o':
		env->output = arg;
		break;
	case 't':
		env->truth = arg;
		break;
	case 'j':
		env->summary = arg;
		break;
	case 'n':
		/* 2^32 packets per day would overflow nothing, but take a day of CPU */
		if (parse_u64(arg, 0, 10000000000ULL, true, &env->packets))
			argp_error(state, "--packets: expected a count up to 10G, got '%s'", arg);
		break;
	case 'd':
		if (parse_u64(arg, 1, 3660, false, &env->days))
			argp_error(state, "--days: expected 1..3660, got '%s'", arg);
		break;
	case 'w':
		/* a window must end before the next day's starts, warm-up overrun included */
		if (parse_u64(arg, 1, 72000, false, &env->window_s))
			argp_error(state, "--window: expected 1..72000 seconds, got '%s'", arg);
		break;
	case 'S':
		if (parse_date(arg, &env->start_day))
			argp_error(state, "--start: expected YYYY-MM-DD in 1970..2099, got '%s'",
				   arg);
		break;
	case 's':
		if (parse_u64(arg, 0, UINT64_MAX, false, &env->seed))
			argp_error(state, "--seed: expected an unsigned integer, got '%s'", arg);
		break;
	case 'z':
		env->gzip_level = 6;
		if (arg) {
			if (parse_u64(arg, 1, 9, false, &v))
				argp_error(state, "--gzip: expected a level 1..9, got '%s'", arg);
			env->gzip_level = (int)v;
		}
		break;
	case OPT_LIST_REGIONS:
		env->list_regions = true;
		break;
	case 'v':
		env->verbose = true;
		break;
	case 'q':
		env->quiet = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (env->list_regions)
			break;
		if (!env->output)
			argp_error(state, "--output is required ('-' for stdout)");
		if ((!strcmp(env->output, "-")) + (env->truth && !strcmp(env->truth, "-")) +
			    (env->summary && !strcmp(env->summary, "-")) >
		    1)
			argp_error(state, "only one of the outputs can go to stdout");
		if (env->start_day + (int64_t)env->days > days_from_civil(2106, 1, 1))
			argp_error(state,
				   "the last day is past what pcap's 32-bit seconds can hold");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = argp_options,
	.parser = parse_arg,
	.doc = argp_doc,
};

int main(int argc, char **argv)
{
	struct env env = {
		.packets = 1000000,
		.days = 3,
		.window_s = 900,
		.seed = 1,
		.start_day = days_from_civil(2026, 1, 5),
		.gzip_level = -1,
	};
	struct gen *g = NULL;
	size_t olen;
	uint64_t d;
	int err;

	err = argp_parse(&argp, argc, argv, 0, NULL, &env);
	if (err)
		return 1;
	if (env.list_regions) {
		regions_list();
		return 0;
	}
	olen = strlen(env.output);
	if (env.gzip_level < 0 && olen > 3 && !strcmp(env.output + olen - 3, ".gz"))
		env.gzip_level = 6;

	g = xcalloc(1, sizeof(*g));
	err = gen_init(g, &env);
	if (err)
		goto cleanup;
	err = out_open(&g->out, env.output, env.gzip_level);
	if (err) {
		fprintf(stderr, "tracegen: %s: %s\n", env.output, strerror(-err));
		goto cleanup;
	}
	pcap_write_header(&g->out);
	for (d = 0; d < env.days; d++)
		day_run(g, (int)d);
	err = out_close(&g->out);
	if (err) {
		fprintf(stderr, "tracegen: %s: %s\n", env.output, strerror(-err));
		goto cleanup;
	}
	if (env.truth) {
		err = truth_write(g, env.truth);
		if (err) {
			fprintf(stderr, "tracegen: %s: %s\n", env.truth, strerror(-err));
			goto cleanup;
		}
	}
	if (env.summary) {
		err = summary_write(g, env.summary);
		if (err) {
			fprintf(stderr, "tracegen: %s: %s\n", env.summary, strerror(-err));
			goto cleanup;
		}
	}
	if (env.verbose)
		verbose_report(g);
	if (!env.quiet)
		summary_line(g);

cleanup:
	if (g) {
		if (g->out.buf)
			out_close(&g->out);
		gen_free(g);
		free(g);
	}
	return err ? 1 : 0;
}
