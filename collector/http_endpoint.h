/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A read-only ClickHouse HTTP interface (the subset clickhouse-connect and clickhouse-go use)
 * over the embedded store the collector holds, on connections of its own opened read-only, so
 * that dashboards and scripts read the flows while ingestion goes on. Off unless asked for,
 * bound to 127.0.0.1 unless an address is given.
 *
 * The decisions about a request (is it a read, which credentials, which settings, what
 * error) are pure functions below, tested without a store or a socket.
 */
#ifndef FLOWCOLLECTOR_HTTP_ENDPOINT_H
#define FLOWCOLLECTOR_HTTP_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store.h"

#define HTTP_DEFAULT_MAX_EXECUTION_TIME_S 60
#define HTTP_DEFAULT_MAX_RESULT_BYTES	  (256ULL << 20)
#define HTTP_DEFAULT_MAX_CONCURRENT	  4
#define HTTP_MAX_CONCURRENT_LIMIT	  64

/*
 * A page besides the ClickHouse interface (http_views.h: the views' JSON API and the live
 * report): any URL but /, /ping and /replicas_status, and / itself when a browser asks for it
 * without a query (as /report). The endpoint checks the credentials first (401 with a Basic
 * challenge, so a browser asks) and lends a read-only connection.
 */
struct http_page_request {
	const char *url;
	/* a URL parameter, NULL when absent */
	const char *(*param)(const struct http_page_request *req, const char *name);
	void *connection;
};

struct http_page {
	unsigned int status; /* 0: 200 */
	const char *content_type;
	char *body; /* malloc'd, the endpoint frees it */
	size_t len;
};

typedef void (*http_page_fn)(void *ctx, struct store *reader, const struct http_page_request *req,
			     struct http_page *page);

struct http_endpoint_options {
	const struct sockaddr_storage *address; /* NULL: no endpoint */
	const char *user;			/* NULL: no authentication */
	const char *password_file; /* the password, first line; never on the command line */
	uint32_t max_execution_time_s;
	uint64_t max_result_bytes;
	uint32_t max_concurrent; /* queries at once; one read-only connection each */
	http_page_fn pages;	 /* NULL: only the ClickHouse interface */
	void *pages_ctx;
};

struct http_endpoint;

/*
 * Opens max_concurrent read-only connections to store (embedded only) and serves on the
 * address from threads of its own. Returns 0, or a negative errno with the reason in err.
 */
int http_endpoint_start(struct store *store, const struct http_endpoint_options *options,
			struct http_endpoint **endpoint, char *err, size_t err_len);
/* Waits for the queries under way, then closes the connections; before the store's close. */
void http_endpoint_stop(struct http_endpoint *endpoint);

/* --- the decisions --------------------------------------------------------------------------- */

/* The ClickHouse error codes the endpoint answers with itself. */
enum http_error_code {
	HTTP_CODE_BAD_ARGUMENTS = 36,
	HTTP_CODE_NOT_IMPLEMENTED = 48,
	HTTP_CODE_UNKNOWN_TABLE = 60,
	HTTP_CODE_SYNTAX_ERROR = 62,
	HTTP_CODE_TIMEOUT_EXCEEDED = 159,
	HTTP_CODE_READONLY = 164,
	HTTP_CODE_TOO_MANY_SIMULTANEOUS_QUERIES = 202,
	HTTP_CODE_TOO_MANY_ROWS_OR_BYTES = 396,
	HTTP_CODE_SETTING_CONSTRAINT_VIOLATION = 452,
	HTTP_CODE_AUTHENTICATION_FAILED = 516,
};

/* The HTTP status ClickHouse answers an exception code with. */
unsigned int http_status_for_code(int code);

/*
 * 0 when sql is one statement that only reads the store (SELECT, WITH, SHOW, DESCRIBE,
 * EXISTS, EXPLAIN), changes none of the limits and reaches nothing outside the store (no
 * file(), url(), remote() and the like, no INTO OUTFILE); else the ClickHouse code to refuse
 * it with, and why in err.
 */
int http_query_check(const char *sql, char *err, size_t err_len);

/* The name of sql's FORMAT clause into format; 0 when it has none. */
int http_query_format(const char *sql, char *format, size_t len);

/*
 * clickhouse-go's first query asks revision() to choose the Native layout; libchdb writes
 * the layout of revision 0 (no block info), so that query is answered as revision 0. Returns
 * the query to run instead, or NULL to run sql as it is.
 */
const char *http_query_rewrite(const char *sql);

/*
 * The answer to that query in Native as a client of the given protocol revision decodes it
 * (client_protocol_version; clickhouse-go asks with its own, before it knows the server's):
 * block info and the custom-serialization flags of recent revisions, which libchdb does not
 * write, and revision() 0, so that the client reads every later result in the layout
 * libchdb writes. Returns the length, or 0 when out is too small.
 */
size_t http_handshake_native(char *out, size_t len, uint64_t revision, const char *display_name,
			     const char *version, const char *timezone);

/* What a URL parameter is. */
enum http_param_kind {
	HTTP_PARAM_SETTING,	/* a ClickHouse setting for this query */
	HTTP_PARAM_QUERY,	/* query: the statement, before the body */
	HTTP_PARAM_DATABASE,	/* database: the current database */
	HTTP_PARAM_BOUND,	/* param_NAME: a query parameter {NAME:Type} */
	HTTP_PARAM_FORMAT,	/* default_format */
	HTTP_PARAM_CREDENTIAL,	/* user, password */
	HTTP_PARAM_COMPRESSION, /* enable_http_compression */
	HTTP_PARAM_UNSUPPORTED, /* compress, decompress: ClickHouse's own framing, not served */
	HTTP_PARAM_IGNORED,	/* sessions, progress headers, query_id...: nothing to do */
	HTTP_PARAM_LIMIT,	/* a setting the endpoint's limits hold: lower only */
};
enum http_param_kind http_param_classify(const char *name);

struct http_limits {
	uint32_t max_execution_time_s;
	uint64_t max_result_bytes;
};

/*
 * The SET statement for a setting from the URL, into sql; a limit may only be lowered.
 * Returns 0, or the ClickHouse code with why in err.
 */
int http_setting_statement(const char *name, const char *value, const struct http_limits *limits,
			   char *sql, size_t sql_len, char *err, size_t err_len);

/* The ways a request may carry its user and password, each NULL when absent. */
struct http_credentials {
	const char *header_user; /* X-ClickHouse-User */
	const char *header_key;	 /* X-ClickHouse-Key */
	const char *authorization;
	const char *param_user;
	const char *param_password;
};

/*
 * The user and password of a request, as ClickHouse takes them: the X-ClickHouse headers, or
 * HTTP Basic, or the URL parameters, never two of those at once; "default" and "" when there
 * are none. Returns 0, or HTTP_CODE_AUTHENTICATION_FAILED with why in err.
 */
int http_credentials_pick(const struct http_credentials *in, char *user, size_t user_len,
			  char *password, size_t password_len, char *err, size_t err_len);
/* 1 when user and password are the expected ones (compared in constant time). */
int http_credentials_match(const char *user, const char *password, const char *expected_user,
			   const char *expected_password);

/*
 * ClickHouse's error body: "Code: N. DB::Exception: message. (NAME) (version V)\n". A
 * message that is ClickHouse's own (it starts with "Code: ") is kept as it is. Returns the
 * length written.
 */
size_t http_error_format(char *out, size_t len, int code, const char *message, const char *version);

/* The query for the log: one line, control characters as spaces, cut to len - 1 bytes. */
void http_query_log_text(const char *sql, char *out, size_t len);

#endif
