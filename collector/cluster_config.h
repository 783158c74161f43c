/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The cluster file: which ClickHouse servers make up the shards the collector writes to.
 * One setting per line, '#' starts a comment, a replica line belongs to the shard above it:
 *
 *     cluster flows                        the remote_servers name the Distributed tables use
 *     user flowcollector                   optional, for every server
 *     password-file /etc/flowcollector/ch  optional: first line, a file only its owner reads
 *     probe-interval-ms 1000               how often every replica is asked how it is
 *     fill-limit 90                        % of a shard's capacity: above it, no new data
 *     standby-at 75                        % every shard has used: a standby shard starts
 *     shard 1 weight 2 capacity 500G       a shard number (1..), its share of new data, and
 *     replica http://10.0.0.1:8123/        the disk its tables may use (else the server's)
 *     replica http://10.0.0.2:8123/ tcp 9000  its native port (9000 when not said), for
 *                                          `cluster remote-servers`
 *     shard 2 standby                      written only once every other shard is at standby-at
 *     replica ...
 *
 * The file is read again when it changes: a shard added to it is taken in while ingesting.
 * Shard numbers are names: an insert's write-ahead file says which shard it went to, so a
 * number keeps its servers while inserts to it may be retried.
 */
#ifndef FLOWCOLLECTOR_CLUSTER_CONFIG_H
#define FLOWCOLLECTOR_CLUSTER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_MAX_SHARDS   64
#define CLUSTER_MAX_REPLICAS 8
#define CLUSTER_URL_MAX	     256
#define CLUSTER_NAME_MAX     64

struct cluster_replica_config {
	char url[CLUSTER_URL_MAX];
	uint32_t tcp_port; /* the native protocol's, for remote_servers; default 9000 */
};

struct cluster_shard_config {
	uint32_t number;   /* as written: 1, 2, ... */
	uint32_t weight;   /* 1..1000, default 1 */
	uint64_t capacity; /* bytes its tables may use; 0: the server's disk, if it tells */
	int standby;	   /* kept for when every other shard is full */
	uint32_t replica_count;
	struct cluster_replica_config replicas[CLUSTER_MAX_REPLICAS];
};

struct cluster_config {
	char name[CLUSTER_NAME_MAX];	     /* default "flows" */
	char user[CLUSTER_NAME_MAX];	     /* "" for none */
	char password_file[CLUSTER_URL_MAX]; /* "" for none */
	uint32_t probe_interval_ms;	     /* default 1000 */
	uint32_t fill_limit_percent;	     /* default 90 */
	uint32_t standby_at_percent;	     /* default 75 */
	uint32_t shard_count;
	struct cluster_shard_config shards[CLUSTER_MAX_SHARDS];
};

/*
 * Reads and checks a cluster file. Returns 0, or -EINVAL with err saying "FILE:LINE: what"
 * (or another negative errno when the file cannot be read).
 */
int cluster_config_load(const char *path, struct cluster_config *config, char *err, size_t err_len);
/* The same from text; name is used in messages. */
int cluster_config_parse(const char *text, const char *name, struct cluster_config *config,
			 char *err, size_t err_len);
/* The shard with this number, or NULL. */
const struct cluster_shard_config *cluster_config_shard(const struct cluster_config *config,
							uint32_t number);

#endif
