-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Rollups: materialized views from flows.raw into SummingMergeTree tables per minute, and from
-- those into tables per day: each flow record is aggregated once per dimension, and the daily
-- views read a few rows per day. Every network view reads these, never flows.raw. A record
-- counts in the minute and the day of its first packet. Rows of one key are summed by merges,
-- so readers sum() anyway.
--
-- Counts are of the traffic, not of the samples: packets and bytes are multiplied by the
-- record's sampling rate (0 and 1 mean every packet was metered), so `flowagent --sample 10`
-- shows ten times what it recorded. `records` counts flow records as stored, unscaled: a
-- flow longer than the active timeout, or seen at two points, is several records.
--
-- Every rollup keeps the observation point, agent and direction, in its key: a packet seen by
-- two agents, or forwarded between two metered interfaces, is one row per observation, and a
-- view filtered by agent or direction counts it once (docs/schema.md).
--
-- received is the day flows.raw stored the record, toDate(inserted_at), whatever the trace's
-- time says: partitions and retention follow it, as they do in flows.raw, so one insert fills
-- one partition of each rollup and expired parts are dropped whole. The rollups outlive the
-- raw rows: {{rollup_retention_days}} (--rollup-retention-days) against {{retention_days}}.
-- The non-key columns are named in SummingMergeTree((...)): received is never summed.
--
-- The service port of a TCP, UDP or SCTP flow is the lower of its two ports: servers listen
-- on the well-known and registered ports, clients send from the ephemeral range above them.
-- Non-first fragments carry ports 0 and count as port 0.
--
-- Regions are resolved with the flows.geo dictionary when the rows arrive, by source and by
-- destination address. Geolocation may be loaded or updated later: `flowcollector geo load`
-- then rebuilds the region rollups of every received day still in flows.raw, one partition
-- (one received day) at a time.

CREATE TABLE IF NOT EXISTS flows.proto_1m
(
    received Date,
    minute DateTime('UTC'),
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, direction, proto, received)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1m_mv TO flows.proto_1m AS
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent,
       direction, proto, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
GROUP BY received, minute, agent, direction, proto;

CREATE TABLE IF NOT EXISTS flows.proto_1d
(
    received Date,
    day Date,
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY toYYYYMM(received)
ORDER BY (day, agent, direction, proto, received)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1d_mv TO flows.proto_1d AS
SELECT received, toDate(minute) AS day, agent, direction, proto, sum(bytes) AS bytes,
       sum(packets) AS packets, sum(records) AS records
FROM flows.proto_1m
GROUP BY received, day, agent, direction, proto;

CREATE TABLE IF NOT EXISTS flows.port_1m
(
    received Date,
    minute DateTime('UTC'),
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, direction, proto, port, received)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1m_mv TO flows.port_1m AS
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent,
       direction, proto, least(src_port, dst_port) AS port,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
WHERE proto IN (6, 17, 132, 136)
GROUP BY received, minute, agent, direction, proto, port;

CREATE TABLE IF NOT EXISTS flows.port_1d
(
    received Date,
    day Date,
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY toYYYYMM(received)
ORDER BY (day, agent, direction, proto, port, received)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1d_mv TO flows.port_1d AS
SELECT received, toDate(minute) AS day, agent, direction, proto, port, sum(bytes) AS bytes,
       sum(packets) AS packets, sum(records) AS records
FROM flows.port_1m
GROUP BY received, day, agent, direction, proto, port;

-- Regions, by side: 'src' for the source address, 'dst' for the destination. Partitioned by
-- received day, so geo load can replace a day whole; received is then constant in a part and
-- needs no place in the key.
CREATE TABLE IF NOT EXISTS flows.region_1m
(
    received Date,
    minute DateTime('UTC'),
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    side Enum8('src' = 0, 'dst' = 1),
    country_code LowCardinality(String),
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY received
ORDER BY (minute, agent, direction, side, country_code)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_src_1m_mv TO flows.region_1m AS
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent,
       direction, 'src' AS side, dictGet('flows.geo', 'country_code', src_addr) AS country_code,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
GROUP BY received, minute, agent, direction, country_code;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_dst_1m_mv TO flows.region_1m AS
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent,
       direction, 'dst' AS side, dictGet('flows.geo', 'country_code', dst_addr) AS country_code,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
GROUP BY received, minute, agent, direction, country_code;

CREATE TABLE IF NOT EXISTS flows.region_1d
(
    received Date,
    day Date,
    agent LowCardinality(String),
    direction Enum8('ingress' = 0, 'egress' = 1),
    side Enum8('src' = 0, 'dst' = 1),
    country_code LowCardinality(String),
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY received
ORDER BY (day, agent, direction, side, country_code)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_1d_mv TO flows.region_1d AS
SELECT received, toDate(minute) AS day, agent, direction, side, country_code,
       sum(bytes) AS bytes, sum(packets) AS packets, sum(records) AS records
FROM flows.region_1m
GROUP BY received, day, agent, direction, side, country_code;
