/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Geolocation into the store: the prefix table, its dictionary, and the region rollups. */
#ifndef FLOWCOLLECTOR_GEO_STORE_H
#define FLOWCOLLECTOR_GEO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Replaces flows.geo_ranges with rows (RowBinary of geo_rowbinary_append), reloads the
 * flows.geo dictionary, rebuilds flows.countries, and recomputes the region rollups of every
 * day still in flows.raw, so geolocation loaded after the flows stays exact.
 */
int geo_store_replace(struct store *store, const uint8_t *rows, size_t len, char *err,
		      size_t err_len);

#endif
