// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the userspace flow table and the user replay engine: inserts, growth, expiry
 * by compaction and re-indexing, and records whose sums equal the exact totals under timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow_table.h"
#include "replay_engine.h"

#define NS 1000000000ULL

static struct flow_key key_of(uint32_t n)
{
	struct flow_key key = { .proto = 17, .src_port = (uint16_t)n, .dst_port = 53 };

	memcpy(key.src_addr + 12, &n, sizeof(n));
	return key;
}

static size_t visited;
static void count_visit(void *ctx, const struct flow_entry *entry)
{
	(void)ctx;
	(void)entry;
	visited++;
}

static void test_table_grows_and_finds_every_key(void **state)
{
	struct flow_table table;
	uint32_t i;
	int created;

	(void)state;
	assert_int_equal(flow_table_init(&table, 16), 0);
	for (i = 0; i < 100000; i++) {
		struct flow_key key = key_of(i);
		struct flow_entry *e =
			flow_table_upsert(&table, &key, flow_key_hash(&key), &created);

		assert_non_null(e);
		assert_true(created);
		e->metrics.packets = i + 1;
	}
	assert_int_equal(table.live, 100000);
	assert_true(table.capacity >= 133334);
	for (i = 0; i < 100000; i++) {
		struct flow_key key = key_of(i);
		struct flow_entry *e =
			flow_table_upsert(&table, &key, flow_key_hash(&key), &created);

		assert_false(created);
		assert_int_equal(e->metrics.packets, i + 1);
	}
	visited = 0;
	assert_int_equal(flow_table_drain(&table, count_visit, NULL), 100000);
	assert_int_equal(visited, 100000);
	assert_int_equal(table.live, 0);
	flow_table_free(&table);
}

static void test_expiry_removes_only_idle_entries(void **state)
{
	struct flow_table table;
	uint32_t i;
	int created;

	(void)state;
	assert_int_equal(flow_table_init(&table, 1024), 0);
	/* many rounds of insert-then-expire: removal must keep every survivor reachable */
	for (uint32_t round = 0; round < 50; round++) {
		for (i = 0; i < 600; i++) {
			struct flow_key key = key_of(round * 1000 + i);
			struct flow_entry *e =
				flow_table_upsert(&table, &key, flow_key_hash(&key), &created);

			assert_non_null(e);
			assert_true(created);
			/* even keys are active at t=100 s, odd ones last seen at t=10 s */
			flow_metrics_start(&e->metrics, (i % 2 ? 10 : 100) * NS, 1, 0);
		}
		visited = 0;
		assert_int_equal(
			flow_table_expire_idle(&table, 100 * NS, 15 * NS, count_visit, NULL), 300);
		assert_int_equal(visited, 300);
		assert_int_equal(table.live, 300);
		for (i = 0; i < 600; i++) {
			struct flow_key key = key_of(round * 1000 + i);
			struct flow_entry *e =
				flow_table_upsert(&table, &key, flow_key_hash(&key), &created);

			/* the survivors are still found; the idle ones are new */
			assert_int_equal(created, i % 2);
			if (created)
				memset(&e->metrics, 0, sizeof(e->metrics));
		}
		flow_table_drain(&table, count_visit, NULL);
	}
	assert_true(table.capacity <= 2048);
	flow_table_free(&table);
}

/*
 * Forced collisions: every key hashes into 8 neighbouring slots near the end of the table, so
 * runs are long and wrap around it. A reference array says which keys must still be found
 * after each expiry scan re-indexes the survivors.
 */
static void test_removal_with_collisions_and_wraparound(void **state)
{
	enum {
		KEYS = 600
	};
	struct flow_table table;
	int present[KEYS] = { 0 };
	int idle[KEYS] = { 0 };
	uint64_t rng = 12345;
	int round, created;
	uint32_t i;

	(void)state;
	assert_int_equal(flow_table_init(&table, 1024), 0);
	for (round = 0; round < 40; round++) {
		size_t expected_live = 0;

		for (i = 0; i < KEYS; i++) {
			struct flow_key key = key_of(i);
			uint32_t hash = (uint32_t)(1016 + i % 8);
			struct flow_entry *e;

			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			if ((rng >> 33) % 3 == 0)
				continue;
			e = flow_table_upsert(&table, &key, hash, &created);
			assert_non_null(e);
			assert_int_equal(created, !present[i]);
			present[i] = 1;
			/* a random half is idle at the next scan */
			idle[i] = (rng >> 40) & 1;
			flow_metrics_start(&e->metrics, (idle[i] ? 10 : 100) * NS, 1, 0);
		}
		flow_table_expire_idle(&table, 100 * NS, 15 * NS, count_visit, NULL);
		for (i = 0; i < KEYS; i++) {
			struct flow_key key = key_of(i);
			struct flow_entry *e;
			int found = 0;

			if (present[i] && idle[i])
				present[i] = 0; /* what the scan must have removed */
			e = flow_table_find(&table, &key, (uint32_t)(1016 + i % 8));
			if (e) {
				assert_int_equal(e->metrics.last_seen_ns, 100 * NS);
				found = 1;
			}
			assert_int_equal(found, present[i]);
			expected_live += (size_t)present[i];
		}
		assert_int_equal(table.live, expected_live);
	}
	flow_table_free(&table);
}

