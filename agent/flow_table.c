// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow table for the userspace engine: linear probing over slots kept at most half full and
 * dense entries. Entries leave only in expiry scans, which compact them and re-index. Large
 * arrays live on transparent huge pages: every packet touches a random slot, and with 4 KiB
 * pages that misses the TLB almost every time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "flow_table.h"

#define HUGE_PAGE (2u << 20)

/* Zero-filled memory; mmap so that growing the entries can mremap instead of copy. */
static void *array_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (bytes >= HUGE_PAGE)
		madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static void array_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

static size_t slots_bytes(size_t capacity)
{
	return capacity * sizeof(struct flow_slot);
}

static size_t entries_bytes(size_t capacity)
{
	return capacity / 2 * sizeof(struct flow_entry);
}

int flow_table_init(struct flow_table *table, size_t min_capacity)
{
	size_t capacity = 1024;

	while (capacity < min_capacity)
		capacity <<= 1;
	table->slots = array_alloc(slots_bytes(capacity));
	table->entries = array_alloc(entries_bytes(capacity));
	if (!table->slots || !table->entries) {
		array_free(table->slots, slots_bytes(capacity));
		array_free(table->entries, entries_bytes(capacity));
		return -ENOMEM;
	}
	table->capacity = capacity;
	table->live = 0;
	return 0;
}

void flow_table_free(struct flow_table *table)
{
	array_free(table->slots, slots_bytes(table->capacity));
	array_free(table->entries, entries_bytes(table->capacity));
	table->slots = NULL;
	table->entries = NULL;
	table->capacity = 0;
	table->live = 0;
}

static void flow_table_index(struct flow_slot *slots, size_t capacity,
			     const struct flow_entry *entries, size_t live);

/* Doubles the slots (rebuilt from the entries' hashes) and the room for entries. */
static int flow_table_grow(struct flow_table *table)
{
	size_t capacity = table->capacity * 2;
	struct flow_entry *entries;
	struct flow_slot *slots;

	slots = array_alloc(slots_bytes(capacity));
	if (!slots)
		return -ENOMEM;
	entries = mremap(table->entries, entries_bytes(table->capacity), entries_bytes(capacity),
			 MREMAP_MAYMOVE);
	if (entries == MAP_FAILED) {
		array_free(slots, slots_bytes(capacity));
		return -ENOMEM;
	}
	if (entries_bytes(capacity) >= HUGE_PAGE)
		madvise(entries, entries_bytes(capacity), MADV_HUGEPAGE);
	flow_table_index(slots, capacity, entries, table->live);
	array_free(table->slots, slots_bytes(table->capacity));
	table->slots = slots;
	table->entries = entries;
	table->capacity = capacity;
	return 0;
}

struct flow_entry *flow_table_find(const struct flow_table *table, const struct flow_key *key,
				   uint32_t hash)
{
	uint32_t tag = hash | FLOW_SLOT_LIVE_BIT;
	size_t mask = table->capacity - 1;
	size_t s;

	for (s = hash & mask; table->slots[s].tag != FLOW_SLOT_EMPTY; s = (s + 1) & mask) {
		struct flow_entry *entry = &table->entries[table->slots[s].index];

		if (table->slots[s].tag == tag && !memcmp(&entry->key, key, sizeof(*key)))
			return entry;
	}
	return NULL;
}

struct flow_entry *flow_table_upsert(struct flow_table *table, const struct flow_key *key,
				     uint32_t hash, int *created)
{
	uint32_t tag = hash | FLOW_SLOT_LIVE_BIT;
	size_t mask = table->capacity - 1;
	struct flow_entry *entry;
	size_t s;

	for (s = hash & mask; table->slots[s].tag != FLOW_SLOT_EMPTY; s = (s + 1) & mask) {
		entry = &table->entries[table->slots[s].index];
		if (table->slots[s].tag == tag && !memcmp(&entry->key, key, sizeof(*key))) {
			*created = 0;
			return entry;
		}
	}

	if ((table->live + 1) * 2 > table->capacity) {
		if (flow_table_grow(table))
			return NULL;
		return flow_table_upsert(table, key, hash, created);
	}
	entry = &table->entries[table->live];
	entry->key = *key;
	entry->hash = hash;
	memset(&entry->metrics, 0, sizeof(entry->metrics));
	table->slots[s].tag = tag;
	table->slots[s].index = (uint32_t)table->live;
	table->live++;
	*created = 1;
	return entry;
}

/* Refills the slots from entries[0 .. live). */
static void flow_table_index(struct flow_slot *slots, size_t capacity,
			     const struct flow_entry *entries, size_t live)
{
	size_t mask = capacity - 1;
	size_t i;

	memset(slots, 0, slots_bytes(capacity));
	for (i = 0; i < live; i++) {
		size_t s = entries[i].hash & mask;

		while (slots[s].tag != FLOW_SLOT_EMPTY)
			s = (s + 1) & mask;
		slots[s].tag = entries[i].hash | FLOW_SLOT_LIVE_BIT;
		slots[s].index = (uint32_t)i;
	}
}

/*
 * Compacts the expired entries out in one sequential pass and rebuilds the slots, which are
 * small: cheaper than removing entries one by one, each a few random slot accesses.
 */
size_t flow_table_expire(struct flow_table *table, flow_table_expired_fn expired,
			 flow_table_visit_fn visit, void *ctx)
{
	size_t kept = 0;
	size_t i;

	for (i = 0; i < table->live; i++) {
		struct flow_entry *entry = &table->entries[i];

		if (expired(ctx, entry)) {
			visit(ctx, entry);
			continue;
		}
		if (kept != i)
			table->entries[kept] = *entry;
		kept++;
	}
	if (kept == table->live)
		return 0;
	i = table->live - kept;
	table->live = kept;
	flow_table_index(table->slots, table->capacity, table->entries, kept);
	return i;
}

struct idle_scan {
	uint64_t now_ns;
	uint64_t idle_ns;
	flow_table_visit_fn visit;
	void *ctx;
};

static int idle_expired(void *ctx, const struct flow_entry *entry)
{
	const struct idle_scan *scan = ctx;

	return flow_metrics_is_idle(&entry->metrics, scan->now_ns, scan->idle_ns);
}

static void idle_visit(void *ctx, const struct flow_entry *entry)
{
	const struct idle_scan *scan = ctx;

	scan->visit(scan->ctx, entry);
}

size_t flow_table_expire_idle(struct flow_table *table, uint64_t now_ns, uint64_t idle_ns,
			      flow_table_visit_fn visit, void *ctx)
{
	struct idle_scan scan = { now_ns, idle_ns, visit, ctx };

	return flow_table_expire(table, idle_expired, idle_visit, &scan);
}

size_t flow_table_drain(struct flow_table *table, flow_table_visit_fn visit, void *ctx)
{
	size_t drained = table->live;
	size_t i;

	for (i = 0; i < table->live; i++)
		visit(ctx, &table->entries[i]);
	memset(table->slots, 0, slots_bytes(table->capacity));
	table->live = 0;
	return drained;
}
