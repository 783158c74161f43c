-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Geolocation on a cluster: every node holds all of it, in plain tables (neither replicated
-- nor sharded), so each node's region views and dictionary lookups stay local. `flowcollector
-- geo load --cluster FILE` fills them on every node; a node that joins later (a new shard, a
-- replica that lost its disk) gets a copy from one that has them when its schema is applied.
-- IPv4 prefixes are written v4-mapped (::ffff:a.b.c.d/(96 + length)): 18.16's ip_trie only
-- matches the v4-mapped addresses of flows.raw that way.
--
-- The dictionary flows.geo: CREATE DICTIONARY where the server has it (20.1 and later). Older
-- servers take dictionaries only from their configuration files: sql/cluster/geo_dictionary.xml,
-- installed on every node (docs/cluster.md); the collector checks that it is there, reloads it
-- after every geo load, and takes a node without it out of the write path (the region views
-- would fail every insert).

CREATE TABLE IF NOT EXISTS flows.geo_ranges
(
    prefix String,
    country_code String,
    country_name String,
    latitude Float32,
    longitude Float32
)
ENGINE = MergeTree
ORDER BY prefix;

CREATE TABLE IF NOT EXISTS flows.countries
(
    country_code String,
    country_name String,
    latitude Float32,
    longitude Float32
)
ENGINE = ReplacingMergeTree
ORDER BY country_code;

--@since 20.1 CREATE DICTIONARY IF NOT EXISTS flows.geo
--@since 20.1 (
--@since 20.1     prefix String,
--@since 20.1     country_code String DEFAULT '??'
--@since 20.1 )
--@since 20.1 PRIMARY KEY prefix
--@since 20.1 SOURCE(CLICKHOUSE(TABLE 'geo_ranges' DB 'flows'))
--@since 20.1 LAYOUT(IP_TRIE)
--@since 20.1 LIFETIME(0);
