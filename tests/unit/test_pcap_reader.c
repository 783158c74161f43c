// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for agent/pcap_reader.c. Captures are built byte by byte in memory, written to
 * temp files (plain, gzip, stdin, a pipe) and read back; every path must give the same exact
 * packets, statuses and messages. The last test reads the shared real captures in place and
 * checks their packet counts against pcaps/MANIFEST.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "pcap_reader.h"

#define NSEC 1000000000ULL

/* ---- building captures ---- */

/* One packet as the reader should return it; data is reduced to a hash. */
struct seen {
	uint64_t ts_ns;
	uint32_t cap_len;
	uint32_t orig_len;
	uint32_t link_type;
	uint32_t interface_id;
	uint32_t hash;
};

struct cap {
	uint8_t *d;
	size_t len;
	size_t alloc;
	bool be;	    /* byte order of what is written next */
	uint32_t unit;	    /* pcap: ns per fraction unit */
	uint32_t link_type; /* pcap */
	struct seen *exp;   /* what the reader should return */
	int nexp;
	int aexp;
};

static uint32_t fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint8_t pattern_byte(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static uint32_t pattern_hash(uint32_t seed, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ pattern_byte(seed, i)) * 16777619u;
	return h;
}

static void cap_put(struct cap *c, const void *p, size_t n)
{
	if (c->len + n > c->alloc) {
		c->alloc = (c->len + n) * 2 + 4096;
		c->d = realloc(c->d, c->alloc);
		assert_non_null(c->d);
	}
	memcpy(c->d + c->len, p, n);
	c->len += n;
}

static void put16(struct cap *c, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	if (c->be) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	}
	cap_put(c, b, 2);
}

static void put32(struct cap *c, uint32_t v)
{
	uint8_t b[4];
	int i;

	for (i = 0; i < 4; i++)
		b[c->be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
	cap_put(c, b, 4);
}

static void put64(struct cap *c, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[c->be ? 7 - i : i] = (uint8_t)(v >> (8 * i));
	cap_put(c, b, 8);
}

static void patch32(struct cap *c, size_t off, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		c->d[off + (c->be ? 3 - i : i)] = (uint8_t)(v >> (8 * i));
}

static uint8_t *cap_grow(struct cap *c, size_t n)
{
	uint8_t *p;

	cap_put(c, "", 0);
	if (c->len + n > c->alloc) {
		c->alloc = (c->len + n) * 2 + 4096;
		c->d = realloc(c->d, c->alloc);
		assert_non_null(c->d);
	}
	p = c->d + c->len;
	c->len += n;
	return p;
}

static void put_pattern(struct cap *c, uint32_t seed, size_t len, size_t padded)
{
	uint8_t *p = cap_grow(c, padded);
	size_t i;

	for (i = 0; i < padded; i++)
		p[i] = i < len ? pattern_byte(seed, i) : 0;
}

/* options of about len bytes in all: comments, at most 65532 bytes each */
static void put_options(struct cap *c, uint32_t code, size_t len)
{
	while (len) {
		uint16_t chunk = len > 65532 ? 65532 : (uint16_t)len;

		put16(c, (uint16_t)code);
		put16(c, chunk);
		memset(cap_grow(c, (chunk + 3u) & ~3u), 'x', (chunk + 3u) & ~3u);
		len -= chunk;
	}
}

static void expect(struct cap *c, uint64_t ts, uint32_t cap_len, uint32_t orig_len,
		   uint32_t link_type, uint32_t ifid, uint32_t hash)
{
	if (c->nexp == c->aexp) {
		c->aexp = c->aexp ? c->aexp * 2 : 64;
		c->exp = realloc(c->exp, c->aexp * sizeof(*c->exp));
		assert_non_null(c->exp);
	}
	c->exp[c->nexp++] = (struct seen){ ts, cap_len, orig_len, link_type, ifid, hash };
}

static void cap_free(struct cap *c)
{
	free(c->d);
	free(c->exp);
	memset(c, 0, sizeof(*c));
}

static void pcap_header(struct cap *c, uint32_t magic, bool be, uint32_t snaplen, uint32_t link)
{
	c->be = be;
	c->unit = magic == 0xa1b23c4d ? 1 : 1000;
	c->link_type = link & 0xffff;
	put32(c, magic);
	put16(c, 2);
	put16(c, 4);
	put32(c, 0);
	put32(c, 0);
	put32(c, snaplen);
	put32(c, link);
}

static void pcap_record(struct cap *c, uint32_t sec, uint32_t frac, uint32_t caplen,
			uint32_t origlen, uint32_t seed)
{
	put32(c, sec);
	put32(c, frac);
	put32(c, caplen);
	put32(c, origlen);
	put_pattern(c, seed, caplen, caplen);
	expect(c, sec * NSEC + (uint64_t)frac * c->unit, caplen, origlen, c->link_type, 0,
	       pattern_hash(seed, caplen));
}

/* Starts a pcapng block; ng_end() writes both length fields. */
static size_t ng_begin(struct cap *c, uint32_t type)
{
	size_t start = c->len;

	put32(c, type);
	put32(c, 0);
	return start;
}

static void ng_end(struct cap *c, size_t start)
{
	uint32_t len = (uint32_t)(c->len - start + 4);

	put32(c, len);
	patch32(c, start + 4, len);
}

static void ng_shb(struct cap *c, bool be)
{
	size_t b;

	c->be = be;
	b = ng_begin(c, 0x0a0d0d0a);
	put32(c, 0x1a2b3c4d);
	put16(c, 1);
	put16(c, 0);
	put64(c, UINT64_MAX);
	ng_end(c, b);
}

/* tsresol < 0: no if_tsresol option; has_offset: write if_tsoffset */
static void ng_idb(struct cap *c, uint16_t link, uint32_t snaplen, int tsresol, bool has_offset,
		   int64_t tsoffset)
{
	size_t b = ng_begin(c, 1);

	put16(c, link);
	put16(c, 0);
	put32(c, snaplen);
	/* an if_name option first, so the interesting ones are not at a fixed place */
	put16(c, 2);
	put16(c, 3);
	cap_put(c, "eth\0", 4);
	if (tsresol >= 0) {
		put16(c, 9);
		put16(c, 1);
		cap_put(c, (uint8_t[4]){ (uint8_t)tsresol, 0, 0, 0 }, 4);
	}
	if (has_offset) {
		put16(c, 14);
		put16(c, 8);
		put64(c, (uint64_t)tsoffset);
	}
	put16(c, 0);
	put16(c, 0);
	ng_end(c, b);
}

/* Enhanced (type 6) or obsolete (type 2) packet block; opt_len bytes of comment option. */
static void ng_packet(struct cap *c, uint32_t type, uint32_t ifid, uint64_t units, uint32_t caplen,
		      uint32_t origlen, uint32_t seed, uint32_t opt_len)
{
	size_t b = ng_begin(c, type);

	if (type == 2) {
		put16(c, (uint16_t)ifid);
		put16(c, 0);
	} else {
		put32(c, ifid);
	}
	put32(c, (uint32_t)(units >> 32));
	put32(c, (uint32_t)units);
	put32(c, caplen);
	put32(c, origlen);
	put_pattern(c, seed, caplen, (caplen + 3) & ~3u);
	if (opt_len) {
		put_options(c, 1, opt_len);
		put32(c, 0);
	}
	ng_end(c, b);
}

static void ng_spb(struct cap *c, uint32_t origlen, uint32_t datalen, uint32_t seed)
{
	size_t b = ng_begin(c, 3);

	put32(c, origlen);
	put_pattern(c, seed, datalen, (datalen + 3) & ~3u);
	ng_end(c, b);
}

static void ng_other(struct cap *c, uint32_t type, uint32_t body)
{
	size_t b = ng_begin(c, type);

	put_pattern(c, type, body, body);
	ng_end(c, b);
}

/* ---- files ---- */

/* temp files still on disk, so a failed assertion does not leave them behind */
static char *temps[16];

static char *write_temp(const void *data, size_t len)
{
	char path[] = "/tmp/test_pcap_reader.XXXXXX";
	int fd = mkstemp(path);
	size_t i;

	assert_true(fd >= 0);
	for (i = 0; i < sizeof(temps) / sizeof(temps[0]) && temps[i]; i++)
		;
	assert_true(i < sizeof(temps) / sizeof(temps[0]));
	temps[i] = strdup(path);
	assert_non_null(temps[i]);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return temps[i];
}

/* gzip with zlib's file API, split into members at the given capture offsets */
static char *write_temp_gz(const void *data, size_t len, const size_t *splits, int nsplit)
{
	char *path = write_temp("", 0);
	size_t from = 0;
	gzFile gz;
	int i;

	for (i = 0; i <= nsplit; i++) {
		size_t to = i < nsplit ? splits[i] : len;

		gz = gzopen(path, i == 0 ? "wb6" : "ab6");
		assert_non_null(gz);
		if (to > from)
			assert_int_equal(gzwrite(gz, (const uint8_t *)data + from,
						 (unsigned)(to - from)),
					 (int)(to - from));
		assert_int_equal(gzclose(gz), Z_OK);
		from = to;
	}
	return path;
}

/* one gzip member in memory, for the pipe tests */
static uint8_t *gzip_mem(const void *data, size_t len, size_t *out_len)
{
	z_stream zs = { 0 };
	size_t cap = compressBound(len) + 64;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	zs.next_in = (uint8_t *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void remove_temp(char *path)
{
	size_t i;

	for (i = 0; i < sizeof(temps) / sizeof(temps[0]); i++)
		if (temps[i] == path)
			temps[i] = NULL;
	unlink(path);
	free(path);
}

static int remove_temps(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(temps) / sizeof(temps[0]); i++)
		if (temps[i])
			remove_temp(temps[i]);
	return 0;
}

/* ---- reading ---- */

struct result {
	bool opened;
	char open_err[1024];
	struct seen *pkts;
	int count;
	int alloc;
	int calls_after_end; /* what the reader returned when called again after the end */
	enum pcap_reader_status status;
	char msg[1024];
	char format[32];
	uint64_t offset;
	uint64_t file_pos;
	uint64_t file_size;
};

static void result_free(struct result *res)
{
	free(res->pkts);
	memset(res, 0, sizeof(*res));
}

/* What happens to the file after the first batch was read, or NULL. */
typedef void (*file_change_fn)(const char *path);

static void read_all_changing(const char *path, int batch, struct result *res,
			      file_change_fn change)
{
	struct pcap_packet *pk = calloc(batch, sizeof(*pk));
	struct pcap_reader *r;
	int n, i, batches = 0;

	assert_non_null(pk);
	memset(res, 0, sizeof(*res));
	r = pcap_reader_open(path, res->open_err, sizeof(res->open_err));
	if (!r) {
		free(pk);
		return;
	}
	res->opened = true;
	snprintf(res->format, sizeof(res->format), "%s", pcap_reader_format(r));
	while ((n = pcap_reader_next_batch(r, pk, batch)) > 0) {
		assert_true(n <= batch);
		if (change && batches++ == 0)
			change(path);
		for (i = 0; i < n; i++) {
			if (res->count == res->alloc) {
				res->alloc = res->alloc ? res->alloc * 2 : 256;
				res->pkts = realloc(res->pkts, res->alloc * sizeof(*res->pkts));
				assert_non_null(res->pkts);
			}
			/* hashed only now: every pointer of a batch must still be valid */
			res->pkts[res->count++] = (struct seen){
				pk[i].ts_ns,	    pk[i].cap_len,
				pk[i].orig_len,	    pk[i].link_type,
				pk[i].interface_id, fnv1a(pk[i].data, pk[i].cap_len),
			};
		}
	}
	res->status = pcap_reader_status(r);
	snprintf(res->msg, sizeof(res->msg), "%s", pcap_reader_message(r));
	/* the end is sticky: 0 stays 0, -1 stays -1 */
	res->calls_after_end = pcap_reader_next_batch(r, pk, batch);
	assert_int_equal(res->calls_after_end, n);
	if (n == 0)
		assert_int_equal(res->status, PCAP_READER_OK);
	else
		assert_int_not_equal(res->status, PCAP_READER_OK);
	res->offset = pcap_reader_offset(r);
	res->file_pos = pcap_reader_file_position(r);
	res->file_size = pcap_reader_file_size(r);
	pcap_reader_close(r);
	free(pk);
}

static void read_all(const char *path, int batch, struct result *res)
{
	read_all_changing(path, batch, res, NULL);
}

static void read_stdin_fd(int fd, int batch, struct result *res)
{
	int saved = dup(STDIN_FILENO);

	assert_true(saved >= 0);
	assert_true(dup2(fd, STDIN_FILENO) >= 0);
	close(fd);
	read_all("-", batch, res);
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
}

static void read_stdin_file(const char *path, int batch, struct result *res)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	read_stdin_fd(fd, batch, res);
}

/* stdin as a pipe fed by a child in small pieces, so the reader sees short reads */
static void read_stdin_pipe(const void *data, size_t len, int batch, struct result *res)
{
	const uint8_t *p = data;
	int fds[2], status;
	size_t off = 0, chunk;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		while (off < len) {
			chunk = len - off < 7001 ? len - off : 7001;
			if (write(fds[1], p + off, chunk) != (ssize_t)chunk)
				_exit(1);
			off += chunk;
		}
		_exit(0);
	}
	close(fds[1]);
	read_stdin_fd(fds[0], batch, res);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* a reader that stopped on an error need not drain its input: the writer may get EPIPE */
	if (res->status == PCAP_READER_OK || res->status == PCAP_READER_TRUNCATED)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	else
		assert_true(WIFEXITED(status) ||
			    (WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE));
}

