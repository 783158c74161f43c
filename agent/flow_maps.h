/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading the kernel's flow maps from userspace, shared by the kernel replay engine and live
 * capture: batched walks that merge each entry's per-CPU values, and per-CPU counter sums.
 */
#ifndef FLOWAGENT_FLOW_MAPS_H
#define FLOWAGENT_FLOW_MAPS_H

#include <stdint.h>

#include "flow.h"

struct flow_map_reader {
	int num_cpus;
	struct flow_key *keys;	     /* one batch */
	struct flow_metrics *values; /* one batch, num_cpus values per key */
};

/* Called for each entry with packets; a negative return stops the walk with that error. */
typedef int (*flow_map_visit_fn)(void *ctx, const struct flow_key *key,
				 const struct flow_metrics *merged);

int flow_map_reader_init(struct flow_map_reader *reader);
void flow_map_reader_free(struct flow_map_reader *reader);

/*
 * Visits every entry of the per-CPU flow map map_fd, its values merged. With take, each batch
 * is deleted as it is read (lookup-and-delete): only for a map no program writes to.
 */
int flow_map_read_all(struct flow_map_reader *reader, int map_fd, int take, flow_map_visit_fn visit,
		      void *ctx);

/* counters[i] = counter i summed over CPUs, for every enum flow_counter. */
int flow_map_read_counters(int counters_fd, int num_cpus, uint64_t counters[FLOW_CNT_MAX]);

/* One counter summed over CPUs; 0 if it cannot be read. */
uint64_t flow_map_read_counter(int counters_fd, int num_cpus, uint32_t counter);

#endif
