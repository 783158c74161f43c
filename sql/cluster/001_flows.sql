-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The flows tables of a sharded, replicated cluster, for ClickHouse 18.16 and current releases
-- (docs/cluster-sql-notes.md). The collector applies sql/cluster/NNN_name.sql in order on
-- every node, and inserts into one replica per shard; every statement is idempotent.
-- Every node needs the macros {shard} and {replica} ({replica} unique in the cluster) and the
-- cluster {{cluster}} in remote_servers, every shard with internal_replication = true.
--
-- Inserts go to flows.ingest, a Null table: materialized views carry each block into
-- flows.raw_local and every rollup, and each of these Replicated*MergeTree tables drops a
-- block it already holds by its hash, by itself. A Replicated table as the insert target
-- would not do: a block it drops as a duplicate is not pushed to its views either, so the
-- retry of an insert that failed after the table and before a view was written leaves that
-- view short for good (measured on 18.16). A Null table drops nothing: every retry, on any
-- replica of the shard, reaches every view, and completes what is missing.
-- Dedup compares bytes: inserted_at is sent by the collector (a retry has the same value),
-- never DEFAULT now(). Each table keeps the hashes of its last 1000 blocks for at most 7
-- days (set here: current releases default to 1 hour): a retry is dropped while fewer than
-- 1000 inserts reached the shard since. 18.16 feeds no view from another view's target, so
-- every rollup reads flows.ingest. Reads go to the Distributed tables with the plain names.
--
-- A line "--@since X.Y SQL" is SQL only on a server of version X.Y or later (else dropped).
-- Placeholders: {{cluster}} (quoted), {{retention_days}}, {{rollup_retention_days}}.

CREATE DATABASE IF NOT EXISTS flows;

-- The insert target, stores nothing. The collector inserts RowBinary with this column list.
CREATE TABLE IF NOT EXISTS flows.ingest
(
    agent String,
    batch_run UInt64,
    batch_seq UInt64,
    inserted_at DateTime,
    -- the CRC-32C of its batch's records: the ledger's (zz_ledger_mv)
    batch_crc UInt32,
    src_addr FixedString(16),
    dst_addr FixedString(16),
    src_port UInt16,
    dst_port UInt16,
    proto UInt8,
    tcp_flags UInt8,
    vlan UInt16,
    ifindex UInt32,
    direction Enum8('ingress' = 0, 'egress' = 1),
    sampling UInt32,
    packets UInt64,
    bytes UInt64,
    -- nanoseconds since the epoch, UTC
    first_seen UInt64,
    last_seen UInt64,
    -- never sent: the rollups' views sum it into block_digest (002_rollups.sql)
    row_hash UInt64 MATERIALIZED cityHash64(agent, batch_run, batch_seq, inserted_at, src_addr,
        dst_addr, src_port, dst_port, proto, tcp_flags, vlan, ifindex, direction, sampling,
        packets, bytes, first_seen, last_seen)
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS flows.raw_local
(
    agent String,
    batch_run UInt64,
    batch_seq UInt64,
    inserted_at DateTime,
    src_addr FixedString(16),
    dst_addr FixedString(16),
    src_port UInt16,
    dst_port UInt16,
    proto UInt8,
    tcp_flags UInt8,
    vlan UInt16,
    ifindex UInt32,
    direction Enum8('ingress' = 0, 'egress' = 1),
    sampling UInt32,
    packets UInt64,
    bytes UInt64,
    first_seen UInt64,
    last_seen UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/flows/raw_local', '{replica}')
PARTITION BY toDate(inserted_at)
ORDER BY (src_addr, dst_addr, proto, dst_port, first_seen)
--@since 19.6 TTL toDate(inserted_at) + INTERVAL {{retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.raw_mv TO flows.raw_local AS
SELECT agent, batch_run, batch_seq, inserted_at, src_addr, dst_addr, src_port, dst_port,
       proto, tcp_flags, vlan, ifindex, direction, sampling, packets, bytes, first_seen,
       last_seen
FROM flows.ingest;

-- No sharding key: an insert here fails on more than one shard; the collector picks shards.
CREATE TABLE IF NOT EXISTS flows.raw AS flows.raw_local
ENGINE = Distributed({{cluster}}, 'flows', 'raw_local');

-- The ledger: one row per batch stored, written by a view of flows.ingest from the same
-- block as the batch's rows (a batch is never split over two blocks on a cluster). 18.16 runs
-- a table's views in the order of their names and stops at the first that fails, so the
-- ledger's view is named to run last: a batch in the ledger has its rows and rollups in.
CREATE TABLE IF NOT EXISTS flows.batches_local
(
    agent String,
    batch_run UInt64,
    batch_seq UInt64,
    batch_crc UInt32,
    rows UInt32,
    inserted_at DateTime
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/flows/batches_local', '{replica}')
PARTITION BY toDate(inserted_at)
ORDER BY (agent, batch_run, batch_seq)
--@since 19.6 TTL toDate(inserted_at) + INTERVAL {{retention_days}} DAY
SETTINGS replicated_deduplication_window = 1000,
         replicated_deduplication_window_seconds = 604800;

-- batch_crc and inserted_at are the same for every row of a batch: grouped by, not any()
-- (18.16 would read any(batch_crc) AS batch_crc as an aggregate of itself: Code 184).
CREATE MATERIALIZED VIEW IF NOT EXISTS flows.zz_ledger_mv TO flows.batches_local AS
SELECT agent, batch_run, batch_seq, batch_crc, toUInt32(count()) AS rows, inserted_at
FROM flows.ingest
WHERE batch_seq != 0
GROUP BY agent, batch_run, batch_seq, batch_crc, inserted_at;

CREATE TABLE IF NOT EXISTS flows.batches AS flows.batches_local
ENGINE = Distributed({{cluster}}, 'flows', 'batches_local');
