/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The on-disk spool: batches Kafka could not take yet, sent again in the order they were
 * spooled. Bounded in bytes; the directory is locked by one agent at a time.
 *
 * A spool record is a 16-byte header ("FLSP", record count, CRC-32C and length of the
 * payload, little-endian) and the Kafka message payload as it would have been sent. A spool
 * file holds the records of one commit group, back to back, so a burst of batches costs one
 * fdatasync per file instead of one per batch. Each batch has a spool-local ordinal that
 * orders the batches and nothing else; the batch's identity (agent, run, sequence) is inside
 * the payload, so the spool keeps no sequence number of its own.
 *
 * Names. A file being filled is "<first ordinal, 20 digits>.open". Committed, it is renamed
 * "<first ordinal>-<batches>-<records>.batch": the name says what the file must hold, so a
 * file torn later (truncated, zero-filled) still tells exactly how many batches and records
 * were lost. A "<ordinal>.batch" (one batch per file, as earlier agents wrote) is read too.
 *
 * Power loss. spool_commit fdatasyncs each file filled since the last commit, renames it to
 * its committed name and fsyncs the directory once (group commit): a committed name never
 * holds bytes the disk does not. The caller commits at the end of each poll iteration, so a
 * spooled batch is on disk within one iteration; until then it is as safe as a batch in
 * memory, which is what it was a moment before. A file is also committed when it reaches
 * SPOOL_FILE_MAX_BATCHES or SPOOL_FILE_MAX_BYTES. A file is removed once its last batch is
 * delivered, without a sync: if a crash brings it back, its batches are sent again, and
 * their identities make the copies duplicates the collector drops.
 *
 * Torn files, as a machine crash or a failing disk can leave them, are found at open (every
 * record's header and length) or when a batch is taken (its header again and its checksum):
 * the batches they lost are counted in spool_corrupt_batches/records and logged; the file's
 * good batches are still sent. At open, a file with a torn tail keeps its good records under
 * a name that counts only them, and the torn bytes are set aside as NAME.corrupt. An
 * uncommitted (.open) file left by a crash keeps its complete records, and is committed; an
 * incomplete end there is a batch the spool never promised to keep (see above), set aside
 * and logged but not counted here: like a batch in memory at a crash, the collector's gap
 * report counts it.
 */
#ifndef FLOWAGENT_SPOOL_H
#define FLOWAGENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* A spool file is committed at whichever comes first. */
#define SPOOL_FILE_MAX_BATCHES 64
#define SPOOL_FILE_MAX_BYTES   (4u << 20)

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
 * Stores a batch, durable once spool_commit returns. -EDQUOT when it would pass max_bytes,
 * or another negative errno (-ENOSPC: the filesystem is full); nothing is kept then.
 */
int spool_put(struct spool *spool, uint32_t records, const void *payload, size_t len);
/*
 * Makes every spool_put since the last commit durable: one fdatasync per file filled and one
 * directory fsync. 0 or -errno (the batches stay spooled; the next commit tries again).
 */
int spool_commit(struct spool *spool);

/*
 * Reads the oldest batch not being sent, and marks it as being sent; *id names it for
 * spool_delivered and spool_retry. Returns 1 with a malloc'd payload, 0 when none is waiting,
 * or a negative errno. A torn batch or one whose file vanished is forgotten and reported
 * through err, with the records the index knew of in *records, and the call returns -EBADMSG
 * (the counters above include it).
 */
int spool_take(struct spool *spool, uint64_t *id, uint32_t *records, void **payload, size_t *len,
	       char *err, size_t err_len);
/* The batch was delivered (or dropped for good); its file goes with its last batch. */
void spool_delivered(struct spool *spool, uint64_t id);
/* The batch could not be delivered: it waits again, in its place. */
void spool_retry(struct spool *spool, uint64_t id);

uint64_t spool_bytes(const struct spool *spool); /* the files' sizes on disk */
uint64_t spool_max_bytes(const struct spool *spool);
uint32_t spool_batches(const struct spool *spool); /* every batch, waiting or being sent */
uint32_t spool_waiting(const struct spool *spool); /* batches not being sent */
uint32_t spool_files(const struct spool *spool);
uint64_t spool_records(const struct spool *spool);
const char *spool_dir(const struct spool *spool);
/* Torn or vanished batches since open (at open included), and the records they held. */
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
