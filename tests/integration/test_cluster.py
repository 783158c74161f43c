# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The collector on a real sharded, replicated ClickHouse (2 shards x 2 replicas of Debian's
clickhouse-server 18.16 and ZooKeeper, tests/cluster/cluster.sh): `--cluster FILE`.

  test_migrate_and_status              the schema of sql/cluster on every node, twice;
                                       `cluster status` lists four replicas up, one writer a shard
  test_ingest_exact_per_shard          wire batches in: the Distributed totals equal the input
                                       exactly, every batch whole on one shard, both replicas of
                                       a shard equal, both shards used, every rollup equal to raw,
                                       the ledger one row per batch; the same input again: all
                                       duplicates, nothing stored twice
  test_answer_lost_stored_once         a proxy lets the server store an insert and drops its
                                       answer: the collector takes the replica out, sends the
                                       same block to the other replica, which drops it; stored
                                       once, and the replica comes back
  test_replica_killed_mid_ingest       SIGKILL of a replica while batches stream in, restarted:
                                       nothing lost or doubled, the replica catches up, the log
                                       says down, then up
  test_zookeeper_stopped_mid_ingest    ZooKeeper stopped for 10 s while batches stream in: the
                                       shards turn read-only, inserts wait, and resume by
                                       themselves; exact
  test_views_equal_the_embedded_store  geo load on every node, then every view and the report
                                       equal to an embedded store's for the same input
  test_node_without_geolocation_gets_a_copy  a node whose prefixes are gone gets them from
                                       another when its schema is applied
  test_node_without_geo_dictionary_takes_no_writes  an 18.16 node without
                                       sql/cluster/geo_dictionary.xml: no-schema, named

The tests share one cluster (module scope) and run in this order; each uses its own agent id
and checks its own rows exactly, and the totals of all of them at the end of each.
"""
import os
import pathlib
import random
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD, ROOT, summary_counters
from cluster_fixtures import cluster_sh, parse_nodes, require_cluster
from wire import encode_batch

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
SQL_DIR = ROOT / "sql"
ROLLUPS = ("proto_1m", "proto_1d", "port_1m", "port_1d")
WAIT = 90
RECORD = struct.Struct("<16s16sHHBBHIBIQQQQ")


# --- the cluster --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    require_cluster()
    directory = tempfile.mkdtemp(prefix="flowcluster-", dir="/tmp")
    started = cluster_sh("start", directory, 2, 2,
                         env={"CLUSTER_WATCH_PID": str(os.getpid())})
    assert started.returncode == 0, started.stderr[-3000:]
    nodes = parse_nodes(started.stdout)
    state = {"dir": directory, "nodes": nodes, "expected": {}}
    yield state
    stopped = cluster_sh("stop", directory)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    subprocess.run(["rm", "-rf", directory], check=False)


def cluster_file(path, nodes, shards=None, override=None, extra="", options=None):
    """A cluster file of the nodes ({(shard, replica): (url, tcp)}), some URLs replaced, with
    options per shard ({shard: "capacity 1M"})."""
    lines = ["# written by test_cluster.py", "cluster flows", "probe-interval-ms 200", extra]
    for shard in sorted({s for s, _ in nodes}):
        if shards and shard not in shards:
            continue
        lines.append(f"shard {shard} {(options or {}).get(shard, '')}")
        for (s, r) in sorted(nodes):
            if s == shard:
                url = (override or {}).get((s, r), nodes[(s, r)][0])
                lines.append(f"replica {url}")
    path.write_text("\n".join(lines) + "\n")
    return path


def query(url, sql):
    request = urllib.request.Request(url, data=sql.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def rows(url, sql):
    return [line.split("\t") for line in query(url, sql).splitlines()]


def sync(cluster):
    """Every replica has pulled and applied what its shard stored."""
    for (s, r), (url, _) in cluster["nodes"].items():
        for table in ("raw_local", "batches_local") + tuple(f"{t}_local" for t in ROLLUPS):
            query(url, f"SYSTEM SYNC REPLICA flows.{table}")


# --- input --------------------------------------------------------------------------------------

def make_batches(agent, count, per_batch, seed):
    """count wire batches of per_batch records each, and the records' totals."""
    rng = random.Random(seed)
    run = rng.getrandbits(63) | 1
    now_ns = int(time.time()) * 10**9
    batches, packets, byte_total = [], 0, 0
    for seq in range(1, count + 1):
        records = []
        for _ in range(per_batch):
            src = b"\0" * 10 + b"\xff\xff" + bytes([10, rng.randrange(256), rng.randrange(256),
                                                     rng.randrange(1, 255)])
            dst = b"\0" * 10 + b"\xff\xff" + bytes([192, 0, 2, rng.randrange(1, 255)])
            p = rng.randrange(1, 1000)
            b = p * rng.randrange(40, 1500)
            first = now_ns - rng.randrange(0, 3600) * 10**9
            proto = rng.choice((6, 17, 1))
            records.append(RECORD.pack(src, dst, rng.randrange(1024, 65535),
                                       rng.choice((53, 80, 443, 8080)), proto,
                                       0x12 if proto == 6 else 0, 0, 2, rng.randrange(2), 1, p,
                                       b, first, first + rng.randrange(0, 10**9)))
            packets += p
            byte_total += b
        batches.append(encode_batch(agent, run, seq, records, flags=1 if seq == 1 else 0))
    return batches, {"rows": count * per_batch, "packets": packets, "bytes": byte_total,
                     "batches": count, "per_batch": per_batch}


