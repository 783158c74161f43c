// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The in-memory store of the unit tests; see stub_store.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub_store.h"

#define RAW_INSERT    "INSERT INTO flows.raw "
#define LEDGER_INSERT "INSERT INTO flows.batches "
#define TOKEN_SETTING "insert_deduplication_token = '"
#define TOKENS_MAX    1024

struct store {
	int unused;
};

struct stub_store_state stub_store;
static struct store the_store;
/* "<table> <token>" of every stored insert that carried a token */
static char tokens[TOKENS_MAX][160];
static int token_count;

void stub_store_reset(void)
{
	free(stub_store.data);
	memset(&stub_store, 0, sizeof(stub_store));
	token_count = 0;
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

static int text_append(char **text, size_t *len, size_t *cap, const char *add)
{
	size_t n = strlen(add);

	if (*len + n + 1 > *cap) {
		size_t grown_cap = (*len + n + 1) * 2;
		char *grown = realloc(*text, grown_cap);

		if (!grown)
			return -ENOMEM;
		*text = grown;
		*cap = grown_cap;
	}
	memcpy(*text + *len, add, n + 1);
	*len += n;
	return 0;
}

/* The ledger rows whose identity the query names, as ClickHouse's TSV would give them. */
static char *ledger_answer(const char *sql)
{
	size_t len = 0, cap = 0;
	char *text = NULL, tuple[512], line[512];
	int i;

	if (text_append(&text, &len, &cap, ""))
		return NULL;
	for (i = 0; i < stub_store.ledger_count; i++) {
		const struct stub_ledger_row *r = &stub_store.ledger[i];

		snprintf(tuple, sizeof(tuple), "('%s', %" PRIu64 ", %" PRIu64 ")", r->agent, r->run,
			 r->sequence);
		if (!strstr(sql, tuple))
			continue;
		snprintf(line, sizeof(line), "%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu32 "\n",
			 r->agent, r->run, r->sequence, r->crc);
		if (text_append(&text, &len, &cap, line)) {
			free(text);
			return NULL;
		}
	}
	return text;
}

/*
 * The agents named in the query that have ledger rows of a run the query does not list
 * ("... WHERE agent IN (..) AND (agent, batch_run) NOT IN (..)"): agents with a history.
 */
static char *history_answer(const char *sql)
{
	const char *not_in = strstr(sql, "NOT IN (");
	size_t len = 0, cap = 0;
	char *text = NULL, name[300], pair[512], line[300];
	int i;

	if (!not_in || text_append(&text, &len, &cap, ""))
		return text;
	for (i = 0; i < stub_store.ledger_count; i++) {
		const struct stub_ledger_row *r = &stub_store.ledger[i];

		snprintf(name, sizeof(name), "'%s'", r->agent);
		snprintf(pair, sizeof(pair), "('%s', %" PRIu64 ")", r->agent, r->run);
		snprintf(line, sizeof(line), "%s\n", r->agent);
		/* DISTINCT: each agent once */
		if (!strstr(sql, name) || strstr(not_in, pair) || strstr(text, line))
			continue;
		if (text_append(&text, &len, &cap, line)) {
			free(text);
			return NULL;
		}
	}
	return text;
}

int store_query(struct store *store, const char *sql, const char *format, char **result,
		size_t *result_len, char *err, size_t err_len)
{
	(void)store;
	(void)format;
	if (strstr(sql, "SELECT DISTINCT agent FROM flows.batches")) {
		/* counted apart: the tests count and read the ledger lookups */
		stub_store.history_queries++;
		if (stub_store.query_fails) {
			snprintf(err, err_len, "stub: query failed");
			return -EIO;
		}
		*result = history_answer(sql);
		if (!*result)
			return -ENOMEM;
		if (result_len)
			*result_len = strlen(*result);
		return 0;
	}
	stub_store.queries++;
	snprintf(stub_store.last_query, sizeof(stub_store.last_query), "%s", sql);
	if (stub_store.query_fails) {
		snprintf(err, err_len, "stub: query failed");
		return -EIO;
	}
	if (stub_store.query_result)
		*result = strdup(stub_store.query_result);
	else if (strstr(sql, "FROM flows.batches"))
		*result = ledger_answer(sql);
	else
		*result = strdup("");
	if (!*result)
		return -ENOMEM;
	if (result_len)
		*result_len = strlen(*result);
	return 0;
}

static uint64_t le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Parses RowBinary rows of (agent String, batch_run, batch_seq, batch_crc, rows) into ledger. */
static int ledger_parse(const uint8_t *data, size_t len, char *err, size_t err_len)
{
	struct stub_ledger_row parsed[STUB_LEDGER_MAX];
	size_t at = 0;
	int count = 0;

	while (at < len) {
		struct stub_ledger_row *r = &parsed[count];
		uint64_t agent_len = 0;
		int shift = 0;

		if (stub_store.ledger_count + count == STUB_LEDGER_MAX)
			goto bad;
		do {
			if (at >= len || shift > 14)
				goto bad;
			agent_len |= (uint64_t)(data[at] & 0x7f) << shift;
			shift += 7;
		} while (data[at++] & 0x80);
		if (agent_len >= sizeof(r->agent) || len - at < agent_len + 24)
			goto bad;
		memcpy(r->agent, data + at, agent_len);
		r->agent[agent_len] = '\0';
		at += agent_len;
		r->run = le(data + at, 8);
		r->sequence = le(data + at + 8, 8);
		r->crc = (uint32_t)le(data + at + 16, 4);
		r->rows = (uint32_t)le(data + at + 20, 4);
		at += 24;
		count++;
	}
	memcpy(stub_store.ledger + stub_store.ledger_count, parsed, count * sizeof(parsed[0]));
	stub_store.ledger_count += count;
	return 0;
bad:
	snprintf(err, err_len, "stub: flows.batches rows malformed or too many at byte %zu", at);
	return -EINVAL;
}

/* "<table> <token>" of a statement, or "" when it carries no token. */
static void token_of(const char *sql, int ledger, char *key, size_t size)
{
	const char *p = strstr(sql, TOKEN_SETTING), *end;

	key[0] = '\0';
	if (!p)
		return;
	p += strlen(TOKEN_SETTING);
	end = strchr(p, '\'');
	if (end)
		snprintf(key, size, "%s %.*s", ledger ? "batches" : "raw", (int)(end - p), p);
}

int store_insert_rowbinary(struct store *store, const char *insert_sql, const void *data,
			   size_t len, char *err, size_t err_len)
{
	struct stub_insert_call *call = NULL;
	int ledger = !strncmp(insert_sql, LEDGER_INSERT, strlen(LEDGER_INSERT)), i, ret;
	char key[sizeof(tokens[0])];
	uint8_t *grown;

	(void)store;
	if (stub_store.insert_calls < STUB_CALLS_MAX) {
		call = &stub_store.calls[stub_store.insert_calls];
		snprintf(call->sql, sizeof(call->sql), "%s", insert_sql);
		call->len = len;
	}
	stub_store.insert_calls++;
	snprintf(stub_store.last_sql, sizeof(stub_store.last_sql), "%s", insert_sql);
	if (stub_store.insert_failures_left > 0 ||
	    stub_store.fail_call == stub_store.insert_calls) {
		if (stub_store.insert_failures_left > 0)
			stub_store.insert_failures_left--;
		if (call)
			call->failed = 1;
		snprintf(err, err_len, "stub: insert failed");
		return -EIO;
	}
	if (!ledger && strncmp(insert_sql, RAW_INSERT, strlen(RAW_INSERT))) {
		snprintf(err, err_len, "stub: insert into an unknown table: %.60s", insert_sql);
		return -EINVAL;
	}
	token_of(insert_sql, ledger, key, sizeof(key));
	for (i = 0; key[0] && i < token_count; i++) {
		if (!strcmp(tokens[i], key)) {
			stub_store.deduplicated++;
			stub_store.inserts++;
			if (call)
				call->skipped = 1;
			return 0;
		}
	}
	if (ledger) {
		ret = ledger_parse(data, len, err, err_len);
		if (ret)
			return ret;
	} else if (len) {
		grown = realloc(stub_store.data, stub_store.len + len);
		if (!grown)
			return -ENOMEM;
		memcpy(grown + stub_store.len, data, len);
		stub_store.data = grown;
		stub_store.len += len;
	}
	if (key[0] && token_count < TOKENS_MAX)
		snprintf(tokens[token_count++], sizeof(tokens[0]), "%s", key);
	stub_store.inserts++;
	return 0;
}

const char *store_describe(const struct store *store)
{
	(void)store;
	return "stub";
}
