// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The capture reader behind pcap_reader.h. Every input, files, gzip, stdin and pipes, goes
 * through one buffer that is refilled with read(2) only at the start of a batch, so every
 * pointer of a batch stays valid until the next call. Files are not mapped: a mapped file
 * that shrinks (a capture being rotated) kills the process with SIGBUS on the next access,
 * even from code that got its packets long before. A file is read to the size it had when it
 * was opened; one that ends before that is an error that names both sizes.
 *
 * Replay speed is decided here: per record the inner loops do a few loads and stores, with the
 * byte order as a compile-time constant. Anything unusual makes them stop and hand the record to
 * one careful step function, which owns all validation and every error message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fd_read.h"
#include "gzip_inflate.h"
#include "pcap_reader.h"

#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define always_inline inline __attribute__((always_inline))

#define NSEC_PER_SEC 1000000000ULL

#define PCAP_MAGIC_US	   0xa1b2c3d4u
#define PCAP_MAGIC_NS	   0xa1b23c4du
#define PCAP_FILE_HDR_LEN  24
#define PCAP_REC_HDR_LEN   16
#define PCAP_LINKTYPE_MASK 0xffffu /* the upper bits carry FCS information */

#define PCAPNG_SHB	    0x0a0d0d0au
#define PCAPNG_IDB	    1u
#define PCAPNG_PB	    2u
#define PCAPNG_SPB	    3u
#define PCAPNG_EPB	    6u
#define PCAPNG_BOM	    0x1a2b3c4du
#define PCAPNG_OPT_TSRESOL  9
#define PCAPNG_OPT_TSOFFSET 14
#define PCAPNG_MIN_BLOCK    12u
#define PCAPNG_EPB_HDR_LEN  28u /* type, length, interface, ts high, ts low, caplen, len */
#define PCAPNG_SPB_HDR_LEN  12u
#define PCAPNG_SHB_HDR_LEN  24u
/* libpcap's bound too: a larger block is a corrupt length field, not data */
#define PCAPNG_MAX_BLOCK (16u << 20)
/* interface ids are 32 bits; this only stops a crafted file from eating all memory */
#define PCAPNG_MAX_INTERFACES (1u << 20)

/* Must hold one maximal record with its headers, several times over so refills are rare. */
#define STREAM_BUF_LEN (4u << 20)
/* With fewer bytes than this buffered, a batch starts with a refill: a maximal record fits. */
#define STREAM_LOW_WATER (PCAP_READER_MAX_RECORD + 4096u)

_Static_assert(STREAM_BUF_LEN >= 4 * STREAM_LOW_WATER, "stream buffer too small");

/* What the step functions tell the batch loop. */
enum step {
	STEP_PACKET = 1, /* one packet filled in */
	STEP_BLOCK = 0,	 /* a block without a packet consumed */
	STEP_MORE = -1,	 /* the buffer must be refilled (or a big block skipped) first */
	STEP_END = -2,	 /* clean end of the capture */
	STEP_STOP = -3,	 /* reader->status says why reading stopped */
};

/* libpcap's rule for where the captured length is (sf-pcap.c) */
enum pcap_lengths {
	LENGTHS_AS_IS,	       /* 2.4: captured length, then wire length */
	LENGTHS_SWAPPED,       /* before 2.3, and DG/UX 543.0: wire length first */
	LENGTHS_MAYBE_SWAPPED, /* 2.3, written both ways: swapped when caplen > len */
};

/* Classic pcap times are two 32-bit fields: they always fit a signed 64-bit count of ns. */
_Static_assert(UINT32_MAX *NSEC_PER_SEC + UINT32_MAX * 1000ULL <= INT64_MAX,
	       "pcap times cannot overflow");

enum ts_kind {
	TS_MUL,	  /* ns = units * ts_mul */
	TS_DIV,	  /* ns = units / ts_mul, units finer than 1 ns */
	TS_SHIFT, /* ns = units * 1e9 >> ts_shift, binary fractions */
};

struct pcapng_interface {
	uint64_t ts_mul;
	/* units below this take the fast path: units * ts_mul + ts_offset_ns, in range */
	uint64_t fast_limit;
	uint64_t ts_offset_ns; /* if_tsoffset in ns, when fast_limit > 0 */
	int64_t ts_offset_s;   /* if_tsoffset: signed, as in libpcap and the pcapng spec */
	uint32_t link_type;
	uint32_t snaplen;
	uint8_t ts_kind;
	uint8_t ts_shift;
	uint8_t tsresol; /* the if_tsresol byte, for messages */
};

struct pcap_reader {
	/* what the inner loops touch */
	const uint8_t *pos;   /* next record or block */
	const uint8_t *end;   /* end of the bytes buffered */
	const uint8_t *base;  /* buffer start */
	uint64_t base_offset; /* capture offset of base */
	struct pcapng_interface *ifs;
	uint32_t if_count;
	uint32_t link_type; /* pcap */
	uint32_t ts_unit;   /* pcap: ns per fraction unit */
	bool swapped;	    /* file byte order differs from the host's */
	bool pcapng;
	bool at_eof;	 /* end is the end of the capture: nothing more will be read */
	uint8_t lengths; /* enum pcap_lengths: old pcap versions swap caplen and len */

	enum pcap_reader_status status;
	uint32_t if_alloc;
	size_t want; /* bytes the record at pos needs buffered */

	/* a block larger than the buffer, being skipped */
	bool skipping;
	uint32_t skip_type;
	uint32_t skip_len;
	uint64_t skip_left; /* bytes before its trailing length */
	uint64_t skip_offset;

