/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A sharded, replicated ClickHouse the collector writes to (docs/cluster.md): the servers of a
 * cluster file (cluster_config.h), their schema (sql/cluster/, applied on every node), their
 * health, and where each insert goes.
 *
 * Health: a thread asks every replica, every probe-interval-ms, whether it answers, whether
 * its replicated tables take writes (read-only, ZooKeeper session expired) and how far behind
 * it is (replication queue, log entries not yet pulled). A replica that fails an insert is
 * taken out at once; the probe puts it back. Every change of state is logged.
 *
 * Writes: an insert is one RowBinary block for one shard, sent to the first replica of that
 * shard (in the file's order) that takes writes, and on no answer or a read-only table to the
 * next. Retrying a block whose outcome is unknown on another replica of the same shard is
 * safe: the shard's replicas share their block ids in ZooKeeper and drop a block stored
 * before (replicated_deduplication_window).
 */
#ifndef FLOWCOLLECTOR_CLUSTER_H
#define FLOWCOLLECTOR_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster_config.h"
#include "ingest.h"
#include "migrate.h"
#include "prom.h"
#include "store.h"

struct cluster;

enum cluster_replica_state {
	CLUSTER_REPLICA_UNKNOWN = 0, /* not asked yet */
	CLUSTER_REPLICA_DOWN,	     /* no answer */
	CLUSTER_REPLICA_NO_SCHEMA,   /* answers, but the schema could not be applied */
	CLUSTER_REPLICA_READ_ONLY,   /* replicated tables read-only (ZooKeeper away or expired) */
	CLUSTER_REPLICA_UP,	     /* takes writes */
};

/* What a probe saw of one replica, and what the collector did with it. */
struct cluster_replica_status {
	uint32_t shard;	  /* the shard's number */
	uint32_t replica; /* 1-based, in the file's order */
	const char *url;
	enum cluster_replica_state state;
	char reason[256]; /* why it is not up */
	int writer;	  /* the replica new inserts into its shard go to */
	int version_major, version_minor;
	int replication_known; /* the rest below was read */
	uint64_t queue_size, log_lag, active_replicas, total_replicas;
	int session_expired;
	uint64_t rows, bytes;	 /* flows.raw_local on this replica */
	uint64_t flows_bytes;	 /* every table of flows on this replica */
	uint64_t cluster_shards; /* shards its remote_servers has for the cluster */
	int geo_known;		 /* geo_prefixes answered */
	uint64_t geo_prefixes;	 /* rows of its flows.geo_ranges (every node holds all) */
	int disk_known;
	uint64_t disk_free, disk_total;
	uint64_t inserts, insert_failures, state_changes;
};

struct cluster_options {
	const struct cluster_config *config;
	struct migrate_options migrate; /* sql_dir: the cluster schema (sql/cluster) */
	int apply_schema;		/* 0: only look (cluster status) */
	int probe_thread;		/* keep probing in the background */
	const char *config_path;	/* read again by the probe thread when it changes */
};

/*
 * Opens a store for every replica, probes each once (applying the schema where asked) and
 * starts the probe thread. Fails, when the schema is to be applied, if no replica answers.
 * err says why.
 */
int cluster_open(const struct cluster_options *options, struct cluster **cluster, char *err,
		 size_t err_len);
void cluster_close(struct cluster *cluster);

/* How many times a replica came up: an insert waiting to be retried may go when it changes. */
uint64_t cluster_recoveries(struct cluster *cluster);
/*
 * Shards no replica of which answers (as last probed): a read of the Distributed tables then
 * misses their rows. Their numbers go into list ("2, 3"); returns how many.
 */
size_t cluster_unreadable_shards(struct cluster *cluster, char *list, size_t len);
/* A store for queries: any node, the next one when a node does not answer. */
struct store *cluster_query_store(struct cluster *cluster);
/* The ingest_router that sends inserts through this cluster. */
const struct ingest_router *cluster_router(struct cluster *cluster);

/* A store of its own on one node (a URL of cluster_status), with the cluster's credentials. */
int cluster_node_store(const struct cluster *cluster, const char *url, uint32_t timeout_ms,
		       struct store **store, char *err, size_t err_len);
/* The status of every replica, shard by shard; returns how many (at most max). */
size_t cluster_status(struct cluster *cluster, struct cluster_replica_status *out, size_t max);
/* The status as a table, for `flowcollector cluster status`. */
void cluster_print_status(struct cluster *cluster, FILE *out);
/* Per replica and per shard gauges for /metrics. */
void cluster_metrics_render(struct cluster *cluster, struct prom_writer *out);

const char *cluster_replica_state_name(enum cluster_replica_state state);

#endif
