-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The flows table. flowcollector applies sql/NNN_name.sql in order, each once, and records it
-- in flows.schema_migrations; every statement is idempotent, so a file also applies twice.
-- Statements end with ';' at the end of a line.
--
-- Placeholders, replaced by flowcollector before a file runs:
--   {{MergeTree}}, {{SummingMergeTree(...)}}, {{ReplacingMergeTree(...)}}, ...
--       the engine: as written on one server, or Replicated...('/clickhouse/tables/{shard}/
--       {database}/{table}', '{replica}', ...) on a cluster with {shard}/{replica} macros
--   {{retention_days}}  --retention-days, 30 by default
--
-- Deduplication: every row carries its batch's (agent, batch_seq), and the projection
-- "batches" keeps the pairs each part holds, written atomically with the part. flowcollector
-- reads them back at start and skips batches stored before. A retried insert carries the same
-- insert_deduplication_token; the window below makes ClickHouse drop it, here and in every
-- rollup the materialized views feed.

CREATE DATABASE IF NOT EXISTS flows;

CREATE TABLE IF NOT EXISTS flows.raw
(
    -- the collector inserts these 16 columns in RowBinary: the agent id and sequence of the
    -- batch, then the wire record as it came (docs/wire-format.md)
    agent LowCardinality(String) CODEC(ZSTD(1)),
    batch_seq UInt64 CODEC(Delta, ZSTD(1)),
    src_addr IPv6 CODEC(ZSTD(1)),
    dst_addr IPv6 CODEC(ZSTD(1)),
    src_port UInt16 CODEC(T64, ZSTD(1)),
    dst_port UInt16 CODEC(T64, ZSTD(1)),
    proto UInt8 CODEC(ZSTD(1)),
    tcp_flags UInt8 CODEC(ZSTD(1)),
    vlan UInt16 CODEC(ZSTD(1)),
    ifindex UInt32 CODEC(ZSTD(1)),
    direction Enum8('ingress' = 0, 'egress' = 1) CODEC(ZSTD(1)),
    sampling UInt32 CODEC(ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    bytes UInt64 CODEC(T64, ZSTD(1)),
    -- rows are in address order, so times are not monotonic within a granule: GCD drops the
    -- zeros of microsecond captures, T64 the high bits all rows of a block share
    first_seen DateTime64(9, 'UTC') CODEC(GCD, T64, ZSTD(1)),
    last_seen DateTime64(9, 'UTC') CODEC(GCD, T64, ZSTD(1)),
    -- ingestion time: retention counts from here, so a replayed trace from 2006 is kept
    inserted_at DateTime DEFAULT now() CODEC(DoubleDelta, ZSTD(1)),
    PROJECTION batches (SELECT agent, batch_seq, count() GROUP BY agent, batch_seq)
)
ENGINE = {{MergeTree}}
PARTITION BY toDate(first_seen)
-- addresses first: a host's flows sit together, so the address columns compress to runs, and
-- per-host questions read few granules; the views read the rollups, not this order
ORDER BY (src_addr, dst_addr, proto, dst_port, first_seen)
TTL inserted_at + INTERVAL {{retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192;
