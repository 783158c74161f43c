// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Kafka connectivity check; see kafka_check.h. */
#include <inttypes.h>
#include <stdio.h>
#include <librdkafka/rdkafka.h>

#include "kafka_check.h"
#include "kafka_config.h"
#include "log.h"

/* Brokers, then the topic's partitions; returns whether every partition has a leader. */
static enum kafka_check_result print_metadata(const struct rd_kafka_metadata *metadata,
					      const char *topic_name, const char *agent_id)
{
	const rd_kafka_metadata_topic_t *topic = &metadata->topics[0];
	enum kafka_check_result result = KAFKA_CHECK_OK;
	rd_kafka_resp_err_t err;
	int i;

	printf("brokers (%d):\n", metadata->broker_cnt);
	for (i = 0; i < metadata->broker_cnt; i++)
		printf("  %" PRId32 "  %s:%d\n", metadata->brokers[i].id, metadata->brokers[i].host,
		       metadata->brokers[i].port);
	if (metadata->topic_cnt != 1 || topic->err) {
		err = metadata->topic_cnt ? topic->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		pr_warn("topic '%s': %s\n", topic_name, rd_kafka_err2str(err));
		return KAFKA_CHECK_UNUSABLE;
	}
	printf("topic %s: %d partition(s)\n", topic_name, topic->partition_cnt);
	for (i = 0; i < topic->partition_cnt; i++) {
		const rd_kafka_metadata_partition_t *partition = &topic->partitions[i];

		printf("  partition %" PRId32 "  leader %" PRId32 "%s%s\n", partition->id,
		       partition->leader, partition->err ? "  error: " : "",
		       partition->err ? rd_kafka_err2str(partition->err) : "");
		if (partition->err || partition->leader < 0)
			result = KAFKA_CHECK_UNUSABLE;
	}
	printf("agent id %s: batches go to one partition, chosen by this key\n", agent_id);
	if (result != KAFKA_CHECK_OK)
		pr_warn("topic '%s' has partitions without a leader\n", topic_name);
	return result;
}

enum kafka_check_result kafka_check(const struct kafka_export_config *config, int timeout_ms)
{
	const struct rd_kafka_metadata *metadata = NULL;
	enum kafka_check_result result = KAFKA_CHECK_UNUSABLE;
	char agent_id[WIRE_AGENT_ID_MAX + 1], why[512];
	rd_kafka_topic_t *topic;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;

	if (kafka_config_validate(config, agent_id, why, sizeof(why)) ||
	    kafka_config_producer_conf(config, agent_id, 1, &conf, why, sizeof(why))) {
		pr_warn("%s\n", why);
		return KAFKA_CHECK_BAD_CONFIG;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		pr_warn("cannot create the Kafka producer: %s\n", why);
		return KAFKA_CHECK_BAD_CONFIG;
	}
	topic = rd_kafka_topic_new(rk, config->topic, NULL);
	err = rd_kafka_metadata(rk, 0, topic, &metadata, timeout_ms);
	if (err)
		pr_warn("no answer from the brokers %s within %d ms: %s\n", config->brokers,
			timeout_ms, rd_kafka_err2str(err));
	else
		result = print_metadata(metadata, config->topic, agent_id);
	if (metadata)
		rd_kafka_metadata_destroy(metadata);
	if (topic)
		rd_kafka_topic_destroy(topic);
	rd_kafka_destroy(rk);
	return result;
}
