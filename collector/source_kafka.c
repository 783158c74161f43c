// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Flow batches from a Kafka consumer group; see source_kafka.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "kafka_conf.h"
#include "kafka_offsets.h"
#include "log.h"
#include "source_kafka.h"

/* Offsets are committed this long after the last message when no batch is due before. */
#define COMMIT_AFTER_IDLE_MS 200
/*
 * A revoke waits this long (at most half of max.poll.interval.ms, the time the group gives a
 * member to rejoin) for the rows read to be settled, then drops them uncommitted.
 */
#define REVOKE_SETTLE_MS 10000
/* The lag is asked of the brokers this often, each query waiting at most this long. */
#define LAG_REFRESH_MS	     1000
#define LAG_QUERY_TIMEOUT_MS 500
/* An answer older than this is no answer: the lag is unknown. */
#define LAG_STALE_MS	(2 * LAG_REFRESH_MS + LAG_QUERY_TIMEOUT_MS)
#define SEEK_TIMEOUT_MS 5000

struct kafka_source {
	rd_kafka_t *rk;
	struct collector *c;
	rd_kafka_topic_partition_list_t *offsets; /* consumed, pending: the next seal's */
	rd_kafka_topic_partition_list_t *sealed;  /* of the sealed insert, not committed */
	/* paused (an insert is retried): where to seek back to, per partition, on resume */
	rd_kafka_topic_partition_list_t *seek_back;
	int paused;
	int run_failed;	    /* the run ends with rows unstored: a revoke only drops */
	int fatal;	    /* the group asked for what we refuse: stop */
	uint32_t settle_ms; /* a revoke's budget */
	uint64_t commits;
	/* the lag thread's answer */
	pthread_t lag_thread;
	int lag_thread_started;
	pthread_mutex_t lag_lock;
	pthread_cond_t lag_wake;
	int lag_stop;
	int64_t lag;
	uint64_t lag_ms;	 /* when it was had; 0: never */
	uint64_t lag_generation; /* +1 at every rebalance: an answer from before is void */
};

/*
 * An error of the client (a broker unreachable, all brokers down, a fatal error): each kind
 * said once a minute at most, repeats with -v, so a broker that is away fills no log.
 * librdkafka retries by itself; --exit-idle or a signal ends a run that waits for one.
 */
#define KAFKA_ERROR_KINDS     8
#define KAFKA_ERROR_REPEAT_MS 60000

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	static struct {
		int err;
		uint64_t said_ms;
	} said[KAFKA_ERROR_KINDS];
	uint64_t now = monotonic_ms();
	int i, slot = 0;

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];

		rd_kafka_fatal_error(rk, why, sizeof(why));
		pr_warn("kafka: fatal error: %s\n", why);
		return;
	}
	for (i = 0; i < KAFKA_ERROR_KINDS; i++) {
		if (said[i].err == err && said[i].said_ms) {
			slot = i;
			break;
		}
		if (said[i].said_ms < said[slot].said_ms)
			slot = i;
	}
	if (said[slot].err == err && said[slot].said_ms &&
	    now - said[slot].said_ms < KAFKA_ERROR_REPEAT_MS) {
		pr_info("kafka: %s\n", reason);
		return;
	}
	said[slot].err = err;
	said[slot].said_ms = now;
	pr_warn("kafka: %s (retrying; -v shows every attempt)\n", reason);
}

