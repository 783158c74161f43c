// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow table for the userspace engine: linear probing kept below 3/4 full, with backward-shift
 * removal. Tombstones would force periodic rebuilds, and each rebuild of a large table faults
 * in and zeroes fresh memory: expiry scans remove many entries, so that cost recurs.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "flow_table.h"

#define HUGE_PAGE (2u << 20)

/*
 * Every packet touches a random entry: with 4 KiB pages a large table misses the TLB on
 * almost every packet, so it asks for transparent huge pages.
 */
static struct flow_entry *entries_alloc(size_t capacity)
{
	size_t bytes = capacity * sizeof(struct flow_entry);
	void *entries;

	if (bytes >= HUGE_PAGE) {
		entries = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (entries == MAP_FAILED)
			return NULL;
		madvise(entries, bytes, MADV_HUGEPAGE);
		return entries; /* zero-filled */
	}
	if (posix_memalign(&entries, 64, bytes))
		return NULL;
	memset(entries, 0, bytes);
	return entries;
}

static void entries_free(struct flow_entry *entries, size_t capacity)
{
	size_t bytes = capacity * sizeof(struct flow_entry);

	if (!entries)
		return;
	if (bytes >= HUGE_PAGE)
		munmap(entries, bytes);
	else
		free(entries);
}

int flow_table_init(struct flow_table *table, size_t min_capacity)
{
	size_t capacity = 1024;

	while (capacity < min_capacity)
		capacity <<= 1;
	table->entries = entries_alloc(capacity);
	if (!table->entries)
		return -ENOMEM;
	table->capacity = capacity;
	table->live = 0;
	return 0;
}

void flow_table_free(struct flow_table *table)
{
	entries_free(table->entries, table->capacity);
	table->entries = NULL;
	table->capacity = 0;
	table->live = 0;
}

/* Moves every entry into a table twice the size. */
static int flow_table_grow(struct flow_table *table)
{
	size_t capacity = table->capacity * 2;
	size_t mask = capacity - 1;
	struct flow_entry *entries;
	size_t i;

	entries = entries_alloc(capacity);
	if (!entries)
		return -ENOMEM;
	for (i = 0; i < table->capacity; i++) {
		const struct flow_entry *old = &table->entries[i];
		size_t slot;

		if (old->slot_hash == FLOW_SLOT_EMPTY)
			continue;
		slot = old->slot_hash & mask;
		while (entries[slot].slot_hash != FLOW_SLOT_EMPTY)
			slot = (slot + 1) & mask;
		entries[slot] = *old;
	}
	entries_free(table->entries, table->capacity);
	table->entries = entries;
	table->capacity = capacity;
	return 0;
}

struct flow_entry *flow_table_upsert(struct flow_table *table, const struct flow_key *key,
				     uint32_t hash, int *created)
{
	uint32_t slot_hash = hash | FLOW_SLOT_LIVE_BIT;
	size_t mask = table->capacity - 1;
	size_t slot = hash & mask;
	struct flow_entry *entry;

	for (;;) {
		entry = &table->entries[slot];
		if (entry->slot_hash == slot_hash && !memcmp(&entry->key, key, sizeof(*key))) {
			*created = 0;
			return entry;
		}
		if (entry->slot_hash == FLOW_SLOT_EMPTY)
			break;
		slot = (slot + 1) & mask;
	}

	if ((table->live + 1) * 2 > table->capacity) {
		if (flow_table_grow(table))
			return NULL;
		return flow_table_upsert(table, key, hash, created);
	}
	entry->slot_hash = slot_hash;
	entry->key = *key;
	memset(&entry->metrics, 0, sizeof(entry->metrics));
	table->live++;
	*created = 1;
	return entry;
}

/* Empties slot hole, moving back each later entry of the run that may live there. */
static void flow_table_remove(struct flow_table *table, size_t hole)
{
	size_t mask = table->capacity - 1;
	size_t next = hole;

	for (;;) {
		struct flow_entry *entry;
		size_t home;

		next = (next + 1) & mask;
		entry = &table->entries[next];
		if (entry->slot_hash == FLOW_SLOT_EMPTY)
			break;
		home = entry->slot_hash & mask;
		/* it may move back unless its home lies in (hole, next], cyclically */
		if (hole <= next ? (home > hole && home <= next) : (home > hole || home <= next))
			continue;
		table->entries[hole] = *entry;
		hole = next;
	}
	table->entries[hole].slot_hash = FLOW_SLOT_EMPTY;
	table->live--;
}

size_t flow_table_expire_idle(struct flow_table *table, uint64_t now_ns, uint64_t idle_ns,
			      flow_table_visit_fn visit, void *ctx)
{
	size_t expired = 0;
	size_t i = 0;

	/*
	 * A removal moves a later entry into slot i, so i is examined again. Near the end a
	 * removal can pull in an entry from the start that was already kept: examining it twice
	 * is harmless, it is still not idle.
	 */
	while (i < table->capacity) {
		struct flow_entry *entry = &table->entries[i];

		if (entry->slot_hash != FLOW_SLOT_EMPTY &&
		    flow_metrics_is_idle(&entry->metrics, now_ns, idle_ns)) {
			visit(ctx, entry);
			flow_table_remove(table, i);
			expired++;
			continue;
		}
		i++;
	}
	return expired;
}

size_t flow_table_drain(struct flow_table *table, flow_table_visit_fn visit, void *ctx)
{
	size_t drained = 0;
	size_t i;

	for (i = 0; i < table->capacity; i++) {
		struct flow_entry *entry = &table->entries[i];

		if (entry->slot_hash != FLOW_SLOT_EMPTY) {
			visit(ctx, entry);
			drained++;
		}
	}
	memset(table->entries, 0, table->capacity * sizeof(*table->entries));
	table->live = 0;
	return drained;
}
