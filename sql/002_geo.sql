-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Geolocation: CIDR prefixes to countries, filled by `flowcollector geo load`, and an ip_trie
-- dictionary on them. IPv4 prefixes match the v4-mapped addresses of flows.raw.

CREATE TABLE IF NOT EXISTS flows.geo_ranges
(
    prefix String,
    country_code LowCardinality(String),
    country_name LowCardinality(String),
    latitude Float32,
    longitude Float32
)
ENGINE = {{MergeTree}}
ORDER BY prefix;

-- One row per country, for names and map coordinates: geo load fills it from geo_ranges.
CREATE TABLE IF NOT EXISTS flows.countries
(
    country_code LowCardinality(String),
    country_name String,
    latitude Float32,
    longitude Float32
)
ENGINE = {{ReplacingMergeTree}}
ORDER BY country_code;

CREATE DICTIONARY IF NOT EXISTS flows.geo
(
    prefix String,
    country_code String DEFAULT '??',
    country_name String DEFAULT 'Unknown',
    latitude Float32 DEFAULT 0,
    longitude Float32 DEFAULT 0
)
PRIMARY KEY prefix
SOURCE(CLICKHOUSE(TABLE 'geo_ranges' DB 'flows'))
LAYOUT(IP_TRIE)
LIFETIME(0);
