# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The cluster schema (sql/cluster/*.sql) on a real 2 x 2 ClickHouse 18.16 cluster
(tests/cluster/cluster.sh): inserts go to flows.ingest (Null), materialized views fill
flows.raw_local and the rollups (Replicated*MergeTree), reads go to the Distributed tables.
docs/cluster-sql-notes.md has the experiments behind it.

  test_gates_and_placeholders        --@since lines kept or dropped by version, every
                                     placeholder replaced
  test_schema_on_every_node          applied twice on every node (fixture): the same tables
  test_retried_block_stored_once     one block into replica 1 and again into replica 2 of
                                     shard 1, another into shard 2: raw and every rollup hold
                                     each once, on every replica; rollups = raw, per key
  test_equal_rollup_output_not_dropped  two batches whose rollup rows would be equal (one ICMP
                                     record each; same rows, another inserted_at): both counted
  test_two_level_aggregation_dedup   200,000 rows, >100,000 GROUP BY keys, into both replicas
                                     of shard 2: stored once everywhere
  test_half_failed_insert_retried    a view fails after others were written (HTTP 500): the
                                     retry on the other replica completes it, nothing twice
  test_distributed_insert_refused    flows.raw has no sharding key: inserts there fail
  test_zookeeper_loss                ZooKeeper down: HTTP 500 Code 242, no table written;
                                     back: the same block is stored once
  test_current_clickhouse_embedded   the schema as expanded for libchdb's version (26.7: TTL
                                     included) on the embedded ClickHouse, with MergeTree and
                                     non_replicated_deduplication_window standing in for
                                     replication, Distributed left out (no cluster): a retry
                                     dropped in every table, equal rollup output kept, the
                                     200,000-row block once (skipped without libchdb)

