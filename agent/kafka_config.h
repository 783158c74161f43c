/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The producer's configuration: what the exporter and the --check command share. It validates
 * the agent's options and turns them, the properties file and -X into a librdkafka conf.
 */
#ifndef FLOWAGENT_KAFKA_CONFIG_H
#define FLOWAGENT_KAFKA_CONFIG_H

#include <stddef.h>

#include "kafka_export.h"
#include "wire.h"

struct rd_kafka_conf_s;

/*
 * The agent id (--agent-id, else the host name) into agent_id, checked against what a batch
 * can carry, and --compression checked. Returns 0 or -EINVAL with the reason in err.
 */
int kafka_config_validate(const struct kafka_export_config *config,
			  char agent_id[WIRE_AGENT_ID_MAX + 1], char *err, size_t err_len);

/*
 * A librdkafka conf for the producer: our defaults (idempotence, compression, queue bounds),
 * then the properties file, then -X, which win; but a file line or -X that weakens the
 * guarantees (enable.idempotence other than true, acks other than all/-1,
 * max.in.flight.requests.per.connection above 5, retries 0) is refused, -EINVAL with err
 * naming the property and its file:line or -X. for_check: a metadata-only client that never
 * creates topics. The caller owns *conf.
 */
int kafka_config_producer_conf(const struct kafka_export_config *config, const char *agent_id,
			       int for_check, struct rd_kafka_conf_s **conf, char *err,
			       size_t err_len);

#endif