	/* the source: the file, or the pipe an inflater thread writes into */
	int fd;
	bool close_fd;
	bool regular; /* reads never block, so fill the buffer completely */
	bool bounded; /* fd is the file itself: read exactly read_limit bytes of it */
	int stat_fd;  /* a regular file under the inflater, to see whether it shrank; or -1 */
	uint64_t read_limit; /* regular file: its bytes after the starting offset, at open */
	bool gzip;
	bool in_eof; /* read(2) returned 0 */
	bool gz_truncated;
	uint8_t *buf;
	struct gzip_inflater *inflater;
	uint64_t file_read; /* bytes read(2) from fd */
	uint64_t file_size;
	/* a source failure, reported once the bytes buffered before it are consumed */
	enum pcap_reader_status src_status;

	const char *format;
	char *name;
	char src_msg[1024];
	char msg[1024];
};

static always_inline uint32_t rd32(const uint8_t *p, const bool swapped)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return swapped ? __builtin_bswap32(v) : v;
}

static inline uint16_t rd16(const uint8_t *p, bool swapped)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return swapped ? __builtin_bswap16(v) : v;
}

static inline uint64_t rd64(const uint8_t *p, bool swapped)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return swapped ? __builtin_bswap64(v) : v;
}

/* Bytes as they appear in the file, for messages. */
static uint32_t be32_bytes(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t pad4(uint32_t len)
{
	return (len + 3) & ~3u;
}

static inline uint64_t reader_pos_offset(const struct pcap_reader *r)
{
	return r->base_offset + (uint64_t)(r->pos - r->base);
}

/* "PATH: offset N: what" */
static void message_format(char *msg, size_t size, const char *name, uint64_t offset,
			   const char *fmt, va_list args)
{
	int len = snprintf(msg, size, "%s: offset %" PRIu64 ": ", name, offset);

	if (len < 0 || (size_t)len >= size)
		len = 0;
	vsnprintf(msg + len, size - len, fmt, args);
}

/* Reading stops at the record or block at offset; returns STEP_STOP. */
static int __attribute__((format(printf, 4, 5)))
reader_fail(struct pcap_reader *r, enum pcap_reader_status status, uint64_t offset, const char *fmt,
	    ...)
{
	va_list args;

	va_start(args, fmt);
	message_format(r->msg, sizeof(r->msg), r->name, offset, fmt, args);
	va_end(args);
	r->status = status;
	return STEP_STOP;
}

/* The source failed: stop reading, but only report it after what was buffered before it. */
static void __attribute__((format(printf, 3, 4)))
stream_fail(struct pcap_reader *r, enum pcap_reader_status status, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	message_format(r->src_msg, sizeof(r->src_msg), r->name,
		       r->base_offset + (uint64_t)(r->end - r->base), fmt, args);
	va_end(args);
	r->src_status = status;
	r->at_eof = true;
}

static int reader_report_source(struct pcap_reader *r)
{
	memcpy(r->msg, r->src_msg, sizeof(r->msg));
	r->status = r->src_status;
	return STEP_STOP;
}

/* All bytes consumed and nothing more will come. */
static int reader_at_end(struct pcap_reader *r)
{
	if (r->src_status != PCAP_READER_OK)
		return reader_report_source(r);
	if (r->gz_truncated)
		return reader_fail(r, PCAP_READER_TRUNCATED, reader_pos_offset(r),
				   "truncated gzip stream");
	return STEP_END;
}

/* The capture ends inside the record or block at offset. */
static int reader_cut_short(struct pcap_reader *r, uint64_t offset, uint64_t have, uint64_t len,
			    const char *what)
{
	if (r->src_status != PCAP_READER_OK)
		return reader_report_source(r);
	return reader_fail(r, PCAP_READER_TRUNCATED, offset,
			   "truncated last %s (have %" PRIu64 " of %" PRIu64 " bytes)%s", what,
			   have, len, r->gz_truncated ? " in a truncated gzip stream" : "");
}

static int reader_need(struct pcap_reader *r, size_t len)
{
	r->want = len;
	return STEP_MORE;
}

/* ---- classic pcap ---- */

static always_inline int pcap_run(struct pcap_reader *r, struct pcap_packet *pkt, int max,
				  const bool swapped)
{
	const uint8_t *p = r->pos;
	const uint8_t *end = r->end;
	const uint64_t unit = r->ts_unit;
	const uint32_t link_type = r->link_type;
	int n = 0;

	while (n < max && (size_t)(end - p) >= PCAP_REC_HDR_LEN) {
		uint32_t sec = rd32(p, swapped);
		uint32_t frac = rd32(p + 4, swapped);
		uint32_t caplen = rd32(p + 8, swapped);

		/*
		 * The hardware prefetcher stops at page boundaries; asking ~20 records ahead
		 * keeps the header loads from stalling (prefetches never fault past the end).
		 */
		__builtin_prefetch(p + 2048);
		if (unlikely(caplen > PCAP_READER_MAX_RECORD ||
			     caplen > (size_t)(end - p) - PCAP_REC_HDR_LEN))
			break;
		pkt[n].data = p + PCAP_REC_HDR_LEN;
		pkt[n].ts_ns = sec * NSEC_PER_SEC + frac * unit;
		pkt[n].cap_len = caplen;
		pkt[n].orig_len = rd32(p + 12, swapped);
		pkt[n].link_type = link_type;
		pkt[n].interface_id = 0;
		p += PCAP_REC_HDR_LEN + caplen;
		n++;
	}
	r->pos = p;
	return n;
}

/* The record at pos, whatever it is; pcap_run() stops here when it is not a plain one. */
static int pcap_step(struct pcap_reader *r, struct pcap_packet *pkt)
{
	const uint8_t *p = r->pos;
	size_t avail = (size_t)(r->end - p);
	uint64_t offset = reader_pos_offset(r);
	uint32_t caplen, orig_len;

	if (avail < PCAP_REC_HDR_LEN) {
		if (!r->at_eof)
			return reader_need(r, PCAP_REC_HDR_LEN);
		if (avail == 0)
			return reader_at_end(r);
		return reader_cut_short(r, offset, avail, PCAP_REC_HDR_LEN, "record");
	}
	caplen = rd32(p + 8, r->swapped);
	orig_len = rd32(p + 12, r->swapped);
	if (r->lengths == LENGTHS_SWAPPED ||
	    (r->lengths == LENGTHS_MAYBE_SWAPPED && caplen > orig_len)) {
		orig_len = caplen;
		caplen = rd32(p + 12, r->swapped);
	}
	/* checked first: a huge length running past the end is corruption, not truncation */
	if (caplen > PCAP_READER_MAX_RECORD)
		return reader_fail(r, PCAP_READER_CORRUPT, offset,
				   "record captured length %" PRIu32 " exceeds the %u-byte limit",
				   caplen, PCAP_READER_MAX_RECORD);
	if (caplen > avail - PCAP_REC_HDR_LEN) {
		if (!r->at_eof)
			return reader_need(r, PCAP_REC_HDR_LEN + caplen);
		return reader_cut_short(r, offset, avail, PCAP_REC_HDR_LEN + (uint64_t)caplen,
					"record");
	}
	pkt->data = p + PCAP_REC_HDR_LEN;
	pkt->ts_ns =
		rd32(p, r->swapped) * NSEC_PER_SEC + rd32(p + 4, r->swapped) * (uint64_t)r->ts_unit;
	pkt->cap_len = caplen;
	pkt->orig_len = orig_len;
	pkt->link_type = r->link_type;
	pkt->interface_id = 0;
	r->pos = p + PCAP_REC_HDR_LEN + caplen;
	return STEP_PACKET;
}

/* ---- pcapng ---- */

/* The exact time of units on ifc in ns: 128 bits hold any 64-bit count at any resolution. */
static __int128 pcapng_ts_exact(const struct pcapng_interface *ifc, uint64_t units)
{
	__int128 ns;

	switch (ifc->ts_kind) {
	case TS_DIV:
		ns = units / ifc->ts_mul;
		break;
	case TS_SHIFT:
		ns = (__int128)(((unsigned __int128)units * NSEC_PER_SEC) >> ifc->ts_shift);
		break;
	default:
		ns = (__int128)units * ifc->ts_mul;
		break;
	}
	return ns + (__int128)ifc->ts_offset_s * (__int128)NSEC_PER_SEC;
}

/* Times the records can carry: ns since 1970 that a signed 64-bit reader reads back. */
static __attribute__((noinline)) bool pcapng_ts_rare(const struct pcapng_interface *ifc,
						     uint64_t units, uint64_t *ts_ns)
{
	__int128 ns = pcapng_ts_exact(ifc, units);

	if (ns < 0 || ns > INT64_MAX)
		return false;
	*ts_ns = (uint64_t)ns;
	return true;
}

/* The packet time, or false when it is out of range: it must never wrap. */
static always_inline bool pcapng_ts(const struct pcapng_interface *ifc, uint64_t units,
				    uint64_t *ts_ns)
{
	if (likely(units < ifc->fast_limit)) {
		*ts_ns = units * ifc->ts_mul + ifc->ts_offset_ns;
		return true;
	}
	return pcapng_ts_rare(ifc, units, ts_ns);
}

/* Once the options are read: the units for which the one-multiply fast path is in range. */
static void pcapng_ts_fast_limit(struct pcapng_interface *ifc)
{
	__int128 room;

	ifc->fast_limit = 0;
	if (ifc->ts_kind != TS_MUL || ifc->ts_mul == 0 || ifc->ts_offset_s < 0)
		return;
	room = (__int128)INT64_MAX - (__int128)ifc->ts_offset_s * (__int128)NSEC_PER_SEC;
	if (room < 0)
		return;
	ifc->ts_offset_ns = (uint64_t)ifc->ts_offset_s * NSEC_PER_SEC;
	ifc->fast_limit = (uint64_t)(room / ifc->ts_mul) + 1;
}

/* Decimal text of a 128-bit value, for messages. */
static const char *int128_text(__int128 v, char *buf, size_t size)
{
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
	char digits[48];
	int n = 0, i;

	do {
		digits[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		digits[n++] = '-';
	if ((size_t)n >= size)
		n = (int)size - 1;
	for (i = 0; i < n; i++)
		buf[i] = digits[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

static int pcapng_ts_fail(struct pcap_reader *r, const struct pcapng_interface *ifc, uint64_t units,
			  uint64_t offset)
{
	char ns[48];

	return reader_fail(r, PCAP_READER_CORRUPT, offset,
			   "packet timestamp %" PRIu64
			   " units of %s^-%u s plus if_tsoffset %" PRId64
			   " s is %s ns, outside the 0 to %" PRId64 " ns a record can carry",
			   units, ifc->tsresol & 0x80 ? "2" : "10", ifc->tsresol & 0x7f,
			   ifc->ts_offset_s,
			   int128_text(pcapng_ts_exact(ifc, units), ns, sizeof(ns)), INT64_MAX);
}

static void pcapng_ts_resolution(struct pcapng_interface *ifc, uint8_t tsresol)
{
	unsigned int exp = tsresol & 0x7f;
	uint64_t pow10 = 1;
	unsigned int i;

	ifc->tsresol = tsresol;
	if (tsresol & 0x80) {
		ifc->ts_kind = TS_SHIFT;
		ifc->ts_shift = exp;
		return;
	}
	if (exp <= 9) {
		for (i = exp; i < 9; i++)
			pow10 *= 10;
		ifc->ts_kind = TS_MUL;
		ifc->ts_mul = pow10;
		return;
	}
	if (exp - 9 > 19) {
		/* 10^20 exceeds any 64-bit count: every timestamp is below 1 ns */
		ifc->ts_kind = TS_MUL;
		ifc->ts_mul = 0;
		return;
	}
	for (i = 9; i < exp; i++)
		pow10 *= 10;
	ifc->ts_kind = TS_DIV;
	ifc->ts_mul = pow10;
}

/* Enhanced Packet Blocks that are complete and valid; everything else ends the run. */
static always_inline int pcapng_run(struct pcap_reader *r, struct pcap_packet *pkt, int max,
				    const bool swapped)
{
	const struct pcapng_interface *ifs = r->ifs;
	const uint32_t if_count = r->if_count;
	const uint8_t *p = r->pos;
	const uint8_t *end = r->end;
	int n = 0;

	while (n < max && (size_t)(end - p) >= PCAPNG_EPB_HDR_LEN + 4) {
		uint32_t len = rd32(p + 4, swapped);
		uint32_t ifid = rd32(p + 8, swapped);
		uint32_t caplen = rd32(p + 20, swapped);
		uint64_t units = (uint64_t)rd32(p + 12, swapped) << 32 | rd32(p + 16, swapped);
		const struct pcapng_interface *ifc;
		uint64_t ts_ns;

		/* len - 32 wraps for short blocks, so one compare covers both bounds */
		if (unlikely(rd32(p, swapped) != PCAPNG_EPB ||
			     len - (PCAPNG_EPB_HDR_LEN + 4) >
				     PCAPNG_MAX_BLOCK - (PCAPNG_EPB_HDR_LEN + 4) ||
			     (len & 3) || len > (size_t)(end - p) || ifid >= if_count ||
			     caplen > len - (PCAPNG_EPB_HDR_LEN + 4) ||
			     caplen > PCAP_READER_MAX_RECORD || rd32(p + len - 4, swapped) != len))
			break;
		ifc = &ifs[ifid];
		/* out of range: pcapng_step() reports it */
		if (unlikely(!pcapng_ts(ifc, units, &ts_ns)))
			break;
		pkt[n].data = p + PCAPNG_EPB_HDR_LEN;
		pkt[n].ts_ns = ts_ns;
		pkt[n].cap_len = caplen;
		pkt[n].orig_len = rd32(p + 24, swapped);
		pkt[n].link_type = ifc->link_type;
		pkt[n].interface_id = ifid;
		p += len;
		n++;
	}
	r->pos = p;
	return n;
}

static int pcapng_interface_add(struct pcap_reader *r, const uint8_t *p, uint32_t len,
				uint64_t offset)
{
	const uint8_t *opt = p + 16;
	const uint8_t *opt_end = p + len - 4;
	struct pcapng_interface *ifc;
	bool sw = r->swapped;

	if (r->if_count == PCAPNG_MAX_INTERFACES)
		return reader_fail(r, PCAP_READER_CORRUPT, offset,
				   "more than %u interface description blocks in one section",
				   PCAPNG_MAX_INTERFACES);
	if (r->if_count == r->if_alloc) {
		uint32_t alloc = r->if_alloc ? r->if_alloc * 2 : 8;
		struct pcapng_interface *ifs = realloc(r->ifs, alloc * sizeof(*ifs));

		if (!ifs)
			return reader_fail(r, PCAP_READER_IO_ERROR, offset, "out of memory");
		r->ifs = ifs;
		r->if_alloc = alloc;
	}
	ifc = &r->ifs[r->if_count];
	memset(ifc, 0, sizeof(*ifc));
	ifc->link_type = rd16(p + 8, sw);
	ifc->snaplen = rd32(p + 12, sw);
	ifc->ts_kind = TS_MUL;
	ifc->ts_mul = 1000; /* default resolution 10^-6 s */
	ifc->tsresol = 6;

	while (opt_end - opt >= 4) {
		uint16_t code = rd16(opt, sw);
		uint16_t opt_len = rd16(opt + 2, sw);

		if (code == 0) /* opt_endofopt */
			break;
		if (opt_len > (size_t)(opt_end - opt) - 4)
			return reader_fail(
				r, PCAP_READER_CORRUPT, offset,
				"interface description option %u runs past the end of its block",
				code);
		if (code == PCAPNG_OPT_TSRESOL || code == PCAPNG_OPT_TSOFFSET) {
			if (opt_len != (code == PCAPNG_OPT_TSRESOL ? 1 : 8))
				return reader_fail(r, PCAP_READER_CORRUPT, offset,
						   "interface description option %u has length %u",
						   code, opt_len);
			if (code == PCAPNG_OPT_TSRESOL)
				pcapng_ts_resolution(ifc, opt[4]);
			else
				ifc->ts_offset_s = (int64_t)rd64(opt + 4, sw);
		}
		/* options are padded to 4 and so is the block: this stays in bounds */
		opt += 4 + pad4(opt_len);
	}
	pcapng_ts_fast_limit(ifc);
	r->if_count++;
	return STEP_BLOCK;
}

static int pcapng_block_min_len(uint32_t type)
{
	switch (type) {
	case PCAPNG_SHB:
		return PCAPNG_SHB_HDR_LEN + 4;
	case PCAPNG_IDB:
		return 20;
	case PCAPNG_EPB:
	case PCAPNG_PB:
		return PCAPNG_EPB_HDR_LEN + 4;
	case PCAPNG_SPB:
		return PCAPNG_SPB_HDR_LEN + 4;
	default:
		return PCAPNG_MIN_BLOCK;
	}
}

/*
 * The block at pos, whatever it is. In streaming mode a block larger than the buffer has its
 * head handled here (the packet, or the section header) and the rest streamed past later.
 */
static int pcapng_step(struct pcap_reader *r, struct pcap_packet *pkt)
{
	const uint8_t *p = r->pos;
	size_t avail = (size_t)(r->end - p);
	uint64_t offset = reader_pos_offset(r);
	const struct pcapng_interface *ifc;
	bool sw = r->swapped;
	uint32_t type, len, caplen = 0, head, ifid;
	uint16_t major, minor;
	uint64_t units;
	bool big = false;
	int ret = STEP_BLOCK;

	if (avail < PCAPNG_MIN_BLOCK) {
		if (!r->at_eof)
			return reader_need(r, PCAPNG_MIN_BLOCK);
		if (avail == 0)
			return reader_at_end(r);
		return reader_cut_short(r, offset, avail, PCAPNG_MIN_BLOCK, "block");
	}
	type = rd32(p, sw);
	if (type == PCAPNG_SHB) {
		/* each section declares its own byte order; the length field depends on it */
		uint32_t bom;

		memcpy(&bom, p + 8, sizeof(bom));
		if (bom == PCAPNG_BOM)
			sw = false;
		else if (bom == __builtin_bswap32(PCAPNG_BOM))
			sw = true;
		else
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "section header block has a bad byte-order magic 0x%08x",
					   be32_bytes(p + 8));
	}
	len = rd32(p + 4, sw);
	if (len < PCAPNG_MIN_BLOCK || (len & 3))
		return reader_fail(r, PCAP_READER_CORRUPT, offset,
				   "block type 0x%x has length %u, %s", type, len,
				   len < PCAPNG_MIN_BLOCK ? "below the 12-byte minimum" :
							    "not a multiple of 4");
	if (len > PCAPNG_MAX_BLOCK)
		return reader_fail(r, PCAP_READER_CORRUPT, offset,
				   "block type 0x%x has length %u, over the %u-byte limit", type,
				   len, PCAPNG_MAX_BLOCK);
	if (len < (uint32_t)pcapng_block_min_len(type))
		return reader_fail(r, PCAP_READER_CORRUPT, offset,
				   "block type 0x%x has length %u, below its %d-byte minimum", type,
				   len, pcapng_block_min_len(type));

	/* a packet's length is judged before the block is known to be complete */
	switch (type) {
	case PCAPNG_EPB:
	case PCAPNG_PB:
		if (avail < PCAPNG_EPB_HDR_LEN) {
			if (r->at_eof)
				return reader_cut_short(r, offset, avail, len, "block");
			return reader_need(r, len <= STREAM_BUF_LEN ? len : PCAPNG_EPB_HDR_LEN);
		}
		caplen = rd32(p + 20, sw);
		if (caplen > PCAP_READER_MAX_RECORD)
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "record captured length %u exceeds the %u-byte limit",
					   caplen, PCAP_READER_MAX_RECORD);
		if (caplen > len - (PCAPNG_EPB_HDR_LEN + 4))
			return reader_fail(
				r, PCAP_READER_CORRUPT, offset,
				"packet block captured length %u is larger than its %u-byte block",
				caplen, len);
		head = PCAPNG_EPB_HDR_LEN + pad4(caplen);
		break;
	case PCAPNG_SPB:
		if (r->if_count == 0)
			return reader_fail(
				r, PCAP_READER_CORRUPT, offset,
				"simple packet block without an interface description block");
		/* no captured length field: the smallest of wire length, snaplen and block room */
		caplen = rd32(p + 8, sw);
		if (r->ifs[0].snaplen && caplen > r->ifs[0].snaplen)
			caplen = r->ifs[0].snaplen;
		if (caplen > len - (PCAPNG_SPB_HDR_LEN + 4))
			caplen = len - (PCAPNG_SPB_HDR_LEN + 4);
		if (caplen > PCAP_READER_MAX_RECORD)
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "record captured length %u exceeds the %u-byte limit",
					   caplen, PCAP_READER_MAX_RECORD);
		head = PCAPNG_SPB_HDR_LEN + pad4(caplen);
		break;
	case PCAPNG_SHB:
		head = PCAPNG_SHB_HDR_LEN;
		break;
	case PCAPNG_IDB:
		head = len - 4;
		break;
	default:
		head = 8;
		break;
	}

	if (len > avail) {
		if (r->at_eof)
			return reader_cut_short(r, offset, avail, len, "block");
		if (len <= STREAM_BUF_LEN)
			return reader_need(r, len);
		/* only its options make it this large; those of an IDB carry the time base */
		if (type == PCAPNG_IDB)
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "interface description block of %u bytes does not fit "
					   "the %u-byte stream buffer",
					   len, STREAM_BUF_LEN);
		if (avail < head)
			return reader_need(r, head);
		big = true;
	} else if (rd32(p + len - 4, sw) != len) {
		return reader_fail(
			r, PCAP_READER_CORRUPT, offset,
			"block type 0x%x: trailing length %u differs from leading length %u", type,
			rd32(p + len - 4, sw), len);
	}

	switch (type) {
	case PCAPNG_SHB:
		/*
		 * As libpcap (sf-pcapng.c): the first section must be 1.0 or 1.2 (1.1 was never
		 * standardized), a later one only of major version 1.
		 */
		major = rd16(p + 12, sw);
		minor = rd16(p + 14, sw);
		if (major != 1 || (offset == 0 && minor != 0 && minor != 2))
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "unsupported pcapng savefile version %u.%u%s", major,
					   minor,
					   offset == 0 ? " (1.0 and 1.2 are read)" :
							 " (a later section must be 1.x)");
		/* interface ids are per section */
		r->swapped = sw;
		r->if_count = 0;
		break;
	case PCAPNG_IDB:
		ret = pcapng_interface_add(r, p, len, offset);
		if (ret == STEP_STOP)
			return ret;
		break;
	case PCAPNG_EPB:
	case PCAPNG_PB:
		ifid = type == PCAPNG_EPB ? rd32(p + 8, sw) : rd16(p + 8, sw);
		if (ifid >= r->if_count)
			return reader_fail(r, PCAP_READER_CORRUPT, offset,
					   "packet block refers to interface %u, but the section "
					   "has %u interface description block(s)",
					   ifid, r->if_count);
		ifc = &r->ifs[ifid];
		units = (uint64_t)rd32(p + 12, sw) << 32 | rd32(p + 16, sw);
		if (!pcapng_ts(ifc, units, &pkt->ts_ns))
			return pcapng_ts_fail(r, ifc, units, offset);
		pkt->data = p + PCAPNG_EPB_HDR_LEN;
		pkt->cap_len = caplen;
		pkt->orig_len = rd32(p + 24, sw);
		pkt->link_type = ifc->link_type;
		pkt->interface_id = ifid;
		ret = STEP_PACKET;
		break;
	case PCAPNG_SPB:
		/* carries no timestamp */
		pkt->data = p + PCAPNG_SPB_HDR_LEN;
		pkt->ts_ns = 0;
		pkt->cap_len = caplen;
		pkt->orig_len = rd32(p + 8, sw);
		pkt->link_type = r->ifs[0].link_type;
		pkt->interface_id = 0;
		ret = STEP_PACKET;
		break;
	default:
		break;
	}

	if (big) {
		r->pos = p + head;
		r->skipping = true;
		r->skip_type = type;
		r->skip_len = len;
		r->skip_left = len - head - 4;
		r->skip_offset = offset;
	} else {
		r->pos = p + len;
	}
	return ret;
}

