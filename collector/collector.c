// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ingest run's shared parts: flushing with retries, metrics and the summary. */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "log.h"
#include "prom.h"

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

volatile sig_atomic_t collector_stop_requested;

int collector_flush(struct collector *c)
{
	uint32_t retry_ms = RETRY_MIN_MS;
	char err[1024];

	while (ingest_flush(c->ingest, err, sizeof(err))) {
		pr_warn("insert failed, retrying in %u ms: %s\n", retry_ms, err);
		if (collector_stop_requested)
			return -EIO;
		usleep(retry_ms * 1000);
		if (c->source.waiting)
			c->source.waiting(c->source.ctx);
		retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
	}
	if (c->source.stored)
		c->source.stored(c->source.ctx);
	if (c->metrics_served)
		collector_snapshot(c);
	return 0;
}

void collector_snapshot(struct collector *c)
{
	struct ingest_stats stats;
	int64_t lag = c->source.lag ? c->source.lag(c->source.ctx) : -1;

	ingest_get_stats(c->ingest, &stats);
	pthread_mutex_lock(&c->lock);
	c->snapshot = stats;
	c->lag = lag;
	pthread_mutex_unlock(&c->lock);
}

void collector_metrics_render(void *ctx, struct prom_writer *out)
{
	struct collector *c = ctx;
	struct ingest_stats s;
	double uptime;
	int64_t lag;

	pthread_mutex_lock(&c->lock);
	s = c->snapshot;
	lag = c->lag;
	pthread_mutex_unlock(&c->lock);
	uptime = (double)(monotonic_ms() - c->started_ms) / 1000.0;

	prom_counter(out, "flowcollector_rows_inserted_total", "Flow rows stored.",
		     s.rows_inserted);
	prom_family(out, "flowcollector_rows_per_second", "gauge",
		    "Rows stored per second since start.");
	prom_double(out, "flowcollector_rows_per_second", "", "%.1f",
		    uptime > 0 ? (double)s.rows_inserted / uptime : 0.0);
	prom_counter(out, "flowcollector_inserts_total", "Inserts into ClickHouse.", s.inserts);
	prom_counter(out, "flowcollector_insert_failures_total",
		     "Inserts that failed (and were retried).", s.insert_failures);
	prom_gauge(out, "flowcollector_batch_rows", "Rows in the last insert.", s.last_insert_rows);
	prom_family(out, "flowcollector_insert_seconds_last", "gauge",
		    "Duration of the last insert.");
	prom_double(out, "flowcollector_insert_seconds_last", "", "%.6f",
		    (double)s.insert_ns_last / 1e9);
	prom_family(out, "flowcollector_insert_seconds_total", "counter", "Time spent inserting.");
	prom_double(out, "flowcollector_insert_seconds_total", "", "%.6f",
		    (double)s.insert_ns_total / 1e9);
	prom_counter(out, "flowcollector_records_rejected_total",
		     "Records with impossible values or unreadable JSON, skipped.",
		     s.records_rejected);
	prom_counter(out, "flowcollector_messages_rejected_total",
		     "Messages the wire decoder rejected.", s.messages_rejected);
	prom_counter(out, "flowcollector_duplicate_batches_total",
		     "Batches stored before, skipped.", s.duplicate_batches);
	prom_gauge(out, "flowcollector_batches_missing", "Batches missing from agents' sequences.",
		   s.batches_missing);
	prom_counter(out, "flowcollector_agent_restarts_total", "Agent restarts seen in sequences.",
		     s.agent_restarts);
	prom_gauge(out, "flowcollector_rows_pending", "Rows waiting for the next insert.",
		   s.pending_rows);
	prom_family(out, "flowcollector_consumer_lag", "gauge",
		    "Kafka messages not yet consumed, -1 unknown.");
	prom_i64(out, "flowcollector_consumer_lag", "", lag);
}

void collector_print_summary(struct collector *c, double seconds)
{
	struct ingest_stats s;
	size_t i;

	ingest_get_stats(c->ingest, &s);
	const struct {
		const char *name;
		uint64_t value;
	} rows[] = {
		{ "messages", s.messages },
		{ "batches", s.batches },
		{ "rows_inserted", s.rows_inserted },
		{ "inserts", s.inserts },
		{ "records_rejected", s.records_rejected },
		{ "messages_rejected", s.messages_rejected },
		{ "duplicate_batches", s.duplicate_batches },
		{ "duplicate_rows", s.duplicate_rows },
		{ "batches_missing", s.batches_missing },
		{ "agent_restarts", s.agent_restarts },
		{ "agents", s.agents },
	};

	fprintf(stderr, "flowcollector: summary\n");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(stderr, "  %-22s %" PRIu64 "\n", rows[i].name, rows[i].value);
	fprintf(stderr, "  %-22s %.3f s (%.0f rows/s)\n", "elapsed", seconds,
		seconds > 0 ? (double)s.rows_inserted / seconds : 0.0);
}
