-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Per interface: a per-minute rollup by observation point, the agent, the interface it
-- metered (ifindex, as the agent's host numbers it; 0 for replayed traces) and the direction,
-- for the interfaces view (sql/views/interfaces.sql). Counted as in sql/003_rollups.sql:
-- packets and bytes scaled by sampling, records unscaled, in the minute of the first packet.
-- The other rollups keep no interface: a store created before this file keeps their keys,
-- and this one table answers "which interface carried it".
--
-- A store migrated from an older version already holds flows: the table is filled once from
-- flows.raw (the days still kept there) before its view starts feeding it. The fill runs only
-- while the table is empty, so this file applies twice (--reapply) without counting twice.
-- It runs before the collector ingests (migrate, then ingest), so no insert falls between the
-- fill and the view.

CREATE TABLE IF NOT EXISTS flows.interface_1m
(
    received Date,
    minute DateTime('UTC'),
    agent LowCardinality(String),
    ifindex UInt32,
    direction Enum8('ingress' = 0, 'egress' = 1),
    bytes UInt64,
    packets UInt64,
    records UInt64
)
ENGINE = {{SummingMergeTree((bytes, packets, records))}}
PARTITION BY toYYYYMM(received)
ORDER BY (minute, agent, ifindex, direction, received)
TTL received + INTERVAL {{rollup_retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

INSERT INTO flows.interface_1m (received, minute, agent, ifindex, direction, bytes, packets,
                                records)
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent, ifindex,
       direction, sum(bytes * greatest(sampling, 1)), sum(packets * greatest(sampling, 1)),
       count()
FROM flows.raw
WHERE (SELECT count() FROM flows.interface_1m) = 0
  AND NOT EXISTS (SELECT 1 FROM system.tables WHERE database = 'flows'
                  AND name = 'interface_1m_mv')
GROUP BY received, minute, agent, ifindex, direction
SETTINGS insert_deduplicate = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.interface_1m_mv TO flows.interface_1m AS
SELECT toDate(inserted_at) AS received, toStartOfMinute(first_seen) AS minute, agent, ifindex,
       direction, sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
GROUP BY received, minute, agent, ifindex, direction;
