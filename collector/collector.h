/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ingest run: a source (Kafka, or a file) hands batches to ingest, and the run inserts
 * them into the store. What the sources share lives here: the stop flag, the flush with
 * retries, and the numbers the metrics endpoint and the summary show.
 */
#ifndef FLOWCOLLECTOR_COLLECTOR_H
#define FLOWCOLLECTOR_COLLECTOR_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest.h"
#include "store.h"

enum collector_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1, /* the store or Kafka failed */
	EXIT_USAGE = 2,
	EXIT_INPUT_ERROR = 3, /* --input: records were rejected; the rest is stored */
};

/* Set by SIGINT, SIGTERM and SIGHUP: every loop stops at its next step. */
extern volatile sig_atomic_t collector_stop_requested;

/* What a source lets the run do on its behalf; every hook may be NULL. */
struct collector_source_hooks {
	void *ctx;
	/* called while an insert is being retried: keep the source's session alive */
	void (*waiting)(void *ctx);
	/* called once the pending rows are stored: commit what they came from */
	void (*stored)(void *ctx);
	/* messages not yet consumed, or -1 when unknown */
	int64_t (*lag)(void *ctx);
};

struct collector {
	struct store *store;
	struct ingest *ingest;
	struct collector_source_hooks source;
	/* what the metrics thread reads, refreshed after each insert when metrics_served */
	int metrics_served;
	pthread_mutex_t lock;
	struct ingest_stats snapshot;
	int64_t lag;
	uint64_t started_ms;
};

/*
 * Inserts what waits, retrying with backoff until it is stored or a stop is asked for; then
 * tells the source (stored). Returns 0, or -EIO when stopped before the rows were stored.
 */
int collector_flush(struct collector *c);
/* Refreshes the numbers the metrics endpoint serves. */
void collector_snapshot(struct collector *c);

/* Prometheus text for the run: ctx is the struct collector. */
struct prom_writer;
void collector_metrics_render(void *ctx, struct prom_writer *out);
/* The summary printed to stderr at the end of a run. */
void collector_print_summary(struct collector *c, double seconds);

#endif
