/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A stand-in for collector/store.c in unit tests: it keeps every insert in memory, answers
 * queries with a canned result, and fails inserts on request.
 */
#ifndef FLOW_TEST_STUB_STORE_H
#define FLOW_TEST_STUB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct stub_store_state {
	const char *query_result; /* what store_query returns (TSV); NULL: "" */
	int query_fails;	  /* store_query fails while set */
	int insert_failures_left; /* this many inserts fail before one succeeds */
	int inserts;		  /* inserts that succeeded */
	uint8_t *data;		  /* every succeeded insert's RowBinary, in order */
	size_t len;
	char last_sql[1024];  /* the last insert's statement, failed or not */
	char first_sql[1024]; /* the first insert's statement */
};

extern struct stub_store_state stub_store;

/* Forgets every insert and setting. */
void stub_store_reset(void);
/* A store handle for code under test. */
struct store *stub_store_handle(void);

#endif
