/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The on-disk spool: batches Kafka could not take yet, one file per batch, sent again in the
 * order they were spooled. Bounded in bytes; the directory is locked by one agent at a time.
 *
 * A spool file is a 16-byte header ("FLSP", record count, CRC-32C and length of the payload,
 * little-endian) and the Kafka message payload as it would have been sent. Its name is a
 * spool-local ordinal (20 digits), one more than the highest file present when it was
 * written: it orders the files and nothing else. The batch's identity (agent, run, sequence)
 * is inside the payload, so the spool keeps no sequence number of its own.
 *
 * Power loss. spool_put writes the file under a temporary name, fdatasyncs it, then renames
 * it: a file with the final name never has content the disk does not hold. The rename itself
 * is made durable by an fsync of the directory, which spool_commit does once for every file
 * put since the last commit (group commit): a burst of batches costs one fdatasync each and
 * one directory fsync. The caller commits at the end of each poll iteration, so a spooled
 * batch is on disk within one iteration; until then it is as safe as a batch in memory, which
 * is what it was a moment before. Removing a delivered file is not synced: if a crash brings
 * it back, it is sent again, and its identity makes the copy a duplicate the collector drops.
 *
 * Torn files, as a machine crash or a failing disk can leave them (empty, truncated, zeros,
 * a payload shorter than its header says, a checksum mismatch), are renamed to NAME.corrupt
 * with a log line, at open (header and length) or when taken (checksum), and counted in
 * spool_corrupt_batches/records (records only when the header was readable).
 */
#ifndef FLOWAGENT_SPOOL_H
#define FLOWAGENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/*
 * Opens (creating) and locks dir, indexes the batches already in it and sets torn ones aside
 * (counted, see above).
 */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **spool, char *err,
	       size_t err_len);
/* Commits (spool_commit) and closes. */
void spool_close(struct spool *spool);

/*
 * Stores a batch: written and fdatasync'd, durable once spool_commit returns. -ENOSPC when it
 * would pass max_bytes, or another negative errno (nothing is left behind then).
 */
int spool_put(struct spool *spool, uint32_t records, const void *payload, size_t len);
/* Makes every spool_put since the last commit durable: one directory fsync. 0 or -errno. */
int spool_commit(struct spool *spool);

/*
 * Reads the oldest batch not being sent, and marks it as being sent; *id names it for
 * spool_delivered and spool_retry. Returns 1 with a malloc'd payload, 0 when none is waiting,
 * or a negative errno. A torn file is set aside (NAME.corrupt) and one that vanished is
 * forgotten; both are reported through err, with the records the index knew of in *records,
 * and the call returns -EBADMSG (the counters above include it).
 */
int spool_take(struct spool *spool, uint64_t *id, uint32_t *records, void **payload, size_t *len,
	       char *err, size_t err_len);
/* The batch was delivered (or dropped for good): its file is removed. */
void spool_delivered(struct spool *spool, uint64_t id);
/* The batch could not be delivered: it waits again, in its place. */
void spool_retry(struct spool *spool, uint64_t id);

uint64_t spool_bytes(const struct spool *spool);
uint64_t spool_max_bytes(const struct spool *spool);
uint32_t spool_batches(const struct spool *spool); /* every file, waiting or being sent */
uint32_t spool_waiting(const struct spool *spool); /* files not being sent */
uint64_t spool_records(const struct spool *spool);
const char *spool_dir(const struct spool *spool);
/* Torn or vanished files since open (at open included), and the records they held. */
uint64_t spool_corrupt_batches(const struct spool *spool);
uint64_t spool_corrupt_records(const struct spool *spool);
/* fsync and fdatasync calls made, for the stats. */
uint64_t spool_syncs(const struct spool *spool);

/*
 * Benchmarks only (tests/bench/spool_bench.c): durable 0 skips every fsync, to measure what
 * they cost. The agent never calls it.
 */
void spool_set_durable(struct spool *spool, int durable);

#endif
