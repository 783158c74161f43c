/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Geolocation into the store: the prefix table, its dictionary, and the region rollups. */
#ifndef FLOWCOLLECTOR_GEO_STORE_H
#define FLOWCOLLECTOR_GEO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Replaces flows.geo_ranges with rows (RowBinary of geo_rowbinary_append), rebuilds
 * flows.countries, recomputes the region rollups of every day still in flows.raw (so
 * geolocation loaded after the flows stays exact) and reloads the flows.geo dictionary.
 * Everything is built beside the tables in use (flows.NAME_new, with its own dictionary) and
 * swapped in only once whole: EXCHANGE TABLES where the server and database have it, else one
 * RENAME statement (store_server_version decides). A failure before the swap leaves the
 * tables in use untouched; one during a RENAME leaves each table whole, old or new.
 */
int geo_store_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
		      size_t err_len);

/*
 * A cluster node (sql/cluster/003_geo.sql): every node holds all the geolocation. The node's
 * flows.geo_ranges and flows.countries replaced by the rows (RowBinary, v4-mapped prefixes),
 * whole or not at all, and its dictionary reloaded; its region rollups are left as they are.
 */
int geo_store_node_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
			   size_t err_len);
/*
 * Where the server takes dictionaries from its configuration only (before 20.1): is flows.geo
 * there (sql/cluster/geo_dictionary.xml), and, with load, loaded (reloaded if it failed)?
 * -ENXIO: not there (and err says which file to install).
 */
int geo_store_node_check(struct store *store, int major, int minor, int load, char *err,
			 size_t err_len);
/* The node's prefixes: their count, and the rows in geo_store_node_replace's form (malloc'd). */
int geo_store_node_rows(struct store *store, uint8_t **rows, size_t *len, uint64_t *count,
			char *err, size_t err_len);

#endif
