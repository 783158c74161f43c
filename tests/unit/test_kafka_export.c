// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Error paths of the Kafka exporter against librdkafka's mock cluster (test.mock.num.brokers):
 * a broker that goes down and comes back, a broker error that retrying cannot cure, a spool
 * that fills, a broker that stops answering during teardown, a spool file deleted behind the
 * exporter's back, batch identity (run id, sequence) and the safety settings no property may
 * weaken. The real broker is in tests/integration/test_kafka.py; these need no network.
 * Waits are bounded loops on counters, never timed assertions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_export.h"
#include "spool.h"
#include "wire.h"

#define PRODUCE_API_KEY 0
#define WAIT_LIMIT_S	60

static char spool_path[64];
static const char *mock_properties[] = { "test.mock.num.brokers=1", "message.timeout.ms=1500",
					 "reconnect.backoff.max.ms=200", "retry.backoff.ms=50" };

static int make_dir(void **state)
{
	(void)state;
	snprintf(spool_path, sizeof(spool_path), "/tmp/test_kafka_export.XXXXXX");
	return mkdtemp(spool_path) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char command[128];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf %s", spool_path);
	return system(command);
}

static struct kafka_export_config mock_config(uint64_t spool_max_bytes)
{
	struct kafka_export_config config = {
		.brokers = "mock",
		.topic = "flows",
		.agent_id = "unit",
		.compression = "lz4",
		.properties = { .items = mock_properties, .count = 4 },
		.batch_records = 10,
		.batch_bytes = 64 << 10,
		.batch_ms = 1000,
		.queue_max_bytes = 64 << 10,
		.spool_dir = spool_path,
		.spool_max_bytes = spool_max_bytes,
	};
	return config;
}

static struct kafka_export *open_exporter(struct kafka_export_config *config)
{
	struct kafka_export *exporter = NULL;
	char err[512] = "";

	if (kafka_export_open(config, &exporter, err, sizeof(err)))
		fail_msg("kafka_export_open: %s", err);
	return exporter;
}

static void write_records(struct kafka_export *exporter, int count)
{
	int i;

	for (i = 0; i < count; i++) {
		struct flow_record record = { .sampling = 1 };

		record.key.src_port = (uint16_t)i;
		record.key.proto = 17;
		record.stats.packets = 1;
		record.stats.bytes = 100;
		record.stats.first_seen_ns = record.stats.last_seen_ns = 1;
		kafka_export_record(exporter, &record);
	}
}

typedef int (*stats_predicate)(const struct kafka_export_stats *stats, uint64_t want);

/* Polls until the predicate holds; fails after WAIT_LIMIT_S (a hang, not a slow machine). */
static void poll_until(struct kafka_export *exporter, stats_predicate done, uint64_t want)
{
	struct kafka_export_stats stats;
	time_t limit = time(NULL) + WAIT_LIMIT_S;

	for (;;) {
		kafka_export_poll(exporter);
		kafka_export_get_stats(exporter, &stats);
		if (done(&stats, want))
			return;
		if (time(NULL) > limit)
			fail_msg("no progress in %d s", WAIT_LIMIT_S);
		usleep(20000);
	}
}

static int spooled_at_least(const struct kafka_export_stats *stats, uint64_t want)
{
	return stats->batches_spooled >= want && !stats->inflight_batches;
}

static int delivered_at_least(const struct kafka_export_stats *stats, uint64_t want)
{
	return stats->records_delivered >= want && !stats->spool_batches;
}

static int dropped_at_least(const struct kafka_export_stats *stats, uint64_t want)
{
	return stats->records_dropped >= want;
}

static int inflight_at_least(const struct kafka_export_stats *stats, uint64_t want)
{
	return stats->inflight_batches >= want;
}

/* The balances kafka_export.h states, checked here from the counters themselves. */
static void assert_balanced(const struct kafka_export_stats *s)
{
	assert_int_equal(s->unaccounted, 0);
	assert_int_equal(kafka_export_unaccounted(s), 0);
	assert_int_equal(s->batches, s->batches_delivered - s->batches_resent + s->batches_spooled +
					     s->batches_dropped - s->spool_dropped_batches);
	assert_int_equal(s->spool_found_batches + s->batches_spooled,
			 s->batches_resent + s->spool_dropped_batches + s->spool_batches);
	assert_int_equal(s->inflight_batches, 0);
}

/* Spooled batch `id`'s payload (malloc'd), read through the spool, or NULL when there is none. */
static uint8_t *read_spooled(uint64_t id, size_t *len)
{
	struct spool *spool = NULL;
	uint8_t *found = NULL;
	char err[256] = "";

	assert_int_equal(spool_open(spool_path, 1 << 30, &spool, err, sizeof(err)), 0);
	for (;;) {
		uint64_t taken;
		uint32_t records;
		void *payload;

		if (spool_take(spool, &taken, &records, &payload, len, err, sizeof(err)) != 1)
			break;
		if (taken == id) {
			found = payload;
			break;
		}
		free(payload);
	}
	spool_close(spool);
	return found;
}

