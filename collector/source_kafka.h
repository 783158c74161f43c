/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Kafka source: a consumer in a group, reading flow batches and committing their offsets
 * only once the rows they hold are in the store. A crash before the commit makes Kafka hand
 * the batches out again; ingest then skips those already stored.
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
};

/*
 * Consumes until a stop is asked for (or exit_idle_ms without a message), then stores and
 * commits what was read. Returns 0, -EINVAL for a configuration the consumer refused (err
 * printed), or -EIO when rows could not be stored.
 */
int kafka_source_run(struct collector *c, const struct kafka_source_options *options);

#endif
