# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Kafka -> two collectors in one group -> a real 2 x 2 ClickHouse 18.16 cluster, one collector
killed with SIGKILL mid-stream and started again: every record of the replay is in the cluster
exactly once (per flow key, packets and bytes), no batch is in the ledger twice, every batch
is whole on one shard, and both replicas of each shard hold the same rows.

  test_two_collectors_one_killed   a real broker, a topic of 4 partitions, two agents paced
                                   so the kill falls mid-stream; the first collector storing
                                   is killed, the other takes its partitions, the killed one
                                   is restarted (its write-ahead file finished on the same
                                   shard)
"""
import collections
import ipaddress
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import FLOWAGENT, PCAPS, replay
from kafka_fixtures import kafka, kafka_broker  # noqa: F401  (fixtures)
from test_cluster import SQL_DIR, cluster_file, query, rows
from cluster_fixtures import cluster_sh, parse_nodes, require_cluster
from test_consumer_group import FLOWCOLLECTOR, GROUP_TIMEOUTS, free_port, metrics, wait_for

# two agents, so that the batches spread over the partitions of both collectors
PCAPS_BY_AGENT = {"fleet-1": PCAPS / "real" / "ndpi-netflix.pcap",
                  "fleet-2": PCAPS / "real" / "ndpi-whatsapp_login_call.pcap"}


@pytest.fixture(scope="module")
def clickhouse():
    require_cluster()
    directory = tempfile.mkdtemp(prefix="flowcluster-kafka-", dir="/tmp")
    started = cluster_sh("start", directory, 2, 2, env={"CLUSTER_WATCH_PID": str(os.getpid())})
    assert started.returncode == 0, started.stderr[-3000:]
    yield {"dir": directory, "nodes": parse_nodes(started.stdout)}
    cluster_sh("stop", directory)
    subprocess.run(["rm", "-rf", directory], check=False)


class ClusterCollector:
    """flowcollector --cluster --kafka in the background, its log in a file."""

    def __init__(self, name, tmp_path, config, bootstrap, topic, group):
        self.name = name
        self.log = tmp_path / f"collector-{name}.log"
        self.port = free_port()
        self.args = [FLOWCOLLECTOR, "--cluster", str(config), "--sql-dir", str(SQL_DIR),
                     "--kafka", bootstrap, "--topic", topic, "--group", group,
                     "--wal-dir", str(tmp_path / f"wal-{name}"), "--batch-rows", "200",
                     "--batch-ms", "300", "--metrics", str(self.port), "-v", *GROUP_TIMEOUTS]
        self.proc = None
        self.start()

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=log)
        self.proc.name = self.name
        self.proc.log_text = self.log_text

    def poll(self):
        return self.proc.poll()

    @property
    def returncode(self):
        return self.proc.returncode

    def log_text(self):
        return self.log.read_text(errors="replace")

    def metric(self, name):
        values = metrics(self.port)
        return None if values is None else values.get(name)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=90)
        return self.proc.returncode


def key_of(row):
    """A flow key as the agent's JSON has it, from a TSV row of flows.raw."""
    def addr(hex_text):
        a = ipaddress.IPv6Address(bytes.fromhex(hex_text))
        return str(a.ipv4_mapped) if a.ipv4_mapped else str(a)
    return (addr(row[0]), addr(row[1]), int(row[2]), int(row[3]), int(row[4]))


