// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The read-only ClickHouse HTTP endpoint; see http_endpoint.h. First the decisions (pure),
 * then the server: libmicrohttpd with a thread per connection, and a pool of read-only
 * connections to the store, one per query under way.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <lz4frame.h>
#include <microhttpd.h>
#include <zlib.h>

#include "http_endpoint.h"
#include "kafka_conf.h"
#include "log.h"

#define HTTP_CODE_ABORTED	236
#define HTTP_CODE_ACCESS_DENIED 497
#define HTTP_CODE_STD_EXCEPTION 1001
#define HTTP_BODY_MAX		(16u << 20) /* a query, or a body decompressed */
#define HTTP_PARAMS_MAX		16	    /* query parameters, as store.c binds them */
#define HTTP_SETTINGS_MAX	64
#define HTTP_DISPLAY_NAME	"flowcollector"
#define HTTP_IDLE_TIMEOUT_S	300
/* a connection's URL and headers: a query in the URL up to ClickHouse's max_query_size */
#define HTTP_URL_MEMORY	     (512u << 10)
#define HTTP_LOG_QUERY_CHARS 200
#define HANDSHAKE_QUERY	     "SELECT displayName(), version(), revision(), timezone()"
#define HANDSHAKE_QUERY_REVISION \
	"SELECT displayName(), version(), toUInt32(0) AS `revision()`, timezone()"

/* --- the decisions --------------------------------------------------------------------------- */

static const struct {
	int code;
	const char *name;
} code_names[] = {
	{ HTTP_CODE_BAD_ARGUMENTS, "BAD_ARGUMENTS" },
	{ HTTP_CODE_NOT_IMPLEMENTED, "NOT_IMPLEMENTED" },
	{ HTTP_CODE_UNKNOWN_TABLE, "UNKNOWN_TABLE" },
	{ HTTP_CODE_SYNTAX_ERROR, "SYNTAX_ERROR" },
	{ HTTP_CODE_TIMEOUT_EXCEEDED, "TIMEOUT_EXCEEDED" },
	{ HTTP_CODE_READONLY, "READONLY" },
	{ HTTP_CODE_TOO_MANY_SIMULTANEOUS_QUERIES, "TOO_MANY_SIMULTANEOUS_QUERIES" },
	{ HTTP_CODE_TOO_MANY_ROWS_OR_BYTES, "TOO_MANY_ROWS_OR_BYTES" },
	{ HTTP_CODE_SETTING_CONSTRAINT_VIOLATION, "SETTING_CONSTRAINT_VIOLATION" },
	{ HTTP_CODE_ABORTED, "ABORTED" },
	{ HTTP_CODE_ACCESS_DENIED, "ACCESS_DENIED" },
	{ HTTP_CODE_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED" },
	{ HTTP_CODE_STD_EXCEPTION, "STD_EXCEPTION" },
};

static const char *code_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (code_names[i].code == code)
			return code_names[i].name;
	return "UNKNOWN_EXCEPTION";
}

/*
 * ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTPHandler.cpp) for the codes a read
 * can meet; the others are 500 there too. 202 is 503 here, so that a client retries later.
 */
unsigned int http_status_for_code(int code)
{
	static const int bad_request[] = { 6,  25, 26,	27,  36,  38,  41, 53,
					   62, 72, 117, 167, 168, 456, 457 };
	static const int not_found[] = { 46, 47, 50, 56, 60, 63, 73, 81, 115 };
	size_t i;

	if (code == 194) /* REQUIRED_PASSWORD */
		return 401;
	if (code == 192 || code == 193 || code == HTTP_CODE_AUTHENTICATION_FAILED ||
	    code == HTTP_CODE_ACCESS_DENIED)
		return 403;
	for (i = 0; i < sizeof(bad_request) / sizeof(bad_request[0]); i++)
		if (code == bad_request[i])
			return 400;
	for (i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++)
		if (code == not_found[i])
			return 404;
	if (code == HTTP_CODE_NOT_IMPLEMENTED)
		return 501;
	if (code == HTTP_CODE_TOO_MANY_SIMULTANEOUS_QUERIES)
		return 503;
	return 500;
}

/* A token of SQL, as far as the checks need: words, quoted text, and single characters. */
enum token_kind {
	TOKEN_END,
	TOKEN_WORD,	   /* a keyword or a bare name */
	TOKEN_QUOTED_NAME, /* "name" or `name` */
	TOKEN_STRING,	   /* 'text' or $tag$text$tag$ */
	TOKEN_NUMBER,
	TOKEN_PUNCT, /* one character */
};

struct token {
	enum token_kind kind;
	const char *start;
	size_t len;
};

/* Whitespace and comments: -- and # to the end of the line, nested slash-star blocks. */
static const char *skip_space(const char *p)
{
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if ((p[0] == '-' && p[1] == '-') || p[0] == '#') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 1;

			p += 2;
			while (*p && depth) {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					p += 2;
				} else if (p[0] == '*' && p[1] == '/') {
					depth--;
					p += 2;
				} else {
					p++;
				}
			}
		} else {
			return p;
		}
	}
}

/* Past a quoted run that began at p (its quote), with backslash escapes and doubled quotes. */
static const char *skip_quoted(const char *p)
{
	char quote = *p++;

	while (*p) {
		if (*p == '\\' && p[1]) {
			p += 2;
		} else if (*p == quote && p[1] == quote) {
			p += 2;
		} else if (*p == quote) {
			return p + 1;
		} else {
			p++;
		}
	}
	return p;
}

/* $tag$...$tag$ (a heredoc string), or NULL when p does not start one. */
static const char *skip_heredoc(const char *p)
{
	const char *tag_end = p + 1, *close;
	char tag[64];
	size_t tag_len;

	while (isalnum((unsigned char)*tag_end) || *tag_end == '_')
		tag_end++;
	if (*tag_end != '$')
		return NULL;
	tag_len = (size_t)(tag_end - p) + 1;
	if (tag_len >= sizeof(tag))
		return NULL;
	memcpy(tag, p, tag_len);
	tag[tag_len] = '\0';
	close = strstr(tag_end + 1, tag);
	return close ? close + tag_len : p + strlen(p);
}

static const char *next_token(const char *p, struct token *t)
{
	const char *end;

	p = skip_space(p);
	t->start = p;
	if (!*p) {
		t->kind = TOKEN_END;
		end = p;
	} else if (isalpha((unsigned char)*p) || *p == '_') {
		t->kind = TOKEN_WORD;
		for (end = p; isalnum((unsigned char)*end) || *end == '_' || *end == '$'; end++)
			;
	} else if (isdigit((unsigned char)*p)) {
		t->kind = TOKEN_NUMBER;
		for (end = p; isalnum((unsigned char)*end) || *end == '.' || *end == '_'; end++)
			;
	} else if (*p == '\'') {
		t->kind = TOKEN_STRING;
		end = skip_quoted(p);
	} else if (*p == '"' || *p == '`') {
		t->kind = TOKEN_QUOTED_NAME;
		end = skip_quoted(p);
	} else if (*p == '$' && (end = skip_heredoc(p))) {
		t->kind = TOKEN_STRING;
	} else {
		t->kind = TOKEN_PUNCT;
		end = p + 1;
	}
	t->len = (size_t)(end - p);
	return end;
}

/* The name a word or a quoted name stands for, without its quotes. */
static void token_name(const struct token *t, const char **name, size_t *len)
{
	*name = t->start;
	*len = t->len;
	if (t->kind == TOKEN_QUOTED_NAME && t->len >= 2) {
		(*name)++;
		*len -= 2;
	}
}

