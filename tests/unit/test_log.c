// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* lib/log: levels, and the cap on repeated messages (what is shown, what is counted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* stderr into a temporary file while fn runs; returns what was written */
static char captured[4096];

static const char *capture(void (*fn)(void *), void *arg)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
	return captured;
}

static void burst_then_flush(void *arg)
{
	struct log_limit *limit = arg;
	int shown = 0;

	for (int i = 0; i < 25; i++)
		shown += log_limit_allow(limit, 1000 + (uint64_t)i);
	assert_int_equal(shown, 10);
	assert_int_equal(limit->suppressed, 15);
	log_limit_flush(limit);
}

static void test_burst_then_count(void **state)
{
	struct log_limit limit = LOG_LIMIT_INIT("rejected records", 10, 60000);

	(void)state;
	log_set_program("test");
	log_set_verbosity(0);
	assert_string_equal(capture(burst_then_flush, &limit),
			    "test: ... and 15 more rejected records not shown (-v shows each)\n");
	assert_int_equal(limit.shown, 0);
	assert_int_equal(limit.suppressed, 0);
	/* nothing held back: flush says nothing */
	assert_string_equal(capture((void (*)(void *))log_limit_flush, &limit), "");
}

static void next_window(void *arg)
{
	struct log_limit *limit = arg;

	assert_true(log_limit_allow(limit, 0));
	assert_true(log_limit_allow(limit, 1));
	assert_false(log_limit_allow(limit, 2));
	assert_false(log_limit_allow(limit, 59999));
	/* a minute later: the count of the last one, then a new burst */
	assert_true(log_limit_allow(limit, 60000));
	assert_true(log_limit_allow(limit, 60001));
	assert_false(log_limit_allow(limit, 60002));
}

static void test_new_interval_reports_and_starts_over(void **state)
{
	struct log_limit limit = LOG_LIMIT_INIT("bad lines", 2, 60000);

	(void)state;
	log_set_verbosity(0);
	assert_string_equal(capture(next_window, &limit),
			    "test: ... and 2 more bad lines not shown (-v shows each)\n");
	assert_int_equal(limit.suppressed, 1);
}

static void all_allowed(void *arg)
{
	struct log_limit *limit = arg;

	for (int i = 0; i < 100; i++)
		assert_true(log_limit_allow(limit, (uint64_t)i));
	log_limit_flush(limit);
}

static void test_verbose_shows_every_one(void **state)
{
	struct log_limit limit = LOG_LIMIT_INIT("rejected records", 1, 0);

	(void)state;
	log_set_verbosity(1);
	assert_string_equal(capture(all_allowed, &limit), "");
	log_set_verbosity(0);
}

static void levels(void *arg)
{
	(void)arg;
	log_set_verbosity(0);
	pr_warn("w\n");
	pr_info("i\n");
	log_set_verbosity(1);
	pr_info("i\n");
	pr_debug("d\n");
	log_set_verbosity(2);
	pr_debug("d\n");
	log_set_verbosity(0);
}

static void test_levels(void **state)
{
	(void)state;
	assert_string_equal(capture(levels, NULL), "test: w\ntest: i\ntest: d\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_count),
		cmocka_unit_test(test_new_interval_reports_and_starts_over),
		cmocka_unit_test(test_verbose_shows_every_one),
		cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
