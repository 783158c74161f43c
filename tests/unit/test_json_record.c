// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of collector/json_record: the agent's JSON line, every field read, unknown fields
 * ignored, and each way a line is refused, with the reason it gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "json_record.h"

#define LINE                                                                                   \
	"{\"src_addr\":\"10.0.0.1\",\"dst_addr\":\"2001:db8::2\",\"src_port\":40000,"          \
	"\"dst_port\":443,\"proto\":6,\"vlan\":7,\"packets\":3,\"bytes\":300,"                 \
	"\"tcp_flags\":18,\"first_seen_ns\":1767571200000000000,"                              \
	"\"last_seen_ns\":1767571201000000000,\"sampling\":10,\"ifindex\":4,"                  \
	"\"direction\":\"egress\",\"agent_id\":\"edge-1\",\"batch_run\":18446744073709551615," \
	"\"batch_seq\":42,\"future_field\":\"ignored\"}"

static int parse(const char *line, struct json_record *record, const char **why)
{
	*why = NULL;
	return json_record_parse(line, strlen(line), record, why);
}

static void test_every_field(void **state)
{
	static const uint8_t src[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
	static const uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct json_record r;
	const char *why;

	(void)state;
	if (parse(LINE, &r, &why))
		fail_msg("refused: %s", why);
	assert_memory_equal(r.record.key.src_addr, src, 16);
	assert_memory_equal(r.record.key.dst_addr, dst, 16);
	assert_int_equal(r.record.key.src_port, 40000);
	assert_int_equal(r.record.key.dst_port, 443);
	assert_int_equal(r.record.key.proto, 6);
	assert_int_equal(r.record.key.vlan, 7);
	assert_int_equal(r.record.key.ifindex, 4);
	assert_int_equal(r.record.key.direction, FLOW_DIR_EGRESS);
	assert_int_equal(r.record.stats.packets, 3);
	assert_int_equal(r.record.stats.bytes, 300);
	assert_int_equal(r.record.stats.tcp_flags, 18);
	assert_int_equal(r.record.stats.first_seen_ns, 1767571200000000000ULL);
	assert_int_equal(r.record.stats.last_seen_ns, 1767571201000000000ULL);
	assert_int_equal(r.record.sampling, 10);
	assert_string_equal(r.agent, "edge-1");
	assert_int_equal(r.run, UINT64_MAX);
	assert_int_equal(r.sequence, 42);
}

static void test_defaults(void **state)
{
	struct json_record r;
	const char *why;

	(void)state;
	assert_int_equal(parse("{\"src_addr\":\"10.0.0.1\",\"dst_addr\":\"10.0.0.2\","
			       "\"src_port\":1,\"dst_port\":2,\"proto\":17,\"packets\":1,"
			       "\"bytes\":60,\"first_seen_ns\":5,\"last_seen_ns\":5}",
			       &r, &why),
			 0);
	assert_int_equal(r.record.sampling, 1);
	assert_int_equal(r.record.key.direction, FLOW_DIR_INGRESS);
	assert_string_equal(r.agent, "");
	assert_int_equal(r.run, 0);
	assert_int_equal(r.sequence, 0);
}

static void test_refused(void **state)
{
	const struct {
		const char *line, *why;
	} cases[] = {
		{ "[1]", "not a JSON object" },
		{ "{\"src_addr\":\"10.0.0.1\"}", "a required field is missing" },
		{ "{\"proto\":\"tcp\"}", "a number was expected" },
		{ "{\"src_addr\":1}", "a string was expected" },
		{ "{\"proto\":256}", "number out of range" },
		{ "{\"packets\":-1}", "bad number (unsigned integers only)" },
		{ "{\"packets\":99999999999999999999}", "bad number (unsigned integers only)" },
		{ "{\"packets\":18446744073709551616}", "bad number (unsigned integers only)" },
		{ "{\"src_addr\":\"10.0.0.300\"}", "not an IPv4 or IPv6 address" },
		{ "{\"direction\":\"up\"}", "direction is not ingress or egress" },
		{ "{\"agent_id\":\"a\\\"b\"}", "bad string value" },
		{ "{\"proto\":6 \"vlan\":1}", "',' or '}' expected" },
		{ "{\"proto\" 6}", "':' expected" },
		{ "{\"proto\":6} x", "text after the closing '}'" },
	};
	struct json_record r;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_not_equal(parse(cases[i].line, &r, &why), 0);
		assert_non_null(why);
		if (strncmp(why, cases[i].why, strlen(cases[i].why)))
			fail_msg("%s: '%s', expected '%s'", cases[i].line, why, cases[i].why);
	}
	/* counters no flow can have */
	assert_int_not_equal(parse("{\"src_addr\":\"10.0.0.1\",\"dst_addr\":\"10.0.0.2\","
				   "\"src_port\":1,\"dst_port\":2,\"proto\":17,\"packets\":2,"
				   "\"bytes\":1,\"first_seen_ns\":5,\"last_seen_ns\":5}",
				   &r, &why),
			     0);
	assert_non_null(strstr(why, "impossible values"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
