// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of collector/wal: a file written is read back exactly, through the page cache
 * or with O_DIRECT; a file of format 1 still reads; a file cut at any length, or with any
 * byte of it changed, is refused whole, never read in part; nothing is left behind under
 * the temporary name.
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

#include "bytes.h"
#include "wal.h"
#include "wire.h"

/* header and a 3-part table, padded to 4096 bytes, then the payload */
#define SAMPLE_HEAD 4096

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
	assert_int_equal(written, SAMPLE_HEAD + 300);
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
	static uint8_t original[SAMPLE_HEAD + 300], changed[SAMPLE_HEAD + 300];
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

/* A payload from wal_buffer_reserve goes out with O_DIRECT where the file system allows it. */
static void test_aligned_payload_round_trip(void **state)
{
	/* a part that ends inside a block, so that the last block is padded and cut */
	const size_t len = 3 * 1048576 + 1234;
	struct wal_part parts[2] = {
		{ .table = WAL_TABLE_RAW, .rows = 7, .offset = 0, .len = len - 100 },
		{ .table = WAL_TABLE_LEDGER, .rows = 1, .offset = len - 100, .len = 100 },
	};
	struct wal_insert insert = { .id = 42, .parts = parts, .part_count = 2 }, got;
	char path[512], err[256];
	const char *why = NULL;
	struct stat st;
	size_t i;

	(void)state;
	assert_int_equal(wal_buffer_reserve(&insert.payload, &insert.payload_cap, len), 0);
	assert_true(insert.payload_cap >= len);
	assert_int_equal((uintptr_t)insert.payload % 4096, 0);
	for (i = 0; i < len; i++)
		insert.payload[i] = (uint8_t)(i * 13 + (i >> 12));
	insert.payload_len = len;
	assert_int_equal(wal_write(dir, &insert, path, sizeof(path), err, sizeof(err)),
			 (int64_t)(4096 + len));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, 4096 + len);
	assert_int_equal(wal_read(path, &got, &why), 0);
	assert_int_equal(got.payload_len, len);
	assert_memory_equal(got.payload, insert.payload, len);
	assert_int_equal(got.parts[1].offset, len - 100);
	/* growing keeps the content */
	assert_int_equal(wal_buffer_reserve(&insert.payload, &insert.payload_cap, 4 * len), 0);
	assert_int_equal(insert.payload[len - 1], (uint8_t)((len - 1) * 13 + ((len - 1) >> 12)));
	wal_insert_free(&got);
	wal_buffer_free(insert.payload, insert.payload_cap);
	unlink(path);
}

/* Format 1, as collectors before the padding wrote it: no zeros before the payload. */
static void test_version_1_read(void **state)
{
	static uint8_t file[SAMPLE_HEAD + 300], old[24 + 3 * 32 + 300];
	struct wal_insert got;
	uint8_t payload[300];
	const char *why = NULL;
	char path[512];
	size_t len;
	int fd;

	(void)state;
	len = write_sample(path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, file, sizeof(file)), (ssize_t)len);
	close(fd);
	memcpy(old, file, 24 + 3 * 32);
	memcpy(old + 24 + 3 * 32, file + SAMPLE_HEAD, 300);
	put_le32(old + 4, 1);
	memset(old + 20, 0, 4);
	put_le32(old + 20, wire_crc32c(old, 24 + 3 * 32));
	rewrite(path, old, sizeof(old));
	assert_int_equal(wal_read(path, &got, &why), 0);
	assert_int_equal(got.payload_len, 300);
	for (len = 0; len < 300; len++)
		payload[len] = (uint8_t)(len * 7 + 1);
	assert_memory_equal(got.payload, payload, 300);
	wal_insert_free(&got);
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
		cmocka_unit_test(test_aligned_payload_round_trip),
		cmocka_unit_test(test_version_1_read),
		cmocka_unit_test(test_missing_file_and_directory),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