static void assert_packet_prefix(const struct result *res, const struct seen *exp, int nexp)
{
	int i;

	assert_true(res->count >= nexp);
	for (i = 0; i < nexp; i++) {
		const struct seen *g = &res->pkts[i], *w = &exp[i];

		if (g->ts_ns == w->ts_ns && g->cap_len == w->cap_len &&
		    g->orig_len == w->orig_len && g->link_type == w->link_type &&
		    g->interface_id == w->interface_id && g->hash == w->hash)
			continue;
		print_error("packet %d: got ts %" PRIu64 " cap %u orig %u link %u if %u hash %08x,"
			    " want ts %" PRIu64 " cap %u orig %u link %u if %u hash %08x\n",
			    i, res->pkts[i].ts_ns, res->pkts[i].cap_len, res->pkts[i].orig_len,
			    res->pkts[i].link_type, res->pkts[i].interface_id, res->pkts[i].hash,
			    exp[i].ts_ns, exp[i].cap_len, exp[i].orig_len, exp[i].link_type,
			    exp[i].interface_id, exp[i].hash);
		fail();
	}
}

static void assert_packets(const struct result *res, const struct seen *exp, int nexp)
{
	assert_int_equal(res->count, nexp);
	assert_packet_prefix(res, exp, nexp);
}

/* "PATH: rest" with PATH replaced by what the reader calls that input */
static void assert_message(const char *msg, const char *name, const char *rest)
{
	char want[1200];

	snprintf(want, sizeof(want), "%s: %s", name, rest);
	assert_string_equal(msg, want);
}

/*
 * Reads one capture through every input path: the file (two batch sizes), the file
 * gzip-compressed in two members, stdin from that file, and stdin from a pipe of gzip data.
 * All must give the packets in c->exp and the same status and message (rest: the message after
 * "PATH: ", "" for a clean end).
 */
