// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of collector/ingest against an in-memory store: the rows it inserts, batches
 * skipped as stored before, gaps and restarts, the JSON parser and what it rejects, and
 * inserts that fail and are retried.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bytes.h"
#include "ingest.h"
#include "stub_store.h"
#include "wire.h"

#define ROW_LEN(agent) (1 + strlen(agent) + 8 + WIRE_RECORD_SIZE)

static const struct ingest_options options = {
	.batch_rows = 1000,
	.batch_ms = 3600000,
	.input_agent = "input",
};

static struct flow_record record_of(uint32_t i)
{
	struct flow_record record = { 0 };

	record.key.src_addr[10] = record.key.src_addr[11] = 0xff;
	record.key.src_addr[12] = 10;
	record.key.src_addr[15] = (uint8_t)i;
	record.key.dst_addr[10] = record.key.dst_addr[11] = 0xff;
	record.key.dst_addr[12] = 192;
	record.key.dst_addr[15] = 1;
	record.key.src_port = (uint16_t)(40000 + i);
	record.key.dst_port = 443;
	record.key.proto = 6;
	record.sampling = 1;
	record.stats.packets = 2 + i;
	record.stats.bytes = 100 * (2 + i);
	record.stats.first_seen_ns = 1767571200000000000ull + i;
	record.stats.last_seen_ns = 1767571201000000000ull + i;
	return record;
}

/* A wire batch of `count` records; returns its length. */
static size_t batch_of(uint8_t *buffer, size_t capacity, const char *agent, uint64_t sequence,
		       uint32_t count, uint8_t flags)
{
	struct wire_batch batch;
	uint32_t i;

	assert_int_equal(wire_batch_begin(&batch, buffer, capacity, agent), 0);
	for (i = 0; i < count; i++) {
		struct flow_record record = record_of(i);

		assert_int_equal(wire_batch_add(&batch, &record), 0);
	}
	return wire_batch_seal(&batch, sequence, 1767571202000000000ull, flags);
}

static struct ingest *open_ingest(void)
{
	struct ingest *ingest = NULL;
	char err[256];

	assert_int_equal(ingest_open(stub_store_handle(), &options, &ingest, err, sizeof(err)), 0);
	return ingest;
}

static int reset(void **state)
{
	(void)state;
	stub_store_reset();
	return 0;
}

static void add_batch(struct ingest *ingest, const char *agent, uint64_t sequence, uint32_t count,
		      uint8_t flags)
{
	uint8_t buffer[4096];
	size_t len = batch_of(buffer, sizeof(buffer), agent, sequence, count, flags);

	assert_int_equal(ingest_add_wire(ingest, buffer, len, "test"), 0);
}

static void flush(struct ingest *ingest)
{
	char err[256];

	assert_int_equal(ingest_flush(ingest, err, sizeof(err)), 0);
}

/* The rows are the wire records behind (agent, sequence), as ClickHouse RowBinary. */
static void test_wire_batch_to_rows(void **state)
{
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;
	uint8_t expected[WIRE_RECORD_SIZE];
	const uint8_t *row;
	uint32_t i;

	(void)state;
	add_batch(ingest, "edge-1", 17, 3, WIRE_FLAG_FIRST_OF_RUN);
	assert_int_equal(stub_store.inserts, 0);
	flush(ingest);
	assert_int_equal(stub_store.inserts, 1);
	assert_int_equal(stub_store.len, 3 * ROW_LEN("edge-1"));
	for (i = 0; i < 3; i++) {
		struct flow_record record = record_of(i);

		row = stub_store.data + i * ROW_LEN("edge-1");
		assert_int_equal(row[0], strlen("edge-1"));
		assert_memory_equal(row + 1, "edge-1", 6);
		assert_int_equal(get_le64(row + 7), 17);
		wire_record_encode(expected, &record);
		assert_memory_equal(row + 15, expected, WIRE_RECORD_SIZE);
	}
	assert_non_null(strstr(stub_store.last_sql, "INSERT INTO flows.raw (agent, batch_seq,"));
	assert_non_null(strstr(stub_store.last_sql, "insert_deduplication_token"));
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.messages, 1);
	assert_int_equal(stats.batches, 1);
	assert_int_equal(stats.rows_inserted, 3);
	assert_int_equal(stats.inserts, 1);
	assert_int_equal(stats.pending_rows, 0);
	assert_int_equal(stats.agents, 1);
	/* nothing pending: a flush inserts nothing */
	flush(ingest);
	assert_int_equal(stub_store.inserts, 1);
	ingest_close(ingest);
}