def remember(cluster, agent, totals):
    cluster["expected"][agent] = totals


def collector(*args, env=None, timeout=300, stdin=None):
    proc = subprocess.run([FLOWCOLLECTOR, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, input=stdin,
                          env={**os.environ, **(env or {})})
    proc.stderr_text = proc.stderr.decode(errors="replace")
    return proc


def ingest(config, wal, path, *args):
    return collector("--cluster", config, "--sql-dir", SQL_DIR, "ingest", "--input", path,
                     "--wal-dir", wal, *args)


# --- what the cluster holds ---------------------------------------------------------------------

def assert_exact(cluster, agents=None):
    """Per agent over the Distributed tables, per shard on both replicas, and the rollups."""
    sync(cluster)
    nodes = cluster["nodes"]
    url = nodes[(1, 1)][0]
    for agent, want in cluster["expected"].items():
        if agents and agent not in agents:
            continue
        got = rows(url, "SELECT count(), sum(packets), sum(bytes), uniqExact(batch_seq) "
                        f"FROM flows.raw WHERE agent = '{agent}'")[0]
        assert [int(v) for v in got] == [want["rows"], want["packets"], want["bytes"],
                                         want["batches"]], agent
        ledger = rows(url, "SELECT count(), uniqExact(batch_seq), sum(rows) FROM flows.batches "
                           f"WHERE agent = '{agent}'")[0]
        assert [int(v) for v in ledger] == [want["batches"], want["batches"], want["rows"]], \
            agent
        # a batch is whole on one shard: its rows there, none on the other
        seen = {}
        for shard in sorted({s for s, _ in nodes}):
            per_batch = rows(nodes[(shard, 1)][0], "SELECT batch_seq, count() FROM "
                             f"flows.raw_local WHERE agent = '{agent}' GROUP BY batch_seq")
            for seq, count in per_batch:
                assert seq not in seen, f"{agent}: batch {seq} on shards {seen[seq]} and {shard}"
                seen[seq] = shard
                assert int(count) == want["per_batch"], (agent, seq, count)
        assert len(seen) == want["batches"], agent
    for shard in sorted({s for s, _ in nodes}):
        one = rows(nodes[(shard, 1)][0], "SELECT agent, count(), sum(packets), sum(bytes) "
                                         "FROM flows.raw_local GROUP BY agent ORDER BY agent")
        two = rows(nodes[(shard, 2)][0], "SELECT agent, count(), sum(packets), sum(bytes) "
                                         "FROM flows.raw_local GROUP BY agent ORDER BY agent")
        assert one == two, f"shard {shard}: the replicas differ"
    total = {k: sum(w[k] for w in cluster["expected"].values())
             for k in ("rows", "packets", "bytes")}
    raw = [int(v) for v in rows(url, "SELECT count(), sum(packets), sum(bytes) "
                                     "FROM flows.raw")[0]]
    assert raw == [total["rows"], total["packets"], total["bytes"]]
    for table in ROLLUPS:
        got = [int(v) for v in rows(url, f"SELECT sum(records), sum(packets), sum(bytes) "
                                         f"FROM flows.{table}")[0]]
        if table.startswith("port"):
            want = [int(v) for v in rows(url, "SELECT count(), sum(packets), sum(bytes) FROM "
                                              "flows.raw WHERE proto IN (6, 17, 132, 136)")[0]]
        else:
            want = raw
        assert got == want, table


# --- a proxy that loses answers -----------------------------------------------------------------

class AnswerLosingProxy:
    """HTTP between the collector and one server: requests pass, but the answers of the first
    `lose` INSERTs are thrown away once the server has sent them (it stored the rows) and the
    connection is cut: the collector cannot know whether the insert was stored."""

    def __init__(self, upstream, lose):
        parsed = urllib.parse.urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.lose = lose
        self.lost_ok = 0       # answers lost that said 200 (stored)
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.connection, args=(client,), daemon=True).start()

    @staticmethod
    def read_request(sock, buffer):
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"expect", b"").lower() == b"100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = int(headers.get(b"content-length", b"0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            rest += chunk
        kept = [lines[0]] + [line for line in lines[1:]
                             if line.split(b":")[0].strip().lower() not in
                             (b"expect", b"connection")]
        request = b"\r\n".join(kept + [b"Connection: close"]) + b"\r\n\r\n" + rest[:length]
        return (lines[0], request), rest[length:]

    def connection(self, client):
        buffer = b""
        try:
            while True:
                parsed, buffer = self.read_request(client, buffer)
                if not parsed:
                    return
                request_line, request = parsed
                upstream = socket.create_connection(self.upstream, timeout=60)
                upstream.sendall(request)
                response = b""
                while True:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        break
                    response += chunk
                upstream.close()
                with self.lock:
                    lose = b"INSERT" in urllib.parse.unquote_to_bytes(request_line).upper() \
                        and self.lose > 0
                    if lose:
                        self.lose -= 1
                        self.lost_ok += response.startswith(b"HTTP/1.1 200")
                if lose:
                    return
                client.sendall(response)
                return
        except OSError:
            pass
        finally:
            client.close()

    def close(self):
        self.server.close()


