// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The userspace replay engine: the shared parser and accounting rules over a flow table. A
 * batch is parsed and hashed first and its table slots prefetched, then updated in order, so
 * cache misses on the table overlap instead of stalling one packet at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flow_parse.h"
#include "log.h"
#include "flow_table.h"
#include "replay_engine.h"

#define USER_BATCH 256

struct user_engine {
	struct replay_engine base;
	struct replay_engine_config config;
	struct replay_sink sink;
	struct flow_table table;
	uint64_t counters[FLOW_CNT_MAX];
	uint64_t sample_state;
	/* per-batch scratch */
	struct flow_key keys[USER_BATCH];
	struct flow_packet parsed[USER_BATCH];
	uint32_t hashes[USER_BATCH];
	int results[USER_BATCH];
};

/* xorshift64*: deterministic, so a sampled replay is reproducible */
static uint32_t sample_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

static void emit_entry(void *ctx, const struct flow_entry *entry)
{
	struct user_engine *engine = ctx;
	struct flow_record record = {
		.key = entry->key,
		.sampling = engine->config.sampling,
		.stats = entry->metrics,
	};

	engine->sink.emit(engine->sink.ctx, &record);
}

static void count_notes(uint64_t *counters, uint8_t notes)
{
	int i;

	for (i = 0; notes; i++, notes >>= 1)
		if (notes & 1)
			counters[FLOW_CNT_NOTES_FIRST + i]++;
}

static int user_account_one(struct user_engine *engine, const struct flow_key *key, uint32_t hash,
			    uint64_t ts_ns, const struct flow_packet *pkt)
{
	struct flow_entry *entry;
	int created;

	entry = flow_table_upsert(&engine->table, key, hash, &created);
	if (!entry)
		return FLOW_CNT_MAP_FULL;
	if (created)
		engine->counters[FLOW_CNT_FLOW_CREATED]++;
	if (created || entry->metrics.packets == 0) {
		flow_metrics_start(&entry->metrics, ts_ns, pkt->bytes, pkt->tcp_flags);
	} else if (flow_metrics_should_split(&entry->metrics, ts_ns, engine->config.idle_timeout_ns,
					     engine->config.active_timeout_ns)) {
		emit_entry(engine, entry);
		engine->counters[FLOW_CNT_SPLIT]++;
		flow_metrics_start(&entry->metrics, ts_ns, pkt->bytes, pkt->tcp_flags);
	} else {
		flow_metrics_add(&entry->metrics, ts_ns, pkt->bytes, pkt->tcp_flags);
	}
	return FLOW_CNT_RECORDED;
}

/* Parses packet i into the batch scratch. */
static void user_parse(struct user_engine *engine, const struct pcap_packet *packet, int i)
{
	uint32_t parse_len = replay_parse_len(packet);
	struct flow_frame frame = {
		.data = packet->data,
		.data_end = packet->data + parse_len,
		.cap_len = parse_len,
		.orig_len = packet->orig_len,
		.link_type = packet->link_type,
	};

	if (engine->config.sampling > 1 &&
	    sample_next(&engine->sample_state) % engine->config.sampling) {
		engine->results[i] = FLOW_CNT_SAMPLED_OUT;
		return;
	}
	memset(&engine->keys[i], 0, sizeof(engine->keys[i]));
	memset(&engine->parsed[i], 0, sizeof(engine->parsed[i]));
	engine->results[i] = flow_parse_frame(&frame, &engine->keys[i], &engine->parsed[i]);
}

static void user_update(struct user_engine *engine, const struct pcap_packet *packet, int i)
{
	int result = engine->results[i];

	if (result == FLOW_CNT_RECORDED)
		result = user_account_one(engine, &engine->keys[i], engine->hashes[i],
					  packet->ts_ns, &engine->parsed[i]);
	engine->counters[result]++;
	if (result == FLOW_CNT_RECORDED && engine->parsed[i].notes)
		count_notes(engine->counters, engine->parsed[i].notes);
}

/*
 * A software pipeline over the batch: parse packet i, hash packet i - HASH_LAG and prefetch its
 * slot, prefetch the entry that slot points to for packet i - ENTRY_LAG, update packet
 * i - UPDATE_LAG. The hash lags so the parser's byte stores of the key have drained before it
 * is read back as words (no store-forwarding stall); each later stage lags so the line it needs
 * has arrived, with about a dozen misses in flight and the line-fill buffers never full.
 */
#define HASH_LAG   4
#define ENTRY_LAG  12
#define UPDATE_LAG 20

static int user_account(struct replay_engine *base, const struct pcap_packet *packets, int count)
{
	struct user_engine *engine = (struct user_engine *)base;
	int done, n, i;

	for (done = 0; done < count; done += n) {
		const struct pcap_packet *batch = packets + done;

		n = count - done < USER_BATCH ? count - done : USER_BATCH;
		for (i = 0; i < n + UPDATE_LAG; i++) {
			int h = i - HASH_LAG, e = i - ENTRY_LAG, u = i - UPDATE_LAG;

			if (i < n)
				user_parse(engine, &batch[i], i);
			if (h >= 0 && h < n && engine->results[h] == FLOW_CNT_RECORDED) {
				engine->hashes[h] = flow_key_hash(&engine->keys[h]);
				flow_table_prefetch_slot(&engine->table, engine->hashes[h]);
			}
			if (e >= 0 && e < n && engine->results[e] == FLOW_CNT_RECORDED)
				flow_table_prefetch_entry(&engine->table, engine->hashes[e]);
			if (u >= 0)
				user_update(engine, &batch[u], u);
		}
		engine->counters[FLOW_CNT_PACKETS] += (uint64_t)n;
	}
	return 0;
}

static int user_expire(struct replay_engine *base, uint64_t now_ns)
{
	struct user_engine *engine = (struct user_engine *)base;

	if (engine->config.idle_timeout_ns)
		flow_table_expire_idle(&engine->table, now_ns, engine->config.idle_timeout_ns,
				       emit_entry, engine);
	return 0;
}

static int user_drain(struct replay_engine *base)
{
	struct user_engine *engine = (struct user_engine *)base;

	pr_debug("user engine: %zu flows open at the end, table of %zu slots\n", engine->table.live,
		 engine->table.capacity);
	flow_table_drain(&engine->table, emit_entry, engine);
	return 0;
}

static int user_read_counters(struct replay_engine *base, uint64_t counters[FLOW_CNT_MAX])
{
	struct user_engine *engine = (struct user_engine *)base;
	int i;

	for (i = 0; i < FLOW_CNT_MAX; i++)
		counters[i] += engine->counters[i];
	return 0;
}

static void user_destroy(struct replay_engine *base)
{
	struct user_engine *engine = (struct user_engine *)base;

	flow_table_free(&engine->table);
	free(engine);
}

int replay_engine_user_new(const struct replay_engine_config *config, struct replay_sink sink,
			   struct replay_engine **out)
{
	struct user_engine *engine;
	int err;

	engine = calloc(1, sizeof(*engine));
	if (!engine)
		return -ENOMEM;
	err = flow_table_init(&engine->table, 1 << 18);
	if (err) {
		free(engine);
		return err;
	}
	engine->base = (struct replay_engine){
		.name = "user",
		.account = user_account,
		.expire = user_expire,
		.drain = user_drain,
		.read_counters = user_read_counters,
		.destroy = user_destroy,
	};
	engine->config = *config;
	engine->sink = sink;
	engine->sample_state = 0x9e3779b97f4a7c15ULL;
	*out = &engine->base;
	return 0;
}
