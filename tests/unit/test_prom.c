// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of lib/prom: the text it writes, and that a full buffer is never overrun. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "prom.h"

static void test_families_and_samples(void **state)
{
	char buf[1024];
	struct prom_writer w;

	(void)state;
	prom_init(&w, buf, sizeof(buf));
	prom_counter(&w, "x_total", "Things.", 18446744073709551615ull);
	prom_family(&w, "y", "gauge", "Y by kind.");
	prom_u64(&w, "y", "kind=\"a\"", 1);
	prom_i64(&w, "z", "", -1);
	prom_double(&w, "s", "", "%.6f", 0.5);
	assert_int_equal(w.truncated, 0);
	assert_int_equal(prom_finish(&w), strlen(buf));
	assert_string_equal(buf, "# HELP x_total Things.\n"
				 "# TYPE x_total counter\n"
				 "x_total 18446744073709551615\n"
				 "# HELP y Y by kind.\n"
				 "# TYPE y gauge\n"
				 "y{kind=\"a\"} 1\n"
				 "z -1\n"
				 "s 0.500000\n");
}

/* Every prefix of the buffer size: the text is whole lines, and nothing past size is touched. */
static void test_full_buffer_never_overrun(void **state)
{
	char full[1024], buf[1024 + 16];
	struct prom_writer w;
	size_t size, full_len;

	(void)state;
	prom_init(&w, full, sizeof(full));
	prom_gauge(&w, "a_gauge", "A.", 12345);
	prom_gauge(&w, "b_gauge", "B.", 67890);
	full_len = prom_finish(&w);
	for (size = 0; size <= full_len + 1; size++) {
		memset(buf, 0x5a, sizeof(buf));
		prom_init(&w, buf, size);
		prom_gauge(&w, "a_gauge", "A.", 12345);
		prom_gauge(&w, "b_gauge", "B.", 67890);
		assert_true(prom_finish(&w) < size || size == 0);
		assert_int_equal(w.truncated, size <= full_len);
		assert_int_equal(buf[size], 0x5a);
		if (size)
			assert_int_equal(strlen(buf), prom_finish(&w));
		/* a cut page ends after a complete line */
		if (prom_finish(&w))
			assert_int_equal(buf[prom_finish(&w) - 1], '\n');
		assert_memory_equal(buf, full, prom_finish(&w));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_and_samples),
		cmocka_unit_test(test_full_buffer_never_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
