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
-- Exactly once (docs/guarantees.md): every row carries its batch's identity (agent,
-- batch_run, batch_seq), and flows.batches, the ledger, lists every batch stored. The
-- collector asks the ledger before it inserts, and skips the batches found there. An insert
-- is written in parts, each one block with its own insert_deduplication_token, the ledger
-- rows last; a part tried again (after an error, or by the recovery of a crashed collector)
-- is dropped by the deduplication window below, here and in every rollup the materialized
-- views feed.
--
-- Partitions and retention follow one column, inserted_at: one insert fills one partition of
-- each table, expired days go as whole parts (ttl_only_drop_parts), and a replayed trace of
-- 2006 is kept as long as one captured today.

CREATE DATABASE IF NOT EXISTS flows;

CREATE TABLE IF NOT EXISTS flows.raw
(
    -- the collector inserts these 17 columns in RowBinary: the batch's identity, then the
    -- wire record as it came (docs/wire-format.md)
    agent LowCardinality(String) CODEC(ZSTD(1)),
    -- random per agent process (wire format 2); 0 for agents of wire format 1
    batch_run UInt64 CODEC(ZSTD(1)),
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
    -- ingestion time: one value per insert, so one partition per insert
    inserted_at DateTime DEFAULT now() CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = {{MergeTree}}
PARTITION BY toDate(inserted_at)
-- addresses first: a host's flows sit together, so the address columns compress to runs, and
-- per-host questions read few granules; the views read the rollups, not this order
ORDER BY (src_addr, dst_addr, proto, dst_port, first_seen)
TTL inserted_at + INTERVAL {{retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1,
         index_granularity = 8192;

-- The ledger: one row per batch stored, written by the collector as the last part of the
-- insert that holds the batch's rows. batch_crc is the CRC-32C of its records: the same
-- identity with other records is an agent that reused a number, stored and raised as an
-- alarm, never taken for a duplicate. Kept as long as the rows.
CREATE TABLE IF NOT EXISTS flows.batches
(
    agent LowCardinality(String),
    batch_run UInt64,
    batch_seq UInt64,
    batch_crc UInt32,
    rows UInt32,
    inserted_at DateTime DEFAULT now()
)
ENGINE = {{MergeTree}}
PARTITION BY toDate(inserted_at)
ORDER BY (agent, batch_run, batch_seq)
TTL inserted_at + INTERVAL {{retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