/* ---- batches ---- */

static int reader_parse(struct pcap_reader *r, struct pcap_packet *pkts, int max, int *stop)
{
	int n = 0, ret;

	while (n < max) {
		/* the byte order is hoisted out of the record loops */
		if (r->pcapng)
			n += r->swapped ? pcapng_run(r, pkts + n, max - n, true) :
					  pcapng_run(r, pkts + n, max - n, false);
		else if (r->lengths == LENGTHS_AS_IS)
			n += r->swapped ? pcap_run(r, pkts + n, max - n, true) :
					  pcap_run(r, pkts + n, max - n, false);
		if (n == max)
			break;
		ret = r->pcapng ? pcapng_step(r, &pkts[n]) : pcap_step(r, &pkts[n]);
		if (ret == STEP_PACKET)
			n++;
		else if (ret != STEP_BLOCK) {
			*stop = ret;
			break;
		}
		if (r->skipping) {
			/* the rest of a big block is skipped at the start of the next batch */
			*stop = STEP_MORE;
			break;
		}
	}
	return n;
}

static ssize_t stream_read(struct pcap_reader *r, uint8_t *dst, size_t len)
{
	ssize_t n = fd_read_input(r->fd, r->regular, dst, len);

	if (n > 0)
		r->file_read += (uint64_t)n;
	return n;
}

