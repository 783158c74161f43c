// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Batches or JSON lines from a file; see source_file.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "source_file.h"
#include "wire.h"

#define READ_CHUNK (64u << 10)
/* the longest batch identity: agent id (255), batch_run and batch_seq (20 digits each) */
#define BATCH_KEY_MAX 320
/* a batch of JSON lines held back beyond this is handed on: no agent writes one as large */
#define HELD_MAX_LINES WIRE_MAX_RECORDS
#define HELD_MAX_BYTES WIRE_BATCH_MAX_BYTES

struct reader {
	int fd;
	const char *name;
	char *buf;
	size_t cap, start, end; /* the unread bytes: buf[start, end) */
	uint64_t offset;	/* the input's byte offset of buf[start] */
	uint64_t remaining;	/* a regular file: its bytes from offset 0 on; else UINT64_MAX */
	int eof;
};

/*
 * Reads until want unread bytes are buffered, growing the buffer only as bytes arrive (a
 * header's claim allocates nothing). Returns 1 once they are there, 0 when the input ended
 * first, -EINTR when a stop was asked for, or another negative errno.
 */
static int reader_want(struct reader *r, size_t want)
{
	struct pollfd fds[2] = { { .fd = r->fd, .events = POLLIN },
				 { .fd = collector_stop_fd, .events = POLLIN } };

	while (r->end - r->start < want) {
		ssize_t n;

		if (collector_stop_requested)
			return -EINTR;
		if (r->eof)
			return 0;
		if (r->end == r->cap && r->start) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		} else if (r->end == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : READ_CHUNK;
			char *grown = realloc(r->buf, cap);

			if (!grown)
				return -ENOMEM;
			r->buf = grown;
			r->cap = cap;
		}
		/* a stop signal may be handled by another thread: it wakes the poll, not read */
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
			continue;
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n > 0)
			r->end += (size_t)n;
		else if (!n)
			r->eof = 1;
		else if (errno != EINTR)
			return -errno;
	}
	return 1;
}

/* 1 when every byte of the input was read */
static int reader_at_end(const struct reader *r)
{
	return r->eof && r->start == r->end;
}

static void reader_consume(struct reader *r, size_t n)
{
	r->start += n;
	r->offset += n;
}

/*
 * The next line at buf[start], *len bytes without its newline, *consumed with it. Returns 1,
 * 0 at the end of the input, -E2BIG for a line longer than FILE_LINE_MAX, or reader_want's
 * errors.
 */
static int reader_line(struct reader *r, size_t *len, size_t *consumed)
{
	size_t scanned = 0;
	int ret;

	for (;;) {
		size_t unread = r->end - r->start;
		char *nl = unread > scanned ?
				   memchr(r->buf + r->start + scanned, '\n', unread - scanned) :
				   NULL;

		if (nl) {
			*len = (size_t)(nl - (r->buf + r->start));
			*consumed = *len + 1;
			return *len > FILE_LINE_MAX ? -E2BIG : 1;
		}
		scanned = unread;
		if (scanned > FILE_LINE_MAX)
			return -E2BIG;
		ret = reader_want(r, scanned + 1);
		if (ret < 0)
			return ret;
		if (!ret) {
			/* the last line, without a newline */
			*len = *consumed = scanned;
			return scanned > FILE_LINE_MAX ? -E2BIG : scanned ? 1 : 0;
		}
	}
}

static void read_failed(const struct reader *r, int err, struct file_source_end *end)
{
	pr_warn("%s: reading failed at byte offset %" PRIu64 ": %s; the rest of the input is not "
		"read\n",
		r->name, r->offset + (r->end - r->start), strerror(-err));
	end->unreadable = 1;
}

/* --- wire format: each batch's header tells its length ---------------------------------------- */

