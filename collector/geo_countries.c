// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The country table geolocation loads take names and map points from; see geo.h. */
#include "embed.h"
#include "geo.h"

EMBED(geo_countries_tsv, MAP_DIR "/countries.tsv");
