// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ingest run's shared parts: flushing with retries, metrics and the summary. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "collector.h"
#include "log.h"
#include "prom.h"

#define RETRY_MIN_MS	500
#define RETRY_MAX_MS	30000
#define RETRY_SLICE_MS	200 /* a cluster's retry pause looks at replica health this often */
#define SETTLE_RETRY_MS 250

volatile sig_atomic_t collector_stop_requested;
const char *volatile collector_waiting_for;
int collector_stop_fd = -1;
static int stop_wake_fd = -1;

int collector_stop_pipe_open(void)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	collector_stop_fd = fds[0];
	stop_wake_fd = fds[1];
	return 0;
}

void collector_stop_signal(int sig)
{
	const char *waiting = collector_waiting_for;
	int saved_errno = errno;
	ssize_t written;

	/* a second signal while the rows read are being stored: say what it waits for */
	if (collector_stop_requested && waiting) {
		written = write(STDERR_FILENO, waiting, strlen(waiting));
		(void)written;
	}
	collector_stop_requested = sig;
	if (stop_wake_fd >= 0) {
		written = write(stop_wake_fd, "", 1);
		(void)written;
	}
	errno = saved_errno;
}

/* What a second stop signal prints while this flush runs. */
static void waiting_set(struct collector *c)
{
	static char line[512];
	struct ingest_stats s;

	collector_waiting_for = NULL;
	ingest_get_stats(c->ingest, &s);
	snprintf(line, sizeof(line),
		 "flowcollector: stopping once the %" PRIu64 " rows read are stored in %s (an "
		 "insert is under way; a stop leaves them unstored only if it fails)\n",
		 s.pending_rows + s.sealed_rows, store_describe(c->store));
	collector_waiting_for = line;
}

void collector_init(struct collector *c)
{
	const char *fault = getenv("FLOWCOLLECTOR_TEST_FAIL_INSERTS_WHILE");

	c->partitions_assigned = -1;
	if (fault && *fault) {
		c->fail_inserts_while = fault;
		pr_warn("*** TEST FAULT: FLOWCOLLECTOR_TEST_FAIL_INSERTS_WHILE=%s: every insert "
			"fails while that file exists. Never set this outside the tests. ***\n",
			fault);
	}
}

/* One try at storing the sealed insert, unless the test fault says no. */
static int insert_attempt(struct collector *c, char *err, size_t err_len)
{
	if (c->fail_inserts_while && !access(c->fail_inserts_while, F_OK)) {
		snprintf(err, err_len, "test fault: inserts disabled (%s exists)",
			 c->fail_inserts_while);
		return -EIO;
	}
	return ingest_insert_sealed(c->ingest, err, err_len);
}

static int source_commit(struct collector *c, char *err, size_t err_len)
{
	int ret = c->source.commit ? c->source.commit(c->source.ctx) : 0;

	if (ret)
		snprintf(err, err_len, "committing the offsets failed (%s)", strerror(-ret));
	return ret;
}

/*
 * One pass through the flush: seal (unless a flush is under way), commit, insert, commit.
 * Returns 0 once it is done, or, with until_committed, as soon as the source has committed
 * (the sealed insert is then the run's to finish).
 */
static int flush_step(struct collector *c, int until_committed, char *err, size_t err_len)
{
	int durable = ingest_durable_when_sealed(c->ingest);
	int ret;

	if (!c->flush_sealed) {
		ret = c->source.sealing ? c->source.sealing(c->source.ctx) : 0;
		if (ret) {
			snprintf(err, err_len, "keeping the source's offsets failed (%s)",
				 strerror(-ret));
			return ret;
		}
		ret = ingest_seal(c->ingest, err, err_len);
		if (ret)
			return ret;
		c->flush_sealed = 1;
		c->flush_committed = 0;
		if (c->source.sealed)
			c->source.sealed(c->source.ctx);
	}
	/* durable when sealed: the rows survive us now, so the source may let go of them */
	if (!c->flush_committed && (durable || !ingest_has_sealed(c->ingest))) {
		ret = source_commit(c, err, err_len);
		if (ret)
			return ret;
		c->flush_committed = 1;
		/* a restart then finishes the insert without asking the source */
		if (ingest_has_sealed(c->ingest) && ingest_mark_committed(c->ingest, err, err_len))
			pr_warn("%s; a restart asks the source instead\n", err);
	}
	if (until_committed && c->flush_committed)
		return 0;
	if (ingest_has_sealed(c->ingest)) {
		ret = insert_attempt(c, err, err_len);
		if (ret)
			return ret;
	}
	if (!c->flush_committed) {
		/* stored: a batch read again is found in the store's ledger and skipped */
		if (source_commit(c, err, err_len))
			pr_warn("%s; the rows are stored, and skipped when read again\n", err);
		c->flush_committed = 1;
	}
	c->flush_sealed = 0;
	c->flush_committed = 0;
	return 0;
}