/* The spool file holding batch `id`: its name, batch and record counts. 0 if none. */
static int spool_file_of(uint64_t id, char *path, size_t path_len, unsigned *batches,
			 unsigned *records)
{
	char command[160], name[128];
	unsigned long long first;
	FILE *ls;
	int found = 0;

	snprintf(command, sizeof(command), "ls %s", spool_path);
	ls = popen(command, "r");
	assert_non_null(ls);
	while (!found && fgets(name, sizeof(name), ls)) {
		if (sscanf(name, "%20llu-%u-%u.batch", &first, batches, records) == 3 &&
		    first <= id && id < first + *batches) {
			name[strcspn(name, "\n")] = '\0';
			snprintf(path, path_len, "%s/%s", spool_path, name);
			found = 1;
		}
	}
	pclose(ls);
	return found;
}

/* Down, then up: every batch goes through the spool and is delivered, none lost. */
static void test_broker_down_then_up(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter = open_exporter(&config);
	rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	struct kafka_export_stats stats;

	(void)state;
	assert_non_null(mock);
	rd_kafka_mock_broker_set_down(mock, 1);
	write_records(exporter, 100);
	poll_until(exporter, spooled_at_least, 10);
	kafka_export_get_stats(exporter, &stats);
	assert_int_equal(stats.records_spooled, 100);
	assert_int_equal(stats.spool_batches, 10);
	assert_int_equal(stats.records_delivered, 0);

	rd_kafka_mock_broker_set_up(mock, 1);
	poll_until(exporter, delivered_at_least, 100);
	assert_int_equal(kafka_export_close(exporter, 10000, &stats), 0);
	assert_int_equal(stats.records_delivered, 100);
	assert_int_equal(stats.batches_resent, 10);
	assert_int_equal(stats.records_dropped, 0);
	assert_int_equal(stats.spool_batches, 0);
	assert_balanced(&stats);
}