/*
 * The file ended before the size it had when opened: it shrank under the reader (a capture
 * rotated by truncation). Reading stops here, with both sizes named. Returns whether it did.
 */
static bool stream_check_shrunk(struct pcap_reader *r, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size >= r->file_size)
		return false;
	stream_fail(r, PCAP_READER_IO_ERROR,
		    "the file shrank to %" PRIu64 " bytes while it was read (it had %" PRIu64
		    " when opened)",
		    (uint64_t)st.st_size, r->file_size);
	return true;
}

/* The inflater's stream has ended: take over its verdict. */
static void inflater_finish(struct pcap_reader *r)
{
	const char *message;
	enum gzip_inflate_result result = gzip_inflater_finish(r->inflater, &message);

	/* a gzip file cut short looks like a truncated stream: say why it ended */
	if (r->stat_fd >= 0 && stream_check_shrunk(r, r->stat_fd))
		return;
	switch (result) {
	case GZIP_INFLATE_OK:
		break;
	case GZIP_INFLATE_TRUNCATED:
		r->gz_truncated = true;
		break;
	case GZIP_INFLATE_CORRUPT:
		stream_fail(r, PCAP_READER_CORRUPT, "%s", message);
		break;
	case GZIP_INFLATE_IO_ERROR:
		stream_fail(r, PCAP_READER_IO_ERROR, "%s", message);
		break;
	}
}