# --- streaming input ----------------------------------------------------------------------------

class Streaming:
    """A collector reading batches from its standard input as they are written."""

    def __init__(self, config, wal):
        self.proc = subprocess.Popen(
            [FLOWCOLLECTOR, "--cluster", str(config), "--sql-dir", str(SQL_DIR), "ingest",
             "--input", "-", "--wal-dir", str(wal), "--batch-rows", "1000", "--batch-ms", "100"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = []
        self.started = time.monotonic()
        self.timeline = []   # (seconds since start, line): kept in collector.log for a failure
        self.reader = threading.Thread(target=self.read_stderr, daemon=True)
        self.reader.start()

    def read_stderr(self):
        for line in self.proc.stderr:
            text = line.decode(errors="replace")
            self.stderr.append(text)
            self.timeline.append(f"[{time.monotonic() - self.started:7.2f}] {text}")

    def send(self, batch):
        self.proc.stdin.write(batch)
        self.proc.stdin.flush()

    def finish(self):
        self.proc.stdin.close()
        code = self.proc.wait(timeout=WAIT * 2)
        self.reader.join(timeout=10)
        return code, "".join(self.stderr)

    def wait_for(self, pattern, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, "".join(self.stderr)):
                return True
            time.sleep(0.1)
        return False


def wait_replica(cluster, directory, shard, replica, state="up", timeout=WAIT):
    config = cluster_file(directory / "status.conf", cluster["nodes"])
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = collector("--cluster", config, "cluster", "status").stdout.decode()
        for line in out.splitlines():
            words = line.split()
            if words[:2] == [str(shard), str(replica)] and words[3] == state:
                return out
        time.sleep(0.5)
    raise AssertionError(f"shard {shard} replica {replica} not {state}:\n{out}")


# --- tests --------------------------------------------------------------------------------------

def test_migrate_and_status(cluster, tmp_path):
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    for _ in range(2):
        migrated = collector("--cluster", config, "--sql-dir", SQL_DIR, "migrate")
        assert migrated.returncode == 0, migrated.stderr_text
        assert "schema of all 4 nodes" in migrated.stderr_text
    for (s, r), (url, _) in cluster["nodes"].items():
        tables = {t for t, in rows(url, "SELECT name FROM system.tables WHERE database = "
                                        "'flows'")}
        assert {"ingest", "raw_local", "raw", "batches_local", "batches", "proto_1m_local",
                "proto_1m", "port_1d_local", "port_1d"} <= tables, (s, r, tables)
    status = collector("--cluster", config, "cluster", "status")
    assert status.returncode == 0, status.stderr_text
    lines = [line.split() for line in status.stdout.decode().splitlines()
             if re.match(r"^\d+\s+\d+\s", line)]
    assert len(lines) == 4
    assert all(words[3] == "up" for words in lines), status.stdout
    writers = [(words[0], words[1]) for words in lines if words[4] == "*"]
    assert writers == [("1", "1"), ("2", "1")]


def test_discover_from_system_clusters(cluster, tmp_path):
    """`cluster discover` writes a cluster file from one node's system.clusters. Here every node
    is on 127.0.0.1, so their HTTP ports cannot be told (system.clusters has TCP ports only):
    the file names each replica's TCP port, and the run says so and exits 1. With the HTTP
    URLs put in for those TCP ports, the file is a working cluster file, and `cluster
    remote-servers` makes from it the remote_servers section the nodes run with."""
    nodes = cluster["nodes"]
    seed = nodes[(1, 1)][0]
    found = collector("--clickhouse", seed, "cluster", "discover")
    assert found.returncode == 1, found.stderr_text
    assert "several nodes run on host 127.0.0.1" in found.stderr_text
    text = found.stdout.decode()
    by_tcp = {tcp: url for (url, tcp) in nodes.values()}
    fixed, order = [], []
    for line in text.splitlines():
        m = re.match(r"replica \S+ tcp (\d+)$", line)
        if m:
            order.append(int(m.group(1)))
            line = f"replica {by_tcp[int(m.group(1))]} tcp {m.group(1)}"
        fixed.append(line)
    assert order == [nodes[(s, r)][1] for (s, r) in sorted(nodes)]
    assert [line for line in fixed if line.startswith("shard")] == ["shard 1", "shard 2"]
    config = tmp_path / "found.conf"
    config.write_text("\n".join(fixed) + "\n")
    status = collector("--cluster", config, "cluster", "status")
    assert status.returncode == 0, status.stdout.decode() + status.stderr_text
    missing = collector("--clickhouse", seed, "cluster", "discover", "other")
    assert missing.returncode == 1

    def section(xml):
        """remote_servers as [(cluster, [[(host, port), ...] per shard])]"""
        root = ET.fromstring(xml)
        return [(c.tag, [([(r.findtext("host"), int(r.findtext("port")))
                           for r in shard.findall("replica")],
                          shard.findtext("internal_replication"))
                         for shard in c.findall("shard")])
                for c in root.find("remote_servers")]
    made = collector("--cluster", config, "cluster", "remote-servers")
    assert made.returncode == 0, made.stderr_text
    running = pathlib.Path(cluster["dir"]) / "s1r1" / "config.d" / "remote_servers.xml"
    assert section(made.stdout) == section(running.read_bytes()), made.stdout.decode()
    assert section(made.stdout)[0][1][1] == ([("127.0.0.1", nodes[(2, 1)][1]),
                                              ("127.0.0.1", nodes[(2, 2)][1])], "true")
    assert "has no cluster 'other' in system.clusters" in missing.stderr_text


def test_ingest_exact_per_shard(cluster, tmp_path):
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    batches, totals = make_batches("exact-1", 60, 500, seed=1)
    wire = tmp_path / "in.wire"
    wire.write_bytes(b"".join(batches))
    first = ingest(config, tmp_path / "wal", wire, "--batch-rows", "2000")
    assert first.returncode == 0, first.stderr_text[-3000:]
    counters = summary_counters(first.stderr_text)
    assert counters["rows_inserted"] == totals["rows"]
    remember(cluster, "exact-1", totals)
    assert_exact(cluster)
    per_shard = [int(rows(cluster["nodes"][(s, 1)][0], "SELECT count() FROM flows.raw_local "
                                                      "WHERE agent = 'exact-1'")[0][0])
                 for s in (1, 2)]
    assert all(per_shard) and sum(per_shard) == totals["rows"], per_shard
    # the same batches again: every one found in the ledger of the shard that has it
    again = ingest(config, tmp_path / "wal", wire, "--batch-rows", "2000")
    assert again.returncode == 0, again.stderr_text[-3000:]
    counters = summary_counters(again.stderr_text)
    assert counters["duplicate_batches"] == 60 and counters["rows_inserted"] == 0
    assert_exact(cluster)


def test_answer_lost_stored_once(cluster, tmp_path):
    proxy = AnswerLosingProxy(cluster["nodes"][(1, 1)][0], lose=2)
    try:
        config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"], shards={1},
                              override={(1, 1): proxy.url})
        batches, totals = make_batches("lost-answer", 12, 300, seed=2)
        wire = tmp_path / "in.wire"
        wire.write_bytes(b"".join(batches))
        run = ingest(config, tmp_path / "wal", wire, "--batch-rows", "900")
        assert run.returncode == 0, run.stderr_text[-3000:]
        assert proxy.lost_ok == 2, "the server did not store the inserts whose answer was lost"
        assert re.search(r"shard 1 replica 1 \(http://127\.0\.0\.1:\d+/\): up -> down",
                         run.stderr_text), run.stderr_text[-3000:]
        remember(cluster, "lost-answer", totals)
        assert_exact(cluster)
        on_shard_2 = rows(cluster["nodes"][(2, 1)][0], "SELECT count() FROM flows.raw_local "
                                                       "WHERE agent = 'lost-answer'")
        assert on_shard_2 == [["0"]]
    finally:
        proxy.close()


def stream_with_fault(cluster, tmp_path, agent, seed, fault, recover, outage_s, count=40,
                      config=None, per_batch=250, hold_until=None):
    """Streams count batches; fault() runs after a quarter of them, recover() outage_s later,
    from this thread (the feeder blocks on a full pipe while the collector waits). With
    hold_until, the feeder pauses after the fault until the collector's log matches it."""
    config = config or cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    batches, totals = make_batches(agent, count, per_batch, seed=seed)
    stream = Streaming(config, tmp_path / "wal")
    sent = [0]
    feeding_error = []
    resume = threading.Event()

    def feed():
        try:
            for i, batch in enumerate(batches):
                if i == count // 4 and hold_until:
                    resume.wait(WAIT)
                stream.send(batch)
                sent[0] += 1
                time.sleep(0.05)
        except OSError as err:
            feeding_error.append(err)

    def note(text):
        stream.timeline.append(f"[{time.monotonic() - stream.started:7.2f}] test: {text}\n")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline = time.monotonic() + WAIT
    while sent[0] < count // 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    note(f"{fault.__name__} after {sent[0]} batches")
    fault()
    faulted = time.monotonic()
    if hold_until:
        assert stream.wait_for(hold_until), "".join(stream.stderr)[-4000:]
        note(f"log says {hold_until!r}")
        resume.set()
    time.sleep(outage_s)
    note(f"{recover.__name__} after {time.monotonic() - faulted:.1f} s, {sent[0]} batches")
    recover()
    note(f"{recover.__name__} done")
    feeder.join(timeout=WAIT * 2)
    assert not feeder.is_alive() and not feeding_error, feeding_error
    code, log = stream.finish()
    (tmp_path / "collector.log").write_text("".join(stream.timeline))
    assert code == 0, log[-4000:]
    counters = summary_counters(log)
    assert counters["rows_inserted"] == totals["rows"], log[-4000:]
    remember(cluster, agent, totals)
    return log


def test_replica_killed_mid_ingest(cluster, tmp_path):
    directory = cluster["dir"]

    def kill():
        assert cluster_sh("kill-node", directory, 1, 1).returncode == 0

    def restart():
        started = cluster_sh("start-node", directory, 1, 1)
        assert started.returncode == 0, started.stderr[-2000:]

    log = stream_with_fault(cluster, tmp_path, "killed-replica", 3, kill, restart, 3)
    assert re.search(r"shard 1 replica 1 \([^)]*\): up -> down", log), log[-4000:]
    # the restarted replica catches up, and the collector's own probe said so
    wait_replica(cluster, tmp_path, 1, 1, "up")
    assert_exact(cluster)


def test_zookeeper_stopped_mid_ingest(cluster, tmp_path):
    directory = cluster["dir"]

    def stop_zk():
        assert cluster_sh("stop-zk", directory).returncode == 0

    def start_zk():
        assert cluster_sh("start-zk", directory).returncode == 0

    log = stream_with_fault(cluster, tmp_path, "zookeeper-away", 4, stop_zk, start_zk, 10)
    assert re.search(r"-> read-only", log), log[-4000:]
    assert re.search(r"no replica takes writes; its inserts wait", log), log[-4000:]
    assert re.search(r"read-only -> up", log), log[-4000:]
    assert_exact(cluster)


def shard_rows(cluster, shard, agent):
    return int(rows(cluster["nodes"][(shard, 1)][0], "SELECT count() FROM flows.raw_local "
                                                     f"WHERE agent = '{agent}'")[0][0])


def shard_used_bytes(cluster, shard):
    """What the collector's probe counts: the bytes of every flows table, fullest replica."""
    return max(int(rows(url, "SELECT sum(bytes) FROM system.parts WHERE active AND "
                             "database = 'flows'")[0][0])
               for (s, r), (url, _) in cluster["nodes"].items() if s == shard)


def test_full_shard_gets_no_new_inserts(cluster, tmp_path):
    """A shard at its fill-limit takes nothing new; the other takes it all; status says why.
    Shard 1 holds what the tests before stored (about 0.8 MiB; merges shrink it a little), so
    with a fill-limit of 20% of 1 MiB it is full whatever the merges did."""
    assert shard_used_bytes(cluster, 1) > (1 << 20) // 4
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"],
                          extra="fill-limit 20\nstandby-at 10",
                          options={1: "capacity 1M", 2: "capacity 100G"})
    status = collector("--cluster", config, "cluster", "status").stdout.decode()
    assert re.search(r"shard 1: weight 1, [0-9.]+% of 1\.0 MiB used: full \(fill-limit\)",
                     status), status
    batches, totals = make_batches("full-shard", 20, 100, seed=5)
    wire = tmp_path / "in.wire"
    wire.write_bytes(b"".join(batches))
    run = ingest(config, tmp_path / "wal", wire, "--batch-rows", "100")
    assert run.returncode == 0, run.stderr_text[-3000:]
    assert shard_rows(cluster, 1, "full-shard") == 0
    assert shard_rows(cluster, 2, "full-shard") == totals["rows"]
    remember(cluster, "full-shard", totals)
    assert_exact(cluster)


