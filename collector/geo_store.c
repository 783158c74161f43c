// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading geolocation into ClickHouse; see geo_store.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo_store.h"
#include "log.h"

/*
 * The tables geo load replaces, each built whole as flows.NAME_new first. The dictionary
 * flows.geo reads geo_ranges by name and the region views write into region_1m and region_1d
 * by name, so after the swap they use the new tables.
 */
static const char *const replaced_tables[] = { "region_1m", "region_1d", "countries",
					       "geo_ranges" };
#define REPLACED_COUNT (sizeof(replaced_tables) / sizeof(replaced_tables[0]))

/*
 * On a cluster node, only the tables every node holds whole (sql/cluster/003_geo.sql): its
 * region rollups are shared with the other replicas of its shard and are not rebuilt.
 */
static const char *const node_tables[] = { "countries", "geo_ranges" };

struct table_set {
	const char *const *names;
	size_t count;
};

static const struct table_set embedded_set = { replaced_tables, REPLACED_COUNT };
static const struct table_set node_set = { node_tables,
					   sizeof(node_tables) / sizeof(node_tables[0]) };

/* The rebuild's own dictionary on geo_ranges_new: flows.geo's key and country_code. */
#define GEO_NEW_DICTIONARY                                                               \
	"CREATE DICTIONARY flows.geo_new (prefix String, country_code String DEFAULT '?" \
	"?') "                                                                           \
	"PRIMARY KEY prefix SOURCE(CLICKHOUSE(TABLE 'geo_ranges_new' DB 'flows')) "      \
	"LAYOUT(IP_TRIE) LIFETIME(0)"

/* One received day of region_1m_new, from flows.raw with the new geolocation. */
#define REGION_1M_DAY                                                                            \
	"INSERT INTO flows.region_1m_new (received, minute, agent, direction, side, "            \
	"country_code, bytes, packets, records) "                                                \
	"SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent, " \
	"direction, side, "                                                                      \
	"dictGet('flows.geo_new', 'country_code', if(side = 'src', src_addr, dst_addr)) AS cc, " \
	"sum(bytes * greatest(sampling, 1)), sum(packets * greatest(sampling, 1)), count() "     \
	"FROM flows.raw ARRAY JOIN ['src', 'dst'] AS side "                                      \
	"WHERE toYYYYMMDD(inserted_at) = %s "                                                    \
	"GROUP BY received, minute, agent, direction, side, cc "                                 \
	"SETTINGS insert_deduplicate = 0"

/* The same day of region_1d_new, from region_1m_new as flows.region_1d_mv does it. */
#define REGION_1D_DAY                                                                            \
	"INSERT INTO flows.region_1d_new (received, day, agent, direction, side, country_code, " \
	"bytes, packets, records) "                                                              \
	"SELECT received, toDate(minute) AS day, agent, direction, side, country_code, "         \
	"sum(bytes), sum(packets), sum(records) FROM flows.region_1m_new "                       \
	"WHERE toYYYYMMDD(received) = %s "                                                       \
	"GROUP BY received, day, agent, direction, side, country_code "                          \
	"SETTINGS insert_deduplicate = 0"

/* Tests only: a failure at a chosen step, and the RENAME form on a server that has EXCHANGE. */
struct geo_faults {
	int fail_after_days; /* -1: off */
	int fail_before_swap;
	int force_rename;
};

static void faults_from_environment(struct geo_faults *faults)
{
	const char *fault = getenv("FLOWCOLLECTOR_TEST_GEO_FAULT");
	const char *swap = getenv("FLOWCOLLECTOR_TEST_GEO_SWAP");

	faults->fail_after_days = -1;
	if (fault && !strncmp(fault, "fail-after-days=", 16))
		faults->fail_after_days = atoi(fault + 16);
	else if (fault && !strcmp(fault, "fail-before-swap"))
		faults->fail_before_swap = 1;
	faults->force_rename = swap && !strcmp(swap, "rename");
	if ((fault && *fault) || faults->force_rename)
		pr_warn("*** TEST FAULT: FLOWCOLLECTOR_TEST_GEO_FAULT=%s "
			"FLOWCOLLECTOR_TEST_GEO_SWAP=%s. Never set these outside the tests. ***\n",
			fault ? fault : "", swap ? swap : "");
}

