// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* librdkafka properties from the command line and from files; see kafka_conf.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "kafka_conf.h"
#include "log.h"

int kafka_property_is_secret(const char *name)
{
	static const char *const secret_words[] = {
		"password", "secret", "key.pem", "token", "oauthbearer.config", "sasl.jaas"
	};
	size_t i;

	for (i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
		if (strstr(name, secret_words[i]))
			return 1;
	return 0;
}

int kafka_properties_add(struct kafka_properties *list, const char *arg, char *err, size_t err_len)
{
	size_t name_len = strcspn(arg, "=");
	const char **grown;
	char name[256];

	if (!arg[name_len] || !name_len) {
		snprintf(err, err_len, "-X '%s': expected KEY=VALUE", arg);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%.*s", (int)name_len, arg);
	if (kafka_property_is_secret(name)) {
		snprintf(err, err_len,
			 "-X %s: secrets never go on the command line (other users can "
			 "read it in /proc); put it in a --kafka-config file with mode 600",
			 name);
		return -EINVAL;
	}
	grown = realloc(list->items, (size_t)(list->count + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(err, err_len, "-X: out of memory");
		return -ENOMEM;
	}
	list->items = grown;
	list->items[list->count++] = arg;
	return 0;
}

void kafka_properties_free(struct kafka_properties *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *where,
		   char *err, size_t err_len)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		/* The value is not repeated: it may be a secret. */
		snprintf(err, err_len, "%s: Kafka property '%s': %s", where, name, why);
		return -EINVAL;
	}
	return 0;
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const struct kafka_properties *list, char *err,
		     size_t err_len)
{
	int i, ret = 0;

	for (i = 0; !ret && i < list->count; i++) {
		const char *arg = list->items[i];
		size_t name_len = strcspn(arg, "=");
		char *name;

		if (!arg[name_len] || !name_len) {
			snprintf(err, err_len, "-X %s: expected key=value", arg);
			return -EINVAL;
		}
		name = strndup(arg, name_len);
		if (!name)
			return -ENOMEM;
		ret = kafka_conf_set(conf, name, arg + name_len + 1, "-X", err, err_len);
		free(name);
	}
	return ret;
}

char *kafka_conf_trim(char *text)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return text;
}

/*
 * A group may read a secret when this process runs in it and it cannot write it: root:GROUP
 * 0640 is how a root-owned secret is given to a service's group, and how Kubernetes mounts a
 * Secret for a pod with an fsGroup (root:fsGroup, group read added to the mode).
 */
static int secret_group_is_ours(const struct stat *st)
{
	gid_t groups[256];
	int i, n;

	if (st->st_mode & 0030)
		return 0;
	if (st->st_gid == getegid())
		return 1;
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (i = 0; i < n; i++)
		if (groups[i] == st->st_gid)
			return 1;
	return 0;
}

int secret_file_check(int fd, const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (fstat(fd, &st)) {
		int ret = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if ((st.st_mode & 0007) || ((st.st_mode & 0070) && !secret_group_is_ours(&st))) {
		snprintf(
			err, err_len,
			"%s has mode %04o: users other than its owner have access to it; chmod 600 "
			"it (or 640, in a group this program runs as)",
			path, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int kafka_conf_load_file(rd_kafka_conf_t *conf, const char *path, char *err, size_t err_len)
{
	char line[4096], where[4200], why[512];
	int line_number = 0, has_secret = 0, ret = 0;
	FILE *file;

	file = fopen(path, "re");
	if (!file) {
		ret = -errno;
		snprintf(err, err_len, "--kafka-config %s: %s", path, strerror(errno));
		return ret;
	}
	while (fgets(line, sizeof(line), file)) {
		char *text, *eq;

		line_number++;
		snprintf(where, sizeof(where), "%s:%d", path, line_number);
		if (!strchr(line, '\n') && !feof(file)) {
			snprintf(err, err_len, "%s: line longer than %zu bytes", where,
				 sizeof(line) - 2);
			ret = -EINVAL;
			break;
		}
		text = kafka_conf_trim(line);
		if (!*text || *text == '#' || *text == '!')
			continue;
		eq = strchr(text, '=');
		if (!eq || eq == text) {
			snprintf(err, err_len, "%s: expected key=value", where);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		text = kafka_conf_trim(text);
		has_secret |= kafka_property_is_secret(text);
		ret = kafka_conf_set(conf, text, kafka_conf_trim(eq + 1), where, err, err_len);
		if (ret)
			break;
	}
	if (!ret && has_secret && secret_file_check(fileno(file), path, why, sizeof(why)))
		pr_warn("warning: %s holds secrets and is readable by other users; chmod 600 it\n",
			path);
	fclose(file);
	return ret;
}

static void log_to_logger(const rd_kafka_t *rk, int level, const char *facility,
			  const char *message)
{
	(void)rk;
	/* syslog levels: 0-4 are errors and warnings */
	if (level <= 4)
		pr_info("kafka: %s: %s\n", facility, message);
	else
		pr_debug("kafka: %s: %s\n", facility, message);
}

void kafka_conf_route_logs(rd_kafka_conf_t *conf)
{
	rd_kafka_conf_set_log_cb(conf, log_to_logger);
}