def test_weights_follow_free_space(cluster, tmp_path):
    """Shard 1 at about 80% of its capacity, shard 2 nearly empty, equal weights: shard 1's
    share of new inserts is 0.2 / (0.2 + 1.0) = 1/6. 90 single-batch inserts: its count is
    binomial (mean 15, sd 3.5); the test takes mean +- 4 sd, [1, 29]. Without the policy it
    would be 45 +- 4.7."""
    used = shard_used_bytes(cluster, 1)
    capacity = max(used * 5 // 4, 1 << 20)
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"],
                          options={1: f"capacity {capacity}", 2: "capacity 100G"})
    batches, totals = make_batches("weighted", 90, 50, seed=6)
    wire = tmp_path / "in.wire"
    wire.write_bytes(b"".join(batches))
    run = ingest(config, tmp_path / "wal", wire, "--batch-rows", "50")
    assert run.returncode == 0, run.stderr_text[-3000:]
    assert summary_counters(run.stderr_text)["inserts"] == 90
    to_shard_1 = shard_rows(cluster, 1, "weighted") // 50
    assert 1 <= to_shard_1 <= 29, (to_shard_1, used, capacity)
    remember(cluster, "weighted", totals)
    assert_exact(cluster)


def test_standby_shard_starts_when_all_are_full(cluster, tmp_path):
    """Shard 2 is a standby; shard 1 is past standby-at: the standby starts, takes inserts, and
    the collector says so."""
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"],
                          extra="standby-at 50\nfill-limit 99",
                          options={1: f"capacity {shard_used_bytes(cluster, 1) * 3 // 2}",
                                   2: "standby capacity 100G"})
    batches, totals = make_batches("standby", 10, 100, seed=7)
    wire = tmp_path / "in.wire"
    wire.write_bytes(b"".join(batches))
    run = ingest(config, tmp_path / "wal", wire, "--batch-rows", "100")
    assert run.returncode == 0, run.stderr_text[-3000:]
    assert "standby shard 2 now takes new inserts" in run.stderr_text, run.stderr_text[-3000:]
    assert shard_rows(cluster, 2, "standby") > 0
    remember(cluster, "standby", totals)
    assert_exact(cluster)