/* A word or quoted name equal to word, ignoring case. */
static int token_is(const struct token *t, const char *word)
{
	const char *name;
	size_t len;

	if (t->kind != TOKEN_WORD && t->kind != TOKEN_QUOTED_NAME)
		return 0;
	token_name(t, &name, &len);
	return len == strlen(word) && !strncasecmp(name, word, len);
}

static int token_is_punct(const struct token *t, char c)
{
	return t->kind == TOKEN_PUNCT && *t->start == c;
}

static int token_in(const struct token *t, const char *const *words, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (token_is(t, words[i]))
			return 1;
	return 0;
}

/* The statements that only read. */
static const char *const read_statements[] = { "SELECT",   "WITH",   "SHOW",   "DESC",
					       "DESCRIBE", "EXISTS", "EXPLAIN" };

/* The statements that write or change the server: refused as READONLY, not as a typo. */
static const char *const other_statements[] = {
	"INSERT", "CREATE", "DROP",	"ALTER",   "TRUNCATE", "RENAME", "OPTIMIZE", "SYSTEM",
	"KILL",	  "SET",    "USE",	"GRANT",   "REVOKE",   "ATTACH", "DETACH",   "EXCHANGE",
	"DELETE", "UPDATE", "UNDROP",	"BACKUP",  "RESTORE",  "CHECK",	 "WATCH",    "MOVE",
	"BEGIN",  "COMMIT", "ROLLBACK", "REPLACE", "UNDO",
};

/* Settings that hold the endpoint's limits: a query may not set them. */
static const char *const limit_settings[] = { "max_execution_time", "max_result_bytes",
					      "result_overflow_mode", "timeout_overflow_mode",
					      "readonly" };

/* Settings that name a file to read or write (format schemas and templates): never served. */
static const char *const file_settings[] = { "format_schema", "format_template_resultset",
					     "format_template_row", "output_format_schema" };

/*
 * Functions that read or write outside the store (files, URLs, other servers, programs): the
 * embedded engine runs with the collector's rights, so they would hand those out.
 */
static const char *const outside_functions[] = {
	"file",
	"fileCluster",
	"url",
	"urlCluster",
	"s3",
	"s3Cluster",
	"gcs",
	"oss",
	"cosn",
	"hdfs",
	"hdfsCluster",
	"hive",
	"remote",
	"remoteSecure",
	"cluster",
	"clusterAllReplicas",
	"mysql",
	"postgresql",
	"sqlite",
	"mongodb",
	"redis",
	"jdbc",
	"odbc",
	"executable",
	"input",
	"arrowFlight",
	"arrowflight",
	"ytsaurus",
	"prometheusQuery",
	"prometheusQueryRange",
};

/* Families of those with many members (icebergS3, deltaLakeCluster, ...). */
static const char *const outside_prefixes[] = { "iceberg", "deltaLake", "hudi", "paimon",
						"azureBlobStorage" };

static int token_is_outside_function(const struct token *t)
{
	const char *name;
	size_t len, i;

	if (token_in(t, outside_functions,
		     sizeof(outside_functions) / sizeof(outside_functions[0])))
		return 1;
	if (t->kind != TOKEN_WORD && t->kind != TOKEN_QUOTED_NAME)
		return 0;
	token_name(t, &name, &len);
	for (i = 0; i < sizeof(outside_prefixes) / sizeof(outside_prefixes[0]); i++)
		if (len >= strlen(outside_prefixes[i]) &&
		    !strncasecmp(name, outside_prefixes[i], strlen(outside_prefixes[i])))
			return 1;
	return 0;
}

int http_query_check(const char *sql, char *err, size_t err_len)
{
	struct token t, prev = { .kind = TOKEN_END };
	const char *p = next_token(sql, &t);
	int ended = 0;

	while (token_is_punct(&t, '('))
		p = next_token(p, &t);
	if (t.kind == TOKEN_END) {
		snprintf(err, err_len, "Empty query");
		return HTTP_CODE_SYNTAX_ERROR;
	}
	if (!token_in(&t, read_statements, sizeof(read_statements) / sizeof(read_statements[0])) &&
	    !token_in(&t, other_statements,
		      sizeof(other_statements) / sizeof(other_statements[0]))) {
		snprintf(err, err_len, "Syntax error: '%.*s' begins no statement",
			 (int)(t.len > 32 ? 32 : t.len), t.start);
		return HTTP_CODE_SYNTAX_ERROR;
	}
	if (!token_in(&t, read_statements, sizeof(read_statements) / sizeof(read_statements[0]))) {
		snprintf(err, err_len,
			 "flowcollector's HTTP endpoint is read-only: it runs SELECT, WITH, SHOW, "
			 "DESCRIBE, EXISTS and EXPLAIN, not %.*s",
			 (int)(t.len > 32 ? 32 : t.len), t.start);
		return HTTP_CODE_READONLY;
	}
	for (; t.kind != TOKEN_END; prev = t, p = next_token(p, &t)) {
		if (ended) {
			snprintf(err, err_len, "Multi-statements are not allowed");
			return HTTP_CODE_SYNTAX_ERROR;
		}
		if (token_is_punct(&t, ';')) {
			ended = 1;
		} else if (token_is_punct(&t, '(') && token_is_outside_function(&prev)) {
			snprintf(
				err, err_len,
				"flowcollector's HTTP endpoint reads the store only: %.*s() reaches "
				"outside it",
				(int)(prev.len > 64 ? 64 : prev.len), prev.start);
			return HTTP_CODE_ACCESS_DENIED;
		} else if (token_is(&t, "OUTFILE") && token_is(&prev, "INTO")) {
			snprintf(
				err, err_len,
				"flowcollector's HTTP endpoint is read-only: INTO OUTFILE writes a "
				"file");
			return HTTP_CODE_READONLY;
		} else if (token_is_punct(&t, '=') &&
			   token_in(&prev, file_settings,
				    sizeof(file_settings) / sizeof(file_settings[0]))) {
			snprintf(
				err, err_len,
				"Setting %.*s names a file: flowcollector's HTTP endpoint reads the "
				"store only",
				(int)(prev.len > 64 ? 64 : prev.len), prev.start);
			return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
		} else if (token_is_punct(&t, '=') &&
			   token_in(&prev, limit_settings,
				    sizeof(limit_settings) / sizeof(limit_settings[0]))) {
			snprintf(
				err, err_len,
				"Setting %.*s should not be changed in a query: it holds a limit of "
				"flowcollector's HTTP endpoint (give a lower one as a URL parameter)",
				(int)(prev.len > 64 ? 64 : prev.len), prev.start);
			return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
		}
	}
	return 0;
}

int http_query_format(const char *sql, char *format, size_t len)
{
	struct token t, prev = { .kind = TOKEN_END };
	const char *p = next_token(sql, &t), *name;
	size_t name_len;
	int found = 0;

	for (; t.kind != TOKEN_END; prev = t, p = next_token(p, &t)) {
		if (!token_is(&prev, "FORMAT") ||
		    (t.kind != TOKEN_WORD && t.kind != TOKEN_QUOTED_NAME))
			continue;
		token_name(&t, &name, &name_len);
		snprintf(format, len, "%.*s", (int)name_len, name);
		found = 1;
	}
	return found;
}

const char *http_query_rewrite(const char *sql)
{
	const char *p = skip_space(sql), *rest;

	if (strncmp(p, HANDSHAKE_QUERY, strlen(HANDSHAKE_QUERY)))
		return NULL;
	rest = skip_space(p + strlen(HANDSHAKE_QUERY));
	/* clickhouse-go asks for Native with default_format; a FORMAT clause is left alone */
	return *rest ? NULL : HANDSHAKE_QUERY_REVISION;
}

/* The revision from which each column of a Native block has a custom-serialization flag. */
#define REVISION_WITH_CUSTOM_SERIALIZATION 54454

