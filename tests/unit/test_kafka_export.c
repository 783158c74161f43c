// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Error paths of the Kafka exporter against librdkafka's mock cluster (test.mock.num.brokers):
 * a broker that goes down and comes back, a broker error that retrying cannot cure, and a spool
 * that fills. The real broker is in tests/integration/test_kafka.py; these need no network.
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
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_export.h"

#define PRODUCE_API_KEY 0
#define WAIT_LIMIT_S	60

static char spool_dir[64];
static const char *mock_properties[] = { "test.mock.num.brokers=1", "message.timeout.ms=1500",
					 "reconnect.backoff.max.ms=200", "retry.backoff.ms=50" };

static int make_dir(void **state)
{
	(void)state;
	snprintf(spool_dir, sizeof(spool_dir), "/tmp/test_kafka_export.XXXXXX");
	return mkdtemp(spool_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char command[128];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf %s", spool_dir);
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
		.spool_dir = spool_dir,
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
}

/* Kafka down and a spool with room for two batches: the rest is dropped, every record counted. */
static void test_full_spool_counted(void **state)
{
	struct kafka_export_config config = mock_config(2 * (16 + 41 + 4 + 10 * 81));
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_broker_down_then_up, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_permanent_error_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_full_spool_counted, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
