/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where flows are stored: an embedded ClickHouse (libchdb, loaded with dlopen only when used)
 * or a ClickHouse server over HTTP (libcurl). Both take SQL text and RowBinary inserts, so the
 * rest of the collector does not know which one it talks to.
 */
#ifndef FLOWCOLLECTOR_STORE_H
#define FLOWCOLLECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_options {
	const char *embedded_path; /* embedded:PATH; NULL for HTTP */
	const char *libchdb;	   /* the library; NULL: the default search */
	const char *http_url;	   /* http://host:8123/ */
	const char *http_user;
	const char *http_password_file; /* the password, first line; never on the command line */
	/*
	 * More servers holding the same tables (a cluster's nodes): a query that gets no answer
	 * from one is sent to the next, and the one that answered is asked first next time.
	 */
	const char *const *http_failover_urls;
	unsigned int http_failover_count;
	uint32_t timeout_ms;	     /* a request's whole time; 0: 300 s */
	uint32_t connect_timeout_ms; /* 0: 10 s */
	int quiet;		     /* no warnings at open (a cluster's own handles) */
};

int store_open(const struct store_options *options, struct store **store, char *err,
	       size_t err_len);
/*
 * A second connection to the embedded store writer holds, read-only: its queries run beside
 * the writer's, and anything that would write fails in ClickHouse with Code 164 (READONLY).
 * A query may change its own settings (readonly=2); they stay on this connection until reset.
 * Closed with store_close, before the writer.
 */
int store_open_reader(struct store *writer, struct store **reader, char *err, size_t err_len);
/* Closes the store; for the embedded one this must run before exit (libchdb's threads). */
void store_close(struct store *store);
/* Closes every open store: for exit paths (atexit, signals handled by flag). */
void store_close_all(void);

/* A statement without a result. */
int store_exec(struct store *store, const char *sql, char *err, size_t err_len);
/* A query; *result is malloc'd text in the given ClickHouse format, NUL-terminated. */
int store_query(struct store *store, const char *sql, const char *format, char **result,
		size_t *result_len, char *err, size_t err_len);

/* A query parameter: {name:Type} in the SQL, bound by ClickHouse, never pasted into it. */
struct store_param {
	const char *name;
	const char *value; /* text, parsed as the placeholder's type */
};

/* store_query with parameters. */
int store_query_params(struct store *store, const char *sql, const struct store_param *params,
		       size_t param_count, const char *format, char **result, size_t *result_len,
		       char *err, size_t err_len);
/*
 * insert_sql is "INSERT INTO t (columns) SETTINGS ..." without FORMAT; data is RowBinary.
 * Returns 0 once the rows are durably in the table.
 */
int store_insert_rowbinary(struct store *store, const char *insert_sql, const void *data,
			   size_t len, char *err, size_t err_len);
const char *store_describe(const struct store *store);

/* How the last request of a store failed: what a cluster needs to choose another replica. */
enum store_failure {
	STORE_FAILURE_NONE = 0,
	STORE_FAILURE_TRANSPORT, /* no answer: refused, reset, timed out (maybe stored) */
	STORE_FAILURE_SERVER,	 /* the server answered with an error */
};
enum store_failure store_last_failure(const struct store *store);
/* The server's exception code of the last failure (Code: N), 0 when there was none. */
int store_last_exception_code(const struct store *store);

/* What the embedded store's last query read (zero when unknown, and for a server). */
struct store_stats {
	uint64_t rows_read; /* from the tables */
	uint64_t bytes_read;
	uint64_t result_rows;
	double elapsed_s;
};
void store_last_stats(const struct store *store, struct store_stats *stats);
/*
 * The server's version (SELECT version(), asked once): what a statement may use depends on
 * it, as EXCHANGE TABLES does (20.6 and later, Atomic databases).
 */
int store_server_version(struct store *store, int *major, int *minor, char *err, size_t err_len);

#endif
