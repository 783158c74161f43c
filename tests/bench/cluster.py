#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`, cluster part: the collector writing into a sharded, replicated ClickHouse
(2 shards x 2 replicas of Debian's clickhouse-server 18.16 and ZooKeeper on loopback,
tests/cluster/cluster.sh, a fresh cluster every run), side by side with a plain HTTP POST of
the same rows (the ceiling).

Writes build/bench/cluster.txt and prints it.

Input: BENCH_CLUSTER_ROWS (10 M) records made in Python with a fixed seed, in wire batches of
10,000 records from 4 agents: sources from 1 M possible 10.x addresses (200,000 drawn, skewed),
destinations from 50,000 servers (skewed), 15 services (skewed) and some random ports, 1 in 32
records ICMP, packets exponential around 20, first_seen within the last day.

1. Ingest. The collector (`--cluster FILE ingest --input FILE --batch-rows 1000000`) reads
   the batches from a file: 1 M rows an insert, each insert to one shard through its first
   replica. Its figure is the wall time of the whole run (start, schema check, ledger lookups,
   write-ahead file, inserts, exit). The ceiling is Python's http.client POSTing the very same
   records as RowBinary to `flows.ingest`, 1 M rows a POST (the collector's column list,
   `wait_end_of_query=1` as the collector sends), under other agent ids: the same tables, the
   same views, the same replication behind them; timed from the first read of its pre-built
   file to the last answer. Each POST goes straight to the first replica of a shard, the
   shards in turn, as the collector spreads its inserts (all to one replica would leave one
   shard all the merging). Half the ceiling's POSTs go before the
   collector (on the fresh cluster), half after it, each part once the cluster is quiet
   (replicas in sync, no merges running): both see the tables at the same sizes on average,
   and drifts in the machine's load fall on both. One run each: every run is 10 M rows.
   The ceiling does not insert the collector's ledger rows (one per batch, into
   flows.batches_local): that too is the collector's cost.
2. Replication lag, while the collector ingests: every 0.5 s both replicas of each shard are
   asked `SELECT count() FROM flows.raw_local`, and the second one `system.replicas`
   (queue_size, log_max_index + 1 - log_pointer). The collector writes to the first replica
   of a shard, so the difference is what replication has not copied yet. The delay of an
   insert is the time from the poll that first saw its rows on the first replica to the poll
   that saw them on the second (0.5 s resolution); the catch-up is the time from the
   collector's exit until both replicas of every shard hold the same rows.
