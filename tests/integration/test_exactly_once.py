# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Exactly once at the collector↔ClickHouse seam, against the real engine (libchdb): an insert
is stored whole or not at all whatever the moment of a crash (a test-only fault kills the
collector between the parts of one insert, or right after sealing it), the ledger makes a
batch delivered again a duplicate across restarts, damaged write-ahead files are reported,
batch numbers reused by an agent are an alarm and never lose data, records outside the time
window are refused and counted, and the collector's memory does not grow with the history.

The input is wire-format batches built here from the agent's own JSON records, so every batch
has a known identity and content; the expectation is computed from those records in Python."""
import collections
import ipaddress
import json
import os
import pathlib
import resource
import signal
import struct
import subprocess
import time

import pytest

from conftest import BUILD, FLOWAGENT, KEY_FIELDS, generated_trace  # noqa: F401
from conftest import summary_counters as summary

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
ROLLUPS = ("proto_1m", "proto_1d", "port_1m", "port_1d")

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")

# --- wire batches, written independently of lib/wire.c ---------------------------------------

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ (0x82F63B78 & -(_c & 1))
    _CRC_TABLE.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


RECORD_TAIL = struct.Struct("<HHBBHIBIQQQQ")
HEADER = struct.Struct("<4sBBHHBBIQQII")


def record_bytes(r):
    def addr(text):
        a = ipaddress.ip_address(text)
        if a.version == 4:
            a = ipaddress.IPv6Address("::ffff:" + text)
        return a.packed
    return addr(r["src_addr"]) + addr(r["dst_addr"]) + RECORD_TAIL.pack(
        r["src_port"], r["dst_port"], r["proto"], r.get("tcp_flags", 0), r.get("vlan", 0),
        r.get("ifindex", 0), 1 if r.get("direction") == "egress" else 0, r.get("sampling", 1),
        r["packets"], r["bytes"], r["first_seen_ns"], r["last_seen_ns"])


def batch(agent, run, seq, records, flags=0, version=2):
    agent = agent.encode()
    body = b"".join(record_bytes(r) for r in records)
    fixed = 48 if version == 2 else 40
    header = HEADER.pack(b"FLWB", version, flags, fixed + len(agent), 81, len(agent), 0,
                         len(records), seq, 1767571200000000000, crc32c(body), 0)
    if version == 2:
        header += struct.pack("<Q", run)
    return header + agent + body


# --- the collector ------------------------------------------------------------------------------

def collector(store, *args, env=None, check=True, timeout=300):
    cmd = [FLOWCOLLECTOR, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          env={**os.environ, **(env or {})})
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert "Sanitizer" not in proc.stderr_text, proc.stderr_text[-3000:]
    if check:
        assert proc.returncode == 0, proc.stderr_text[-3000:]
    return proc


def ingest(store, path, *args, **kwargs):
    return collector(store, "ingest", "--input", path, *args, **kwargs)


def sql(store, query):
    out = collector(store, "sql", query).stdout.decode()
    return [line.split("\t") for line in out.splitlines()]


def scalar(store, query):
    return int(sql(store, query)[0][0])


def expected_totals(records):
    totals = collections.defaultdict(lambda: [0, 0])
    for r in records:
        key = tuple(r[f] for f in KEY_FIELDS)
        totals[key][0] += r["packets"] * r.get("sampling", 1)
        totals[key][1] += r["bytes"] * r.get("sampling", 1)
    return totals


def assert_store_exact(store, records, batches):
    """raw per key, every rollup in total and per day, and the ledger: exactly the records."""
    want = expected_totals(records)
    rows = sql(store, "SELECT replaceRegexpOne(toString(src_addr), '^::ffff:', ''), "
                      "replaceRegexpOne(toString(dst_addr), '^::ffff:', ''), src_port, dst_port, "
                      "proto, vlan, sum(packets), sum(bytes) FROM flows.raw "
                      "GROUP BY 1, 2, 3, 4, 5, 6")
    got = {(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])): [int(r[6]), int(r[7])]
           for r in rows}
    assert got == dict(want)
    assert scalar(store, "SELECT count() FROM flows.raw") == len(records)
    packets = sum(v[0] for v in want.values())
    byte_total = sum(v[1] for v in want.values())
    tcp_udp = [r for r in records if r["proto"] in (6, 17, 132, 136)]
    per_day = collections.Counter()
    for r in records:
        per_day[time.strftime("%Y-%m-%d", time.gmtime(r["first_seen_ns"] // 10**9))] += \
            r["packets"] * r.get("sampling", 1)
    for table in ROLLUPS:
        row = sql(store, f"SELECT sum(packets), sum(bytes) FROM flows.{table}")[0]
        if table.startswith("port"):
            assert [int(row[0]), int(row[1])] == [
                sum(r["packets"] * r.get("sampling", 1) for r in tcp_udp),
                sum(r["bytes"] * r.get("sampling", 1) for r in tcp_udp)], table
        else:
            assert [int(row[0]), int(row[1])] == [packets, byte_total], table
    days = sql(store, "SELECT toString(day), sum(packets) FROM flows.proto_1d GROUP BY day")
    assert {d: int(p) for d, p in days} == dict(per_day)
    side = sql(store, "SELECT side, sum(packets) FROM flows.region_1m GROUP BY side")
    assert {s: int(p) for s, p in side} == {"src": packets, "dst": packets}
    ledger = sql(store, "SELECT agent, batch_run, batch_seq, count() FROM flows.batches "
                        "GROUP BY 1, 2, 3 HAVING count() > 1")
    assert ledger == []
    assert scalar(store, "SELECT count() FROM flows.batches") == batches


@pytest.fixture(scope="module")
def trace_records(generated_trace):  # noqa: F811
    """The agent's records of the 2-day generated trace, in the agent's order."""
    trace, _ = generated_trace
    proc = subprocess.run([FLOWAGENT, "--replay", "--no-progress", str(trace)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def write_batches(path, records, size, agent="edge-1", run=0x1122334455667788):
    """records in batches of `size`; returns the number of batches and the ones across
    midnight."""
    across = 0
    with open(path, "wb") as out:
        for i in range(0, len(records), size):
            part = records[i:i + size]
            days = {r["first_seen_ns"] // (86400 * 10**9) for r in part}
            across += len(days) > 1
            out.write(batch(agent, run, i // size + 1, part, flags=1 if i == 0 else 0))
    return (len(records) + size - 1) // size, across


def wal_files(store):
    d = pathlib.Path(store) / "flowcollector-wal"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# --- crashes inside one insert ------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["kill-after-part=0", "kill-after-part=2", "kill-after-seal"])
def test_crash_inside_an_insert_is_finished_at_start(tmp_path, trace_records, fault):
    """One insert of the whole 2-day trace in parts of 5,000 rows (batches across midnight
    among them): the collector is killed between two parts, or after sealing before any part.
    At the next start the write-ahead file finishes it; raw and every rollup are exact, and
    the same input delivered again is all duplicates."""
    wire = tmp_path / "trace.wire"
    batches, across = write_batches(wire, trace_records, 700)
    assert across >= 1, "the trace must have a batch across UTC midnight"
    store = tmp_path / "db"
    killed = ingest(store, wire, "--insert-block-rows", "5000", "--batch-rows", "10000000",
                    "--batch-ms", "3600000",
                    env={"FLOWCOLLECTOR_TEST_FAULT": fault}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr_text[-2000:]
    assert "test fault" in killed.stderr_text
    assert len(wal_files(store)) == 1
    stored_before = scalar(store, "SELECT count() FROM flows.raw")
    parts_done = 0 if fault == "kill-after-seal" else int(fault.split("=")[1]) + 1
    assert stored_before == min(parts_done * 5000, len(trace_records))
    # the restart finishes the insert before it reads anything
    again = ingest(store, wire, "--insert-block-rows", "5000", "-v")
    assert "finishing insert" in again.stderr_text
    counters = summary(again.stderr_text)
    assert counters["duplicate_batches"] == batches
    assert counters.get("recovered_inserts", 1) == 1
    assert wal_files(store) == []
    assert_store_exact(store, trace_records, batches)


def test_batch_larger_than_a_block_split_and_finished(tmp_path, trace_records):
    """A single batch of 20,000 records and parts of 8,000 rows: killed after the first part,
    the batch is half in flows.raw until the restart completes it, in raw and every rollup."""
    records = trace_records[:20000]
    wire = tmp_path / "one.wire"
    wire.write_bytes(batch("edge-2", 7, 1, records, flags=1))
    store = tmp_path / "db"
    killed = ingest(store, wire, "--insert-block-rows", "8000",
                    env={"FLOWCOLLECTOR_TEST_FAULT": "kill-after-part=0"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert scalar(store, "SELECT count() FROM flows.raw") == 8000
    assert scalar(store, "SELECT count() FROM flows.batches") == 0
    ingest(store, "/dev/null", "--insert-block-rows", "8000")
    assert_store_exact(store, records, 1)


def test_torn_write_ahead_file_reported(tmp_path, trace_records):
    """A write-ahead file cut short (as a disk that lost its tail leaves it) is set aside and
    reported, never inserted in part; an unfinished *.tmp (a crash while writing) is removed."""
    wire = tmp_path / "t.wire"
    write_batches(wire, trace_records[:3000], 500)
    store = tmp_path / "db"
    killed = ingest(store, wire, env={"FLOWCOLLECTOR_TEST_FAULT": "kill-after-seal"},
                    check=False)
    assert killed.returncode == -signal.SIGKILL
    (name,) = wal_files(store)
    path = pathlib.Path(store) / "flowcollector-wal" / name
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    (path.parent / "0000000000000001.wal.tmp").write_bytes(b"\0" * 100)
    proc = ingest(store, "/dev/null")
    assert f"write-ahead file {path} is damaged" in proc.stderr_text
    assert sorted(wal_files(store)) == [name + ".corrupt"]
    assert scalar(store, "SELECT count() FROM flows.raw") == 0


# --- identities ---------------------------------------------------------------------------------

def test_redelivery_across_restarts_is_a_duplicate(tmp_path, trace_records):
    """The same batches in three runs (the last with more after them): stored once, through the
    ledger in ClickHouse, not memory."""
    records = trace_records[:6000]
    wire = tmp_path / "a.wire"
    batches, _ = write_batches(wire, records, 400)
    store = tmp_path / "db"
    first = summary(ingest(store, wire).stderr_text)
    assert first["batches"] == batches and first["duplicate_batches"] == 0
    second = summary(ingest(store, wire).stderr_text)
    assert second["duplicate_batches"] == batches and second["rows_inserted"] == 0
    assert_store_exact(store, records, batches)


def test_agent_restart_with_clock_behind_loses_nothing(tmp_path, trace_records):
    """Two runs of one agent whose second run reuses every sequence number (as an agent of
    wire format 1 whose clock went back would): with run ids, nothing is a duplicate."""
    records = trace_records[:4000]
    wire = tmp_path / "runs.wire"
    with open(wire, "wb") as out:
        for run in (111, 222):
            for i in range(0, 2000, 500):
                out.write(batch("edge-3", run, i // 500 + 1, records[(run == 222) * 2000 + i:]
                                [:500], flags=1 if i == 0 else 0))
    store = tmp_path / "db"
    counters = summary(ingest(store, wire).stderr_text)
    assert counters["duplicate_batches"] == 0
    assert counters["agent_restarts"] == 1
    assert counters["batches_missing"] == 0
    assert_store_exact(store, records, 8)


def test_reused_number_in_wire_format_1_is_an_alarm_not_a_loss(tmp_path, trace_records):
    """Wire format 1 has no run id: an agent restarted with its clock behind reuses numbers.
    Same number, other records: both are stored and the alarm is raised; the very same batch
    again is still a duplicate."""
    a, b = trace_records[:300], trace_records[300:600]
    wire = tmp_path / "v1.wire"
    wire.write_bytes(batch("old-agent", 0, 5, a, flags=1, version=1) +
                     batch("old-agent", 0, 6, a[:10], version=1))
    store = tmp_path / "db"
    ingest(store, wire)
    wire2 = tmp_path / "v1-again.wire"
    wire2.write_bytes(batch("old-agent", 0, 5, b, flags=1, version=1) +
                      batch("old-agent", 0, 5, a, flags=1, version=1))
    proc = ingest(store, wire2)
    counters = summary(proc.stderr_text)
    assert "reused a batch number" in proc.stderr_text
    assert counters["duplicate_batches"] == 1
    assert counters["sequence_alarms"] >= 1
    assert scalar(store, "SELECT count() FROM flows.raw") == 300 + 10 + 300
    assert scalar(store, "SELECT count() FROM flows.batches") == 3


def test_first_seen_outside_the_window_refused_and_counted(tmp_path, trace_records):
    """A corrupt trace must not create partitions for 1970 or 2100: such records are refused,
    counted, and reported in one line per thousand."""
    good = trace_records[:50]
    now = time.time_ns()
    bad = [dict(good[0], first_seen_ns=315532800 * 10**9, last_seen_ns=315532801 * 10**9),
           dict(good[1], first_seen_ns=now + 3 * 86400 * 10**9,
                last_seen_ns=now + 3 * 86400 * 10**9 + 1)]
    wire = tmp_path / "w.wire"
    wire.write_bytes(batch("edge-4", 9, 1, good + bad, flags=1))
    store = tmp_path / "db"
    proc = ingest(store, wire)
    assert "is before 1990 or more than 86400 s ahead" in proc.stderr_text
    assert summary(proc.stderr_text)["records_out_of_window"] == 2
    assert scalar(store, "SELECT count() FROM flows.raw") == 50
    assert scalar(store, "SELECT count(DISTINCT partition_id) FROM system.parts WHERE "
                         "database = 'flows' AND table = 'raw' AND active") == 1


# --- memory -----------------------------------------------------------------------------------

def peak_rss_kb(store, path):
    """Peak RSS of one collector run (a fresh child: ru_maxrss of the children so far is a
    maximum, so each measurement runs in its own python child)."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL,"
            " stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run(["python3", "-c", code, FLOWCOLLECTOR, "--store", f"embedded:{store}",
                          "ingest", "--input", str(path)], stdout=subprocess.PIPE, check=True)
    return int(out.stdout)


def test_memory_does_not_grow_with_history(tmp_path, trace_records):
    """Ten million batches of history in the ledger: the collector starts without reading
    them, and its peak RSS stays within 64 MB of a run on an empty store."""
    wire = tmp_path / "m.wire"
    write_batches(wire, trace_records[:2000], 200, agent="probe")
    empty, full = tmp_path / "empty", tmp_path / "full"
    collector(empty, "migrate")
    collector(full, "migrate")
    collector(full, "sql", "INSERT INTO flows.batches (agent, batch_run, batch_seq, batch_crc, "
                           "rows) SELECT concat('agent-', toString(number % 1000)), "
                           "intDiv(number, 1000) % 7 + 1, number, 0, 1000 "
                           "FROM numbers(10000000)")
    assert scalar(full, "SELECT count() FROM flows.batches") == 10000000
    base = peak_rss_kb(empty, wire)
    loaded = peak_rss_kb(full, wire)
    print(f"peak RSS: {base} kB on an empty store, {loaded} kB with 10M batches of history")
    (BUILD / "test-memory.txt").write_text(f"{base} {loaded}\n")
    assert loaded - base < 64 * 1024
    assert scalar(full, "SELECT count() FROM flows.raw") == 2000
