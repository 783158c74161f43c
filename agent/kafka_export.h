/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kafka export: flow records batched into messages (docs/wire-format.md) and produced with
 * librdkafka's idempotent producer, every delivery report checked.
 *
 * Where a batch goes: to Kafka while the in-flight bytes stay under queue_max_bytes and
 * Kafka answers; otherwise to the on-disk spool (if configured), from which batches are sent
 * again in spool order once Kafka answers; only when the spool is full (or absent) are
 * records dropped, and every dropped record is counted.
 *
 * A batch is named by (agent id, run id, sequence): the run id is drawn from getrandom() at
 * open, the sequence counts from 1 in each run. No clock is involved, so the name never
 * repeats, and a batch sent twice (spooled after a lost acknowledgement) is a duplicate the
 * collector can drop.
 *
 * Accounting, checked at close (kafka_export_unaccounted), for batches and for records:
 *   sealed            = (delivered - resent) + spooled + (dropped - spool_dropped)
 *   spool_found + spooled = resent + spool_dropped + left in the spool
 * A message whose delivery report never came is spooled or dropped when its producer handle
 * is destroyed, so both hold whatever Kafka does.
 */
#ifndef FLOWAGENT_KAFKA_EXPORT_H
#define FLOWAGENT_KAFKA_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "kafka_conf.h"

enum kafka_format {
	KAFKA_FORMAT_BINARY = 0, /* the wire format */
	KAFKA_FORMAT_JSON,	 /* JSONEachRow, for ClickHouse's Kafka table engine */
};

struct kafka_export_config {
	const char *brokers;
	const char *topic;
	const char *agent_id;
	enum kafka_format format;
	const char *compression;     /* lz4 (default), zstd, gzip, snappy, none */
	const char *properties_file; /* librdkafka properties, key=value lines; may be NULL */
	struct kafka_properties properties; /* -X key=value, applied after the file */
	uint32_t batch_records;		    /* a batch is sealed at this many records, */
	size_t batch_bytes;		    /* or this many bytes, */
	uint32_t batch_ms;		    /* or this long after its first record */
	size_t queue_max_bytes; /* in-memory bound: bytes handed to librdkafka, unacked */
	const char *spool_dir;	/* NULL: no spool */
	uint64_t spool_max_bytes;
	int block_when_full; /* replay: wait for room instead of spooling while Kafka is up */
};

struct kafka_export_stats {
	uint64_t records;	    /* given to the exporter */
	uint64_t batches;	    /* sealed */
	uint64_t batches_delivered; /* directly or from the spool */
	uint64_t records_delivered;
	uint64_t bytes_delivered; /* message payload bytes, before compression */
	uint64_t batches_spooled; /* put into the spool by this run */
	uint64_t records_spooled;
	uint64_t batches_resent; /* delivered from the spool */
	uint64_t records_resent;
	uint64_t records_dropped; /* every loss, the spool's included */
	uint64_t batches_dropped;
	uint64_t spool_found_batches; /* in the spool at open, torn ones included */
	uint64_t spool_found_records;
	uint64_t spool_dropped_batches; /* of those dropped: out of the spool (torn, vanished...) */
	uint64_t spool_dropped_records;
	uint64_t delivery_failures; /* failed delivery reports (the batch was spooled or dropped) */
	uint64_t spool_corrupt;	    /* spooled batches found torn, or whose file vanished */
	uint64_t inflight_bytes;
	uint64_t inflight_batches;
	uint64_t spool_bytes;
	uint64_t spool_batches; /* in the spool now */
	uint64_t spool_records;
	uint64_t spool_files; /* files holding them */
	uint64_t spool_syncs; /* fsync and fdatasync calls */
	uint64_t unaccounted; /* set by close: how far off the balances are; 0 */
	uint64_t run_id;
	uint64_t next_sequence;
	int kafka_up;
};

struct kafka_export;

/* Validates the configuration and starts the producer; on failure err says what was wrong. */
int kafka_export_open(const struct kafka_export_config *config, struct kafka_export **exporter,
		      char *err, size_t err_len);
void kafka_export_record(struct kafka_export *exporter, const struct flow_record *record);
/* Serves delivery reports, seals a batch that is old enough, sends spooled batches. Cheap. */
void kafka_export_poll(struct kafka_export *exporter);
/*
 * Seals the last batch and waits up to timeout_ms for everything (the spool included) to be
 * delivered. Then it purges the producer and serves every delivery report that is still
 * due: what was not delivered goes to the spool, or is counted as dropped. Frees the
 * exporter. Returns 0 when nothing was dropped and the balances hold, -EIO otherwise.
 */
int kafka_export_close(struct kafka_export *exporter, int timeout_ms,
		       struct kafka_export_stats *final_stats);
void kafka_export_get_stats(struct kafka_export *exporter, struct kafka_export_stats *stats);
/* How far the final stats are off the balances above (batches plus records); 0 when sound. */
uint64_t kafka_export_unaccounted(const struct kafka_export_stats *stats);
/* The librdkafka handle, for tests that drive librdkafka's mock cluster. */
struct rd_kafka_s *kafka_export_handle(struct kafka_export *exporter);

#endif
