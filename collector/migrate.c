// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Schema migrations from sql/; see migrate.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"

#define MIGRATIONS_TABLE "flows.schema_migrations"

static const char *const engines[] = { "MergeTree", "SummingMergeTree", "AggregatingMergeTree",
				       "ReplacingMergeTree", "CollapsingMergeTree" };

char *read_text_file(const char *path, char *err, size_t err_len)
{
	FILE *file = fopen(path, "re");
	char *text = NULL;
	long size;

	if (!file) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(file, 0, SEEK_END) || (size = ftell(file)) < 0 || fseek(file, 0, SEEK_SET) ||
	    !(text = malloc((size_t)size + 1)) ||
	    fread(text, 1, (size_t)size, file) != (size_t)size) {
		snprintf(err, err_len, "%s: cannot read it", path);
		free(text);
		fclose(file);
		return NULL;
	}
	text[size] = '\0';
	fclose(file);
	return text;
}

/* A growable string. */
struct text {
	char *data;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *grown = realloc(t->data, cap);

		if (!grown)
			return -ENOMEM;
		t->data = grown;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
	return 0;
}

static int text_add_number(struct text *t, unsigned int value)
{
	char number[16];

	snprintf(number, sizeof(number), "%u", value);
	return text_add(t, number, strlen(number));
}

static int placeholder_is(const char *content, size_t len, const char *name)
{
	return len == strlen(name) && !strncmp(content, name, len);
}

/* {{Engine}} or {{Engine(args)}}: the engine, replicated when asked. */
static int expand_engine(struct text *out, const char *content, size_t len,
			 const struct migrate_options *options)
{
	size_t i;

	for (i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		size_t name_len = strlen(engines[i]);
		const char *args;
		size_t args_len;
		char buffer[1024];
		int n;

		if (len < name_len || strncmp(content, engines[i], name_len) ||
		    (len > name_len && content[name_len] != '('))
			continue;
		args = len > name_len ? content + name_len + 1 : "";
		args_len = len > name_len ? len - name_len - 2 : 0; /* without the parentheses */
		if (!options->replicated)
			n = snprintf(buffer, sizeof(buffer), "%s(%.*s)", engines[i], (int)args_len,
				     args);
		else
			n = snprintf(
				buffer, sizeof(buffer),
				"Replicated%s('/clickhouse/tables/{shard}/{database}/{table}', "
				"'{replica}'%s%.*s)",
				engines[i], args_len ? ", " : "", (int)args_len, args);
		if (n < 0 || (size_t)n >= sizeof(buffer))
			return -E2BIG;
		return text_add(out, buffer, (size_t)n);
	}
	return -ENOENT;
}

/*
 * Lines "--@since MAJOR.MINOR SQL" give SQL only to servers of that version or later (and are
 * comments to the others): one file for ClickHouse 18.16 and for today's. A version of 0.0
 * (unknown) takes none of them.
 */
static char *gate_versions(const char *text, const struct migrate_options *options, char *err,
			   size_t err_len)
{
	static const char marker[] = "--@since ";
	struct text out = { 0 };
	const char *line = text;
	unsigned int line_number = 0;

	text_add(&out, "", 0);
	while (*line) {
		size_t len = strcspn(line, "\n");
		const char *start = line + strspn(line, " \t");
		unsigned int major, minor;
		int used = 0, ok = 1;

		line_number++;
		if (!strncmp(start, marker, sizeof(marker) - 1)) {
			if (sscanf(start + sizeof(marker) - 1, "%u.%u %n", &major, &minor, &used) <
				    2 ||
			    !used) {
				snprintf(err, err_len,
					 "line %u: expected '--@since MAJOR.MINOR SQL'",
					 line_number);
				free(out.data);
				return NULL;
			}
			if ((unsigned int)options->server_major > major ||
			    ((unsigned int)options->server_major == major &&
			     (unsigned int)options->server_minor >= minor)) {
				const char *sql = start + sizeof(marker) - 1 + used;

				ok = !text_add(&out, sql, len - (size_t)(sql - line));
			} else {
				ok = !text_add(&out, "--", 2);
			}
		} else {
			ok = !text_add(&out, line, len);
		}
		if (ok && line[len] == '\n')
			ok = !text_add(&out, "\n", 1);
		if (!ok) {
			snprintf(err, err_len, "out of memory");
			free(out.data);
			return NULL;
		}
		line += len + (line[len] == '\n');
	}
	return out.data;
}

char *migrate_expand(const char *source, const struct migrate_options *options, char *err,
		     size_t err_len)
{
	char *text = gate_versions(source, options, err, err_len);
	struct text out = { 0 };
	const char *p = text;

	if (!text)
		return NULL;

	text_add(&out, "", 0);
	while (*p) {
		const char *open = strstr(p, "{{"), *close;
		size_t len;
		int ret;

		if (!open) {
			text_add(&out, p, strlen(p));
			break;
		}
		close = strstr(open + 2, "}}");
		if (!close) {
			snprintf(err, err_len, "unclosed {{ placeholder");
			free(out.data);
			free(text);
			return NULL;
		}
		text_add(&out, p, (size_t)(open - p));
		len = (size_t)(close - open - 2);
		if (placeholder_is(open + 2, len, "retention_days")) {
			ret = text_add_number(&out, options->retention_days);
		} else if (placeholder_is(open + 2, len, "rollup_retention_days")) {
			ret = text_add_number(&out, options->rollup_retention_days);
		} else if (placeholder_is(open + 2, len, "cluster") && options->cluster_name) {
			/* a name of [A-Za-z0-9_.-] (cluster_config.c), quoted as a string */
			ret = text_add(&out, "'", 1) ||
			      text_add(&out, options->cluster_name,
				       strlen(options->cluster_name)) ||
			      text_add(&out, "'", 1);
		} else {
			ret = expand_engine(&out, open + 2, len, options);
		}
		if (ret) {
			snprintf(err, err_len, "unknown placeholder {{%.*s}}", (int)len, open + 2);
			free(out.data);
			free(text);
			return NULL;
		}
		p = close + 2;
	}
	free(text);
	return out.data;
}