3. Views, over the Distributed tables from one node, after all ingests (2 x 10 M rows): each
   query 3 times, best and median wall time over HTTP; then the nine views as a user runs
   them, `flowcollector --cluster FILE query VIEW`, 3 times each (the process's wall time).
   The geolocation (build/geo, Tor's geoip) is loaded on every node before any ingest. Disk: system.parts of raw_local (active
   parts) on the first replica of shard 1.
"""
import concurrent.futures
import ctypes
import http.client
import itertools
import os
import pathlib
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
OUT = BUILD / "bench"
FLOWCOLLECTOR = BUILD / "flowcollector"
GEO = BUILD / "geo"
VIEWS = ("daily_bandwidth_by_proto", "daily_packets", "bandwidth", "bandwidth_peak",
         "top_talkers", "top_conversations", "proto_share_bytes", "proto_share_packets",
         "top_ports_bytes", "top_ports_packets", "top_regions_bytes", "top_regions_packets",
         "region_map")
CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
SQL_DIR = ROOT / "sql"
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import wire  # noqa: E402

ROWS = int(os.environ.get("BENCH_CLUSTER_ROWS", "10000000"))
PER_BATCH = 10000
PER_INSERT = 1000000           # rows of an insert and of a ceiling POST
AGENTS = 4
SEED = 20261203
RECORD = struct.Struct("<16s16sHHBBHIBIQQQQ")
MAPPED = b"\0" * 10 + b"\xff\xff"
INSERT = ("INSERT INTO flows.ingest (agent, batch_run, batch_seq, src_addr, dst_addr, src_port, "
          "dst_port, proto, tcp_flags, vlan, ifindex, direction, sampling, packets, bytes, "
          "first_seen, last_seen, inserted_at) FORMAT RowBinary")
SERVICES = [(6, 443), (6, 80), (17, 53), (6, 22), (17, 123), (17, 443), (6, 8080), (6, 3306),
            (6, 25), (6, 993), (17, 5353), (6, 5432), (6, 6379), (17, 1194), (6, 8443)]
TABLES = ("raw_local", "batches_local", "proto_1m_local", "proto_1d_local", "port_1m_local",
          "port_1d_local")


# --- input --------------------------------------------------------------------------------------

def pools():
    """The address pools, the same in every process (fixed seed)."""
    rng = random.Random(SEED)
    src = [MAPPED + bytes([10, rng.randrange(16), rng.randrange(256), rng.randrange(1, 255)])
           for _ in range(200000)]
    dst = [MAPPED + bytes([rng.choice((93, 151, 172, 185, 203)), rng.randrange(256),
                           rng.randrange(256), rng.randrange(1, 255)]) for _ in range(50000)]
    return (src, list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(src)))),
            dst, list(itertools.accumulate(1 / (i + 1) for i in range(len(dst)))),
            list(itertools.accumulate(1 / (i + 1) ** 1.2 for i in range(len(SERVICES)))))


_POOLS = None


def records(batch, now_ns):
    """The PER_BATCH records of batch number `batch`, and their packets and bytes."""
    global _POOLS
    if _POOLS is None:
        _POOLS = pools()
    src, src_w, dst, dst_w, svc_w = _POOLS
    rng = random.Random(SEED * 1000003 + batch)
    srcs = rng.choices(src, cum_weights=src_w, k=PER_BATCH)
    dsts = rng.choices(dst, cum_weights=dst_w, k=PER_BATCH)
    svcs = rng.choices(SERVICES, cum_weights=svc_w, k=PER_BATCH)
    bits, expo, pack = rng.getrandbits, rng.expovariate, RECORD.pack
    out, packets, total = [], 0, 0
    for i in range(PER_BATCH):
        proto, port = svcs[i]
        r = bits(64)
        if r & 31 == 0:
            proto, port, sport = 1, 0, 0
        else:
            sport = 1024 + (r >> 5) % 64511
            if r & 0x3c0 == 0:
                port = (r >> 20) % 65536
        p = 1 + int(expo(0.05))
        b = p * (40 + (r >> 40) % 1460)
        t = bits(64)
        first = now_ns - (t >> 8) % (86000 * 10**9)
        out.append(pack(srcs[i], dsts[i], sport, port, proto, 0x1a if proto == 6 else 0, 0,
                        2 + (r >> 10 & 1), r >> 11 & 1, 1, p, b, first,
                        first + (t & 0xff) * (p % 97) * 10**6))
        packets += p
        total += b
    return out, packets, total


_ISAL = None


def crc32c(data):
    """CRC-32C by ISA-L, the library the collector checks it with (wire.crc32c, the tests'
    independent one, takes minutes for 10 M records)."""
    global _ISAL
    if _ISAL is None:
        _ISAL = ctypes.CDLL("libisal.so.2")
        _ISAL.crc32_iscsi.restype = ctypes.c_uint32
        _ISAL.crc32_iscsi.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        assert _ISAL.crc32_iscsi(b"123456789", 9, 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xE3069283
    return _ISAL.crc32_iscsi(data, len(data), 0xFFFFFFFF) ^ 0xFFFFFFFF


def encode_batch(agent, run, sequence, recs, flags):
    """As wire.encode_batch (version 2), with the fast CRC."""
    agent, body = agent.encode(), b"".join(recs)
    fixed = wire.FIXED[2]
    return (wire.HEADER.pack(b"FLWB", 2, flags, fixed + len(agent), wire.RECORD_SIZE,
                             len(agent), 0, len(recs), sequence, 1700000000000000000,
                             crc32c(body), 0) + wire.RUN_ID.pack(run) + agent + body)


def agent_of(batch, prefix):
    return f"{prefix}-{batch % AGENTS}", batch // AGENTS + 1


def make_chunk(args):
    """Batches [first, first + count): their wire bytes (collector agents) to wire_path and
    the same records as RowBinary rows (ceiling agents) to rb_path."""
    first, count, now_ns, inserted_at, wire_path, rb_path = args
    packets = total = 0
    suffix = struct.pack("<I", inserted_at)
    with open(wire_path, "wb") as wire, open(rb_path, "wb") as rb:
        for batch in range(first, first + count):
            recs, p, b = records(batch, now_ns)
            packets, total = packets + p, total + b
            agent, seq = agent_of(batch, "bench")
            wire.write(encode_batch(agent, run_id(agent), seq, recs,
                                    flags=1 if seq == 1 else 0))
            agent, seq = agent_of(batch, "ceiling")
            name = agent.encode()
            prefix = bytes([len(name)]) + name + struct.pack("<QQ", run_id(agent), seq)
            rb.write(b"".join(prefix + rec + suffix for rec in recs))
    return packets, total


def run_id(agent):
    return random.Random(agent).getrandbits(63) | 1


# --- the cluster --------------------------------------------------------------------------------

def cluster_sh(*args, env=None):
    return subprocess.run([str(CLUSTER_SH), *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


class Node:
    """One server over HTTP, one kept-alive connection per thread that uses it."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.url, self.host, self.port = url, parsed.hostname, parsed.port
        self.local = threading.local()

    def conn(self):
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        return self.local.conn

    def post(self, query, body):
        path = "/?" + urllib.parse.urlencode({"query": query, "wait_end_of_query": 1}) \
            if body is not None else "/?wait_end_of_query=1"
        for attempt in (0, 1):
            conn = self.conn()
            try:
                conn.request("POST", path, body=body if body is not None else query.encode())
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        if response.status != 200:
            raise RuntimeError(f"{self.url}: HTTP {response.status}: {data[:500].decode()}")
        return data.decode()

    def sql(self, query):
        return self.post(query, None)

    def rows(self, query):
        return [line.split("\t") for line in self.sql(query).splitlines()]

    def one(self, query):
        return [int(float(v)) for v in self.rows(query)[0]]


def collector(*args):
    t0 = time.perf_counter()
    proc = subprocess.run([str(FLOWCOLLECTOR), *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    return proc, time.perf_counter() - t0


def summary(stderr):
    values = {}
    for line in stderr.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 2 and parts[1].replace(".", "").isdigit():
            values[parts[0]] = float(parts[1])
    return values


def wait_quiet(nodes, timeout=120):
    """Every replica in sync, no merge running anywhere: seconds it took."""
    t0 = time.monotonic()
    for node in nodes.values():
        for table in TABLES:
            node.sql(f"SYSTEM SYNC REPLICA flows.{table}")
    while time.monotonic() - t0 < timeout:
        busy = sum(node.one("SELECT count() FROM system.merges")[0] +
                   node.one("SELECT sum(queue_size) FROM system.replicas")[0]
                   for node in nodes.values())
        if not busy:
            break
        time.sleep(0.5)
    return time.monotonic() - t0


class LagMonitor(threading.Thread):
    """Polls both replicas of every shard every 0.5 s until stopped and in sync."""

    def __init__(self, nodes, shards):
        super().__init__(daemon=True)
        self.nodes, self.shards = nodes, shards
        self.samples = []          # (t, shard, rows on replica 1, on replica 2, queue, log lag)
        self.finished_at = None    # when the collector exited (monotonic)
        self.synced_at = {}        # shard: first poll after that with both replicas equal
        self.error = None

    def run(self):
        try:
            while True:
                t = time.monotonic()
                for s in self.shards:
                    one = self.nodes[(s, 1)].one("SELECT count() FROM flows.raw_local")[0]
                    two = self.nodes[(s, 2)].one("SELECT count() FROM flows.raw_local")[0]
                    queue, lag = self.nodes[(s, 2)].one(
                        "SELECT queue_size, log_max_index + 1 - log_pointer FROM "
                        "system.replicas WHERE database = 'flows' AND table = 'raw_local'")
                    self.samples.append((t, s, one, two, queue, lag))
                    if (self.finished_at is not None and s not in self.synced_at
                            and one == two and queue == 0):
                        self.synced_at[s] = t
                if self.finished_at is not None and len(self.synced_at) == len(self.shards):
                    return
                if self.finished_at is not None and t - self.finished_at > 300:
                    raise RuntimeError("the replicas did not converge in 300 s")
                time.sleep(max(0.0, 0.5 - (time.monotonic() - t)))
        except Exception as e:  # reported by the main thread
            self.error = e

    def delays(self):
        """Per insert (a new row count on replica 1): seconds until replica 2 had it."""
        out = []
        for s in self.shards:
            mine = [x for x in self.samples if x[1] == s]
            seen = {mine[0][2]} if mine else set()   # rows there before the collector
            for i, (t, _, one, _, _, _) in enumerate(mine):
                if one == 0 or one in seen:
                    continue
                seen.add(one)
                later = [u for (u, _, _, two, _, _) in mine[i:] if two >= one]
                if later:
                    out.append(later[0] - t)
        return out


# --- the measurements ---------------------------------------------------------------------------

def timed(node, query, runs=3):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = node.sql(query)
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), result


def ms(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main():
    started = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    batches = ROWS // PER_BATCH
    chunks = -(-batches // (PER_INSERT // PER_BATCH))
    work = pathlib.Path(tempfile.mkdtemp(prefix="flowcollector-cluster-bench-", dir="/tmp"))
    cdir = pathlib.Path(tempfile.mkdtemp(prefix="flowcluster-bench-", dir="/tmp"))
    try:
        # the input, in two processes (the machine's two cores; nothing else runs yet)
        t0 = time.perf_counter()
        now = int(time.time())
        jobs = []
        per_chunk = PER_INSERT // PER_BATCH
        for k in range(chunks):
            first = k * per_chunk
            jobs.append((first, min(per_chunk, batches - first), now * 10**9, now,
                         work / f"wire-{k}", work / f"rb-{k}"))
        with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
            sums = list(pool.map(make_chunk, jobs))
        want_packets, want_bytes = sum(p for p, _ in sums), sum(b for _, b in sums)
        wire = work / "in.wire"
        with open(wire, "wb") as out:
            for job in jobs:
                with open(job[4], "rb") as part:
                    while block := part.read(1 << 24):
                        out.write(block)
                os.unlink(job[4])
        made = time.perf_counter() - t0
        rows = batches * PER_BATCH

        start = cluster_sh("start", cdir, 2, 2, env={"CLUSTER_WATCH_PID": str(os.getpid())})
        if start.returncode != 0:
            print(f"cluster bench: the cluster did not start:\n{start.stderr[-3000:]}",
                  file=sys.stderr)
            return 1
        nodes = {}
        for line in start.stdout.splitlines():
            s, r, url, _ = line.split()
            nodes[(int(s), int(r))] = Node(url)
        shards = sorted({s for s, _ in nodes})
        config = work / "cluster.conf"
        config.write_text("cluster flows\n" + "".join(
            f"shard {s}\n" + "".join(f"replica {nodes[(s, r)].url}\n"
                                     for (t, r) in sorted(nodes) if t == s)
            for s in shards))
        version = nodes[(1, 1)].sql("SELECT version()").strip()
        migrated, _ = collector("--cluster", config, "--sql-dir", SQL_DIR, "migrate")
        if migrated.returncode != 0:
            raise RuntimeError("migrate failed: " + migrated.stderr[-2000:])
        # the geolocation first, on every node, as the region views need it
        geo_files = [GEO / "geoip", GEO / "geoip6"]
        geo_note = "no geolocation (build/geo is missing: make deps)"
        if all(f.exists() for f in geo_files):
            loaded, geo_wall = collector("--cluster", config, "--sql-dir", SQL_DIR, "geo",
                                         "load", *geo_files)
            if loaded.returncode != 0:
                raise RuntimeError("geo load failed: " + loaded.stderr[-2000:])
            prefixes = nodes[(2, 2)].one("SELECT count() FROM flows.geo_ranges")[0]
            geo_note = (f"geo load (Tor's geoip and geoip6) on all {len(nodes)} nodes: "
                        f"{prefixes:,} prefixes each, {geo_wall:.1f} s")

        say(f"ClickHouse cluster: {len(shards)} shards x 2 replicas of clickhouse-server "
            f"{version} and one ZooKeeper on 127.0.0.1 (tests/cluster/cluster.sh), fresh")
        say(f"machine: {os.cpu_count()} shared CPUs for the 4 servers, ZooKeeper, the "
            f"collector and this script; load average {os.getloadavg()[0]:.1f} at the start")
        say(f"input: {rows:,} records ({rows // PER_BATCH} wire batches of {PER_BATCH:,}, "
            f"{AGENTS} agents, fixed seed), made in {made:.0f} s"
            + ("" if rows == 10000000 else f"; BENCH_CLUSTER_ROWS={ROWS}, not the 10 M asked"))
        say(geo_note)
        say()

        # 1: the ceiling's first half, the same records under other agents, each POST to the
        # first replica of a shard, shards in turn; its second half after the collector
        posts = []

        def ceiling(part):
            t0 = time.perf_counter()
            for job in part:
                with open(job[5], "rb") as f:
                    body = f.read()
                p0 = time.perf_counter()
                nodes[(shards[len(posts) % len(shards)], 1)].post(INSERT, body)
                posts.append(time.perf_counter() - p0)
            return time.perf_counter() - t0

        before, after = jobs[:len(jobs) // 2], jobs[len(jobs) // 2:]
        ceiling_before = ceiling(before)
        quiet_before = wait_quiet(nodes)

        # 1 + 2: the collector, with the replicas watched
        monitor = LagMonitor(nodes, shards)
        monitor.start()
        run, wall = collector("--cluster", config, "--sql-dir", SQL_DIR, "ingest", "--input",
                              wire, "--wal-dir", work / "wal", "--batch-rows", PER_INSERT,
                              "--batch-ms", 600000)
        monitor.finished_at = time.monotonic()
        monitor.join(330)
        if run.returncode != 0:
            raise RuntimeError("the collector failed: " + run.stderr[-3000:])
        if monitor.error:
            raise monitor.error
        got = summary(run.stderr)
        if got.get("rows_inserted") != rows:
            raise RuntimeError("not every row was inserted: " + run.stderr[-3000:])
        quiet_after = wait_quiet(nodes)
        per_shard = {s: nodes[(s, 1)].one("SELECT count() FROM flows.raw_local WHERE "
                                          "agent LIKE 'bench-%'")[0] for s in shards}
        ceiling_after = ceiling(after)
        ceiling_time = ceiling_before + ceiling_after
        wait_quiet(nodes)

        collector_rate, ceiling_rate = rows / wall, rows / ceiling_time
        ratio = collector_rate / ceiling_rate
        say("1. ingest, 1 M rows an insert (a POST), each to the first replica of its shard")
        say(f"  {'':44} {'seconds':>8} {'rows/s':>11}")
        say(f"  {'flowcollector --cluster ingest (wall, all)':44} {wall:8.2f} "
            f"{collector_rate:11,.0f}")
        say(f"  {'  its summary (elapsed)':44} {got['elapsed']:8.2f} "
            f"{rows / got['elapsed']:11,.0f}")
        say(f"  {'ceiling: http.client POSTs, shards in turn':44} {ceiling_time:8.2f} "
            f"{ceiling_rate:11,.0f}")
        for name, part, seconds in (("before", before, ceiling_before),
                                    ("after", after, ceiling_after)):
            if part:
                n = sum(j[1] for j in part) * PER_BATCH
                say(f"  {f'  {name} the collector: {n // 1000000} M rows':44} {seconds:8.2f} "
                    f"{n / seconds:11,.0f}")
        say(f"  collector {int(got['inserts'])} inserts, rows per shard "
            + ", ".join(f"{s}: {n:,}" for s, n in per_shard.items())
            + f"; ceiling {len(posts)} POSTs of {ms(min(posts))}-{ms(max(posts))}")
        say(f"  target collector >= 0.8 of the ceiling: {ratio:.2f} "
            f"{'PASS' if ratio >= 0.8 else 'MISS'}")
        say(f"  (the ceiling's halves ran before and after the collector, each side after the "
            f"cluster was quiet: {quiet_before:.1f} s and {quiet_after:.1f} s of waiting for "
            "replication and merges)")
        say()

        samples = monitor.samples
        diffs = [one - two for (_, _, one, two, _, _) in samples]
        queues = [q for (*_, q, _) in samples]
        loglags = [g for (*_, g) in samples]
        delays = monitor.delays()
        catch = {s: monitor.synced_at[s] - monitor.finished_at for s in shards}
        say("2. replication lag while the collector ingests (polls every 0.5 s, "
            f"{len(samples) // len(shards)} rounds)")
        say(f"  max rows on replica 1 not yet on replica 2 (a shard): {max(diffs):,}")
        say(f"  max queue_size {max(queues)}, max log lag (log_max_index + 1 - log_pointer) "
            f"{max(loglags)} on replica 2")
        if delays:
            say(f"  an insert on replica 2 after it showed on replica 1: median "
                f"{statistics.median(delays):.1f} s, max {max(delays):.1f} s "
                f"({len(delays)} inserts seen, 0.5 s resolution)")
        say("  after the collector exited, both replicas equal: "
            + ", ".join(f"shard {s} {catch[s]:.1f} s" for s in shards)
            + f" (max {max(catch.values()):.1f} s, median "
            f"{statistics.median(catch.values()):.1f} s)")
        say()

        # 3: the views over the Distributed tables
        node = nodes[(1, 1)]
        total = node.one("SELECT count(), sum(packets), sum(bytes) FROM flows.raw")
        if total != [2 * rows, 2 * want_packets, 2 * want_bytes]:
            raise RuntimeError(f"flows.raw holds {total}, expected "
                               f"{[2 * rows, 2 * want_packets, 2 * want_bytes]}")
        prefix = pools()[0][0][12:15]
        low = (MAPPED + prefix + b"\0").hex()
        high = (MAPPED + prefix + b"\xff").hex()
        hour = (now - 12 * 3600) // 3600 * 3600
        queries = [
            ("totals from flows.raw",
             "SELECT count(), sum(packets), sum(bytes) FROM flows.raw"),
            ("top 10 service ports, flows.port_1d",
             "SELECT proto, port, sum(bytes) b FROM flows.port_1d GROUP BY proto, port "
             "ORDER BY b DESC LIMIT 10"),
            ("daily packets, flows.proto_1d",
             "SELECT day, sum(packets) FROM flows.proto_1d GROUP BY day ORDER BY day"),
            ("protocol share of one hour, flows.proto_1m",
             "SELECT proto, sum(bytes) b FROM flows.proto_1m WHERE minute >= "
             f"toDateTime({hour}) AND minute < toDateTime({hour + 3600}) GROUP BY proto "
             "ORDER BY b DESC"),
            (f"totals of {'.'.join(map(str, prefix))}.0/24 (busiest source), flows.raw",
             "SELECT count(), sum(packets), sum(bytes) FROM flows.raw WHERE src_addr >= "
             f"toFixedString(unhex('{low}'), 16) AND src_addr <= "
             f"toFixedString(unhex('{high}'), 16)"),
        ]
        say(f"3. views over the Distributed tables ({2 * rows:,} rows in flows.raw), from "
            "shard 1 replica 1, 3 runs each")
        say(f"  {'query':52} {'best':>8} {'median':>8}  result")
        for name, query in queries:
            best, median, result = timed(node, query)
            result = result.strip().splitlines()
            shown = result[0].replace("\t", " ") + ("" if len(result) == 1 else
                                                    f" (first of {len(result)} rows)")
            say(f"  {name:52} {ms(best):>8} {ms(median):>8}  {shown}")
        say(f"  the views (`flowcollector --cluster FILE query VIEW`, all stored flows: the daily "
            "rollups; each a process that first probes the 4 nodes)")
        for view in VIEWS:
            times = []
            for _ in range(3):
                shown, wall = collector("--cluster", config, "--sql-dir", SQL_DIR, "query",
                                        view, "--tsv")
                if shown.returncode != 0:
                    raise RuntimeError(f"{view} failed: " + shown.stderr[-2000:])
                times.append(wall)
            first = shown.stdout.splitlines()[1:2] or ["(no rows)"]
            say(f"  {view:52} {ms(min(times)):>8} {ms(statistics.median(times)):>8}  "
                f"{first[0].replace(chr(9), ' ')} (first of {len(shown.stdout.splitlines()) - 1})")
        rollups = {t: sum(n.one(f"SELECT count() FROM flows.{t}_local")[0]
                          for (s, r), n in nodes.items() if r == 1)
                   for t in ("proto_1m", "proto_1d", "port_1m", "port_1d", "region_1m",
                             "region_1d")}
        say("  rows stored in the rollups: " + ", ".join(f"{t} {n:,}"
                                                         for t, n in rollups.items()))
        parts, prows, on_disk, comp, uncomp = node.one(
            "SELECT count(), sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), "
            "sum(data_uncompressed_bytes) FROM system.parts WHERE database = 'flows' AND "
            "table = 'raw_local' AND active")
        say(f"  disk, raw_local on shard 1 replica 1: {prows:,} rows in {parts} parts, "
            f"{on_disk / prows:.1f} bytes a row on disk, compression "
            f"{uncomp / comp:.2f}x (data_uncompressed_bytes / data_compressed_bytes)")
        say()
        say(f"script: {time.monotonic() - started:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f} at the end")
    finally:
        stop = cluster_sh("stop", cdir)
        if stop.returncode != 0:
            print(f"cluster bench: stop: {stop.stderr[-2000:]}", file=sys.stderr)
        subprocess.run(["rm", "-rf", str(work), str(cdir)])
    (OUT / "cluster.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
