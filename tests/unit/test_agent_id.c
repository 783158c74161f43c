// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the agent id rule both programs apply, and of its escape for log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent_id.h"

static int valid(const char *id)
{
	return agent_id_valid(id, strlen(id));
}

static void test_valid_ids(void **state)
{
	char longest[AGENT_ID_MAX + 1];

	(void)state;
	assert_true(valid("a"));
	assert_true(valid("edge-1.example.org"));
	assert_true(valid("host_2:eth0"));
	assert_true(valid("ABCxyz0123456789._:-"));
	memset(longest, 'x', AGENT_ID_MAX);
	longest[AGENT_ID_MAX] = '\0';
	assert_true(valid(longest));
}

static void test_invalid_ids(void **state)
{
	char too_long[AGENT_ID_MAX + 2];

	(void)state;
	assert_false(valid(""));
	assert_false(valid("has space"));
	assert_false(valid("tab\there"));
	assert_false(valid("new\nline"));
	assert_false(valid("cr\r"));
	assert_false(valid("quote'"));
	assert_false(valid("semi;colon"));
	assert_false(valid("slash/"));
	assert_false(valid("bell\a"));
	assert_false(valid("del\x7f"));
	assert_false(valid("utf8-\xc3\xa9"));
	memset(too_long, 'x', AGENT_ID_MAX + 1);
	too_long[AGENT_ID_MAX + 1] = '\0';
	assert_false(valid(too_long));
	/* the length decides, not a NUL: "ab\0cd" is not "ab" */
	assert_false(agent_id_valid("ab\0cd", 5));
	assert_true(agent_id_valid("ab\0cd", 2));
	assert_false(agent_id_valid("ab", 0));
}

static void test_escape(void **state)
{
	char out[AGENT_ID_ESCAPED_MAX];

	(void)state;
	agent_id_escape("plain-id", 8, out, sizeof(out));
	assert_string_equal(out, "plain-id");
	agent_id_escape("a\tb\nc\rd", 7, out, sizeof(out));
	assert_string_equal(out, "a\\tb\\nc\\rd");
	agent_id_escape("n\0l", 3, out, sizeof(out));
	assert_string_equal(out, "n\\x00l");
	agent_id_escape("\x1b[31m\x7f\xff", 7, out, sizeof(out));
	assert_string_equal(out, "\\x1b[31m\\x7f\\xff");
	agent_id_escape("q\"b\\", 4, out, sizeof(out));
	assert_string_equal(out, "q\\\"b\\\\");
	agent_id_escape("", 0, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_escape_bounded(void **state)
{
	char id[AGENT_ID_MAX], out[AGENT_ID_ESCAPED_MAX], small[8];

	(void)state;
	/* the worst case fits the documented size */
	memset(id, '\x01', sizeof(id));
	agent_id_escape(id, sizeof(id), out, sizeof(out));
	assert_int_equal(strlen(out), 4 * AGENT_ID_MAX);
	/* a short buffer ends at a whole escape, terminated */
	agent_id_escape("ab\tcd", 5, small, 5);
	assert_string_equal(small, "ab\\t");
	agent_id_escape("\x01\x02", 2, small, 7);
	assert_string_equal(small, "\\x01");
	agent_id_escape("abc", 3, small, 1);
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_ids),
		cmocka_unit_test(test_invalid_ids),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
