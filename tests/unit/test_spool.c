// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the on-disk spool: order, bounds, group commit, restart, every torn shape a
 * crash can leave, a file deleted behind its back, locking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void take_expect(struct spool *spool, uint64_t want_id, const char *want_payload)
{
	uint64_t id;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256];

	assert_int_equal(spool_take(spool, &id, &records, &payload, &len, err, sizeof(err)), 1);
	assert_int_equal(id, want_id);
	assert_int_equal(len, strlen(want_payload));
	assert_memory_equal(payload, want_payload, len);
	assert_int_equal(records, (uint32_t)len);
	free(payload);
}

/* A torn file: take reports it (-EBADMSG) with the records the index knew of. */
static void take_torn(struct spool *spool, uint64_t want_id, uint32_t want_records,
		      const char *want_message)
{
	uint64_t id;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256] = "";

	assert_int_equal(spool_take(spool, &id, &records, &payload, &len, err, sizeof(err)),
			 -EBADMSG);
	assert_int_equal(id, want_id);
	assert_int_equal(records, want_records);
	if (!strstr(err, want_message))
		fail_msg("'%s' not in '%s'", want_message, err);
}

static void take_none(struct spool *spool)
{
	uint64_t id;
	uint32_t records;
	void *payload;
	size_t len;
	char err[256];

	assert_int_equal(spool_take(spool, &id, &records, &payload, &len, err, sizeof(err)), 0);
}

/* The payload's length is its record count, so the counts can be checked. */
static void put(struct spool *spool, const char *payload)
{
	assert_int_equal(spool_put(spool, (uint32_t)strlen(payload), payload, strlen(payload)), 0);
}

static void path_of(char *path, size_t size, uint64_t id, const char *suffix)
{
	snprintf(path, size, "%s/%020llu.batch%s", dir, (unsigned long long)id, suffix);
}

static int exists(uint64_t id, const char *suffix)
{
	char path[128];

	path_of(path, sizeof(path), id, suffix);
	return access(path, F_OK) == 0;
}

/* Batches come out in the order they went in, each named by its spool ordinal. */
static void test_order_and_delivery(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	put(spool, "twelve");
	put(spool, "ten");
	put(spool, "eleven");
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(spool_batches(spool), 3);
	assert_int_equal(spool_records(spool), 6 + 3 + 6);
	assert_int_equal(spool_bytes(spool), 3 * 16 + 6 + 3 + 6);
	assert_true(exists(1, "") && exists(2, "") && exists(3, ""));
	take_expect(spool, 1, "twelve");
	take_expect(spool, 2, "ten");
	assert_int_equal(spool_waiting(spool), 1);
	spool_retry(spool, 1); /* failed: it waits again, first in line */
	take_expect(spool, 1, "twelve");
	spool_delivered(spool, 1);
	spool_delivered(spool, 2);
	take_expect(spool, 3, "eleven");
	take_none(spool);
	spool_delivered(spool, 3);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_bytes(spool), 0);
	assert_false(exists(1, "") || exists(2, "") || exists(3, ""));
	assert_int_equal(spool_corrupt_batches(spool), 0);
	spool_close(spool);
}

static void test_full(void **state)
{
	struct spool *spool = open_spool(16 + 10 + 16 + 10);

	(void)state;
	put(spool, "0123456789");
	put(spool, "0123456789");
	assert_int_equal(spool_put(spool, 1, "x", 1), -ENOSPC);
	assert_int_equal(spool_batches(spool), 2);
	spool_close(spool);
}

/* Group commit: one fdatasync per file, one directory fsync per group, none when idle. */
static void test_group_commit_syncs(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	assert_int_equal(spool_syncs(spool), 0);
	put(spool, "a");
	put(spool, "bb");
	put(spool, "ccc");
	assert_int_equal(spool_syncs(spool), 3);
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(spool_syncs(spool), 4);
	assert_int_equal(spool_commit(spool), 0); /* nothing new */
	assert_int_equal(spool_syncs(spool), 4);
	put(spool, "d");
	spool_close(spool); /* commits the last group */
	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 4);
	spool_close(spool);
}

/* What one process spooled, the next one finds, in order, with ordinals ahead of it. */
static void test_restart(void **state)
{
	struct spool *spool = open_spool(1 << 20);
	char path[128];
	FILE *tmp;

	(void)state;
	put(spool, "seven");
	put(spool, "five");
	spool_close(spool);
	/* an interrupted write leaves a temporary file: it is removed, and counted nowhere */
	snprintf(path, sizeof(path), "%s/tmp.00000000000000000003.batch", dir);
	tmp = fopen(path, "w");
	assert_non_null(tmp);
	fputs("half", tmp);
	fclose(tmp);

	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 2);
	assert_int_equal(spool_records(spool), 9);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(spool_corrupt_batches(spool), 0);
	put(spool, "three");
	assert_true(exists(3, ""));
	take_expect(spool, 1, "seven");
	take_expect(spool, 2, "five");
	take_expect(spool, 3, "three");
	spool_delivered(spool, 1);
	spool_delivered(spool, 2);
	spool_delivered(spool, 3);
	spool_close(spool);
}

