// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the views' JSON API: every refusal with its status and reason, typed JSON. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

static void test_parse_defaults(void **state)
{
	struct api_view_request req;
	char err[256] = "";

	(void)state;
	assert_int_equal(api_view_request_parse("daily_packets", NULL, NULL, NULL, NULL, NULL, &req,
						err, sizeof(err)),
			 0);
	assert_string_equal(req.view->name, "daily_packets");
	assert_int_equal(req.from, 0);
	assert_int_equal(req.to, VIEW_TIME_END);
	assert_string_equal(req.agent, "");
	assert_null(req.direction);
	assert_int_equal(req.limit, VIEW_LIMIT_DEFAULT);
	assert_int_equal(api_view_request_parse("top_talkers", "2026-01-05", "1767657600", "edge a",
						"egress", "3", &req, err, sizeof(err)),
			 0);
	assert_int_equal(req.from, 1767571200);
	assert_int_equal(req.to, 1767657600);
	assert_string_equal(req.agent, "edge a");
	assert_string_equal(req.direction, "egress");
	assert_int_equal(req.limit, 3);
}

static void test_parse_refusals(void **state)
{
	static const struct {
		const char *name, *from, *to, *direction, *limit;
		int status;
		const char *reason;
	} cases[] = {
		{ "nope", NULL, NULL, NULL, NULL, 404, "no view 'nope'" },
		{ NULL, NULL, NULL, NULL, NULL, 404, "no view ''" },
		{ "daily_packets", "yesterday", NULL, NULL, NULL, 400, "from 'yesterday'" },
		{ "daily_packets", NULL, "2026-13-01", NULL, NULL, 400, "to '2026-13-01'" },
		{ "daily_packets", "2026-01-06", "2026-01-05", NULL, NULL, 400,
		  "is not before to" },
		{ "daily_packets", NULL, "2200-01-01", NULL, NULL, 400, "after 2106-02-07" },
		{ "daily_packets", NULL, NULL, "up", NULL, 400, "direction 'up'" },
		{ "daily_packets", NULL, NULL, NULL, "0", 400, "limit '0'" },
		{ "daily_packets", NULL, NULL, NULL, "100001", 400, "limit '100001'" },
		{ "daily_packets", NULL, NULL, NULL, "ten", 400, "limit 'ten'" },
	};
	struct api_view_request req;
	char err[256], long_agent[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(api_view_request_parse(cases[i].name, cases[i].from, cases[i].to,
							NULL, cases[i].direction, cases[i].limit,
							&req, err, sizeof(err)),
				 cases[i].status);
		if (!strstr(err, cases[i].reason))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].reason);
	}
	memset(long_agent, 'a', sizeof(long_agent) - 1);
	long_agent[sizeof(long_agent) - 1] = '\0';
	assert_int_equal(api_view_request_parse("daily_packets", NULL, NULL, long_agent, NULL, NULL,
						&req, err, sizeof(err)),
			 400);
	assert_non_null(strstr(err, "agent: longer than 255 bytes"));
}

static char *render(const struct view_table *table)
{
	struct api_view_request req;
	char err[64], *body = NULL;
	size_t len = 0;
	FILE *out;

	assert_int_equal(api_view_request_parse("region_map", "0", "86400", "a\"b", "ingress", "5",
						&req, err, sizeof(err)),
			 0);
	out = open_memstream(&body, &len);
	assert_non_null(out);
	api_view_json(out, &req, table);
	assert_int_equal(fclose(out), 0);
	return body;
}

/* numbers where every cell of the column is one, nan as null, text escaped */
static void test_json_typed(void **state)
{
	char *columns[] = { "country_code", "country_name", "latitude", "bytes" };
	char *cells[] = { "JP",	 "Japan", "36.65", "1200",	"EU",	  "Europe \"EU\"\n",
			  "nan", "7",	  "00",	   "tab\there", "-1e+30", "0" };
	struct view_table table = {
		.column_count = 4, .columns = columns, .row_count = 3, .cells = cells
	};
	char *body;

	(void)state;
	body = render(&table);
	assert_string_equal(
		body, "{\"view\":\"region_map\",\"title\":\"Traffic by region\",\"from\":0,"
		      "\"to\":86400,\"agent\":\"a\\\"b\",\"direction\":\"ingress\",\"limit\":5,"
		      "\"columns\":[\"country_code\",\"country_name\",\"latitude\",\"bytes\"],"
		      "\"rows\":[{\"country_code\":\"JP\",\"country_name\":\"Japan\","
		      "\"latitude\":36.65,\"bytes\":1200},{\"country_code\":\"EU\","
		      "\"country_name\":\"Europe \\\"EU\\\"\\n\",\"latitude\":null,\"bytes\":7},"
		      "{\"country_code\":\"00\",\"country_name\":\"tab\\there\","
		      "\"latitude\":-1e+30,\"bytes\":0}]}\n");
	free(body);
}

static void test_json_empty_and_list(void **state)
{
	char *columns[] = { "day", "packets" };
	struct view_table table = { .column_count = 2, .columns = columns };
	char *body = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	body = render(&table);
	assert_non_null(strstr(body, "\"columns\":[\"day\",\"packets\"],\"rows\":[]}"));
	free(body);
	body = NULL;
	out = open_memstream(&body, &len);
	api_view_list_json(out);
	fclose(out);
	assert_non_null(strstr(body, "{\"views\":[{\"name\":\"daily_bandwidth_by_proto\","));
	assert_non_null(strstr(body, "{\"name\":\"top_talkers\",\"title\":"));
	free(body);
	body = NULL;
	out = open_memstream(&body, &len);
	api_error_json(out, "bad \"x\"");
	fclose(out);
	assert_string_equal(body, "{\"error\":\"bad \\\"x\\\"\"}\n");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_json_typed),
		cmocka_unit_test(test_json_empty_and_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
