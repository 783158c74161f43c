/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The on-disk spool: batches Kafka could not take yet, one file per batch, named by its
 * sequence number so they are sent again in order. Bounded in bytes; the directory is locked
 * by one agent at a time. It also keeps the agent's next batch sequence number, so numbering
 * continues across restarts.
 *
 * A spool file is a 16-byte header ("FLSP", record count, CRC-32C and length of the payload,
 * little-endian) and the Kafka message payload as it would have been sent.
 */
#ifndef FLOWAGENT_SPOOL_H
#define FLOWAGENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* Opens (creating) and locks dir, and indexes the batches already in it. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **spool, char *err,
	       size_t err_len);
void spool_close(struct spool *spool);

/* Stores a batch; -ENOSPC when it would pass max_bytes, or another negative errno. */
int spool_put(struct spool *spool, uint64_t sequence, uint32_t records, const void *payload,
	      size_t len);

/*
 * Reads the oldest batch not being sent, and marks it as being sent. Returns 1 with a malloc'd
 * payload, 0 when none is waiting, or a negative errno. A corrupt file is renamed to
 * NAME.corrupt and reported through err; its records (if its header was readable) are counted
 * in *records and the call returns -EBADMSG.
 */
int spool_take(struct spool *spool, uint64_t *sequence, uint32_t *records, void **payload,
	       size_t *len, char *err, size_t err_len);
/* The batch was delivered: its file is removed. */
void spool_delivered(struct spool *spool, uint64_t sequence);
/* The batch could not be delivered: it waits again. */
void spool_retry(struct spool *spool, uint64_t sequence);

uint64_t spool_bytes(const struct spool *spool);
uint64_t spool_max_bytes(const struct spool *spool);
uint32_t spool_batches(const struct spool *spool); /* every file, waiting or being sent */
uint32_t spool_waiting(const struct spool *spool); /* files not being sent */
uint64_t spool_records(const struct spool *spool);
const char *spool_dir(const struct spool *spool);

/*
 * The next sequence number to use: the stored one, at least one past every spooled batch; 0
 * when the spool has never stored one. spool_set_next_sequence stores it (a plain write, no
 * fsync: it survives the process, not the machine; after a machine crash the spooled files
 * still keep numbering ahead of them).
 */
uint64_t spool_next_sequence(const struct spool *spool);
int spool_set_next_sequence(struct spool *spool, uint64_t next);

#endif
