// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Batched reads of the kernel's per-CPU flow and counter maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flow_maps.h"
#include "log.h"

#define MAP_BATCH 4096

int flow_map_reader_init(struct flow_map_reader *reader)
{
	reader->num_cpus = libbpf_num_possible_cpus();
	if (reader->num_cpus <= 0)
		return reader->num_cpus ? reader->num_cpus : -EINVAL;
	reader->keys = calloc(MAP_BATCH, sizeof(*reader->keys));
	reader->values =
		calloc((size_t)MAP_BATCH * (size_t)reader->num_cpus, sizeof(*reader->values));
	if (!reader->keys || !reader->values) {
		flow_map_reader_free(reader);
		return -ENOMEM;
	}
	return 0;
}

void flow_map_reader_free(struct flow_map_reader *reader)
{
	free(reader->keys);
	free(reader->values);
	reader->keys = NULL;
	reader->values = NULL;
}

int flow_map_read_all(struct flow_map_reader *reader, int map_fd, int take, flow_map_visit_fn visit,
		      void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in_batch = 0, out_batch = 0;
	void *in = NULL;
	int err;

	for (;;) {
		__u32 n = MAP_BATCH, i;
		int cpu, stop;

		if (take)
			err = bpf_map_lookup_and_delete_batch(map_fd, in, &out_batch, reader->keys,
							      reader->values, &n, &opts);
		else
			err = bpf_map_lookup_batch(map_fd, in, &out_batch, reader->keys,
						   reader->values, &n, &opts);
		if (err && err != -ENOENT) {
			pr_warn("reading the flow map failed: %s\n", strerror(-err));
			return err;
		}
		for (i = 0; i < n; i++) {
			struct flow_metrics merged = { 0 };

			for (cpu = 0; cpu < reader->num_cpus; cpu++)
				flow_metrics_merge(
					&merged,
					&reader->values[(size_t)i * reader->num_cpus + cpu]);
			if (!merged.packets)
				continue;
			stop = visit(ctx, &reader->keys[i], &merged);
			if (stop < 0)
				return stop;
		}
		if (err == -ENOENT)
			return 0;
		in_batch = out_batch;
		in = &in_batch;
	}
}

int flow_map_read_counters(int counters_fd, int num_cpus, uint64_t counters[FLOW_CNT_MAX])
{
	__u64 per_cpu[num_cpus];
	__u32 counter;
	int cpu;

	for (counter = 0; counter < FLOW_CNT_MAX; counter++) {
		counters[counter] = 0;
		if (bpf_map_lookup_elem(counters_fd, &counter, per_cpu))
			return -errno;
		for (cpu = 0; cpu < num_cpus; cpu++)
			counters[counter] += per_cpu[cpu];
	}
	return 0;
}

uint64_t flow_map_read_counter(int counters_fd, int num_cpus, uint32_t counter)
{
	__u64 per_cpu[num_cpus];
	uint64_t sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(counters_fd, &counter, per_cpu))
		return 0;
	for (cpu = 0; cpu < num_cpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}
