-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Region rollups on a cluster, as in sql/003_rollups.sql (same columns, same meaning): per
-- minute and per day, by side ('src' for the source address, 'dst' for the destination) and
-- country, looked up in the node's dictionary flows.geo (003_geo.sql) when the rows arrive.
-- As in 002_rollups.sql, every view reads flows.ingest, writes a ReplicatedSummingMergeTree
-- _local table that drops a retried block by its hash, and carries block_digest so that two
-- different input blocks never give the same output block. geo load on a cluster changes the
-- regions of rows that arrive afterwards; it does not rebuild those already stored (the
-- embedded store does: docs/cluster.md).

CREATE TABLE IF NOT EXISTS flows.region_1m_local
(
    received Date,
    minute DateTime('UTC'),
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    side Enum8('src' = 0, 'dst' = 1),
    country_code String,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- makes the view's block unique to its input block (002_rollups.sql); never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/region_1m_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, direction, side, country_code, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

-- every row twice, once a side
CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_1m_mv TO flows.region_1m_local AS
SELECT toDate(inserted_at) AS received,
       toStartOfMinute(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS minute, agent,
       direction, CAST(side_name AS Enum8('src' = 0, 'dst' = 1)) AS side,
       dictGetString('flows.geo', 'country_code',
                     tuple(if(side_name = 'src', src_addr, dst_addr))) AS country_code,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
ARRAY JOIN ['src', 'dst'] AS side_name
GROUP BY received, minute, agent, direction, side, country_code;

CREATE TABLE IF NOT EXISTS flows.region_1m AS flows.region_1m_local
ENGINE = Distributed({{cluster}}, 'flows', 'region_1m_local');

CREATE TABLE IF NOT EXISTS flows.region_1d_local
(
    received Date,
    day Date,
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    side Enum8('src' = 0, 'dst' = 1),
    country_code String,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- makes the view's block unique to its input block (002_rollups.sql); never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/region_1d_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (day, agent, direction, side, country_code, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

-- every row twice, once a side
CREATE MATERIALIZED VIEW IF NOT EXISTS flows.region_1d_mv TO flows.region_1d_local AS
SELECT toDate(inserted_at) AS received,
       toDate(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS day, agent,
       direction, CAST(side_name AS Enum8('src' = 0, 'dst' = 1)) AS side,
       dictGetString('flows.geo', 'country_code',
                     tuple(if(side_name = 'src', src_addr, dst_addr))) AS country_code,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
ARRAY JOIN ['src', 'dst'] AS side_name
GROUP BY received, day, agent, direction, side, country_code;

CREATE TABLE IF NOT EXISTS flows.region_1d AS flows.region_1d_local
ENGINE = Distributed({{cluster}}, 'flows', 'region_1d_local');