/* Could more bytes come in without blocking? Lets a pipe deliver what it has without waiting. */
static bool stream_has_input(struct pcap_reader *r)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

	if (r->regular || r->in_eof)
		return true;
	return poll(&pfd, 1, 0) != 0;
}

static void stream_step_raw(struct pcap_reader *r)
{
	size_t have = (size_t)(r->end - r->buf);
	size_t room = STREAM_BUF_LEN - have;
	ssize_t n;

	/* a file grows while it is written: read what it had at open, no more */
	if (r->bounded) {
		uint64_t left = r->file_read < r->read_limit ? r->read_limit - r->file_read : 0;

		if (left == 0) {
			r->in_eof = true;
			r->at_eof = true;
			return;
		}
		if (room > left)
			room = (size_t)left;
	}
	n = stream_read(r, r->buf + have, room);
	if (n < 0) {
		stream_fail(r, PCAP_READER_IO_ERROR, "read error: %s", strerror((int)-n));
		return;
	}
	if (n == 0 && r->bounded) {
		if (!stream_check_shrunk(r, r->fd))
			stream_fail(r, PCAP_READER_IO_ERROR,
				    "the file ended after %" PRIu64 " of the %" PRIu64
				    " bytes it had when opened",
				    r->file_read, r->read_limit);
		r->in_eof = true;
		return;
	}
	if (n == 0) {
		r->in_eof = true;
		r->at_eof = true;
		if (r->inflater)
			inflater_finish(r);
		return;
	}
	r->end += n;
}