def test_third_shard_added_while_ingesting(cluster, tmp_path):
    """A shard added to the cluster (servers, remote_servers on every node) and then to the
    cluster file while a collector streams: it is taken in, gets its schema, takes new
    inserts; nothing moves, nothing is lost, the Distributed totals count every shard."""
    directory = cluster["dir"]
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    before = {(s, r): rows(url, "SELECT agent, count() FROM flows.raw_local GROUP BY agent "
                                "ORDER BY agent")
              for (s, r), (url, _) in cluster["nodes"].items()}

    def add_shard():
        added = cluster_sh("add-shard", directory)
        assert added.returncode == 0, added.stderr[-2000:]
        nodes = {}
        for line in (pathlib.Path(directory) / "nodes").read_text().splitlines():
            shard, replica, url, tcp = line.split()
            nodes[(int(shard), int(replica))] = (url, int(tcp))
        assert (3, 1) in nodes and (3, 2) in nodes, nodes
        cluster["nodes"] = nodes
        time.sleep(1.1)   # a new modification time for the file, whatever its resolution
        cluster_file(config, nodes)

    def nothing():
        pass

    log = stream_with_fault(cluster, tmp_path, "third-shard", 8, add_shard, nothing, 0,
                            count=120, config=config, per_batch=20,
                            hold_until=r"shard 3 is in every node's remote_servers")
    assert re.search(r"shard 3 \(2 replicas\) added from", log), log[-4000:]
    assert "shard 3 is in every node's remote_servers: new inserts go to it" in log, log[-4000:]
    assert shard_rows(cluster, 3, "third-shard") > 0, log[-4000:]
    # old data stayed where it was
    for (s, r), got in before.items():
        now = rows(cluster["nodes"][(s, r)][0], "SELECT agent, count() FROM flows.raw_local "
                                               "WHERE agent != 'third-shard' GROUP BY agent "
                                               "ORDER BY agent")
        assert now == got, (s, r)
    assert_exact(cluster)