static int read_wire_batches(struct collector *c, struct reader *r, struct file_source_end *end)
{
	int rejected = 0, ret;

	while (!collector_stop_requested) {
		const uint8_t *header;
		enum wire_error err;
		char where[512];
		size_t len = 0;

		snprintf(where, sizeof(where), "%s: offset %" PRIu64, r->name, r->offset);
		ret = reader_want(r, WIRE_HEADER_FIXED_V1);
		if (ret == -EINTR)
			break;
		if (ret < 0)
			goto failed;
		if (!ret) {
			if (r->end > r->start) {
				pr_warn("%s: truncated batch header (%zu of %d bytes); skipped\n",
					where, r->end - r->start, WIRE_HEADER_FIXED_V1);
				rejected++;
				end->unreadable = 1;
			}
			break;
		}
		header = (const uint8_t *)r->buf + r->start;
		err = wire_batch_length_check(header, &len);
		if (err) {
			pr_warn("%s: rejected: %s (header_len %u, record_size %u, record_count %u); "
				"the rest of the input is not read\n",
				where, wire_strerror(err), get_le16(header + 6),
				get_le16(header + 8), get_le32(header + 12));
			rejected++;
			end->unreadable = 1;
			break;
		}
		if (len > r->remaining - r->offset) {
			pr_warn("%s: rejected: the batch header declares %zu bytes, but the file "
				"holds only %" PRIu64 " more; the rest of the input is not read\n",
				where, len, r->remaining - r->offset);
			rejected++;
			end->unreadable = 1;
			break;
		}
		ret = reader_want(r, len);
		if (ret == -EINTR)
			break;
		if (ret < 0)
			goto failed;
		if (!ret) {
			pr_warn("%s: truncated batch (%zu of the %zu bytes its header declares); "
				"skipped\n",
				where, r->end - r->start, len);
			rejected++;
			end->unreadable = 1;
			break;
		}
		ret = ingest_add_wire(c->ingest, r->buf + r->start, len, where);
		if (ret == -ENOMEM)
			return ret;
		if (ret)
			rejected++;
		reader_consume(r, len);
		end->offset = r->offset;
		if (ingest_due(c->ingest) && collector_flush(c))
			break;
	}
	return rejected;
failed:
	if (ret == -ENOMEM)
		return ret;
	read_failed(r, ret, end);
	return rejected + 1;
}

/* --- JSON lines --------------------------------------------------------------------------------- */

/* The lines of one batch, held until its last line is read. */
struct held_batch {
	char *text; /* the lines, each ending in '\n' */
	size_t len, cap;
	uint64_t first_line, lines;
	uint64_t end_offset; /* the input's offset after its last line */
	char key[BATCH_KEY_MAX];
	size_t key_len;
};

/* The raw text of a field's value in a JSON line; 0 when the field is absent. */
static size_t field_text(const char *line, size_t len, const char *name, const char **value)
{
	const char *p = memmem(line, len, name, strlen(name)), *end = line + len, *start;

	if (!p)
		return 0;
	for (p += strlen(name); p < end && (*p == ' ' || *p == ':'); p++)
		;
	start = p;
	if (p < end && *p == '"')
		for (p++; p < end && *p != '"'; p++)
			;
	else
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			;
	*value = start;
	return (size_t)(p - start);
}

/*
 * The line's batch identity as text (agent_id, batch_run, batch_seq): what ingest groups
 * consecutive lines by. 0 when the line has no batch_seq (or 0): it is a batch by itself.
 */
static size_t batch_key(const char *line, size_t len, char *key)
{
	static const char *const fields[] = { "\"batch_seq\"", "\"batch_run\"", "\"agent_id\"" };
	size_t used = 0, i, n;
	const char *value;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		n = field_text(line, len, fields[i], &value);
		if (!i && (!n || (n == 1 && value[0] == '0')))
			return 0;
		if (n > BATCH_KEY_MAX - 1 - used)
			n = BATCH_KEY_MAX - 1 - used;
		memcpy(key + used, value, n);
		used += n;
		key[used++] = '\n';
		if (used >= BATCH_KEY_MAX)
			return used - 1;
	}
	return used;
}

static int held_add(struct held_batch *held, const char *line, size_t len, uint64_t line_number)
{
	if (held->len + len + 1 > held->cap) {
		size_t cap = held->cap ? held->cap : READ_CHUNK;
		char *grown;

		while (cap < held->len + len + 1)
			cap *= 2;
		grown = realloc(held->text, cap);
		if (!grown)
			return -ENOMEM;
		held->text = grown;
		held->cap = cap;
	}
	if (!held->lines)
		held->first_line = line_number;
	memcpy(held->text + held->len, line, len);
	held->text[held->len + len] = '\n';
	held->len += len + 1;
	held->lines++;
	return 0;
}

/*
 * Hands a held batch's lines to ingest, then inserts if due. Returns 0, 1 when the insert was
 * stopped, or -ENOMEM.
 */