/*
 * Gets at least need bytes buffered from pos (unless the capture ends first), then keeps
 * reading while that cannot block and there is room.
 */
static void stream_fill(struct pcap_reader *r, size_t need)
{
	size_t avail = (size_t)(r->end - r->pos);
	size_t tail = STREAM_BUF_LEN - (size_t)(r->end - r->buf);

	if (r->at_eof)
		return;
	/* moving the unconsumed bytes down is cheap: it happens once per buffer, not per batch */
	if (r->pos != r->buf && (tail < STREAM_LOW_WATER || avail + tail < need)) {
		memmove(r->buf, r->pos, avail);
		r->base_offset += (uint64_t)(r->pos - r->buf);
		r->pos = r->buf;
		r->end = r->buf + avail;
	}
	while (!r->at_eof && r->end < r->buf + STREAM_BUF_LEN) {
		if ((size_t)(r->end - r->pos) >= need && !stream_has_input(r))
			break;
		stream_step_raw(r);
	}
}

/* A block larger than the buffer: stream past it, then check its trailing length. */
static int stream_skip(struct pcap_reader *r)
{
	size_t avail, take;
	uint32_t trailer;

	for (;;) {
		avail = (size_t)(r->end - r->pos);
		take = avail < r->skip_left ? avail : (size_t)r->skip_left;
		r->pos += take;
		r->skip_left -= take;
		if (!r->skip_left)
			break;
		if (r->at_eof)
			return reader_cut_short(r, r->skip_offset, r->skip_len - 4 - r->skip_left,
						r->skip_len, "block");
		stream_fill(r, 1);
	}
	if ((size_t)(r->end - r->pos) < 4)
		stream_fill(r, 4);
	avail = (size_t)(r->end - r->pos);
	if (avail < 4)
		return reader_cut_short(r, r->skip_offset, r->skip_len - 4 + avail, r->skip_len,
					"block");
	trailer = rd32(r->pos, r->swapped);
	if (trailer != r->skip_len)
		return reader_fail(
			r, PCAP_READER_CORRUPT, r->skip_offset,
			"block type 0x%x: trailing length %u differs from leading length %u",
			r->skip_type, trailer, r->skip_len);
	r->pos += 4;
	r->skipping = false;
	return 0;
}