struct native_writer {
	char *out;
	size_t len, used;
	int overflow;
};

static void native_bytes(struct native_writer *w, const void *data, size_t len)
{
	if (w->used + len > w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->out + w->used, data, len);
	w->used += len;
}

static void native_varuint(struct native_writer *w, uint64_t v)
{
	unsigned char byte;

	do {
		byte = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			byte |= 0x80;
		native_bytes(w, &byte, 1);
	} while (v);
}

static void native_string(struct native_writer *w, const char *s)
{
	native_varuint(w, strlen(s));
	native_bytes(w, s, strlen(s));
}

/* A column's name and type, and the flag that says it has no custom serialization. */
static void native_column(struct native_writer *w, uint64_t revision, const char *name,
			  const char *type)
{
	static const unsigned char no_custom_serialization;

	native_string(w, name);
	native_string(w, type);
	if (revision >= REVISION_WITH_CUSTOM_SERIALIZATION)
		native_bytes(w, &no_custom_serialization, 1);
}

size_t http_handshake_native(char *out, size_t len, uint64_t revision, const char *display_name,
			     const char *version, const char *timezone)
{
	/* field 1 is_overflows = 0, field 2 bucket_num = -1, end of fields */
	static const unsigned char block_info[] = { 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0 };
	static const unsigned char revision_zero[4] = { 0 };
	struct native_writer w = { .out = out, .len = len };

	if (revision > 0)
		native_bytes(&w, block_info, sizeof(block_info));
	native_varuint(&w, 4); /* columns */
	native_varuint(&w, 1); /* rows */
	native_column(&w, revision, "displayName()", "String");
	native_string(&w, display_name);
	native_column(&w, revision, "version()", "String");
	native_string(&w, version);
	native_column(&w, revision, "revision()", "UInt32");
	native_bytes(&w, revision_zero, sizeof(revision_zero));
	native_column(&w, revision, "timezone()", "String");
	native_string(&w, timezone);
	return w.overflow ? 0 : w.used;
}

enum http_param_kind http_param_classify(const char *name)
{
	static const char *const ignored[] = {
		"session_id",
		"session_timeout",
		"session_check",
		"query_id",
		"quota_key",
		"wait_end_of_query",
		"buffer_size",
		"client_protocol_version",
		"send_progress_in_http_headers",
		"http_headers_progress_interval_ms",
		"cancel_http_readonly_queries_on_client_close",
		"readonly", /* always read-only here; readonly=2 cannot be changed */
		"role",
		"stacktrace",
	};
	size_t i;

	if (!strcmp(name, "query"))
		return HTTP_PARAM_QUERY;
	if (!strcmp(name, "database"))
		return HTTP_PARAM_DATABASE;
	if (!strncmp(name, "param_", 6))
		return HTTP_PARAM_BOUND;
	if (!strcmp(name, "default_format"))
		return HTTP_PARAM_FORMAT;
	if (!strcmp(name, "user") || !strcmp(name, "password"))
		return HTTP_PARAM_CREDENTIAL;
	if (!strcmp(name, "enable_http_compression"))
		return HTTP_PARAM_COMPRESSION;
	if (!strcmp(name, "compress") || !strcmp(name, "decompress"))
		return HTTP_PARAM_UNSUPPORTED;
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (!strcmp(name, ignored[i]))
			return HTTP_PARAM_IGNORED;
	for (i = 0; i < sizeof(limit_settings) / sizeof(limit_settings[0]); i++)
		if (!strcmp(name, limit_settings[i]))
			return HTTP_PARAM_LIMIT;
	return HTTP_PARAM_SETTING;
}

/* value as a quoted SQL string into out; -ENOSPC when it does not fit. */
static int sql_quote(const char *value, char *out, size_t len)
{
	size_t used = 0;

	if (len < 3)
		return -ENOSPC;
	out[used++] = '\'';
	for (; *value; value++) {
		if (used + 4 > len)
			return -ENOSPC;
		if (*value == '\'' || *value == '\\')
			out[used++] = '\\';
		out[used++] = *value;
	}
	out[used++] = '\'';
	out[used] = '\0';
	return 0;
}

/* A positive number of at most max; 0 when it is not one. */
static int limit_lowered(const char *value, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	return !errno && end != value && !*end && v > 0 && v <= max;
}

int http_setting_statement(const char *name, const char *value, const struct http_limits *limits,
			   char *sql, size_t sql_len, char *err, size_t err_len)
{
	char quoted[1024];
	size_t i;

	sql[0] = '\0';
	if (!name[0] || name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789_")]) {
		snprintf(err, err_len, "'%.64s' is not a setting name", name);
		return HTTP_CODE_BAD_ARGUMENTS;
	}
	if (sql_quote(value, quoted, sizeof(quoted))) {
		snprintf(err, err_len, "the value of setting %s is longer than %zu bytes", name,
			 sizeof(quoted) - 3);
		return HTTP_CODE_BAD_ARGUMENTS;
	}
	for (i = 0; i < sizeof(file_settings) / sizeof(file_settings[0]); i++) {
		if (!strcmp(name, file_settings[i])) {
			snprintf(err, err_len,
				 "Setting %s names a file: flowcollector's HTTP endpoint reads the "
				 "store only",
				 name);
			return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
		}
	}
	if (http_param_classify(name) == HTTP_PARAM_LIMIT) {
		if (!strcmp(name, "result_overflow_mode") ||
		    !strcmp(name, "timeout_overflow_mode")) {
			if (strcmp(value, "throw")) {
				snprintf(err, err_len,
					 "Setting %s should be 'throw' on flowcollector's HTTP "
					 "endpoint",
					 name);
				return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
			}
			return 0; /* the endpoint sets it so */
		}
		if (!strcmp(name, "max_execution_time") &&
		    !limit_lowered(value, limits->max_execution_time_s)) {
			snprintf(err, err_len,
				 "Setting max_execution_time shouldn't be greater than %u "
				 "(--http-max-execution-time), nor 0",
				 limits->max_execution_time_s);
			return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
		}
		if (!strcmp(name, "max_result_bytes") &&
		    (strspn(value, "0123456789") != strlen(value) ||
		     !limit_lowered(value, (double)limits->max_result_bytes))) {
			snprintf(err, err_len,
				 "Setting max_result_bytes shouldn't be greater than %" PRIu64
				 " (--http-max-result-bytes), nor 0",
				 limits->max_result_bytes);
			return HTTP_CODE_SETTING_CONSTRAINT_VIOLATION;
		}
	}
	if ((size_t)snprintf(sql, sql_len, "SET %s = %s", name, quoted) >= sql_len) {
		snprintf(err, err_len, "setting %s is too long", name);
		return HTTP_CODE_BAD_ARGUMENTS;
	}
	return 0;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (padding optional) into out, NUL-terminated; -EINVAL when it is not. */
static int base64_decode(const char *in, char *out, size_t len)
{
	unsigned int bits = 0, count = 0;
	size_t used = 0;

	for (; *in && *in != '='; in++) {
		int v = base64_value(*in);

		if (v < 0)
			return -EINVAL;
		bits = (bits << 6) | (unsigned int)v;
		count += 6;
		if (count >= 8) {
			count -= 8;
			if (used + 1 >= len)
				return -ENOSPC;
			out[used++] = (char)((bits >> count) & 0xff);
		}
	}
	while (*in == '=')
		in++;
	if (*in)
		return -EINVAL;
	out[used] = '\0';
	return memchr(out, '\0', used) ? -EINVAL : 0;
}

static int credential_copy(const char *value, const char *fallback, char *out, size_t len)
{
	const char *v = value && *value ? value : fallback;

	return (size_t)snprintf(out, len, "%s", v) >= len ? -ENOSPC : 0;
}

int http_credentials_pick(const struct http_credentials *in, char *user, size_t user_len,
			  char *password, size_t password_len, char *err, size_t err_len)
{
	int by_header = (in->header_user && *in->header_user) ||
			(in->header_key && *in->header_key);
	int by_param = in->param_user || in->param_password;
	char decoded[1024], *colon;
	const char *scheme_end;

	if (by_header) {
		if (in->authorization || by_param) {
			snprintf(
				err, err_len,
				"Invalid authentication: it is not allowed to use X-ClickHouse HTTP "
				"headers and other authentication methods simultaneously");
			return HTTP_CODE_AUTHENTICATION_FAILED;
		}
		if (credential_copy(in->header_user, "default", user, user_len) ||
		    credential_copy(in->header_key, "", password, password_len))
			goto too_long;
		return 0;
	}
	if (in->authorization) {
		if (by_param) {
			snprintf(err, err_len,
				 "Invalid authentication: it is not allowed to use Authorization "
				 "HTTP header and authentication via parameters simultaneously");
			return HTTP_CODE_AUTHENTICATION_FAILED;
		}
		scheme_end = in->authorization + strcspn(in->authorization, " ");
		if ((size_t)(scheme_end - in->authorization) != 5 ||
		    strncasecmp(in->authorization, "Basic", 5)) {
			snprintf(err, err_len,
				 "Invalid authentication: '%.*s' HTTP Authorization scheme is not "
				 "supported",
				 (int)(scheme_end - in->authorization > 32 ?
					       32 :
					       scheme_end - in->authorization),
				 in->authorization);
			return HTTP_CODE_AUTHENTICATION_FAILED;
		}
		while (*scheme_end == ' ')
			scheme_end++;
		if (base64_decode(scheme_end, decoded, sizeof(decoded)) ||
		    !(colon = strchr(decoded, ':'))) {
			snprintf(err, err_len,
				 "Invalid authentication: malformed HTTP Basic "
				 "credentials");
			return HTTP_CODE_AUTHENTICATION_FAILED;
		}
		*colon = '\0';
		if (credential_copy(decoded, "default", user, user_len) ||
		    credential_copy(colon + 1, "", password, password_len))
			goto too_long;
		memset(decoded, 0, sizeof(decoded));
		return 0;
	}
	if (credential_copy(in->param_user, "default", user, user_len) ||
	    credential_copy(in->param_password, "", password, password_len))
		goto too_long;
	return 0;
too_long:
	snprintf(err, err_len, "Invalid authentication: the user or the password is too long");
	return HTTP_CODE_AUTHENTICATION_FAILED;
}

/* 1 when a equals b; the time taken depends on their lengths only. */
static int equal_in_constant_time(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb, i;
	unsigned char diff = la != lb;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)((i < la ? a[i] : 0) ^ (i < lb ? b[i] : 0));
	return diff == 0;
}

