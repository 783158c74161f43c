-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Rollups: materialized views from flows.raw into SummingMergeTree tables per minute, and from
-- those into tables per day: each flow row is aggregated once per dimension, and the daily
-- views read a few rows per day. Every network view reads these, never flows.raw. A flow counts in the minute and the
-- day of its first packet. Rows of one key are summed by merges, so readers sum() anyway.
--
-- The service port of a TCP, UDP or SCTP flow is the lower of its two ports: servers listen
-- on the well-known and registered ports, clients send from the ephemeral range above them.
-- Non-first fragments carry ports 0 and count as port 0.
--
-- Regions are resolved with the flows.geo dictionary when the rows arrive, by source and by
-- destination address. Geolocation may be loaded or updated later: `flowcollector geo load`
-- then rebuilds the region rollups of every day still in flows.raw.

CREATE TABLE IF NOT EXISTS flows.proto_1m
(
    minute DateTime('UTC'),
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, proto)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1m_mv TO flows.proto_1m AS
SELECT toStartOfMinute(first_seen) AS minute, proto, sum(bytes) AS bytes,
       sum(packets) AS packets, count() AS flows
FROM flows.raw
GROUP BY minute, proto;

CREATE TABLE IF NOT EXISTS flows.proto_1d
(
    day Date,
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, proto)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1d_mv TO flows.proto_1d AS
SELECT toDate(minute) AS day, proto, sum(bytes) AS bytes, sum(packets) AS packets,
       sum(flows) AS flows
FROM flows.proto_1m
GROUP BY day, proto;

CREATE TABLE IF NOT EXISTS flows.port_1m
(
    minute DateTime('UTC'),
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, proto, port)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1m_mv TO flows.port_1m AS
SELECT toStartOfMinute(first_seen) AS minute, proto, least(src_port, dst_port) AS port,
       sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows
FROM flows.raw
WHERE proto IN (6, 17, 132, 136)
GROUP BY minute, proto, port;

CREATE TABLE IF NOT EXISTS flows.port_1d
(
    day Date,
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, proto, port)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1d_mv TO flows.port_1d AS
SELECT toDate(minute) AS day, proto, port, sum(bytes) AS bytes, sum(packets) AS packets,
       sum(flows) AS flows
FROM flows.port_1m
GROUP BY day, proto, port;

-- Regions, by side: 'src' for the source address, 'dst' for the destination. Partitioned by
-- day, so geo load can replace a day whole.
CREATE TABLE IF NOT EXISTS flows.region_1m
(
    minute DateTime('UTC'),
    side Enum8('src' = 0, 'dst' = 1),
    country_code LowCardinality(String),
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMMDD(minute)
ORDER BY (minute, side, country_code)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_src_1m_mv TO flows.region_1m AS
SELECT toStartOfMinute(first_seen) AS minute, 'src' AS side,
       dictGet('flows.geo', 'country_code', src_addr) AS country_code,
       sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows
FROM flows.raw
GROUP BY minute, country_code;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_dst_1m_mv TO flows.region_1m AS
SELECT toStartOfMinute(first_seen) AS minute, 'dst' AS side,
       dictGet('flows.geo', 'country_code', dst_addr) AS country_code,
       sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows
FROM flows.raw
GROUP BY minute, country_code;

CREATE TABLE IF NOT EXISTS flows.region_1d
(
    day Date,
    side Enum8('src' = 0, 'dst' = 1),
    country_code LowCardinality(String),
    bytes UInt64,
    packets UInt64,
    flows UInt64
)
ENGINE = {{SummingMergeTree}}
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, side, country_code)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_1d_mv TO flows.region_1d AS
SELECT toDate(minute) AS day, side, country_code, sum(bytes) AS bytes,
       sum(packets) AS packets, sum(flows) AS flows
FROM flows.region_1m
GROUP BY day, side, country_code;