static int held_release(struct collector *c, struct held_batch *held, const char *name,
			int *rejected, struct file_source_end *end)
{
	const char *p = held->text, *stop = held->text + held->len;
	uint64_t line = held->first_line;
	char where[512];

	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		int ret;

		snprintf(where, sizeof(where), "%s:%" PRIu64, name, line++);
		ret = ingest_add_json(c->ingest, p, (size_t)(nl - p), where);
		if (ret == -ENOMEM)
			return ret;
		if (ret)
			(*rejected)++;
		p = nl + 1;
	}
	end->offset = held->end_offset;
	end->lines += held->lines;
	held->len = 0;
	held->lines = 0;
	held->key_len = 0;
	return ingest_due(c->ingest) && collector_flush(c) ? 1 : 0;
}

static int read_json_lines(struct collector *c, struct reader *r, struct file_source_end *end)
{
	struct held_batch held = { 0 };
	uint64_t line_number = 0;
	int rejected = 0, ret = 0;

	while (!collector_stop_requested) {
		char key[BATCH_KEY_MAX], where[512];
		size_t len, consumed, key_len;
		const char *line;

		ret = reader_line(r, &len, &consumed);
		if (ret == 0 || ret == -EINTR) {
			ret = 0;
			break;
		}
		if (ret == -E2BIG) {
			pr_warn("%s:%" PRIu64 " (byte offset %" PRIu64 "): line longer than %u "
				"bytes, the limit for a JSON flow record: this is not JSON lines; the "
				"rest of the input is not read\n",
				r->name, line_number + 1, r->offset, FILE_LINE_MAX);
			rejected++;
			end->unreadable = 1;
			ret = 0;
			break;
		}
		if (ret < 0) {
			if (ret == -ENOMEM)
				goto out;
			read_failed(r, ret, end);
			rejected++;
			ret = 0;
			break;
		}
		line = r->buf + r->start;
		line_number++;
		if (!len || (len == 1 && line[0] == '\r')) {
			reader_consume(r, consumed);
			if (!held.lines)
				end->offset = r->offset;
			continue;
		}
		key_len = batch_key(line, len, key);
		if (held.lines &&
		    (key_len != held.key_len || memcmp(key, held.key, key_len) ||
		     held.lines >= HELD_MAX_LINES || held.len + len > HELD_MAX_BYTES)) {
			ret = held_release(c, &held, r->name, &rejected, end);
			if (ret < 0)
				goto out;
			if (ret) {
				ret = 0;
				break;
			}
		}
		if (key_len) {
			/* a batch's lines go to ingest together, once its last line is read */
			ret = held_add(&held, line, len, line_number);
			if (ret)
				goto out;
			memcpy(held.key, key, key_len);
			held.key_len = key_len;
			reader_consume(r, consumed);
			held.end_offset = r->offset;
			continue;
		}
		snprintf(where, sizeof(where), "%s:%" PRIu64, r->name, line_number);
		ret = ingest_add_json(c->ingest, line, len, where);
		if (ret == -ENOMEM)
			goto out;
		if (ret)
			rejected++;
		ret = 0;
		reader_consume(r, consumed);
		end->offset = r->offset;
		end->lines = line_number;
		if (ingest_due(c->ingest) && collector_flush(c))
			break;
	}
	if (held.lines && collector_stop_requested && !reader_at_end(r)) {
		/* its last line may be still to come: stored now, the rest would be a duplicate */
		end->held_lines = held.lines;
	} else if (held.lines) {
		ret = held_release(c, &held, r->name, &rejected, end);
		ret = ret < 0 ? ret : 0;
	}
out:
	free(held.text);
	return ret < 0 ? ret : rejected;
}

int file_source_run(struct collector *c, int fd, const char *name, struct file_source_end *end)
{
	struct reader r = { .fd = fd, .name = name, .remaining = UINT64_MAX };
	struct stat st;
	int ret;

	memset(end, 0, sizeof(*end));
	if (!fstat(fd, &st) && S_ISREG(st.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);

		r.remaining = (uint64_t)st.st_size - (at > 0 ? (uint64_t)at : 0);
	}
	ret = reader_want(&r, 1);
	if (ret > 0) {
		ret = r.buf[r.start] == WIRE_MAGIC[0] ? read_wire_batches(c, &r, end) :
							read_json_lines(c, &r, end);
	} else if (ret == -EINTR) {
		ret = 0;
	} else if (ret < 0 && ret != -ENOMEM) {
		read_failed(&r, ret, end);
		ret = 1;
	}
	/* stopped before the end: the input was not all read */
	if (collector_stop_requested && !end->unreadable && !reader_at_end(&r))
		end->interrupted = collector_stop_requested;
	free(r.buf);
	return ret;
}