static int is_migration_name(const char *name)
{
	size_t len = strlen(name);

	if (name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")])
		return 0;
	return len > 8 && isdigit((unsigned char)name[0]) && isdigit((unsigned char)name[1]) &&
	       isdigit((unsigned char)name[2]) && name[3] == '_' && !strcmp(name + len - 4, ".sql");
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int migration_filter(const struct dirent *entry)
{
	return is_migration_name(entry->d_name);
}

/* Runs each statement: they end with ';' at the end of a line. */
static int run_statements(struct store *store, const char *file, char *sql, char *err,
			  size_t err_len)
{
	char *statement = sql, *p = sql;
	int line = 1, statement_line = 1;

	for (;; p++) {
		int end = !*p;

		if (*p == ';') {
			char *q = p + 1;

			while (*q == ' ' || *q == '\t' || *q == '\r')
				q++;
			end = *q == '\n' || !*q;
		}
		if (*p == '\n')
			line++;
		if (!end)
			continue;
		{
			char saved = *p, why[700];
			const char *s = statement;
			int has_code = 0;

			*p = '\0';
			/* skip statements that are only comments and blanks */
			while (*s) {
				if (s[0] == '-' && s[1] == '-') {
					s = strchr(s, '\n');
					if (!s)
						break;
				} else if (!isspace((unsigned char)*s)) {
					has_code = 1;
					break;
				}
				s++;
			}
			if (has_code && store_exec(store, statement, why, sizeof(why))) {
				snprintf(err, err_len, "%s: statement at line %d: %s", file,
					 statement_line, why);
				return -EIO;
			}
			*p = saved;
		}
		if (!*p)
			return 0;
		statement = p + 1;
		statement_line = line;
	}
}

static int applied_versions(struct store *store, unsigned char *applied, char *err, size_t err_len)
{
	char *result = NULL, *line, *save = NULL;
	int ret;

	ret = store_exec(store, "CREATE DATABASE IF NOT EXISTS flows", err, err_len);
	if (!ret)
		ret = store_exec(store,
				 "CREATE TABLE IF NOT EXISTS " MIGRATIONS_TABLE " (version UInt32, "
				 "name String, applied_at DateTime DEFAULT now()) "
				 "ENGINE = MergeTree ORDER BY version",
				 err, err_len);
	if (!ret)
		ret = store_query(store, "SELECT DISTINCT version FROM " MIGRATIONS_TABLE, "TSV",
				  &result, NULL, err, err_len);
	if (ret)
		return ret;
	for (line = strtok_r(result, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long version = strtoul(line, NULL, 10);

		if (version < 1000)
			applied[version] = 1;
	}
	free(result);
	return 0;
}

int migrate_apply(struct store *store, const struct migrate_options *options, char *err,
		  size_t err_len)
{
	unsigned char applied[1000] = { 0 };
	struct migrate_options gated = *options;
	struct dirent **entries = NULL;
	int count, i, done = 0, ret = 0;

	options = &gated;
	ret = applied_versions(store, applied, err, err_len);
	if (ret)
		return ret;
	count = scandir(options->sql_dir, &entries, migration_filter, name_order);
	if (count < 0) {
		snprintf(err, err_len, "schema directory %s: %s", options->sql_dir,
			 strerror(errno));
		return -errno;
	}
	if (count == 0) {
		snprintf(err, err_len, "schema directory %s has no NNN_name.sql files",
			 options->sql_dir);
		ret = -ENOENT;
	}
	for (i = 0; i < count && !ret; i++) {
		unsigned int version = (unsigned int)strtoul(entries[i]->d_name, NULL, 10);
		char path[4096], record[512], *text, *sql;

		if (applied[version] && !options->force)
			continue;
		snprintf(path, sizeof(path), "%s/%s", options->sql_dir, entries[i]->d_name);
		text = read_text_file(path, err, err_len);
		if (!text) {
			ret = -EIO;
			break;
		}
		/* the server's version only when a file has lines for some versions only */
		if (!gated.server_major && strstr(text, "--@since ")) {
			ret = store_server_version(store, &gated.server_major, &gated.server_minor,
						   err, err_len);
			if (ret) {
				free(text);
				break;
			}
		}
		sql = migrate_expand(text, options, record, sizeof(record));
		free(text);
		if (!sql) {
			snprintf(err, err_len, "%s: %s", path, record);
			ret = -EINVAL;
			break;
		}
		ret = run_statements(store, path, sql, err, err_len);
		free(sql);
		if (ret)
			break;
		snprintf(record, sizeof(record),
			 "INSERT INTO " MIGRATIONS_TABLE " (version, name) VALUES (%u, '%s')",
			 version, entries[i]->d_name);
		ret = store_exec(store, record, err, err_len);
		if (!ret) {
			pr_info("schema: applied %s\n", entries[i]->d_name);
			done++;
		}
	}
	for (i = 0; i < count; i++)
		free(entries[i]);
	free(entries);
	return ret ? ret : done;
}