static void check_all_paths(const struct cap *c, const char *format, enum pcap_reader_status status,
			    const char *rest)
{
	size_t split = c->len / 3, gz_len;
	char *plain = write_temp(c->d, c->len);
	char *gz = write_temp_gz(c->d, c->len, &split, 1);
	uint8_t *gz_mem = gzip_mem(c->d, c->len, &gz_len);
	char gz_format[64];
	struct result res;
	int batch;

	snprintf(gz_format, sizeof(gz_format), "%s+gzip", format);
	for (batch = 1; batch <= 64; batch += 63) {
		read_all(plain, batch, &res);
		assert_true(res.opened);
		assert_string_equal(res.format, format);
		assert_packets(&res, c->exp, c->nexp);
		assert_int_equal(res.status, status);
		if (status == PCAP_READER_OK) {
			assert_string_equal(res.msg, "");
			assert_int_equal(res.offset, c->len);
			assert_int_equal(res.file_pos, c->len);
		} else {
			assert_message(res.msg, plain, rest);
		}
		assert_int_equal(res.file_size, c->len);
		result_free(&res);
	}

	read_all(gz, 64, &res);
	assert_true(res.opened);
	assert_string_equal(res.format, gz_format);
	assert_packets(&res, c->exp, c->nexp);
	assert_int_equal(res.status, status);
	if (status == PCAP_READER_OK) {
		assert_int_equal(res.offset, c->len);
		assert_int_equal(res.file_pos, file_size(gz));
	} else {
		assert_message(res.msg, gz, rest);
	}
	assert_int_equal(res.file_size, file_size(gz));
	result_free(&res);

	read_stdin_file(plain, 5, &res);
	assert_true(res.opened);
	assert_string_equal(res.format, format);
	assert_packets(&res, c->exp, c->nexp);
	assert_int_equal(res.status, status);
	if (status != PCAP_READER_OK)
		assert_message(res.msg, "stdin", rest);
	result_free(&res);

	read_stdin_pipe(gz_mem, gz_len, 64, &res);
	assert_true(res.opened);
	assert_string_equal(res.format, gz_format);
	assert_packets(&res, c->exp, c->nexp);
	assert_int_equal(res.status, status);
	if (status != PCAP_READER_OK)
		assert_message(res.msg, "stdin", rest);
	assert_int_equal(res.file_size, 0);
	if (status == PCAP_READER_OK)
		assert_int_equal(res.file_pos, gz_len);
	result_free(&res);

	free(gz_mem);
	remove_temp(plain);
	remove_temp(gz);
}

/* ---- classic pcap ---- */

static void test_pcap_us_le(void **state)
{
	struct cap c = { 0 };

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 2, 60, 60, 1);
	pcap_record(&c, 1700000000, 999999, 100, 1500, 2);
	pcap_record(&c, 0, 0, 0, 0, 3);
	pcap_record(&c, 5, 6, 1514, 9000, 4);
	assert_int_equal(c.exp[0].ts_ns, 1000002000ULL);
	assert_int_equal(c.exp[1].ts_ns, 1700000000999999000ULL);
	assert_int_equal(c.exp[3].ts_ns, 5000006000ULL);
	assert_int_equal(c.exp[1].link_type, 1);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	cap_free(&c);
}

static void test_pcap_ns_be(void **state)
{
	struct cap c = { 0 };

	(void)state;
	/* FCS bits above the 16-bit link type must not leak into it */
	pcap_header(&c, 0xa1b23c4d, true, 0, 0x14000071);
	pcap_record(&c, 1234567890, 123456789, 42, 42, 7);
	pcap_record(&c, 1234567891, 5, 77, 80, 8);
	assert_int_equal(c.d[0], 0xa1);
	assert_int_equal(c.exp[0].ts_ns, 1234567890123456789ULL);
	assert_int_equal(c.exp[1].ts_ns, 1234567891000000005ULL);
	assert_int_equal(c.exp[0].link_type, 113);
	check_all_paths(&c, "pcap-ns", PCAP_READER_OK, "");
	cap_free(&c);

	/* the other two magic/order combinations */
	pcap_header(&c, 0xa1b2c3d4, true, 65535, 101);
	pcap_record(&c, 3, 4, 10, 10, 9);
	assert_int_equal(c.exp[0].ts_ns, 3000004000ULL);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	cap_free(&c);
	pcap_header(&c, 0xa1b23c4d, false, 65535, 228);
	pcap_record(&c, 3, 4, 10, 10, 9);
	assert_int_equal(c.exp[0].ts_ns, 3000000004ULL);
	check_all_paths(&c, "pcap-ns", PCAP_READER_OK, "");
	cap_free(&c);
}

static void test_pcap_fraction_out_of_range(void **state)
{
	struct cap c = { 0 };

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 10, 1500000, 20, 20, 1);
	pcap_record(&c, 0xffffffff, 0xffffffff, 20, 20, 2);
	assert_int_equal(c.exp[0].ts_ns, 11500000000ULL);
	assert_int_equal(c.exp[1].ts_ns, 4294971589967295000ULL);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	cap_free(&c);

	pcap_header(&c, 0xa1b23c4d, true, 65535, 1);
	pcap_record(&c, 0xffffffff, 0xffffffff, 20, 20, 3);
	pcap_record(&c, 7, 2000000000, 20, 20, 4);
	assert_int_equal(c.exp[0].ts_ns, 4294967299294967295ULL);
	assert_int_equal(c.exp[1].ts_ns, 9000000000ULL);
	check_all_paths(&c, "pcap-ns", PCAP_READER_OK, "");
	cap_free(&c);
}

static void test_pcap_truncated_last_record(void **state)
{
	struct cap c = { 0 };
	size_t full;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 0, 100, 100, 1);
	pcap_record(&c, 2, 0, 100, 100, 2);
	full = c.len;
	pcap_record(&c, 3, 0, 100, 100, 3);
	c.nexp--;
	/* data cut short: 24 + 2 * 116 = 256 */
	c.len -= 10;
	check_all_paths(&c, "pcap", PCAP_READER_TRUNCATED,
			"offset 256: truncated last record (have 106 of 116 bytes)");
	/* record header cut short */
	c.len = full + 5;
	check_all_paths(&c, "pcap", PCAP_READER_TRUNCATED,
			"offset 256: truncated last record (have 5 of 16 bytes)");
	cap_free(&c);
}

static void test_pcap_caplen_too_large(void **state)
{
	struct cap c = { 0 };
	char *path;
	struct result res;

	(void)state;
	/* like ndpi-fuzz-2021-10-13-badcaplen.pcap: snaplen 0, and a length running past EOF */
	pcap_header(&c, 0xa1b23c4d, false, 0, 0);
	put32(&c, 1);
	put32(&c, 2);
	put32(&c, 524501);
	put32(&c, 524501);
	put_pattern(&c, 1, 199, 199);
	check_all_paths(&c, "pcap-ns", PCAP_READER_CORRUPT,
			"offset 24: record captured length 524501 exceeds the 262144-byte limit");
	cap_free(&c);

	/* after good packets, and with the whole record present; one above the limit */
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 0, 50, 50, 1);
	pcap_record(&c, 2, 0, 60, 60, 2);
	put32(&c, 3);
	put32(&c, 0);
	put32(&c, PCAP_READER_MAX_RECORD + 1);
	put32(&c, PCAP_READER_MAX_RECORD + 1);
	put_pattern(&c, 3, PCAP_READER_MAX_RECORD + 1, PCAP_READER_MAX_RECORD + 1);
	check_all_paths(&c, "pcap", PCAP_READER_CORRUPT,
			"offset 166: record captured length 262145 exceeds the 262144-byte limit");
	cap_free(&c);

	/* exactly the limit is a packet */
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 0, PCAP_READER_MAX_RECORD, PCAP_READER_MAX_RECORD, 1);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	cap_free(&c);

	/* the first batch returns the good packets, the next call the error */
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 0, 50, 50, 1);
	put32(&c, 3);
	put32(&c, 0);
	put32(&c, 0xffffffff);
	put32(&c, 0);
	path = write_temp(c.d, c.len);
	{
		struct pcap_packet pk[8];
		char err[256];
		struct pcap_reader *r = pcap_reader_open(path, err, sizeof(err));

		assert_non_null(r);
		assert_int_equal(pcap_reader_next_batch(r, pk, 8), 1);
		assert_int_equal(pk[0].cap_len, 50);
		assert_int_equal(pcap_reader_next_batch(r, pk, 8), -1);
		assert_int_equal(pcap_reader_status(r), PCAP_READER_CORRUPT);
		assert_int_equal(pcap_reader_offset(r), 90);
		pcap_reader_close(r);
	}
	read_all(path, 64, &res);
	assert_int_equal(res.count, 1);
	result_free(&res);
	remove_temp(path);
	cap_free(&c);
}

/* The file header's version fields, in the capture's byte order. */
static void pcap_set_version(struct cap *c, uint16_t major, uint16_t minor)
{
	size_t len = c->len;

	c->len = 4;
	put16(c, major);
	put16(c, minor);
	c->len = len;
}

