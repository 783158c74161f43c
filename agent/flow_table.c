// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow table for the userspace engine. Removal leaves tombstones, because expiry scans remove
 * many entries at once; the table is rebuilt when live entries plus tombstones pass 3/4.
 */
#include <errno.h>
#include <stdlib.h>

#include "flow_table.h"

static struct flow_entry *entries_alloc(size_t capacity)
{
	struct flow_entry *entries;

	if (posix_memalign((void **)&entries, 64, capacity * sizeof(*entries)))
		return NULL;
	memset(entries, 0, capacity * sizeof(*entries));
	return entries;
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
	table->tombstones = 0;
	return 0;
}

void flow_table_free(struct flow_table *table)
{
	free(table->entries);
	table->entries = NULL;
	table->capacity = 0;
	table->live = 0;
	table->tombstones = 0;
}

/* Rebuilds into a table sized for the live entries: drops tombstones, grows when needed. */
static int flow_table_rebuild(struct flow_table *table)
{
	size_t capacity = table->capacity;
	struct flow_entry *entries;
	size_t i, mask;

	while (table->live * 2 >= capacity)
		capacity <<= 1;
	entries = entries_alloc(capacity);
	if (!entries)
		return -ENOMEM;
	mask = capacity - 1;
	for (i = 0; i < table->capacity; i++) {
		const struct flow_entry *old = &table->entries[i];
		size_t slot;

		if (!(old->slot_hash & FLOW_SLOT_LIVE_BIT))
			continue;
		slot = old->slot_hash & mask;
		while (entries[slot].slot_hash != FLOW_SLOT_EMPTY)
			slot = (slot + 1) & mask;
		entries[slot] = *old;
	}
	free(table->entries);
	table->entries = entries;
	table->capacity = capacity;
	table->tombstones = 0;
	return 0;
}

struct flow_entry *flow_table_upsert(struct flow_table *table, const struct flow_key *key,
				     uint32_t hash, int *created)
{
	uint32_t slot_hash = hash | FLOW_SLOT_LIVE_BIT;
	struct flow_entry *reuse = NULL;
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
		if (entry->slot_hash == FLOW_SLOT_TOMBSTONE && !reuse)
			reuse = entry;
		slot = (slot + 1) & mask;
	}

	if (reuse) {
		entry = reuse;
		table->tombstones--;
	} else if ((table->live + table->tombstones + 1) * 4 > table->capacity * 3) {
		if (flow_table_rebuild(table))
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

static void flow_table_remove(struct flow_table *table, struct flow_entry *entry)
{
	size_t next = (size_t)(entry - table->entries + 1) & (table->capacity - 1);

	/* Before an empty slot no probe continues, so the slot can become empty too. */
	if (table->entries[next].slot_hash == FLOW_SLOT_EMPTY) {
		entry->slot_hash = FLOW_SLOT_EMPTY;
	} else {
		entry->slot_hash = FLOW_SLOT_TOMBSTONE;
		table->tombstones++;
	}
	table->live--;
}

size_t flow_table_expire_idle(struct flow_table *table, uint64_t now_ns, uint64_t idle_ns,
			      flow_table_visit_fn visit, void *ctx)
{
	size_t expired = 0;
	size_t i;

	/* Backwards, so a removal that empties a slot lets the one before it empty too. */
	for (i = table->capacity; i-- > 0;) {
		struct flow_entry *entry = &table->entries[i];

		if (!(entry->slot_hash & FLOW_SLOT_LIVE_BIT) ||
		    !flow_metrics_is_idle(&entry->metrics, now_ns, idle_ns))
			continue;
		visit(ctx, entry);
		flow_table_remove(table, entry);
		expired++;
	}
	return expired;
}

size_t flow_table_drain(struct flow_table *table, flow_table_visit_fn visit, void *ctx)
{
	size_t drained = 0;
	size_t i;

	for (i = 0; i < table->capacity; i++) {
		struct flow_entry *entry = &table->entries[i];

		if (entry->slot_hash & FLOW_SLOT_LIVE_BIT) {
			visit(ctx, entry);
			drained++;
		}
	}
	memset(table->entries, 0, table->capacity * sizeof(*table->entries));
	table->live = 0;
	table->tombstones = 0;
	return drained;
}
