// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The tests' Kafka consumer: reads a topic from the beginning, decodes each message with the
 * wire decoder, and prints every record as the agent's JSON line, prefixed with its batch's
 * agent id and sequence ({"agent_id":..,"batch_seq":..,<the agent's fields>}). One line per
 * message goes to --batches FILE: partition, offset, agent id, sequence, records, flags. A
 * message the decoder rejects is reported on stderr with its partition and offset, counted,
 * and skipped. Stops after --records N records, or --idle-ms of silence at the end of every
 * partition. -D DIR also writes each message's payload to DIR/NNNNNNNN (for the benchmark's
 * ceiling producer). Exit status: 0, or 1 if any message was rejected (2 for usage, 3 for Kafka).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "flow_output.h"
#include "wire.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: flowconsume -b BROKERS -t TOPIC [-n RECORDS] [-i IDLE_MS] "
			"[-B BATCHES_FILE] [-D DUMP_DIR] [-j (messages are JSON lines)]\n");
	exit(2);
}

struct totals {
	uint64_t messages;
	uint64_t records;
	uint64_t rejected_messages;
	uint64_t rejected_records;
};

static void decode_message(const rd_kafka_message_t *message, FILE *batches, struct totals *totals)
{
	struct wire_header header;
	enum wire_error err;
	char line[FLOW_RECORD_JSON_MAX + WIRE_AGENT_ID_MAX + 64];
	uint32_t i;

	err = wire_decode_header(message->payload, message->len, &header);
	if (err) {
		fprintf(stderr, "flowconsume: partition %" PRId32 " offset %" PRId64 ": %s\n",
			message->partition, message->offset, wire_strerror(err));
		totals->rejected_messages++;
		return;
	}
	if (batches)
		fprintf(batches, "%" PRId32 " %" PRId64 " %s %" PRIu64 " %u %u\n",
			message->partition, message->offset, header.agent_id, header.sequence,
			header.record_count, header.flags);
	for (i = 0; i < header.record_count; i++) {
		struct flow_record record;
		char *p = line;

		err = wire_decode_record(message->payload, &header, i, &record);
		if (err) {
			fprintf(stderr,
				"flowconsume: partition %" PRId32 " offset %" PRId64
				" record %u: %s\n",
				message->partition, message->offset, i, wire_strerror(err));
			totals->rejected_records++;
			continue;
		}
		p += sprintf(p, "{\"agent_id\":\"%s\",\"batch_seq\":%" PRIu64 ",", header.agent_id,
			     header.sequence);
		p = flow_record_json_fields(p, &record);
		fwrite(line, 1, (size_t)(p - line), stdout);
		totals->records++;
	}
}

static void dump_message(const char *dir, uint64_t number, const rd_kafka_message_t *message)
{
	char path[4096];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%08" PRIu64, dir, number);
	file = fopen(path, "wb");
	if (!file || fwrite(message->payload, 1, message->len, file) != message->len) {
		perror(path);
		exit(2);
	}
	fclose(file);
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *topic = NULL, *batches_path = NULL, *dump_dir = NULL;
	uint64_t want_records = 0, idle_ms = 3000, last_activity;
	const struct rd_kafka_metadata *metadata;
	rd_kafka_topic_partition_list_t *assignment;
	struct totals totals = { 0 };
	rd_kafka_topic_t *topic_handle;
	rd_kafka_conf_t *conf;
	FILE *batches = NULL;
	int opt, json = 0, i, partitions, at_end = 0;
	unsigned char eof[4096] = { 0 };
	char why[512];
	rd_kafka_t *rk;

	while ((opt = getopt(argc, argv, "b:t:n:i:B:D:j")) != -1) {
		switch (opt) {
		case 'b':
			brokers = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'n':
			want_records = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			idle_ms = strtoull(optarg, NULL, 10);
			break;
		case 'B':
			batches_path = optarg;
			break;
		case 'D':
			dump_dir = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			usage();
		}
	}
	if (!brokers || !topic)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (batches_path && !(batches = fopen(batches_path, "w"))) {
		perror(batches_path);
		return 2;
	}

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "group.id", "flowconsume", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "fetch.message.max.bytes", "67108864", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "receive.message.max.bytes", "134217728", why, sizeof(why))) {
		fprintf(stderr, "flowconsume: %s\n", why);
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!rk) {
		fprintf(stderr, "flowconsume: %s\n", why);
		return 3;
	}
	topic_handle = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, topic_handle, &metadata, 10000) || metadata->topic_cnt != 1 ||
	    metadata->topics[0].err) {
		fprintf(stderr, "flowconsume: no metadata for topic %s\n", topic);
		return 3;
	}
	partitions = metadata->topics[0].partition_cnt;
	if (partitions > (int)sizeof(eof)) {
		fprintf(stderr, "flowconsume: more than %zu partitions\n", sizeof(eof));
		return 3;
	}
	assignment = rd_kafka_topic_partition_list_new(partitions);
	for (i = 0; i < partitions; i++)
		rd_kafka_topic_partition_list_add(assignment, topic,
						  metadata->topics[0].partitions[i].id)
			->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(metadata);
	rd_kafka_topic_destroy(topic_handle);
	if (rd_kafka_assign(rk, assignment)) {
		fprintf(stderr, "flowconsume: cannot assign the partitions of %s\n", topic);
		return 3;
	}
	rd_kafka_topic_partition_list_destroy(assignment);

	last_activity = now_ms();
	while (!stop) {
		rd_kafka_message_t *message = rd_kafka_consumer_poll(rk, 100);

		if (!message) {
			if (at_end >= partitions && now_ms() - last_activity >= idle_ms)
				break;
			continue;
		}
		last_activity = now_ms();
		if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (!eof[message->partition]) {
				eof[message->partition] = 1;
				at_end++;
			}
		} else if (message->err) {
			fprintf(stderr, "flowconsume: %s\n", rd_kafka_message_errstr(message));
		} else {
			totals.messages++;
			if (dump_dir)
				dump_message(dump_dir, totals.messages, message);
			if (json) {
				fwrite(message->payload, 1, message->len, stdout);
			} else {
				decode_message(message, batches, &totals);
			}
			if (eof[message->partition]) {
				/* new data after an end: wait for this partition's end again */
				eof[message->partition] = 0;
				at_end--;
			}
		}
		rd_kafka_message_destroy(message);
		if (want_records && totals.records >= want_records)
			break;
	}
	fflush(stdout);
	fprintf(stderr,
		"flowconsume: %" PRIu64 " messages, %" PRIu64 " records, %" PRIu64
		" messages rejected, %" PRIu64 " records rejected\n",
		totals.messages, totals.records, totals.rejected_messages, totals.rejected_records);
	if (batches)
		fclose(batches);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return totals.rejected_messages || totals.rejected_records ? 1 : 0;
}