VIEWS = ("daily_bandwidth_by_proto", "daily_packets", "bandwidth", "bandwidth_peak",
         "top_talkers", "top_conversations", "proto_share_bytes", "proto_share_packets",
         "top_ports_bytes", "top_ports_packets", "top_regions_bytes", "top_regions_packets",
         "interfaces", "region_map")
# make_batches' sources are 10/8: two countries and a part nobody has; destinations 192.0.2/24
GEO_CSV = ("10.0.0.0,10.127.255.255,JP\n10.128.0.0,10.199.255.255,DE\n"
           "192.0.2.0,192.0.2.255,US\n2001:db8::,2001:db8::ffff,NL\n")
GEO_LOOKUP = ("SELECT dictGetString('flows.geo', 'country_code', "
              "tuple(toFixedString(IPv6StringToNum('::ffff:{}'), 16)))")


def test_views_equal_the_embedded_store(cluster, tmp_path):
    """Geolocation loaded into the cluster (every node) and into an embedded store, then the
    same batches into both: every view prints the same table, for whole days (daily rollups)
    and for a range of hours (per-minute rollups), for one agent and one direction, and the
    report is the same page."""
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    geo = tmp_path / "geo.csv"
    geo.write_text(GEO_CSV)
    loaded = collector("--cluster", config, "--sql-dir", SQL_DIR, "geo", "load", geo)
    assert loaded.returncode == 0, loaded.stderr_text[-3000:]
    # the file's 5 and the special-use ranges (16, less 192.0.2.0/24, which the file names)
    assert f"20 prefixes loaded on all {len(cluster['nodes'])} nodes" in loaded.stderr_text
    for url, _ in cluster["nodes"].values():
        # DE is 10.128/10 and 10.192/13; IPv4 v4-mapped, as 18.16's ip_trie needs them
        assert rows(url, "SELECT count(), countIf(prefix = '::ffff:10.128.0.0/106') FROM "
                         "flows.geo_ranges") == [["20", "1"]], url
        assert rows(url, GEO_LOOKUP.format("10.130.0.1")) == [["DE"]], url
        assert rows(url, GEO_LOOKUP.format("10.200.0.1")) == [["PRIVATE"]], url
    store = f"embedded:{tmp_path / 'db'}"
    local = collector("--store", store, "--sql-dir", SQL_DIR, "geo", "load", geo)
    assert local.returncode == 0, local.stderr_text[-3000:]
    batches, totals = make_batches("views-eq", 30, 200, seed=9)
    wire = tmp_path / "in.wire"
    wire.write_bytes(b"".join(batches))
    run = ingest(config, tmp_path / "wal", wire, "--batch-rows", "1000")
    assert run.returncode == 0, run.stderr_text[-3000:]
    remember(cluster, "views-eq", totals)
    local = collector("--store", store, "--sql-dir", SQL_DIR, "ingest", "--input", wire)
    assert local.returncode == 0, local.stderr_text[-3000:]
    sync(cluster)
    now = int(time.time())
    ranges = ([], ["--from", str(now - 7200), "--to", str(now + 3600)])
    for view in VIEWS:
        for extra in ranges:
            for direction in ([], ["--direction", "egress"]):
                args = ["query", view, "--tsv", "--agent", "views-eq", *extra, *direction]
                want = collector("--store", store, "--sql-dir", SQL_DIR, *args)
                got = collector("--cluster", config, "--sql-dir", SQL_DIR, *args)
                assert want.returncode == 0, want.stderr_text[-2000:]
                assert got.returncode == 0, got.stderr_text[-2000:]
                assert len(want.stdout.splitlines()) > 1, (view, extra, want.stdout)
                assert got.stdout == want.stdout, (view, extra, direction)
    # --limit: the top views' own number of rows, the same on both
    for view in [v for v in VIEWS if v.startswith("top_")]:
        args = ["query", view, "--tsv", "--agent", "views-eq", "--limit", "2"]
        want = collector("--store", store, "--sql-dir", SQL_DIR, *args)
        got = collector("--cluster", config, "--sql-dir", SQL_DIR, *args)
        assert len(want.stdout.splitlines()) == 3, (view, want.stdout, want.stderr_text)
        assert got.stdout == want.stdout, view
    # the report too: the same page from both (but for the minute it was made)
    reports = []
    for i, where in enumerate((["--store", store], ["--cluster", config])):
        html = tmp_path / f"report-{i}.html"
        made = collector(*where, "--sql-dir", SQL_DIR, "report", "--html", html, "--agent",
                         "views-eq")
        assert made.returncode == 0, made.stderr_text[-2000:]
        reports.append(re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "", html.read_text()))
    assert "Japan" in reports[0] and reports[0] == reports[1]
    top = collector("--cluster", config, "--sql-dir", SQL_DIR, "query", "top_regions_packets",
                    "--tsv", "--agent", "views-eq")
    named = {line.split("\t")[0]: line.split("\t")[1]
             for line in top.stdout.decode().splitlines()[1:]}
    assert named == {"JP": "Japan", "DE": "Germany",
                     "PRIVATE": "Private network (RFC 1918, RFC 4193)"}, top.stdout
    region = rows(cluster["nodes"][(1, 1)][0], "SELECT side, sum(records), sum(packets) FROM "
                  "flows.region_1m WHERE agent = 'views-eq' GROUP BY side ORDER BY side")
    assert region == [["src", str(totals["rows"]), str(totals["packets"])],
                      ["dst", str(totals["rows"]), str(totals["packets"])]], region