static void test_duplicate_batches_skipped(void **state)
{
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;

	(void)state;
	add_batch(ingest, "a", 1, 4, WIRE_FLAG_FIRST_OF_RUN);
	add_batch(ingest, "a", 2, 2, 0);
	add_batch(ingest, "a", 1, 4, WIRE_FLAG_FIRST_OF_RUN); /* redelivered before the insert */
	flush(ingest);
	add_batch(ingest, "a", 2, 2, 0);		      /* and after it */
	add_batch(ingest, "b", 1, 1, WIRE_FLAG_FIRST_OF_RUN); /* another agent's number 1 */
	flush(ingest);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches, 3);
	assert_int_equal(stats.duplicate_batches, 2);
	assert_int_equal(stats.duplicate_rows, 6);
	assert_int_equal(stats.rows_inserted, 7);
	assert_int_equal(stub_store.len, 6 * ROW_LEN("a") + ROW_LEN("b"));
	assert_int_equal(stats.batches_missing, 0);
	ingest_close(ingest);
}

/* Batches stored by an earlier run come back from the store at open, and are skipped. */
static void test_stored_batches_known_at_open(void **state)
{
	struct ingest *ingest;
	struct ingest_stats stats;

	(void)state;
	stub_store.query_result = "a\t5\na\t6\nb\t1\n";
	ingest = open_ingest();
	add_batch(ingest, "a", 6, 3, 0);
	add_batch(ingest, "a", 7, 2, 0);
	add_batch(ingest, "b", 1, 1, 0);
	flush(ingest);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.duplicate_batches, 2);
	assert_int_equal(stats.rows_inserted, 2);
	/* 7 follows the stored 6: no gap */
	assert_int_equal(stats.batches_missing, 0);
	ingest_close(ingest);
}

static void test_unreadable_store_fails_open(void **state)
{
	struct ingest *ingest = NULL;
	char err[256];

	(void)state;
	stub_store.query_fails = 1;
	assert_int_not_equal(ingest_open(stub_store_handle(), &options, &ingest, err, sizeof(err)),
			     0);
	assert_null(ingest);
}

static void test_gaps_late_batches_and_restarts(void **state)
{
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;

	(void)state;
	add_batch(ingest, "a", 10, 1, WIRE_FLAG_FIRST_OF_RUN);
	add_batch(ingest, "a", 14, 1, 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches_missing, 3);
	add_batch(ingest, "a", 12, 1, 0);
	add_batch(ingest, "a", 11, 1, 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches_missing, 1);
	/* a restarted agent jumps ahead: not a gap */
	add_batch(ingest, "a", 100, 1, WIRE_FLAG_FIRST_OF_RUN);
	add_batch(ingest, "a", 101, 1, 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches_missing, 1);
	assert_int_equal(stats.agent_restarts, 1);
	add_batch(ingest, "a", 13, 1, 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches_missing, 0);
	assert_int_equal(stats.batches, 7);
	ingest_close(ingest);
}

static void test_bad_wire_batches_rejected(void **state)
{
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;
	uint8_t buffer[4096];
	size_t len;

	(void)state;
	len = batch_of(buffer, sizeof(buffer), "a", 1, 2, 0);
	buffer[len - 1] ^= 0x40; /* the CRC no longer matches */
	assert_int_equal(ingest_add_wire(ingest, buffer, len, "test"), -EBADMSG);
	assert_int_equal(ingest_add_wire(ingest, "not a batch", 11, "test"), -EBADMSG);
	assert_int_equal(ingest_add_wire(ingest, buffer, 10, "test"), -EBADMSG);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.messages, 3);
	assert_int_equal(stats.messages_rejected, 3);
	assert_int_equal(stats.pending_rows, 0);
	/* the same batch intact is still taken: the rejected copy was not remembered */
	len = batch_of(buffer, sizeof(buffer), "a", 1, 2, 0);
	assert_int_equal(ingest_add_wire(ingest, buffer, len, "test"), 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.pending_rows, 2);
	ingest_close(ingest);
}

