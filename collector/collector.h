/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ingest run: a source (Kafka, or a file) hands batches to ingest, and the run inserts
 * them into the store. What the sources share lives here: the stop flag, the flush with
 * retries (seal, commit, insert, in the order ingest.h allows), and the numbers the metrics
 * endpoint and the summary show.
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
	EXIT_INTERRUPTED =
		4, /* --input: stopped by a signal before its end; what was read is stored */
};

/* Set by SIGINT, SIGTERM and SIGHUP to the signal's number: every loop stops at its next step. */
extern volatile sig_atomic_t collector_stop_requested;
/*
 * While a flush is under way: a line saying what it waits for, which a second stop signal
 * prints (with write(2), from the handler); NULL otherwise.
 */
extern const char *volatile collector_waiting_for;
/*
 * Read end of a pipe the stop handler writes a byte to: a reader blocked in poll wakes up
 * whichever thread the signal was delivered to (libchdb's threads take signals too). -1 until
 * collector_stop_pipe_open.
 */
extern int collector_stop_fd;
int collector_stop_pipe_open(void);
/* For the signal handler: sets collector_stop_requested and wakes collector_stop_fd. */
void collector_stop_signal(int sig);

/* What a source lets the run do on its behalf; every hook may be NULL. */
struct collector_source_hooks {
	void *ctx;
	/*
	 * An insert is being retried: keep the source's session alive for about ms, taking in
	 * nothing new (the first call pauses the source, resumed ends it).
	 */
	void (*waiting)(void *ctx, uint32_t ms);
	/* the retry is over (stored, settled elsewhere, or given up): read on */
	void (*resumed)(void *ctx);
	/* the pending rows are about to be sealed: hand ingest what they came from */
	int (*sealing)(void *ctx);
	/* the pending rows were sealed: what they came from is now the sealed insert's */
	void (*sealed)(void *ctx);
	/* commit what the sealed insert came from; 0, or a negative errno (tried again) */
	int (*commit)(void *ctx);
	/* the sealed insert and the pending rows were dropped: forget what they came from */
	void (*dropped)(void *ctx);
	/* messages not yet consumed, or -1 when unknown */
	int64_t (*lag)(void *ctx);
};

struct collector {
	struct store *store;
	struct cluster *cluster; /* --cluster: its health on /metrics; NULL for one store */
	struct ingest *ingest;
	struct collector_source_hooks source;
	/* retries of one flush stop after this long (0: until stored or stopped) */
	uint32_t insert_retry_timeout_ms;
	/* the flush under way: sealed (and handed to the source), and its source committed */
	int flush_sealed;
	int flush_committed;
	/* tests only: inserts fail while this file exists (FLOWCOLLECTOR_TEST_FAIL_INSERTS_WHILE) */
	const char *fail_inserts_while;
	/* what the metrics thread reads, refreshed after each insert when metrics_served */
	int metrics_served;
	pthread_mutex_t lock;
	struct ingest_stats snapshot;
	int64_t lag;
	uint64_t started_ms;
	uint64_t retry_started_ms; /* 0: no insert is being retried */
	uint64_t rebalances_assign, rebalances_revoke;
	int64_t partitions_assigned; /* -1: the source has no partitions */
	/* inserts finished at start although another member had committed past them */
	uint64_t offsets_ambiguous;
};

/* Reads the test faults from the environment (and says so, loudly). */
void collector_init(struct collector *c);

/*
 * Seals what waits, has the source commit it and inserts it (the commit before the insert
 * when ingest_durable_when_sealed, else after), retrying with backoff until done, a stop is
 * asked for, or insert_retry_timeout_ms has passed. Returns 0; -EIO when stopped before the
 * rows were stored; -ETIMEDOUT when the retries ran out (the last error printed).
 */
int collector_flush(struct collector *c);
/*
 * The same within budget_ms and without the source's waiting hook (from inside the source's
 * callbacks, e.g. a revoke): returns 0 once what was pending is committed (and, unless
 * durable when sealed, stored); else drops the pending rows and the sealed insert, tells the
 * source (dropped) and returns a negative errno. lost: the source can no longer commit, so
 * only what is committed already is kept.
 */
int collector_settle(struct collector *c, uint32_t budget_ms, int lost);
/*
 * Drops whatever the source has not committed (a run that ends without storing it all): the
 * next reader gets it again. What is committed stays sealed, for ingest to finish it.
 */
void collector_drop_uncommitted(struct collector *c);
/* A source's rebalance: kind "assign" or "revoke", partitions assigned afterwards. */
void collector_note_rebalance(struct collector *c, int assign, int64_t partitions);
/* Refreshes the numbers the metrics endpoint serves. */
void collector_snapshot(struct collector *c);

/* Prometheus text for the run: ctx is the struct collector. */
struct prom_writer;
void collector_metrics_render(void *ctx, struct prom_writer *out);
/* The summary printed to stderr at the end of a run. */
void collector_print_summary(struct collector *c, double seconds);

#endif
