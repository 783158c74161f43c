/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The userspace flow table of the replay engine. Open addressing with linear probing over a
 * compact slot array (hash tag + entry index, 8 slots per cache line) that points into a dense
 * array of entries: about 104 bytes per flow at the fullest, so the working set and the fresh
 * memory the kernel must zero stay small, and expiry scans read only live entries. The replay
 * loop computes hashes ahead and prefetches slots, then entries, before it updates them.
 * Entries leave only in expiry scans, which compact them and rebuild the small slot array.
 */
#ifndef FLOWAGENT_FLOW_TABLE_H
#define FLOWAGENT_FLOW_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"

#define FLOW_SLOT_EMPTY	   0u
#define FLOW_SLOT_LIVE_BIT 0x80000000u

struct flow_slot {
	uint32_t tag;	/* FLOW_SLOT_EMPTY, or the key hash | FLOW_SLOT_LIVE_BIT */
	uint32_t index; /* into entries[] */
};

struct flow_entry {
	struct flow_key key;
	uint32_t hash;
	struct flow_metrics metrics;
};
_Static_assert(sizeof(struct flow_entry) == 88, "entries are dense: keep them small");

struct flow_table {
	struct flow_slot *slots;
	size_t capacity;	    /* slots, a power of two; entries hold capacity / 2 */
	struct flow_entry *entries; /* entries[0 .. live) */
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

/* First stage: the slot's cache line. */
static inline void flow_table_prefetch_slot(const struct flow_table *table, uint32_t hash)
{
	__builtin_prefetch(&table->slots[hash & (table->capacity - 1)], 0, 3);
}

/* Second stage, once the slot line has arrived: the entry its first matching tag points to. */
static inline void flow_table_prefetch_entry(const struct flow_table *table, uint32_t hash)
{
	const struct flow_slot *slot = &table->slots[hash & (table->capacity - 1)];

	if (slot->tag == (hash | FLOW_SLOT_LIVE_BIT)) {
		const char *entry = (const char *)&table->entries[slot->index];

		__builtin_prefetch(entry, 1, 3);
		__builtin_prefetch(entry + sizeof(struct flow_entry) - 1, 1, 3);
	}
}

/* The entry for key, or NULL. */
struct flow_entry *flow_table_find(const struct flow_table *table, const struct flow_key *key,
				   uint32_t hash);

/*
 * The entry for key, created with zeroed metrics if absent (*created = 1). Returns NULL only
 * when the table could not grow (out of memory). The pointer is valid until the next upsert.
 */
struct flow_entry *flow_table_upsert(struct flow_table *table, const struct flow_key *key,
				     uint32_t hash, int *created);

typedef int (*flow_table_expired_fn)(void *ctx, const struct flow_entry *entry);

/* Calls visit for each entry expired() says is done, then removes it. Returns the count. */
size_t flow_table_expire(struct flow_table *table, flow_table_expired_fn expired,
			 flow_table_visit_fn visit, void *ctx);

/* Calls visit for each entry idle at now_ns, then removes it. Returns the count. */
size_t flow_table_expire_idle(struct flow_table *table, uint64_t now_ns, uint64_t idle_ns,
			      flow_table_visit_fn visit, void *ctx);

/* Calls visit for every entry and empties the table. */
size_t flow_table_drain(struct flow_table *table, flow_table_visit_fn visit, void *ctx);

#endif
