# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""flowcollector against hostile inputs and environments, each case asserting the exit status,
the message and the exact rows stored (nothing lost, nothing silently kept):

- test_sigterm_mid_input_stores_whole_batches_and_exits_4: SIGTERM in the middle of --input
- test_sigterm_mid_json_batch_keeps_it_whole: the same for JSON lines carrying batch ids
- test_endless_input_without_newlines: /dev/zero, bounded and an error
- test_over_long_line: one line above the limit
- test_input_directory: --input naming a directory
- test_absurd_wire_header: a header declaring 2^20 records of 65,535 bytes, or more than
  the file holds, or more than a pipe delivers
- test_query_into_full_or_closed_stdout: query, sql and query list into /dev/full or a closed
  stdout

The same signal and input cases run under ASan and UBSan in test_collector_asan.py, through
the HTTP store: libchdb does not run in an ASan process (it dies with a SEGV while it is
loaded). FLOWCOLLECTOR picks the binary here (build/flowcollector).
"""
import ipaddress
import json
import os
import signal
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from conftest import BUILD
from conftest import summary_counters as summary
from wire import RECORD_TAIL, encode_batch

LIBCHDB = BUILD / "chdb" / "libchdb.so"
BINARIES = [os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))]

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")

FIRST_SEEN = 1767589200000000000  # 2026-01-05 05:00 UTC


@pytest.fixture(params=BINARIES, ids=lambda b: "asan" if "/asan/" in b else "plain")
def binary(request):
    return request.param


def run(binary, store, *args, input=None, timeout=300, stdout=subprocess.PIPE):
    cmd = [binary, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, input=input, stdout=stdout, stderr=subprocess.PIPE,
                          timeout=timeout)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{cmd} died from signal {-proc.returncode}: " \
        f"{proc.stderr_text[-3000:]}"
    assert "Sanitizer" not in proc.stderr_text and "runtime error" not in proc.stderr_text, \
        proc.stderr_text[-4000:]
    return proc


def sql(binary, store, query):
    proc = run(binary, store, "sql", query)
    assert proc.returncode == 0, proc.stderr_text
    return [line.split("\t") for line in proc.stdout.decode().splitlines()]


def record(i, agent_port=0):
    """One wire record: distinct ports per i, a plausible flow of 2 packets."""
    src = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + bytes([192, 0, 2, 1])).packed
    dst = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + bytes([198, 51, 100, 7])).packed
    return src + dst + RECORD_TAIL.pack(i % 65536, 443 + agent_port, 6, 0x12, 0, 0, 0, 1, 2,
                                        120, FIRST_SEEN + i, FIRST_SEEN + i + 1000)


def wire_batches(agent, count, per_batch, run_id=0x5eed0001):
    """count batches of per_batch records, every batch the same length (one CRC computed)."""
    records = [record(i) for i in range(per_batch)]
    first = encode_batch(agent, run_id, 1, records, flags=1)
    crc = struct.unpack_from("<I", first, 32)[0]
    out = [first]
    for seq in range(2, count + 1):
        b = bytearray(first)
        b[5] = 0
        struct.pack_into("<Q", b, 16, seq)
        struct.pack_into("<I", b, 32, crc)
        out.append(bytes(b))
    return out


def json_line(i, **extra):
    return json.dumps(dict({"src_addr": "192.0.2.1", "dst_addr": "198.51.100.7",
                            "src_port": i % 65536, "dst_port": 443, "proto": 6, "packets": 2,
                            "bytes": 120, "first_seen_ns": FIRST_SEEN + i,
                            "last_seen_ns": FIRST_SEEN + i + 1000}, **extra))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return None
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def interrupt_after(binary, store, payload, rows_wanted, sig=signal.SIGTERM, batch_rows=1000):
    """Feeds payload (a list of byte strings) through a pipe that stays open, waits until
    rows_wanted rows are stored (the metrics endpoint), then sends sig: the input is then
    unfinished whatever the collector read. Returns (exit status, stderr)."""
    port = free_port()
    proc = subprocess.Popen([binary, "--store", f"embedded:{store}", "--input", "-",
                             "--batch-rows", str(batch_rows), "--metrics", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        for chunk in payload:
            proc.stdin.write(chunk)
        proc.stdin.flush()
        deadline = time.time() + 120
        inserted = None
        while time.time() < deadline:
            inserted = metric(port, "flowcollector_rows_inserted_total")
            if inserted is not None and inserted >= rows_wanted:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert inserted is not None and inserted >= rows_wanted, "nothing stored in 120 s"
        proc.send_signal(sig)
        # stdin stays open until it exits: it must stop without seeing the end of its input
        proc.wait(timeout=120)
        proc.stdin.close()
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(errors="replace")


# --- 1. a signal in the middle of --input ----------------------------------------------------

def test_sigterm_mid_input_stores_whole_batches_and_exits_4(binary, tmp_path):
    store, per_batch = tmp_path / "db", 100
    batches = wire_batches("sig-1", 400, per_batch)
    batch_len = len(batches[0])
    # half the batches through a pipe left open: the collector cannot reach the end
    rc, err = interrupt_after(binary, store, batches[:200], 1000)
    assert rc == 4, err
    assert "stopped by SIGTERM before the end of --input stdin" in err
    counters = summary(err)
    stored = counters["rows_inserted"]
    assert stored % per_batch == 0 and 1000 <= stored <= 200 * per_batch
    line = [x for x in err.splitlines() if "NOT finished" in x]
    assert len(line) == 1, err
    offset = int(line[0].split("at byte offset ")[1].split(";")[0])
    assert offset == stored // per_batch * batch_len
    assert f"; {stored} rows stored, of whole batches." in line[0]
    assert [[str(stored), str(stored // per_batch)]] == sql(
        binary, store, "SELECT count(), uniqExact(batch_seq) FROM flows.raw")

    # the whole input again: finished, exactly the full total, nothing twice
    again = run(binary, store, "--input", "-", input=b"".join(batches))
    assert again.returncode == 0, again.stderr_text
    counters = summary(again.stderr_text)
    assert counters["duplicate_batches"] == stored // per_batch
    assert counters["rows_inserted"] == 400 * per_batch - stored
    assert [[str(400 * per_batch), "400"]] == sql(
        binary, store, "SELECT count(), uniqExact(batch_seq) FROM flows.raw")


def test_sigterm_mid_json_batch_keeps_it_whole(binary, tmp_path):
    """JSON lines carrying batch ids: a batch whose last line is still to come is not stored
    (storing half of it would make the rest a duplicate when read again)."""
    store = tmp_path / "db"

    def batch(seq, lines=10):
        return "".join(json_line(seq * 100 + i, agent_id="js-1", batch_run=7, batch_seq=seq)
                       + "\n" for i in range(lines)).encode()

    whole = [batch(seq) for seq in range(1, 201)]
    # 150 whole batches and the first 4 lines of batch 151, then the pipe stays open
    partial = b"".join(whole[:150]) + b"".join(batch(151).splitlines(True)[:4])
    # an insert per batch: 1500 rows stored means every whole batch was read
    rc, err = interrupt_after(binary, store, [partial], 1500, signal.SIGINT, batch_rows=10)
    assert rc == 4, err
    counters = summary(err)
    stored = counters["rows_inserted"]
    assert stored == 1500, err
    assert "stopped by SIGINT" in err
    assert "the 4 lines of an unfinished batch were not stored" in err
    assert f"at byte offset {len(b''.join(whole[:150]))} (after line 1500)" in err
    again = run(binary, store, "--input", "-", input=b"".join(whole))
    assert again.returncode == 0, again.stderr_text
    assert summary(again.stderr_text)["duplicate_batches"] == 150
    assert [["2000", "200"]] == sql(binary, store,
                                    "SELECT count(), uniqExact(batch_seq) FROM flows.raw")


# --- 2. unbounded inputs ---------------------------------------------------------------------

def test_endless_input_without_newlines(binary, tmp_path):
    store = tmp_path / "db"
    proc = run(binary, store, "--input", "/dev/zero", timeout=120)
    assert proc.returncode == 3, proc.stderr_text
    assert ("/dev/zero:1 (byte offset 0): line longer than 1048576 bytes, the limit for a JSON "
            "flow record") in proc.stderr_text
    assert summary(proc.stderr_text)["rows_inserted"] == 0


def test_over_long_line(binary, tmp_path):
    store, path = tmp_path / "db", tmp_path / "long.json"
    good = json_line(1) + "\n"
    path.write_text(good + good + json_line(2, note="x" * (1 << 20)) + "\n" + good)
    proc = run(binary, store, "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    assert (f"{path}:3 (byte offset {2 * len(good)}): line longer than 1048576 bytes"
            in proc.stderr_text)
    assert "the rest of the input is not read" in proc.stderr_text
    # what came before the bad line is kept
    assert summary(proc.stderr_text)["rows_inserted"] == 2
    assert sql(binary, store, "SELECT count() FROM flows.raw") == [["2"]]
    # a line just under the limit is a rejected record, not the end of the input
    path.write_text(json_line(3, note="x" * ((1 << 20) - 300)) + "\n" + good)
    proc = run(binary, tmp_path / "db2", "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    assert f"{path}:1: record rejected: bad string value" in proc.stderr_text
    assert "line longer" not in proc.stderr_text
    assert summary(proc.stderr_text)["rows_inserted"] == 1


def test_input_directory(binary, tmp_path):
    proc = run(binary, tmp_path / "db", "--input", tmp_path)
    assert proc.returncode == 3
    assert f"--input {tmp_path}: is a directory" in proc.stderr_text
    proc = run(binary, tmp_path / "db", "--input", tmp_path / "absent")
    assert proc.returncode == 3
    assert f"--input {tmp_path}/absent: No such file or directory" in proc.stderr_text


# --- 3. a wire header that lies ----------------------------------------------------------------

def test_absurd_wire_header(binary, tmp_path):
    store = tmp_path / "db"
    good = wire_batches("hdr-1", 2, 5)
    absurd = bytearray(good[1])
    struct.pack_into("<H", absurd, 8, 65535)       # record_size
    struct.pack_into("<I", absurd, 12, 1 << 20)    # record_count
    path = tmp_path / "absurd.wire"
    path.write_bytes(good[0] + bytes(absurd))
    proc = run(binary, store, "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    assert (f"{path}: offset {len(good[0])}: rejected: record size below 81 or above 1024 "
            "bytes (header_len 53, record_size 65535, record_count 1048576); the rest of the "
            "input is not read") in proc.stderr_text
    assert summary(proc.stderr_text)["rows_inserted"] == 5

    # a plausible size, but more than the file holds: refused before anything is read
    big = bytearray(good[1])
    struct.pack_into("<I", big, 12, 1 << 20)
    path.write_bytes(bytes(big))
    proc = run(binary, tmp_path / "db2", "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    assert (f"{path}: offset 0: rejected: the batch header declares {53 + 81 * (1 << 20)} "
            f"bytes, but the file holds only {len(big)} more") in proc.stderr_text
    # through a pipe: only what arrives is buffered, and the batch is truncated
    proc = run(binary, tmp_path / "db2", "--input", "-", input=bytes(big))
    assert proc.returncode == 3, proc.stderr_text
    assert (f"stdin: offset 0: truncated batch ({len(big)} of the {53 + 81 * (1 << 20)} bytes "
            "its header declares)") in proc.stderr_text
    assert summary(proc.stderr_text)["rows_inserted"] == 0


# --- 6. results that cannot be written --------------------------------------------------------

def test_query_into_full_or_closed_stdout(binary, tmp_path):
    store = tmp_path / "db"
    assert run(binary, store, "migrate").returncode == 0
    cases = [("query", "list"), ("sql", "SELECT number FROM system.numbers LIMIT 100000"),
             ("query", "daily_packets")]
    for args in cases:
        with open("/dev/full", "wb") as full:
            proc = run(binary, store, *args, stdout=full)
        assert proc.returncode == 1, (args, proc.stderr_text)
        assert ("writing the result to standard output failed: No space left on device"
                in proc.stderr_text), (args, proc.stderr_text)
    # a closed stdout: the command's fd 1 is not open at all
    proc = subprocess.run([binary, "--store", f"embedded:{store}", "query", "list"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"query list: writing the result to standard output failed: Bad file descriptor" \
        in proc.stderr


# --- per-line errors, capped ---------------------------------------------------------------------

def test_bad_lines_capped_with_a_count(binary, tmp_path):
    """A file of bad lines prints the first ten and a count, not a line per line; every bad
    line is still counted and every good one stored. -v shows each."""
    store, path = tmp_path / "db", tmp_path / "bad.json"
    good = [json_line(i) for i in range(5)]
    path.write_text("\n".join(good[:2] + ["not json"] * 1000 + good[2:]) + "\n")
    proc = run(binary, store, "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    rejected = [line for line in proc.stderr_text.splitlines() if "record rejected" in line]
    assert len(rejected) == 10
    assert rejected[0].endswith(f"{path}:3: record rejected: not a JSON object")
    assert "... and 990 more rejected records and batches not shown (-v shows each)" in \
        proc.stderr_text
    counters = summary(proc.stderr_text)
    assert counters["records_rejected"] == 1000
    assert counters["rows_inserted"] == 5
    verbose = run(binary, tmp_path / "db2", "-v", "--input", path)
    assert verbose.returncode == 3
    assert sum("record rejected" in line for line in verbose.stderr_text.splitlines()) == 1000
    assert "more rejected records" not in verbose.stderr_text