/* "flows/0 flows/3" (or "none"), for the log. */
static void partitions_describe(const rd_kafka_topic_partition_list_t *list, char *text,
				size_t size)
{
	size_t len = 0;
	int i;

	snprintf(text, size, "none");
	for (i = 0; list && i < list->cnt && len < size; i++) {
		int n = snprintf(text + len, size - len, "%s%s/%" PRId32, i ? " " : "",
				 list->elems[i].topic, list->elems[i].partition);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* The offset to commit for a partition: one entry each, moved forward as messages come. */
static void offset_advance(rd_kafka_topic_partition_list_t *offsets, const char *topic,
			   int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_t *entry =
		rd_kafka_topic_partition_list_find(offsets, topic, partition);

	if (!entry)
		entry = rd_kafka_topic_partition_list_add(offsets, topic, partition);
	if (entry->offset < offset)
		entry->offset = offset;
}

static int strategy_refused(rd_kafka_conf_t *conf, char *err, size_t err_len)
{
	char value[256];
	size_t size = sizeof(value);

	if (rd_kafka_conf_get(conf, "partition.assignment.strategy", value, &size) !=
	    RD_KAFKA_CONF_OK)
		return 0;
	if (!strstr(value, "cooperative"))
		return 0;
	snprintf(err, err_len,
		 "partition.assignment.strategy=%s is not supported: a revoke must settle "
		 "every partition's rows at once (eager protocol); use range or roundrobin",
		 value);
	return 1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *partitions, void *opaque);

static rd_kafka_t *consumer_create(struct kafka_source *source,
				   const struct kafka_source_options *options, char *err,
				   size_t err_len)
{
	const char *defaults[][2] = {
		{ "bootstrap.servers", options->brokers },
		{ "group.id", options->group },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "auto.offset.reset", "earliest" },
		{ "fetch.message.max.bytes", "16777216" },
		{ "client.id", "flowcollector" },
		{ "partition.assignment.strategy", "range,roundrobin" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *topics;
	char why[512];
	rd_kafka_t *rk;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(defaults) / sizeof(defaults[0]); i++)
		ret = kafka_conf_set(conf, defaults[i][0], defaults[i][1], "default", err, err_len);
	if (!ret && options->properties_file)
		ret = kafka_conf_load_file(conf, options->properties_file, err, err_len);
	if (!ret)
		ret = kafka_conf_apply(conf, &options->properties, err, err_len);
	if (!ret && strategy_refused(conf, err, err_len))
		ret = -EINVAL;
	if (!ret) {
		char value[32];
		size_t size = sizeof(value);
		unsigned long poll_ms = 300000;

		if (rd_kafka_conf_get(conf, "max.poll.interval.ms", value, &size) ==
		    RD_KAFKA_CONF_OK)
			poll_ms = strtoul(value, NULL, 10);
		source->settle_ms = poll_ms / 2 < REVOKE_SETTLE_MS ? (uint32_t)(poll_ms / 2) :
								     REVOKE_SETTLE_MS;
	}
	if (ret) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	kafka_conf_route_logs(conf);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_opaque(conf, source);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!rk) {
		snprintf(err, err_len, "cannot create the Kafka consumer: %s", why);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	/* from here on only rd_kafka_consumer_poll serves events, callbacks included */
	rd_kafka_poll_set_consumer(rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, options->topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rk, topics)) {
		snprintf(err, err_len, "cannot subscribe to %s", options->topic);
		rd_kafka_topic_partition_list_destroy(topics);
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_topic_partition_list_destroy(topics);
	return rk;
}

/* --- pausing while an insert is retried ------------------------------------------------------ */

static void partitions_pause(struct kafka_source *source, rd_kafka_topic_partition_list_t *list)
{
	char text[512];

	if (!list || !list->cnt)
		return;
	rd_kafka_pause_partitions(source->rk, list);
	partitions_describe(list, text, sizeof(text));
	pr_info("kafka: paused %s while the insert is retried\n", text);
}

/* A message that came while paused: not taken in, read again from here on resume. */
static void seek_back_note(struct kafka_source *source, const rd_kafka_message_t *message)
{
	const char *topic = rd_kafka_topic_name(message->rkt);
	rd_kafka_topic_partition_t *entry =
		rd_kafka_topic_partition_list_find(source->seek_back, topic, message->partition);

	if (!entry) {
		entry = rd_kafka_topic_partition_list_add(source->seek_back, topic,
							  message->partition);
		entry->offset = message->offset;
	} else if (message->offset < entry->offset) {
		entry->offset = message->offset;
	}
}

static void seek_back_clear(struct kafka_source *source)
{
	rd_kafka_topic_partition_list_destroy(source->seek_back);
	source->seek_back = rd_kafka_topic_partition_list_new(8);
}

static void message_error_log(const rd_kafka_message_t *message)
{
	if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
		pr_warn("kafka: %s\n", rd_kafka_message_errstr(message));
}

/* Hook: an insert is being retried. Keep polling (heartbeats, rebalances), take nothing in. */
static void source_waiting(void *ctx, uint32_t ms)
{
	struct kafka_source *source = ctx;
	uint64_t until = monotonic_ms() + ms, now;

	if (!source->paused) {
		rd_kafka_topic_partition_list_t *assigned = NULL;

		source->paused = 1;
		if (!rd_kafka_assignment(source->rk, &assigned)) {
			partitions_pause(source, assigned);
			rd_kafka_topic_partition_list_destroy(assigned);
		}
	}
	while (!collector_stop_requested && !source->fatal && (now = monotonic_ms()) < until) {
		uint64_t left = until - now;
		rd_kafka_message_t *message =
			rd_kafka_consumer_poll(source->rk, left > 100 ? 100 : (int)left);

		if (!message)
			continue;
		if (message->err)
			message_error_log(message);
		else
			seek_back_note(source, message);
		rd_kafka_message_destroy(message);
	}
}

/* Hook: the retry is over. Back to where the last message taken in left off, and read on. */
static void source_resumed(void *ctx)
{
	struct kafka_source *source = ctx;
	rd_kafka_topic_partition_list_t *assigned = NULL, *seek;
	char text[512];
	int i;

	if (!source->paused)
		return;
	source->paused = 0;
	if (rd_kafka_assignment(source->rk, &assigned)) {
		seek_back_clear(source);
		return;
	}
	seek = rd_kafka_topic_partition_list_new(source->seek_back->cnt + 1);
	for (i = 0; i < source->seek_back->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &source->seek_back->elems[i];

		if (rd_kafka_topic_partition_list_find(assigned, p->topic, p->partition))
			rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset =
				p->offset;
	}
	if (seek->cnt) {
		rd_kafka_error_t *error =
			rd_kafka_seek_partitions(source->rk, seek, SEEK_TIMEOUT_MS);

		partitions_describe(seek, text, sizeof(text));
		if (error) {
			/* the position is unknown: better to stop than to skip messages */
			pr_warn("kafka: seeking back %s failed: %s; stopping\n", text,
				rd_kafka_error_string(error));
			rd_kafka_error_destroy(error);
			source->fatal = 1;
		} else {
			pr_info("kafka: %s read again from the first message not taken in\n", text);
		}
	}
	seek_back_clear(source);
	if (assigned->cnt)
		rd_kafka_resume_partitions(source->rk, assigned);
	partitions_describe(assigned, text, sizeof(text));
	pr_info("kafka: resumed %s\n", text);
	rd_kafka_topic_partition_list_destroy(seek);
	rd_kafka_topic_partition_list_destroy(assigned);
}

/* --- offsets: sealed, committed, dropped ------------------------------------------------------ */

/*
 * Hook: the pending rows are about to be sealed. When the commit comes before the insert, the
 * write-ahead file keeps the offsets it will commit, so that a restart can ask the group
 * whether that commit happened (kafka_offsets.h). Otherwise the insert is finished at restart
 * whatever was committed, and there is nothing to keep.
 */
static int source_sealing(void *ctx)
{
	struct kafka_source *source = ctx;
	rd_kafka_topic_partition_list_t *merged;
	char *blob = NULL;
	size_t len = 0;
	int i, ret;

	if (!ingest_durable_when_sealed(source->c->ingest))
		return 0;
	merged = source->sealed ? rd_kafka_topic_partition_list_copy(source->sealed) :
				  rd_kafka_topic_partition_list_new(source->offsets->cnt + 1);
	for (i = 0; i < source->offsets->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &source->offsets->elems[i];

		offset_advance(merged, p->topic, p->partition, p->offset);
	}
	ret = kafka_offsets_encode(merged, &blob, &len);
	rd_kafka_topic_partition_list_destroy(merged);
	if (!ret)
		ret = ingest_set_source(source->c->ingest, blob, len);
	free(blob);
	return ret;
}

/* Hook: the pending rows were sealed; their offsets are the sealed insert's. */
static void source_sealed(void *ctx)
{
	struct kafka_source *source = ctx;
	int i;

	if (!source->sealed) {
		source->sealed = source->offsets;
	} else {
		/* what a failed commit left (the rows are stored): it goes with the next one */
		for (i = 0; i < source->offsets->cnt; i++) {
			const rd_kafka_topic_partition_t *p = &source->offsets->elems[i];

			offset_advance(source->sealed, p->topic, p->partition, p->offset);
		}
		rd_kafka_topic_partition_list_destroy(source->offsets);
	}
	source->offsets = rd_kafka_topic_partition_list_new(8);
}

/* Hook: commit the sealed insert's offsets, synchronously. */
static int source_commit(void *ctx)
{
	struct kafka_source *source = ctx;
	rd_kafka_resp_err_t err;
	char text[512];

	if (!source->sealed || !source->sealed->cnt)
		return 0;
	/* the commit names the insert it covers: a restart tells its own commit from others' */
	if (ingest_has_sealed(source->c->ingest) &&
	    kafka_offsets_name(source->sealed, ingest_sealed_id(source->c->ingest)))
		return -ENOMEM;
	err = rd_kafka_commit(source->rk, source->sealed, 0);
	if (err) {
		pr_warn("kafka: committing offsets failed: %s\n", rd_kafka_err2str(err));
		return -EIO;
	}
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		partitions_describe(source->sealed, text, sizeof(text));
		pr_debug("kafka: committed %s\n", text);
	}
	source->commits++;
	rd_kafka_topic_partition_list_destroy(source->sealed);
	source->sealed = NULL;
	return 0;
}

/* Hook: the rows were dropped unstored; their offsets are never committed by us. */
static void source_dropped(void *ctx)
{
	struct kafka_source *source = ctx;

	if (source->sealed)
		rd_kafka_topic_partition_list_destroy(source->sealed);
	source->sealed = NULL;
	rd_kafka_topic_partition_list_destroy(source->offsets);
	source->offsets = rd_kafka_topic_partition_list_new(8);
}

/* --- rebalances -------------------------------------------------------------------------------- */

/* The assignment changes: a lag measured on the old one says nothing of the new one. */
static void lag_forget(struct kafka_source *source)
{
	if (!source->lag_thread_started)
		return;
	pthread_mutex_lock(&source->lag_lock);
	source->lag_generation++;
	source->lag_ms = 0;
	pthread_cond_signal(&source->lag_wake);
	pthread_mutex_unlock(&source->lag_lock);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
	struct kafka_source *source = opaque;
	const char *protocol = rd_kafka_rebalance_protocol(rk);
	rd_kafka_resp_err_t ret;
	char text[512];
	int lost;

	partitions_describe(partitions, text, sizeof(text));
	lag_forget(source);
	if (protocol && !strcmp(protocol, "COOPERATIVE")) {
		/* refused at start; a group that still says so is not one we can serve */
		pr_warn("kafka: the group rebalances cooperatively, which flowcollector does not "
			"support; stopping\n");
		source->fatal = 1;
	}
	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		/* consumption starts from the committed offsets */
		ret = rd_kafka_assign(rk, partitions);
		if (ret) {
			pr_warn("kafka: assigning %s failed: %s\n", text, rd_kafka_err2str(ret));
			source->fatal = 1;
		}
		pr_info("kafka: assigned %s\n", text);
		if (source->paused)
			partitions_pause(source, partitions);
		collector_note_rebalance(source->c, 1, partitions->cnt);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		lost = rd_kafka_assignment_lost(rk);
		pr_info("kafka: %s %s; settling what was read from them first\n",
			lost ? "lost" : "revoked", text);
		if (source->run_failed)
			collector_drop_uncommitted(source->c);
		else
			collector_settle(source->c, source->settle_ms, lost);
		seek_back_clear(source);
		rd_kafka_assign(rk, NULL);
		pr_info("kafka: gave up %s\n", text);
		collector_note_rebalance(source->c, 0, 0);
		break;
	default:
		pr_warn("kafka: rebalance failed: %s; dropping what is not committed\n",
			rd_kafka_err2str(err));
		collector_settle(source->c, 0, 1);
		seek_back_clear(source);
		rd_kafka_assign(rk, NULL);
		collector_note_rebalance(source->c, 0, 0);
		break;
	}
}

