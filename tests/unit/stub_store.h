/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A stand-in for collector/store.c in unit tests: a small ClickHouse that keeps what it is
 * given in memory.
 *   - INSERT INTO flows.raw: the RowBinary is appended to data/len (raw rows only, in order);
 *   - INSERT INTO flows.batches: the RowBinary is parsed as ledger rows (agent, batch_run,
 *     batch_seq, batch_crc, rows) and kept in ledger[];
 *   - an insert whose insert_deduplication_token was stored before in the same table is
 *     acknowledged and skipped, as ClickHouse does (counted in deduplicated);
 *   - a query FROM flows.batches is answered, as TSV "agent\trun\tseq\tcrc" lines, with the
 *     ledger rows whose ('agent', run, seq) tuple the query names; other queries get "".
 * Every insert statement is recorded (failed or not), and failures can be injected.
 */
#ifndef FLOW_TEST_STUB_STORE_H
#define FLOW_TEST_STUB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STUB_LEDGER_MAX 256 /* ledger rows kept; an insert beyond fails */
#define STUB_CALLS_MAX	64  /* insert statements remembered (the first ones) */

struct stub_ledger_row {
	char agent[256];
	uint64_t run, sequence;
	uint32_t crc, rows;
};

/* One call of store_insert_rowbinary. */
struct stub_insert_call {
	char sql[1024];
	size_t len;  /* bytes given */
	int failed;  /* the stub failed it on request */
	int skipped; /* its token was stored before: acknowledged, not stored */
};

struct stub_store_state {
	/* settings */
	const char *query_result; /* when set, what every store_query returns (TSV) */
	int query_fails;	  /* store_query fails while set */
	int insert_failures_left; /* this many inserts fail before one succeeds */
	int fail_call;		  /* insert call number fail_call (1 = the first) fails */
	/* what happened */
	int queries;	       /* store_query calls */
	char last_query[8192]; /* the last query's statement (cut to fit) */
	int history_queries;   /* "has this agent other runs" lookups, not in queries */
	int insert_calls;      /* store_insert_rowbinary calls, failed or not */
	int inserts;	       /* inserts that succeeded, skipped ones included */
	int deduplicated;      /* inserts skipped for a token stored before */
	struct stub_insert_call calls[STUB_CALLS_MAX]; /* the first STUB_CALLS_MAX calls */
	char last_sql[1024]; /* the last insert's statement, failed or not */
	uint8_t *data;	     /* every stored flows.raw insert's RowBinary, in order */
	size_t len;
	struct stub_ledger_row ledger[STUB_LEDGER_MAX]; /* flows.batches, in order */
	int ledger_count;
};

extern struct stub_store_state stub_store;

/* Forgets every insert and setting. */
void stub_store_reset(void);
/* A store handle for code under test. */
struct store *stub_store_handle(void);

#endif
