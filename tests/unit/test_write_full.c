// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of lib/write_full: every byte lands where it was asked to, in order, across
 * empty entries and more entries than one writev takes; a short write is carried on from
 * where it stopped; errors come back as -errno (a bad descriptor, a full device, a pipe that
 * has no offset).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "write_full.h"

static char dir[] = "/tmp/flowagent-test-write-full-XXXXXX";

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

/* A new empty file in the test directory, open for reading and writing. */
static int open_file(const char *name)
{
	char path[sizeof(dir) + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

static off_t file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static void test_writes_at_offset_only(void **state)
{
	char header[] = "header", payload[] = "payload", got[128];
	struct iovec iov[3] = { { header, 6 }, { NULL, 0 }, { payload, 7 } };
	int fd = open_file("at_offset");

	(void)state;
	assert_int_equal(write_full_at(fd, iov, 3, 100), 0);
	assert_int_equal(file_size(fd), 113);
	/* the file's own offset is not used, nor moved */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	iov[0] = (struct iovec){ header, 6 };
	assert_int_equal(write_full_at(fd, iov, 1, 0), 0);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 113);
	assert_memory_equal(got, "header", 6);
	assert_memory_equal(got + 100, "headerpayload", 13);
	for (size_t i = 6; i < 100; i++)
		assert_int_equal(got[i], 0);
	close(fd);
}

/* More entries than one writev(2) takes: written in IOV_MAX-sized steps, in order. */
#define MANY_COUNT (IOV_MAX + 7)
#define MANY_PIECE 3

static void test_more_entries_than_iov_max(void **state)
{
	static uint8_t data[MANY_COUNT * MANY_PIECE], got[MANY_COUNT * MANY_PIECE];
	static struct iovec iov[MANY_COUNT];
	int positional, fd;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	for (positional = 0; positional < 2; positional++) {
		fd = open_file(positional ? "many_at" : "many");
		for (size_t i = 0; i < MANY_COUNT; i++)
			iov[i] = (struct iovec){ data + i * MANY_PIECE, MANY_PIECE };
		if (positional)
			assert_int_equal(write_full_at(fd, iov, MANY_COUNT, 0), 0);
		else
			assert_int_equal(write_full(fd, iov, MANY_COUNT), 0);
		assert_int_equal(file_size(fd), sizeof(data));
		assert_int_equal(pread(fd, got, sizeof(got), 0), sizeof(got));
		assert_memory_equal(got, data, sizeof(data));
		close(fd);
	}
}

static void test_pipe_written_in_order(void **state)
{
	char a[] = "first,", b[] = "second,", c[] = "third", got[64];
	struct iovec iov[3] = { { a, 6 }, { b, 7 }, { c, 5 } };
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write_full(fds[1], iov, 3), 0);
	assert_int_equal(read(fds[0], got, sizeof(got)), 18);
	assert_memory_equal(got, "first,second,third", 18);
	/* a pipe has no offset to write at */
	iov[0] = (struct iovec){ a, 6 };
	assert_int_equal(write_full_at(fds[1], iov, 1, 0), -ESPIPE);
	close(fds[0]);
	close(fds[1]);
}

/*
 * A file size limit of 10 bytes: the first write of 20 stops short at 10, the loop carries on
 * from there and the next write fails. What was written stays; the error is returned.
 */
static void test_short_write_carried_on_then_error(void **state)
{
	struct rlimit saved, limit = { .rlim_cur = 10 };
	char data[] = "0123456789abcdefghij", got[32];
	struct iovec iov = { data, 20 };
	void (*saved_handler)(int);
	int fd = open_file("short"), ret;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	limit.rlim_max = saved.rlim_max;
	saved_handler = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
	ret = write_full_at(fd, &iov, 1, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_handler);
	assert_int_equal(ret, -EFBIG);
	/* the entry was advanced past the bytes written */
	assert_ptr_equal(iov.iov_base, data + 10);
	assert_int_equal(iov.iov_len, 10);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 10);
	assert_memory_equal(got, data, 10);
	close(fd);
}

static void test_errors_as_negative_errno(void **state)
{
	char data[] = "data";
	struct iovec iov = { data, 4 };
	int fd;

	(void)state;
	assert_int_equal(write_full_at(-1, &iov, 1, 0), -EBADF);
	assert_int_equal(write_full(-1, &iov, 1), -EBADF);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, &iov, 1), -EBADF);
	close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, &iov, 1), -ENOSPC);
	assert_int_equal(write_full_at(fd, &iov, 1, 0), -ENOSPC);
	close(fd);
}

/* Nothing to write is no write at all: not even a bad descriptor is an error then. */
static void test_nothing_to_write_is_no_write(void **state)
{
	struct iovec iov[2] = { { NULL, 0 }, { NULL, 0 } };

	(void)state;
	assert_int_equal(write_full(-1, iov, 0), 0);
	assert_int_equal(write_full(-1, iov, 2), 0);
	assert_int_equal(write_full_at(-1, iov, 2, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_at_offset_only),
		cmocka_unit_test(test_more_entries_than_iov_max),
		cmocka_unit_test(test_pipe_written_in_order),
		cmocka_unit_test(test_short_write_carried_on_then_error),
		cmocka_unit_test(test_errors_as_negative_errno),
		cmocka_unit_test(test_nothing_to_write_is_no_write),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