static int exec_format(struct store *store, char *err, size_t err_len, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static int exec_format(struct store *store, char *err, size_t err_len, const char *format, ...)
{
	char *sql = NULL;
	va_list args;
	int ret;

	va_start(args, format);
	ret = vasprintf(&sql, format, args);
	va_end(args);
	if (ret < 0)
		return -ENOMEM;
	ret = store_exec(store, sql, err, err_len);
	free(sql);
	return ret;
}

/*
 * How to swap: EXCHANGE TABLES, atomic for each pair, where the server has it (20.6 and
 * later) and flows is an Atomic database; else one RENAME statement for all of them (older
 * servers, Ordinary databases). *sync_drop: DROP ... SYNC frees the old tables' disk at once.
 */
static int swap_dialect(struct store *store, const struct geo_faults *faults, int *exchange,
			int *sync_drop, int *major, char *err, size_t err_len)
{
	char *engine = NULL;
	int minor, ret;

	ret = store_server_version(store, major, &minor, err, err_len);
	if (!ret)
		ret = store_query(store, "SELECT engine FROM system.databases WHERE name = 'flows'",
				  "TSV", &engine, NULL, err, err_len);
	if (ret)
		return ret;
	*exchange = (*major > 20 || (*major == 20 && minor >= 6)) &&
		    (!strcmp(engine, "Atomic\n") || !strcmp(engine, "Replicated\n")) &&
		    !faults->force_rename;
	*sync_drop = *exchange && *major >= 22;
	pr_info("geo: %s %d.%d, database flows %.*s: swapping with %s\n", store_describe(store),
		*major, minor, (int)strcspn(engine, "\n"), engine,
		*exchange ? "EXCHANGE TABLES" : "RENAME TABLE");
	free(engine);
	return 0;
}

/* 1 when the TSV list of names holds name as a whole line. */
static int name_listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == '\n') && (p[len] == '\n' || !p[len]))
			return 1;
		p += len;
	}
	return 0;
}

/*
 * A RENAME of several tables is not atomic: one that stopped midway (here, or in an earlier
 * run) can leave a table missing while NAME_old holds its data, which then gets its name
 * back, so that every table is whole, old or new. *swapped counts the tables whose old data
 * is under NAME_old: those the RENAME did swap.
 */
static int restore_missing(struct store *store, const struct table_set *set, size_t *swapped,
			   char *err, size_t err_len)
{
	char *tables = NULL, old_name[64];
	size_t i;
	int ret;

	*swapped = 0;
	ret = store_query(store, "SELECT name FROM system.tables WHERE database = 'flows'", "TSV",
			  &tables, NULL, err, err_len);
	for (i = 0; !ret && i < set->count; i++) {
		snprintf(old_name, sizeof(old_name), "%s_old", set->names[i]);
		if (!name_listed(tables, old_name))
			continue;
		if (name_listed(tables, set->names[i])) {
			(*swapped)++;
			continue;
		}
		pr_warn("geo: flows.%s is missing and flows.%s holds its data (a swap stopped "
			"midway): renaming it back\n",
			set->names[i], old_name);
		ret = exec_format(store, err, err_len, "RENAME TABLE flows.%s TO flows.%s",
				  old_name, set->names[i]);
	}
	free(tables);
	return ret;
}

/* What an earlier run left: its missing tables restored, its _new and _old tables dropped. */
static int settle_earlier_run(struct store *store, const struct table_set *set, int sync_drop,
			      char *err, size_t err_len)
{
	const char *sync = sync_drop ? " SYNC" : "";
	size_t swapped, i;
	int ret;

	ret = restore_missing(store, set, &swapped, err, err_len);
	if (!ret && set == &embedded_set) /* a cluster node's build has no dictionary */
		ret = store_exec(store, "DROP DICTIONARY IF EXISTS flows.geo_new", err, err_len);
	for (i = 0; !ret && i < set->count; i++) {
		ret = exec_format(store, err, err_len, "DROP TABLE IF EXISTS flows.%s_new%s",
				  set->names[i], sync);
		if (!ret)
			ret = exec_format(store, err, err_len,
					  "DROP TABLE IF EXISTS flows.%s_old%s", set->names[i],
					  sync);
	}
	return ret;
}

