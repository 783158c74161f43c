/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * gzip inflated with ISA-L on a thread of its own, into a pipe: the capture reader reads the
 * pipe like any other stream while the inflater works on the next megabyte. Concatenated
 * members are read as one stream; bytes after the last member are ignored, as gzip(1) does.
 */
#ifndef FLOWAGENT_GZIP_INFLATE_H
#define FLOWAGENT_GZIP_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most compressed bytes a caller may have read before handing the stream over. */
#define GZIP_INFLATE_IN_LEN (256u << 10)

enum gzip_inflate_result {
	GZIP_INFLATE_OK = 0,
	GZIP_INFLATE_TRUNCATED, /* the stream was cut short: what came out is valid */
	GZIP_INFLATE_CORRUPT,	/* bad data: the message says what */
	GZIP_INFLATE_IO_ERROR,	/* reading the source failed */
};

struct gzip_inflater;

/*
 * Starts inflating in_fd, whose first `got` bytes (at most GZIP_INFLATE_IN_LEN) the caller
 * already read into first. in_regular: reads of in_fd never block; in_eof: in_fd has nothing
 * more. On success *out_fd is the pipe's read end, the caller's to read and close; in_fd
 * stays with the inflater until gzip_inflater_stop. name is used in messages.
 */
int gzip_inflater_start(int in_fd, bool in_regular, bool in_eof, const uint8_t *first, size_t got,
			const char *name, struct gzip_inflater **inflater, int *out_fd, char *err,
			size_t err_len);

/* Compressed bytes read so far; safe from any thread, for progress. */
uint64_t gzip_inflater_bytes_read(const struct gzip_inflater *inflater);

/*
 * Once the pipe has reached its end: waits for the thread and gives its verdict, with a
 * message for CORRUPT and IO_ERROR.
 */
enum gzip_inflate_result gzip_inflater_finish(struct gzip_inflater *inflater, const char **message);

/*
 * Stops the inflater and frees it; close the pipe's read end first, so that a blocked write
 * fails instead of waiting. Returns in_fd, for the caller to close.
 */
int gzip_inflater_stop(struct gzip_inflater *inflater);

#endif
