#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`, store part: flowcollector into the embedded ClickHouse (libchdb).

Writes build/bench/store.txt and prints it:
- rows/s into the embedded store, from wire-format batches (what Kafka carries), including
  decoding, deduplication checks and the materialized views;
- the on-disk compression ratio of flows.raw for the MAWI-like trace;
- the latency of every view, from the rollups, on at least 50M flow rows, next to the same
  question asked of the raw table.
"""
import os
import pathlib
import re
import statistics
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
# rows/s of this bench on this machine before exactly-once (commit af75231), low and high runs
PREVIOUS_INGEST_RATE = (0.86e6, 1.13e6)

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


def view_seconds(store, name):
    proc = collector(store, "query", name, "-v")
    match = re.search(r"rows in ([0-9.]+) s", proc.stderr)
    return float(match.group(1))


def raw_seconds(store, query):
    proc = collector(store, "sql", query, "-v")
    match = re.search(r"in ([0-9.]+) s", proc.stderr)
    return float(match.group(1)) if match else None


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
        # before the ledger, the write-ahead file and per-agent rollups (commit af75231), the
        # same bench measured 0.86-1.13 M rows/s here; the issue allows 10% less
        low = PREVIOUS_INGEST_RATE[0] * 0.9
        say(f"  previous figure {PREVIOUS_INGEST_RATE[0] / 1e6:.2f}-"
            f"{PREVIOUS_INGEST_RATE[1] / 1e6:.2f} M rows/s: {rate / PREVIOUS_INGEST_RATE[0] - 1:+.0%}"
            f" against its low end, limit -10%: {'PASS' if rate >= low else 'MISS'}")
        if "wal_ms" in c and c.get("wal_bytes"):
            say(f"  write-ahead file: {c['wal_bytes'] / 1e6:.0f} MB written and fdatasync'd in "
                f"{c['wal_ms'] / 1000:.2f} s ({c['wal_ms'] / 1000 / elapsed:.1%} of the run), "
                f"{c.get('ledger_queries', 0)} ledger lookups")
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
    finally:
        subprocess.run(["rm", "-rf", str(work)])
    (OUT / "store.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