static int stream_prepare(struct pcap_reader *r)
{
	size_t avail;

	if (r->skipping && stream_skip(r) < 0)
		return -1;
	avail = (size_t)(r->end - r->pos);
	/*
	 * Blocks only for bytes the parser asked for (a record cut by the buffer's end): what a
	 * pipe has delivered is parsed without waiting for more, which may never come.
	 */
	if (!r->at_eof && (avail < STREAM_LOW_WATER || avail < r->want))
		stream_fill(r, r->want > avail ? r->want : avail ? avail : 1);
	r->want = 0;
	return 0;
}

int pcap_reader_next_batch(struct pcap_reader *r, struct pcap_packet *packets, int max)
{
	int n, stop;

	if (r->status != PCAP_READER_OK)
		return -1;
	if (max <= 0)
		return 0;
	for (;;) {
		if (stream_prepare(r) < 0)
			return -1;
		stop = STEP_BLOCK;
		n = reader_parse(r, packets, max, &stop);
		if (n > 0)
			return n;
		if (stop == STEP_END)
			return 0;
		if (stop == STEP_STOP)
			return -1;
		/* STEP_MORE: refill and try again */
	}
}

/* ---- open and close ---- */

/* Reads the file header at pos; returns 0 or a negative errno with err filled in. */
static int reader_parse_header(struct pcap_reader *r, char *err, size_t err_len)
{
	const char *after = r->gzip ? " after gzip decompression" : "";
	size_t avail = (size_t)(r->end - r->pos);
	const uint8_t *p = r->pos;
	uint16_t major, minor;
	uint32_t magic;

	if (avail < PCAP_FILE_HDR_LEN && r->src_status != PCAP_READER_OK) {
		snprintf(err, err_len, "%s", r->src_msg);
		return -EIO;
	}
	if (avail == 0) {
		snprintf(err, err_len, "%s: empty file%s", r->name, after);
		return -EINVAL;
	}
	if (avail < 4) {
		snprintf(err, err_len, "%s: not a pcap or pcapng file (only %zu bytes%s)", r->name,
			 avail, after);
		return -EINVAL;
	}
	memcpy(&magic, p, sizeof(magic));
	if (magic == PCAP_MAGIC_US || magic == __builtin_bswap32(PCAP_MAGIC_US)) {
		r->ts_unit = 1000;
		r->format = r->gzip ? "pcap+gzip" : "pcap";
	} else if (magic == PCAP_MAGIC_NS || magic == __builtin_bswap32(PCAP_MAGIC_NS)) {
		r->ts_unit = 1;
		r->format = r->gzip ? "pcap-ns+gzip" : "pcap-ns";
	} else if (magic == PCAPNG_SHB) {
		/* the section header is read as a block, with every check a later one gets */
		r->pcapng = true;
		r->format = r->gzip ? "pcapng+gzip" : "pcapng";
		return 0;
	} else {
		snprintf(err, err_len, "%s: not a pcap or pcapng file (magic 0x%08x%s)", r->name,
			 be32_bytes(p), after);
		return -EINVAL;
	}
	r->swapped = magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS;
	if (avail < PCAP_FILE_HDR_LEN) {
		snprintf(err, err_len, "%s: truncated pcap file header (have %zu of %d bytes%s)",
			 r->name, avail, PCAP_FILE_HDR_LEN, after);
		return -EINVAL;
	}
	/* the versions libpcap reads (sf-pcap.c), with its record layouts */
	major = rd16(p + 4, r->swapped);
	minor = rd16(p + 6, r->swapped);
	if (major < 2) {
		snprintf(err, err_len, "%s: archaic pcap savefile format (version %u.%u)", r->name,
			 major, minor);
		return -EINVAL;
	}
	if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0))) {
		snprintf(err, err_len,
			 "%s: unsupported pcap savefile version %u.%u (2.0 to 2.4 are read)",
			 r->name, major, minor);
		return -EINVAL;
	}
	if (major == 543 || minor < 3)
		r->lengths = LENGTHS_SWAPPED;
	else if (minor == 3)
		r->lengths = LENGTHS_MAYBE_SWAPPED;
	r->link_type = rd32(p + 20, r->swapped) & PCAP_LINKTYPE_MASK;
	r->pos = p + PCAP_FILE_HDR_LEN;
	return 0;
}

