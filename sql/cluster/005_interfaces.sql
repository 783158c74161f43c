-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The per-interface rollup on a cluster, as in sql/006_interfaces.sql (same columns, same
-- meaning): per minute, by agent, interface (ifindex) and direction. As in 002_rollups.sql,
-- the view reads flows.ingest, writes a ReplicatedSummingMergeTree _local table that drops a
-- retried block by its hash, and carries block_digest so that two different input blocks
-- never give the same output block. A cluster whose schema predates this file counts the
-- interfaces of the rows that arrive after it is applied; unlike the embedded store it is not
-- filled from flows.raw (18.16 takes no INSERT ... SETTINGS, and a fill on each node would
-- race the other collectors' inserts): docs/cluster.md.

CREATE TABLE IF NOT EXISTS flows.interface_1m_local
(
    received Date,
    minute DateTime('UTC'),
    agent String,
    ifindex UInt32,
    direction Enum8('ingress' = 0, 'egress' = 1),
    bytes UInt64,
    packets UInt64,
    records UInt64,
    -- makes the view's block unique to its input block (002_rollups.sql); never read
    block_digest UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flows/interface_1m_local',
                                    '{replica}', (bytes, packets, records))
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, ifindex, direction, received)
--@since 19.6 TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.interface_1m_mv TO flows.interface_1m_local AS
SELECT toDate(inserted_at) AS received,
       toStartOfMinute(toDateTime(intDiv(first_seen, 1000000000), 'UTC')) AS minute, agent,
       ifindex, direction, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records,
       sum(row_hash) AS block_digest
FROM flows.ingest
GROUP BY received, minute, agent, ifindex, direction;

CREATE TABLE IF NOT EXISTS flows.interface_1m AS flows.interface_1m_local
ENGINE = Distributed({{cluster}}, 'flows', 'interface_1m_local');
