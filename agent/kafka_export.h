/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kafka export: flow records batched into messages (docs/wire-format.md) and produced with
 * librdkafka's idempotent producer, every delivery report checked.
 *
 * Where a batch goes: to Kafka while the in-flight bytes stay under queue_max_bytes and
 * Kafka answers; otherwise to the on-disk spool (if configured), from which batches are sent
 * again in sequence order once Kafka answers; only when the spool is full (or absent) are
 * records dropped, and every dropped record is counted.
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
	uint64_t records; /* given to the exporter */
	uint64_t batches; /* sealed */
	uint64_t batches_delivered;
	uint64_t records_delivered;
	uint64_t bytes_delivered; /* message payload bytes, before compression */
	uint64_t batches_spooled;
	uint64_t records_spooled;
	uint64_t batches_resent; /* delivered from the spool */
	uint64_t records_dropped;
	uint64_t batches_dropped;
	uint64_t delivery_failures; /* failed delivery reports (the batch was spooled or dropped) */
	uint64_t spool_corrupt;	    /* spool files set aside */
	uint64_t inflight_bytes;
	uint64_t inflight_batches;
	uint64_t spool_bytes;
	uint64_t spool_batches;
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
 * delivered; what is left goes to the spool, or is counted as dropped. Frees the exporter.
 * Returns 0 when nothing was dropped, -EIO otherwise.
 */
int kafka_export_close(struct kafka_export *exporter, int timeout_ms,
		       struct kafka_export_stats *final_stats);
void kafka_export_get_stats(struct kafka_export *exporter, struct kafka_export_stats *stats);
/* The librdkafka handle, for tests that drive librdkafka's mock cluster. */
struct rd_kafka_s *kafka_export_handle(struct kafka_export *exporter);

#endif
