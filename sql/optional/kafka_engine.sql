-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The old system's ingestion path, kept as an alternative to flowcollector: ClickHouse's Kafka
-- table engine reads the agent's JSON topic (flowagent --kafka-format json) and a
-- materialized view writes the rows into flows.raw, from where the rollups follow as usual.
-- For a ClickHouse server (an embedded store consumes only while a process holds it open).
-- Not applied by `flowcollector migrate`: replace the placeholders and run it, e.g.
--   sed -e 's/{{kafka_brokers}}/k1:9092/' -e 's/{{kafka_topic}}/flows-json/' \
--       -e 's/{{kafka_group}}/clickhouse-flows/' sql/optional/kafka_engine.sql |
--     clickhouse-client --multiquery
-- What it does not do: skip batches stored before (at-least-once: a restarted consumer may
-- store a batch twice), write the flows.batches ledger, finish an insert a crash cut short, or
-- report gaps; flowcollector does all of these (docs/guarantees.md).

CREATE TABLE IF NOT EXISTS flows.kafka_json
(
    agent_id String,
    batch_run UInt64,
    batch_seq UInt64,
    src_addr String,
    dst_addr String,
    src_port UInt16,
    dst_port UInt16,
    proto UInt8,
    vlan UInt16,
    packets UInt64,
    bytes UInt64,
    tcp_flags UInt8,
    first_seen_ns UInt64,
    last_seen_ns UInt64,
    sampling UInt32,
    ifindex UInt32,
    direction String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{kafka_brokers}}',
         kafka_topic_list = '{{kafka_topic}}',
         kafka_group_name = '{{kafka_group}}',
         kafka_format = 'JSONEachRow',
         kafka_num_consumers = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.kafka_json_mv TO flows.raw AS
SELECT agent_id AS agent, batch_run, batch_seq, toIPv6(src_addr) AS src_addr, toIPv6(dst_addr) AS dst_addr,
       src_port, dst_port, proto, tcp_flags, vlan, ifindex,
       CAST(direction, 'Enum8(\'ingress\' = 0, \'egress\' = 1)') AS direction, sampling, packets,
       bytes, fromUnixTimestamp64Nano(toInt64(first_seen_ns), 'UTC') AS first_seen,
       fromUnixTimestamp64Nano(toInt64(last_seen_ns), 'UTC') AS last_seen
FROM flows.kafka_json;