/* --- lag ------------------------------------------------------------------------------------------ */

/* Messages after the consumer's position in the assigned partitions, asked of the brokers. */
static int64_t lag_query(struct kafka_source *source)
{
	rd_kafka_topic_partition_list_t *assigned = NULL, *unread = NULL;
	int64_t lag = 0, low, high, from;
	int i;

	if (rd_kafka_assignment(source->rk, &assigned) || !assigned)
		return -1;
	rd_kafka_position(source->rk, assigned);
	for (i = 0; i < assigned->cnt; i++) {
		if (assigned->elems[i].offset >= 0)
			continue;
		if (!unread)
			unread = rd_kafka_topic_partition_list_new(assigned->cnt);
		rd_kafka_topic_partition_list_add(unread, assigned->elems[i].topic,
						  assigned->elems[i].partition);
	}
	/* nothing consumed yet: it starts from the committed offset */
	if (unread && rd_kafka_committed(source->rk, unread, LAG_QUERY_TIMEOUT_MS))
		lag = -1;
	for (i = 0; lag >= 0 && i < assigned->cnt; i++) {
		rd_kafka_topic_partition_t *p = &assigned->elems[i], *c;

		if (rd_kafka_query_watermark_offsets(source->rk, p->topic, p->partition, &low,
						     &high, LAG_QUERY_TIMEOUT_MS)) {
			lag = -1;
			break;
		}
		from = p->offset;
		if (from < 0) {
			c = rd_kafka_topic_partition_list_find(unread, p->topic, p->partition);
			from = c && c->offset >= 0 ? c->offset : low;
		}
		if (high > from)
			lag += high - from;
	}
	if (unread)
		rd_kafka_topic_partition_list_destroy(unread);
	rd_kafka_topic_partition_list_destroy(assigned);
	return lag;
}