static void retry_state_set(struct collector *c, uint64_t started_ms)
{
	pthread_mutex_lock(&c->lock);
	c->retry_started_ms = started_ms;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The pause before an insert is tried again, serving the source meanwhile; on a cluster it
 * ends early when a replica comes back, so that an outage costs its length and not the backoff.
 */
static void retry_wait(struct collector *c, uint32_t ms)
{
	uint64_t recoveries = c->cluster ? cluster_recoveries(c->cluster) : 0;
	uint32_t waited = 0;

	while (waited < ms && !collector_stop_requested) {
		uint32_t slice = c->cluster && ms - waited > RETRY_SLICE_MS ? RETRY_SLICE_MS :
									      ms - waited;

		if (c->source.waiting)
			c->source.waiting(c->source.ctx, slice);
		else
			usleep(slice * 1000);
		waited += slice;
		if (c->cluster && cluster_recoveries(c->cluster) != recoveries) {
			pr_info("a replica came back: trying the insert again now\n");
			return;
		}
	}
}

int collector_flush(struct collector *c)
{
	uint32_t retry_ms = RETRY_MIN_MS;
	/* a flush under way (sealed by a revoke) first, then what came since */
	int passes = c->flush_sealed ? 2 : 1, ret = 0;
	uint64_t started = 0, now;
	char err[1024];

	waiting_set(c);
	while (passes) {
		ret = flush_step(c, 0, err, sizeof(err));
		if (!ret) {
			passes--;
			continue;
		}
		now = monotonic_ms();
		if (!started) {
			started = now;
			retry_state_set(c, now);
		}
		if (collector_stop_requested) {
			pr_warn("stopping with rows not stored: %s\n", err);
			ret = -EIO;
			break;
		}
		if (c->insert_retry_timeout_ms && now - started >= c->insert_retry_timeout_ms) {
			pr_warn("giving up: the rows could not be stored for %" PRIu64
				" s (--insert-retry-timeout %u); last error: %s. What is not "
				"stored is read again by the next run (Kafka's uncommitted offsets, or the same "
				"--input).\n",
				(now - started) / 1000, c->insert_retry_timeout_ms / 1000, err);
			ret = -ETIMEDOUT;
			break;
		}
		pr_warn("insert failed, retrying in %u ms: %s\n", retry_ms, err);
		if (c->metrics_served)
			collector_snapshot(c);
		retry_wait(c, retry_ms);
		retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
	}
	if (started) {
		if (!ret)
			pr_info("stored after %.1f s of retries\n",
				(double)(monotonic_ms() - started) / 1000.0);
		retry_state_set(c, 0);
		if (c->source.resumed)
			c->source.resumed(c->source.ctx);
	}
	if (c->metrics_served)
		collector_snapshot(c);
	collector_waiting_for = NULL;
	return ret;
}

void collector_drop_uncommitted(struct collector *c)
{
	ingest_discard_pending(c->ingest);
	if (!c->flush_sealed || !c->flush_committed) {
		ingest_abandon_sealed(c->ingest);
		c->flush_sealed = 0;
		c->flush_committed = 0;
	}
	if (c->source.dropped)
		c->source.dropped(c->source.ctx);
}

int collector_settle(struct collector *c, uint32_t budget_ms, int lost)
{
	int durable = ingest_durable_when_sealed(c->ingest);
	uint64_t deadline = monotonic_ms() + budget_ms;
	char err[1024] = "the assignment was lost";
	/* a flush under way first, then what came since */
	int passes = c->flush_sealed ? 2 : 1, ret = -ENOTCONN;

	while (!lost && passes) {
		ret = flush_step(c, durable, err, sizeof(err));
		if (!ret) {
			/* durable: committed, sealed and ours to store; nothing newer can be sealed */
			passes = c->flush_sealed ? 0 : passes - 1;
			continue;
		}
		if (collector_stop_requested || monotonic_ms() + SETTLE_RETRY_MS > deadline)
			break;
		usleep(SETTLE_RETRY_MS * 1000);
	}
	if (!lost && !ret) {
		/* what is left pending came after the sealed insert: uncommitted, it goes */
		ingest_discard_pending(c->ingest);
		if (c->source.dropped)
			c->source.dropped(c->source.ctx);
		return 0;
	}
	if (c->flush_sealed && c->flush_committed) {
		/* committed and durable: the rows are ours to store; only newer ones go */
		ingest_discard_pending(c->ingest);
		if (c->source.dropped)
			c->source.dropped(c->source.ctx);
		return 0;
	}
	pr_warn("the rows read could not be settled (%s): dropped uncommitted, for the next "
		"reader of their partitions\n",
		err);
	collector_drop_uncommitted(c);
	return ret;
}

void collector_note_rebalance(struct collector *c, int assign, int64_t partitions)
{
	pthread_mutex_lock(&c->lock);
	if (assign)
		c->rebalances_assign++;
	else
		c->rebalances_revoke++;
	c->partitions_assigned = partitions;
	pthread_mutex_unlock(&c->lock);
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
	uint64_t now = monotonic_ms(), retry_started, assigns, revokes;
	int64_t lag, partitions;
	struct ingest_stats s;
	double uptime;

	pthread_mutex_lock(&c->lock);
	s = c->snapshot;
	lag = c->lag;
	retry_started = c->retry_started_ms;
	assigns = c->rebalances_assign;
	revokes = c->rebalances_revoke;
	partitions = c->partitions_assigned;
	pthread_mutex_unlock(&c->lock);
	uptime = (double)(now - c->started_ms) / 1000.0;

	prom_counter(out, "flowcollector_rows_inserted_total", "Flow rows stored.",
		     s.rows_inserted);
	prom_family(out, "flowcollector_rows_per_second", "gauge",
		    "Rows stored per second since start.");
	prom_double(out, "flowcollector_rows_per_second", "", "%.1f",
		    uptime > 0 ? (double)s.rows_inserted / uptime : 0.0);
	prom_counter(out, "flowcollector_inserts_total", "Inserts into ClickHouse.", s.inserts);
	prom_counter(out, "flowcollector_insert_failures_total",
		     "Inserts that failed (and were retried).", s.insert_failures);
	prom_gauge(out, "flowcollector_insert_retrying",
		   "1 while an insert is being retried (the source is paused), else 0.",
		   retry_started != 0);
	prom_family(out, "flowcollector_insert_retry_seconds", "gauge",
		    "How long the insert being retried has been failing, 0 when none is.");
	prom_double(out, "flowcollector_insert_retry_seconds", "", "%.3f",
		    retry_started ? (double)(now - retry_started) / 1000.0 : 0.0);
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
	prom_counter(out, "flowcollector_records_out_of_window_total",
		     "Records whose first packet lies outside the accepted time window, rejected.",
		     s.records_out_of_window);
	prom_counter(out, "flowcollector_messages_rejected_total",
		     "Messages the wire decoder rejected.", s.messages_rejected);
	prom_counter(out, "flowcollector_duplicate_batches_total",
		     "Batches stored before, skipped.", s.duplicate_batches);
	prom_counter(out, "flowcollector_sequence_alarms_total",
		     "Batches whose number an agent reused with other records (both stored).",
		     s.sequence_alarms);
	prom_gauge(out, "flowcollector_batches_missing", "Batches missing from agents' sequences.",
		   s.batches_missing);
	prom_counter(out, "flowcollector_agent_restarts_total", "Agent restarts seen in sequences.",
		     s.agent_restarts);
	prom_gauge(out, "flowcollector_rows_pending", "Rows waiting for the next insert.",
		   s.pending_rows);
	prom_gauge(out, "flowcollector_rows_sealed",
		   "Rows of the sealed insert (in its write-ahead file), not yet stored.",
		   s.sealed_rows);
	prom_counter(out, "flowcollector_rows_discarded_total",
		     "Rows read but dropped unstored and uncommitted (their partitions were "
		     "revoked): the next owner reads them again.",
		     s.rows_discarded);
	prom_counter(out, "flowcollector_recovered_inserts_total",
		     "Write-ahead files of an earlier run finished at start.", s.recovered_inserts);
	prom_counter(out, "flowcollector_wal_corrupt_total",
		     "Write-ahead files found damaged at start.", s.wal_corrupt);
	prom_counter(out, "flowcollector_wal_bytes_total", "Bytes written to write-ahead files.",
		     s.wal_bytes);
	prom_counter(out, "flowcollector_ledger_queries_total",
		     "Lookups of batches in the store's ledger (one per insert and chunk).",
		     s.ledger_queries);
	prom_counter(out, "flowcollector_recovered_ambiguous_total",
		     "Inserts finished at start although another member of the group had committed "
		     "past them: their batches may be stored twice (docs/guarantees.md).",
		     c->offsets_ambiguous);
	prom_family(out, "flowcollector_rebalances_total", "counter",
		    "Consumer group rebalances: partitions assigned to or revoked from this "
		    "collector.");
	prom_u64(out, "flowcollector_rebalances_total", "kind=\"assign\"", assigns);
	prom_u64(out, "flowcollector_rebalances_total", "kind=\"revoke\"", revokes);
	if (partitions >= 0)
		prom_gauge(out, "flowcollector_partitions_assigned",
			   "Kafka partitions this collector consumes.", (uint64_t)partitions);
	prom_gauge(out, "flowcollector_consumer_lag_known",
		   "1 when flowcollector_consumer_lag is current; 0 when it cannot be had (the "
		   "brokers are away, or no Kafka source), and flowcollector_consumer_lag is "
		   "then absent.",
		   lag >= 0);
	if (lag >= 0) {
		prom_family(out, "flowcollector_consumer_lag", "gauge",
			    "Kafka messages in the assigned partitions not yet consumed; absent "
			    "when unknown (see flowcollector_consumer_lag_known).");
		prom_i64(out, "flowcollector_consumer_lag", "", lag);
	}
	if (c->cluster)
		cluster_metrics_render(c->cluster, out);
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
		{ "insert_failures", s.insert_failures },
		{ "records_rejected", s.records_rejected },
		{ "records_out_of_window", s.records_out_of_window },
		{ "messages_rejected", s.messages_rejected },
		{ "duplicate_batches", s.duplicate_batches },
		{ "duplicate_rows", s.duplicate_rows },
		{ "sequence_alarms", s.sequence_alarms },
		{ "batches_missing", s.batches_missing },
		{ "agent_restarts", s.agent_restarts },
		{ "agents", s.agents },
		{ "rows_discarded", s.rows_discarded },
		{ "sealed_rows", s.sealed_rows },
		{ "recovered_inserts", s.recovered_inserts },
		{ "wal_corrupt", s.wal_corrupt },
		{ "wal_bytes", s.wal_bytes },
		{ "ledger_queries", s.ledger_queries },
		{ "recovered_ambiguous", c->offsets_ambiguous },
		{ "wal_ms", s.wal_ns_total / 1000000 },
		{ "rebalances_assign", c->rebalances_assign },
		{ "rebalances_revoke", c->rebalances_revoke },
	};

	fprintf(stderr, "flowcollector: summary\n");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(stderr, "  %-22s %" PRIu64 "\n", rows[i].name, rows[i].value);
	fprintf(stderr, "  %-22s %.3f s (%.0f rows/s)\n", "elapsed", seconds,
		seconds > 0 ? (double)s.rows_inserted / seconds : 0.0);
}