/* A record written the way pcap before 2.3 (and DG/UX 543.0) lays it out: wire length first. */
static void pcap_record_swapped(struct cap *c, uint32_t sec, uint32_t caplen, uint32_t origlen,
				uint32_t seed)
{
	put32(c, sec);
	put32(c, 0);
	put32(c, origlen);
	put32(c, caplen);
	put_pattern(c, seed, caplen, caplen);
	expect(c, sec * NSEC, caplen, origlen, c->link_type, 0, pattern_hash(seed, caplen));
}

static void assert_open_fails(const struct cap *c, const char *rest)
{
	char *path = write_temp(c->d, c->len);
	char *gz = write_temp_gz(c->d, c->len, NULL, 0);
	char want[1200];
	struct result res;

	read_all(path, 64, &res);
	assert_false(res.opened);
	assert_message(res.open_err, path, rest);
	read_all(gz, 64, &res);
	assert_false(res.opened);
	assert_message(res.open_err, gz, rest);
	read_stdin_file(path, 64, &res);
	assert_false(res.opened);
	snprintf(want, sizeof(want), "stdin: %s", rest);
	assert_string_equal(res.open_err, want);
	remove_temp(path);
	remove_temp(gz);
}

/* The versions libpcap reads (sf-pcap.c): 2.0 to 2.4 and DG/UX's 543.0, nothing else. */
static void test_pcap_versions(void **state)
{
	static const uint16_t refused[][2] = { { 2, 5 }, { 3, 0 }, { 543, 1 }, { 0xffff, 4 } };
	struct cap c = { 0 };
	size_t i;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_set_version(&c, 1, 4);
	assert_open_fails(&c, "archaic pcap savefile format (version 1.4)");
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char rest[128];

		pcap_set_version(&c, refused[i][0], refused[i][1]);
		snprintf(rest, sizeof(rest),
			 "unsupported pcap savefile version %u.%u (2.0 to 2.4 are read)",
			 refused[i][0], refused[i][1]);
		assert_open_fails(&c, rest);
	}
	cap_free(&c);

	/* big-endian 2.0: the wire length comes first in every record */
	pcap_header(&c, 0xa1b2c3d4, true, 65535, 1);
	pcap_set_version(&c, 2, 0);
	pcap_record_swapped(&c, 1, 60, 1514, 1);
	pcap_record_swapped(&c, 2, 40, 40, 2);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	pcap_set_version(&c, 2, 2);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	pcap_set_version(&c, 543, 0);
	check_all_paths(&c, "pcap", PCAP_READER_OK, "");
	cap_free(&c);

	/* 2.3 was written both ways: swapped only where "caplen" > "len" */
	pcap_header(&c, 0xa1b23c4d, false, 65535, 101);
	pcap_set_version(&c, 2, 3);
	pcap_record(&c, 1, 0, 60, 1514, 1);
	pcap_record_swapped(&c, 2, 96, 1500, 2);
	pcap_record(&c, 3, 0, 70, 70, 3);
	check_all_paths(&c, "pcap-ns", PCAP_READER_OK, "");
	cap_free(&c);

	/* 2.1: a swapped wire length that is too big for a record is still corruption */
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_set_version(&c, 2, 1);
	pcap_record_swapped(&c, 1, 10, 10, 1);
	put32(&c, 2);
	put32(&c, 0);
	put32(&c, 100);
	put32(&c, 300000);
	check_all_paths(&c, "pcap", PCAP_READER_CORRUPT,
			"offset 50: record captured length 300000 exceeds the 262144-byte limit");
	cap_free(&c);
}

/* ---- pcapng ---- */

static void test_pcapng_sections(void **state)
{
	struct cap c = { 0 };

	(void)state;
	/* section 1, little-endian: ns interface and 2^-3 s interface with a 100 s offset */
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, 9, false, 0);
	ng_idb(&c, 113, 128, 0x83, true, 100);
	ng_packet(&c, 6, 0, 1234567890123456789ULL, 60, 64, 1, 0);
	expect(&c, 1234567890123456789ULL, 60, 64, 1, 0, pattern_hash(1, 60));
	/* 8005 eighths of a second: 1000.625 s, plus 100 s */
	ng_packet(&c, 6, 1, 8005, 33, 33, 2, 13);
	expect(&c, 1100625000000ULL, 33, 33, 113, 1, pattern_hash(2, 33));
	ng_other(&c, 0x0bad, 20);
	ng_other(&c, 5, 0); /* interface statistics */
	/* obsolete packet block on interface 1: 2 s + 100 s */
	ng_packet(&c, 2, 1, 16, 10, 20, 3, 0);
	expect(&c, 102 * NSEC, 10, 20, 113, 1, pattern_hash(3, 10));
	/* a simple packet block: captured length is the block room when snaplen is 0 */
	ng_spb(&c, 1000, 99, 4);
	/* 99 bytes of data and one byte of padding: all 100 are block room */
	expect(&c, 0, 100, 1000, 1, 0, fnv1a(c.d + c.len - 104, 100));
	assert_int_equal(c.d[c.len - 5], 0);

	/* section 2, big-endian: one µs interface with a negative offset and snaplen 50 */
	ng_shb(&c, true);
	ng_idb(&c, 101, 50, -1, true, -10);
	ng_packet(&c, 6, 0, 20000000, 40, 40, 5, 0);
	expect(&c, 10 * NSEC, 40, 40, 101, 0, pattern_hash(5, 40));
	ng_spb(&c, 80, 80, 6);
	expect(&c, 0, 50, 80, 101, 0, pattern_hash(6, 50));
	ng_spb(&c, 30, 80, 7);
	expect(&c, 0, 30, 30, 101, 0, pattern_hash(7, 30));
	/* a later IDB in the same section */
	ng_idb(&c, 1, 0, 0x80 | 40, false, 0);
	ng_packet(&c, 6, 1, (uint64_t)3 << 40 | 1 << 30, 8, 8, 8, 0);
	/* 3 s + 2^30 / 2^40 s = 3 s + 976562.5 ns, rounded down */
	expect(&c, 3000976562ULL, 8, 8, 1, 1, pattern_hash(8, 8));
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");
	cap_free(&c);
}

static void test_pcapng_ts_resolutions(void **state)
{
	struct cap c = { 0 };

	(void)state;
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, 12, false, 0);	       /* ps: divide */
	ng_idb(&c, 1, 0, 0, true, 1);	       /* seconds */
	ng_idb(&c, 1, 0, 0x80 | 63, false, 0); /* 2^-63 s: needs 128-bit arithmetic */
	ng_idb(&c, 1, 0, 30, false, 0);	       /* 10^-30 s: everything rounds to 0 */
	ng_idb(&c, 1, 0, 0x80 | 0, false, 0);  /* 2^0 = 1 s */
	ng_packet(&c, 6, 0, 123456789012345ULL, 4, 4, 1, 0);
	expect(&c, 123456789012ULL, 4, 4, 1, 0, pattern_hash(1, 4));
	ng_packet(&c, 6, 1, 7, 4, 4, 2, 0);
	expect(&c, 8 * NSEC, 4, 4, 1, 1, pattern_hash(2, 4));
	ng_packet(&c, 6, 2, (uint64_t)1 << 62, 4, 4, 3, 0); /* 2^62 units = 0.5 s */
	expect(&c, 500000000ULL, 4, 4, 1, 2, pattern_hash(3, 4));
	ng_packet(&c, 6, 2, UINT64_MAX, 4, 4, 4, 0); /* just under 2 s */
	expect(&c, 1999999999ULL, 4, 4, 1, 2, pattern_hash(4, 4));
	ng_packet(&c, 6, 3, UINT64_MAX, 4, 4, 5, 0);
	expect(&c, 0, 4, 4, 1, 3, pattern_hash(5, 4));
	ng_packet(&c, 6, 4, 3, 4, 4, 6, 0);
	expect(&c, 3 * NSEC, 4, 4, 1, 4, pattern_hash(6, 4));
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");
	cap_free(&c);
}

static void ng_set_version(struct cap *c, size_t shb, bool be, uint16_t major, uint16_t minor)
{
	size_t len = c->len;
	bool was_be = c->be;

	c->len = shb + 12;
	c->be = be;
	put16(c, major);
	put16(c, minor);
	c->be = was_be;
	c->len = len;
}

/*
 * As libpcap (sf-pcapng.c): the first section must be 1.0 or 1.2 (1.1 was never standardized),
 * a later section only needs major version 1.
 */
