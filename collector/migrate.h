/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Schema migrations: sql/NNN_name.sql applied in order, each once, recorded in
 * flows.schema_migrations. Placeholders in the files ({{MergeTree}}, {{retention_days}},
 * {{rollup_retention_days}}, {{cluster}}, ...) are replaced first; see sql/001_*.sql. A line
 * "--@since MAJOR.MINOR SQL" is SQL for servers of that version and later, a comment for older
 * ones (sql/cluster/ is written for ClickHouse 18.16 and today's); it never holds the ';' that
 * ends a statement.
 */
#ifndef FLOWCOLLECTOR_MIGRATE_H
#define FLOWCOLLECTOR_MIGRATE_H

#include <stddef.h>

#include "store.h"

struct migrate_options {
	const char *sql_dir;
	unsigned int retention_days;	    /* {{retention_days}}: flows.raw, the ledger */
	unsigned int rollup_retention_days; /* {{rollup_retention_days}}: the rollups */
	int replicated;			    /* Replicated*MergeTree with {shard}/{replica} macros */
	int force;			    /* apply every file again, even those recorded */
	const char *cluster_name;	    /* {{cluster}}: remote_servers name; NULL: none */
	/* the server's version, for "--@since MAJOR.MINOR" lines; 0: migrate_apply asks */
	int server_major, server_minor;
};

/* Applies what is missing; returns the number applied, or a negative errno (err says why). */
int migrate_apply(struct store *store, const struct migrate_options *options, char *err,
		  size_t err_len);

/* Replaces the placeholders of one file's text; returns malloc'd SQL. */
char *migrate_expand(const char *text, const struct migrate_options *options, char *err,
		     size_t err_len);

/* Reads a file into malloc'd memory; NULL with err set. */
char *read_text_file(const char *path, char *err, size_t err_len);

#endif