int http_credentials_match(const char *user, const char *password, const char *expected_user,
			   const char *expected_password)
{
	int user_ok = equal_in_constant_time(user, expected_user);
	int password_ok = equal_in_constant_time(password, expected_password);

	return user_ok & password_ok;
}

size_t http_error_format(char *out, size_t len, int code, const char *message, const char *version)
{
	int n;

	if (!strncmp(message, "Code: ", 6))
		n = strstr(message, "(version ") ?
			    snprintf(out, len, "%s\n", message) :
			    snprintf(out, len, "%s (version %s)\n", message, version);
	else
		n = snprintf(out, len, "Code: %d. DB::Exception: %s. (%s) (version %s)\n", code,
			     message, code_name(code), version);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

void http_query_log_text(const char *sql, char *out, size_t len)
{
	size_t used = 0;
	int space = 0;

	if (!len)
		return;
	for (; *sql && used + 1 < len; sql++) {
		unsigned char c = (unsigned char)*sql;

		if (c < ' ' || c == 0x7f || c == ' ') {
			/* runs of whitespace as one space: a query on one line */
			if (!space && used)
				out[used++] = ' ';
			space = 1;
			continue;
		}
		space = 0;
		out[used++] = (char)c;
	}
	while (used && out[used - 1] == ' ')
		used--;
	out[used] = '\0';
}

/* --- the server ------------------------------------------------------------------------------ */

struct reader {
	struct store *store;
	int busy;
};

struct http_endpoint {
	struct MHD_Daemon *daemon;
	struct store *writer; /* to open a reader again */
	struct http_limits limits;
	uint32_t max_concurrent;
	char *user;
	char *password;
	char version[64];
	char timezone[64];
	http_page_fn pages;
	void *pages_ctx;
	pthread_mutex_t lock;
	unsigned int active; /* requests begun and not yet answered */
	int stopping;	     /* new requests are turned away */
	struct reader readers[HTTP_MAX_CONCURRENT_LIMIT];
};

/* A request while its body arrives. */
struct request {
	char *body;
	size_t len, cap;
	int too_large;
	int turned_away; /* begun while the endpoint stops */
};

/* What a request asks, gathered from its URL parameters. */
struct request_params {
	const char *query;
	const char *database;
	const char *format;
	const char *user, *password;
	const char *query_id;
	uint64_t client_revision; /* client_protocol_version */
	int compression;
	const char *unsupported; /* compress=1 or decompress=1 */
	struct store_param bound[HTTP_PARAMS_MAX];
	size_t bound_count;
	const char *settings[HTTP_SETTINGS_MAX][2];
	size_t setting_count;
	int too_many;
};

static enum MHD_Result param_seen(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct request_params *p = cls;

	(void)kind;
	value = value ? value : "";
	switch (http_param_classify(key)) {
	case HTTP_PARAM_QUERY:
		p->query = value;
		break;
	case HTTP_PARAM_DATABASE:
		p->database = value;
		break;
	case HTTP_PARAM_BOUND:
		if (p->bound_count == HTTP_PARAMS_MAX) {
			p->too_many = 1;
			break;
		}
		p->bound[p->bound_count].name = key + 6;
		p->bound[p->bound_count++].value = value;
		break;
	case HTTP_PARAM_FORMAT:
		p->format = value;
		break;
	case HTTP_PARAM_CREDENTIAL:
		if (!strcmp(key, "user"))
			p->user = value;
		else
			p->password = value;
		break;
	case HTTP_PARAM_COMPRESSION:
		p->compression = !strcmp(value, "1") || !strcasecmp(value, "true");
		break;
	case HTTP_PARAM_UNSUPPORTED:
		if (strcmp(value, "0") && strcasecmp(value, "false"))
			p->unsupported = key;
		break;
	case HTTP_PARAM_IGNORED:
		if (!strcmp(key, "query_id"))
			p->query_id = value;
		if (!strcmp(key, "client_protocol_version"))
			p->client_revision = strtoull(value, NULL, 10);
		break;
	case HTTP_PARAM_SETTING:
	case HTTP_PARAM_LIMIT:
		if (p->setting_count == HTTP_SETTINGS_MAX) {
			p->too_many = 1;
			break;
		}
		p->settings[p->setting_count][0] = key;
		p->settings[p->setting_count++][1] = value;
		break;
	}
	return MHD_YES;
}

/* A random UUID (version 4), the query id ClickHouse gives a query that has none. */
static void uuid_make(char *out, size_t len)
{
	unsigned char b[16] = { 0 };

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		memcpy(b, &now, sizeof(now) < sizeof(b) ? sizeof(now) : sizeof(b));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static const char *content_type_for(const char *format)
{
	if (!strncasecmp(format, "JSON", 4))
		return "application/json; charset=UTF-8";
	if (!strncasecmp(format, "TabSeparated", 12) || !strncasecmp(format, "TSV", 3))
		return "text/tab-separated-values; charset=UTF-8";
	if (!strncasecmp(format, "CSV", 3))
		return "text/csv; charset=UTF-8; header=absent";
	if (!strcasecmp(format, "Native") || !strncasecmp(format, "RowBinary", 9) ||
	    !strcasecmp(format, "Arrow") || !strcasecmp(format, "Parquet"))
		return "application/octet-stream";
	return "text/plain; charset=UTF-8";
}

/* The response to a failed request, in ClickHouse's words; frees nothing of the caller's. */
static enum MHD_Result respond_error(struct http_endpoint *e, struct MHD_Connection *connection,
				     int code, const char *message, const char *query_id)
{
	struct MHD_Response *response;
	char code_text[16], *body = malloc(8192);
	enum MHD_Result ret;
	size_t len;

	if (!body)
		return MHD_NO;
	len = http_error_format(body, 8192, code, message, e->version);
	response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!response) {
		free(body);
		return MHD_NO;
	}
	snprintf(code_text, sizeof(code_text), "%d", code);
	MHD_add_response_header(response, "Content-Type", "text/plain; charset=UTF-8");
	MHD_add_response_header(response, "X-ClickHouse-Server-Display-Name", HTTP_DISPLAY_NAME);
	MHD_add_response_header(response, "X-ClickHouse-Exception-Code", code_text);
	if (query_id)
		MHD_add_response_header(response, "X-ClickHouse-Query-Id", query_id);
	ret = MHD_queue_response(connection, http_status_for_code(code), response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *connection, unsigned int status,
				    const char *text)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!response)
		return MHD_NO;
	MHD_add_response_header(response, "Content-Type", "text/plain; charset=UTF-8");
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return ret;
}