/* A broker error that sending again cannot cure: that batch is dropped and counted. */
static void test_permanent_error_counted(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter = open_exporter(&config);
	rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	struct kafka_export_stats stats;

	(void)state;
	rd_kafka_mock_push_request_errors(mock, PRODUCE_API_KEY, 1,
					  RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
	/* one batch alone in the failing request, then two more */
	write_records(exporter, 10);
	poll_until(exporter, dropped_at_least, 10);
	write_records(exporter, 20);
	assert_int_not_equal(kafka_export_close(exporter, 10000, &stats), 0);
	assert_int_equal(stats.records_dropped, 10);
	assert_int_equal(stats.batches_dropped, 1);
	assert_int_equal(stats.records_delivered, 20);
	assert_balanced(&stats);
}

/* Kafka down and a spool with room for two batches: the rest is dropped, every record counted. */
static void test_full_spool_counted(void **state)
{
	struct kafka_export_config config = mock_config(2 * (16 + 48 + 4 + 10 * 81));
	struct kafka_export *exporter = open_exporter(&config);
	rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	struct kafka_export_stats stats;

	(void)state;
	rd_kafka_mock_broker_set_down(mock, 1);
	write_records(exporter, 50);
	assert_int_not_equal(kafka_export_close(exporter, 0, &stats), 0);
	assert_int_equal(stats.records_spooled, 20);
	assert_int_equal(stats.records_dropped, 30);
	assert_int_equal(stats.spool_batches, 2);
	assert_balanced(&stats);
}

/*
 * Teardown with a broker that stops answering (requests go out, no response comes: a stopped
 * broker process): close purges what is in flight, serves every delivery report, and each
 * batch is delivered, spooled or dropped, none lost uncounted. With a spool nothing is dropped.
 */
static void test_teardown_broker_silent(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter = open_exporter(&config);
	rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	struct kafka_export_stats stats;

	(void)state;
	write_records(exporter, 30);
	poll_until(exporter, delivered_at_least, 30);
	rd_kafka_mock_broker_set_rtt(mock, 1, 120000);
	write_records(exporter, 50);
	poll_until(exporter, inflight_at_least, 5);
	assert_int_equal(kafka_export_close(exporter, 300, &stats), 0);
	assert_int_equal(stats.batches, 8);
	assert_int_equal(stats.batches_delivered, 3);
	assert_int_equal(stats.batches_spooled, 5);
	assert_int_equal(stats.records_spooled, 50);
	assert_int_equal(stats.batches_dropped, 0);
	assert_int_equal(stats.spool_batches, 5);
	assert_balanced(&stats);

	/* the next run sends them, and accounts for them as found in the spool */
	exporter = open_exporter(&config);
	poll_until(exporter, delivered_at_least, 50);
	assert_int_equal(kafka_export_close(exporter, 10000, &stats), 0);
	assert_int_equal(stats.spool_found_batches, 5);
	assert_int_equal(stats.batches_resent, 5);
	assert_int_equal(stats.records_resent, 50);
	assert_int_equal(stats.batches, 0);
	assert_balanced(&stats);
}

/* The same without a spool: every batch not acknowledged is dropped, counted, and close fails. */
static void test_teardown_broker_silent_no_spool(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter;
	rd_kafka_mock_cluster_t *mock;
	struct kafka_export_stats stats;

	(void)state;
	config.spool_dir = NULL;
	exporter = open_exporter(&config);
	mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	write_records(exporter, 20);
	poll_until(exporter, delivered_at_least, 20);
	rd_kafka_mock_broker_set_rtt(mock, 1, 120000);
	write_records(exporter, 40);
	poll_until(exporter, inflight_at_least, 4);
	assert_int_not_equal(kafka_export_close(exporter, 300, &stats), 0);
	assert_int_equal(stats.batches, 6);
	assert_int_equal(stats.batches_delivered, 2);
	assert_int_equal(stats.batches_dropped, 4);
	assert_int_equal(stats.records_dropped, 40);
	assert_balanced(&stats);
}

/* A spool file deleted behind the exporter's back: its batches dropped with their records. */
static void test_vanished_spool_file_counted(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter = open_exporter(&config);
	rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	struct kafka_export_stats stats;
	unsigned batches, records;
	char path[256];

	(void)state;
	rd_kafka_mock_broker_set_down(mock, 1);
	write_records(exporter, 30);
	poll_until(exporter, spooled_at_least, 3);
	assert_true(spool_file_of(2, path, sizeof(path), &batches, &records));
	assert_int_equal(records, 10 * batches);
	assert_int_equal(unlink(path), 0);
	rd_kafka_mock_broker_set_up(mock, 1);
	poll_until(exporter, delivered_at_least, 30 - records);
	assert_int_not_equal(kafka_export_close(exporter, 10000, &stats), 0);
	assert_int_equal(stats.records_delivered, 30 - records);
	assert_int_equal(stats.spool_corrupt, batches);
	assert_int_equal(stats.batches_dropped, batches);
	assert_int_equal(stats.records_dropped, records);
	assert_int_equal(stats.spool_dropped_records, records);
	assert_balanced(&stats);
}

/*
 * Identity: each run draws its own nonzero run id, its sequence counts from 1, and the first
 * batch says FIRST_OF_RUN. The batches are read back from the spool (Kafka down).
 */
static void test_batch_identity(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	uint64_t run_ids[2];
	int run;

	(void)state;
	for (run = 0; run < 2; run++) {
		struct kafka_export *exporter = open_exporter(&config);
		rd_kafka_mock_cluster_t *mock =
			rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
		struct kafka_export_stats stats;
		uint64_t id;

		rd_kafka_mock_broker_set_down(mock, 1);
		write_records(exporter, 30);
		assert_int_equal(kafka_export_close(exporter, 0, &stats), 0);
		assert_int_not_equal(stats.run_id, 0);
		run_ids[run] = stats.run_id;
		/* spooled in the order they failed, which an in-flight batch may change */
		unsigned seen = 0;

		for (id = 1; id <= 3; id++) {
			struct wire_header header;
			size_t len;
			uint8_t *payload = read_spooled(id + 3 * (uint64_t)run, &len);

			assert_non_null(payload);
			assert_int_equal(wire_decode_header(payload, len, &header), WIRE_OK);
			assert_int_equal(header.version, 2);
			assert_int_equal(header.run_id, stats.run_id);
			assert_in_range(header.sequence, 1, 3);
			seen |= 1u << header.sequence;
			assert_int_equal(header.flags,
					 header.sequence == 1 ? WIRE_FLAG_FIRST_OF_RUN : 0);
			assert_string_equal(header.agent_id, "unit");
			free(payload);
		}
		assert_int_equal(seen, 0xe);
	}
	assert_int_not_equal(run_ids[0], run_ids[1]);
}

/* JSON: every line carries the run next to the sequence; one message is one batch. */
static void test_json_batch_run(void **state)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter;
	rd_kafka_mock_cluster_t *mock;
	struct kafka_export_stats stats;
	char prefix[128], *text;
	size_t len;
	uint64_t id;

	(void)state;
	config.format = KAFKA_FORMAT_JSON;
	exporter = open_exporter(&config);
	mock = rd_kafka_handle_mock_cluster(kafka_export_handle(exporter));
	rd_kafka_mock_broker_set_down(mock, 1);
	write_records(exporter, 20);
	assert_int_equal(kafka_export_close(exporter, 0, &stats), 0);
	for (id = 1; id <= 2; id++) {
		unsigned long long seq = 0;
		int lines = 0;
		char *line;

		text = (char *)read_spooled(id, &len);
		assert_non_null(text);
		text = realloc(text, len + 1);
		text[len] = '\0';
		/* spooled in the order they failed: this file holds batch 1 or 2 */
		assert_int_equal(
			sscanf(text, "{\"agent_id\":\"unit\",\"batch_run\":%*u,\"batch_seq\":%llu,",
			       &seq),
			1);
		assert_in_range(seq, 1, 2);
		snprintf(prefix, sizeof(prefix),
			 "{\"agent_id\":\"unit\",\"batch_run\":%llu,\"batch_seq\":%llu,",
			 (unsigned long long)stats.run_id, seq);
		for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			assert_memory_equal(line, prefix, strlen(prefix));
			lines++;
		}
		assert_int_equal(lines, 10);
		free(text);
	}
}

