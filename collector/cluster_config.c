// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The cluster file; see cluster_config.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_config.h"
#include "parse.h"

#define WORDS_MAX 8

struct parser {
	const char *name;
	unsigned int line;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	used = (size_t)snprintf(p->err, p->err_len, "%s:%u: ", p->name, p->line);
	if (used < p->err_len) {
		va_start(ap, fmt);
		vsnprintf(p->err + used, p->err_len - used, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Splits a line (comment removed) into words; returns how many, or -1 for too many. */
static int split_words(char *line, char **words)
{
	int count = 0;
	char *save = NULL, *word;

	line[strcspn(line, "#")] = '\0';
	for (word = strtok_r(line, " \t\r", &save); word; word = strtok_r(NULL, " \t\r", &save)) {
		if (count == WORDS_MAX)
			return -1;
		words[count++] = word;
	}
	return count;
}

static int copy_word(struct parser *p, char *to, size_t size, const char *setting, const char *word)
{
	if (strlen(word) >= size)
		return fail(p, "%s: longer than %zu characters", setting, size - 1);
	memcpy(to, word, strlen(word) + 1);
	return 0;
}

/* A replica's URL: http(s)://HOST:PORT/, no credentials, no query. */
static int check_url(struct parser *p, const char *url)
{
	const char *host;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return fail(p, "replica '%s': expected http://HOST:PORT/ or https://HOST:PORT/",
			    url);
	host = url + (url[4] == 's' ? 8 : 7);
	if (!*host || *host == '/')
		return fail(p, "replica '%s': no host", url);
	if (strchr(url, '@'))
		return fail(p,
			    "replica '%s': no credentials in the URL; use user and "
			    "password-file",
			    url);
	if (strchr(url, '?') || strchr(url, '#'))
		return fail(p, "replica '%s': no query or fragment in the URL", url);
	return 0;
}

static int parse_number(struct parser *p, const char *setting, const char *word, uint32_t min,
			uint32_t max, uint32_t *value)
{
	if (parse_u32(word, min, max, value))
		return fail(p, "%s '%s': expected a whole number from %u to %u", setting, word, min,
			    max);
	return 0;
}

static int shard_line(struct parser *p, struct cluster_config *config, char **words, int count)
{
	struct cluster_shard_config *shard;
	uint32_t number, i;
	int w;

	if (count < 2)
		return fail(p, "shard: expected 'shard NUMBER [weight W]'");
	if (parse_number(p, "shard", words[1], 1, 1000000, &number))
		return -EINVAL;
	for (i = 0; i < config->shard_count; i++)
		if (config->shards[i].number == number)
			return fail(p, "shard %u: given twice", number);
	if (config->shard_count == CLUSTER_MAX_SHARDS)
		return fail(p, "more than %d shards", CLUSTER_MAX_SHARDS);
	shard = &config->shards[config->shard_count++];
	memset(shard, 0, sizeof(*shard));
	shard->number = number;
	shard->weight = 1;
	for (w = 2; w < count; w++) {
		if (!strcmp(words[w], "standby")) {
			shard->standby = 1;
			continue;
		}
		if (strcmp(words[w], "weight") && strcmp(words[w], "capacity"))
			return fail(p, "shard %u: unknown option '%s' (weight, capacity, standby)",
				    number, words[w]);
		if (w + 1 == count)
			return fail(p, "shard %u: %s without a value", number, words[w]);
		if (!strcmp(words[w], "weight")) {
			if (parse_number(p, "weight", words[w + 1], 1, 1000, &shard->weight))
				return -EINVAL;
		} else if (parse_bytes(words[w + 1], 1 << 20, UINT64_MAX / 2, &shard->capacity)) {
			return fail(p,
				    "capacity '%s': expected bytes of at least 1M (K, M or G "
				    "suffix)",
				    words[w + 1]);
		}
		w++;
	}
	return 0;
}

static int replica_line(struct parser *p, struct cluster_config *config, char **words, int count)
{
	struct cluster_shard_config *shard;
	uint32_t s, r;

	if (!config->shard_count)
		return fail(p, "replica before any 'shard' line: a replica belongs to the shard "
			       "above it");
	if (count != 2 && (count != 4 || strcmp(words[2], "tcp")))
		return fail(p, "replica: expected 'replica URL [tcp PORT]'");
	if (check_url(p, words[1]))
		return -EINVAL;
	for (s = 0; s < config->shard_count; s++)
		for (r = 0; r < config->shards[s].replica_count; r++)
			if (!strcmp(config->shards[s].replicas[r].url, words[1]))
				return fail(p, "replica %s: already a replica of shard %u",
					    words[1], config->shards[s].number);
	shard = &config->shards[config->shard_count - 1];
	if (shard->replica_count == CLUSTER_MAX_REPLICAS)
		return fail(p, "shard %u: more than %d replicas", shard->number,
			    CLUSTER_MAX_REPLICAS);
	shard->replicas[shard->replica_count].tcp_port = 9000;
	if (count == 4 && parse_number(p, "tcp", words[3], 1, 65535,
				       &shard->replicas[shard->replica_count].tcp_port))
		return -EINVAL;
	return copy_word(p, shard->replicas[shard->replica_count++].url, CLUSTER_URL_MAX, "replica",
			 words[1]);
}

static int name_valid(const char *name)
{
	const char *c;

	for (c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
			return 0;
	return *name != '\0';
}

static int setting_line(struct parser *p, struct cluster_config *config, char **words, int count)
{
	const char *setting = words[0];

	if (!strcmp(setting, "shard"))
		return shard_line(p, config, words, count);
	if (!strcmp(setting, "replica"))
		return replica_line(p, config, words, count);
	if (count != 2)
		return fail(p, "%s: expected one value", setting);
	if (!strcmp(setting, "cluster")) {
		if (!name_valid(words[1]))
			return fail(p, "cluster '%s': letters, digits, '_', '-' and '.' only",
				    words[1]);
		return copy_word(p, config->name, sizeof(config->name), setting, words[1]);
	}
	if (!strcmp(setting, "user")) {
		if (!name_valid(words[1]))
			return fail(p, "user '%s': letters, digits, '_', '-' and '.' only",
				    words[1]);
		return copy_word(p, config->user, sizeof(config->user), setting, words[1]);
	}
	if (!strcmp(setting, "password-file"))
		return copy_word(p, config->password_file, sizeof(config->password_file), setting,
				 words[1]);
	if (!strcmp(setting, "probe-interval-ms"))
		return parse_number(p, setting, words[1], 100, 60000, &config->probe_interval_ms);
	if (!strcmp(setting, "fill-limit"))
		return parse_number(p, setting, words[1], 1, 100, &config->fill_limit_percent);
	if (!strcmp(setting, "standby-at"))
		return parse_number(p, setting, words[1], 1, 100, &config->standby_at_percent);
	return fail(p,
		    "unknown setting '%s' (cluster, user, password-file, probe-interval-ms, "
		    "fill-limit, standby-at, shard, replica)",
		    setting);
}

int cluster_config_parse(const char *text, const char *name, struct cluster_config *config,
			 char *err, size_t err_len)
{
	struct parser p = { .name = name, .err = err, .err_len = err_len };
	const char *line = text;
	char buffer[1024], *words[WORDS_MAX];
	uint32_t i;

	memset(config, 0, sizeof(*config));
	snprintf(config->name, sizeof(config->name), "flows");
	config->probe_interval_ms = 1000;
	config->fill_limit_percent = 90;
	config->standby_at_percent = 75;
	while (*line) {
		size_t len = strcspn(line, "\n");
		int count;

		p.line++;
		if (len >= sizeof(buffer))
			return fail(&p, "line longer than %zu characters", sizeof(buffer) - 1);
		memcpy(buffer, line, len);
		buffer[len] = '\0';
		line += len + (line[len] == '\n');
		count = split_words(buffer, words);
		if (count < 0)
			return fail(&p, "too many words");
		if (count && setting_line(&p, config, words, count))
			return -EINVAL;
	}
	p.line = 0;
	if (!config->shard_count) {
		snprintf(err, err_len,
			 "%s: no shard: expected 'shard 1' and its 'replica URL' lines", name);
		return -EINVAL;
	}
	if (config->standby_at_percent > config->fill_limit_percent) {
		snprintf(err, err_len,
			 "%s: standby-at %u%% is above fill-limit %u%%: a standby "
			 "shard must start before the others are full",
			 name, config->standby_at_percent, config->fill_limit_percent);
		return -EINVAL;
	}
	for (i = 0; i < config->shard_count && config->shards[i].standby; i++)
		;
	if (i == config->shard_count) {
		snprintf(err, err_len, "%s: every shard is a standby: nothing would be written",
			 name);
		return -EINVAL;
	}
	for (i = 0; i < config->shard_count; i++)
		if (!config->shards[i].replica_count) {
			snprintf(err, err_len, "%s: shard %u has no replica", name,
				 config->shards[i].number);
			return -EINVAL;
		}
	return 0;
}

int cluster_config_load(const char *path, struct cluster_config *config, char *err, size_t err_len)
{
	FILE *file = fopen(path, "re");
	char *text;
	size_t len;
	int ret;

	if (!file) {
		ret = -errno;
		snprintf(err, err_len, "cluster file %s: %s", path, strerror(errno));
		return ret;
	}
	text = malloc(1 << 20);
	len = text ? fread(text, 1, (1 << 20) - 1, file) : 0;
	if (!text || ferror(file) || !feof(file)) {
		snprintf(err, err_len, "cluster file %s: %s", path,
			 !text	      ? "out of memory" :
			 ferror(file) ? "cannot read it" :
					"larger than 1 MiB");
		free(text);
		fclose(file);
		return -EINVAL;
	}
	fclose(file);
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		snprintf(err, err_len, "cluster file %s: has a NUL byte: not a text file", path);
		free(text);
		return -EINVAL;
	}
	ret = cluster_config_parse(text, path, config, err, err_len);
	free(text);
	return ret;
}

const struct cluster_shard_config *cluster_config_shard(const struct cluster_config *config,
							uint32_t number)
{
	uint32_t i;

	for (i = 0; i < config->shard_count; i++)
		if (config->shards[i].number == number)
			return &config->shards[i];
	return NULL;
}