static void test_pcapng_versions(void **state)
{
	static const uint16_t refused[][2] = { { 1, 1 }, { 1, 3 }, { 0, 1 }, { 2, 0 } };
	struct cap c = { 0 };
	size_t second;
	char rest[128];
	size_t i;

	(void)state;
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, -1, false, 0);
	ng_packet(&c, 6, 0, 1000, 10, 10, 1, 0);
	expect(&c, 1000000, 10, 10, 1, 0, pattern_hash(1, 10));
	second = c.len;
	ng_shb(&c, true);
	ng_idb(&c, 1, 0, -1, false, 0);
	ng_packet(&c, 6, 0, 2000, 10, 10, 2, 0);
	expect(&c, 2000000, 10, 10, 1, 0, pattern_hash(2, 10));
	ng_set_version(&c, 0, false, 1, 2);
	ng_set_version(&c, second, true, 1, 1);
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");
	ng_set_version(&c, second, true, 1, 7);
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");

	ng_set_version(&c, second, true, 2, 0);
	c.nexp = 1;
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: unsupported pcapng savefile version 2.0 (a later section "
			"must be 1.x)");
	c.nexp = 0;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		ng_set_version(&c, 0, false, refused[i][0], refused[i][1]);
		snprintf(
			rest, sizeof(rest),
			"offset 0: unsupported pcapng savefile version %u.%u (1.0 and 1.2 are read)",
			refused[i][0], refused[i][1]);
		check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT, rest);
	}
	cap_free(&c);
}

/*
 * Times outside 0..INT64_MAX ns never wrap: the block that has one ends the file with an
 * error naming it, and the packets before it are kept.
 */