def test_node_without_geolocation_gets_a_copy(cluster, tmp_path):
    """A node whose geolocation is gone (as a new node's, or one that lost its disk) gets it
    from another node when its schema is applied, and its dictionary answers again."""
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    node = max(cluster["nodes"])
    url = cluster["nodes"][node][0]
    query(url, "TRUNCATE TABLE flows.geo_ranges")
    query(url, "SYSTEM RELOAD DICTIONARY `flows.geo`")
    assert rows(url, GEO_LOOKUP.format("10.0.0.1")) == [["??"]]
    # cluster status shows it: that node's GEO column, and a line that the nodes differ
    status = collector("--cluster", config, "cluster", "status").stdout.decode()
    geo = {line.split()[2]: line.split()[-1] for line in status.splitlines()
           if line.split()[:1] and line.split()[0].isdigit()}
    assert geo == {u: ("0" if u == url else "20") for u, _ in cluster["nodes"].values()}, status
    assert "geolocation: the nodes hold different prefix counts (GEO)" in status, status
    migrated = collector("--cluster", config, "--sql-dir", SQL_DIR, "-v", "migrate")
    assert migrated.returncode == 0, migrated.stderr_text[-3000:]
    assert re.search(rf"{re.escape(url)}: 20 geolocation prefixes copied from http://",
                     migrated.stderr_text), migrated.stderr_text[-3000:]
    assert rows(url, "SELECT count() FROM flows.geo_ranges") == [["20"]]
    status = collector("--cluster", config, "cluster", "status").stdout.decode()
    assert "geolocation:" not in status and re.search(rf"{re.escape(url)} .* 20\n", status), \
        status
    assert rows(url, GEO_LOOKUP.format("10.0.0.1")) == [["JP"]]


