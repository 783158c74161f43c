// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading geolocation into ClickHouse; see geo_store.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo_store.h"

/* One received day of region_1m; region_1d follows through its materialized view. */
#define REGION_INSERT_DAY                                                                        \
	"INSERT INTO flows.region_1m (received, minute, agent, direction, side, country_code, "  \
	"bytes, packets, records) "                                                              \
	"SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent, " \
	"direction, side, "                                                                      \
	"dictGet('flows.geo', 'country_code', if(side = 'src', src_addr, dst_addr)) AS cc, "     \
	"sum(bytes * greatest(sampling, 1)), sum(packets * greatest(sampling, 1)), count() "     \
	"FROM flows.raw ARRAY JOIN ['src', 'dst'] AS side "                                      \
	"WHERE toYYYYMMDD(inserted_at) = %s "                                                    \
	"GROUP BY received, minute, agent, direction, side, cc "                                 \
	"SETTINGS insert_deduplicate = 0"

/*
 * The region rollups of every received day still in flows.raw, again with the new
 * geolocation: both region tables are partitioned by the day flows.raw stored a row
 * (received = toDate(inserted_at)), so each such day is dropped whole and rebuilt from the
 * raw rows of that day, scaled by sampling as the materialized views do (sql/003_rollups.sql).
 * One day at a time, so a failure leaves the days before it rebuilt and the days after it as
 * they were; only the day being rebuilt can be missing until geo load runs again. Days whose
 * raw rows have expired keep the regions they were stored with.
 */
static int rebuild_regions(struct store *store, char *err, size_t err_len)
{
	static const char *const tables[] = { "region_1d", "region_1m" };
	char *days = NULL, *day, *save = NULL, sql[1024];
	size_t t;
	int ret;

	ret = store_query(store,
			  "SELECT DISTINCT toYYYYMMDD(inserted_at) AS d FROM flows.raw ORDER BY d",
			  "TSV", &days, NULL, err, err_len);
	for (day = ret ? NULL : strtok_r(days, "\n", &save); day && !ret;
	     day = strtok_r(NULL, "\n", &save)) {
		if (strlen(day) != 8 || strspn(day, "0123456789") != 8) {
			snprintf(err, err_len, "geo: unexpected day '%.16s' in flows.raw", day);
			ret = -EINVAL;
			break;
		}
		for (t = 0; t < sizeof(tables) / sizeof(tables[0]) && !ret; t++) {
			snprintf(sql, sizeof(sql), "ALTER TABLE flows.%s DROP PARTITION ID '%s'",
				 tables[t], day);
			ret = store_exec(store, sql, err, err_len);
		}
		if (!ret) {
			snprintf(sql, sizeof(sql), REGION_INSERT_DAY, day);
			ret = store_exec(store, sql, err, err_len);
		}
	}
	free(days);
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
