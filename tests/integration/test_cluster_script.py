# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The multi-node ClickHouse test cluster (tests/cluster/cluster.sh): 2 shards x 2 replicas of
Debian's clickhouse-server 18.16 and one ZooKeeper on 127.0.0.1. The shard-aware collector's
tests trust it, so it is checked on its own, against real replication:

  test_replication_and_distributed   ReplicatedMergeTree + Distributed on every node: 1000 rows
                                     into shard 1, 500 into shard 2, both replicas of each
                                     shard hold exactly their shard's rows, Distributed 1500
  test_killed_replica_catches_up     SIGKILL a replica while inserts go on into the other:
                                     every insert succeeds, the restarted replica catches up
  test_zookeeper_loss_is_read_only   ZooKeeper stopped: inserts fail (HTTP 500, Code: 242),
                                     selects work; ZooKeeper back: inserts work again
  test_add_shard                     a third shard appears in system.clusters of every node,
                                     a row inserted there is counted from an old node
  test_stop_and_start_again          stop leaves no process; start again: same ports, data
  test_failed_start_leaves_nothing   a server that exits at once: exit 1, which node, nothing
                                     left running
  test_watchdog_stops_orphaned_cluster  the process that started it is SIGKILLed: the
                                     cluster stops all the same

The first five share one cluster (module scope) and run in this order; each asserts exact
row counts against what the earlier ones inserted. Without the server binary, java or the
ZooKeeper jar the tests fail with "run make deps"; they never skip.
"""
import os
import pathlib
import subprocess
import threading
import time

import pytest

from cluster_fixtures import cluster_sh, node_http, parse_nodes, require_cluster, wait_until

LOCAL_DDL = ("CREATE TABLE IF NOT EXISTS t_local (shard UInt32, id UInt32, payload String) "
             "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/t_local', '{replica}') "
             "ORDER BY id")
DIST_DDL = ("CREATE TABLE IF NOT EXISTS t_all AS t_local "
            "ENGINE = Distributed('flows', currentDatabase(), 't_local')")


def alive(pid):
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_of(directory):
    """Live pids whose command line names a config file in DIRECTORY (servers, ZooKeeper)."""
    needles = [f"--config-file={directory}/".encode(), f"{directory}/zookeeper/zoo.cfg".encode()]
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if any(n in cmdline for n in needles) and alive(proc.name):
            pids.append(int(proc.name))
    return pids


class Cluster:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.nodes = {}
        self.expected = {}          # shard -> rows in its t_local
        self.next_id = 0

    def start(self, *shape):
        proc = cluster_sh("start", self.dir, *shape, env={"CLUSTER_WATCH_PID": str(os.getpid())})
        assert proc.returncode == 0, proc.stderr
        self.nodes = parse_nodes(proc.stdout)
        assert parse_nodes((self.dir / "nodes").read_text()) == self.nodes
        return proc

    def run(self, *args):
        proc = cluster_sh(args[0], self.dir, *args[1:],
                          env={"CLUSTER_WATCH_PID": str(os.getpid())})
        assert proc.returncode == 0, f"cluster.sh {' '.join(map(str, args))}:\n{proc.stderr}"
        return proc.stdout

    def http(self, node, query, data=None, timeout=30):
        """(HTTP status, body) of a query on node (shard, replica)."""
        return node_http(self.nodes[node][0], query, data, timeout)

    def sql(self, node, query, data=None):
        status, body = self.http(node, query, data)
        assert status == 200, f"{node}: {query}: HTTP {status}: {body}"
        return body

    def scalar(self, node, query):
        return int(self.sql(node, query).strip())

    def rows(self, shard, count):
        """count new rows of shard as TSV (ids unique in the cluster: no block repeats)."""
        first, self.next_id = self.next_id, self.next_id + count
        return "".join(f"{shard}\t{i}\tpayload-{i}\n" for i in range(first, first + count)).encode()

    def insert(self, node, count):
        self.sql(node, "INSERT INTO t_local FORMAT TabSeparated", self.rows(node[0], count))
        self.expected[node[0]] = self.expected.get(node[0], 0) + count

    def replicas_of(self, shard):
        return sorted(n for n in self.nodes if n[0] == shard)

    def wait_synced(self, shard):
        """Every replica of shard holds exactly expected[shard] rows, its queue empty."""
        want = self.expected.get(shard, 0)
        for node in self.replicas_of(shard):
            def state(node=node):
                status, body = self.http(
                    node, "SELECT (SELECT count() FROM t_local), queue_size, is_readonly "
                          "FROM system.replicas WHERE database = currentDatabase() "
                          "AND table = 't_local' FORMAT TSV", timeout=10)
                got = body.split() if status == 200 else body[:300]
                return got == [str(want), "0", "0"], got
            wait_until(f"{node} holding {want} rows, replication queue empty", state)
            assert self.scalar(node, "SELECT count() FROM t_local") == want
            # and they are this shard's rows, no other
            assert self.scalar(node, f"SELECT countIf(shard != {shard}) FROM t_local") == 0

    def total(self):
        return sum(self.expected.values())

    def create_tables(self, nodes):
        for node in nodes:
            self.sql(node, LOCAL_DDL)
            self.sql(node, DIST_DDL)

    def pids(self):
        files = list(self.dir.glob("s*r*/server.pid")) + [self.dir / "zookeeper" / "zk.pid"]
        return {f.parent.name: int(f.read_text()) for f in files if f.exists()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_cluster()
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        proc = cluster_sh("stop", c.dir)
        assert proc.returncode == 0, proc.stderr
        assert processes_of(c.dir) == []


def test_replication_and_distributed(cluster):
    assert sorted(cluster.nodes) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    ports = [p for url, tcp in cluster.nodes.values() for p in (int(url.rsplit(":", 1)[1][:-1]),
                                                                 tcp)]
    assert len(set(ports)) == 8
    for node in cluster.nodes:
        assert cluster.sql(node, "SELECT version()").strip() == "18.16.1"
        # its macros, and the whole cluster in system.clusters
        assert cluster.sql(node, "SELECT substitution FROM system.macros ORDER BY macro "
                                 "FORMAT TSV").split() == [f"s{node[0]}r{node[1]}", str(node[0])]
        assert cluster.sql(node, "SELECT shard_num, replica_num, port FROM system.clusters "
                                 "WHERE cluster = 'flows' ORDER BY shard_num, replica_num "
                                 "FORMAT TSV").split("\n")[:-1] == \
            [f"{s}\t{r}\t{cluster.nodes[(s, r)][1]}" for s, r in sorted(cluster.nodes)]
    cluster.create_tables(sorted(cluster.nodes))
    cluster.insert((1, 1), 1000)
    cluster.insert((2, 2), 500)
    assert cluster.expected == {1: 1000, 2: 500}
    cluster.wait_synced(1)
    cluster.wait_synced(2)
    for node in cluster.nodes:
        assert cluster.scalar(node, "SELECT count() FROM t_all") == 1500
        assert cluster.sql(node, "SELECT shard, count() FROM t_all GROUP BY shard ORDER BY shard "
                                 "FORMAT TSV") == "1\t1000\n2\t500\n"


def test_killed_replica_catches_up(cluster):
    writer, victim = (1, 1), (1, 2)
    failures, done = [], []
    stop = threading.Event()

    def insert_loop():
        while not stop.is_set():
            status, body = cluster.http(writer, "INSERT INTO t_local FORMAT TabSeparated",
                                        cluster.rows(1, 100))
            if status == 200:
                done.append(100)
            else:
                failures.append((status, body[:500]))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=insert_loop)
    thread.start()
    try:
        wait_until("3 inserts before the kill", lambda: len(done) >= 3 or failures)
        pid = cluster.pids()["s1r2"]
        cluster.run("kill-node", 1, 2)
        assert not alive(pid)
        status, _ = cluster.http(writer, "SELECT 1")
        assert status == 200
        mark = len(done)
        wait_until("3 inserts with the replica down", lambda: len(done) >= mark + 3 or failures)
        # ZooKeeper drops the dead replica's session (3 s): then it can take its place back
        # at once when it starts (started within that time, it retries only 10 s later)
        wait_until("the killed replica inactive in ZooKeeper",
                   lambda: cluster.sql(writer, "SELECT active_replicas, total_replicas FROM "
                                               "system.replicas WHERE table = 't_local' "
                                               "FORMAT TSV").split() == ["1", "2"])
        cluster.run("start-node", 1, 2)
        mark = len(done)
        wait_until("3 inserts after the restart", lambda: len(done) >= mark + 3 or failures)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert failures == []
    assert len(done) >= 9
    cluster.expected[1] += sum(done)
    cluster.wait_synced(1)
    assert cluster.scalar(victim, "SELECT uniqExact(id) FROM t_local") == cluster.expected[1]
    assert cluster.scalar((2, 1), "SELECT count() FROM t_all") == cluster.total()


def test_zookeeper_loss_is_read_only(cluster):
    cluster.run("stop-zk")
    status = cluster_sh("status", cluster.dir)
    assert status.returncode == 1
    assert status.stdout.splitlines()[0].endswith(" down")
    for node in cluster.nodes:
        wait_until(f"{node} read-only without ZooKeeper",
                   lambda node=node: cluster.sql(node, "SELECT is_readonly FROM system.replicas "
                                                       "WHERE table = 't_local'").strip() == "1")
    for node in sorted(cluster.nodes):
        status, body = cluster.http(node, "INSERT INTO t_local FORMAT TabSeparated",
                                    cluster.rows(node[0], 10))
        assert status == 500, body
        assert "Code: 242" in body, body
        assert "read only" in body or "read-only" in body or "readonly" in body, body
    # reads need no ZooKeeper
    for node in cluster.nodes:
        assert cluster.scalar(node, "SELECT count() FROM t_local") == cluster.expected[node[0]]
        assert cluster.scalar(node, "SELECT count() FROM t_all") == cluster.total()

    cluster.run("start-zk")
    for node in cluster.nodes:
        wait_until(f"{node} writable again with ZooKeeper back",
                   lambda node=node: cluster.sql(node, "SELECT is_readonly FROM system.replicas "
                                                       "WHERE table = 't_local'").strip() == "0")
    cluster.insert((1, 2), 10)
    cluster.insert((2, 1), 20)
    cluster.wait_synced(1)
    cluster.wait_synced(2)
    assert cluster.scalar((1, 1), "SELECT count() FROM t_all") == cluster.total()
    assert cluster_sh("status", cluster.dir).returncode == 0


def test_add_shard(cluster):
    old = dict(cluster.nodes)
    new = parse_nodes(cluster.run("add-shard"))
    assert sorted(new) == [(3, 1), (3, 2)]
    assert not set(new.values()) & set(old.values())
    cluster.nodes.update(new)
    assert parse_nodes((cluster.dir / "nodes").read_text()) == cluster.nodes
    want = [f"{s}\t{r}\t{cluster.nodes[(s, r)][1]}" for s, r in sorted(cluster.nodes)]
    for node in sorted(cluster.nodes):
        assert cluster.sql(node, "SELECT shard_num, replica_num, port FROM system.clusters "
                                 "WHERE cluster = 'flows' ORDER BY shard_num, replica_num "
                                 "FORMAT TSV").split("\n")[:-1] == want
    cluster.create_tables(sorted(new))
    cluster.insert((3, 1), 1)
    cluster.wait_synced(3)
    for node in sorted(old):
        assert cluster.scalar(node, "SELECT count() FROM t_all") == cluster.total()
        assert cluster.scalar(node, "SELECT count() FROM t_all WHERE shard = 3") == 1
    assert cluster_sh("status", cluster.dir).returncode == 0


def test_stop_and_start_again(cluster):
    pids = cluster.pids()
    assert len(pids) == len(cluster.nodes) + 1
    assert all(alive(p) for p in pids.values())
    nodes = dict(cluster.nodes)
    proc = cluster_sh("stop", cluster.dir)
    assert proc.returncode == 0, proc.stderr
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert processes_of(cluster.dir) == []
    status = cluster_sh("status", cluster.dir)
    assert status.returncode == 1
    assert [line.rsplit(" ", 1)[1] for line in status.stdout.splitlines()] == \
        ["down"] * (len(nodes) + 1)
    # stopping a stopped cluster is fine
    assert cluster_sh("stop", cluster.dir).returncode == 0

    cluster.start()
    assert cluster.nodes == nodes
    assert not set(cluster.pids().values()) & set(pids.values())
    for shard in (1, 2, 3):
        cluster.wait_synced(shard)
    for node in sorted(cluster.nodes):
        assert cluster.scalar(node, "SELECT count() FROM t_all") == cluster.total()
    cluster.insert((2, 2), 5)
    cluster.wait_synced(2)


def test_failed_start_leaves_nothing(tmp_path):
    require_cluster()
    proc = cluster_sh("start", tmp_path, 1, 2,
                      env={"CLICKHOUSE_SERVER": "/bin/false",
                           "CLUSTER_WATCH_PID": str(os.getpid())})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "did not start: the server exited" in proc.stderr
    assert "shard 1 replica" in proc.stderr
    assert "killed what this start began: zookeeper" in proc.stderr
    assert processes_of(tmp_path) == []
    assert not list(tmp_path.glob("*/*.pid"))
    assert not (tmp_path / "watchdog.pid").exists()
    assert cluster_sh("status", tmp_path).returncode == 1


def test_watchdog_stops_orphaned_cluster(tmp_path):
    require_cluster()
    # stands in for a test runner that is SIGKILLed and so never tears down
    runner = subprocess.Popen(["sleep", "600"])
    try:
        proc = cluster_sh("start", tmp_path, 1, 1, env={"CLUSTER_WATCH_PID": str(runner.pid)})
        assert proc.returncode == 0, proc.stderr
        assert len(processes_of(tmp_path)) == 2
        runner.kill()
        runner.wait()
        wait_until("the cluster stopped by its watchdog", lambda: processes_of(tmp_path) == [])
    finally:
        runner.kill()
        runner.wait()
        cluster_sh("stop", tmp_path)
    log = (tmp_path / "watchdog.log").read_text()
    assert f"pid {runner.pid} is gone: stopping the cluster" in log
    assert "SIGKILL" not in log
