# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The collector's signal and input cases under ASan and UBSan (build/asan/flowcollector).

libchdb does not run inside an ASan process (a static constructor of it calls through a null
pointer while it is loaded), so these runs use the HTTP store (--clickhouse) against a
stand-in that speaks the part of ClickHouse's HTTP protocol the collector uses: statements as
POST bodies, inserts as RowBinary with the query in the URL, and the ledger (flows.batches)
kept and answered, so that deduplication across runs is the collector's own. The rows the
stand-in received are decoded one by one and counted: nothing lost, nothing twice. The same
cases against the real engine are in test_collector_hostile.py.
"""
import http.server
import re
import signal
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import BUILD, ROOT
from conftest import summary_counters as summary
from test_collector_hostile import json_line, wire_batches

ASAN_COLLECTOR = BUILD / "asan" / "flowcollector"
RECORD_SIZE = 81
LEDGER_QUERY = re.compile(r"FROM flows\.batches WHERE \(agent, batch_run, batch_seq\) IN "
                          r"\((.*)\) FORMAT TSV", re.S)


def read_string(body, at):
    """A RowBinary String: LEB128 length, then the bytes."""
    length = shift = 0
    while True:
        byte = body[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return body[at:at + length].decode(), at + length


class StandIn:
    """A ClickHouse HTTP endpoint on 127.0.0.1 that keeps what was inserted."""

    def __init__(self):
        self.rows = []    # (agent, batch_run, batch_seq, record bytes)
        self.ledger = {}  # (agent, batch_run, batch_seq) -> batch_crc
        self.lock = threading.Lock()
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                reply = standin.handle(query.get("query", [""])[0], body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(reply)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def handle(self, insert, body):
        with self.lock:
            if insert.startswith("INSERT INTO flows.raw "):
                at = 0
                while at < len(body):
                    agent, at = read_string(body, at)
                    run, seq = struct.unpack_from("<QQ", body, at)
                    at += 16
                    self.rows.append((agent, run, seq, body[at:at + RECORD_SIZE]))
                    at += RECORD_SIZE
                return b""
            if insert.startswith("INSERT INTO flows.batches "):
                at = 0
                while at < len(body):
                    agent, at = read_string(body, at)
                    run, seq, crc, _rows = struct.unpack_from("<QQII", body, at)
                    at += 24
                    self.ledger[(agent, run, seq)] = crc
                return b""
            if insert:
                return b""
            text = body.decode(errors="replace")
            if "FROM system.columns" in text:
                return b"raw.batch_run\nbatches.batch_crc\nproto_1m.received\n"
            asked = LEDGER_QUERY.search(text)
            if asked:
                out = []
                for agent, run, seq in re.findall(r"\('([^']*)', (\d+), (\d+)\)", asked[1]):
                    key = (agent, int(run), int(seq))
                    if key in self.ledger:
                        out.append(f"{agent}\t{run}\t{seq}\t{self.ledger[key]}\n")
                return "".join(out).encode()
            return b""

    def row_count(self):
        with self.lock:
            return len(self.rows)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def standin():
    if not ASAN_COLLECTOR.exists():
        pytest.fail(f"{ASAN_COLLECTOR} is missing: make test builds it")
    s = StandIn()
    yield s
    s.close()


def command(standin, *args):
    return [str(ASAN_COLLECTOR), "--clickhouse", standin.url, "--sql-dir", str(ROOT / "sql"),
            *[str(a) for a in args]]


def checked(stderr):
    assert "Sanitizer" not in stderr and "runtime error" not in stderr, stderr[-4000:]
    return stderr


def run(standin, *args, input=None, timeout=300):
    proc = subprocess.run(command(standin, *args), input=input, capture_output=True,
                          timeout=timeout)
    proc.stderr_text = checked(proc.stderr.decode(errors="replace"))
    assert proc.returncode >= 0, proc.stderr_text[-3000:]
    return proc


def interrupt_after(standin, payload, rows_wanted, sig, batch_rows):
    """payload through a pipe left open; sig once the stand-in holds rows_wanted rows."""
    proc = subprocess.Popen(command(standin, "--input", "-", "--batch-rows", batch_rows),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(payload)
        proc.stdin.flush()
        deadline = time.time() + 120
        while time.time() < deadline and standin.row_count() < rows_wanted:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert standin.row_count() >= rows_wanted, "nothing stored in 120 s"
        proc.send_signal(sig)
        proc.wait(timeout=120)
        proc.stdin.close()
        err = checked(proc.stderr.read().decode(errors="replace"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_sigterm_mid_wire_input_then_again_exactly_once(standin):
    per_batch = 100
    batches = wire_batches("asan-1", 300, per_batch)
    rc, err = interrupt_after(standin, b"".join(batches[:150]), 1000, signal.SIGTERM, 1000)
    assert rc == 4, err
    assert "stopped by SIGTERM before the end of --input stdin" in err
    stored = summary(err)["rows_inserted"]
    assert stored == standin.row_count()
    assert stored % per_batch == 0 and 1000 <= stored <= 150 * per_batch
    [line] = [x for x in err.splitlines() if "NOT finished" in x]
    assert f"at byte offset {stored // per_batch * len(batches[0])};" in line
    # the whole input again: the ledger says which batches are stored, nothing comes twice
    again = run(standin, "--input", "-", input=b"".join(batches))
    assert again.returncode == 0, again.stderr_text
    assert summary(again.stderr_text)["duplicate_batches"] == stored // per_batch
    keys = [(agent, run_id, seq, rec) for agent, run_id, seq, rec in standin.rows]
    assert len(keys) == 300 * per_batch
    assert len({(seq, rec) for _, _, seq, rec in keys}) == 300 * per_batch
    assert {seq for _, _, seq, _ in keys} == set(range(1, 301))


def test_sigint_mid_json_batch_keeps_it_whole(standin):
    def batch(seq, lines=10):
        return "".join(json_line(seq * 100 + i, agent_id="asan-js", batch_run=7, batch_seq=seq)
                       + "\n" for i in range(lines)).encode()

    whole = [batch(seq) for seq in range(1, 101)]
    partial = b"".join(whole[:60]) + b"".join(batch(61).splitlines(True)[:4])
    rc, err = interrupt_after(standin, partial, 600, signal.SIGINT, 10)
    assert rc == 4, err
    assert summary(err)["rows_inserted"] == 600 == standin.row_count()
    assert "the 4 lines of an unfinished batch were not stored" in err


def test_endless_and_over_long_lines(standin, tmp_path):
    proc = run(standin, "--input", "/dev/zero", timeout=120)
    assert proc.returncode == 3, proc.stderr_text
    assert "/dev/zero:1 (byte offset 0): line longer than 1048576 bytes" in proc.stderr_text
    assert standin.row_count() == 0
    good = json_line(1) + "\n"
    path = tmp_path / "long.json"
    path.write_text(good + good + json_line(2, note="x" * (1 << 20)) + "\n" + good)
    proc = run(standin, "--input", path, "--input-agent", "asan-long")
    assert proc.returncode == 3, proc.stderr_text
    assert f"{path}:3 (byte offset {2 * len(good)}): line longer" in proc.stderr_text
    assert standin.row_count() == 2


def test_absurd_wire_headers(standin, tmp_path):
    good = wire_batches("asan-hdr", 2, 5)
    absurd = bytearray(good[1])
    struct.pack_into("<H", absurd, 8, 65535)
    struct.pack_into("<I", absurd, 12, 1 << 20)
    path = tmp_path / "absurd.wire"
    path.write_bytes(good[0] + bytes(absurd))
    proc = run(standin, "--input", path)
    assert proc.returncode == 3, proc.stderr_text
    assert "rejected: record size below 81 or above 1024 bytes" in proc.stderr_text
    assert standin.row_count() == 5
    big = bytearray(good[1])
    struct.pack_into("<I", big, 12, 1 << 20)
    proc = run(standin, "--input", "-", input=bytes(big))
    assert proc.returncode == 3, proc.stderr_text
    assert "truncated batch" in proc.stderr_text
    assert standin.row_count() == 5
