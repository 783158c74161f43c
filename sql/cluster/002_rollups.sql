-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Rollups, as in sql/003_rollups.sql (same columns, same meaning): per minute and per day, by
-- protocol and by service port (the lower port of a TCP, UDP, SCTP or UDP-Lite flow).
-- packets and bytes are scaled by the sampling rate (0 and 1: every packet), records counts
-- the records stored. received = toDate(inserted_at); a record counts in the minute and the
-- day (UTC) of first_seen, nanoseconds here. Readers sum(): merges sum rows of one key late.
--
-- Every view reads flows.ingest, the daily ones too (18.16 feeds no view from another view's
-- target), and writes a ReplicatedSummingMergeTree _local table that drops a retried block
-- by the hash of the view's output. That output must be the same bytes for the same input
-- block, and it is (also past the two-level GROUP BY threshold, docs/cluster-sql-notes.md).
-- It must also differ for different input blocks, and sums alone do not: two batches of one
-- ICMP record each, of one agent on one day, give the same proto_1d row, and the second would
-- be dropped as a duplicate. So every row carries block_digest, the sum of row_hash (a hash
-- of every column, flows.ingest computes it) over the input rows of its group: equal only for
-- the same rows (up to hash collisions, 2^-64). SummingMergeTree keeps any one of its values
-- when it merges rows; nothing reads it. (Hashed here, next to sum(bytes ...) AS bytes, 18.16
-- reads bytes as that alias: Code 184; and 18.16 runs no view whose FROM is a subquery.)
-- Region rollups (the geo dictionary) are not in the cluster schema yet.

CREATE TABLE IF NOT EXISTS flows.proto_1m_local
(
    received Date,
    minute DateTime('UTC'),
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- see above: makes the view's block unique to its input block; never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/proto_1m_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, direction, proto, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1m_mv TO flows.proto_1m_local AS
SELECT toDate(inserted_at) AS received,
       toStartOfMinute(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS minute, agent,
       direction, proto, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
GROUP BY received, minute, agent, direction, proto;

CREATE TABLE IF NOT EXISTS flows.proto_1m AS flows.proto_1m_local
ENGINE = Distributed({{cluster}}, 'flows', 'proto_1m_local');

CREATE TABLE IF NOT EXISTS flows.proto_1d_local
(
    received Date,
    day Date,
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- see above: makes the view's block unique to its input block; never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/proto_1d_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (day, agent, direction, proto, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.proto_1d_mv TO flows.proto_1d_local AS
SELECT toDate(inserted_at) AS received,
       toDate(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS day, agent, direction,
       proto, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
GROUP BY received, day, agent, direction, proto;

CREATE TABLE IF NOT EXISTS flows.proto_1d AS flows.proto_1d_local
ENGINE = Distributed({{cluster}}, 'flows', 'proto_1d_local');

CREATE TABLE IF NOT EXISTS flows.port_1m_local
(
    received Date,
    minute DateTime('UTC'),
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- see above: makes the view's block unique to its input block; never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/port_1m_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, direction, proto, port, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1m_mv TO flows.port_1m_local AS
SELECT toDate(inserted_at) AS received,
       toStartOfMinute(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS minute, agent,
       direction, proto, least(src_port, dst_port) AS port,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
WHERE proto IN (6, 17, 132, 136)
GROUP BY received, minute, agent, direction, proto, port;

CREATE TABLE IF NOT EXISTS flows.port_1m AS flows.port_1m_local
ENGINE = Distributed({{cluster}}, 'flows', 'port_1m_local');

CREATE TABLE IF NOT EXISTS flows.port_1d_local
(
    received Date,
    day Date,
    agent String,
    direction Enum8('ingress' = 0, 'egress' = 1),
    proto UInt8,
    port UInt16,
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- see above: makes the view's block unique to its input block; never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/port_1d_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (day, agent, direction, proto, port, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.port_1d_mv TO flows.port_1d_local AS
SELECT toDate(inserted_at) AS received,
       toDate(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS day, agent, direction,
       proto, least(src_port, dst_port) AS port, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
WHERE proto IN (6, 17, 132, 136)
GROUP BY received, day, agent, direction, proto, port;

CREATE TABLE IF NOT EXISTS flows.port_1d AS flows.port_1d_local
ENGINE = Distributed({{cluster}}, 'flows', 'port_1d_local');