static void test_pcapng_ts_out_of_range(void **state)
{
	struct cap c = { 0 };
	size_t good;

	(void)state;
	/* SHB 28, IDBs of 32 + 8 with if_tsresol + 12 with if_tsoffset: the EPBs from 260 */
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, 9, false, 0);			  /* ns */
	ng_idb(&c, 1, 0, -1, true, 1);			  /* µs, +1 s: the fast path's bound */
	ng_idb(&c, 1, 0, -1, true, -1000);		  /* µs, -1000 s */
	ng_idb(&c, 1, 0, 0x80 | 1, true, 0);		  /* half seconds */
	ng_idb(&c, 1, 0, 12, true, INT64_MAX / NSEC - 1); /* ps, near the end of time */
	ng_packet(&c, 6, 0, INT64_MAX, 4, 4, 1, 0);
	expect(&c, INT64_MAX, 4, 4, 1, 0, pattern_hash(1, 4));
	ng_packet(&c, 6, 1, 9223372035854775ULL, 4, 4, 2, 0);
	expect(&c, 9223372036854775000ULL, 4, 4, 1, 1, pattern_hash(2, 4));
	ng_packet(&c, 6, 2, 1000000000ULL, 4, 4, 3, 0); /* 1000 s - 1000 s */
	expect(&c, 0, 4, 4, 1, 2, pattern_hash(3, 4));
	ng_packet(&c, 6, 3, 2 * (INT64_MAX / NSEC), 4, 4, 4, 0);
	expect(&c, INT64_MAX / NSEC * NSEC, 4, 4, 1, 3, pattern_hash(4, 4));
	ng_packet(&c, 6, 4, 1000000000000ULL, 4, 4, 5, 0); /* 1 s in ps */
	expect(&c, INT64_MAX / NSEC * NSEC, 4, 4, 1, 4, pattern_hash(5, 4));
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");
	good = c.len;
	assert_int_equal(good, 260 + 5 * 36);

	ng_packet(&c, 6, 0, (uint64_t)INT64_MAX + 1, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 9223372036854775808 units of 10^-9 s plus "
			"if_tsoffset 0 s is 9223372036854775808 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	c.len = good;
	ng_packet(&c, 6, 1, 9223372035854776ULL, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 9223372035854776 units of 10^-6 s plus "
			"if_tsoffset 1 s is 9223372036854776000 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	/* what a real capture gave as first_seen_ns 18446743568315750616: a time before 1970 */
	c.len = good;
	ng_packet(&c, 6, 2, 494606065ULL, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 494606065 units of 10^-6 s plus "
			"if_tsoffset -1000 s is -505393935000 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	c.len = good;
	ng_packet(&c, 6, 3, UINT64_MAX, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 18446744073709551615 units of 2^-1 s plus "
			"if_tsoffset 0 s is 9223372036854775807500000000 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	c.len = good;
	ng_packet(&c, 6, 4, 2000000000000ULL, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 2000000000000 units of 10^-12 s plus "
			"if_tsoffset 9223372035 s is 9223372037000000000 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	/* the obsolete packet block is checked the same way */
	c.len = good;
	ng_packet(&c, 2, 0, UINT64_MAX, 4, 4, 6, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 440: packet timestamp 18446744073709551615 units of 10^-9 s plus "
			"if_tsoffset 0 s is 18446744073709551615 ns, outside the 0 to "
			"9223372036854775807 ns a record can carry");
	cap_free(&c);
}

static void test_pcapng_corrupt(void **state)
{
	struct cap c = { 0 };
	size_t b;

	(void)state;
	/* SHB 28 bytes, IDB 32, EPB 44: the block under test starts at 104 */
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, -1, false, 0);
	ng_packet(&c, 6, 0, 1000, 10, 10, 1, 0);
	expect(&c, 1000000, 10, 10, 1, 0, pattern_hash(1, 10));
	b = c.len;
	assert_int_equal(b, 104);

	/* block length not a multiple of 4 */
	ng_begin(&c, 0x0bad);
	put_pattern(&c, 1, 18, 18);
	put16(&c, 0);
	put32(&c, 30);
	patch32(&c, b + 4, 30);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: block type 0xbad has length 30, not a multiple of 4");
	patch32(&c, b + 4, 8);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: block type 0xbad has length 8, below the 12-byte minimum");

	/* trailing length differs */
	c.len = b;
	ng_other(&c, 0x0bad, 20);
	patch32(&c, c.len - 4, 36);
	check_all_paths(
		&c, "pcapng", PCAP_READER_CORRUPT,
		"offset 104: block type 0xbad: trailing length 36 differs from leading length 32");

	/* captured length larger than the block */
	c.len = b;
	ng_packet(&c, 6, 0, 1000, 10, 10, 1, 0);
	patch32(&c, b + 20, 13);
	check_all_paths(
		&c, "pcapng", PCAP_READER_CORRUPT,
		"offset 104: packet block captured length 13 is larger than its 44-byte block");

	/* a huge captured length in a block that also runs past the end: corrupt, not truncated */
	patch32(&c, b + 20, 524501);
	patch32(&c, b + 4, 524540);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: record captured length 524501 exceeds the 262144-byte limit");

	/* a block over 16 MiB */
	patch32(&c, b + 4, (16u << 20) + 4);
	check_all_paths(
		&c, "pcapng", PCAP_READER_CORRUPT,
		"offset 104: block type 0x6 has length 16777220, over the 16777216-byte limit");

	/* a known block type shorter than its fixed part */
	patch32(&c, b + 4, 28);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: block type 0x6 has length 28, below its 32-byte minimum");

	/* an interface without an IDB */
	c.len = b;
	ng_packet(&c, 6, 1, 1000, 10, 10, 1, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: packet block refers to interface 1, but the section has 1 "
			"interface description block(s)");

	/* interface ids are per section: the new section has none */
	c.len = b;
	ng_shb(&c, true);
	ng_packet(&c, 6, 0, 1000, 10, 10, 1, 0);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 132: packet block refers to interface 0, but the section has 0 "
			"interface description block(s)");

	/* bad byte-order magic in a second section */
	c.len = b;
	ng_shb(&c, false);
	c.d[b + 8] = 0x77;
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: section header block has a bad byte-order magic 0x773c2b1a");

	/* unsupported major version in a later section; any minor version is read there */
	c.len = b;
	ng_shb(&c, true);
	c.d[b + 13] = 2;
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: unsupported pcapng savefile version 2.0 (a later section "
			"must be 1.x)");

	/* a simple packet block before any IDB of its section */
	c.len = b;
	ng_shb(&c, false);
	ng_spb(&c, 10, 10, 1);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 132: simple packet block without an interface description block");

	/* an IDB option running past its block: if_name claims 64 bytes */
	c.len = b;
	ng_idb(&c, 1, 0, -1, false, 0);
	c.d[b + 18] = 64;
	check_all_paths(
		&c, "pcapng", PCAP_READER_CORRUPT,
		"offset 104: interface description option 2 runs past the end of its block");

	/* an if_tsresol of the wrong size */
	c.len = b;
	ng_idb(&c, 1, 0, 6, false, 0);
	c.d[b + 26] = 2;
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 104: interface description option 9 has length 2");

	/* a block cut short, and a block header cut short */
	c.len = b;
	ng_packet(&c, 6, 0, 1000, 10, 10, 1, 0);
	c.len -= 3;
	check_all_paths(&c, "pcapng", PCAP_READER_TRUNCATED,
			"offset 104: truncated last block (have 41 of 44 bytes)");
	c.len = b + 7;
	check_all_paths(&c, "pcapng", PCAP_READER_TRUNCATED,
			"offset 104: truncated last block (have 7 of 12 bytes)");
	cap_free(&c);
}

/*
 * Blocks larger than the 4 MiB stream buffer: streamed past, or, for packets and section
 * headers, read in their head part. A plain file must give the same.
 */
static void test_pcapng_big_blocks(void **state)
{
	struct cap c = { 0 };
	char rest[128];
	size_t b;

	(void)state;
	ng_shb(&c, true);
	ng_idb(&c, 1, 0, -1, false, 0);
	ng_packet(&c, 6, 0, 1000000, 10, 10, 1, 0);
	expect(&c, NSEC, 10, 10, 1, 0, pattern_hash(1, 10));
	ng_other(&c, 4, 6u << 20); /* name resolution, 6 MiB */
	ng_packet(&c, 6, 0, 2000000, 11, 11, 2, 0);
	expect(&c, 2 * NSEC, 11, 11, 1, 0, pattern_hash(2, 11));
	/* packets with 5 MiB and with 15 MiB of options */
	ng_packet(&c, 6, 0, 3000000, 1000, 1000, 3, 5u << 20);
	expect(&c, 3 * NSEC, 1000, 1000, 1, 0, pattern_hash(3, 1000));
	ng_packet(&c, 6, 0, 4000000, 12, 12, 4, 15u << 20);
	expect(&c, 4 * NSEC, 12, 12, 1, 0, pattern_hash(4, 12));
	ng_packet(&c, 2, 0, 4500000, PCAP_READER_MAX_RECORD, 70000, 4, 5u << 20);
	expect(&c, 4500000000ULL, PCAP_READER_MAX_RECORD, 70000, 1, 0,
	       pattern_hash(4, PCAP_READER_MAX_RECORD));
	/* a section header with 5 MiB of options switches to little-endian */
	c.be = false;
	b = ng_begin(&c, 0x0a0d0d0a);
	put32(&c, 0x1a2b3c4d);
	put16(&c, 1);
	put16(&c, 0);
	put64(&c, UINT64_MAX);
	put_options(&c, 1, 5u << 20);
	put32(&c, 0);
	ng_end(&c, b);
	ng_idb(&c, 101, 0, 6, false, 0);
	ng_packet(&c, 6, 0, 5, 13, 13, 5, 0);
	expect(&c, 5000, 13, 13, 101, 0, pattern_hash(5, 13));
	/* an SPB of 5 MiB with snaplen 0: captures 5 MiB, over the record limit */
	b = c.len;
	ng_spb(&c, 8u << 20, 5u << 20, 6);
	snprintf(rest, sizeof(rest),
		 "offset %zu: record captured length 5242880 exceeds the 262144-byte limit", b);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT, rest);
	c.len = b;
	check_all_paths(&c, "pcapng", PCAP_READER_OK, "");
	cap_free(&c);
}

static void test_pcapng_big_block_errors(void **state)
{
	struct cap c = { 0 };
	struct result res;
	char *path, *gz;
	size_t b;

	(void)state;
	ng_shb(&c, false);
	ng_idb(&c, 1, 0, -1, false, 0);
	b = c.len;
	ng_other(&c, 4, 6u << 20);
	c.len -= 100;
	check_all_paths(&c, "pcapng", PCAP_READER_TRUNCATED,
			"offset 60: truncated last block (have 6291368 of 6291468 bytes)");
	c.len += 100;
	patch32(&c, c.len - 4, 12);
	check_all_paths(&c, "pcapng", PCAP_READER_CORRUPT,
			"offset 60: block type 0x4: trailing length 12 differs from leading length "
			"6291468");

	/* an IDB larger than the stream buffer is refused: it would carry the time base */
	c.len = b;
	b = ng_begin(&c, 1);
	put16(&c, 1);
	put16(&c, 0);
	put32(&c, 0);
	put_options(&c, 3, 5u << 20);
	put16(&c, 9);
	put16(&c, 1);
	put32(&c, 9);
	put32(&c, 0);
	ng_end(&c, b);
	/* interface 1: the first IDB, with µs, is interface 0 */
	ng_packet(&c, 6, 1, 77, 10, 10, 1, 0);
	expect(&c, 77, 10, 10, 1, 1, pattern_hash(1, 10));
	ng_packet(&c, 6, 0, 77, 10, 10, 1, 0);
	expect(&c, 77000, 10, 10, 1, 0, pattern_hash(1, 10));
	path = write_temp(c.d, c.len);
	gz = write_temp_gz(c.d, c.len, NULL, 0);
	read_all(path, 64, &res);
	assert_int_equal(res.count, 0);
	assert_int_equal(res.status, PCAP_READER_CORRUPT);
	assert_message(res.msg, path,
		       "offset 60: interface description block of 5243236 bytes does not fit the "
		       "4194304-byte stream buffer");
	result_free(&res);
	read_all(gz, 64, &res);
	assert_int_equal(res.count, 0);
	assert_int_equal(res.status, PCAP_READER_CORRUPT);
	assert_message(res.msg, gz,
		       "offset 60: interface description block of 5243236 bytes does not fit the "
		       "4194304-byte stream buffer");
	result_free(&res);
	remove_temp(path);
	remove_temp(gz);
	cap_free(&c);
}

/* ---- gzip ---- */

static void test_gzip_members_and_errors(void **state)
{
	struct cap c = { 0 };
	size_t splits[4], gz_len;
	char *path;
	uint8_t *gz;
	struct result res;
	int i;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	for (i = 0; i < 1000; i++)
		pcap_record(&c, (uint32_t)i, (uint32_t)i, 20 + i % 50, 1000, (uint32_t)i);

	/* members split mid-header, mid-record, and one empty member */
	splits[0] = 10;
	splits[1] = 24 + 36 + 5;
	splits[2] = 24 + 36 + 5;
	splits[3] = c.len / 2 + 1;
	path = write_temp_gz(c.d, c.len, splits, 4);
	read_all(path, 64, &res);
	assert_string_equal(res.format, "pcap+gzip");
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_OK);
	assert_int_equal(res.file_pos, file_size(path));
	result_free(&res);

	/* trailing zero bytes after the last member are ignored, as gzip(1) does */
	{
		FILE *f = fopen(path, "ab");

		assert_non_null(f);
		fwrite("\0\0\0\0\0", 1, 5, f);
		fclose(f);
	}
	read_all(path, 64, &res);
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_OK);
	result_free(&res);
	remove_temp(path);

	/* the compressed stream cut short */
	gz = gzip_mem(c.d, c.len, &gz_len);
	path = write_temp(gz, gz_len - 100);
	read_all(path, 64, &res);
	assert_int_equal(res.status, PCAP_READER_TRUNCATED);
	assert_true(res.count > 0 && res.count < c.nexp);
	assert_packets(&res, c.exp, res.count);
	assert_non_null(strstr(res.msg, "truncated last record"));
	assert_non_null(strstr(res.msg, "in a truncated gzip stream"));
	result_free(&res);
	remove_temp(path);

	/* cut after the deflate data, inside the 8-byte trailer: all packets, then TRUNCATED */
	path = write_temp(gz, gz_len - 4);
	read_all(path, 64, &res);
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_TRUNCATED);
	{
		char want[64];

		snprintf(want, sizeof(want), "offset %zu: truncated gzip stream", c.len);
		assert_message(res.msg, path, want);
	}
	result_free(&res);
	remove_temp(path);

	/* a CRC mismatch */
	gz[gz_len - 8] ^= 1;
	path = write_temp(gz, gz_len);
	read_all(path, 64, &res);
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_CORRUPT);
	{
		char want[96];

		snprintf(want, sizeof(want), "offset %zu: corrupt gzip data (incorrect data check)",
			 c.len);
		assert_message(res.msg, path, want);
	}
	result_free(&res);
	remove_temp(path);
	gz[gz_len - 8] ^= 1;

	/*
	 * Corrupt deflate data in the middle. zlib may emit some garbage before it notices, so
	 * only the first packets are known; the end is a CORRUPT status either way.
	 */
	for (i = 0; i < 64; i++)
		gz[gz_len / 2 + i] ^= 0x5a;
	path = write_temp(gz, gz_len);
	read_all(path, 64, &res);
	assert_int_equal(res.status, PCAP_READER_CORRUPT);
	assert_true(res.count > 100 && res.count < c.nexp);
	assert_packet_prefix(&res, c.exp, 100);
	/* either zlib notices first, or the garbage it produced fails as a record */
	assert_true(strstr(res.msg, "corrupt gzip data") || strstr(res.msg, "exceeds the"));
	result_free(&res);
	remove_temp(path);
	free(gz);
	cap_free(&c);
}

