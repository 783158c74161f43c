// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the on-disk spool: order, bounds, restart, corruption, locking, sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_spool.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char command[128];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	return system(command);
}

static struct spool *open_spool(uint64_t max_bytes)
{
	struct spool *spool = NULL;
	char err[256] = "";

	assert_int_equal(spool_open(dir, max_bytes, &spool, err, sizeof(err)), 0);
	return spool;
}

static void take_expect(struct spool *spool, uint64_t want_sequence, const char *want_payload)
{
	uint64_t sequence;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256];

	assert_int_equal(spool_take(spool, &sequence, &records, &payload, &len, err, sizeof(err)),
			 1);
	assert_int_equal(sequence, want_sequence);
	assert_int_equal(len, strlen(want_payload));
	assert_memory_equal(payload, want_payload, len);
	assert_int_equal(records, (uint32_t)len);
	free(payload);
}

static void put(struct spool *spool, uint64_t sequence, const char *payload)
{
	assert_int_equal(
		spool_put(spool, sequence, (uint32_t)strlen(payload), payload, strlen(payload)), 0);
}

/* Batches come out lowest sequence first, whatever order they went in. */
static void test_order_and_delivery(void **state)
{
	struct spool *spool = open_spool(1 << 20);
	uint64_t sequence;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256];

	(void)state;
	put(spool, 12, "twelve");
	put(spool, 10, "ten");
	put(spool, 11, "eleven");
	assert_int_equal(spool_batches(spool), 3);
	assert_int_equal(spool_records(spool), 6 + 3 + 6);
	assert_int_equal(spool_bytes(spool), 3 * 16 + 6 + 3 + 6);
	take_expect(spool, 10, "ten");
	take_expect(spool, 11, "eleven");
	assert_int_equal(spool_waiting(spool), 1);
	spool_retry(spool, 10); /* failed: it waits again, first in line */
	take_expect(spool, 10, "ten");
	spool_delivered(spool, 10);
	spool_delivered(spool, 11);
	take_expect(spool, 12, "twelve");
	assert_int_equal(spool_take(spool, &sequence, &records, &payload, &len, err, sizeof(err)),
			 0);
	spool_delivered(spool, 12);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_bytes(spool), 0);
	assert_int_equal(spool_next_sequence(spool), 13);
	spool_close(spool);
}

static void test_full(void **state)
{
	struct spool *spool = open_spool(16 + 10 + 16 + 10);

	(void)state;
	put(spool, 1, "0123456789");
	put(spool, 2, "0123456789");
	assert_int_equal(spool_put(spool, 3, 1, "x", 1), -ENOSPC);
	assert_int_equal(spool_put(spool, 2, 1, "x", 1), -ENOSPC);
	spool_close(spool);
}

/* What one process spooled, the next one finds, in order, with numbering ahead of it. */
static void test_restart(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	put(spool, 7, "seven");
	put(spool, 5, "five");
	assert_int_equal(spool_set_next_sequence(spool, 9), 0);
	spool_close(spool);
	/* an interrupted write leaves a temporary file: it is removed */
	{
		char path[128];
		FILE *tmp;

		snprintf(path, sizeof(path), "%s/tmp.00000000000000000008.batch", dir);
		tmp = fopen(path, "w");
		assert_non_null(tmp);
		fputs("half", tmp);
		fclose(tmp);
	}
	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 2);
	assert_int_equal(spool_next_sequence(spool), 9);
	take_expect(spool, 5, "five");
	take_expect(spool, 7, "seven");
	spool_delivered(spool, 5);
	spool_delivered(spool, 7);
	spool_close(spool);
}

static void test_corrupt_file_set_aside(void **state)
{
	struct spool *spool = open_spool(1 << 20);
	uint64_t sequence;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256], path[128];
	FILE *file;

	(void)state;
	put(spool, 20, "abcdef");
	put(spool, 21, "ghijkl");
	spool_close(spool);
	snprintf(path, sizeof(path), "%s/00000000000000000020.batch", dir);
	file = fopen(path, "r+");
	assert_non_null(file);
	fseek(file, 18, SEEK_SET);
	fputc('X', file);
	fclose(file);

	spool = open_spool(1 << 20);
	assert_int_equal(spool_take(spool, &sequence, &records, &payload, &len, err, sizeof(err)),
			 -EBADMSG);
	assert_int_equal(sequence, 20);
	assert_int_equal(records, 6);
	assert_non_null(strstr(err, "checksum mismatch"));
	assert_int_equal(access(strcat(path, ".corrupt"), F_OK), 0);
	take_expect(spool, 21, "ghijkl");
	spool_delivered(spool, 21);
	assert_int_equal(spool_batches(spool), 0);
	spool_close(spool);
	unlink(path);
}

static void test_locked(void **state)
{
	struct spool *first = open_spool(1 << 20), *second = NULL;
	char err[256] = "";

	(void)state;
	assert_int_not_equal(spool_open(dir, 1 << 20, &second, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "in use by another flowagent"));
	spool_close(first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_delivery, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_full, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_restart, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_corrupt_file_set_aside, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_locked, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