/* 405, with the methods there are (RFC 9110 wants them named) */
static enum MHD_Result respond_not_allowed(struct MHD_Connection *connection)
{
	static const char text[] = "flowcollector's HTTP endpoint answers GET, HEAD and POST\n";
	struct MHD_Response *response = MHD_create_response_from_buffer(
		sizeof(text) - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!response)
		return MHD_NO;
	MHD_add_response_header(response, "Content-Type", "text/plain; charset=UTF-8");
	MHD_add_response_header(response, "Allow", "GET, HEAD, POST");
	ret = MHD_queue_response(connection, MHD_HTTP_METHOD_NOT_ALLOWED, response);
	MHD_destroy_response(response);
	return ret;
}

/* A free reader, marked busy; NULL when every one is (the concurrency limit). */
static struct reader *reader_take(struct http_endpoint *e)
{
	struct reader *taken = NULL;
	uint32_t i;

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->max_concurrent && !taken; i++)
		if (!e->readers[i].busy && e->readers[i].store)
			taken = &e->readers[i];
	if (taken)
		taken->busy = 1;
	pthread_mutex_unlock(&e->lock);
	return taken;
}

/*
 * Gives a reader back. One whose settings could not be reset is replaced by a new
 * connection, so that no request inherits another's settings.
 */
static void reader_give_back(struct http_endpoint *e, struct reader *r, int tainted)
{
	char err[512];

	if (tainted) {
		store_close(r->store);
		r->store = NULL;
		if (store_open_reader(e->writer, &r->store, err, sizeof(err)))
			pr_warn("http: a read-only connection is lost: %s\n", err);
	}
	pthread_mutex_lock(&e->lock);
	r->busy = 0;
	pthread_mutex_unlock(&e->lock);
}

/* The body decompressed (gzip or zlib) into *out, at most HTTP_BODY_MAX bytes. */
static int inflate_body(const char *in, size_t in_len, char **out, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap = in_len * 4 + 1024;
	char *buffer = NULL, *grown;
	int ret, status = 0;

	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	do {
		if (cap > HTTP_BODY_MAX + 1)
			cap = HTTP_BODY_MAX + 1;
		grown = realloc(buffer, cap + 1);
		if (!grown) {
			status = -ENOMEM;
			break;
		}
		buffer = grown;
		z.next_out = (Bytef *)buffer + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		ret = inflate(&z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			status = -EINVAL;
			break;
		}
		if (z.avail_out && !z.avail_in) {
			status = -EINVAL; /* cut short */
			break;
		}
		if (z.total_out >= HTTP_BODY_MAX) {
			status = -E2BIG;
			break;
		}
		cap *= 2;
	} while (1);
	if (!status) {
		buffer[z.total_out] = '\0';
		*out = buffer;
		*out_len = z.total_out;
	} else {
		free(buffer);
	}
	inflateEnd(&z);
	return status;
}

/* The body decompressed from an LZ4 frame (clickhouse-connect's inserts) into *out. */
static int lz4_body(const char *in, size_t in_len, char **out, size_t *out_len)
{
	size_t cap = in_len * 4 + 1024, used = 0, pos = 0, hint = 1;
	LZ4F_dctx *dctx = NULL;
	char *buffer = NULL, *grown;
	int status = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return -ENOMEM;
	while (pos < in_len && hint) {
		size_t dst, src;

		if (!buffer || used == cap) {
			cap = buffer ? cap * 2 : cap;
			if (cap > HTTP_BODY_MAX + 1)
				cap = HTTP_BODY_MAX + 1;
			if (used == cap) {
				status = -E2BIG;
				break;
			}
			grown = realloc(buffer, cap + 1);
			if (!grown) {
				status = -ENOMEM;
				break;
			}
			buffer = grown;
		}
		dst = cap - used;
		src = in_len - pos;
		hint = LZ4F_decompress(dctx, buffer + used, &dst, in + pos, &src, NULL);
		if (LZ4F_isError(hint)) {
			status = -EINVAL;
			break;
		}
		used += dst;
		pos += src;
	}
	if (!status && hint)
		status = -EINVAL; /* the frame was cut short */
	LZ4F_freeDecompressionContext(dctx);
	if (status) {
		free(buffer);
		return status;
	}
	if (!buffer)
		buffer = malloc(1);
	if (!buffer)
		return -ENOMEM;
	buffer[used] = '\0';
	*out = buffer;
	*out_len = used;
	return 0;
}

/* data gzip-compressed into a new buffer. */
static int gzip_buffer(const char *data, size_t len, char **out, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap;
	char *buffer;

	/* level 3: ClickHouse's http_zlib_compression_level */
	if (deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong)len) + 64;
	buffer = malloc(cap);
	if (!buffer) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buffer;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		free(buffer);
		deflateEnd(&z);
		return -EIO;
	}
	*out = buffer;
	*out_len = z.total_out;
	deflateEnd(&z);
	return 0;
}

/* The code of the reader's last failure, for one it did not name. */
static int failure_code(const struct store *reader)
{
	int code = store_last_exception_code(reader);

	return code ? code : HTTP_CODE_STD_EXCEPTION;
}

/* ClickHouse's message without the "ClickHouse: " store.c puts before it. */
static const char *store_message(const char *err)
{
	const char *code = strstr(err, "Code: ");

	return code ? code : err;
}

/*
 * The request's query: the query parameter, a newline, then the body (decompressed). An
 * INSERT's data may follow it in the body: *sql is NUL-terminated, and *len says how much
 * there is, NUL bytes included.
 */