/* After a failure before the swap: the new tables go, the old ones were never touched. */
static void drop_new_tables(struct store *store, const struct table_set *set, int sync_drop)
{
	char ignored[512];
	size_t i;

	if (set == &embedded_set)
		store_exec(store, "DROP DICTIONARY IF EXISTS flows.geo_new", ignored,
			   sizeof(ignored));
	for (i = 0; i < set->count; i++)
		exec_format(store, ignored, sizeof(ignored), "DROP TABLE IF EXISTS flows.%s_new%s",
			    set->names[i], sync_drop ? " SYNC" : "");
}

/* "0,DAY,DAY...": the days of the TSV list, for NOT IN (0 alone when flows.raw is empty). */
static char *day_list_sql(const char *days)
{
	char *list = malloc(strlen(days) + 3), *out = list;
	const char *p = days;

	if (!list)
		return NULL;
	*out++ = '0';
	while (*p) {
		size_t n = strcspn(p, "\n");

		if (n) {
			*out++ = ',';
			memcpy(out, p, n);
			out += n;
		}
		p += n + (p[n] ? 1 : 0);
	}
	*out = '\0';
	return list;
}

/*
 * The region rollups of the new tables: the received days still in flows.raw recomputed from
 * its rows with the new geolocation, scaled by sampling as the materialized views do
 * (sql/003_rollups.sql), one day per insert; the days whose raw rows have expired copied as
 * they are, with the regions they were stored with.
 */
static int build_regions(struct store *store, const struct geo_faults *faults, char *err,
			 size_t err_len)
{
	char *days = NULL, *day, *save = NULL, *list = NULL;
	int ret, done = 0;

	ret = store_query(store,
			  "SELECT DISTINCT toYYYYMMDD(inserted_at) AS d FROM flows.raw ORDER BY d",
			  "TSV", &days, NULL, err, err_len);
	if (ret)
		return ret;
	/* they go into SQL text: eight digits each, nothing else */
	for (day = days; *day; day += strcspn(day, "\n") + 1) {
		if (strcspn(day, "\n") != 8 || strspn(day, "0123456789") != 8 || !day[8]) {
			snprintf(err, err_len, "geo: unexpected day '%.16s' in flows.raw", day);
			free(days);
			return -EINVAL;
		}
	}
	list = day_list_sql(days);
	if (!list)
		ret = -ENOMEM;
	if (!ret)
		ret = exec_format(store, err, err_len,
				  "INSERT INTO flows.region_1m_new SELECT * FROM flows.region_1m "
				  "WHERE toYYYYMMDD(received) NOT IN (%s) SETTINGS "
				  "insert_deduplicate = 0, max_partitions_per_insert_block = 0",
				  list);
	if (!ret)
		ret = exec_format(store, err, err_len,
				  "INSERT INTO flows.region_1d_new SELECT * FROM flows.region_1d "
				  "WHERE toYYYYMMDD(received) NOT IN (%s) SETTINGS "
				  "insert_deduplicate = 0, max_partitions_per_insert_block = 0",
				  list);
	for (day = ret ? NULL : strtok_r(days, "\n", &save); day && !ret;
	     day = strtok_r(NULL, "\n", &save)) {
		if (done == faults->fail_after_days) {
			snprintf(err, err_len, "test fault: failing after %d rebuilt days", done);
			ret = -EIO;
			break;
		}
		ret = exec_format(store, err, err_len, REGION_1M_DAY, day);
		if (!ret)
			ret = exec_format(store, err, err_len, REGION_1D_DAY, day);
		done++;
	}
	free(list);
	free(days);
	return ret;
}

/*
 * The set's NAME_new tables, and the prefixes in geo_ranges_new and countries_new. settings:
 * what the inserts say after SETTINGS, "" for none (18.16 has no INSERT ... SETTINGS).
 */