/* Rewrites file `id` as a crash could leave it. */
static void tear(uint64_t id, const char *shape)
{
	char path[128];
	struct stat st;
	int fd;

	path_of(path, sizeof(path), id, "");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	if (!strcmp(shape, "empty")) {
		assert_int_equal(ftruncate(fd, 0), 0);
	} else if (!strcmp(shape, "inside-header")) {
		assert_int_equal(ftruncate(fd, 10), 0);
	} else if (!strcmp(shape, "payload-short")) {
		assert_int_equal(ftruncate(fd, st.st_size - 3), 0);
	} else if (!strcmp(shape, "zero-filled")) {
		char zeros[256] = { 0 };

		assert_true(st.st_size <= (off_t)sizeof(zeros));
		assert_int_equal(pwrite(fd, zeros, (size_t)st.st_size, 0), st.st_size);
	} else if (!strcmp(shape, "payload-zeros")) {
		char zeros[256] = { 0 };

		assert_int_equal(pwrite(fd, zeros, (size_t)st.st_size - 16, 16), st.st_size - 16);
	} else if (!strcmp(shape, "bit-flip")) {
		char byte;

		assert_int_equal(pread(fd, &byte, 1, 18), 1);
		byte ^= 0x20;
		assert_int_equal(pwrite(fd, &byte, 1, 18), 1);
	} else {
		fail_msg("unknown shape %s", shape);
	}
	close(fd);
}

/*
 * Every torn shape at once, between good files: those whose header or length is wrong are set
 * aside at open, those whose payload is wrong when taken; records are counted when the header
 * was readable, and every good file is delivered, in order.
 */
static void test_torn_files(void **state)
{
	static const char *const payloads[] = { "good-1",    "empty",	"head",
						"short-pay", "zeros",	"payzeros",
						"good-2",    "bitflip", "good-3" };
	struct spool *spool = open_spool(1 << 20);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		put(spool, payloads[i]);
	spool_close(spool);
	tear(2, "empty");
	tear(3, "inside-header");
	tear(4, "payload-short");
	tear(5, "zero-filled");
	tear(6, "payload-zeros");
	tear(8, "bit-flip");

	spool = open_spool(1 << 20);
	/* at open: empty, inside the header and zero-filled (records unknown), short payload */
	assert_int_equal(spool_corrupt_batches(spool), 4);
	assert_int_equal(spool_corrupt_records(spool), strlen("short-pay"));
	assert_true(exists(2, ".corrupt") && exists(3, ".corrupt") && exists(4, ".corrupt") &&
		    exists(5, ".corrupt"));
	assert_false(exists(2, "") || exists(3, "") || exists(4, "") || exists(5, ""));
	assert_int_equal(spool_batches(spool), 5);
	put(spool, "after"); /* ordinals stay ahead of the corrupt files */
	assert_true(exists(10, ""));

	take_expect(spool, 1, "good-1");
	take_torn(spool, 6, strlen("payzeros"), "payload checksum mismatch");
	take_expect(spool, 7, "good-2");
	take_torn(spool, 8, strlen("bitflip"), "payload checksum mismatch");
	take_expect(spool, 9, "good-3");
	take_expect(spool, 10, "after");
	take_none(spool);
	assert_true(exists(6, ".corrupt") && exists(8, ".corrupt"));
	assert_int_equal(spool_corrupt_batches(spool), 6);
	assert_int_equal(spool_corrupt_records(spool),
			 strlen("short-pay") + strlen("payzeros") + strlen("bitflip"));
	spool_delivered(spool, 1);
	spool_delivered(spool, 7);
	spool_delivered(spool, 9);
	spool_delivered(spool, 10);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_bytes(spool), 0);
	assert_int_equal(spool_records(spool), 0);
	spool_close(spool);

	/* set aside for good: the next open finds nothing to count again */
	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_corrupt_batches(spool), 0);
	spool_close(spool);
}

/* Torn while the agent runs (after the index was read): found when taken. */
static void test_torn_after_open(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	put(spool, "abcdef");
	put(spool, "ghijkl");
	tear(1, "payload-short");
	take_torn(spool, 1, 6, "payload truncated: 3 bytes where its header says 6");
	assert_true(exists(1, ".corrupt"));
	take_expect(spool, 2, "ghijkl");
	spool_delivered(spool, 2);
	assert_int_equal(spool_corrupt_batches(spool), 1);
	assert_int_equal(spool_corrupt_records(spool), 6);
	spool_close(spool);
}

/* A file deleted behind the spool's back: its records, from the index, are counted lost. */
static void test_vanished_counted(void **state)
{
	struct spool *spool = open_spool(1 << 20);
	char path[128];

	(void)state;
	put(spool, "lost-records");
	put(spool, "kept");
	path_of(path, sizeof(path), 1, "");
	assert_int_equal(unlink(path), 0);
	take_torn(spool, 1, strlen("lost-records"), "vanished");
	assert_int_equal(spool_corrupt_batches(spool), 1);
	assert_int_equal(spool_corrupt_records(spool), strlen("lost-records"));
	take_expect(spool, 2, "kept");
	spool_delivered(spool, 2);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_records(spool), 0);
	spool_close(spool);
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
		cmocka_unit_test_setup_teardown(test_group_commit_syncs, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_restart, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_torn_files, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_torn_after_open, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_vanished_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_locked, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