/* --- the user engine ------------------------------------------------------------------------ */

struct sink_records {
	struct flow_record records[64];
	int count;
};

static void collect(void *ctx, const struct flow_record *record)
{
	struct sink_records *sink = ctx;

	assert_true(sink->count < 64);
	sink->records[sink->count++] = *record;
}

/* A raw-IP UDP packet 10.0.0.1:1000 -> 10.0.0.2:53 of ip_len bytes. */
static uint8_t raw_udp[28] = { 0x45, 0, 0,  28, 0, 0, 0,    0,	  64, 17, 0, 0, 10, 0,
			       0,    1, 10, 0,	0, 2, 0x03, 0xe8, 0,  53, 0, 8, 0,  0 };

static struct pcap_packet packet_at(uint64_t ts_ns)
{
	struct pcap_packet p = { .data = raw_udp,
				 .ts_ns = ts_ns,
				 .cap_len = sizeof(raw_udp),
				 .orig_len = sizeof(raw_udp),
				 .link_type = 101 };
	return p;
}

static void test_engine_records_sum_to_totals(void **state)
{
	struct replay_engine_config config = { .idle_timeout_ns = 15 * NS,
					       .active_timeout_ns = 60 * NS,
					       .sampling = 1 };
	struct sink_records sink = { .count = 0 };
	struct replay_engine *engine;
	/* 0..50 s every 10 s; a 20 s gap; then 90..190 s every 5 s */
	struct pcap_packet packets[64];
	uint64_t counters[FLOW_CNT_MAX] = { 0 }, packets_sum = 0, bytes_sum = 0;
	int n = 0, i;

	(void)state;
	for (i = 0; i <= 5; i++)
		packets[n++] = packet_at((uint64_t)i * 10 * NS);
	for (i = 0; i <= 20; i++)
		packets[n++] = packet_at(90 * NS + (uint64_t)i * 5 * NS);
	assert_int_equal(replay_engine_user_new(&config, (struct replay_sink){ collect, &sink },
						&engine),
			 0);
	assert_int_equal(engine->account(engine, packets, n), 0);
	assert_int_equal(engine->drain(engine), 0);
	assert_int_equal(engine->read_counters(engine, counters), 0);
	engine->destroy(engine);

	/* 0-50 (idle split at 90), 90-145 (active split at 150), 150-190 */
	assert_int_equal(sink.count, 3);
	assert_int_equal(sink.records[0].stats.packets, 6);
	assert_int_equal(sink.records[0].stats.last_seen_ns, 50 * NS);
	assert_int_equal(sink.records[1].stats.first_seen_ns, 90 * NS);
	assert_int_equal(sink.records[1].stats.last_seen_ns, 145 * NS);
	assert_int_equal(sink.records[2].stats.first_seen_ns, 150 * NS);
	assert_int_equal(sink.records[2].stats.last_seen_ns, 190 * NS);
	for (i = 0; i < sink.count; i++) {
		packets_sum += sink.records[i].stats.packets;
		bytes_sum += sink.records[i].stats.bytes;
		assert_int_equal(sink.records[i].key.src_port, 1000);
		assert_int_equal(sink.records[i].sampling, 1);
	}
	assert_int_equal(packets_sum, (uint64_t)n);
	assert_int_equal(bytes_sum, (uint64_t)n * 28);
	assert_int_equal(counters[FLOW_CNT_PACKETS], n);
	assert_int_equal(counters[FLOW_CNT_RECORDED], n);
	assert_int_equal(counters[FLOW_CNT_SPLIT], 2);
}

static void test_engine_sampling_counts_every_packet(void **state)
{
	struct replay_engine_config config = { .sampling = 10 };
	struct sink_records sink = { .count = 0 };
	struct pcap_packet packets[200];
	uint64_t counters[FLOW_CNT_MAX] = { 0 };
	struct replay_engine *engine;
	int i;

	(void)state;
	for (i = 0; i < 200; i++)
		packets[i] = packet_at((uint64_t)i * NS);
	assert_int_equal(replay_engine_user_new(&config, (struct replay_sink){ collect, &sink },
						&engine),
			 0);
	engine->account(engine, packets, 200);
	engine->drain(engine);
	engine->read_counters(engine, counters);
	engine->destroy(engine);
	assert_int_equal(sink.count, 1);
	assert_int_equal(sink.records[0].sampling, 10);
	assert_int_equal(sink.records[0].stats.packets, counters[FLOW_CNT_RECORDED]);
	assert_int_equal(counters[FLOW_CNT_RECORDED] + counters[FLOW_CNT_SAMPLED_OUT], 200);
	assert_in_range(counters[FLOW_CNT_RECORDED], 5, 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_grows_and_finds_every_key),
		cmocka_unit_test(test_expiry_removes_only_idle_entries),
		cmocka_unit_test(test_removal_with_collisions_and_wraparound),
		cmocka_unit_test(test_engine_records_sum_to_totals),
		cmocka_unit_test(test_engine_sampling_counts_every_packet),
	};

	return cmocka_run_group_tests_name("flow_table", tests, NULL, NULL);
}
