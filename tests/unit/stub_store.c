// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The in-memory store of the unit tests; see stub_store.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub_store.h"

struct store {
	int unused;
};

struct stub_store_state stub_store;
static struct store the_store;

void stub_store_reset(void)
{
	free(stub_store.data);
	memset(&stub_store, 0, sizeof(stub_store));
}

struct store *stub_store_handle(void)
{
	return &the_store;
}

int store_open(const struct store_options *options, struct store **store, char *err, size_t err_len)
{
	(void)options;
	(void)err;
	(void)err_len;
	*store = &the_store;
	return 0;
}

void store_close(struct store *store)
{
	(void)store;
}

void store_close_all(void)
{
}

int store_exec(struct store *store, const char *sql, char *err, size_t err_len)
{
	(void)store;
	(void)sql;
	(void)err;
	(void)err_len;
	return 0;
}

int store_query(struct store *store, const char *sql, const char *format, char **result,
		size_t *result_len, char *err, size_t err_len)
{
	const char *text = stub_store.query_result ? stub_store.query_result : "";

	(void)store;
	(void)sql;
	(void)format;
	if (stub_store.query_fails) {
		snprintf(err, err_len, "stub: query failed");
		return -EIO;
	}
	*result = strdup(text);
	if (!*result)
		return -ENOMEM;
	if (result_len)
		*result_len = strlen(text);
	return 0;
}

int store_insert_rowbinary(struct store *store, const char *insert_sql, const void *data,
			   size_t len, char *err, size_t err_len)
{
	uint8_t *grown;

	(void)store;
	snprintf(stub_store.last_sql, sizeof(stub_store.last_sql), "%s", insert_sql);
	if (!stub_store.inserts && !stub_store.first_sql[0])
		snprintf(stub_store.first_sql, sizeof(stub_store.first_sql), "%s", insert_sql);
	if (stub_store.insert_failures_left > 0) {
		stub_store.insert_failures_left--;
		snprintf(err, err_len, "stub: insert failed");
		return -EIO;
	}
	grown = realloc(stub_store.data, stub_store.len + len);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + stub_store.len, data, len);
	stub_store.data = grown;
	stub_store.len += len;
	stub_store.inserts++;
	return 0;
}

const char *store_describe(const struct store *store)
{
	(void)store;
	return "stub";
}