/*
 * Many records, some of them maximal, through the 4 MiB stream buffer: records straddle every
 * refill, and a maximal record needs the compaction.
 */
static void test_stream_straddles_refills(void **state)
{
	struct cap c = { 0 };
	struct result res;
	size_t gz_len;
	uint8_t *gz;
	char *path;
	int i, batch;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, true, 262144, 1);
	for (i = 0; i < 60000; i++) {
		uint32_t caplen = (uint32_t)(i * 37 % 700);

		if (i % 5000 == 4999)
			caplen = PCAP_READER_MAX_RECORD - (uint32_t)(i % 3);
		pcap_record(&c, 1600000000 + (uint32_t)i / 1000, (uint32_t)(i % 1000) * 1000,
			    caplen, caplen + 4, (uint32_t)i);
	}
	assert_true(c.len > 5 * (4u << 20));
	path = write_temp_gz(c.d, c.len, NULL, 0);
	for (batch = 7; batch <= 64; batch += 57) {
		read_all(path, batch, &res);
		assert_packets(&res, c.exp, c.nexp);
		assert_int_equal(res.status, PCAP_READER_OK);
		assert_int_equal(res.offset, c.len);
		result_free(&res);
	}
	remove_temp(path);

	gz = gzip_mem(c.d, c.len, &gz_len);
	read_stdin_pipe(gz, gz_len, 64, &res);
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_OK);
	result_free(&res);
	read_stdin_pipe(c.d, c.len, 64, &res);
	assert_string_equal(res.format, "pcap");
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.status, PCAP_READER_OK);
	result_free(&res);
	free(gz);
	cap_free(&c);
}

/* ---- opening ---- */

/* ---- files that change while they are read ---- */

#define CHANGING_RECORDS 10000 /* of 16 + 1000 bytes: 10 MB, more than the 4 MiB buffer */

static void truncate_to_6m(const char *path)
{
	assert_int_equal(truncate(path, 6000000), 0);
}

static void truncate_to_1m(const char *path)
{
	assert_int_equal(truncate(path, 1000000), 0);
}

static void truncate_gz_half(const char *path)
{
	assert_int_equal(truncate(path, (off_t)(file_size(path) / 2)), 0);
}

static void append_records(const char *path)
{
	struct cap more = { 0 };
	FILE *f = fopen(path, "ab");
	int i;

	assert_non_null(f);
	for (i = 0; i < 10; i++)
		pcap_record(&more, 9, 0, 1000, 1000, (uint32_t)i);
	assert_int_equal(fwrite(more.d, 1, more.len, f), more.len);
	assert_int_equal(fclose(f), 0);
	cap_free(&more);
}

/*
 * A capture truncated while it is read (rotated) ends with an error that names the file, the
 * offset and both sizes, after every packet read before; one that grows is read to the size
 * it had when opened. The reader never maps the file, so nothing can raise SIGBUS.
 */
static void test_file_changes_while_read(void **state)
{
	struct cap c = { 0 };
	char rest[256], *path, *gz;
	uint64_t stop_offset;
	struct result res;
	int i;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	for (i = 0; i < CHANGING_RECORDS; i++)
		pcap_record(&c, (uint32_t)i, 0, 1000, 1000, (uint32_t)i);

	/* cut past what the first fill buffered: read up to the cut, then the error */
	path = write_temp(c.d, c.len);
	read_all_changing(path, 64, &res, truncate_to_6m);
	assert_int_equal(res.status, PCAP_READER_IO_ERROR);
	/* records wholly below 6000000: 24 + 5905 * 1016 = 5999504 */
	assert_packets(&res, c.exp, 5905);
	snprintf(rest, sizeof(rest),
		 "offset 6000000: the file shrank to 6000000 bytes while it was read (it had %zu "
		 "when opened)",
		 c.len);
	assert_message(res.msg, path, rest);
	assert_int_equal(res.offset, 5999504);
	result_free(&res);
	remove_temp(path);

	/* cut below it: the 4 MiB read before the cut are still packets */
	path = write_temp(c.d, c.len);
	read_all_changing(path, 64, &res, truncate_to_1m);
	assert_int_equal(res.status, PCAP_READER_IO_ERROR);
	assert_packets(&res, c.exp, 4128);
	snprintf(rest, sizeof(rest),
		 "offset 4194304: the file shrank to 1000000 bytes while it was read (it had %zu "
		 "when opened)",
		 c.len);
	assert_message(res.msg, path, rest);
	result_free(&res);
	remove_temp(path);

	/* grown while read: the records appended after open are not read */
	path = write_temp(c.d, c.len);
	read_all_changing(path, 64, &res, append_records);
	assert_int_equal(res.status, PCAP_READER_OK);
	assert_packets(&res, c.exp, CHANGING_RECORDS);
	assert_int_equal(res.offset, c.len);
	assert_int_equal(res.file_size, c.len);
	result_free(&res);
	remove_temp(path);

	/* gzip: how far the inflater got is not fixed, the verdict is */
	gz = write_temp_gz(c.d, c.len, NULL, 0);
	snprintf(rest, sizeof(rest), " bytes while it was read (it had %zu when opened)",
		 file_size(gz));
	read_all_changing(gz, 64, &res, truncate_gz_half);
	assert_int_equal(res.status, PCAP_READER_IO_ERROR);
	assert_true(res.count >= 64 && res.count <= CHANGING_RECORDS);
	assert_packet_prefix(&res, c.exp, res.count);
	assert_int_equal(strncmp(res.msg, gz, strlen(gz)), 0);
	assert_int_equal(sscanf(res.msg + strlen(gz), ": offset %" SCNu64, &stop_offset), 1);
	assert_true(stop_offset >= res.offset);
	assert_non_null(strstr(res.msg, ": the file shrank to "));
	assert_string_equal(res.msg + strlen(res.msg) - strlen(rest), rest);
	result_free(&res);
	remove_temp(gz);

	/* stdin from a file, started past its beginning: no shrinking seen where there is none */
	{
		char *junk_then_capture;
		int fd;

		junk_then_capture = malloc(c.len + 100);
		assert_non_null(junk_then_capture);
		memset(junk_then_capture, 'j', 100);
		memcpy(junk_then_capture + 100, c.d, c.len);
		path = write_temp(junk_then_capture, c.len + 100);
		free(junk_then_capture);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(lseek(fd, 100, SEEK_SET), 100);
		read_stdin_fd(fd, 64, &res);
		assert_int_equal(res.status, PCAP_READER_OK);
		assert_packets(&res, c.exp, CHANGING_RECORDS);
		result_free(&res);
		remove_temp(path);
	}
	cap_free(&c);
}

