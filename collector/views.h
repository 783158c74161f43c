/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The network views: one SELECT each in sql/views/NAME.sql, reading the rollups, with the
 * time range as the query parameters {from:UInt32} and {to:UInt32} (Unix seconds), and the
 * observation points counted as {agent:String} and {direction:String} ('' = all).
 */
#ifndef FLOWCOLLECTOR_VIEWS_H
#define FLOWCOLLECTOR_VIEWS_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "view.h"

struct view_info {
	const char *name;
	const char *title;
	enum view_chart chart;
};

/*
 * The observation points every view_run counts: NULL or "" for every agent, for both
 * directions. A packet metered at two points (two agents, or a router's two interfaces) is
 * counted once per point; one agent, or one direction, counts it once (docs/schema.md).
 */
struct view_filter {
	const char *agent;
	const char *direction; /* "ingress", "egress", or NULL for both */
	uint32_t limit;	       /* rows of a top-N view ({limit:UInt32}); 0: VIEW_LIMIT_DEFAULT */
};

#define VIEW_LIMIT_DEFAULT 10
#define VIEW_LIMIT_MAX	   100000
/* The end of "every time": 2106-02-07, the last day a UInt32 second reaches */
#define VIEW_TIME_END 4294944000ULL

extern struct view_filter view_filter;

/* Sets view_filter.direction; -EINVAL for anything but "ingress" or "egress". */
int view_filter_set_direction(const char *direction);

extern const struct view_info view_list[];
extern const int view_count;

const struct view_info *view_find(const char *name);

/* view_run flags */
#define VIEW_BIND_LOCALLY	     1u /* parts and values put in the SQL: the cluster views */
#define VIEW_SKIP_UNAVAILABLE_SHARDS 2u /* a cluster with a shard away: a partial answer */

/*
 * Runs a view, sql_dir/views/NAME.sql; fills table (free with view_table_free). -ENOENT when
 * sql_dir has no such view.
 */
int view_run(struct store *store, const char *sql_dir, const struct view_info *view, uint64_t from,
	     uint64_t to, unsigned int flags, struct view_table *table, double *seconds, char *err,
	     size_t err_len);
/* view_run with its own filter instead of view_filter: for threads serving requests. */
int view_run_filtered(struct store *store, const char *sql_dir, const struct view_info *view,
		      uint64_t from, uint64_t to, const struct view_filter *filter,
		      unsigned int flags, struct view_table *table, double *seconds, char *err,
		      size_t err_len);
void view_table_free(struct view_table *table);
/* An aligned text table, numbers right-aligned. */
void view_print(FILE *out, const struct view_table *table);

/* Tab-separated, a header line first. */
void view_print_tsv(FILE *out, const struct view_table *table);

#endif