static int fill_new_tables(struct store *store, const struct table_set *set, const uint8_t *rows,
			   size_t len, const char *settings, char *err, size_t err_len)
{
	const char *with = settings[0] ? " SETTINGS " : "";
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < set->count; i++)
		ret = exec_format(store, err, err_len, "CREATE TABLE flows.%s_new AS flows.%s",
				  set->names[i], set->names[i]);
	if (!ret) {
		char insert[256];

		snprintf(insert, sizeof(insert),
			 "INSERT INTO flows.geo_ranges_new (prefix, country_code, country_name, "
			 "latitude, longitude)%s%s",
			 with, settings);
		ret = store_insert_rowbinary(store, insert, rows, len, err, err_len);
	}
	if (!ret)
		ret = exec_format(store, err, err_len,
				  "INSERT INTO flows.countries_new SELECT country_code, "
				  "any(country_name), any(latitude), any(longitude) FROM "
				  "flows.geo_ranges_new GROUP BY country_code%s%s",
				  with, settings);
	return ret;
}

/* The embedded store's: a failure here leaves the tables in use as they were. */
static int build_embedded(struct store *store, const struct geo_faults *faults, const uint8_t *rows,
			  size_t len, char *err, size_t err_len)
{
	int ret;

	ret = fill_new_tables(store, &embedded_set, rows, len, "insert_deduplicate = 0", err,
			      err_len);
	if (!ret)
		ret = store_exec(store, GEO_NEW_DICTIONARY, err, err_len);
	if (!ret)
		ret = store_exec(store, "SYSTEM RELOAD DICTIONARY flows.geo_new", err, err_len);
	if (!ret)
		ret = build_regions(store, faults, err, err_len);
	if (!ret && faults->fail_before_swap) {
		snprintf(err, err_len, "test fault: failing before the swap");
		ret = -EIO;
	}
	return ret;
}

/*
 * The swap. EXCHANGE: each pair at once, the old data then under the _new name. RENAME: all
 * of them in one statement, the old data under _old; servers that check dependencies (22 and
 * later) are told not to, as flows.geo reads geo_ranges by name and is meant to follow the
 * swap. *swapped says how many tables were swapped, for the message of a failure midway.
 */
static int swap_tables(struct store *store, const struct table_set *set, int exchange, int major,
		       size_t *swapped, char *err, size_t err_len)
{
	char sql[2048], ignored[512];
	size_t i, used = 0;
	int ret = 0;

	*swapped = 0;
	if (exchange) {
		for (i = 0; !ret && i < set->count; i++) {
			ret = exec_format(store, err, err_len,
					  "EXCHANGE TABLES flows.%s AND flows.%s_new",
					  set->names[i], set->names[i]);
			if (!ret)
				(*swapped)++;
		}
		return ret;
	}
	used = (size_t)snprintf(sql, sizeof(sql), "RENAME TABLE ");
	for (i = 0; i < set->count; i++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used,
					 "%sflows.%s TO flows.%s_old, flows.%s_new TO flows.%s",
					 i ? ", " : "", set->names[i], set->names[i], set->names[i],
					 set->names[i]);
	if (major >= 22)
		snprintf(sql + used, sizeof(sql) - used, " SETTINGS check_table_dependencies = 0");
	ret = store_exec(store, sql, err, err_len);
	if (ret)
		restore_missing(store, set, swapped, ignored, sizeof(ignored));
	else
		*swapped = set->count;
	return ret;
}

/* A cluster node's: only the prefixes (its region rollups are shared with its shard). */
static int build_node(struct store *store, const struct geo_faults *faults, const uint8_t *rows,
		      size_t len, char *err, size_t err_len)
{
	(void)faults;
	return fill_new_tables(store, &node_set, rows, len, "", err, err_len);
}

/*
 * Servers before 20.1 have no CREATE DICTIONARY: there flows.geo is the XML dictionary of
 * sql/cluster/geo_dictionary.xml, named with the dot, and reloaded by that quoted name.
 */
static int dictionary_from_config(int major)
{
	return major < 20;
}

static int reload_dictionary(struct store *store, int major, char *err, size_t err_len)
{
	return store_exec(store,
			  dictionary_from_config(major) ? "SYSTEM RELOAD DICTIONARY `flows.geo`" :
							  "SYSTEM RELOAD DICTIONARY flows.geo",
			  err, err_len);
}

