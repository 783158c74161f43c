/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Kafka source: a consumer in a group (eager rebalancing), reading flow batches and
 * committing their offsets only once the rows they hold are safe: sealed, when ingest says a
 * sealed insert is as durable as the store (the embedded store), else stored. A crash before
 * the commit makes Kafka hand the batches out again; ingest then skips those already stored.
 *
 * A revoke settles what was read before the partitions go: committed and kept, or dropped
 * uncommitted for the next owner; nothing of a revoked partition is stored uncommitted
 * afterwards. While an insert is retried the partitions are paused and the consumer keeps
 * polling, so it stays in the group and serves rebalances.
 */
#ifndef FLOWCOLLECTOR_SOURCE_KAFKA_H
#define FLOWCOLLECTOR_SOURCE_KAFKA_H

#include <stdint.h>

#include "collector.h"
#include "kafka_conf.h"

struct kafka_source_options {
	const char *brokers;
	const char *topic;
	const char *group;
	const char *properties_file;	    /* --kafka-config */
	struct kafka_properties properties; /* -X, applied after the file */
	uint32_t exit_idle_ms;		    /* 0: run until stopped */
	uint32_t insert_retry_timeout_s;    /* give up a flush after this long; 0: never */
};

/*
 * Consumes until a stop is asked for (or exit_idle_ms without a message), then stores and
 * commits what was read. Returns 0, -EINVAL for a configuration the consumer refused (err
 * printed), or -EIO when rows could not be stored (stopped, or the retries ran out after
 * insert_retry_timeout_s: what is not committed is read again by the next run).
 */
int kafka_source_run(struct collector *c, const struct kafka_source_options *options);

#endif
