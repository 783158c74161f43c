/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The collector's commands, each returning the process exit status (enum collector_exit):
 * ingest (the default), migrate, geo load, query, sql, report and cluster status.
 */
#ifndef FLOWCOLLECTOR_COMMANDS_H
#define FLOWCOLLECTOR_COMMANDS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "http_endpoint.h"
#include "ingest.h"
#include "migrate.h"
#include "source_kafka.h"
#include "store.h"
#include "views.h"

/* The default end of a time range: a midnight, so the views read the daily rollups. */
#define COMMAND_TIME_END VIEW_TIME_END

struct command_options {
	struct store_options store;
	const char *cluster_file; /* --cluster FILE: a sharded, replicated ClickHouse */
	struct migrate_options migrate;
	struct ingest_options ingest;
	struct kafka_source_options kafka;		/* brokers NULL: no Kafka */
	const char *input;				/* --input FILE, "-" for input_stdin */
	FILE *input_stdin;				/* standard input, moved away from fd 0 */
	const struct sockaddr_storage *metrics_address; /* NULL: no endpoint */
	struct http_endpoint_options http;		/* address NULL: no HTTP interface */
	const char *html;
	uint64_t from, to;
	int tsv;
	int geo_force; /* geo load --force: no sanity check of the files */
	char **args;   /* the command's words after its name */
	int arg_count;
};

int command_ingest(const struct command_options *options);
int command_migrate(const struct command_options *options);
int command_geo(const struct command_options *options);
int command_query(const struct command_options *options);
int command_sql(const struct command_options *options);
int command_report(const struct command_options *options);
int command_cluster(const struct command_options *options);
int command_serve(const struct command_options *options);

#endif
