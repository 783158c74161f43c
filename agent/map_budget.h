/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel memory the flow maps take, computed before asking the kernel for them: a
 * per-CPU hash map holds every value once per possible CPU, so its size grows with the node,
 * not with the traffic. Live capture keeps two maps (one filling, one being drained); the
 * kernel replay engine one.
 */
#ifndef FLOWAGENT_MAP_BUDGET_H
#define FLOWAGENT_MAP_BUDGET_H

#include <stddef.h>
#include <stdint.h>

/* What the flow maps may take by default, all of them together. */
#define MAP_BUDGET_DEFAULT_BYTES (256ull << 20)
/* The default --max-flows where the budget allows it. */
#define MAP_BUDGET_MAX_DEFAULT_FLOWS (1u << 18)

/* Bytes of kernel memory one flow map of `entries` takes with `possible_cpus` CPUs. */
uint64_t map_budget_bytes(uint32_t entries, int possible_cpus);
/* The default --max-flows: MAP_BUDGET_MAX_DEFAULT_FLOWS, or what `maps` maps fit in the budget. */
uint32_t map_budget_default_flows(int possible_cpus, int maps);
/*
 * 0 when `maps` maps of `entries` fit in half of `available` bytes; else -ENOMEM with a
 * message that gives the size and how it is made up.
 */
int map_budget_check(uint32_t entries, int possible_cpus, int maps, uint64_t available, char *err,
		     size_t err_len);
/* MemAvailable from /proc/meminfo, in bytes; 0 if unknown. */
uint64_t map_budget_available(void);

#endif
