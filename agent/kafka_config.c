// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The producer's librdkafka configuration; see kafka_config.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <librdkafka/rdkafka.h>

#include "agent_id.h"
#include "kafka_conf.h"
#include "kafka_config.h"
#include "log.h"

#define DEFAULT_MESSAGE_TIMEOUT "30000"

int kafka_config_validate(const struct kafka_export_config *config,
			  char agent_id[WIRE_AGENT_ID_MAX + 1], char *err, size_t err_len)
{
	static const char *const codecs[] = { "lz4", "zstd", "gzip", "snappy", "none" };
	const char *compression = config->compression ? config->compression : "lz4";
	const char *id;
	char escaped[AGENT_ID_ESCAPED_MAX];
	size_t i;

	if (config->agent_id) {
		snprintf(agent_id, WIRE_AGENT_ID_MAX + 1, "%s", config->agent_id);
	} else if (wire_default_agent_id(agent_id, WIRE_AGENT_ID_MAX + 1)) {
		snprintf(err, err_len,
			 "cannot read the host name for the agent id; give --agent-id");
		return -EINVAL;
	}
	id = config->agent_id ? config->agent_id : agent_id;
	if (!agent_id_valid(id, strlen(id))) {
		agent_id_escape(id, strlen(id), escaped, sizeof(escaped));
		snprintf(err, err_len, "--agent-id '%s': use " AGENT_ID_RULE, escaped);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (!strcmp(compression, codecs[i]))
			return 0;
	snprintf(err, err_len, "--compression '%s': use lz4, zstd, gzip, snappy or none",
		 compression);
	return -EINVAL;
}

/*
 * The settings exactly-once rests on: idempotence (no duplicates or reordering from
 * librdkafka's own retries), acks from every in-sync replica, at most 5 requests in flight
 * (what idempotence can keep in order) and retries. Each name lists its aliases.
 */
struct safety_rule {
	const char *names[3];
	const char *needs;
	int (*safe)(const char *value);
};

static int is_true(const char *value)
{
	return !strcasecmp(value, "true") || !strcasecmp(value, "t") || !strcmp(value, "1");
}

static int is_acks_all(const char *value)
{
	return !strcasecmp(value, "all") || !strcmp(value, "-1");
}

static int parse_long(const char *value, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(value, &end, 10);
	return errno || end == value || *end ? -EINVAL : 0;
}

/* Unparsable values are librdkafka's to reject, with its own message. */
static int in_flight_ok(const char *value)
{
	long n;

	return parse_long(value, &n) || n <= 5;
}

static int retries_ok(const char *value)
{
	long n;

	return parse_long(value, &n) || n > 0;
}

static const struct safety_rule safety_rules[] = {
	{ { "enable.idempotence" }, "true", is_true },
	{ { "acks", "request.required.acks" }, "all (or -1)", is_acks_all },
	{ { "max.in.flight.requests.per.connection", "max.in.flight" }, "at most 5", in_flight_ok },
	{ { "retries", "message.send.max.retries" }, "more than 0", retries_ok },
};

static const struct safety_rule *safety_rule_of(const char *name)
{
	size_t i, j;

	for (i = 0; i < sizeof(safety_rules) / sizeof(safety_rules[0]); i++)
		for (j = 0; j < 3 && safety_rules[i].names[j]; j++)
			if (!strcmp(name, safety_rules[i].names[j]))
				return &safety_rules[i];
	return NULL;
}

static int refuse(const char *where, const char *name, const struct safety_rule *rule, char *err,
		  size_t err_len)
{
	snprintf(err, err_len,
		 "%s: Kafka property '%s' must be %s: flowagent's delivery guarantees (no batch "
		 "lost, none reordered) rest on it, so it cannot be weakened",
		 where, name, rule->needs);
	return -EINVAL;
}

/*
 * Refuses a properties file line or -X argument that weakens a safety setting, naming where it
 * came from. Every setting is checked, not only the last: a weak one is a mistake to report
 * even if a later line happens to repair it. Syntax errors are left to kafka_conf_load_file.
 */
static int check_safety(const struct kafka_export_config *config, char *err, size_t err_len)
{
	const struct safety_rule *rule;
	char line[4096], where[4200];
	int i, line_number = 0, ret = 0;
	FILE *file;

	if (config->properties_file && (file = fopen(config->properties_file, "re"))) {
		while (!ret && fgets(line, sizeof(line), file)) {
			char *text = kafka_conf_trim(line), *eq = strchr(text, '=');

			line_number++;
			if (!*text || *text == '#' || *text == '!' || !eq)
				continue;
			*eq = '\0';
			text = kafka_conf_trim(text);
			rule = safety_rule_of(text);
			if (rule && !rule->safe(kafka_conf_trim(eq + 1))) {
				snprintf(where, sizeof(where), "%s:%d", config->properties_file,
					 line_number);
				ret = refuse(where, text, rule, err, err_len);
			}
		}
		fclose(file);
	}
	for (i = 0; !ret && i < config->properties.count; i++) {
		const char *arg = config->properties.items[i];
		size_t name_len = strcspn(arg, "=");
		char name[256];

		if (!arg[name_len] || name_len >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)name_len, arg);
		rule = safety_rule_of(name);
		if (rule && !rule->safe(arg + name_len + 1))
			ret = refuse("-X", name, rule, err, err_len);
	}
	return ret;
}

int kafka_config_producer_conf(const struct kafka_export_config *config, const char *agent_id,
			       int for_check, rd_kafka_conf_t **out, char *err, size_t err_len)
{
	char queue_kb_text[32], message_max_text[32], client_id[WIRE_AGENT_ID_MAX + 16];
	unsigned long long queue_kb = config->queue_max_bytes / 1024 + 4096;
	size_t message_max = config->batch_bytes + 4096;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int ret;

	if (queue_kb > 0x7fffffff)
		queue_kb = 0x7fffffff;
	if (message_max < 1000000)
		message_max = 1000000;
	snprintf(client_id, sizeof(client_id), "flowagent-%s", agent_id);
	snprintf(queue_kb_text, sizeof(queue_kb_text), "%llu", queue_kb);
	snprintf(message_max_text, sizeof(message_max_text), "%zu", message_max);

	ret = kafka_conf_set(conf, "bootstrap.servers", config->brokers, "--kafka", err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "client.id", client_id, "--agent-id", err, err_len);
	if (!ret && !for_check)
		ret = kafka_conf_set(conf, "enable.idempotence", "true", "default", err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "compression.codec",
				     config->compression ? config->compression : "lz4",
				     "--compression", err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "linger.ms", "5", "default", err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT, "default",
				     err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "queue.buffering.max.kbytes", queue_kb_text,
				     "--queue-max-bytes", err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", "default",
				     err, err_len);
	if (!ret)
		ret = kafka_conf_set(conf, "message.max.bytes", message_max_text, "--batch-bytes",
				     err, err_len);
	if (!ret && for_check)
		ret = kafka_conf_set(conf, "allow.auto.create.topics", "false", "default", err,
				     err_len);
	if (!ret && config->properties_file)
		ret = kafka_conf_load_file(conf, config->properties_file, err, err_len);
	if (!ret)
		ret = kafka_conf_apply(conf, &config->properties, err, err_len);
	/* after loading, so a file's own errors come first; --check refuses them as well */
	if (!ret)
		ret = check_safety(config, err, err_len);
	if (ret) {
		rd_kafka_conf_destroy(conf);
		return ret;
	}
	kafka_conf_route_logs(conf);
	*out = conf;
	return 0;
}
