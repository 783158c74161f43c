// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the HTTP endpoint's decisions: which statements are reads, what a URL
 * parameter is, the SET a setting becomes and which limits it may lower, the credentials of
 * a request and their check, ClickHouse's error bodies and HTTP statuses, the log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "http_endpoint.h"

static int check(const char *sql, const char *message)
{
	char err[512] = "";
	int code = http_query_check(sql, err, sizeof(err));

	if (message && !strstr(err, message))
		fail_msg("'%s': expected '%s' in '%s'", sql, message, err);
	return code;
}

static void test_reads_pass(void **state)
{
	static const char *const reads[] = {
		"SELECT 1",
		"  select count() FROM flows.raw",
		"WITH 1 AS x SELECT x",
		"(SELECT 1) UNION ALL (SELECT 2)",
		"SHOW TABLES FROM flows",
		"DESCRIBE TABLE flows.raw",
		"desc flows.raw",
		"EXISTS TABLE flows.raw",
		"EXPLAIN SELECT 1",
		"-- a comment\nSELECT 1",
		"/* a /* nested */ comment */ SELECT 1",
		"SELECT 1;",
		"SELECT 1;  -- trailing\n",
		"SELECT 'a;b', \"c;d\", `e;f`",
		"SELECT 'it''s; INSERT', 'back\\'slash; x'",
		"SELECT $$; DROP TABLE x$$",
		"SELECT {p:UInt8} FORMAT JSON",
		"SELECT profile FROM t WHERE file_name = 'x'",
		"SELECT urlHierarchy('http://a/b')",
		"SELECT number FROM numbers(10) SETTINGS max_result_rows = 5",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (check(reads[i], NULL))
			fail_msg("refused a read: %s", reads[i]);
}

static void test_writes_refused_as_readonly(void **state)
{
	static const char *const writes[] = {
		"INSERT INTO flows.raw VALUES (1)",
		"insert into t format Native",
		"CREATE TABLE t (x UInt8) ENGINE = Memory",
		"CREATE TEMPORARY TABLE t (x UInt8)",
		"DROP TABLE flows.raw",
		"ALTER TABLE flows.raw DELETE WHERE 1",
		"TRUNCATE TABLE flows.raw",
		"RENAME TABLE a TO b",
		"OPTIMIZE TABLE flows.raw FINAL",
		"SYSTEM SHUTDOWN",
		"KILL QUERY WHERE 1",
		"SET max_threads = 1",
		"USE system",
		"GRANT ALL ON *.* TO x",
		"/* SELECT */ INSERT INTO t VALUES (1)",
		"(INSERT INTO t VALUES (1))",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (check(writes[i], "read-only") != HTTP_CODE_READONLY)
			fail_msg("not refused as READONLY: %s", writes[i]);
	assert_int_equal(check("SELECT * FROM numbers(2) INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
			 HTTP_CODE_READONLY);
}

static void test_multi_statements_and_empty(void **state)
{
	(void)state;
	assert_int_equal(check("SELECT 1; SELECT 2", "Multi-statements"), HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("SELECT 1; DROP TABLE flows.raw", "Multi-statements"),
			 HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("SELECT 1;;", "Multi-statements"), HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("", "Empty query"), HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("SELEC 1", "begins no statement"), HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("42", "begins no statement"), HTTP_CODE_SYNTAX_ERROR);
	assert_int_equal(check("  -- only a comment", "Empty query"), HTTP_CODE_SYNTAX_ERROR);
	/* an unterminated string swallows the rest: one statement, for ClickHouse to refuse */
	assert_int_equal(check("SELECT 'x; DROP TABLE t", NULL), 0);
}

static void test_outside_functions_refused(void **state)
{
	static const char *const outside[] = {
		"SELECT * FROM file('/etc/passwd', 'LineAsString')",
		"SELECT file('/etc/passwd')",
		"SELECT * FROM url('http://x/', 'CSV')",
		"SELECT * FROM s3('http://x/b', 'CSV')",
		"SELECT * FROM remote('h:9000', system.one)",
		"SELECT * FROM executable('x.sh', 'TSV', 'x UInt8')",
		"SELECT * FROM icebergS3('http://x/')",
		"SELECT * FROM `file` ('/etc/passwd')",
		"SELECT * FROM FILE('/etc/passwd')",
		"WITH (SELECT * FROM mysql('h', 'd', 't', 'u', 'p')) AS x SELECT x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		if (check(outside[i], "reaches outside") != 497)
			fail_msg("not refused: %s", outside[i]);
}

static void test_limits_not_set_in_queries(void **state)
{
	(void)state;
	assert_int_equal(check("SELECT 1 SETTINGS max_execution_time = 1000", "max_execution_time"),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(check("SELECT 1 SETTINGS max_result_bytes=0", "max_result_bytes"),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(check("SELECT 1 SETTINGS timeout_overflow_mode = 'break'", NULL),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(check("SELECT 1 SETTINGS readonly = 0", NULL),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(check("SELECT 1 FORMAT Template SETTINGS format_template_row = '/etc/x'",
			       "names a file"),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(check("SELECT 1 FORMAT Protobuf SETTINGS output_format_schema = '/tmp/s'",
			       "names a file"),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	/* the name in a string is no setting */
	assert_int_equal(check("SELECT 'max_execution_time = 5'", NULL), 0);
}

static void test_format_clause(void **state)
{
	char format[64] = "";

	(void)state;
	assert_int_equal(http_query_format("SELECT 1 FORMAT JSONEachRow", format, sizeof(format)),
			 1);
	assert_string_equal(format, "JSONEachRow");
	assert_int_equal(http_query_format("select 1 format `Native`;", format, sizeof(format)), 1);
	assert_string_equal(format, "Native");
	assert_int_equal(http_query_format("SELECT 'FORMAT JSON'", format, sizeof(format)), 0);
	assert_int_equal(http_query_format("SELECT formatRow('CSV', 1)", format, sizeof(format)),
			 0);
}

static void test_handshake_rewritten(void **state)
{
	const char *run;

	(void)state;
	run = http_query_rewrite("SELECT displayName(), version(), revision(), timezone()");
	assert_non_null(run);
	assert_non_null(strstr(run, "toUInt32(0) AS `revision()`"));
	assert_non_null(http_query_rewrite("\n SELECT displayName(), version(), revision(), "
					   "timezone() \n"));
	assert_null(http_query_rewrite("SELECT revision()"));
	assert_null(http_query_rewrite("SELECT displayName(), version(), revision(), timezone() "
				       "FROM t"));
}

static void test_handshake_native(void **state)
{
	static const unsigned char revision_zero[] = {
		4,   1, /* columns, rows */
		13,  'd', 'i', 's', 'p', 'l', 'a', 'y', 'N', 'a', 'm', 'e', '(',
		')', 6,	  'S', 't', 'r', 'i', 'n', 'g', 2,   'f', 'c', /* displayName() String "fc" */
		9,   'v', 'e', 'r', 's', 'i', 'o', 'n', '(', ')', 6,   'S', 't',
		'r', 'i', 'n', 'g', 3,	 '2', '6', '7', /* version() String "267" */
		10,  'r', 'e', 'v', 'i', 's', 'i', 'o', 'n', '(', ')', 6,   'U',
		'I', 'n', 't', '3', '2', 0,   0,   0,	0, /* revision() UInt32 0 */
		10,  't', 'i', 'm', 'e', 'z', 'o', 'n', 'e', '(', ')', 6,   'S',
		't', 'r', 'i', 'n', 'g', 3,   'U', 'T', 'C', /* timezone() String "UTC" */
	};
	char out[256];
	size_t len;

	(void)state;
	len = http_handshake_native(out, sizeof(out), 0, "fc", "267", "UTC");
	assert_int_equal(len, sizeof(revision_zero));
	assert_memory_equal(out, revision_zero, sizeof(revision_zero));
	/* a recent revision: block info first, and a zero flag after each column's type */
	len = http_handshake_native(out, sizeof(out), 54470, "fc", "267", "UTC");
	assert_int_equal(len, 8 + sizeof(revision_zero) + 4);
	assert_memory_equal(out, "\x01\x00\x02\xff\xff\xff\xff\x00\x04\x01", 10);
	assert_memory_equal(out + 10, revision_zero + 2, 14 + 7);
	assert_int_equal(out[10 + 21], 0);
	assert_int_equal(out[10 + 22], 2); /* the value "fc" follows the flag */
	/* 54453 is before the flags */
	assert_int_equal(http_handshake_native(out, sizeof(out), 54453, "fc", "267", "UTC"),
			 8 + sizeof(revision_zero));
	assert_int_equal(http_handshake_native(out, 20, 0, "fc", "267", "UTC"), 0);
}

static void test_param_kinds(void **state)
{
	(void)state;
	assert_int_equal(http_param_classify("query"), HTTP_PARAM_QUERY);
	assert_int_equal(http_param_classify("database"), HTTP_PARAM_DATABASE);
	assert_int_equal(http_param_classify("param_agent"), HTTP_PARAM_BOUND);
	assert_int_equal(http_param_classify("default_format"), HTTP_PARAM_FORMAT);
	assert_int_equal(http_param_classify("user"), HTTP_PARAM_CREDENTIAL);
	assert_int_equal(http_param_classify("password"), HTTP_PARAM_CREDENTIAL);
	assert_int_equal(http_param_classify("enable_http_compression"), HTTP_PARAM_COMPRESSION);
	assert_int_equal(http_param_classify("compress"), HTTP_PARAM_UNSUPPORTED);
	assert_int_equal(http_param_classify("session_id"), HTTP_PARAM_IGNORED);
	assert_int_equal(http_param_classify("client_protocol_version"), HTTP_PARAM_IGNORED);
	assert_int_equal(http_param_classify("readonly"), HTTP_PARAM_IGNORED);
	assert_int_equal(http_param_classify("max_execution_time"), HTTP_PARAM_LIMIT);
	assert_int_equal(http_param_classify("max_result_bytes"), HTTP_PARAM_LIMIT);
	assert_int_equal(http_param_classify("max_result_rows"), HTTP_PARAM_SETTING);
	assert_int_equal(http_param_classify("date_time_input_format"), HTTP_PARAM_SETTING);
}

static int setting(const char *name, const char *value, char *sql, size_t len)
{
	const struct http_limits limits = { .max_execution_time_s = 60, .max_result_bytes = 1000 };
	char err[256];

	return http_setting_statement(name, value, &limits, sql, len, err, sizeof(err));
}

static void test_setting_statements(void **state)
{
	char sql[256];

	(void)state;
	assert_int_equal(setting("max_result_rows", "10", sql, sizeof(sql)), 0);
	assert_string_equal(sql, "SET max_result_rows = '10'");
	assert_int_equal(setting("x", "it's \\ here", sql, sizeof(sql)), 0);
	assert_string_equal(sql, "SET x = 'it\\'s \\\\ here'");
	assert_int_equal(setting("bad name", "1", sql, sizeof(sql)), HTTP_CODE_BAD_ARGUMENTS);
	assert_int_equal(setting("a;DROP", "1", sql, sizeof(sql)), HTTP_CODE_BAD_ARGUMENTS);
	assert_int_equal(setting("", "1", sql, sizeof(sql)), HTTP_CODE_BAD_ARGUMENTS);
	/* limits may be lowered, never raised nor lifted */
	assert_int_equal(setting("max_execution_time", "5", sql, sizeof(sql)), 0);
	assert_string_equal(sql, "SET max_execution_time = '5'");
	assert_int_equal(setting("max_execution_time", "0.5", sql, sizeof(sql)), 0);
	assert_int_equal(setting("max_execution_time", "60", sql, sizeof(sql)), 0);
	assert_int_equal(setting("max_execution_time", "61", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("max_execution_time", "0", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("max_execution_time", "x", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("max_result_bytes", "999", sql, sizeof(sql)), 0);
	assert_int_equal(setting("max_result_bytes", "1001", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("max_result_bytes", "1e2", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("result_overflow_mode", "throw", sql, sizeof(sql)), 0);
	assert_string_equal(sql, "");
	assert_int_equal(setting("result_overflow_mode", "break", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("x", "1", sql, 8), HTTP_CODE_BAD_ARGUMENTS);
	assert_int_equal(setting("format_schema", "x.proto:M", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
	assert_int_equal(setting("output_format_schema", "/tmp/s", sql, sizeof(sql)),
			 HTTP_CODE_SETTING_CONSTRAINT_VIOLATION);
}

static int pick(const struct http_credentials *in, char *user, char *password)
{
	char err[256];

	return http_credentials_pick(in, user, 64, password, 64, err, sizeof(err));
}

static void test_credentials(void **state)
{
	char user[64], password[64];
	struct http_credentials in;

	(void)state;
	memset(&in, 0, sizeof(in));
	assert_int_equal(pick(&in, user, password), 0);
	assert_string_equal(user, "default");
	assert_string_equal(password, "");

	in = (struct http_credentials){ .header_user = "reader", .header_key = "pw" };
	assert_int_equal(pick(&in, user, password), 0);
	assert_string_equal(user, "reader");
	assert_string_equal(password, "pw");

	/* "reader:se:cret" */
	in = (struct http_credentials){ .authorization = "Basic cmVhZGVyOnNlOmNyZXQ=" };
	assert_int_equal(pick(&in, user, password), 0);
	assert_string_equal(user, "reader");
	assert_string_equal(password, "se:cret");

	in = (struct http_credentials){ .param_user = "u", .param_password = "p" };
	assert_int_equal(pick(&in, user, password), 0);
	assert_string_equal(user, "u");
	assert_string_equal(password, "p");

	/* two schemes at once, as ClickHouse refuses them */
	in = (struct http_credentials){ .header_user = "a", .param_password = "p" };
	assert_int_equal(pick(&in, user, password), HTTP_CODE_AUTHENTICATION_FAILED);
	in = (struct http_credentials){ .authorization = "Basic YTpi", .param_user = "a" };
	assert_int_equal(pick(&in, user, password), HTTP_CODE_AUTHENTICATION_FAILED);
	in = (struct http_credentials){ .authorization = "Bearer abc" };
	assert_int_equal(pick(&in, user, password), HTTP_CODE_AUTHENTICATION_FAILED);
	in = (struct http_credentials){ .authorization = "Basic !!!" };
	assert_int_equal(pick(&in, user, password), HTTP_CODE_AUTHENTICATION_FAILED);
	/* "nocolon" */
	in = (struct http_credentials){ .authorization = "Basic bm9jb2xvbg==" };
	assert_int_equal(pick(&in, user, password), HTTP_CODE_AUTHENTICATION_FAILED);

	assert_int_equal(http_credentials_match("reader", "pw", "reader", "pw"), 1);
	assert_int_equal(http_credentials_match("reader", "pwx", "reader", "pw"), 0);
	assert_int_equal(http_credentials_match("reader", "p", "reader", "pw"), 0);
	assert_int_equal(http_credentials_match("default", "pw", "reader", "pw"), 0);
	assert_int_equal(http_credentials_match("reader", "", "reader", ""), 1);
}

static void test_error_bodies_and_statuses(void **state)
{
	char body[512];
	size_t len;

	(void)state;
	len = http_error_format(body, sizeof(body), HTTP_CODE_READONLY, "no writes here",
				"26.7.2.1");
	assert_string_equal(body, "Code: 164. DB::Exception: no writes here. (READONLY) (version "
				  "26.7.2.1)\n");
	assert_int_equal(len, strlen(body));
	http_error_format(body, sizeof(body), 60,
			  "Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE)", "26.7.2.1");
	assert_string_equal(body, "Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE) "
				  "(version 26.7.2.1)\n");
	len = http_error_format(body, 16, HTTP_CODE_READONLY, "a long message", "1");
	assert_int_equal(len, 15);

	assert_int_equal(http_status_for_code(HTTP_CODE_SYNTAX_ERROR), 400);
	assert_int_equal(http_status_for_code(HTTP_CODE_UNKNOWN_TABLE), 404);
	assert_int_equal(http_status_for_code(115), 404);
	assert_int_equal(http_status_for_code(HTTP_CODE_AUTHENTICATION_FAILED), 403);
	assert_int_equal(http_status_for_code(194), 401);
	assert_int_equal(http_status_for_code(HTTP_CODE_READONLY), 500);
	assert_int_equal(http_status_for_code(HTTP_CODE_TOO_MANY_SIMULTANEOUS_QUERIES), 503);
	assert_int_equal(http_status_for_code(HTTP_CODE_NOT_IMPLEMENTED), 501);
	assert_int_equal(http_status_for_code(HTTP_CODE_TIMEOUT_EXCEEDED), 500);
}

static void test_log_text(void **state)
{
	char line[16];

	(void)state;
	http_query_log_text("SELECT\n\t1,\r\n  2  ", line, sizeof(line));
	assert_string_equal(line, "SELECT 1, 2");
	http_query_log_text("SELECT 123456789012345", line, sizeof(line));
	assert_string_equal(line, "SELECT 12345678");
	http_query_log_text("", line, sizeof(line));
	assert_string_equal(line, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_pass),
		cmocka_unit_test(test_writes_refused_as_readonly),
		cmocka_unit_test(test_multi_statements_and_empty),
		cmocka_unit_test(test_outside_functions_refused),
		cmocka_unit_test(test_limits_not_set_in_queries),
		cmocka_unit_test(test_format_clause),
		cmocka_unit_test(test_handshake_rewritten),
		cmocka_unit_test(test_handshake_native),
		cmocka_unit_test(test_param_kinds),
		cmocka_unit_test(test_setting_statements),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_error_bodies_and_statuses),
		cmocka_unit_test(test_log_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
