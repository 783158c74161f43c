/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where flows are stored: an embedded ClickHouse (libchdb, loaded with dlopen only when used)
 * or a ClickHouse server over HTTP (libcurl). Both take SQL text and RowBinary inserts, so the
 * rest of the collector does not know which one it talks to.
 */
#ifndef FLOWCOLLECTOR_STORE_H
#define FLOWCOLLECTOR_STORE_H

#include <stddef.h>

struct store;

struct store_options {
	const char *embedded_path; /* embedded:PATH; NULL for HTTP */
	const char *libchdb;	   /* the library; NULL: the default search */
	const char *http_url;	   /* http://host:8123/ */
	const char *http_user;
	const char *http_password_file; /* the password, first line; never on the command line */
};

int store_open(const struct store_options *options, struct store **store, char *err,
	       size_t err_len);
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
/*
 * The server's version (SELECT version(), asked once): what a statement may use depends on
 * it, as EXCHANGE TABLES does (20.6 and later, Atomic databases).
 */
int store_server_version(struct store *store, int *major, int *minor, char *err, size_t err_len);

#endif
