/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The userspace flow table of the replay engine: open addressing with linear probing, one
 * 128-byte entry per flow so a lookup touches one cache line pair, and a hash the replay loop
 * computes ahead so it can prefetch slots before updating them. Removal shifts the following
 * entries back, so there are no tombstones and the table is only ever rebuilt to grow.
 */
#ifndef FLOWAGENT_FLOW_TABLE_H
#define FLOWAGENT_FLOW_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"

#define FLOW_SLOT_EMPTY	   0u
#define FLOW_SLOT_LIVE_BIT 0x80000000u

struct flow_entry {
	uint32_t slot_hash; /* FLOW_SLOT_EMPTY, or the key hash | FLOW_SLOT_LIVE_BIT */
	struct flow_key key;
	struct flow_metrics metrics;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct flow_entry) == 128, "an entry is one cache line pair");

struct flow_table {
	struct flow_entry *entries;
	size_t capacity; /* a power of two */
	size_t live;
};

typedef void (*flow_table_visit_fn)(void *ctx, const struct flow_entry *entry);

int flow_table_init(struct flow_table *table, size_t min_capacity);
void flow_table_free(struct flow_table *table);

static inline uint64_t flow_hash_mix(uint64_t a, uint64_t b)
{
	__uint128_t product = (__uint128_t)a * b;

	return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static inline uint64_t flow_load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * wyhash-style multiply-fold over the 44 key bytes, loaded straight from the key: copying it
 * into a zeroed buffer first costs a store-forwarding stall per packet.
 */
static inline uint32_t flow_key_hash(const struct flow_key *key)
{
	const uint8_t *k = (const uint8_t *)key;
	uint32_t tail;

	memcpy(&tail, k + 40, sizeof(tail));
	return (uint32_t)(flow_hash_mix(flow_load64(k) ^ 0xa0761d6478bd642fULL,
					flow_load64(k + 8) ^ 0xe7037ed1a0b428dbULL) ^
			  flow_hash_mix(flow_load64(k + 16) ^ 0x8ebc6af09c88c6e3ULL,
					flow_load64(k + 24) ^ 0x589965cc75374cc3ULL) ^
			  flow_hash_mix(flow_load64(k + 32) ^ 0x1d8e4e27c47d124fULL,
					tail ^ 0xa0761d6478bd642fULL));
}

/*
 * One prefetch per entry: the CPU's spatial prefetcher brings the 128-byte-aligned pair, and a
 * second explicit one only fills the line-fill buffers sooner (measured: no gain).
 */
static inline void flow_table_prefetch(const struct flow_table *table, uint32_t hash)
{
	__builtin_prefetch(&table->entries[hash & (table->capacity - 1)], 1, 3);
}

/*
 * The entry for key, created with zeroed metrics if absent (*created = 1). Returns NULL only
 * when the table could not grow (out of memory).
 */
struct flow_entry *flow_table_upsert(struct flow_table *table, const struct flow_key *key,
				     uint32_t hash, int *created);

/* Calls visit for each live entry idle at now_ns, then removes it. Returns the count. */
size_t flow_table_expire_idle(struct flow_table *table, uint64_t now_ns, uint64_t idle_ns,
			      flow_table_visit_fn visit, void *ctx);

/* Calls visit for every live entry and empties the table. */
size_t flow_table_drain(struct flow_table *table, flow_table_visit_fn visit, void *ctx);

#endif
