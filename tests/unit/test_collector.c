// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the collector's schema placeholders and its list of views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "migrate.h"
#include "views.h"

static void test_engine_placeholders(void **state)
{
	struct migrate_options plain = { .retention_days = 30 };
	struct migrate_options replicated = { .retention_days = 7, .replicated = 1 };
	char err[256] = "";
	char *sql;

	(void)state;
	sql = migrate_expand("ENGINE = {{MergeTree}} TTL t + INTERVAL {{retention_days}} DAY",
			     &plain, err, sizeof(err));
	assert_non_null(sql);
	assert_string_equal(sql, "ENGINE = MergeTree() TTL t + INTERVAL 30 DAY");
	free(sql);

	sql = migrate_expand("ENGINE = {{SummingMergeTree((bytes, packets))}}", &replicated, err,
			     sizeof(err));
	assert_non_null(sql);
	assert_string_equal(sql, "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/"
				 "{database}/{table}', '{replica}', (bytes, packets))");
	free(sql);

	sql = migrate_expand("ENGINE = {{MergeTree}}", &replicated, err, sizeof(err));
	assert_string_equal(sql, "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/"
				 "{database}/{table}', '{replica}')");
	free(sql);
}

static void test_placeholder_errors(void **state)
{
	struct migrate_options plain = { .retention_days = 30 };
	char err[256] = "";

	(void)state;
	assert_null(migrate_expand("{{NoSuchEngine}}", &plain, err, sizeof(err)));
	assert_string_equal(err, "unknown placeholder {{NoSuchEngine}}");
	assert_null(migrate_expand("ENGINE = {{MergeTree", &plain, err, sizeof(err)));
	assert_string_equal(err, "unclosed {{ placeholder");
}

static void test_version_gates(void **state)
{
	struct migrate_options old = { .server_major = 18,
				       .server_minor = 16,
				       .cluster_name = "flows" };
	struct migrate_options new = { .server_major = 24, .server_minor = 3, .retention_days = 9 };
	const char *text = "CREATE TABLE t (a UInt8)\n"
			   "ENGINE = Distributed({{cluster}}, 'flows', 't_local')\n"
			   "  --@since 19.6 TTL d + INTERVAL {{retention_days}} DAY\n"
			   "--@since 18.16 SETTINGS x = 1\n"
			   "--@since 18.17 , y = 2\n"
			   ";\n";
	char err[256] = "";
	char *sql;

	(void)state;
	sql = migrate_expand(text, &old, err, sizeof(err));
	assert_non_null(sql);
	/* a line gated off stays a comment, so statement line numbers do not move */
	assert_string_equal(sql, "CREATE TABLE t (a UInt8)\n"
				 "ENGINE = Distributed('flows', 'flows', 't_local')\n"
				 "--\n"
				 "SETTINGS x = 1\n"
				 "--\n"
				 ";\n");
	free(sql);
	/* no cluster name: {{cluster}} is unknown, not an empty string */
	assert_null(migrate_expand(text, &new, err, sizeof(err)));
	assert_string_equal(err, "unknown placeholder {{cluster}}");
	new.cluster_name = "c-1.eu";
	sql = migrate_expand(text, &new, err, sizeof(err));
	assert_non_null(sql);
	assert_non_null(strstr(sql, "Distributed('c-1.eu',"));
	assert_non_null(strstr(sql, "\nTTL d + INTERVAL 9 DAY\n"));
	assert_non_null(strstr(sql, "\n, y = 2\n"));
	free(sql);
	assert_null(migrate_expand("--@since nineteen SQL\n", &new, err, sizeof(err)));
	assert_string_equal(err, "line 1: expected '--@since MAJOR.MINOR SQL'");
}

static void test_views_known(void **state)
{
	int i;

	(void)state;
	assert_int_equal(view_count, 14);
	assert_non_null(view_find("top_ports_bytes"));
	assert_null(view_find("top_ports"));
	/* every view in both dialects (run from the source tree, as make test does) */
	for (i = 0; i < view_count; i++) {
		char path[256];

		snprintf(path, sizeof(path), "sql/views/%s.sql", view_list[i].name);
		if (access(path, R_OK))
			fail_msg("%s: no %s", view_list[i].name, path);
		snprintf(path, sizeof(path), "sql/cluster/views/%s.sql", view_list[i].name);
		if (access(path, R_OK))
			fail_msg("%s: no %s", view_list[i].name, path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_placeholders),
		cmocka_unit_test(test_placeholder_errors),
		cmocka_unit_test(test_version_gates),
		cmocka_unit_test(test_views_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