def test_whole_shard_down_waits_and_views_say_partial(cluster, tmp_path):
    """Both replicas of shard 2 stopped while batches stream in, started again 8 s later:
    the inserts wait (nothing is sealed while the ledger cannot be read whole) and resume;
    exact, nothing twice. During the outage a view prints what the other shards hold and
    says, with exit status 1, that shard 2 is missing from it."""
    directory = cluster["dir"]
    config = cluster_file(tmp_path / "cluster.conf", cluster["nodes"])
    during = {}

    def stop_shard_2():
        for replica in (1, 2):
            assert cluster_sh("stop-node", directory, 2, replica).returncode == 0
        time.sleep(1)
        during["query"] = collector("--cluster", config, "--sql-dir", SQL_DIR, "query",
                                    "daily_packets", "--tsv")
        during["shards"] = {s: int(rows(cluster["nodes"][(s, 1)][0],
                                        "SELECT sum(packets) FROM flows.raw_local")[0][0])
                            for s in sorted({s for s, _ in cluster["nodes"]}) if s != 2}

    def start_shard_2():
        for replica in (1, 2):
            started = cluster_sh("start-node", directory, 2, replica)
            assert started.returncode == 0, started.stderr[-2000:]

    log = stream_with_fault(cluster, tmp_path, "shard-down", 10, stop_shard_2, start_shard_2,
                            8, config=config, hold_until=r"shard 2: no replica takes writes")
    # batches came while the shard was away, and waited for it
    assert re.search(r"insert failed, retrying in \d+ ms: .*Code: 279", log), log[-4000:]
    query = during["query"]
    assert query.returncode == 1, query.stderr_text
    assert "daily_packets: PARTIAL ANSWER: no replica of shard 2 answers" in query.stderr_text
    lines = query.stdout.decode().splitlines()
    assert lines[0].split("\t") == ["day", "packets", "bytes", "records"]
    printed = sum(int(line.split("\t")[1]) for line in lines[1:])
    assert printed == sum(during["shards"].values())
    wait_replica(cluster, tmp_path, 2, 1, "up")
    wait_replica(cluster, tmp_path, 2, 2, "up")
    assert_exact(cluster)


def test_node_without_geo_dictionary_takes_no_writes(tmp_path):
    """A node of an older server without sql/cluster/geo_dictionary.xml installed: the schema
    is refused there with the file to install named (every insert would fail in the region
    views), the node is no-schema; with the file back it is up. Its own 1 x 1 cluster."""
    directory = tempfile.mkdtemp(prefix="flowcluster-nodict-", dir="/tmp")
    try:
        started = cluster_sh("start", directory, 1, 1,
                             env={"CLUSTER_WATCH_PID": str(os.getpid())})
        assert started.returncode == 0, started.stderr[-2000:]
        nodes = parse_nodes(started.stdout)
        config_xml = pathlib.Path(directory) / "s1r1" / "config.xml"
        original = config_xml.read_text()
        assert "<dictionaries_config>" in original
        assert cluster_sh("stop-node", directory, 1, 1).returncode == 0
        config_xml.write_text(re.sub(r"\s*<dictionaries_config>.*</dictionaries_config>", "",
                                     original))
        assert cluster_sh("start-node", directory, 1, 1).returncode == 0
        config = cluster_file(tmp_path / "cluster.conf", nodes)
        refused = collector("--cluster", config, "--sql-dir", SQL_DIR, "migrate")
        assert refused.returncode == 1, refused.stderr_text
        assert re.search(r"shard 1 replica 1 \(http://[^)]*\): unknown -> no-schema: schema: no "
                         r"dictionary flows\.geo: ClickHouse 18\.16 takes dictionaries only "
                         r"from its configuration; install sql/cluster/geo_dictionary\.xml",
                         refused.stderr_text), refused.stderr_text
        # nothing of the region rollups was created there
        assert "region_1m_mv" not in query(nodes[(1, 1)][0], "SHOW TABLES FROM flows")
        assert cluster_sh("stop-node", directory, 1, 1).returncode == 0
        config_xml.write_text(original)
        assert cluster_sh("start-node", directory, 1, 1).returncode == 0
        accepted = collector("--cluster", config, "--sql-dir", SQL_DIR, "migrate")
        assert accepted.returncode == 0, accepted.stderr_text
    finally:
        cluster_sh("stop", directory)
        subprocess.run(["rm", "-rf", directory], check=False)
