// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the spool's power-loss safety costs, in batches/s, side by side:
 *   previous  the spool before it was made durable: one file per batch, written under a
 *             temporary name and renamed, no fsync (emulated here, byte for byte);
 *   no fsync  today's spool_put with every fsync skipped;
 *   commit N  today's spool, committed (fdatasync per file, one directory fsync) every N
 *             batches; the agent commits once per poll iteration.
 * Each mode runs ROUNDS times, interleaved; the median is printed.
 * Usage: spool_bench DIR [BATCH_BYTES [BATCHES]]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "clock.h"
#include "spool.h"
#include "wire.h"

#define ROUNDS 5

static void clear(const char *dir)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command)) {
		fprintf(stderr, "spool_bench: cannot remove %s\n", dir);
		exit(1);
	}
}

/* The previous spool's write path: header and payload, close, rename; nothing synced. */
static double run_previous(const char *dir, const uint8_t *payload, size_t len, int batches)
{
	char path[600], tmp[600];
	uint8_t header[16];
	uint64_t start;
	int i;

	clear(dir);
	if (mkdir(dir, 0700)) {
		perror("spool_bench: mkdir");
		exit(1);
	}
	start = monotonic_ns();
	for (i = 0; i < batches; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%020d.batch", dir, i + 1);
		snprintf(tmp, sizeof(tmp), "%s/tmp.%020d.batch", dir, i + 1);
		memcpy(header, "FLSP", 4);
		put_le32(header + 4, 100);
		put_le32(header + 8, wire_crc32c(payload, len));
		put_le32(header + 12, (uint32_t)len);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, header, sizeof(header)) != sizeof(header) ||
		    write(fd, payload, len) != (ssize_t)len || close(fd) || rename(tmp, path)) {
			perror("spool_bench: previous spool");
			exit(1);
		}
	}
	return batches / ((double)(monotonic_ns() - start) / 1e9);
}

static double run_spool(const char *dir, const uint8_t *payload, size_t len, int batches,
			int durable, int group)
{
	struct spool *spool;
	char err[256] = "";
	uint64_t start;
	int i;

	clear(dir);
	if (spool_open(dir, 1ull << 40, &spool, err, sizeof(err))) {
		fprintf(stderr, "spool_bench: %s\n", err);
		exit(1);
	}
	spool_set_durable(spool, durable);
	start = monotonic_ns();
	for (i = 0; i < batches; i++) {
		if (spool_put(spool, 100, payload, len)) {
			fprintf(stderr, "spool_bench: spool_put failed\n");
			exit(1);
		}
		if ((i + 1) % group == 0 && spool_commit(spool)) {
			fprintf(stderr, "spool_bench: spool_commit failed\n");
			exit(1);
		}
	}
	if (spool_commit(spool)) {
		fprintf(stderr, "spool_bench: spool_commit failed\n");
		exit(1);
	}
	spool_close(spool);
	return batches / ((double)(monotonic_ns() - start) / 1e9);
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *values)
{
	qsort(values, ROUNDS, sizeof(*values), compare);
	return values[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	size_t len = argc > 2 ? strtoul(argv[2], NULL, 10) : 64 << 10;
	int batches = argc > 3 ? atoi(argv[3]) : 500;
	double previous[ROUNDS], none[ROUNDS], each[ROUNDS], group16[ROUNDS], group64[ROUNDS];
	uint8_t *payload;
	int round;

	if (argc < 2 || !len || batches <= 0) {
		fprintf(stderr, "usage: spool_bench DIR [BATCH_BYTES [BATCHES]]\n");
		return 2;
	}
	payload = malloc(len);
	if (!payload)
		return 1;
	memset(payload, 0xab, len);
	for (round = 0; round < ROUNDS; round++) {
		previous[round] = run_previous(argv[1], payload, len, batches);
		none[round] = run_spool(argv[1], payload, len, batches, 0, SPOOL_FILE_MAX_BATCHES);
		each[round] = run_spool(argv[1], payload, len, batches, 1, 1);
		group16[round] = run_spool(argv[1], payload, len, batches, 1, 16);
		group64[round] = run_spool(argv[1], payload, len, batches, 1, 64);
	}
	clear(argv[1]);
	printf("%zu-byte batches, %d each, median of %d: previous spool (no fsync) %.0f/s; "
	       "no fsync %.0f/s; commit every batch %.0f/s; every 16 %.0f/s; every 64 %.0f/s\n",
	       len, batches, ROUNDS, median(previous), median(none), median(each), median(group16),
	       median(group64));
	printf("  durable, committed every 64 / previous: %.2f, limit -10%%: %s\n",
	       median(group64) / median(previous),
	       median(group64) >= 0.9 * median(previous) ? "PASS" : "MISS");
	free(payload);
	return 0;
}