#define JSON_FIELDS                                                                  \
	"\"src_addr\":\"10.0.0.1\",\"dst_addr\":\"2001:db8::1\",\"src_port\":40000," \
	"\"dst_port\":443,\"proto\":6,\"packets\":3,\"bytes\":300,"                  \
	"\"first_seen_ns\":1767571200000000000,\"last_seen_ns\":1767571201000000000"

static void test_json_records(void **state)
{
	static const char line[] = "{" JSON_FIELDS ",\"vlan\":7,\"tcp_flags\":27,"
				   "\"direction\":\"egress\",\"ifindex\":4,\"future\":\"ignored\"}";
	struct ingest *ingest = open_ingest();
	struct flow_record expected = { 0 };
	uint8_t record[WIRE_RECORD_SIZE];
	struct ingest_stats stats;

	(void)state;
	assert_int_equal(ingest_add_json(ingest, line, strlen(line), "f:1"), 0);
	flush(ingest);
	assert_int_equal(stub_store.len, ROW_LEN("input"));
	assert_memory_equal(stub_store.data + 1, "input", 5);
	assert_int_equal(get_le64(stub_store.data + 6), 0);
	expected.key.src_addr[10] = expected.key.src_addr[11] = 0xff;
	expected.key.src_addr[12] = 10;
	expected.key.src_addr[15] = 1;
	expected.key.dst_addr[0] = 0x20;
	expected.key.dst_addr[1] = 0x01;
	expected.key.dst_addr[2] = 0x0d;
	expected.key.dst_addr[3] = 0xb8;
	expected.key.dst_addr[15] = 1;
	expected.key.src_port = 40000;
	expected.key.dst_port = 443;
	expected.key.proto = 6;
	expected.key.vlan = 7;
	expected.key.ifindex = 4;
	expected.key.direction = FLOW_DIR_EGRESS;
	expected.sampling = 1;
	expected.stats.packets = 3;
	expected.stats.bytes = 300;
	expected.stats.first_seen_ns = 1767571200000000000ull;
	expected.stats.last_seen_ns = 1767571201000000000ull;
	expected.stats.tcp_flags = 27;
	wire_record_encode(record, &expected);
	assert_memory_equal(stub_store.data + 14, record, WIRE_RECORD_SIZE);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.records_rejected, 0);
	ingest_close(ingest);
}

static void test_json_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{" JSON_FIELDS,
		"{" JSON_FIELDS "} trailing",
		"{\"src_addr\":\"10.0.0.1\"}",
		"{" JSON_FIELDS ",\"src_port\":65536}",
		"{" JSON_FIELDS ",\"proto\":\"tcp\"}",
		"{" JSON_FIELDS ",\"direction\":\"sideways\"}",
		"{" JSON_FIELDS ",\"vlan\":4096}",
		"{" JSON_FIELDS ",\"packets\":-1}",
		"{" JSON_FIELDS ",\"packets\":1.5}",
		"{" JSON_FIELDS ",\"packets\":0}",
		"{" JSON_FIELDS ",\"bytes\":2}",
		"{" JSON_FIELDS ",\"last_seen_ns\":1}",
		"{" JSON_FIELDS ",\"sampling\":0}",
		"{" JSON_FIELDS ",\"src_addr\":\"10.0.0.300\"}",
		"{" JSON_FIELDS ",\"agent_id\":\"a\\\"b\"}",
		"{" JSON_FIELDS ",\"packets\":99999999999999999999}",
	};
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ingest_add_json(ingest, bad[i], strlen(bad[i]), "f:1") != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
	}
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.records_rejected, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(stats.pending_rows, 0);
	ingest_close(ingest);
}

