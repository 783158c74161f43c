/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ingest: flow batches in (wire format or JSON lines), rows out to flows.raw.
 *
 * A batch is identified by (agent, run, sequence): the run is a random number an agent draws
 * at start (wire format 2), so an identity never repeats, whatever the agent's clock.
 * Rows are grouped into inserts. An insert goes through two steps:
 *   seal:   batches the store already holds are dropped (the store's flows.batches ledger is
 *           the authority, asked once per insert), and the rows are written to a write-ahead
 *           file beside the store and fsync'd: from here the insert survives a crash;
 *   insert: the rows go to ClickHouse in parts that each fill one partition of every table,
 *           each with its own deduplication token, so a part stored before (a retry, or a
 *           crash between parts) is skipped by ClickHouse in raw and in every rollup; the file
 *           is removed once every part is in.
 * At start, ingest_recover settles the write-ahead files a crash left.
 * docs/guarantees.md says what survives which failure.
 */
#ifndef FLOWCOLLECTOR_INGEST_H
#define FLOWCOLLECTOR_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define INGEST_PART_ROWS    1048576 /* rows per part: ClickHouse's own insert block */
#define INGEST_MAX_FUTURE_S 86400   /* first_seen at most this far ahead of our clock */

/*
 * A cluster of shards (cluster.h) in place of one store's inserts. Every sealed insert goes
 * whole to one shard, chosen when it is sealed and kept in its write-ahead file, so that every
 * retry and the recovery after a crash send the same bytes to the same shard, whose replicas
 * drop a block they already hold. Rows then carry inserted_at (the second their batch came),
 * so that a retry is the same block, and go to flows.ingest and flows.batches_local.
 */
struct ingest_router {
	void *ctx;
	/* the shard for a new insert; a negative errno with err set when none takes writes */
	int (*pick_shard)(void *ctx, uint32_t *shard, char *err, size_t err_len);
	int (*has_shard)(void *ctx, uint32_t shard);
	/* one RowBinary block into one shard, through any replica of it that takes writes */
	int (*insert)(void *ctx, uint32_t shard, const char *insert_sql, const void *data,
		      size_t len, char *err, size_t err_len);
};

struct ingest_options {
	uint32_t batch_rows;	 /* insert once this many rows wait, */
	uint32_t batch_ms;	 /* or this long after the first of them */
	const char *input_agent; /* agent id for JSON records that carry none */
	uint32_t part_rows;	 /* rows per part; 0: INGEST_PART_ROWS */
	/* records whose first packet is before 1990, or further ahead than this: refused */
	uint64_t max_future_s; /* 0: INGEST_MAX_FUTURE_S */
	const char *wal_dir;   /* write-ahead files; NULL: inserts are kept in memory only */
	int wal_durable;       /* wal_dir lies beside the store's own data (embedded store) */
	const struct ingest_router *router; /* NULL: one store */
};

struct ingest_stats {
	uint64_t messages; /* wire batches or JSON lines given */
	uint64_t batches;  /* distinct (agent, sequence) batches accepted */
	uint64_t rows_inserted;
	uint64_t inserts;
	uint64_t insert_failures;
	uint64_t insert_ns_total;
	uint64_t insert_ns_last;
	uint64_t last_insert_rows;
	uint64_t records_rejected;  /* impossible values or unparsable JSON lines */
	uint64_t messages_rejected; /* undecodable wire batches */
	uint64_t duplicate_batches;
	uint64_t duplicate_rows;
	uint64_t batches_missing; /* gaps not (yet) filled by late batches */
	uint64_t agent_restarts;
	uint64_t pending_rows;
	uint64_t agents;
	uint64_t sequence_alarms;	/* v1 first-of-run batch at or below the known sequence */
	uint64_t records_out_of_window; /* first_seen outside the accepted window, rejected */
	uint64_t rows_discarded;	/* pending rows dropped (partitions revoked) */
	uint64_t sealed_rows;		/* rows of the sealed insert not yet stored */
	uint64_t recovered_inserts;	/* write-ahead files finished at open */
	uint64_t wal_bytes;		/* bytes written to write-ahead files */
	uint64_t ledger_queries;	/* dedup lookups in the store */
	uint64_t wal_corrupt;		/* write-ahead files found damaged at open */
	uint64_t wal_ns_total;		/* time spent writing and syncing them */
};

