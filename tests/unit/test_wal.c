// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of collector/wal: a file written is read back exactly; a file cut at any length,
 * or with any byte of it changed, is refused whole, never read in part; nothing is left
 * behind under the temporary name.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "wal.h"

static char dir[] = "/tmp/flowagent-test-wal-XXXXXX";

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char command[sizeof(dir) + 16];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	return system(command);
}

/* An insert of two raw parts and a ledger part over 300 payload bytes. */
static void sample(struct wal_insert *insert, uint8_t *payload, struct wal_part *parts)
{
	size_t i;

	for (i = 0; i < 300; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	parts[0] = (struct wal_part){ .table = WAL_TABLE_RAW, .rows = 2, .offset = 0, .len = 100 };
	parts[1] =
		(struct wal_part){ .table = WAL_TABLE_RAW, .rows = 1, .offset = 100, .len = 150 };
	parts[2] =
		(struct wal_part){ .table = WAL_TABLE_LEDGER, .rows = 1, .offset = 250, .len = 50 };
	*insert = (struct wal_insert){ .id = 0x0123456789abcdefULL,
				       .payload = payload,
				       .payload_len = 300,
				       .parts = parts,
				       .part_count = 3 };
}

static size_t write_sample(char *path, size_t path_len)
{
	struct wal_insert insert;
	struct wal_part parts[3];
	uint8_t payload[300];
	char err[256];
	int64_t written;

	sample(&insert, payload, parts);
	written = wal_write(dir, &insert, path, path_len, err, sizeof(err));
	assert_true(written > 0);
	return (size_t)written;
}

static void test_round_trip(void **state)
{
	struct wal_insert expected, got;
	struct wal_part parts[3];
	uint8_t payload[300];
	char path[512], tmp[520];
	const char *why = NULL;
	size_t written;
	struct stat st;
	uint32_t i;

	(void)state;
	written = write_sample(path, sizeof(path));
	assert_string_equal(strrchr(path, '/') + 1, "0123456789abcdef.wal");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, written);
	assert_int_equal(written, 24 + 3 * 32 + 300);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);

	sample(&expected, payload, parts);
	assert_int_equal(wal_read(path, &got, &why), 0);
	assert_int_equal(got.id, expected.id);
	assert_int_equal(got.part_count, 3);
	assert_int_equal(got.payload_len, 300);
	assert_memory_equal(got.payload, payload, 300);
	for (i = 0; i < 3; i++) {
		assert_int_equal(got.parts[i].table, expected.parts[i].table);
		assert_int_equal(got.parts[i].rows, expected.parts[i].rows);
		assert_int_equal(got.parts[i].offset, expected.parts[i].offset);
		assert_int_equal(got.parts[i].len, expected.parts[i].len);
	}
	wal_insert_free(&got);
	unlink(path);
}

static void rewrite(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* As a machine crash or a failing disk leaves it: every length, every byte. */
static void test_torn_and_corrupt_refused(void **state)
{
	struct wal_insert got;
	uint8_t original[1024];
	const char *why;
	char path[512];
	size_t len, cut, i;
	int fd;

	(void)state;
	len = write_sample(path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, original, sizeof(original)), (ssize_t)len);
	close(fd);
	for (cut = 0; cut < len; cut++) {
		rewrite(path, original, cut);
		why = NULL;
		assert_int_equal(wal_read(path, &got, &why), -EBADMSG);
		assert_non_null(why);
		assert_null(got.payload);
	}
	for (i = 0; i < len; i++) {
		uint8_t changed[1024];

		memcpy(changed, original, len);
		changed[i] ^= 0x10;
		rewrite(path, changed, len);
		assert_int_equal(wal_read(path, &got, &why), -EBADMSG);
	}
	/* zero-filled, as a file whose blocks were allocated but never written */
	memset(original, 0, len);
	rewrite(path, original, len);
	assert_int_equal(wal_read(path, &got, &why), -EBADMSG);
	assert_string_equal(why, "not a write-ahead file (magic or version)");
	unlink(path);
}

static void test_missing_file_and_directory(void **state)
{
	struct wal_insert insert, got;
	struct wal_part parts[3];
	uint8_t payload[300];
	char path[512], err[256];
	const char *why;

	(void)state;
	assert_int_equal(wal_read("/nonexistent/x.wal", &got, &why), -ENOENT);
	sample(&insert, payload, parts);
	assert_int_equal(wal_write("/nonexistent-dir", &insert, path, sizeof(path), err,
				   sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "write-ahead file /nonexistent-dir/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn_and_corrupt_refused),
		cmocka_unit_test(test_missing_file_and_directory),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
