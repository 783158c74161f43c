/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Where flow records go: JSON lines on standard output, or Kafka. Live and replay share it. */
#ifndef FLOWAGENT_EXPORT_H
#define FLOWAGENT_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "flow_output.h"
#include "kafka_export.h"

struct exporter {
	struct flow_output *json; /* standard output, when there is no Kafka */
	struct kafka_export *kafka;
	uint64_t records;
	uint64_t bytes; /* the records' L3 bytes */
};

/* kafka NULL: JSON lines on standard output. Returns 0, or an error explained in err. */
int exporter_open(struct exporter *exporter, const struct kafka_export_config *kafka, char *err,
		  size_t err_len);

static inline void exporter_write(struct exporter *exporter, const struct flow_record *record)
{
	exporter->records++;
	exporter->bytes += record->stats.bytes;
	if (exporter->kafka)
		kafka_export_record(exporter->kafka, record);
	else
		flow_output_json(exporter->json, record);
}

/* Kafka's delivery reports, time-sealed batches and the spool: call it often. */
void exporter_poll(struct exporter *exporter);
/* Writes out buffered JSON; returns 0 or the first write error (a negative errno). */
int exporter_flush(struct exporter *exporter);
/*
 * Flushes everything (Kafka: waits up to timeout_ms, then spools) and frees. The Kafka
 * counters go to *stats (may be NULL). Returns 0, or a negative errno when records were lost.
 */
int exporter_close(struct exporter *exporter, int timeout_ms, struct kafka_export_stats *stats);
/* Kafka counters for the metrics endpoint; returns 0 when there is no Kafka. */
int exporter_kafka_stats(struct exporter *exporter, struct kafka_export_stats *stats);

#endif