static int query_assemble(struct MHD_Connection *connection, const struct request *req,
			  const char *param_query, char **sql, size_t *len, char *err,
			  size_t err_len)
{
	const char *encoding =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Encoding");
	char *body = req->body, *decoded = NULL;
	size_t body_len = req->len, param_len = param_query ? strlen(param_query) : 0;
	int ret;

	if (req->too_large) {
		snprintf(err, err_len, "the request body is larger than %u bytes", HTTP_BODY_MAX);
		return HTTP_CODE_BAD_ARGUMENTS;
	}
	if (body_len && encoding && *encoding && strcasecmp(encoding, "identity")) {
		if (!strcasecmp(encoding, "lz4")) {
			ret = lz4_body(body, body_len, &decoded, &body_len);
		} else if (!strcasecmp(encoding, "gzip") || !strcasecmp(encoding, "deflate") ||
			   !strcasecmp(encoding, "x-gzip")) {
			ret = inflate_body(body, body_len, &decoded, &body_len);
		} else {
			snprintf(err, err_len,
				 "Content-Encoding %.32s is not served: send gzip, deflate, lz4 or "
				 "none",
				 encoding);
			return HTTP_CODE_NOT_IMPLEMENTED;
		}
		if (ret) {
			snprintf(err, err_len, "the request body is not valid %s%s", encoding,
				 ret == -E2BIG ? " or inflates beyond 16 MiB" : "");
			return ret == -ENOMEM ? HTTP_CODE_STD_EXCEPTION : HTTP_CODE_BAD_ARGUMENTS;
		}
		body = decoded;
	}
	*sql = malloc(param_len + 1 + body_len + 1);
	if (!*sql) {
		free(decoded);
		snprintf(err, err_len, "out of memory");
		return HTTP_CODE_STD_EXCEPTION;
	}
	memcpy(*sql, param_query ? param_query : "", param_len);
	if (param_len && body_len)
		(*sql)[param_len++] = '\n';
	if (body_len)
		memcpy(*sql + param_len, body, body_len);
	(*sql)[param_len + body_len] = '\0';
	*len = param_len + body_len;
	free(decoded);
	return 0;
}

/* The result, what the query log and the summary say of it. */
struct query_outcome {
	char *result;
	size_t len;
	struct store_stats stats;
	int code;
	char err[4096];
};

/*
 * Runs sql on the reader with the request's database and settings, the limits set after
 * the client's settings cannot be, then resets what it changed. Returns 1 when the reader
 * could not be reset.
 */
static int query_run(struct http_endpoint *e, struct store *reader, const struct request_params *p,
		     const char *sql, const char *format, struct query_outcome *out)
{
	char statement[1400], limits[256], reset[256];
	size_t i, set = 0;
	int tainted = 0, code;

	out->code = 0;
	snprintf(limits, sizeof(limits),
		 "SET max_execution_time = %u, max_result_bytes = %" PRIu64
		 ", result_overflow_mode = 'throw', timeout_overflow_mode = 'throw'",
		 e->limits.max_execution_time_s, e->limits.max_result_bytes);
	if (store_exec(reader, limits, out->err, sizeof(out->err))) {
		out->code = failure_code(reader);
		return 1;
	}
	if (p->database && *p->database) {
		char quoted[300];

		if (p->database[strspn(p->database, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
						    "TUVWXYZ0123456789_")] ||
		    strlen(p->database) > 200) {
			snprintf(out->err, sizeof(out->err), "'%.64s' is not a database name",
				 p->database);
			out->code = HTTP_CODE_BAD_ARGUMENTS;
			return 0;
		}
		snprintf(quoted, sizeof(quoted), "USE `%s`", p->database);
		if (store_exec(reader, quoted, out->err, sizeof(out->err))) {
			out->code = failure_code(reader);
			goto reset;
		}
	}
	for (i = 0; i < p->setting_count; i++) {
		code = http_setting_statement(p->settings[i][0], p->settings[i][1], &e->limits,
					      statement, sizeof(statement), out->err,
					      sizeof(out->err));
		if (code) {
			out->code = code;
			goto reset;
		}
		if (!statement[0])
			continue;
		if (store_exec(reader, statement, out->err, sizeof(out->err))) {
			out->code = failure_code(reader);
			goto reset;
		}
		set = i + 1; /* the settings before i + 1 are to be reset */
	}
	if (store_query_params(reader, sql, p->bound, p->bound_count, format, &out->result,
			       &out->len, out->err, sizeof(out->err)))
		out->code = failure_code(reader);
	store_last_stats(reader, &out->stats);
reset:
	for (i = 0; i < set; i++) {
		/* a limit is set again by the next request; a setting with no SET was not set */
		if (http_param_classify(p->settings[i][0]) == HTTP_PARAM_LIMIT)
			continue;
		snprintf(reset, sizeof(reset), "SET %s = DEFAULT", p->settings[i][0]);
		if (store_exec(reader, reset, statement, sizeof(statement)))
			tainted = 1;
	}
	if (p->database && *p->database &&
	    store_exec(reader, "USE default", statement, sizeof(statement)))
		tainted = 1;
	return tainted;
}

