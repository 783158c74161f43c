// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Summary lines and Prometheus text for the Kafka exporter; see kafka_stats.h. */
#include <inttypes.h>

#include "kafka_stats.h"
#include "prom.h"

void kafka_stats_print(const struct kafka_export_stats *stats, FILE *file)
{
	const struct {
		const char *name;
		uint64_t value;
	} rows[] = {
		{ "kafka_records", stats->records },
		{ "kafka_batches", stats->batches },
		{ "kafka_batches_delivered", stats->batches_delivered },
		{ "kafka_records_delivered", stats->records_delivered },
		{ "kafka_bytes_delivered", stats->bytes_delivered },
		{ "kafka_delivery_failures", stats->delivery_failures },
		{ "kafka_batches_spooled", stats->batches_spooled },
		{ "kafka_records_spooled", stats->records_spooled },
		{ "kafka_batches_resent", stats->batches_resent },
		{ "kafka_records_resent", stats->records_resent },
		{ "kafka_records_dropped", stats->records_dropped },
		{ "kafka_batches_dropped", stats->batches_dropped },
		{ "kafka_spool_found_batches", stats->spool_found_batches },
		{ "kafka_spool_found_records", stats->spool_found_records },
		{ "kafka_spool_dropped_batches", stats->spool_dropped_batches },
		{ "kafka_spool_dropped_records", stats->spool_dropped_records },
		{ "kafka_spool_corrupt", stats->spool_corrupt },
		{ "kafka_spool_batches", stats->spool_batches },
		{ "kafka_spool_records", stats->spool_records },
		{ "kafka_spool_files", stats->spool_files },
		{ "kafka_spool_bytes", stats->spool_bytes },
		{ "kafka_spool_syncs", stats->spool_syncs },
		{ "kafka_unaccounted", stats->unaccounted },
		{ "kafka_run_id", stats->run_id },
		{ "kafka_next_sequence", stats->next_sequence },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(file, "  %-24s %" PRIu64 "\n", rows[i].name, rows[i].value);
}

void kafka_stats_prometheus(const struct kafka_export_stats *stats, struct prom_writer *out)
{
	static const char records[] = "flowagent_kafka_records_total";
	static const char batches[] = "flowagent_kafka_batches_total";

	prom_family(out, records, "counter", "Flow records by what became of them.");
	prom_u64(out, records, "state=\"batched\"", stats->records);
	prom_u64(out, records, "state=\"delivered\"", stats->records_delivered);
	prom_u64(out, records, "state=\"spooled\"", stats->records_spooled);
	prom_u64(out, records, "state=\"dropped\"", stats->records_dropped);
	prom_family(out, batches, "counter", "Kafka messages by what became of them.");
	prom_u64(out, batches, "state=\"sealed\"", stats->batches);
	prom_u64(out, batches, "state=\"delivered\"", stats->batches_delivered);
	prom_u64(out, batches, "state=\"spooled\"", stats->batches_spooled);
	prom_u64(out, batches, "state=\"resent\"", stats->batches_resent);
	prom_u64(out, batches, "state=\"dropped\"", stats->batches_dropped);
	prom_u64(out, batches, "state=\"spool_dropped\"", stats->spool_dropped_batches);
	prom_counter(out, "flowagent_kafka_spool_corrupt_total",
		     "Spooled batches found torn, or whose file vanished: lost.",
		     stats->spool_corrupt);
	prom_counter(out, "flowagent_kafka_spool_syncs_total",
		     "fsync and fdatasync calls of the spool.", stats->spool_syncs);
	prom_counter(out, "flowagent_kafka_delivery_failures_total", "Failed delivery reports.",
		     stats->delivery_failures);
	prom_counter(out, "flowagent_kafka_bytes_delivered_total",
		     "Message bytes delivered, before compression.", stats->bytes_delivered);
	prom_gauge(out, "flowagent_kafka_inflight_bytes",
		   "Bytes handed to Kafka and not yet acknowledged.", stats->inflight_bytes);
	prom_gauge(out, "flowagent_kafka_spool_bytes", "Bytes waiting in the on-disk spool.",
		   stats->spool_bytes);
	prom_gauge(out, "flowagent_kafka_spool_batches", "Batches waiting in the on-disk spool.",
		   stats->spool_batches);
	prom_gauge(out, "flowagent_kafka_up", "1 while Kafka acknowledges batches.",
		   (uint64_t)stats->kafka_up);
}