/*
 * Both stores: the set's tables built beside those in use, swapped in whole, the dictionary
 * reloaded, the old data dropped. kept ends the message of a failure before the swap.
 */
static int replace_set(struct store *store, const struct table_set *set,
		       int (*build)(struct store *, const struct geo_faults *, const uint8_t *,
				    size_t, char *, size_t),
		       const uint8_t *rows, size_t len, const char *kept, char *err, size_t err_len)
{
	struct geo_faults faults = { 0 };
	int exchange, sync_drop, major, ret;
	char why[1024];
	size_t swapped, i;

	faults_from_environment(&faults);
	ret = swap_dialect(store, &faults, &exchange, &sync_drop, &major, err, err_len);
	if (!ret)
		ret = settle_earlier_run(store, set, sync_drop, err, err_len);
	if (ret)
		return ret;
	ret = build(store, &faults, rows, len, why, sizeof(why));
	if (ret) {
		drop_new_tables(store, set, sync_drop);
		snprintf(err, err_len, "%s; nothing was replaced%s", why, kept);
		return ret;
	}
	ret = swap_tables(store, set, exchange, major, &swapped, why, sizeof(why));
	if (ret) {
		snprintf(err, err_len,
			 "swapping in the new tables failed with %zu of the %zu swapped: %s; each "
			 "table is whole, old or new; run geo load again to finish",
			 swapped, set->count, why);
		return ret;
	}
	/* the dictionary reads flows.geo_ranges again: the new prefixes from here on */
	ret = reload_dictionary(store, major, err, err_len);
	if (!ret && set == &embedded_set)
		ret = store_exec(store, "DROP DICTIONARY IF EXISTS flows.geo_new", err, err_len);
	for (i = 0; !ret && i < set->count; i++)
		ret = exec_format(store, err, err_len, "DROP TABLE IF EXISTS flows.%s_%s%s",
				  set->names[i], exchange ? "new" : "old",
				  sync_drop ? " SYNC" : "");
	return ret;
}

int geo_store_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
		      size_t err_len)
{
	return replace_set(store, &embedded_set, build_embedded, rows, len,
			   ", the geolocation and region rollups in use are as they were", err,
			   err_len);
}

int geo_store_node_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
			   size_t err_len)
{
	return replace_set(store, &node_set, build_node, rows, len, " on this node", err, err_len);
}

int geo_store_node_check(struct store *store, int major, int minor, int load, char *err,
			 size_t err_len)
{
	char *result = NULL, why[512];
	int ret;

	if (!dictionary_from_config(major))
		return 0; /* sql/cluster/003_geo.sql created it */
	ret = store_query(store,
			  "SELECT last_exception FROM system.dictionaries WHERE name = 'flows.geo'",
			  "TSV", &result, NULL, err, err_len);
	if (ret)
		return ret;
	if (!result[0]) {
		free(result);
		snprintf(err, err_len,
			 "no dictionary flows.geo: ClickHouse %d.%d takes dictionaries only from "
			 "its configuration; install sql/cluster/geo_dictionary.xml on this node "
			 "(docs/cluster.md), or the region views would fail every insert",
			 major, minor);
		return -ENXIO;
	}
	if (load && result[0] != '\n') {
		/* it failed to load, as when flows.geo_ranges did not exist yet at its start */
		free(result);
		result = NULL;
		ret = reload_dictionary(store, major, why, sizeof(why));
		if (ret) {
			snprintf(err, err_len, "the dictionary flows.geo does not load: %s", why);
			return ret;
		}
	}
	free(result);
	return 0;
}

int geo_store_node_rows(struct store *store, uint8_t **rows, size_t *len, uint64_t *count,
			char *err, size_t err_len)
{
	char *text = NULL;
	int ret;

	ret = store_query(store, "SELECT count() FROM flows.geo_ranges", "TSV", &text, NULL, err,
			  err_len);
	if (ret)
		return ret;
	*count = strtoull(text, NULL, 10);
	free(text);
	*rows = NULL;
	*len = 0;
	if (!*count)
		return 0;
	return store_query(store,
			   "SELECT prefix, country_code, country_name, latitude, longitude FROM "
			   "flows.geo_ranges",
			   "RowBinary", (char **)rows, len, err, err_len);
}
