// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the on-disk spool: order, bounds, group commit and file limits, restart and
 * crash repair, every torn shape a crash can leave, a file deleted behind its back, locking.
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

#include "bytes.h"
#include "spool.h"
#include "wire.h"

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

/* Puts the payloads and commits them: one file. */
static void put_group(struct spool *spool, const char *const *payloads, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		put(spool, payloads[i]);
	assert_int_equal(spool_commit(spool), 0);
}

static int exists(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int count_files(void)
{
	char command[160];
	FILE *ls;
	int count = 0, c;

	snprintf(command, sizeof(command), "ls -A %s | grep -v '^.lock$'", dir);
	ls = popen(command, "r");
	assert_non_null(ls);
	while ((c = fgetc(ls)) != EOF)
		count += c == '\n';
	pclose(ls);
	return count;
}

/* Writes spool records by hand, as an agent would have; the last one cut to `cut` bytes. */
static void write_file(const char *name, const char *const *payloads, size_t count, long cut)
{
	char path[160];
	size_t i;
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	file = fopen(path, "wb");
	assert_non_null(file);
	for (i = 0; i < count; i++) {
		uint32_t len = (uint32_t)strlen(payloads[i]);
		uint8_t record[256];

		memcpy(record, "FLSP", 4);
		put_le32(record + 4, len);
		put_le32(record + 8, wire_crc32c(payloads[i], len));
		put_le32(record + 12, len);
		memcpy(record + 16, payloads[i], len);
		fwrite(record, 1, i + 1 == count && cut >= 0 ? (size_t)cut : 16 + len, file);
	}
	fclose(file);
}

/* Batches come out in the order they went in; a file goes with its last batch. */
static void test_order_and_delivery(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	put(spool, "twelve");
	put(spool, "ten");
	put(spool, "eleven");
	assert_true(exists("00000000000000000001.open"));
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(spool_batches(spool), 3);
	assert_int_equal(spool_files(spool), 1);
	assert_int_equal(spool_records(spool), 6 + 3 + 6);
	assert_int_equal(spool_bytes(spool), 3 * 16 + 6 + 3 + 6);
	/* the committed name says what the file holds */
	assert_true(exists("00000000000000000001-3-15.batch"));
	assert_false(exists("00000000000000000001.open"));
	take_expect(spool, 1, "twelve");
	take_expect(spool, 2, "ten");
	assert_int_equal(spool_waiting(spool), 1);
	spool_retry(spool, 1); /* failed: it waits again, first in line */
	take_expect(spool, 1, "twelve");
	spool_delivered(spool, 1);
	spool_delivered(spool, 2);
	assert_true(exists("00000000000000000001-3-15.batch")); /* one batch still in it */
	assert_int_equal(spool_bytes(spool), 3 * 16 + 6 + 3 + 6);
	take_expect(spool, 3, "eleven");
	take_none(spool);
	spool_delivered(spool, 3);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_files(spool), 0);
	assert_int_equal(spool_bytes(spool), 0);
	assert_int_equal(count_files(), 0);
	assert_int_equal(spool_corrupt_batches(spool), 0);
	spool_close(spool);
}

/* Over --spool-max-bytes: -EDQUOT (not -ENOSPC, which is the filesystem's). */
static void test_full(void **state)
{
	struct spool *spool = open_spool(16 + 10 + 16 + 10);

	(void)state;
	put(spool, "0123456789");
	put(spool, "0123456789");
	assert_int_equal(spool_put(spool, 1, "x", 1), -EDQUOT);
	assert_int_equal(spool_batches(spool), 2);
	spool_close(spool);
}

/* Group commit: one fdatasync per file and one directory fsync per commit, none when idle. */
static void test_group_commit_syncs(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	assert_int_equal(spool_syncs(spool), 0);
	put(spool, "a");
	put(spool, "bb");
	put(spool, "ccc");
	assert_int_equal(spool_syncs(spool), 0);
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(spool_syncs(spool), 2);
	assert_int_equal(spool_commit(spool), 0); /* nothing new */
	assert_int_equal(spool_syncs(spool), 2);
	put(spool, "d");
	spool_close(spool); /* commits the last group */
	assert_true(exists("00000000000000000001-3-6.batch"));
	assert_true(exists("00000000000000000004-1-1.batch"));
	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 4);
	assert_int_equal(spool_files(spool), 2);
	assert_int_equal(spool_syncs(spool), 0); /* nothing to repair */
	spool_close(spool);
}

