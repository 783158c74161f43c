#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`, store part: flowcollector into the embedded ClickHouse (libchdb).

Writes build/bench/store.txt and prints it:
- rows/s into the embedded store, from wire-format batches (what Kafka carries), including
  decoding, deduplication checks and the materialized views;
- the on-disk compression ratio of flows.raw for the MAWI-like trace;
- the latency of every view, from the rollups, on at least 50M flow rows, next to the same
  question asked of the raw table;
- the same views through the collector's read-only HTTP endpoint with clickhouse-go, next to
  the direct query, and answers a second from 4 clients, idle and while the collector ingests.
"""
import os
import pathlib
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
OUT = BUILD / "bench"
FLOWAGENT = BUILD / "flowagent"
FLOWCOLLECTOR = BUILD / "flowcollector"
BROKER = ROOT / "tests" / "kafka" / "broker.sh"
PACKETS = int(os.environ.get("BENCH_PACKETS", "6000000"))
TRACE = OUT / f"mawi-{PACKETS // 1000000}m.pcap"
TARGET_ROWS = int(os.environ.get("BENCH_STORE_ROWS", "50000000"))
QUERY_RUNS = 5
# The collector before exactly once (the batch ledger, the write-ahead file, per-agent
# rollups), built from git beside this one and measured side by side on the same input.
PREVIOUS_COMMIT = "af75231"
SIDE_BY_SIDE_ROUNDS = 3

# The raw-table form of some views, for comparison: what the old system had to do.
RAW_QUERIES = {
    "daily_bandwidth_by_proto": "SELECT toDate(first_seen) AS day, proto, sum(bytes), sum(packets) "
                                "FROM flows.raw GROUP BY day, proto ORDER BY day, proto",
    "daily_packets": "SELECT toDate(first_seen) AS day, sum(packets), sum(bytes) FROM flows.raw "
                     "GROUP BY day ORDER BY day",
    "top_ports_bytes": "SELECT proto, least(src_port, dst_port) AS port, sum(bytes) AS b "
                       "FROM flows.raw WHERE proto IN (6, 17) GROUP BY proto, port "
                       "ORDER BY b DESC LIMIT 10",
    "proto_share_bytes": "SELECT proto, sum(bytes) FROM flows.raw GROUP BY proto",
    "top_regions_bytes": "SELECT dictGet('flows.geo', 'country_code', src_addr) AS cc, "
                         "sum(bytes) AS b FROM flows.raw GROUP BY cc ORDER BY b DESC LIMIT 10",
}


def collector(store, *args, input_path=None, check=True):
    cmd = [str(FLOWCOLLECTOR), "--store", f"embedded:{store}", *[str(a) for a in args]]
    stdin = open(input_path, "rb") if input_path else subprocess.DEVNULL
    try:
        proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    finally:
        if input_path:
            stdin.close()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr[-2000:]}")
    return proc


def sql(store, query):
    return collector(store, "sql", query).stdout.strip()


def counters(stderr):
    values = {}
    for line in stderr.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values


def wire_file(work, bootstrap, topic, extra, path):
    """The agent's Kafka messages for the trace, concatenated: the collector's --input."""
    proc = subprocess.run([str(FLOWAGENT), "--replay", "--no-progress", "--kafka", bootstrap,
                           "--topic", topic, "--agent-id", "bench", *extra, str(TRACE)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-1500:])
    records = counters(proc.stderr)["kafka_records_delivered"]
    dump = work / f"{topic}-messages"
    dump.mkdir()
    subprocess.run([str(BUILD / "flowconsume"), "-b", bootstrap, "-t", topic, "-i", "2000",
                    "-n", str(records), "-D", str(dump)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, check=True, timeout=600)
    with open(path, "wb") as out:
        for message in sorted(dump.iterdir()):
            out.write(message.read_bytes())
            message.unlink()
    return records


def previous_collector(say):
    """The flowcollector of PREVIOUS_COMMIT, built under build/bench from `git archive` (the
    repository is not touched), sharing this build's libchdb. None, and why, if it cannot be."""
    tree = OUT / f"collector-{PREVIOUS_COMMIT}"
    binary = tree / "build" / "flowcollector"
    if binary.exists():
        return binary
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "build").mkdir(parents=True)
    archive = subprocess.run(f"git -C '{ROOT}' archive {PREVIOUS_COMMIT} | tar -x -C '{tree}'",
                             shell=True, stderr=subprocess.PIPE, text=True)
    if archive.returncode != 0:
        say(f"  side by side: cannot export commit {PREVIOUS_COMMIT}: {archive.stderr.strip()}")
        return None
    for shared in ("chdb", "geo"):
        (tree / "build" / shared).symlink_to(BUILD / shared)
    build = subprocess.run(["make", "-s", "-C", str(tree), "build/flowcollector"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if build.returncode != 0 or not binary.exists():
        say(f"  side by side: building the collector of {PREVIOUS_COMMIT} failed: "
            f"{build.stdout[-500:]}")
        return None
    return binary


def to_version_1(src, dst):
    """Wire batches of version 2 rewritten as version 1 (no run id), which the previous
    collector reads: same records, same checksums (they cover the records only)."""
    data, out, i = src.read_bytes(), bytearray(), 0
    while i < len(data):
        header_len, record_size = struct.unpack_from("<HH", data, i + 6)
        count = struct.unpack_from("<I", data, i + 12)[0]
        header = bytearray(data[i:i + 40])
        header[4] = 1
        struct.pack_into("<H", header, 6, header_len - 8)
        out += header + data[i + 48:i + header_len + count * record_size]
        i += header_len + count * record_size
    dst.write_bytes(out)


def ingest_rate(binary, store, wire):
    """rows/s of one --input run into a fresh store, process start to exit."""
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run([str(binary), "--store", f"embedded:{store}", "migrate"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    proc = subprocess.run([str(binary), "--store", f"embedded:{store}", "--input", str(wire)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} --input {wire}: {proc.stderr[-1500:]}")
    rows = counters(proc.stderr).get("rows_inserted")
    if rows is None:
        rows = int(re.search(r"(\d+) rows", proc.stderr).group(1))
    shutil.rmtree(store, ignore_errors=True)
    return rows / elapsed


def side_by_side(say, work, perpacket):
    """This collector against PREVIOUS_COMMIT's, alternating, each on a fresh store."""
    previous = previous_collector(say)
    if previous is None:
        say("  side by side: MISS (not measured)")
        return
    version_1 = work / "perpacket-v1.wire"
    to_version_1(perpacket, version_1)
    old, new = [], []
    for _ in range(SIDE_BY_SIDE_ROUNDS):
        old.append(ingest_rate(previous, work / "ab-old", version_1))
        new.append(ingest_rate(FLOWCOLLECTOR, work / "ab-new", perpacket))
    version_1.unlink()
    ratio = statistics.mean(new) / statistics.mean(old)
    say(f"  side by side, {SIDE_BY_SIDE_ROUNDS} alternating runs each, fresh stores: before "
        f"exactly once ({PREVIOUS_COMMIT}) {', '.join(f'{r / 1e6:.3f}' for r in old)} M rows/s; "
        f"now {', '.join(f'{r / 1e6:.3f}' for r in new)} M rows/s")
    say(f"  now / before: {ratio:.2f} ({ratio - 1:+.0%}), limit -10%: "
        f"{'PASS' if ratio >= 0.9 else 'MISS'}")


def view_seconds(store, name):
    proc = collector(store, "query", name, "-v")
    match = re.search(r"rows in ([0-9.]+) s", proc.stderr)
    return float(match.group(1))


def raw_seconds(store, query):
    proc = collector(store, "sql", query, "-v")
    match = re.search(r"in ([0-9.]+) s", proc.stderr)
    return float(match.group(1)) if match else None


GO_CLIENT_DIR = ROOT / "tests" / "integration" / "clickhouse_go"
RAW_SCAN_VIEWS = ("top_talkers", "top_conversations")
VIEW_VALUES = {"from": "0", "to": "4294944000", "agent": "''", "direction": "''", "limit": "10"}


def view_names():
    out = collector(BUILD / "unused-store", "query", "list").stdout
    return [line.split(None, 1)[0] for line in out.splitlines() if line.strip()]


def view_sql(name):
    """sql/views/NAME.sql with the values of a whole-range, unfiltered run put in."""
    text = (ROOT / "sql" / "views" / f"{name}.sql").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return re.sub(r"\{(\w+):\w+\}", lambda m: VIEW_VALUES[m.group(1)], text)


def wait_ping(port, proc, seconds=60):
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the endpoint exited: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.read() == b"Ok.\n":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the endpoint never answered /ping")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint_bench(say, store, work, ingest_wire, ingest_seconds):
    """Each view's latency through clickhouse-go against `serve --http` on the same store as
    step 3, next to the direct query's; answers a second from 4 clients, idle and while the
    collector ingests into that store."""
    go = shutil.which("go")
    if not go:
        say("endpoint: no go toolchain, the clickhouse-go client is not built: MISS")
        return
    client = BUILD / "clickhouse_go"
    subprocess.run([go, "build", "-buildvcs=false", "-o", str(client), "."], cwd=GO_CLIENT_DIR,
                   check=True, stdout=subprocess.DEVNULL)
    names = view_names()
    direct = {n: statistics.median(view_seconds(store, n) for _ in range(QUERY_RUNS))
              for n in names}
    every_view, rollup_views = work / "queries.json", work / "rollup-queries.json"
    every_view.write_text(__import__("json").dumps([view_sql(n) for n in names]))
    # the answers a second of the views that read rollups: two raw scans of seconds each would
    # be all the figure measured
    rollups = [n for n in names if n not in RAW_SCAN_VIEWS]
    rollup_views.write_text(__import__("json").dumps([view_sql(n) for n in rollups]))
    password = work / "endpoint.pw"
    password.write_text("bench\n")
    password.chmod(0o600)

    def bench(args, queries, seconds, runs):
        port = free_port()
        proc = subprocess.Popen([str(FLOWCOLLECTOR), "--store", f"embedded:{store}", *args,
                                 "--http", f"127.0.0.1:{port}", "--http-user", "bench",
                                 "--http-password-file", str(password)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_ping(port, proc)
            out = subprocess.run([str(client), "--bench", str(queries), str(runs),
                                  str(seconds), "4", f"127.0.0.1:{port}", "bench",
                                  str(password)], stdout=subprocess.PIPE, text=True, check=True)
            still_ingesting = proc.poll() is None
        finally:
            if proc.poll() is None and args[:1] == ["serve"]:
                proc.terminate()
            proc.wait(timeout=600)
        return __import__("json").loads(out.stdout), still_ingesting

    latency, _ = bench(["serve"], every_view, 1, QUERY_RUNS)
    idle, _ = bench(["serve"], rollup_views, 10, 1)
    say(f"endpoint: the views through clickhouse-go (HTTP, {len(names)} views, whole range) "
        f"against `serve --http` on the same store; median of {QUERY_RUNS} runs")
    worst = 0
    for name, times in zip(names, latency["ms"]):
        through = statistics.median(times) / 1000
        worst = max(worst, through - direct[name])
        say(f"  {name:<26} {through * 1000:8.1f} ms   direct {direct[name] * 1000:8.1f} ms   "
            f"{(through - direct[name]) * 1000:+.1f} ms")
    say(f"  the endpoint's cost over the direct query: at most {worst * 1000:.1f} ms")
    say(f"  4 clients asking the {len(rollups)} rollup views in turn, idle: "
        f"{idle['answers'] / idle['seconds']:.1f} answers/s over {idle['seconds']:.1f} s, "
        f"{idle['failures']} failed")
    window = max(1, int(ingest_seconds * 0.6))
    busy, overlapped = bench(["--input", str(ingest_wire)], rollup_views, window, 1)
    say(f"  the same while the collector ingests {ingest_wire.name} into that store "
        f"(--input ... --http): {busy['answers'] / busy['seconds']:.1f} answers/s over "
        f"{busy['seconds']:.1f} s, {busy['failures']} failed"
        f"{'' if overlapped else ' (the ingest ended before the clients did)'}")


def main():
    if not TRACE.exists():
        print(f"store bench: {TRACE} is missing; tests/bench/bench.py makes it", file=sys.stderr)
        return 1
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    work = pathlib.Path(tempfile.mkdtemp(prefix="flowagent-store-bench-"))
    broker_dir = work / "broker"
    start = subprocess.run([str(BROKER), "start", str(broker_dir)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    if start.returncode != 0:
        print(f"store bench: the broker did not start:\n{start.stderr}", file=sys.stderr)
        return 1
    bootstrap = start.stdout.strip()
    try:
        mawi, perpacket = work / "mawi.wire", work / "perpacket.wire"
        mawi_rows = wire_file(work, bootstrap, "mawi", [], mawi)
        perpacket_rows = wire_file(work, bootstrap, "perpacket", ["--idle-timeout", "0.000001"],
                                   perpacket)
    finally:
        subprocess.run([str(BROKER), "stop", str(broker_dir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        say(f"Embedded ClickHouse (libchdb {sql(work / 'probe', 'SELECT version()')}), "
            f"{os.cpu_count()} CPUs; input: the agent's Kafka messages for {TRACE.name}")
        say()

        # 1. ingest rate, export-bound input (nearly a row per packet)
        store = work / "ingest"
        collector(store, "migrate")
        t0 = time.perf_counter()
        proc = collector(store, "--input", perpacket)
        elapsed = time.perf_counter() - t0
        c = counters(proc.stderr)
        rate = c["rows_inserted"] / elapsed
        say(f"ingest: {c['rows_inserted']} rows from {perpacket.stat().st_size / 1e6:.0f} MB of "
            f"wire batches in {elapsed:.2f} s (process start to exit, {c['inserts']} inserts)")
        say(f"  {rate / 1e6:.2f} M rows/s  target >= 1 M rows/s: "
            f"{'PASS' if rate >= 1e6 else 'MISS'}")
        if "wal_ms" in c and c.get("wal_bytes"):
            say(f"  write-ahead file: {c['wal_bytes'] / 1e6:.0f} MB written and fdatasync'd in "
                f"{c['wal_ms'] / 1000:.2f} s ({c['wal_ms'] / 1000 / elapsed:.1%} of the run), "
                f"{c.get('ledger_queries', 0)} ledger lookups")
        side_by_side(say, work, perpacket)
        say()

        # 2. compression of the MAWI-like rows, after merges
        store = work / "mawi"
        collector(store, "migrate")
        collector(store, "--input", mawi)
        collector(store, "sql", "OPTIMIZE TABLE flows.raw FINAL")
        raw_bytes, packed = (int(x) for x in sql(
            store, "SELECT sum(data_uncompressed_bytes), sum(data_compressed_bytes) "
                   "FROM system.parts WHERE database = 'flows' AND table = 'raw' AND active"
        ).split())
        ratio = raw_bytes / packed
        say(f"compression of flows.raw, {mawi_rows} MAWI-like rows: {raw_bytes / 1e6:.1f} MB -> "
            f"{packed / 1e6:.2f} MB on disk, {ratio:.1f}x ({packed / mawi_rows:.1f} bytes a row)")
        say(f"  target >= 15x (the old system: 10.82x): {'PASS' if ratio >= 15 else 'MISS'}")
        say(f"  per packet of the trace: {packed / PACKETS:.2f} bytes on disk for {PACKETS} "
            "packets (the old system stored a row per packet)")
        columns = sql(store, "SELECT column, sum(column_data_uncompressed_bytes), "
                             "sum(column_data_compressed_bytes) FROM system.parts_columns "
                             "WHERE database = 'flows' AND table = 'raw' AND active "
                             "GROUP BY column ORDER BY 3 DESC")
        say("  per column (compressed bytes a row): " + ", ".join(
            f"{n} {int(p) / mawi_rows:.2f}" for n, _, p in
            (line.split("\t") for line in columns.splitlines())))
        say()

        # 3. view latency on >= 50M rows: the MAWI rows copied forward in time
        copies = max(1, -(-TARGET_ROWS // mawi_rows) - 1)
        t0 = time.perf_counter()
        collector(store, "sql",
                  "INSERT INTO flows.raw (agent, batch_seq, src_addr, dst_addr, src_port, "
                  "dst_port, proto, tcp_flags, vlan, ifindex, direction, sampling, packets, "
                  "bytes, first_seen, last_seen) SELECT agent, batch_seq + n * 1000000000, "
                  "src_addr, dst_addr, src_port, dst_port, proto, tcp_flags, vlan, ifindex, "
                  "direction, sampling, packets, bytes, first_seen + toIntervalDay(n), "
                  f"last_seen + toIntervalDay(n) FROM flows.raw, "
                  f"(SELECT number + 1 AS n FROM numbers({copies})) AS copies "
                  "SETTINGS max_insert_threads = 2, insert_deduplicate = 0, "
                  "max_partitions_per_insert_block = 0")
        rows = int(sql(store, "SELECT count() FROM flows.raw"))
        say(f"view latency on {rows / 1e6:.1f} M rows ({copies + 1} copies of the MAWI-like rows "
            f"over {copies + 1} days, made in {time.perf_counter() - t0:.0f} s); median of "
            f"{QUERY_RUNS} runs")
        geo = BUILD / "geo"
        if (geo / "geoip").exists():
            collector(store, "geo", "load", geo / "geoip", geo / "geoip6")
        worst = 0
        for name in ("daily_bandwidth_by_proto", "daily_packets", "top_regions_bytes",
                     "top_regions_packets", "top_ports_bytes", "top_ports_packets",
                     "proto_share_bytes", "proto_share_packets", "region_map"):
            view_seconds(store, name)  # warm: the dictionary loads on first use
            seconds = statistics.median(view_seconds(store, name) for _ in range(QUERY_RUNS))
            worst = max(worst, seconds)
            line = f"  {name:<26} {seconds * 1000:8.1f} ms from the rollups"
            if name in RAW_QUERIES:
                raw = statistics.median(raw_seconds(store, RAW_QUERIES[name])
                                        for _ in range(3))
                line += f"   {raw * 1000:8.1f} ms from flows.raw ({raw / seconds:.0f}x)"
            say(line)
        say(f"  target: every view under 100 ms: {'PASS' if worst < 0.1 else 'MISS'} "
            f"(slowest {worst * 1000:.1f} ms); the old system: 0.2 to 19 s")
        say()

        # 4. the views through the collector's read-only HTTP endpoint, with clickhouse-go
        endpoint_bench(say, store, work, perpacket, elapsed)
    finally:
        subprocess.run(["rm", "-rf", str(work)])
    (OUT / "store.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
