// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the spool's power-loss safety costs: batches/s through spool_put with no fsync, with
 * fdatasync per file and a directory fsync per batch, and with the group commit the agent
 * uses (one directory fsync per group). Usage: spool_bench DIR [BATCH_BYTES [BATCHES [GROUP]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "spool.h"

static double run(const char *dir, size_t len, int batches, int durable, int group)
{
	char err[256] = "", command[512];
	struct spool *spool;
	uint8_t *payload = malloc(len);
	uint64_t start;
	int i;

	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (!payload || system(command) || spool_open(dir, 1ull << 40, &spool, err, sizeof(err))) {
		fprintf(stderr, "spool_bench: %s\n", err);
		exit(1);
	}
	memset(payload, 0xab, len);
	spool_set_durable(spool, durable);
	start = monotonic_ns();
	for (i = 0; i < batches; i++) {
		if (spool_put(spool, 100, payload, len)) {
			fprintf(stderr, "spool_bench: spool_put failed\n");
			exit(1);
		}
		if ((i + 1) % group == 0)
			spool_commit(spool);
	}
	spool_commit(spool);
	spool_close(spool);
	free(payload);
	return batches / ((double)(monotonic_ns() - start) / 1e9);
}

int main(int argc, char **argv)
{
	size_t len = argc > 2 ? strtoul(argv[2], NULL, 10) : 64 << 10;
	int batches = argc > 3 ? atoi(argv[3]) : 500, group = argc > 4 ? atoi(argv[4]) : 16;
	double none, each, grouped;

	if (argc < 2) {
		fprintf(stderr, "usage: spool_bench DIR [BATCH_BYTES [BATCHES [GROUP]]]\n");
		return 2;
	}
	none = run(argv[1], len, batches, 0, 1);
	each = run(argv[1], len, batches, 1, 1);
	grouped = run(argv[1], len, batches, 1, group);
	printf("spool_put, %zu-byte batches, %d each: no fsync %.0f batches/s; fdatasync + "
	       "directory fsync per batch %.0f batches/s; group commit of %d %.0f batches/s\n",
	       len, batches, none, each, group, grouped);
	return 0;
}