The cluster tests share one cluster (module scope) and run in this order; each checks the
exact totals of everything inserted so far. Without the server, java or the ZooKeeper jar
they fail with "run make deps"; they never skip.
"""
import concurrent.futures
import ctypes
import os
import pathlib
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import pytest

import cluster_fixtures
from cluster_fixtures import node_http, require_cluster, wait_until
from conftest import BUILD, ROOT

SCHEMA = sorted((ROOT / "sql" / "cluster").glob("*.sql"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
SERVER_VERSION = (18, 16)

COLUMNS = ("agent", "batch_run", "batch_seq", "inserted_at", "src_addr", "dst_addr", "src_port",
           "dst_port", "proto", "tcp_flags", "vlan", "ifindex", "direction", "sampling",
           "packets", "bytes", "first_seen", "last_seen")
INSERT = f"INSERT INTO flows.ingest ({', '.join(COLUMNS)}) FORMAT RowBinary"
LOCAL = ("raw_local", "batches_local", "proto_1m_local", "proto_1d_local", "port_1m_local",
         "port_1d_local", "region_1m_local", "region_1d_local", "interface_1m_local")
REGIONS = ("region_1m", "region_1d")
ROLLUPS = ("proto_1m", "proto_1d", "port_1m", "port_1d")
PORT_PROTOS = (6, 17, 132, 136)
NS = 1000000000
SECOND = "toDateTime(intDiv(first_seen, 1000000000), 'UTC')"
# each rollup: its key, and the same key computed from flows.raw
ROLLUP_KEYS = {
    "proto_1m": ("received, minute, agent, direction, proto",
                 f"toDate(inserted_at) AS received, toStartOfMinute({SECOND}) AS minute, "
                 "agent, direction, proto"),
    "proto_1d": ("received, day, agent, direction, proto",
                 f"toDate(inserted_at) AS received, toDate({SECOND}) AS day, agent, direction, "
                 "proto"),
    "port_1m": ("received, minute, agent, direction, proto, port",
                f"toDate(inserted_at) AS received, toStartOfMinute({SECOND}) AS minute, agent, "
                "direction, proto, least(src_port, dst_port) AS port"),
    "port_1d": ("received, day, agent, direction, proto, port",
                f"toDate(inserted_at) AS received, toDate({SECOND}) AS day, agent, direction, "
                "proto, least(src_port, dst_port) AS port"),
}

GATE = re.compile(r"^(\s*)--@since (\d+)\.(\d+) (.*)$")


def expand(text, version, cluster="'flows'", retention_days=30, rollup_retention_days=365):
    """What the collector runs of a schema file on a server of version (major, minor)."""
    lines = []
    for line in text.splitlines():
        m = GATE.match(line)
        if m:
            if (int(m[2]), int(m[3])) > version:
                continue
            line = m[1] + m[4]
        lines.append(line)
    text = "\n".join(lines) + "\n"
    for name, value in (("cluster", cluster), ("retention_days", retention_days),
                        ("rollup_retention_days", rollup_retention_days)):
        text = text.replace("{{%s}}" % name, str(value))
    return text


def statements(text):
    """The statements of a file: each ends with ';' at the end of a line (not a comment)."""
    result, current = [], []
    for line in text.splitlines():
        comment = line.lstrip().startswith("--")
        if not current and (comment or not line.strip()):
            continue
        current.append(line)
        if not comment and line.rstrip().endswith(";"):
            result.append("\n".join(current).rstrip()[:-1])
            current = []
    assert not current, f"statement without ';': {current}"
    return result


def schema(version=SERVER_VERSION):
    return [s for f in SCHEMA for s in statements(expand(f.read_text(), version))]


# --- blocks of flow records in RowBinary ---------------------------------------------------

def varstring(text):
    data, n, prefix = text.encode(), len(text.encode()), b""
    while True:
        if n < 0x80:
            return prefix + bytes([n]) + data
        prefix += bytes([(n & 0x7f) | 0x80])
        n >>= 7


def v4(a, b, c, d):
    return b"\0" * 10 + b"\xff\xff" + bytes([a, b, c, d])


class Block:
    """Rows (tuples in COLUMNS order) and their RowBinary."""

    def __init__(self, rows):
        self.rows = rows
        self.data = b"".join(
            varstring(r[0]) + struct.pack("<QQI", *r[1:4]) + r[4] + r[5] +
            struct.pack("<HHBBHIbIQQQQ", *r[6:]) for r in rows)

    @classmethod
    def random(cls, count, seed, inserted_at, agent="agent-a", run=1, seq=1, minutes=60,
               ports=None):
        """count records of one batch; ports: draw ports from 1..ports (many keys)."""
        rnd = random.Random(seed)
        base = 1749990000 * NS
        rows = []
        for _ in range(count):
            first = base + rnd.randrange(minutes) * 60 * NS + rnd.randrange(60 * NS)
            packets = rnd.randrange(1, 200)
            rows.append((agent, run, seq, inserted_at,
                         v4(10, 0, rnd.randrange(256), rnd.randrange(256)),
                         v4(192, 168, rnd.randrange(256), rnd.randrange(256)),
                         rnd.randrange(1024, 65536),
                         rnd.randrange(1, ports) if ports else rnd.choice((22, 53, 80, 443)),
                         rnd.choice((6, 6, 17, 1, 58, 132, 136, 47)), rnd.randrange(64), 0,
                         rnd.randrange(1, 5), rnd.randrange(2), rnd.choice((0, 1, 1, 10)),
                         packets, packets * rnd.randrange(40, 1500), first,
                         first + rnd.randrange(30 * NS)))
        return cls(rows)

    def totals(self):
        """rows, packets, bytes as stored; spackets, sbytes scaled by the sampling rate (as the
        rollups count); port_*: the same of the rows the port rollups count."""
        t = dict.fromkeys(("rows", "packets", "bytes", "spackets", "sbytes", "port_rows",
                           "port_packets", "port_bytes"), 0)
        for r in self.rows:
            scale = max(r[13], 1)
            t["rows"] += 1
            t["packets"] += r[14]
            t["bytes"] += r[15]
            t["spackets"] += r[14] * scale
            t["sbytes"] += r[15] * scale
            if r[8] in PORT_PROTOS:
                t["port_rows"] += 1
                t["port_packets"] += r[14] * scale
                t["port_bytes"] += r[15] * scale
        return t


# --- the cluster ---------------------------------------------------------------------------

def cluster_sh(*args, timeout=180):
    """cluster.sh ARGS... that must succeed (a watchdog on this process): its output."""
    proc = cluster_fixtures.cluster_sh(*args, timeout=timeout,
                                       env={"CLUSTER_WATCH_PID": str(os.getpid())})
    assert proc.returncode == 0, f"cluster.sh {' '.join(map(str, args))}:\n{proc.stderr}"
    return proc.stdout


class Cluster:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.nodes = {}
        # shard -> totals of the blocks stored there (each once)
        self.expected = {}

    def start(self):
        for line in cluster_sh("start", self.dir, 2, 2).splitlines():
            shard, replica, url, _ = line.split()
            self.nodes[(int(shard), int(replica))] = url

    def http(self, node, query, data=None, timeout=60):
        return node_http(self.nodes[node], query, data, timeout)

    def sql(self, node, query, data=None):
        status, body = self.http(node, query, data)
        assert status == 200, f"{node}: {query[:300]}: HTTP {status}: {body}"
        return body

    def values(self, node, query):
        return [int(v) for v in self.sql(node, query + " FORMAT TSV").split()]

    def insert(self, node, block):
        self.sql(node, INSERT, block.data)

    def stored(self, shard, block):
        """block is stored in shard (once)."""
        total = self.expected.setdefault(shard, dict.fromkeys(block.totals(), 0))
        for k, v in block.totals().items():
            total[k] += v

    def local_state(self, node):
        """[raw rows, packets, bytes, proto_1m/1d records, packets, bytes, port_1m/1d ...]"""
        parts = ["(SELECT count() FROM flows.raw_local)",
                 "(SELECT sum(packets) FROM flows.raw_local)",
                 "(SELECT sum(bytes) FROM flows.raw_local)"]
        for t in ROLLUPS:
            parts += [f"(SELECT sum({c}) FROM flows.{t}_local)" for c in
                      ("records", "packets", "bytes")]
        return self.values(node, "SELECT " + ", ".join(parts))

    def want_state(self, shard):
        t = self.expected.get(shard) or dict.fromkeys(("rows", "packets", "bytes", "spackets",
                                                        "sbytes", "port_rows", "port_packets",
                                                        "port_bytes"), 0)
        proto = [t["rows"], t["spackets"], t["sbytes"]]
        port = [t["port_rows"], t["port_packets"], t["port_bytes"]]
        return [t["rows"], t["packets"], t["bytes"]] + proto + proto + port + port

    def wait_replicated(self):
        """Every replica of every shard holds exactly what was stored there, queues empty."""
        for node in sorted(self.nodes):
            want = self.want_state(node[0])

            def state(node=node, want=want):
                got = self.local_state(node)
                queue = self.values(node, "SELECT sum(queue_size) FROM system.replicas "
                                          "WHERE database = 'flows'")
                return got == want and queue == [0], (got, want, queue)
            wait_until(f"{node} holding exactly the blocks stored in its shard", state)

    def check_totals(self):
        """Distributed tables: the sums of all shards; each rollup equal to flows.raw, key by
        key (hashed: a block can have 150,000 keys)."""
        self.wait_replicated()
        t = {k: sum(e[k] for e in self.expected.values()) for k in
             ("rows", "packets", "bytes", "spackets", "sbytes", "port_rows", "port_packets",
              "port_bytes")}
        for node in sorted(self.nodes):
            assert self.values(node, "SELECT count(), sum(packets), sum(bytes), "
                                     "sum(packets * greatest(sampling, 1)), "
                                     "sum(bytes * greatest(sampling, 1)) FROM flows.raw") == \
                [t["rows"], t["packets"], t["bytes"], t["spackets"], t["sbytes"]]
            for rollup in ROLLUPS:
                want = ([t["port_rows"], t["port_packets"], t["port_bytes"]]
                        if rollup.startswith("port") else [t["rows"], t["spackets"], t["sbytes"]])
                assert self.values(node, f"SELECT sum(records), sum(packets), sum(bytes) "
                                         f"FROM flows.{rollup}") == want, (node, rollup)
            for rollup in REGIONS:              # each record once per side
                assert self.values(node, f"SELECT sumIf(records, side = 'src'), "
                                         f"sumIf(records, side = 'dst'), sum(packets), "
                                         f"sum(bytes) FROM flows.{rollup}") == \
                    [t["rows"], t["rows"], 2 * t["spackets"], 2 * t["sbytes"]], (node, rollup)
        node = (2, 1)
        for rollup, (key, raw_key) in ROLLUP_KEYS.items():
            where = f"WHERE proto IN {PORT_PROTOS}" if rollup.startswith("port") else ""
            from_rollup = (f"SELECT count(), sum(cityHash64({key}, r, p, b)) FROM "
                           f"(SELECT {key}, sum(records) AS r, sum(packets) AS p, "
                           f"sum(bytes) AS b FROM flows.{rollup} GROUP BY {key})")
            from_raw = (f"SELECT count(), sum(cityHash64({key}, r, p, b)) FROM "
                        f"(SELECT {raw_key}, count() AS r, "
                        f"sum(packets * greatest(sampling, 1)) AS p, "
                        f"sum(bytes * greatest(sampling, 1)) AS b FROM flows.raw {where} "
                        f"GROUP BY {key})")
            got, want = self.sql(node, from_rollup), self.sql(node, from_raw)
            assert got == want and (int(want.split()[0]) > 0 or not self.expected), \
                (rollup, got, want)


@pytest.fixture(scope="module")
def cluster():
    require_cluster()
    c = Cluster(tempfile.mkdtemp(prefix="cluster-schema-", dir="/tmp"))
    try:
        c.start()
        def apply(node):
            for _ in range(2):                  # idempotent: the second time changes nothing
                for statement in schema():
                    c.sql(node, statement)
            # the XML dictionary (cluster.sh) failed to load while flows.geo_ranges was missing
            c.sql(node, "SYSTEM RELOAD DICTIONARY `flows.geo`")
        with concurrent.futures.ThreadPoolExecutor(len(c.nodes)) as pool:
            for done in [pool.submit(apply, node) for node in sorted(c.nodes)]:
                done.result()
        yield c
    finally:
        cluster_sh("stop", c.dir)
    shutil.rmtree(c.dir)


def test_gates_and_placeholders():
    assert SCHEMA, "no sql/cluster/*.sql"
    for f in SCHEMA:
        text = f.read_text()
        gated = [line for line in text.splitlines() if line.lstrip().startswith("--@")]
        assert all(GATE.match(line) for line in gated), gated
        for version in ((18, 16), (19, 6), (25, 3)):
            out = expand(text, version)
            assert "{{" not in out
            assert not [line for line in out.splitlines() if line.lstrip().startswith("--@")]
            assert all(s.startswith("CREATE ") for s in statements(out))
            assert all(" IF NOT EXISTS " in s.split("(")[0] + " " for s in statements(out))
        old, new = expand(text, (18, 16)), expand(text, (19, 6))
        assert "TTL" not in old and "CODEC" not in old and "LowCardinality" not in old
        if "MergeTree(" in text:
            assert "TTL " in new
    assert "INTERVAL 365 DAY" in "".join(expand(f.read_text(), (25, 3)) for f in SCHEMA)


def test_schema_on_every_node(cluster):
    want = None
    for node in sorted(cluster.nodes):
        assert cluster.sql(node, "SELECT version()").strip() == "18.16.1"
        tables = cluster.sql(node, "SELECT name, engine FROM system.tables "
                                   "WHERE database = 'flows' ORDER BY name FORMAT TSV")
        want = want or tables
        assert tables == want
    names = dict(line.split("\t") for line in want.splitlines())
    assert names["ingest"] == "Null"
    for t in LOCAL:
        assert names[t].startswith("Replicated"), t
        assert names[t[:-len("_local")]] == "Distributed"
    # raw, four rollups, two region rollups, the interface rollup, the ledger
    assert sum(e == "MaterializedView" for e in names.values()) == 9
    assert names["geo_ranges"] == "MergeTree" and names["countries"] == "ReplacingMergeTree"
    for node in sorted(cluster.nodes):
        assert cluster.values(node, "SELECT count() FROM system.replicas WHERE database = "
                                    "'flows' AND total_replicas = 2") == [len(LOCAL)]
    cluster.check_totals()                      # all zero


def test_retried_block_stored_once(cluster):
    a = Block.random(3000, seed=1, inserted_at=1750000000, seq=1)
    b = Block.random(2000, seed=2, inserted_at=1750000000, agent="agent-b", seq=1)
    cluster.insert((1, 1), a)
    cluster.insert((1, 2), a)                   # the retry, on the other replica
    cluster.insert((1, 1), a)                   # and again on the first one
    cluster.insert((2, 1), b)
    cluster.stored(1, a)
    cluster.stored(2, b)
    cluster.check_totals()
    for node in sorted(cluster.nodes):
        assert cluster.values(node, "SELECT count() FROM flows.raw_local") == \
            [cluster.expected[node[0]]["rows"]]
        # one part per table and shard: the duplicates wrote nothing
        assert cluster.values(node, "SELECT count() FROM system.parts WHERE database = 'flows' "
                                    "AND active AND table != 'batches_local'") == [8]


def test_equal_rollup_output_not_dropped(cluster):
    # two batches of one ICMP echo record each, same minute: the same rollup rows
    ping = ("agent-ping", 1, 100, 1750000100, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 0, 0, 1, 0, 0,
            1, 0, 1, 1, 84, 1749990000 * NS, 1749990000 * NS)
    first, second = Block([ping]), Block([ping[:2] + (101,) + ping[3:]])
    # the same rows with another inserted_at (same day): another block
    c = Block.random(500, seed=3, inserted_at=1750000200, seq=102)
    c2 = Block([r[:3] + (1750000201,) + r[4:] for r in c.rows])
    for block in (first, second, c, c2):
        cluster.insert((2, 2), block)
        cluster.stored(2, block)
    cluster.insert((2, 1), second)              # a retry is still dropped
    cluster.check_totals()
    for rollup in ("proto_1m", "proto_1d"):
        assert cluster.values((2, 1), f"SELECT sum(records), sum(bytes) FROM "
                                      f"flows.{rollup}_local WHERE agent = 'agent-ping'") == \
            [2, 168], rollup


def test_two_level_aggregation_dedup(cluster):
    big = Block.random(200000, seed=4, inserted_at=1750000300, seq=200, minutes=1440,
                       ports=65535)
    cluster.insert((2, 1), big)
    cluster.insert((2, 2), big)
    cluster.stored(2, big)
    cluster.check_totals()
    threshold = cluster.values((2, 1), "SELECT toUInt64(value) FROM system.settings "
                                       "WHERE name = 'group_by_two_level_threshold'")[0]
    keys = cluster.values((2, 1), f"SELECT uniqExact({ROLLUP_KEYS['port_1m'][1]}) FROM "
                                  f"flows.raw_local WHERE inserted_at = 1750000300 "
                                  f"AND proto IN {PORT_PROTOS}")[0]
    assert keys > threshold == 100000


def test_half_failed_insert_retried(cluster):
    node = (1, 1)
    cluster.sql(node, "CREATE TABLE default.fail_sink (x UInt8) ENGINE = Memory")
    # 18.16 pushes to the views in name order: this one fails after the others were written
    cluster.sql(node, "CREATE MATERIALIZED VIEW flows.zz_fail_mv TO default.fail_sink AS "
                      "SELECT throwIf(batch_seq = 666) AS x FROM flows.ingest")
    block = Block.random(700, seed=5, inserted_at=1750000400, seq=666)
    try:
        status, body = cluster.http(node, INSERT, block.data)
        assert status == 500 and "Code: 395" in body, body
    finally:
        cluster.sql(node, "DROP TABLE flows.zz_fail_mv")
        cluster.sql(node, "DROP TABLE default.fail_sink")
    cluster.insert((1, 2), block)               # the collector's retry, elsewhere
    cluster.stored(1, block)
    cluster.check_totals()


def test_distributed_insert_refused(cluster):
    status, body = cluster.http((1, 1), "INSERT INTO flows.raw (agent) VALUES ('x')")
    assert status == 500 and "Code: 55" in body and "no sharding key" in body, body


def test_zookeeper_loss(cluster):
    block = Block.random(400, seed=6, inserted_at=1750000500, seq=300)
    cluster_sh("stop-zk", cluster.dir)
    try:
        for node in sorted(cluster.nodes):
            wait_until(f"{node} read-only",
                       lambda node=node: (cluster.values(node, "SELECT min(is_readonly) FROM "
                                                               "system.replicas") == [1], None))
        for node in sorted(cluster.nodes):
            status, body = cluster.http(node, INSERT, block.data)
            assert status == 500, body
            assert "Code: 242" in body and "readonly mode" in body, body
        for node in sorted(cluster.nodes):
            assert cluster.local_state(node) == cluster.want_state(node[0])
    finally:
        cluster_sh("start-zk", cluster.dir)
    for node in sorted(cluster.nodes):
        wait_until(f"{node} writable again",
                   lambda node=node: (cluster.values(node, "SELECT max(is_readonly) FROM "
                                                           "system.replicas") == [0], None))
    cluster.insert((1, 1), block)
    cluster.insert((1, 2), block)
    cluster.stored(1, block)
    cluster.check_totals()


# --- the same schema on current ClickHouse (libchdb, in a child process) -----------------------

def embedded_check(libchdb, path):
    """Runs in a child process (python3 -c): libchdb's signal handlers and threads stay out of
    pytest. Raises AssertionError on a difference."""
    lib = ctypes.CDLL(libchdb)
    vp, cp, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    for name, res, args in (("chdb_connect", ctypes.POINTER(vp), [ctypes.c_int,
                                                                 ctypes.POINTER(cp)]),
                            ("chdb_query", vp, [vp, cp, cp]), ("chdb_result_buffer", vp, [vp]),
                            ("chdb_result_length", size, [vp]), ("chdb_result_error", cp, [vp]),
                            ("chdb_destroy_query_result", None, [vp]),
                            ("chdb_stream_insert", vp, [vp, cp, cp]),
                            ("chdb_stream_append", ctypes.c_int, [vp, cp, size]),
                            ("chdb_stream_done", vp, [vp]), ("chdb_stream_insert_error", cp, [vp]),
                            ("chdb_destroy_insert_stream", None, [vp]),
                            ("chdb_close_conn", None, [ctypes.POINTER(vp)])):
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    argv = (cp * 2)(b"clickhouse", f"--path={path}".encode())
    connection = lib.chdb_connect(2, argv)
    conn = connection.contents

    def result(r):
        error = lib.chdb_result_error(r)
        out = (ctypes.string_at(lib.chdb_result_buffer(r), lib.chdb_result_length(r)).decode()
               if lib.chdb_result_buffer(r) else "")
        lib.chdb_destroy_query_result(r)
        assert not error, error.decode()
        return out

    def query(sql):
        return result(lib.chdb_query(conn, sql.encode(), b"TSV"))

    def insert(block):                          # as flowcollector's embedded store does
        stream = lib.chdb_stream_insert(conn, INSERT.rsplit(" FORMAT", 1)[0].encode(),
                                        b"RowBinary")
        assert not lib.chdb_stream_insert_error(stream), lib.chdb_stream_insert_error(stream)
        assert lib.chdb_stream_append(stream, block.data, len(block.data)) == 0
        done = lib.chdb_stream_done(stream)
        assert not lib.chdb_stream_insert_error(stream), lib.chdb_stream_insert_error(stream)
        if done:
            result(done)
        lib.chdb_destroy_insert_stream(stream)

    version = tuple(int(v) for v in query("SELECT version()").split(".")[:2])
    assert version >= (24, 1), version
    for _ in range(2):
        for statement in schema(version):
            if "Distributed(" in statement:
                continue
            statement = re.sub(r"Replicated(\w*)MergeTree\('[^']*',\s*'\{replica\}',?\s*",
                               r"\1MergeTree(", statement)
            statement = statement.replace("MergeTree()", "MergeTree")
            statement = re.sub(r"replicated_deduplication_window = (\d+),\s*"
                               r"replicated_deduplication_window_seconds = \d+",
                               r"non_replicated_deduplication_window = \1", statement)
            assert "Replicated" not in statement, statement
            query(statement)
    for table in LOCAL:
        assert "TTL toDate(inserted_at)" in query(f"SHOW CREATE TABLE flows.{table}") or \
            "TTL received" in query(f"SHOW CREATE TABLE flows.{table}"), table

    now = int(time.time())                      # TTL: a day that has not expired
    a = Block.random(1000, seed=11, inserted_at=now, seq=1)
    ping = ("agent-ping", 1, 100, now, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 0, 0, 1, 0, 0, 1, 0, 1,
            1, 84, now * NS, now * NS)
    big = Block.random(200000, seed=12, inserted_at=now, seq=200, minutes=1440, ports=65535)
    blocks = [a, a, Block([ping]), Block([ping[:2] + (101,) + ping[3:]]), big, big]
    total = dict.fromkeys(a.totals(), 0)
    for i, block in enumerate(blocks):
        insert(block)
        if block not in blocks[:i]:
            for k, v in block.totals().items():
                total[k] += v
    got = [int(v) for v in query(
        "SELECT (SELECT count() FROM flows.raw_local), " + ", ".join(
            f"(SELECT sum(records) FROM flows.{r}_local), (SELECT sum(packets) FROM "
            f"flows.{r}_local), (SELECT sum(bytes) FROM flows.{r}_local)"
            for r in ROLLUPS)).split()]
    proto = [total["rows"], total["spackets"], total["sbytes"]]
    port = [total["port_rows"], total["port_packets"], total["port_bytes"]]
    assert got == [total["rows"]] + proto + proto + port + port, (got, total)
    for r in REGIONS:
        assert [int(v) for v in query(
            f"SELECT sumIf(records, side = 'src'), sumIf(records, side = 'dst'), sum(packets), "
            f"sum(bytes) FROM flows.{r}_local").split()] == \
            [total["rows"], total["rows"], 2 * total["spackets"], 2 * total["sbytes"]], r
    print(".".join(map(str, version)), flush=True)
    # closed as flowcollector closes its store; then out without running libchdb's global
    # destructors, which crashed once at exit (SIGSEGV) after every check had passed
    lib.chdb_close_conn(connection)
    os._exit(0)


def test_current_clickhouse_embedded(tmp_path):
    if not LIBCHDB.exists():
        pytest.skip("no libchdb (make deps fetches it)")
    here = pathlib.Path(__file__).resolve().parent
    # It takes about 5 s. It once timed out (300 s) in a full CI run and never alone, cause
    # unknown: the child prints its Python stack if it runs long (faulthandler), and a try
    # that times out is run once more, in a fresh store, with the first one's stack shown.
    for attempt in (1, 2):
        try:
            proc = subprocess.run(
                [sys.executable, "-X", "faulthandler", "-c",
                 "import faulthandler, sys; faulthandler.dump_traceback_later(100); "
                 "sys.path.insert(0, sys.argv[1]); import test_cluster_schema as t; "
                 "t.embedded_check(sys.argv[2], sys.argv[3])",
                 str(here), str(LIBCHDB), str(tmp_path / f"store-{attempt}")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, timeout=150)
            break
        except subprocess.TimeoutExpired as timeout:
            stack = timeout.stderr.decode(errors="replace") if timeout.stderr else ""
            print(f"embedded check, try {attempt}: timed out after 150 s; its stack:\n"
                  f"{stack[-4000:]}")
            if attempt == 2:
                raise
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert tuple(map(int, proc.stdout.split("."))) >= (24, 1), proc.stdout
