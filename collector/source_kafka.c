// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Flow batches from a Kafka consumer group; see source_kafka.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "kafka_conf.h"
#include "log.h"
#include "source_kafka.h"

/* Offsets are committed this long after the last message when no batch is due before. */
#define COMMIT_AFTER_IDLE_MS 200

struct kafka_source {
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *offsets; /* consumed, not yet committed */
	uint64_t commits;
};

static rd_kafka_t *consumer_create(const struct kafka_source_options *options, char *err,
				   size_t err_len)
{
	const char *defaults[][2] = {
		{ "bootstrap.servers", options->brokers }, { "group.id", options->group },
		{ "enable.auto.commit", "false" },	   { "auto.offset.reset", "earliest" },
		{ "fetch.message.max.bytes", "16777216" }, { "client.id", "flowcollector" },
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
	if (ret) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!rk) {
		snprintf(err, err_len, "cannot create the Kafka consumer: %s", why);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
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

/* The offset to commit for a partition: one entry each, moved forward as messages come. */
static void offset_advance(rd_kafka_topic_partition_list_t *offsets, const char *topic,
			   int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_t *entry =
		rd_kafka_topic_partition_list_find(offsets, topic, partition);

	if (!entry)
		entry = rd_kafka_topic_partition_list_add(offsets, topic, partition);
	entry->offset = offset;
}

/* Hook: the rows are stored, so their offsets can be committed. */
static void source_stored(void *ctx)
{
	struct kafka_source *source = ctx;
	rd_kafka_resp_err_t err;

	if (!source->offsets->cnt)
		return;
	err = rd_kafka_commit(source->rk, source->offsets, 0);
	if (err)
		pr_warn("kafka: committing offsets failed: %s (the batches are stored; they "
			"will be skipped when read again)\n",
			rd_kafka_err2str(err));
	else
		source->commits++;
	rd_kafka_topic_partition_list_destroy(source->offsets);
	source->offsets = rd_kafka_topic_partition_list_new(8);
}

/* Hook: an insert is being retried. */
static void source_waiting(void *ctx)
{
	struct kafka_source *source = ctx;

	rd_kafka_poll(source->rk, 0);
}

/* Hook: messages in the assigned partitions after the consumer's position. */
static int64_t source_lag(void *ctx)
{
	struct kafka_source *source = ctx;
	rd_kafka_topic_partition_list_t *assigned = NULL;
	int64_t lag = 0;
	int i;

	if (rd_kafka_assignment(source->rk, &assigned) || !assigned)
		return -1;
	rd_kafka_position(source->rk, assigned);
	for (i = 0; i < assigned->cnt; i++) {
		rd_kafka_topic_partition_t *p = &assigned->elems[i];
		int64_t low, high;

		if (rd_kafka_get_watermark_offsets(source->rk, p->topic, p->partition, &low, &high))
			continue;
		if (p->offset >= 0 && high > p->offset)
			lag += high - p->offset;
		else if (p->offset < 0 && high > low)
			lag += high - low;
	}
	rd_kafka_topic_partition_list_destroy(assigned);
	return lag;
}

/* One message: a wire batch, or JSON lines (the agent's --kafka-format json). */
static void message_ingest(struct collector *c, const rd_kafka_message_t *message,
			   const char *where)
{
	const char *p = message->payload, *end = p + message->len;

	if (!message->len || *p != '{') {
		ingest_add_wire(c->ingest, message->payload, message->len, where);
		return;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len)
			ingest_add_json(c->ingest, p, len, where);
		p += len + 1;
	}
}

int kafka_source_run(struct collector *c, const struct kafka_source_options *options)
{
	uint64_t last_message = monotonic_ms(), last_snapshot = 0;
	struct kafka_source source = { 0 };
	char err[1024], where[128];
	int ret = 0;

	source.rk = consumer_create(options, err, sizeof(err));
	if (!source.rk) {
		pr_warn("%s\n", err);
		return -EINVAL;
	}
	source.offsets = rd_kafka_topic_partition_list_new(8);
	c->source = (struct collector_source_hooks){
		.ctx = &source,
		.waiting = source_waiting,
		.stored = source_stored,
		.lag = source_lag,
	};
	pr_info("consuming %s from %s as group %s\n", options->topic, options->brokers,
		options->group);
	while (!collector_stop_requested) {
		rd_kafka_message_t *message = rd_kafka_consumer_poll(source.rk, 100);
		uint64_t now = monotonic_ms();

		if (message) {
			if (message->err) {
				if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					pr_warn("kafka: %s\n", rd_kafka_message_errstr(message));
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
		if (ingest_due(c->ingest) || (source.offsets->cnt && !message &&
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
	c->source = (struct collector_source_hooks){ 0 };
	rd_kafka_consumer_close(source.rk);
	rd_kafka_topic_partition_list_destroy(source.offsets);
	rd_kafka_destroy(source.rk);
	return ret;
}