/* Off the hot path: the queries wait on the brokers, which may be away. */
static void *lag_thread_main(void *arg)
{
	struct kafka_source *source = arg;
	struct timespec wake;

	pthread_mutex_lock(&source->lag_lock);
	while (!source->lag_stop) {
		uint64_t generation = source->lag_generation;
		int64_t lag;

		pthread_mutex_unlock(&source->lag_lock);
		lag = lag_query(source);
		pthread_mutex_lock(&source->lag_lock);
		/* a rebalance during the query: its answer may be of the old assignment */
		if (generation != source->lag_generation)
			continue;
		source->lag = lag;
		source->lag_ms = monotonic_ms();
		clock_gettime(CLOCK_MONOTONIC, &wake);
		wake.tv_sec += LAG_REFRESH_MS / 1000;
		while (!source->lag_stop &&
		       pthread_cond_timedwait(&source->lag_wake, &source->lag_lock, &wake) !=
			       ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&source->lag_lock);
	return NULL;
}

static int lag_thread_start(struct kafka_source *source)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&source->lag_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&source->lag_wake, &attr);
	pthread_condattr_destroy(&attr);
	source->lag = -1;
	if (pthread_create(&source->lag_thread, NULL, lag_thread_main, source)) {
		pr_warn("kafka: no thread for the consumer lag; it is reported unknown\n");
		return -1;
	}
	source->lag_thread_started = 1;
	return 0;
}

