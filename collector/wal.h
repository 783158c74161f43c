/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Write-ahead files: a sealed insert of the collector on disk, until every part of it is in
 * ClickHouse (docs/guarantees.md). wal_write writes the file under a temporary name, fsyncs it,
 * renames it to DIR/<insert id>.wal and fsyncs the directory: a file named *.wal is complete
 * once wal_write returns, and never seen half-written. Layout (little-endian):
 *   header  "FLWA", u32 version (2), u64 insert id, u32 part count, u32 CRC-32C of the header
 *           (this field as zero) and the part table
 *   parts   u32 table, u32 rows, u64 offset, u64 length, u32 CRC-32C of the part, u32 zero
 *   zeros   up to the next multiple of 4096 bytes (version 1 has none)
 *   payload the parts' RowBinary rows; offsets count from the payload's start
 *
 * The payload is written with O_DIRECT when its buffer is page-aligned (wal_buffer_reserve)
 * and the file system takes it: hundreds of megabytes an insert then go from the buffer to
 * the disk without a copy into the page cache, or the writeback and eviction that follow.
 */
#ifndef FLOWCOLLECTOR_WAL_H
#define FLOWCOLLECTOR_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_SUFFIX	     ".wal"
#define WAL_TMP_SUFFIX	     ".wal.tmp"
#define WAL_COMMITTED_SUFFIX ".committed.wal" /* its source was committed */

enum wal_table {
	WAL_TABLE_RAW = 0,    /* flows.raw */
	WAL_TABLE_LEDGER = 1, /* flows.batches */
	WAL_TABLE_SOURCE = 2, /* not inserted: where the rows came from, for the recovery */
	WAL_TABLE_SHARD = 3,  /* not inserted: the cluster shard it goes to, u32 little-endian */
};

struct wal_part {
	enum wal_table table;
	uint32_t rows;
	uint32_t crc; /* wal_write computes it */
	uint64_t offset, len;
};

struct wal_insert {
	uint64_t id;
	uint8_t *payload; /* from wal_buffer_reserve, or the caller's (see wal_insert_free) */
	size_t payload_len;
	size_t payload_cap; /* the wal_buffer_reserve size; 0: the caller owns payload */
	struct wal_part *parts;
	uint32_t part_count;
};

/*
 * Writes insert as DIR/<id>.wal (see above) and stores the file's name in path. Returns the
 * bytes written, or a negative errno with err set (nothing is left behind then).
 */
int64_t wal_write(const char *dir, struct wal_insert *insert, char *path, size_t path_len,
		  char *err, size_t err_len);

/*
 * Reads a file wal_write wrote into insert (payload and parts malloc'd). Returns 0, or
 * -EBADMSG with why set when the file is not whole, or another negative errno.
 */
int wal_read(const char *path, struct wal_insert *insert, const char **why);

/* fsyncs a directory, so that a rename in it lasts. 0, or a negative errno (errno set too). */
int wal_fsync_dir(const char *dir);

/*
 * Frees what wal_read (or the caller) allocated in insert: payload with wal_buffer_free when
 * payload_cap is set, with free() otherwise.
 */
void wal_insert_free(struct wal_insert *insert);

/*
 * Page-aligned payload buffers, grown without copying (mremap). Makes *buffer (of *cap bytes,
 * NULL and 0 at first) hold at least need bytes, keeping its content. 0 or -ENOMEM.
 */
int wal_buffer_reserve(uint8_t **buffer, size_t *cap, size_t need);
void wal_buffer_free(uint8_t *buffer, size_t cap);

#endif