static void test_open_failures(void **state)
{
	static const uint8_t bad[32] = { 0x12, 0x34, 0x56, 0x78 };
	char err[512], want[600];
	struct result res;
	char *path;

	(void)state;
	path = write_temp(bad, sizeof(bad));
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a pcap or pcapng file (magic 0x12345678)", path);
	assert_string_equal(err, want);
	remove_temp(path);

	path = write_temp_gz(bad, sizeof(bad), NULL, 0);
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s: not a pcap or pcapng file (magic 0x12345678 after gzip decompression)", path);
	assert_string_equal(err, want);
	remove_temp(path);

	/* an empty file is refused: there is no header to say what it is */
	path = write_temp("", 0);
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: empty file", path);
	assert_string_equal(err, want);
	read_stdin_file(path, 64, &res);
	assert_false(res.opened);
	assert_string_equal(res.open_err, "stdin: empty file");
	remove_temp(path);

	path = write_temp_gz("", 0, NULL, 0);
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: empty file after gzip decompression", path);
	assert_string_equal(err, want);
	remove_temp(path);

	path = write_temp("\xd4\xc3\xb2\xa1\x02\x00\x04\x00", 8);
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: truncated pcap file header (have 8 of 24 bytes)", path);
	assert_string_equal(err, want);
	remove_temp(path);

	path = write_temp("\x0a\x0d", 2);
	assert_null(pcap_reader_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a pcap or pcapng file (only 2 bytes)", path);
	assert_string_equal(err, want);
	remove_temp(path);

	assert_null(pcap_reader_open("/nonexistent/x.pcap", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/x.pcap: No such file or directory");
	assert_null(pcap_reader_open("/tmp", err, sizeof(err)));
	assert_string_equal(err, "/tmp: is a directory");

	/* a header only: a valid capture without packets */
	path = write_temp("\xd4\xc3\xb2\xa1\x02\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0\x01\0\0\0",
			  24);
	read_all(path, 64, &res);
	assert_true(res.opened);
	assert_int_equal(res.count, 0);
	assert_int_equal(res.status, PCAP_READER_OK);
	result_free(&res);
	remove_temp(path);
}

static void test_stdin(void **state)
{
	struct cap c = { 0 };
	struct result res;
	char *path;

	(void)state;
	pcap_header(&c, 0xa1b2c3d4, false, 65535, 1);
	pcap_record(&c, 1, 2, 60, 60, 1);
	pcap_record(&c, 3, 4, 70, 70, 2);
	path = write_temp(c.d, c.len);
	read_stdin_file(path, 64, &res);
	assert_string_equal(res.format, "pcap");
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.file_size, c.len);
	assert_int_equal(res.file_pos, c.len);
	result_free(&res);
	remove_temp(path);

	path = write_temp_gz(c.d, c.len, NULL, 0);
	read_stdin_file(path, 64, &res);
	assert_string_equal(res.format, "pcap+gzip");
	assert_packets(&res, c.exp, c.nexp);
	assert_int_equal(res.file_pos, file_size(path));
	result_free(&res);
	remove_temp(path);

	/* a bad magic on stdin names stdin */
	path = write_temp("\x12\x34\x56\x78xxxx", 8);
	read_stdin_file(path, 64, &res);
	assert_false(res.opened);
	assert_string_equal(res.open_err, "stdin: not a pcap or pcapng file (magic 0x12345678)");
	remove_temp(path);
	cap_free(&c);
}

/* ---- the shared real captures ---- */

struct manifest_entry {
	char file[256];
	char format[32];
	long packets;
};

static int manifest_load(const char *path, struct manifest_entry *ents, int max)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *cols[8], *save = NULL, *tok;
		int k = 0;

		if (strncmp(line, "| real/", 7) && strncmp(line, "| edge/", 7))
			continue;
		for (tok = strtok_r(line, "|", &save); tok && k < 8;
		     tok = strtok_r(NULL, "|", &save))
			cols[k++] = tok;
		assert_true(k >= 6);
		assert_int_equal(sscanf(cols[0], " %255s", ents[n].file), 1);
		assert_int_equal(sscanf(cols[2], " %31s", ents[n].format), 1);
		ents[n].packets = strtol(cols[5], NULL, 10);
		n++;
	}
	fclose(f);
	return n;
}

static const char *manifest_format(const char *manifest)
{
	if (!strcmp(manifest, "pcap-ns"))
		return "pcap-ns";
	if (!strcmp(manifest, "pcapng"))
		return "pcapng";
	return "pcap"; /* pcap-us, pcap-us-BE */
}

static void test_shared_captures(void **state)
{
	static const char *const dirs[] = { "real", "edge" };
	const char *shared = getenv("SHARED_DIR") ? getenv("SHARED_DIR") : "../shared";
	static struct manifest_entry ents[256];
	char path[1024];
	int nents, d, checked = 0, i;

	(void)state;
	snprintf(path, sizeof(path), "%s/pcaps/MANIFEST.md", shared);
	nents = manifest_load(path, ents, 256);
	if (nents < 0) {
		print_message("no %s: skipping the shared captures\n", path);
		skip();
	}
	assert_true(nents > 0);
	for (d = 0; d < 2; d++) {
		struct dirent *de;
		DIR *dir;

		snprintf(path, sizeof(path), "%s/pcaps/%s", shared, dirs[d]);
		dir = opendir(path);
		assert_non_null(dir);
		while ((de = readdir(dir))) {
			char rel[300];
			struct result plain, streamed;
			const struct manifest_entry *e = NULL;

			if (de->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], de->d_name);
			for (i = 0; i < nents; i++)
				if (!strcmp(ents[i].file, rel))
					e = &ents[i];
			if (!e) {
				print_error("%s is not in MANIFEST.md\n", rel);
				fail();
			}
			snprintf(path, sizeof(path), "%s/pcaps/%s", shared, rel);
			read_all(path, 64, &plain);
			/* the same file streamed through stdin must give the same packets */
			read_stdin_file(path, 13, &streamed);
			assert_true(plain.opened);
			assert_string_equal(plain.format, manifest_format(e->format));
			if (!strcmp(rel, "edge/ndpi-fuzz-2021-10-13-badcaplen.pcap")) {
				/*
				 * pcap 2.0: captured and wire length swapped, as libpcap reads
				 * it (tcpdump: one packet, then a truncated record header)
				 */
				assert_int_equal(plain.status, PCAP_READER_TRUNCATED);
				assert_int_equal(plain.count, 1);
				assert_int_equal(plain.pkts[0].cap_len, 197);
				assert_int_equal(plain.pkts[0].orig_len, 524501);
				assert_message(plain.msg, path,
					       "offset 237: truncated last record (have 2 of 16 "
					       "bytes)");
			} else {
				if (plain.count != e->packets || plain.status != PCAP_READER_OK)
					print_error(
						"%s: %d packets, status %d (%s); MANIFEST says %ld\n",
						rel, plain.count, plain.status, plain.msg,
						e->packets);
				assert_int_equal(plain.status, PCAP_READER_OK);
				assert_int_equal(plain.count, e->packets);
				assert_int_equal(plain.offset, file_size(path));
			}
			assert_int_equal(streamed.status, plain.status);
			assert_packets(&streamed, plain.pkts, plain.count);
			result_free(&plain);
			result_free(&streamed);
			checked++;
		}
		closedir(dir);
	}
	assert_int_equal(checked, nents);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pcap_us_le, remove_temps),
		cmocka_unit_test_teardown(test_pcap_ns_be, remove_temps),
		cmocka_unit_test_teardown(test_pcap_fraction_out_of_range, remove_temps),
		cmocka_unit_test_teardown(test_pcap_truncated_last_record, remove_temps),
		cmocka_unit_test_teardown(test_pcap_caplen_too_large, remove_temps),
		cmocka_unit_test_teardown(test_pcap_versions, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_sections, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_ts_resolutions, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_versions, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_ts_out_of_range, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_corrupt, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_big_blocks, remove_temps),
		cmocka_unit_test_teardown(test_pcapng_big_block_errors, remove_temps),
		cmocka_unit_test_teardown(test_gzip_members_and_errors, remove_temps),
		cmocka_unit_test_teardown(test_stream_straddles_refills, remove_temps),
		cmocka_unit_test_teardown(test_file_changes_while_read, remove_temps),
		cmocka_unit_test_teardown(test_open_failures, remove_temps),
		cmocka_unit_test_teardown(test_stdin, remove_temps),
		cmocka_unit_test_teardown(test_shared_captures, remove_temps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
