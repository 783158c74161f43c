/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* flowagent --check: do the brokers answer, and can the topic take batches? */
#ifndef FLOWAGENT_KAFKA_CHECK_H
#define FLOWAGENT_KAFKA_CHECK_H

#include "kafka_export.h"

enum kafka_check_result {
	KAFKA_CHECK_OK = 0,	/* the topic exists and every partition has a leader */
	KAFKA_CHECK_UNUSABLE,	/* no answer, no such topic, or leaderless partitions */
	KAFKA_CHECK_BAD_CONFIG, /* the options or properties were wrong */
};

/*
 * Asks the brokers for the topic's metadata, prints brokers and partitions on stdout and
 * what is wrong on stderr.
 */
enum kafka_check_result kafka_check(const struct kafka_export_config *config, int timeout_ms);

#endif
