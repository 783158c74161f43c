// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the flow maps' memory budget: sizes, the default per node, the refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "map_budget.h"

/* 48-byte header + 48-byte key + pointer, then 40 bytes a CPU; one spare element a CPU */
static void test_bytes(void **state)
{
	(void)state;
	assert_int_equal(map_budget_bytes(1024, 2), (1024 + 2) * (104 + 2 * 40) + 1024 * 16);
	assert_int_equal(map_budget_bytes(1000, 1), (1000 + 1) * (104 + 40) + 1024 * 16);
	/* the figure: about 10.5 MB a possible CPU for the 262144-flow map */
	assert_in_range(map_budget_bytes(262144, 129) - map_budget_bytes(262144, 128), 10400000,
			10600000);
}

static void test_default_flows(void **state)
{
	(void)state;
	/* a small node keeps 262144 flows; a big one gets what fits in 256 MiB for both maps */
	assert_int_equal(map_budget_default_flows(2, 2), 262144);
	assert_int_equal(map_budget_default_flows(128, 2), 24576);
	assert_true(2 * map_budget_bytes(map_budget_default_flows(128, 2), 128) <=
		    MAP_BUDGET_DEFAULT_BYTES);
	assert_true(2 * map_budget_bytes(map_budget_default_flows(1024, 2), 1024) <=
		    MAP_BUDGET_DEFAULT_BYTES);
	assert_true(map_budget_bytes(map_budget_default_flows(512, 1), 512) <=
		    MAP_BUDGET_DEFAULT_BYTES);
}

static void test_check(void **state)
{
	char err[512] = "";

	(void)state;
	assert_int_equal(map_budget_check(262144, 2, 2, 8ull << 30, err, sizeof(err)), 0);
	assert_int_equal(map_budget_check(33554432, 2, 2, 20ull << 30, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "--max-flows 33554432: the two flow maps need 12800 MiB"));
	assert_non_null(strstr(err, "more than half of the 20480 MiB"));
	assert_non_null(strstr(err, "(the default here is 262144)"));
	assert_int_equal(map_budget_check(1u << 28, 2, 1, 20ull << 30, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "the flow map needs"));
	/* unknown memory: the kernel decides */
	assert_int_equal(map_budget_check(1u << 28, 2, 2, 0, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_default_flows),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