static void lag_thread_stop(struct kafka_source *source)
{
	if (source->lag_thread_started) {
		pthread_mutex_lock(&source->lag_lock);
		source->lag_stop = 1;
		pthread_cond_signal(&source->lag_wake);
		pthread_mutex_unlock(&source->lag_lock);
		pthread_join(source->lag_thread, NULL);
		source->lag_thread_started = 0;
	}
	pthread_cond_destroy(&source->lag_wake);
	pthread_mutex_destroy(&source->lag_lock);
}

/* Hook: the lag, or -1 when the brokers did not tell us lately. */
static int64_t source_lag(void *ctx)
{
	struct kafka_source *source = ctx;
	int64_t lag;

	pthread_mutex_lock(&source->lag_lock);
	lag = source->lag_ms && monotonic_ms() - source->lag_ms <= LAG_STALE_MS ? source->lag : -1;
	pthread_mutex_unlock(&source->lag_lock);
	return lag;
}

/* --- the run ----------------------------------------------------------------------------------- */

/* One message: a wire batch, or the agent's --kafka-format json (its lines are one batch). */
static void message_ingest(struct collector *c, const rd_kafka_message_t *message,
			   const char *where)
{
	const char *p = message->payload;

	if (!message->len || *p != '{')
		ingest_add_wire(c->ingest, message->payload, message->len, where);
	else
		ingest_add_json_message(c->ingest, p, message->len, where);
}

/*
 * Before the first message: the inserts a crash interrupted are finished or dropped, as the
 * group's committed offsets say (kafka_offsets.h). The coordinator may be away for a while: it
 * is asked again until it answers or a stop is asked for.
 */
