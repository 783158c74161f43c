// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading geolocation into ClickHouse; see geo_store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo_store.h"

/*
 * The region rollups of every day still in flows.raw, again with the new geolocation: each
 * day's partitions are replaced whole. Older days keep the regions they were stored with.
 */
static int rebuild_regions(struct store *store, char *err, size_t err_len)
{
	static const char *const tables[] = { "region_1d", "region_1m" };
	/* region_1d follows region_1m through its materialized view */
	static const char *const insert =
		"INSERT INTO flows.region_1m SELECT toStartOfMinute(first_seen) AS minute, side, "
		"dictGet('flows.geo', 'country_code', if(side = 'src', src_addr, dst_addr)) AS cc, "
		"sum(bytes), sum(packets), count() FROM flows.raw "
		"ARRAY JOIN ['src', 'dst'] AS side "
		"GROUP BY minute, side, cc SETTINGS insert_deduplicate = 0, "
		"max_partitions_per_insert_block = 0";
	char *days = NULL, *day, *save = NULL, sql[256];
	size_t t;
	int ret;

	ret = store_query(store, "SELECT DISTINCT toYYYYMMDD(first_seen) FROM flows.raw", "TSV",
			  &days, NULL, err, err_len);
	for (day = ret ? NULL : strtok_r(days, "\n", &save); day && !ret;
	     day = strtok_r(NULL, "\n", &save)) {
		for (t = 0; t < sizeof(tables) / sizeof(tables[0]) && !ret; t++) {
			snprintf(sql, sizeof(sql), "ALTER TABLE flows.%s DROP PARTITION ID '%.8s'",
				 tables[t], day);
			ret = store_exec(store, sql, err, err_len);
		}
	}
	free(days);
	if (!ret)
		ret = store_exec(store, insert, err, err_len);
	return ret;
}

int geo_store_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
		      size_t err_len)
{
	int ret;

	ret = store_exec(store, "TRUNCATE TABLE flows.geo_ranges", err, err_len);
	if (!ret)
		ret = store_insert_rowbinary(store,
					     "INSERT INTO flows.geo_ranges (prefix, "
					     "country_code, country_name, latitude, longitude) "
					     "SETTINGS insert_deduplicate = 0",
					     rows, len, err, err_len);
	if (!ret)
		ret = store_exec(store, "SYSTEM RELOAD DICTIONARY flows.geo", err, err_len);
	if (!ret)
		ret = store_exec(store, "TRUNCATE TABLE flows.countries", err, err_len);
	if (!ret)
		ret = store_exec(store,
				 "INSERT INTO flows.countries SELECT country_code, "
				 "any(country_name), any(latitude), any(longitude) FROM "
				 "flows.geo_ranges GROUP BY country_code SETTINGS "
				 "insert_deduplicate = 0",
				 err, err_len);
	if (!ret)
		ret = rebuild_regions(store, err, err_len);
	return ret;
}