static void query_log(const char *user, const char *query_id, const char *sql,
		      const struct query_outcome *out, size_t sent, uint64_t ms)
{
	char line[HTTP_LOG_QUERY_CHARS + 1];

	http_query_log_text(sql ? sql : "", line, sizeof(line));
	pr_info("http: user %s query %s: code %d, %" PRIu64 " ms, %" PRIu64 " rows read, %" PRIu64
		" rows and %zu bytes sent: %s\n",
		user, query_id, out->code, ms, out->stats.rows_read, out->stats.result_rows, sent,
		line);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A query request, once its body is in. */
static enum MHD_Result query_answer(struct http_endpoint *e, struct MHD_Connection *connection,
				    struct request *req)
{
	struct request_params p = { 0 };
	struct http_credentials credentials = { 0 };
	struct query_outcome *out = calloc(1, sizeof(*out));
	char user[256] = "default", password[256] = "", query_id[128], format[64], summary[512];
	const char *header_id, *accept, *run;
	struct reader *reader = NULL;
	struct MHD_Response *response;
	uint64_t started = now_ms();
	enum MHD_Result ret;
	char *sql = NULL, *zipped = NULL;
	size_t zipped_len = 0, sql_len = 0, result_len = 0;
	int code = 0, gzip = 0;

	if (!out)
		return MHD_NO;
	MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, param_seen, &p);
	header_id =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-ClickHouse-Query-Id");
	snprintf(query_id, sizeof(query_id), "%s",
		 p.query_id && *p.query_id ? p.query_id :
		 header_id		   ? header_id :
					     "");
	if (!query_id[0])
		uuid_make(query_id, sizeof(query_id));

	credentials.header_user =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-ClickHouse-User");
	credentials.header_key =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-ClickHouse-Key");
	credentials.authorization =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
	credentials.param_user = p.user;
	credentials.param_password = p.password;
	code = http_credentials_pick(&credentials, user, sizeof(user), password, sizeof(password),
				     out->err, sizeof(out->err));
	if (!code && e->user && !http_credentials_match(user, password, e->user, e->password)) {
		snprintf(out->err, sizeof(out->err),
			 "%s: Authentication failed: password is incorrect, or there is no user "
			 "with such name",
			 user);
		code = HTTP_CODE_AUTHENTICATION_FAILED;
	}
	memset(password, 0, sizeof(password));
	if (code)
		goto failed;
	if (p.unsupported) {
		snprintf(out->err, sizeof(out->err),
			 "%s=1 (ClickHouse's own compression) is not served: use "
			 "enable_http_compression=1 with Accept-Encoding: gzip",
			 p.unsupported);
		code = HTTP_CODE_NOT_IMPLEMENTED;
		goto failed;
	}
	if (p.too_many) {
		snprintf(out->err, sizeof(out->err),
			 "more than %d query parameters or %d settings in one request",
			 HTTP_PARAMS_MAX, HTTP_SETTINGS_MAX);
		code = HTTP_CODE_BAD_ARGUMENTS;
		goto failed;
	}
	/* an INSERT's data is not even read: the statement in the URL says enough */
	if (p.query && *p.query &&
	    http_query_check(p.query, out->err, sizeof(out->err)) == HTTP_CODE_READONLY) {
		code = HTTP_CODE_READONLY;
		goto failed;
	}
	code = query_assemble(connection, req, p.query, &sql, &sql_len, out->err, sizeof(out->err));
	if (!code)
		code = http_query_check(sql, out->err, sizeof(out->err));
	/* checked up to a NUL byte: what follows cannot be a query's text */
	if (!code && strlen(sql) != sql_len) {
		snprintf(out->err, sizeof(out->err), "the query has a NUL byte");
		code = HTTP_CODE_SYNTAX_ERROR;
	}
	if (code)
		goto failed;
	if (!http_query_format(sql, format, sizeof(format)))
		snprintf(format, sizeof(format), "%s",
			 p.format && *p.format ? p.format : "TabSeparated");
	run = http_query_rewrite(sql);
	if (run && !strcmp(format, "Native")) {
		/* clickhouse-go's hello, in the layout its revision reads: no store needed */
		out->result = malloc(1024);
		out->len = out->result ? http_handshake_native(out->result, 1024, p.client_revision,
							       HTTP_DISPLAY_NAME, e->version,
							       e->timezone) :
					 0;
		if (!out->len) {
			snprintf(out->err, sizeof(out->err), "out of memory");
			code = HTTP_CODE_STD_EXCEPTION;
			goto failed;
		}
		goto answer;
	}
	reader = reader_take(e);
	if (!reader) {
		snprintf(out->err, sizeof(out->err),
			 "Too many simultaneous queries. Maximum: %u (--http-max-concurrent)",
			 e->max_concurrent);
		code = HTTP_CODE_TOO_MANY_SIMULTANEOUS_QUERIES;
		goto failed;
	}
	reader_give_back(e, reader, query_run(e, reader->store, &p, run ? run : sql, format, out));
	code = out->code;
	if (!code && out->len > e->limits.max_result_bytes) {
		snprintf(out->err, sizeof(out->err),
			 "Limit for result exceeded: the result is %zu bytes, more than %" PRIu64
			 " (--http-max-result-bytes)",
			 out->len, e->limits.max_result_bytes);
		code = out->code = HTTP_CODE_TOO_MANY_ROWS_OR_BYTES;
	}
	if (code)
		goto failed;
answer:
	result_len = out->len;
	accept = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept-Encoding");
	gzip = p.compression && accept && strcasestr(accept, "gzip");
	if (gzip && gzip_buffer(out->result, out->len, &zipped, &zipped_len)) {
		snprintf(out->err, sizeof(out->err), "compressing the result failed");
		code = out->code = HTTP_CODE_STD_EXCEPTION;
		goto failed;
	}
	if (gzip) {
		free(out->result);
		out->result = zipped;
		out->len = zipped_len;
	}
	response = MHD_create_response_from_buffer(out->len, out->result, MHD_RESPMEM_MUST_FREE);
	if (!response) {
		free(out->result);
		free(sql);
		free(out);
		return MHD_NO;
	}
	out->result = NULL;
	snprintf(
		summary, sizeof(summary),
		"{\"read_rows\":\"%" PRIu64 "\",\"read_bytes\":\"%" PRIu64
		"\",\"written_rows\":\"0\",\"written_bytes\":\"0\",\"total_rows_to_read\":\"%" PRIu64
		"\",\"result_rows\":\"%" PRIu64
		"\",\"result_bytes\":\"%zu\",\"elapsed_ns\":\"%" PRIu64 "\"}",
		out->stats.rows_read, out->stats.bytes_read, out->stats.rows_read,
		out->stats.result_rows, result_len, (uint64_t)(out->stats.elapsed_s * 1e9));
	MHD_add_response_header(response, "Content-Type", content_type_for(format));
	if (gzip)
		MHD_add_response_header(response, "Content-Encoding", "gzip");
	MHD_add_response_header(response, "X-ClickHouse-Server-Display-Name", HTTP_DISPLAY_NAME);
	MHD_add_response_header(response, "X-ClickHouse-Query-Id", query_id);
	MHD_add_response_header(response, "X-ClickHouse-Format", format);
	MHD_add_response_header(response, "X-ClickHouse-Timezone", e->timezone);
	MHD_add_response_header(response, "X-ClickHouse-Summary", summary);
	query_log(user, query_id, sql, out, out->len, now_ms() - started);
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	free(sql);
	free(out);
	return ret;

failed:
	out->code = code;
	query_log(user, query_id, sql ? sql : p.query, out, 0, now_ms() - started);
	ret = respond_error(e, connection, code, store_message(out->err), query_id);
	free(out->result);
	free(sql);
	free(out);
	return ret;
}

/* --- pages besides the ClickHouse interface (http_page_fn) ----------------------------------- */

/* GET / from a browser: it accepts HTML and sends no query (clients send one, or ask /ping) */
static int browser_without_query(struct MHD_Connection *connection, const struct request *req)
{
	const char *accept = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept");

	return !req->len && accept && strstr(accept, "text/html") &&
	       !MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "query");
}

static const char *page_param(const struct http_page_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result page_respond(struct MHD_Connection *connection, unsigned int status,
				    const char *content_type, char *body, size_t len)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!response) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, "Content-Type", content_type);
	MHD_add_response_header(response, "Cache-Control", "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(response, "Allow", "GET, HEAD");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(response, "WWW-Authenticate",
					"Basic realm=\"flowcollector\", charset=\"UTF-8\"");
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result page_refuse(struct MHD_Connection *connection, unsigned int status,
				   const char *message)
{
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);

	if (!out)
		return MHD_NO;
	fputs("{\"error\":\"", out);
	for (; *message; message++)
		if (*message == '"' || *message == '\\')
			fprintf(out, "\\%c", *message);
		else if ((unsigned char)*message >= 0x20)
			fputc(*message, out);
	fputs("\"}\n", out);
	if (fclose(out)) {
		free(body);
		return MHD_NO;
	}
	return page_respond(connection, status, "application/json", body, len);
}