static int recover(struct collector *c, struct kafka_source *source)
{
	uint32_t wait_ms = 500;
	char err[1024];
	int ret;

	while ((ret = ingest_recover(c->ingest, kafka_offsets_committed, source->rk, err,
				     sizeof(err))) == -EAGAIN ||
	       ret == -EIO) {
		if (collector_stop_requested)
			break;
		pr_warn("%s; asking again in %u ms\n", err, wait_ms);
		usleep(wait_ms * 1000);
		wait_ms = wait_ms * 2 > 10000 ? 10000 : wait_ms * 2;
	}
	c->offsets_ambiguous = kafka_offsets_ambiguous;
	if (ret) {
		pr_warn("%s\n", err);
		return -EIO;
	}
	return 0;
}

int kafka_source_run(struct collector *c, const struct kafka_source_options *options)
{
	uint64_t last_message = monotonic_ms(), last_snapshot = 0;
	struct kafka_source source = { .c = c };
	char err[1024], where[128];
	int ret = 0;

	source.offsets = rd_kafka_topic_partition_list_new(8);
	source.seek_back = rd_kafka_topic_partition_list_new(8);
	source.rk = consumer_create(&source, options, err, sizeof(err));
	if (!source.rk) {
		pr_warn("%s\n", err);
		rd_kafka_topic_partition_list_destroy(source.offsets);
		rd_kafka_topic_partition_list_destroy(source.seek_back);
		return -EINVAL;
	}
	ret = recover(c, &source);
	if (ret) {
		rd_kafka_consumer_close(source.rk);
		rd_kafka_destroy(source.rk);
		rd_kafka_topic_partition_list_destroy(source.offsets);
		rd_kafka_topic_partition_list_destroy(source.seek_back);
		return ret;
	}
	c->insert_retry_timeout_ms = options->insert_retry_timeout_s * 1000;
	c->source = (struct collector_source_hooks){
		.ctx = &source,
		.waiting = source_waiting,
		.sealing = source_sealing,
		.resumed = source_resumed,
		.sealed = source_sealed,
		.commit = source_commit,
		.dropped = source_dropped,
		.lag = source_lag,
	};
	pthread_mutex_lock(&c->lock);
	c->partitions_assigned = 0;
	pthread_mutex_unlock(&c->lock);
	lag_thread_start(&source);
	pr_info("consuming %s from %s as group %s\n", options->topic, options->brokers,
		options->group);
	while (!collector_stop_requested && !source.fatal) {
		rd_kafka_message_t *message = rd_kafka_consumer_poll(source.rk, 100);
		uint64_t now = monotonic_ms();

		if (message) {
			if (message->err) {
				message_error_log(message);
			} else {
				const char *topic = rd_kafka_topic_name(message->rkt);

				last_message = now;
				snprintf(where, sizeof(where),
					 "%s partition %" PRId32 " offset %" PRId64, topic,
					 message->partition, message->offset);
				message_ingest(c, message, where);
				offset_advance(source.offsets, topic, message->partition,
					       message->offset + 1);
			}
			rd_kafka_message_destroy(message);
		}
		/* a flush a revoke began (sealed, committed) is finished before anything else */
		if (c->flush_sealed || ingest_due(c->ingest) ||
		    (source.offsets->cnt && !message &&
		     now - last_message >= COMMIT_AFTER_IDLE_MS)) {
			ret = collector_flush(c);
			if (ret)
				break;
		}
		if (now - last_snapshot >= 1000) {
			collector_snapshot(c);
			last_snapshot = now;
		}
		if (options->exit_idle_ms && now - last_message >= options->exit_idle_ms) {
			pr_info("no message for %u ms; exiting\n", options->exit_idle_ms);
			break;
		}
	}
	if (!ret)
		ret = collector_flush(c);
	if (!ret && source.fatal)
		ret = -EIO;
	if (ret) {
		/* the next reader of these partitions gets what is not committed */
		source.run_failed = 1;
		collector_drop_uncommitted(c);
	}
	lag_thread_stop(&source);
	/* the last revoke runs in here */
	rd_kafka_consumer_close(source.rk);
	c->source = (struct collector_source_hooks){ 0 };
	if (source.sealed)
		rd_kafka_topic_partition_list_destroy(source.sealed);
	rd_kafka_topic_partition_list_destroy(source.offsets);
	rd_kafka_topic_partition_list_destroy(source.seek_back);
	rd_kafka_destroy(source.rk);
	return ret ? -EIO : 0;
}