static int open_fails(const char **properties, int count, const char *file_text,
		      const char *want_message)
{
	struct kafka_export_config config = mock_config(1 << 20);
	struct kafka_export *exporter = NULL;
	char err[512] = "", file_path[96];
	const char *items[8];
	int ret, i;

	for (i = 0; i < 4; i++)
		items[i] = mock_properties[i];
	for (i = 0; i < count; i++)
		items[4 + i] = properties[i];
	config.properties.items = items;
	config.properties.count = 4 + count;
	config.spool_dir = NULL;
	if (file_text) {
		FILE *file;

		snprintf(file_path, sizeof(file_path), "%s/kafka.properties", spool_path);
		file = fopen(file_path, "w");
		assert_non_null(file);
		fputs(file_text, file);
		fclose(file);
		config.properties_file = file_path;
	}
	ret = kafka_export_open(&config, &exporter, err, sizeof(err));
	if (!ret) {
		struct kafka_export_stats stats;

		kafka_export_close(exporter, 0, &stats);
		return want_message == NULL;
	}
	if (!want_message || !strstr(err, want_message)) {
		print_error("unexpected: '%s', wanted '%s'\n", err,
			    want_message ? want_message : "(success)");
		return 0;
	}
	return ret == -EINVAL;
}

/* Settings that would weaken delivery are refused at open, naming where they came from. */
static void test_safety_settings_refused(void **state)
{
	const char *no_idempotence[] = { "enable.idempotence=false" };
	const char *acks_one[] = { "acks=1" };
	const char *acks_alias[] = { "request.required.acks=0" };
	const char *in_flight[] = { "max.in.flight.requests.per.connection=6" };
	const char *in_flight_alias[] = { "max.in.flight=100" };
	const char *no_retries[] = { "retries=0" };
	const char *no_retries_alias[] = { "message.send.max.retries=0" };
	const char *strong[] = { "acks=all", "enable.idempotence=true", "max.in.flight=5",
				 "retries=3" };
	const char *acks_minus_one[] = { "acks=-1" };
	char want[160];

	(void)state;
	assert_true(open_fails(no_idempotence, 1, NULL,
			       "-X: Kafka property 'enable.idempotence' must be true"));
	assert_true(open_fails(acks_one, 1, NULL, "-X: Kafka property 'acks' must be all (or -1)"));
	assert_true(open_fails(acks_alias, 1, NULL, "'request.required.acks' must be all"));
	assert_true(open_fails(in_flight, 1, NULL,
			       "'max.in.flight.requests.per.connection' must be at most 5"));
	assert_true(open_fails(in_flight_alias, 1, NULL, "'max.in.flight' must be at most 5"));
	assert_true(open_fails(no_retries, 1, NULL, "-X: Kafka property 'retries' must be more"));
	assert_true(open_fails(no_retries_alias, 1, NULL, "'message.send.max.retries' must be"));
	snprintf(want, sizeof(want), "%s/kafka.properties:3: Kafka property 'acks' must be all",
		 spool_path);
	assert_true(open_fails(NULL, 0, "# weak\nlinger.ms=10\n  acks = 0 \n", want));
	snprintf(want, sizeof(want),
		 "%s/kafka.properties:1: Kafka property 'enable.idempotence' must be true",
		 spool_path);
	assert_true(open_fails(NULL, 0, "enable.idempotence=False\n", want));
	assert_true(open_fails(strong, 4, "acks=all\n", NULL));
	assert_true(open_fails(acks_minus_one, 1, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_broker_down_then_up, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_permanent_error_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_full_spool_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_teardown_broker_silent, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_teardown_broker_silent_no_spool, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_vanished_spool_file_counted, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_batch_identity, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_json_batch_run, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_safety_settings_refused, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