/* A file is committed when it is full, in batches or bytes, even before the caller commits. */
static void test_file_limits(void **state)
{
	struct spool *spool = open_spool(64 << 20);
	static char big[SPOOL_FILE_MAX_BYTES / 2];
	char name[64];
	int i;

	(void)state;
	for (i = 0; i < SPOOL_FILE_MAX_BATCHES + 1; i++)
		put(spool, "x");
	snprintf(name, sizeof(name), "00000000000000000001-%d-%d.batch", SPOOL_FILE_MAX_BATCHES,
		 SPOOL_FILE_MAX_BATCHES);
	assert_true(exists(name));
	assert_true(exists("00000000000000000065.open"));
	assert_int_equal(spool_files(spool), 2);
	memset(big, 'b', sizeof(big));
	assert_int_equal(spool_put(spool, 1, big, sizeof(big)), 0);
	assert_int_equal(spool_put(spool, 1, big, sizeof(big)), 0); /* past 4 MiB: a new file */
	assert_int_equal(spool_files(spool), 3);
	assert_int_equal(spool_commit(spool), 0);
	assert_true(exists("00000000000000000065-2-2.batch"));
	assert_true(exists("00000000000000000067-1-1.batch"));
	assert_int_equal(spool_batches(spool), SPOOL_FILE_MAX_BATCHES + 3);
	spool_close(spool);
}

/* Delivered before its file was committed: the file is removed instead. */
static void test_delivered_before_commit(void **state)
{
	struct spool *spool = open_spool(1 << 20);

	(void)state;
	put(spool, "quick");
	take_expect(spool, 1, "quick");
	spool_delivered(spool, 1);
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(count_files(), 0);
	assert_int_equal(spool_files(spool), 0);
	assert_int_equal(spool_bytes(spool), 0);
	spool_close(spool);
}

/*
 * What one process spooled, the next one finds, in order, with ordinals ahead of it; what a
 * crash leaves (a temporary file, an uncommitted .open file with a torn last record) is
 * repaired.
 */
static void test_restart(void **state)
{
	static const char *const open_payloads[] = { "nine", "eight", "cut-short" };
	struct spool *spool = open_spool(1 << 20);
	char path[160];
	FILE *tmp;

	(void)state;
	put(spool, "seven");
	put(spool, "five");
	spool_close(spool);
	/* an earlier agent's interrupted write leaves a temporary file: removed, counted nowhere */
	snprintf(path, sizeof(path), "%s/tmp.00000000000000000003.batch", dir);
	tmp = fopen(path, "w");
	assert_non_null(tmp);
	fputs("half", tmp);
	fclose(tmp);
	/* a crash while a file was being filled: two whole records and half of the third */
	write_file("00000000000000000003.open", open_payloads, 3, 16 + 4);
	/* and one created just before the crash */
	write_file("00000000000000000006.open", open_payloads, 0, -1);

	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 4);
	assert_int_equal(spool_records(spool), 5 + 4 + 4 + 5);
	assert_int_equal(access(path, F_OK), -1);
	/* the cut record was never committed: set aside, not counted (the gap report counts it) */
	assert_int_equal(spool_corrupt_batches(spool), 0);
	assert_int_equal(spool_corrupt_records(spool), 0);
	assert_true(exists("00000000000000000003-2-9.batch"));
	assert_true(exists("00000000000000000003.open.corrupt"));
	assert_false(exists("00000000000000000003.open"));
	assert_false(exists("00000000000000000006.open"));
	put(spool, "three");
	take_expect(spool, 1, "seven");
	take_expect(spool, 2, "five");
	take_expect(spool, 3, "nine");
	take_expect(spool, 4, "eight");
	take_expect(spool, 7, "three"); /* after 6.open's ordinal: it held batch 6 at most */
	spool_delivered(spool, 1);
	spool_delivered(spool, 2);
	spool_delivered(spool, 3);
	spool_delivered(spool, 4);
	spool_delivered(spool, 7);
	spool_close(spool);
	assert_int_equal(count_files(), 1); /* the .corrupt, for whoever wants to look */
}

/* Files of one batch each, as earlier agents wrote them, are read and delivered too. */
static void test_single_batch_files(void **state)
{
	static const char *const first[] = { "old-one" }, *const second[] = { "old-two" };
	struct spool *spool;

	(void)state;
	write_file("00000000000000000007.batch", first, 1, -1);
	write_file("00000000000000000009.batch", second, 1, -1);
	spool = open_spool(1 << 20);
	assert_int_equal(spool_batches(spool), 2);
	put(spool, "new");
	take_expect(spool, 7, "old-one");
	take_expect(spool, 9, "old-two");
	take_expect(spool, 10, "new");
	spool_delivered(spool, 7);
	spool_delivered(spool, 9);
	spool_delivered(spool, 10);
	assert_int_equal(spool_commit(spool), 0);
	assert_int_equal(count_files(), 0);
	spool_close(spool);
}

static void file_path(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/%s", dir, name);
}

/*
 * Torn files as a crash or a failing disk leaves them, between good ones. At open a file's
 * records are walked: its good ones are kept and the loss is exact, from its name; at take a
 * payload's checksum is checked.
 */