/* Sets up the buffer, telling gzip from raw by the first two bytes. */
static int stream_start(struct pcap_reader *r, char *err, size_t err_len)
{
	uint8_t first[GZIP_INFLATE_IN_LEN];
	size_t got = 0;
	ssize_t n;

	r->buf = malloc(STREAM_BUF_LEN);
	if (!r->buf) {
		snprintf(err, err_len, "%s: out of memory", r->name);
		return -ENOMEM;
	}
	r->base = r->pos = r->end = r->buf;
	while (got < 2) {
		size_t room = sizeof(first) - got;

		if (r->bounded && room > r->read_limit - r->file_read)
			room = (size_t)(r->read_limit - r->file_read);
		n = room ? stream_read(r, first + got, room) : 0;
		if (n < 0) {
			snprintf(err, err_len, "%s: %s", r->name, strerror((int)-n));
			return (int)n;
		}
		if (n == 0) {
			r->in_eof = true;
			break;
		}
		got += (size_t)n;
	}
	if (got >= 2 && first[0] == 0x1f && first[1] == 0x8b) {
		r->gzip = true;
		r->bounded = false;
		if (r->regular) {
			r->stat_fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
			if (r->stat_fd < 0) {
				snprintf(err, err_len, "%s: %s", r->name, strerror(errno));
				return -errno;
			}
		}
		if (gzip_inflater_start(r->fd, r->regular, r->in_eof, first, got, r->name,
					&r->inflater, &r->fd, err, err_len) < 0)
			return -1;
		r->regular = false;
		r->in_eof = false;
		r->file_read = 0;
	} else {
		memcpy(r->buf, first, got);
		r->end = r->buf + got;
		r->at_eof = r->in_eof;
	}
	stream_fill(r, PCAP_FILE_HDR_LEN);
	return 0;
}

struct pcap_reader *pcap_reader_open(const char *path, char *err, size_t err_len)
{
	bool is_stdin = strcmp(path, "-") == 0;
	struct pcap_reader *r;
	char scratch[256];
	struct stat st;

	if (!err || !err_len) {
		err = scratch;
		err_len = sizeof(scratch);
	}
	err[0] = '\0';
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_len, "%s: out of memory", path);
		goto cleanup;
	}
	r->fd = -1;
	r->stat_fd = -1;
	r->name = strdup(is_stdin ? "stdin" : path);
	if (!r->name) {
		snprintf(err, err_len, "%s: out of memory", path);
		goto cleanup;
	}
	if (is_stdin) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			snprintf(err, err_len, "%s: %s", path, strerror(errno));
			goto cleanup;
		}
		r->close_fd = true;
	}
	if (fstat(r->fd, &st) < 0) {
		snprintf(err, err_len, "%s: %s", r->name, strerror(errno));
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "%s: is a directory", r->name);
		goto cleanup;
	}
	if (S_ISREG(st.st_mode)) {
		/* stdin may start anywhere in its file */
		off_t start = lseek(r->fd, 0, SEEK_CUR);

		r->regular = true;
		r->file_size = (uint64_t)st.st_size;
		if (start >= 0 && start <= st.st_size) {
			r->bounded = true;
			r->read_limit = (uint64_t)(st.st_size - start);
		}
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	if (stream_start(r, err, err_len) < 0)
		goto cleanup;
	if (reader_parse_header(r, err, err_len) < 0)
		goto cleanup;
	return r;

cleanup:
	pcap_reader_close(r);
	return NULL;
}

void pcap_reader_close(struct pcap_reader *r)
{
	if (!r)
		return;
	if (r->inflater) {
		/* closing the pipe first makes a blocked writer fail instead of wait */
		close(r->fd);
		r->fd = gzip_inflater_stop(r->inflater);
	}
	if (r->close_fd && r->fd >= 0)
		close(r->fd);
	if (r->stat_fd >= 0)
		close(r->stat_fd);
	free(r->buf);
	free(r->ifs);
	free(r->name);
	free(r);
}

enum pcap_reader_status pcap_reader_status(const struct pcap_reader *r)
{
	return r->status;
}

const char *pcap_reader_message(const struct pcap_reader *r)
{
	return r->status == PCAP_READER_OK ? "" : r->msg;
}

uint64_t pcap_reader_offset(const struct pcap_reader *r)
{
	return reader_pos_offset(r);
}

uint64_t pcap_reader_file_position(const struct pcap_reader *r)
{
	/* compressed input read by the inflater */
	if (r->inflater)
		return gzip_inflater_bytes_read(r->inflater);
	return reader_pos_offset(r);
}

uint64_t pcap_reader_file_size(const struct pcap_reader *r)
{
	return r->file_size;
}

const char *pcap_reader_format(const struct pcap_reader *r)
{
	return r->format;
}