/* The agent's Kafka JSON: the lines of one (agent, batch_seq) are one batch. */
static void test_json_batches(void **state)
{
	static const char first[] = "{\"agent_id\":\"j\",\"batch_seq\":5," JSON_FIELDS "}";
	static const char second[] = "{\"agent_id\":\"j\",\"batch_seq\":6," JSON_FIELDS "}";
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(ingest_add_json(ingest, first, strlen(first), "k"), 0);
	assert_int_equal(ingest_add_json(ingest, second, strlen(second), "k"), 0);
	/* batch 5 again, after batch 6: stored before, skipped line by line */
	for (i = 0; i < 3; i++)
		assert_int_equal(ingest_add_json(ingest, first, strlen(first), "k"), 0);
	flush(ingest);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.batches, 2);
	assert_int_equal(stats.rows_inserted, 4);
	assert_int_equal(stats.duplicate_batches, 1);
	assert_int_equal(stats.duplicate_rows, 3);
	assert_int_equal(get_le64(stub_store.data + 2), 5);
	assert_int_equal(get_le64(stub_store.data + 3 * ROW_LEN("j") + 2), 6);
	ingest_close(ingest);
}

/* A failed insert keeps its rows, and the retry carries the same deduplication token. */
static void test_failed_insert_retried(void **state)
{
	struct ingest *ingest = open_ingest();
	struct ingest_stats stats;
	char err[256], failed_sql[1024];

	(void)state;
	add_batch(ingest, "a", 1, 5, 0);
	stub_store.insert_failures_left = 2;
	assert_int_not_equal(ingest_flush(ingest, err, sizeof(err)), 0);
	assert_string_equal(err, "stub: insert failed");
	snprintf(failed_sql, sizeof(failed_sql), "%s", stub_store.last_sql);
	assert_int_not_equal(ingest_flush(ingest, err, sizeof(err)), 0);
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.insert_failures, 2);
	assert_int_equal(stats.pending_rows, 5);
	assert_int_equal(stats.rows_inserted, 0);
	flush(ingest);
	assert_string_equal(stub_store.last_sql, failed_sql);
	assert_int_equal(stub_store.len, 5 * ROW_LEN("a"));
	ingest_get_stats(ingest, &stats);
	assert_int_equal(stats.rows_inserted, 5);
	/* the next group is a different insert */
	add_batch(ingest, "a", 2, 1, 0);
	flush(ingest);
	assert_string_not_equal(stub_store.last_sql, failed_sql);
	ingest_close(ingest);
}

static void test_due_by_rows(void **state)
{
	struct ingest_options small = options;
	struct ingest *ingest = NULL;
	char err[256];

	(void)state;
	small.batch_rows = 4;
	assert_int_equal(ingest_open(stub_store_handle(), &small, &ingest, err, sizeof(err)), 0);
	assert_false(ingest_due(ingest));
	add_batch(ingest, "a", 1, 3, 0);
	assert_false(ingest_due(ingest));
	add_batch(ingest, "a", 2, 1, 0);
	assert_true(ingest_due(ingest));
	flush(ingest);
	assert_false(ingest_due(ingest));
	ingest_close(ingest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_wire_batch_to_rows, reset),
		cmocka_unit_test_setup(test_duplicate_batches_skipped, reset),
		cmocka_unit_test_setup(test_stored_batches_known_at_open, reset),
		cmocka_unit_test_setup(test_unreadable_store_fails_open, reset),
		cmocka_unit_test_setup(test_gaps_late_batches_and_restarts, reset),
		cmocka_unit_test_setup(test_bad_wire_batches_rejected, reset),
		cmocka_unit_test_setup(test_json_records, reset),
		cmocka_unit_test_setup(test_json_rejects, reset),
		cmocka_unit_test_setup(test_json_batches, reset),
		cmocka_unit_test_setup(test_failed_insert_retried, reset),
		cmocka_unit_test_setup(test_due_by_rows, reset),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	stub_store_reset();
	return failed;
}
