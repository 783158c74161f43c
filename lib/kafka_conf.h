/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * librdkafka configuration shared by the agent's producer and the collector's consumer: -X
 * properties from the command line, properties files for TLS, SASL and secrets, and the rule
 * that keeps secrets off command lines and out of messages.
 */
#ifndef FLOW_LIB_KAFKA_CONF_H
#define FLOW_LIB_KAFKA_CONF_H

#include <stddef.h>

struct rd_kafka_conf_s;

/* -X KEY=VALUE properties in command-line order; the strings are the caller's (argv). */
struct kafka_properties {
	const char **items;
	int count;
};

/* A property name that holds a secret (passwords, keys, tokens): never on the command line. */
int kafka_property_is_secret(const char *name);

/*
 * Appends one -X argument after checking it is KEY=VALUE and not a secret. Returns 0, -EINVAL
 * with the reason in err, or -ENOMEM.
 */
int kafka_properties_add(struct kafka_properties *list, const char *arg, char *err, size_t err_len);
void kafka_properties_free(struct kafka_properties *list);

/*
 * Sets one property. where names its origin in the message ("-X", "file:line"); the value is
 * never repeated, as it may be a secret.
 */
int kafka_conf_set(struct rd_kafka_conf_s *conf, const char *name, const char *value,
		   const char *where, char *err, size_t err_len);

/* Sets every -X property of the list, in order. */
int kafka_conf_apply(struct rd_kafka_conf_s *conf, const struct kafka_properties *list, char *err,
		     size_t err_len);

/* Strips leading and trailing white space in place; returns the first kept character. */
char *kafka_conf_trim(char *text);

/*
 * Whether a file of secrets, open as fd, is its owner's alone: 0 when no other permission bit
 * is set and the group has none either, or only read and is a group this process runs in
 * (root:GROUP 0640; a Kubernetes Secret mounted with an fsGroup), else -EPERM with err naming
 * the file and its mode (or the fstat error). Shared by the Kafka properties file and the
 * collector's ClickHouse and HTTP password files.
 */
/*
 * librdkafka's own log lines ("%3|...|FAIL|...") through our logger: its errors and warnings
 * with -v, the rest with -vv. What matters of them reaches the user once, through each
 * program's error callback and delivery reports.
 */
void kafka_conf_route_logs(struct rd_kafka_conf_s *conf);

int secret_file_check(int fd, const char *path, char *err, size_t err_len);

/*
 * Properties from a file of key=value lines ('#' and '!' start comments, as in Java properties
 * files). Errors name the file and line and never repeat a value; a file holding secrets that
 * others can read gets a warning.
 */
int kafka_conf_load_file(struct rd_kafka_conf_s *conf, const char *path, char *err, size_t err_len);

#endif