static enum MHD_Result page_answer(struct http_endpoint *e, struct MHD_Connection *connection,
				   const char *url)
{
	struct http_page_request request = { .url = url,
					     .param = page_param,
					     .connection = connection };
	struct http_credentials credentials = { 0 };
	char user[256] = "default", password[256] = "", why[512];
	struct http_page page = { 0 };
	uint64_t started = now_ms();
	struct reader *reader;
	int code;

	credentials.header_user =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-ClickHouse-User");
	credentials.header_key =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-ClickHouse-Key");
	credentials.authorization =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
	credentials.param_user = page_param(&request, "user");
	credentials.param_password = page_param(&request, "password");
	code = http_credentials_pick(&credentials, user, sizeof(user), password, sizeof(password),
				     why, sizeof(why));
	if (!code && e->user && !http_credentials_match(user, password, e->user, e->password))
		code = HTTP_CODE_AUTHENTICATION_FAILED;
	memset(password, 0, sizeof(password));
	if (code) {
		pr_info("http: %s %s refused: no valid credentials\n", user, url);
		return page_refuse(connection, MHD_HTTP_UNAUTHORIZED,
				   "authentication failed: the user and password of "
				   "--http-user and --http-password-file");
	}
	reader = reader_take(e);
	if (!reader)
		return page_refuse(connection, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "too many simultaneous requests (--http-max-concurrent)");
	e->pages(e->pages_ctx, reader->store, &request, &page);
	reader_give_back(e, reader, 0);
	pr_info("http: %s GET %.200s: %u, %zu bytes, %" PRIu64 " ms\n", user, url,
		page.status ? page.status : 200, page.len, now_ms() - started);
	if (!page.body)
		return page_refuse(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return page_respond(connection, page.status ? page.status : MHD_HTTP_OK,
			    page.content_type ? page.content_type : "application/json", page.body,
			    page.len);
}

static enum MHD_Result endpoint_answer(void *cls, struct MHD_Connection *connection,
				       const char *url, const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **req_cls)
{
	struct http_endpoint *e = cls;
	struct request *req = *req_cls;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*req_cls = req;
		pthread_mutex_lock(&e->lock);
		e->active++;
		req->turned_away = e->stopping;
		pthread_mutex_unlock(&e->lock);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (req->len + n > HTTP_BODY_MAX) {
			req->too_large = 1;
		} else {
			if (req->len + n + 1 > req->cap) {
				size_t cap = (req->len + n + 1) * 2;
				char *grown = realloc(req->body, cap);

				if (!grown)
					return MHD_NO;
				req->body = grown;
				req->cap = cap;
			}
			memcpy(req->body + req->len, upload_data, n);
			req->len += n;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->turned_away)
		return respond_error(e, connection, HTTP_CODE_ABORTED,
				     "flowcollector is stopping: the query was not run", NULL);
	if (e->pages && strcmp(url, "/ping") && strcmp(url, "/replicas_status") &&
	    (strcmp(url, "/") || browser_without_query(connection, req))) {
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return page_refuse(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
					   "these pages answer GET and HEAD");
		return page_answer(e, connection, strcmp(url, "/") ? url : "/report");
	}
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "HEAD"))
		return respond_not_allowed(connection);
	if (!strcmp(url, "/ping") || !strcmp(url, "/replicas_status"))
		return respond_text(connection, MHD_HTTP_OK, "Ok.\n");
	if (strcmp(url, "/")) {
		char text[512];

		snprintf(text, sizeof(text),
			 "There is no handle %.200s\n\nUse / or /ping for health checks.\n", url);
		return respond_text(connection, MHD_HTTP_NOT_FOUND, text);
	}
	if (!req->len && !req->too_large &&
	    !MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "query"))
		return respond_text(connection, MHD_HTTP_OK, "Ok.\n");
	return query_answer(e, connection, req);
}

static void request_done(void *cls, struct MHD_Connection *connection, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_endpoint *e = cls;
	struct request *req = *req_cls;

	(void)connection;
	(void)toe;
	if (!req)
		return;
	pthread_mutex_lock(&e->lock);
	e->active--;
	pthread_mutex_unlock(&e->lock);
	free(req->body);
	free(req);
	*req_cls = NULL;
}

/* The password: the first line of a file only its owner may read (kafka_conf.h's rule). */
static int password_read(const char *path, char **password, char *err, size_t err_len)
{
	char line[1024], why[512];
	FILE *file = fopen(path, "re");

	if (!file) {
		snprintf(err, err_len, "--http-password-file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (secret_file_check(fileno(file), path, why, sizeof(why))) {
		snprintf(err, err_len, "--http-password-file refused: %s", why);
		fclose(file);
		return -EPERM;
	}
	if (!fgets(line, sizeof(line), file))
		line[0] = '\0';
	fclose(file);
	line[strcspn(line, "\r\n")] = '\0';
	*password = strdup(line);
	memset(line, 0, sizeof(line));
	return *password ? 0 : -ENOMEM;
}

static int address_is_loopback(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
}

static unsigned int address_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

static void endpoint_free(struct http_endpoint *e)
{
	uint32_t i;

	for (i = 0; i < HTTP_MAX_CONCURRENT_LIMIT; i++)
		store_close(e->readers[i].store);
	free(e->user);
	if (e->password) {
		memset(e->password, 0, strlen(e->password));
		free(e->password);
	}
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int http_endpoint_start(struct store *store, const struct http_endpoint_options *options,
			struct http_endpoint **out, char *err, size_t err_len)
{
	/* ITC: for MHD_quiesce_daemon at the stop */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct http_endpoint *e = calloc(1, sizeof(*e));
	char *text = NULL, address[INET6_ADDRSTRLEN] = "?";
	uint32_t i;
	int ret;

	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	e->writer = store;
	e->limits.max_execution_time_s = options->max_execution_time_s;
	e->limits.max_result_bytes = options->max_result_bytes;
	e->max_concurrent = options->max_concurrent;
	e->pages = options->pages;
	e->pages_ctx = options->pages_ctx;
	if (options->user) {
		e->user = strdup(options->user);
		ret = e->user ? password_read(options->password_file, &e->password, err, err_len) :
				-ENOMEM;
		if (ret)
			goto failed;
	}
	for (i = 0; i < e->max_concurrent; i++) {
		ret = store_open_reader(store, &e->readers[i].store, err, err_len);
		if (ret)
			goto failed;
	}
	ret = store_query(e->readers[0].store, "SELECT version(), timezone()", "TSV", &text, NULL,
			  err, err_len);
	if (ret)
		goto failed;
	if (sscanf(text, "%63s\t%63s", e->version, e->timezone) != 2) {
		snprintf(err, err_len, "unexpected answer to SELECT version(), timezone()");
		free(text);
		ret = -EPROTO;
		goto failed;
	}
	free(text);
	if (options->address->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	e->daemon = MHD_start_daemon(flags, 0, NULL, NULL, endpoint_answer, e, MHD_OPTION_SOCK_ADDR,
				     (const struct sockaddr *)options->address,
				     MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned int)(e->max_concurrent * 4 + 16),
				     MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned int)HTTP_IDLE_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_URL_MEMORY,
				     MHD_OPTION_NOTIFY_COMPLETED, request_done, e, MHD_OPTION_END);
	if (options->address->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)options->address)->sin6_addr,
			  address, sizeof(address));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)options->address)->sin_addr,
			  address, sizeof(address));
	if (!e->daemon) {
		snprintf(err, err_len, "--http: cannot listen on %s port %u (in use?)", address,
			 address_port(options->address));
		ret = -EADDRNOTAVAIL;
		goto failed;
	}
	if (!e->user && !address_is_loopback(options->address))
		pr_warn("warning: --http on %s without --http-user: anyone who reaches it reads "
			"every flow\n",
			address);
	/* said always: a server that listens should say where */
	fprintf(stderr,
		"%s: ClickHouse HTTP interface (read-only) on %s port %u, %u queries at once\n",
		log_get_program(), address, address_port(options->address), e->max_concurrent);
	*out = e;
	return 0;
failed:
	endpoint_free(e);
	return ret;
}

static unsigned int requests_active(struct http_endpoint *e)
{
	unsigned int active;

	pthread_mutex_lock(&e->lock);
	active = e->active;
	pthread_mutex_unlock(&e->lock);
	return active;
}

void http_endpoint_stop(struct http_endpoint *e)
{
	uint64_t deadline;
	MHD_socket listening;

	if (!e)
		return;
	/*
	 * No new connections, new requests turned away, and the queries under way answered
	 * (they end within the time limit): MHD_stop_daemon would cut their connections.
	 */
	pthread_mutex_lock(&e->lock);
	e->stopping = 1;
	pthread_mutex_unlock(&e->lock);
	listening = MHD_quiesce_daemon(e->daemon);
	deadline = now_ms() + (uint64_t)(e->limits.max_execution_time_s + 10) * 1000;
	while (requests_active(e) && now_ms() < deadline)
		usleep(20 * 1000);
	if (requests_active(e))
		pr_warn("http: stopping with %u requests unanswered\n", requests_active(e));
	MHD_stop_daemon(e->daemon);
	if (listening != MHD_INVALID_SOCKET)
		close(listening);
	endpoint_free(e);
}