static void test_torn_files(void **state)
{
	static const char *const good[] = { "good-1", "good-2" };
	static const char *const cut[] = { "kept", "cut-here", "after-cut" };
	static const char *const zeroed[] = { "zero-1", "zero-22" };
	static const char *const flipped[] = { "fine", "bit-flip" };
	struct spool *spool = open_spool(1 << 20);
	char path[160], zeros[128] = { 0 };
	int fd;

	(void)state;
	put_group(spool, good, 2);    /* 1-2 */
	put_group(spool, cut, 3);     /* 3-5 */
	put_group(spool, zeroed, 2);  /* 6-7 */
	put_group(spool, flipped, 2); /* 8-9 */
	spool_close(spool);
	write_file("00000000000000000010.batch", NULL, 0, -1); /* an old single file, empty */

	/* inside the payload of "cut-here": it and "after-cut" are lost */
	file_path(path, sizeof(path), "00000000000000000003-3-21.batch");
	assert_int_equal(truncate(path, 16 + 4 + 16 + 3), 0);
	file_path(path, sizeof(path), "00000000000000000006-2-13.batch");
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, zeros, 2 * 16 + 13, 0), 2 * 16 + 13);
	close(fd);
	file_path(path, sizeof(path), "00000000000000000008-2-12.batch");
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "B", 1, 16 + 4 + 16 + 2), 1);
	close(fd);

	spool = open_spool(1 << 20);
	/* at open: 2 of the cut file, 2 zero-filled, the empty single one (records unknown) */
	assert_int_equal(spool_corrupt_batches(spool), 2 + 2 + 1);
	assert_int_equal(spool_corrupt_records(spool), strlen("cut-here") + strlen("after-cut") +
							       strlen("zero-1") +
							       strlen("zero-22"));
	assert_true(exists("00000000000000000003-1-4.batch"));
	assert_true(exists("00000000000000000003-3-21.batch.corrupt"));
	assert_false(exists("00000000000000000003-3-21.batch"));
	assert_true(exists("00000000000000000006-2-13.batch.corrupt"));
	assert_true(exists("00000000000000000010.batch.corrupt"));
	assert_int_equal(spool_batches(spool), 2 + 1 + 2);
	put(spool, "after"); /* ordinals stay ahead of the corrupt files */

	take_expect(spool, 1, "good-1");
	take_expect(spool, 2, "good-2");
	take_expect(spool, 3, "kept");
	take_expect(spool, 8, "fine");
	take_torn(spool, 9, strlen("bit-flip"), "payload checksum mismatch");
	take_expect(spool, 11, "after");
	take_none(spool);
	assert_int_equal(spool_corrupt_batches(spool), 6);
	spool_delivered(spool, 1);
	spool_delivered(spool, 2);
	spool_delivered(spool, 3);
	spool_delivered(spool, 8);
	spool_delivered(spool, 11);
	/* the file with the flipped bit is kept aside once its last batch is done */
	assert_true(exists("00000000000000000008-2-12.batch.corrupt"));
	assert_int_equal(spool_commit(spool), 0); /* "after"'s file, delivered: removed */
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
	static const char *const payloads[] = { "abcdef", "ghijkl" };
	struct spool *spool = open_spool(1 << 20);
	char path[160];

	(void)state;
	put_group(spool, payloads, 2);
	file_path(path, sizeof(path), "00000000000000000001-2-12.batch");
	assert_int_equal(truncate(path, 2 * 16 + 6 + 3), 0);
	take_expect(spool, 1, "abcdef");
	take_torn(spool, 2, 6, "payload truncated at offset 22: 3 bytes where its header says 6");
	spool_delivered(spool, 1);
	assert_true(exists("00000000000000000001-2-12.batch.corrupt"));
	assert_int_equal(spool_corrupt_batches(spool), 1);
	assert_int_equal(spool_corrupt_records(spool), 6);
	spool_close(spool);
}

/* A file deleted behind the spool's back: its batches' records, from the index, are lost. */
static void test_vanished_counted(void **state)
{
	static const char *const lost[] = { "lost-records", "more" };
	struct spool *spool = open_spool(1 << 20);
	char path[160];

	(void)state;
	put_group(spool, lost, 2);
	put(spool, "kept");
	file_path(path, sizeof(path), "00000000000000000001-2-16.batch");
	assert_int_equal(unlink(path), 0);
	take_torn(spool, 1, strlen("lost-records"), "vanished");
	take_torn(spool, 2, strlen("more"), "vanished");
	assert_int_equal(spool_corrupt_batches(spool), 2);
	assert_int_equal(spool_corrupt_records(spool), strlen("lost-records") + strlen("more"));
	take_expect(spool, 3, "kept");
	spool_delivered(spool, 3);
	assert_int_equal(spool_batches(spool), 0);
	assert_int_equal(spool_records(spool), 0);
	assert_int_equal(spool_files(spool), 1); /* "kept"'s file is committed at close */
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
		cmocka_unit_test_setup_teardown(test_file_limits, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_delivered_before_commit, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_restart, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_single_batch_files, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_torn_files, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_torn_after_open, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_vanished_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_locked, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
