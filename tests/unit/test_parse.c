// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of lib/parse: numbers, sizes, seconds, times and addresses, and what they refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

static void test_parse_u32(void **state)
{
	uint32_t v = 7;

	(void)state;
	assert_int_equal(parse_u32("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u32("4294967295", 0, 4294967295ul, &v), 0);
	assert_int_equal(v, 4294967295u);
	v = 7;
	assert_int_not_equal(parse_u32("11", 0, 10, &v), 0);
	assert_int_not_equal(parse_u32("0", 1, 10, &v), 0);
	assert_int_not_equal(parse_u32("-1", 0, 10, &v), 0);
	assert_int_not_equal(parse_u32("", 0, 10, &v), 0);
	assert_int_not_equal(parse_u32("5x", 0, 10, &v), 0);
	assert_int_not_equal(parse_u32("99999999999999999999", 0, 4294967295ul, &v), 0);
	/* nothing is written on error */
	assert_int_equal(v, 7);
}

static void test_parse_bytes(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_bytes("4096", 0, 1ull << 40, &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_bytes("64K", 0, 1ull << 40, &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(parse_bytes("3m", 0, 1ull << 40, &v), 0);
	assert_int_equal(v, 3 << 20);
	assert_int_equal(parse_bytes("2G", 0, 1ull << 40, &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_not_equal(parse_bytes("1T", 0, 1ull << 40, &v), 0);
	assert_int_not_equal(parse_bytes("2G", 0, 1ull << 30, &v), 0);
	assert_int_not_equal(parse_bytes("1K", 4096, 1ull << 30, &v), 0);
	assert_int_not_equal(parse_bytes("-1", 0, 1ull << 30, &v), 0);
	assert_int_not_equal(parse_bytes("K", 0, 1ull << 30, &v), 0);
	assert_int_not_equal(parse_bytes("1KB", 0, 1ull << 30, &v), 0);
}

static void test_parse_seconds(void **state)
{
	uint64_t ns = 0;

	(void)state;
	assert_int_equal(parse_seconds("15", 60, &ns), 0);
	assert_int_equal(ns, 15000000000ull);
	assert_int_equal(parse_seconds("0.25", 60, &ns), 0);
	assert_int_equal(ns, 250000000ull);
	assert_int_equal(parse_seconds("0", 60, &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_not_equal(parse_seconds("61", 60, &ns), 0);
	assert_int_not_equal(parse_seconds("-1", 60, &ns), 0);
	assert_int_not_equal(parse_seconds("nan", 60, &ns), 0);
	assert_int_not_equal(parse_seconds("inf", 60, &ns), 0);
	assert_int_not_equal(parse_seconds("1s", 60, &ns), 0);
}

static void test_parse_time(void **state)
{
	uint64_t t = 0;

	(void)state;
	assert_int_equal(parse_time("2026-01-05", &t), 0);
	assert_int_equal(t, 1767571200);
	assert_int_equal(parse_time("2026-01-05 05:00", &t), 0);
	assert_int_equal(t, 1767571200 + 5 * 3600);
	assert_int_equal(parse_time("2026-01-05 05:00:30", &t), 0);
	assert_int_equal(t, 1767571200 + 5 * 3600 + 30);
	assert_int_equal(parse_time("1767571200", &t), 0);
	assert_int_equal(t, 1767571200);
	assert_int_not_equal(parse_time("yesterday", &t), 0);
	assert_int_not_equal(parse_time("2026-01-05 25:00", &t), 0);
	assert_int_not_equal(parse_time("2026-01-05x", &t), 0);
}

static void test_parse_ip_address(void **state)
{
	static const uint8_t v4[16] = {
		[10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2, [15] = 1
	};
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t addr[16], untouched[16];

	(void)state;
	assert_int_equal(parse_ip_address("192.0.2.1", addr), 0);
	assert_memory_equal(addr, v4, 16);
	assert_int_equal(parse_ip_address("2001:db8::1", addr), 0);
	assert_memory_equal(addr, v6, 16);
	memcpy(untouched, addr, sizeof(addr));
	assert_int_not_equal(parse_ip_address("192.0.2", addr), 0);
	assert_int_not_equal(parse_ip_address("192.0.2.256", addr), 0);
	assert_int_not_equal(parse_ip_address("2001:db8:::1", addr), 0);
	assert_int_not_equal(parse_ip_address("", addr), 0);
	assert_memory_equal(addr, untouched, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u32),	 cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_parse_seconds),	 cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_ip_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