def test_two_collectors_one_killed(kafka, clickhouse, tmp_path):  # noqa: F811
    for pcap in PCAPS_BY_AGENT.values():
        if not pcap.exists():
            pytest.fail(f"{pcap} missing: ../shared/pcaps is part of the checkout's environment")
    topic = group = "cluster-fleet"
    kafka.create_topic(topic, partitions=4)
    expected = collections.Counter()
    records = 0
    for pcap in PCAPS_BY_AGENT.values():
        reference = replay([pcap])
        assert reference.rc == 0, reference.stderr
        records += len(reference.records)
        for r in reference.records:
            key = (r["src_addr"], r["dst_addr"], r["src_port"], r["dst_port"], r["proto"])
            expected[key + ("packets",)] += r["packets"]
            expected[key + ("bytes",)] += r["bytes"]
    config = cluster_file(tmp_path / "cluster.conf", clickhouse["nodes"])
    c1 = ClusterCollector("c1", tmp_path, config, kafka.bootstrap, topic, group)
    c2 = ClusterCollector("c2", tmp_path, config, kafka.bootstrap, topic, group)
    collectors = [c1, c2]
    agents = {}
    try:
        wait_for("c1 and c2 in the group", lambda: c1.metric("flowcollector_partitions_assigned")
                 and c2.metric("flowcollector_partitions_assigned"), procs=collectors)
        for agent_id, pcap in PCAPS_BY_AGENT.items():
            agents[agent_id] = subprocess.Popen(
                [FLOWAGENT, "--replay", "--no-progress", "--kafka", kafka.bootstrap, "--topic",
                 topic, "--agent-id", agent_id, "--batch-records", "20", "--batch-ms", "100",
                 "--speed", "8", str(pcap)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        storing = wait_for("a collector storing", lambda: next(
            (x for x in collectors if (x.metric("flowcollector_rows_inserted_total") or 0) > 0),
            None), procs=collectors)
        storing.kill9()
        assert any(a.poll() is None for a in agents.values()), "the agents ended before the kill"
        time.sleep(3)
        storing.start()
        for agent_id, agent in agents.items():
            _, agent_err = agent.communicate(timeout=180)
            assert agent.returncode == 0, agent_err.decode(errors="replace")[-3000:]
        wait_for("every message read and stored", lambda: sum(
            x.metric("flowcollector_partitions_assigned") or 0 for x in collectors) == 4 and all(
            x.metric("flowcollector_consumer_lag") == 0 and
            x.metric("flowcollector_rows_pending") == 0 and
            x.metric("flowcollector_rows_sealed") == 0 for x in collectors),
            timeout=150, procs=collectors)
        # the health of every replica, and where the inserts went, on /metrics
        values = metrics(storing.port)
        for (shard, replica) in clickhouse["nodes"]:
            labels = f'{{shard="{shard}",replica="{replica}"}}'
            assert values["flowcollector_cluster_replica_up" + labels] == 1
            assert values["flowcollector_cluster_replica_writer" + labels] == (replica == 1)
        assert all(values[f'flowcollector_cluster_shard_writable{{shard="{s}"}}'] == 1
                   for s in (1, 2))
        assert sum(values[f'flowcollector_cluster_shard_inserts_total{{shard="{s}"}}']
                   for s in (1, 2)) == values["flowcollector_inserts_total"]
        for x in collectors:
            assert x.stop() == 0, x.log_text()[-3000:]
    finally:
        for agent in agents.values():
            if agent.poll() is None:
                agent.kill()
        for x in collectors:
            if x.poll() is None:
                x.proc.kill()
    nodes = clickhouse["nodes"]
    for (s, r), (url, _) in nodes.items():
        for table in ("raw_local", "batches_local"):
            query(url, f"SYSTEM SYNC REPLICA flows.{table}")
    url = nodes[(1, 1)][0]
    stored = collections.Counter()
    # (18.16 has no GROUP BY by position)
    for row in rows(url, "SELECT hex(src_addr) AS s, hex(dst_addr) AS d, src_port, dst_port, "
                         "proto, sum(packets), sum(bytes) FROM flows.raw "
                         "GROUP BY s, d, src_port, dst_port, proto"):
        stored[key_of(row) + ("packets",)] += int(row[5])
        stored[key_of(row) + ("bytes",)] += int(row[6])
    assert stored == expected
    assert int(rows(url, "SELECT count() FROM flows.raw")[0][0]) == records
    twice = rows(url, "SELECT agent, batch_run, batch_seq, count() FROM flows.batches "
                      "GROUP BY agent, batch_run, batch_seq HAVING count() > 1")
    assert twice == [], twice[:10]
    seen = {}
    for shard in (1, 2):
        batches = ("SELECT agent, batch_run, batch_seq, count() FROM flows.raw_local "
                   "GROUP BY agent, batch_run, batch_seq ORDER BY agent, batch_run, batch_seq")
        one = rows(nodes[(shard, 1)][0], batches)
        two = rows(nodes[(shard, 2)][0], batches)
        assert one == two, f"shard {shard}: the replicas differ"
        for agent, run, seq, _ in one:
            batch = (agent, run, seq)
            assert batch not in seen, f"batch {batch} on shards {seen[batch]} and {shard}"
            seen[batch] = shard
    assert set(seen.values()) == {1, 2}
    ledger = rows(url, "SELECT agent, batch_run, batch_seq FROM flows.batches")
    assert len(ledger) == len(seen)