struct ingest;

/* Reads back the batches the store holds; err says why on failure. */
int ingest_open(struct store *store, const struct ingest_options *options, struct ingest **ingest,
		char *err, size_t err_len);
/* How many rejection lines were not printed (at most 10 a minute are, without -v), if any. */
void ingest_report_unshown(struct ingest *ingest);
void ingest_close(struct ingest *ingest);

/*
 * One wire-format batch (a Kafka message). where names it in messages ("partition 0 offset
 * 17"). Returns 0, or -EBADMSG when it was rejected (counted and logged).
 */
int ingest_add_wire(struct ingest *ingest, const void *data, size_t len, const char *where);
/* One JSON line of the agent's output (a file: consecutive lines of one batch are one batch). */
int ingest_add_json(struct ingest *ingest, const char *line, size_t len, const char *where);
/*
 * One Kafka message of the agent's JSON format: its lines are one batch, so a message sent
 * twice is seen twice, even back to back. Returns 0, or -EBADMSG when lines were rejected.
 */
int ingest_add_json_message(struct ingest *ingest, const char *data, size_t len, const char *where);

/* 1 when the pending rows should be inserted now (size or age). */
int ingest_due(struct ingest *ingest);

/*
 * Seals the pending rows (see above). Returns 0 (also when nothing was pending), or a negative
 * errno with err set: the store could not be asked, or the file not written; the rows stay
 * pending. At most one insert is sealed at a time: call ingest_insert_sealed until it
 * succeeds before sealing again (-EBUSY otherwise).
 */
int ingest_seal(struct ingest *ingest, char *err, size_t err_len);
/* 1 when a sealed insert waits to be stored. */
int ingest_has_sealed(const struct ingest *ingest);
/* The sealed insert's id (random, nonzero), for the source's commit to name; 0 when none. */
uint64_t ingest_sealed_id(const struct ingest *ingest);
/* Stores the sealed insert; on failure it stays sealed, and the next call resumes it. */
int ingest_insert_sealed(struct ingest *ingest, char *err, size_t err_len);
/*
 * 1 when a sealed insert is as durable as the store itself (the write-ahead file lies on the
 * store's own disk: the embedded store), so a source may commit what it came from once it is
 * sealed; 0 when it may commit only after ingest_insert_sealed (a server store).
 */
int ingest_durable_when_sealed(const struct ingest *ingest);
/* Drops the pending (not sealed) rows: their source hands them to someone else. */
void ingest_discard_pending(struct ingest *ingest);
/* Drops the sealed insert unstored and removes its file (its source will hand it out again). */
void ingest_abandon_sealed(struct ingest *ingest);
/*
 * What the next sealed insert comes from (for Kafka: the partitions and offsets its source
 * would commit), kept in its write-ahead file for ingest_recover. Copied.
 */
int ingest_set_source(struct ingest *ingest, const void *source, size_t len);
/*
 * The source committed what the sealed insert came from: its file is renamed to say so, and
 * fsync'd, so that a restart finishes the insert without asking the source.
 */
int ingest_mark_committed(struct ingest *ingest, char *err, size_t err_len);

/*
 * Whether the source was committed for a sealed insert a crash interrupted: 1 yes (the insert
 * is finished), 0 no (its batches will be read again: the insert is dropped), or a negative
 * errno when the source cannot tell now.
 */
typedef int (*ingest_committed_fn)(void *ctx, uint64_t insert_id, const void *source, size_t len);
/*
 * Settles the write-ahead files a crash left, before anything is read: an insert whose source
 * was committed (or that has no source, as for --input) is inserted again, which finishes it
 * (ClickHouse skips the parts stored before); one whose source was not is dropped; a damaged
 * file is set aside and counted. committed may be NULL: files with a source are then kept and
 * the call fails. Returns 0, or a negative errno with err set.
 */
int ingest_recover(struct ingest *ingest, ingest_committed_fn committed, void *ctx, char *err,
		   size_t err_len);

/* ingest_seal then ingest_insert_sealed. */
int ingest_flush(struct ingest *ingest, char *err, size_t err_len);
void ingest_get_stats(const struct ingest *ingest, struct ingest_stats *stats);

#endif
