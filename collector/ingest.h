/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ingest: flow batches in (wire format or JSON lines), rows out to flows.raw.
 *
 * Rows are grouped into large inserts (one part each, so a group is stored whole or not at
 * all). Every row carries its batch's agent id and sequence number, and flows.raw keeps a
 * projection of the (agent, sequence) pairs it holds, written with each part. At start the
 * collector reads those pairs back, and from then on it skips any batch it has stored before:
 * a batch redelivered after a crash, or sent twice by an agent, is stored once. Gaps in an
 * agent's sequence are reported; a jump before a batch flagged FIRST_OF_RUN is a restart.
 */
#ifndef FLOWCOLLECTOR_INGEST_H
#define FLOWCOLLECTOR_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct ingest_options {
	uint32_t batch_rows;	 /* insert once this many rows wait, */
	uint32_t batch_ms;	 /* or this long after the first of them */
	const char *input_agent; /* agent id for JSON records that carry none */
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
};

struct ingest;

/* Reads back the batches the store holds; err says why on failure. */
int ingest_open(struct store *store, const struct ingest_options *options, struct ingest **ingest,
		char *err, size_t err_len);
void ingest_close(struct ingest *ingest);

/*
 * One wire-format batch (a Kafka message). where names it in messages ("partition 0 offset
 * 17"). Returns 0, or -EBADMSG when it was rejected (counted and logged).
 */
int ingest_add_wire(struct ingest *ingest, const void *data, size_t len, const char *where);
/* One JSON line of the agent's output, or of its Kafka JSON format. */
int ingest_add_json(struct ingest *ingest, const char *line, size_t len, const char *where);

/* 1 when the pending rows should be inserted now (size or age). */
int ingest_due(struct ingest *ingest);
/* Inserts the pending rows; on failure they stay pending for the next try. */
int ingest_flush(struct ingest *ingest, char *err, size_t err_len);
void ingest_get_stats(const struct ingest *ingest, struct ingest_stats *stats);

#endif
