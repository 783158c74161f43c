// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Sizing the flow maps before the kernel allocates them; see map_budget.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "flow.h"
#include "map_budget.h"

/*
 * A preallocated per-CPU hash element: the kernel's htab_elem header (hash list node, hash,
 * per-CPU pointer; 48 bytes on 64-bit), the key rounded to 8, then the value, 8-aligned, once
 * per possible CPU. The kernel also preallocates one spare element per CPU.
 */
#define HTAB_ELEM_HEADER 48
#define ROUND8(n)	 (((n) + 7u) & ~7u)

static uint64_t per_entry_bytes(int possible_cpus)
{
	return HTAB_ELEM_HEADER + ROUND8(sizeof(struct flow_key)) + sizeof(void *) +
	       (uint64_t)possible_cpus * ROUND8(sizeof(struct flow_metrics));
}

uint64_t map_budget_bytes(uint32_t entries, int possible_cpus)
{
	uint64_t elements = (uint64_t)entries + (uint64_t)possible_cpus;

	/* and the bucket array: one 16-byte bucket per entry, rounded to a power of two */
	uint64_t buckets = 1;

	while (buckets < entries)
		buckets <<= 1;
	return elements * per_entry_bytes(possible_cpus) + buckets * 16;
}

uint32_t map_budget_default_flows(int possible_cpus, int maps)
{
	uint64_t per_map = MAP_BUDGET_DEFAULT_BYTES / (uint64_t)(maps > 0 ? maps : 1);
	uint64_t spares = (uint64_t)possible_cpus * per_entry_bytes(possible_cpus);
	/* an entry, and at most two 16-byte buckets for it (their count is a power of two) */
	uint64_t flows =
		per_map > spares ? (per_map - spares) / (per_entry_bytes(possible_cpus) + 32) : 0;

	if (flows > MAP_BUDGET_MAX_DEFAULT_FLOWS)
		flows = MAP_BUDGET_MAX_DEFAULT_FLOWS;
	/* a round number, for the messages */
	if (flows > 1024)
		flows -= flows % 1024;
	return flows ? (uint32_t)flows : 1;
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1 << 20);
}

int map_budget_check(uint32_t entries, int possible_cpus, int maps, uint64_t available, char *err,
		     size_t err_len)
{
	uint64_t need = map_budget_bytes(entries, possible_cpus) * (uint64_t)maps;

	if (!available || need <= available / 2)
		return 0;
	snprintf(err, err_len,
		 "--max-flows %u: %s %.0f MiB of kernel memory (%u flows x (%" PRIu64
		 " bytes + %d possible CPUs x %zu bytes)%s), more than half of the %.0f MiB this "
		 "machine has available; use a smaller --max-flows (the default here is %u)",
		 entries, maps > 1 ? "the two flow maps need" : "the flow map needs", mib(need),
		 entries,
		 per_entry_bytes(possible_cpus) -
			 (uint64_t)possible_cpus * ROUND8(sizeof(struct flow_metrics)),
		 possible_cpus, (size_t)ROUND8(sizeof(struct flow_metrics)),
		 maps > 1 ? " x 2 maps" : "", mib(available),
		 map_budget_default_flows(possible_cpus, maps));
	return -ENOMEM;
}

uint64_t map_budget_available(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *meminfo = fopen("/proc/meminfo", "r");

	if (!meminfo)
		return 0;
	while (fgets(line, sizeof(line), meminfo))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(meminfo);
	return (uint64_t)kib * 1024;
}
