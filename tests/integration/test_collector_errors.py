# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""flowcollector's errors (issue 11, "Hardening"): each case asserts the exit status, the
message, and that nothing is lost or silently kept.

Geolocation (geo load replaces the data in use only once the new data is whole and sane):
- test_geo_garbage_refused_keeps_old: a real geo file loaded, then garbage: exit 3, why, the
  old prefixes and region rows untouched
- test_geo_force_loads_good_lines: a mostly malformed file is refused, --force loads its good
  lines
- test_geo_no_prefixes_refused: a file of unknown countries only; --force empties
- test_geo_failure_midway_keeps_old: a failure after one rebuilt day, or before the swap:
  exit 1, the old geolocation and rollups as they were, no table left behind
- test_geo_rename_swap: the RENAME form old servers get: same result, the views still feed the
  new tables; a RENAME that stopped midway is repaired by the next run
- test_geo_malformed_lines_capped: 10,000 bad lines print 10 and a count
Agent ids (the agent's rule, lib/agent_id.h, on the collector's side):
- test_wire_agent_id_rejected_and_escaped: tab, newline, NUL, ESC in wire batches
- test_json_agent_id_rejected_and_escaped: a tab and a NUL in JSON lines
Unwritable embedded stores (the real cause, "another flowcollector" only for a held lock):
- test_store_parent_is_a_file, test_store_permission_denied, test_store_read_only_filesystem,
  test_store_locked_by_another_collector
Library noise (librdkafka and libchdb only with -v):
- test_kafka_log_lines_only_with_verbose
The HTTP store (a stand-in server; the engine itself is tested through the embedded store):
- test_http_multiline_error_kept_whole, test_http_exception_header_on_200,
  test_http_exception_trailer_in_200_body, test_http_password_warning_off_loopback,
  test_http_password_file_mode_refused
"""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

from conftest import BUILD, is_root
from conftest import summary_counters as summary
from wire import RECORD_TAIL, encode_batch

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
GEOIP = BUILD / "geo" / "geoip"
FIRST_SEEN = 1767589200000000000  # 2026-01-05 05:00 UTC

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")
needs_root = pytest.mark.skipif(not is_root(), reason="needs root (setpriv, mount namespaces)")


def run(store, *args, input=None, env=None, timeout=300, prefix=()):
    cmd = [*prefix, FLOWCOLLECTOR, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{cmd} died from signal {-proc.returncode}"
    return proc


def sql(store, query):
    proc = run(store, "sql", query)
    assert proc.returncode == 0, proc.stderr_text
    return [line.split("\t") for line in proc.stdout.decode().splitlines()]


def json_line(i, src="1.0.0.1", dst="2001:2::1", **extra):
    return json.dumps(dict({"src_addr": src, "dst_addr": dst, "src_port": 40000 + i,
                            "dst_port": 443, "proto": 6, "packets": 2 + i, "bytes": 120 + i,
                            "first_seen_ns": FIRST_SEEN + i, "last_seen_ns": FIRST_SEEN + i + 1000},
                           **extra))


def store_with_flows(store, days_back=(1, 2)):
    """Flows received today (through --input) and on earlier days (inserted_at set in SQL), so
    that geo load rebuilds several received days; and region rows of a day whose raw rows
    have expired (100 days ago), which geo load must keep as they are."""
    lines = "".join(json_line(i, agent_id="edge-1") + "\n" for i in range(5)).encode()
    proc = run(store, "--input", "-", input=lines)
    assert proc.returncode == 0, proc.stderr_text
    for back in days_back:
        sql(store, "INSERT INTO flows.raw (agent, batch_run, batch_seq, src_addr, dst_addr, "
                   "src_port, dst_port, proto, packets, bytes, first_seen, last_seen, "
                   "inserted_at) SELECT 'edge-2', 0, 0, toIPv6('::ffff:1.0.0.9'), "
                   "toIPv6('2001:2::9'), number, 53, 17, 10, 1000, "
                   f"toDateTime64('2026-01-0{back} 00:00:00', 9, 'UTC'), "
                   f"toDateTime64('2026-01-0{back} 00:00:01', 9, 'UTC'), now() - {back} * 86400 "
                   "FROM numbers(3)")
    for table, column in (("region_1m", "minute"), ("region_1d", "day")):
        sql(store, f"INSERT INTO flows.{table} (received, {column}, agent, direction, side, "
                   "country_code, bytes, packets, records) SELECT today() - 100, "
                   "today() - 100, 'expired', 'ingress', 'src', 'XX', 7, 7, 1")


def geo_state(store):
    """Everything geo load replaces, as comparable rows."""
    return {
        "prefixes": sql(store, "SELECT count(), uniqExact(country_code) FROM flows.geo_ranges"),
        "countries": sql(store, "SELECT country_code, country_name FROM flows.countries FINAL "
                                "ORDER BY country_code"),
        "region_1m": sql(store, "SELECT received, agent, side, country_code, sum(packets), "
                                "sum(records) FROM flows.region_1m GROUP BY received, agent, "
                                "side, country_code ORDER BY received, agent, side, "
                                "country_code"),
        "region_1d": sql(store, "SELECT received, day, agent, side, country_code, sum(packets) "
                                "FROM flows.region_1d GROUP BY received, day, agent, side, "
                                "country_code ORDER BY received, day, agent, side, "
                                "country_code"),
        "lookup": sql(store, "SELECT dictGet('flows.geo', 'country_code', "
                             "toIPv6('::ffff:1.0.0.1'))"),
        "leftovers": sql(store, "SELECT name FROM system.tables WHERE database = 'flows' AND "
                                "(name LIKE '%\\_new' OR name LIKE '%\\_old') ORDER BY name"),
    }


def region_countries(state):
    return sorted({(r[1], r[2], r[3]) for r in state["region_1m"]})


# --- geolocation ----------------------------------------------------------------------------

def test_geo_garbage_refused_keeps_old(tmp_path):
    store = tmp_path / "db"
    store_with_flows(store)
    loaded = run(store, "geo", "load", GEOIP)
    assert loaded.returncode == 0, loaded.stderr_text
    before = geo_state(store)
    assert int(before["prefixes"][0][0]) > 100000
    assert before["lookup"] == [["AU"]]  # 1.0.0.0/24 in the IPFire data
    assert ("edge-1", "src", "AU") in region_countries(before)
    assert ("expired", "src", "XX") in region_countries(before)
    assert before["leftovers"] == []

    garbage = tmp_path / "garbage.csv"
    garbage.write_text("".join(f"this is not geolocation {i}\n" for i in range(40)) +
                       "1.0.0.0,1.0.0.255,NZ\n")
    proc = run(store, "geo", "load", garbage)
    assert proc.returncode == 3, proc.stderr_text
    assert f"{garbage}: 40 of its 41 data lines are malformed (more than 50%)" in \
        proc.stderr_text
    assert "Nothing was loaded; the geolocation in use stays" in proc.stderr_text
    assert geo_state(store) == before


def test_geo_force_loads_good_lines(tmp_path):
    store = tmp_path / "db"
    store_with_flows(store)
    good = tmp_path / "good.csv"
    good.write_text("1.0.0.0,1.0.0.255,AU\n2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n")
    assert run(store, "geo", "load", good).returncode == 0
    before = geo_state(store)

    mostly_bad = tmp_path / "mostly-bad.csv"
    mostly_bad.write_text("1.0.0.0,1.0.0.255,NZ\n" + "nonsense,here\n" * 5 +
                          "2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,KR\n")
    refused = run(store, "geo", "load", mostly_bad)
    assert refused.returncode == 3
    assert "5 of its 7 data lines are malformed" in refused.stderr_text
    assert geo_state(store) == before

    forced = run(store, "geo", "load", "--force", mostly_bad)
    # loaded, and still exit 3: lines of the input were skipped
    assert forced.returncode == 3, forced.stderr_text
    assert "loading its 2 prefixes anyway (--force)" in forced.stderr_text
    # and the 16 special-use prefixes, of 5 labels (PRIVATE and the rest)
    assert "18 prefixes loaded into flows.geo_ranges" in forced.stderr_text
    after = geo_state(store)
    assert after["prefixes"] == [["18", "7"]]
    assert after["lookup"] == [["NZ"]]
    assert [c for c, _ in after["countries"]] == ["CGNAT", "DOC", "KR", "LOCAL", "MULTICAST",
                                                  "NZ", "PRIVATE"]
    assert ("edge-1", "src", "NZ") in region_countries(after)
    assert ("edge-1", "dst", "KR") in region_countries(after)
    assert not any(c in ("AU", "JP") for _, _, c in region_countries(after))
    # every received day rebuilt, the expired one kept as it was
    assert [r[0] for r in after["region_1m"]] == [r[0] for r in before["region_1m"]]
    assert ("expired", "src", "XX") in region_countries(after)
    assert after["leftovers"] == []


def test_geo_no_prefixes_refused(tmp_path):
    store = tmp_path / "db"
    store_with_flows(store)
    good = tmp_path / "good.csv"
    good.write_text("1.0.0.0,1.0.0.255,AU\n")
    assert run(store, "geo", "load", good).returncode == 0
    before = geo_state(store)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("1.0.0.0,1.0.0.255,??\n2.0.0.0,2.0.0.255,ZZ\n")
    proc = run(store, "geo", "load", unknown)
    assert proc.returncode == 3
    assert "no prefixes in the files given" in proc.stderr_text
    assert "nothing was loaded; the geolocation in use stays" in proc.stderr_text
    assert geo_state(store) == before
    forced = run(store, "geo", "load", "--force", unknown)
    assert forced.returncode == 0, forced.stderr_text
    assert geo_state(store)["prefixes"] == [["16", "5"]]  # only the special-use ranges
    assert geo_state(store)["lookup"] == [["??"]]


@pytest.mark.parametrize("fault", ["fail-after-days=1", "fail-before-swap"])
def test_geo_failure_midway_keeps_old(tmp_path, fault):
    store = tmp_path / "db"
    store_with_flows(store)
    good = tmp_path / "good.csv"
    good.write_text("1.0.0.0,1.0.0.255,AU\n2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n")
    assert run(store, "geo", "load", good).returncode == 0
    before = geo_state(store)
    assert len({r[0] for r in before["region_1m"]}) == 4  # three received days and the expired one
    other = tmp_path / "other.csv"
    other.write_text("1.0.0.0,1.0.0.255,NZ\n2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,KR\n")
    proc = run(store, "geo", "load", other, env={"FLOWCOLLECTOR_TEST_GEO_FAULT": fault})
    assert proc.returncode == 1, proc.stderr_text
    assert "test fault" in proc.stderr_text
    assert "nothing was replaced, the geolocation and region rollups in use are as they " \
        "were" in proc.stderr_text
    assert geo_state(store) == before
    # the next run loads it whole
    assert run(store, "geo", "load", other).returncode == 0
    assert geo_state(store)["lookup"] == [["NZ"]]


def test_geo_rename_swap(tmp_path):
    """The RENAME form (servers before 20.6, or a database that is not Atomic), forced on
    libchdb: the same tables result, and the materialized views feed the new ones."""
    store = tmp_path / "db"
    store_with_flows(store)
    good = tmp_path / "good.csv"
    good.write_text("1.0.0.0,1.0.0.255,AU\n2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n")
    env = {"FLOWCOLLECTOR_TEST_GEO_SWAP": "rename"}
    proc = run(store, "geo", "load", good, "-v", env=env)
    assert proc.returncode == 0, proc.stderr_text
    assert "swapping with RENAME TABLE" in proc.stderr_text
    state = geo_state(store)
    assert state["lookup"] == [["AU"]] and state["leftovers"] == []
    assert ("edge-2", "dst", "JP") in region_countries(state)
    # rows stored after the swap reach the new region tables through the views
    lines = json_line(99, agent_id="late").encode() + b"\n"
    assert run(store, "--input", "-", input=lines).returncode == 0
    assert sql(store, "SELECT side, country_code, sum(packets) FROM flows.region_1d WHERE "
                      "agent = 'late' GROUP BY side, country_code ORDER BY side") == \
        [["src", "AU", "101"], ["dst", "JP", "101"]]

    # a RENAME that stopped midway: region_1m under its _old name only; the next run repairs
    whole = geo_state(store)
    assert ("late", "src", "AU") in region_countries(whole)
    sql(store, "RENAME TABLE flows.region_1m TO flows.region_1m_old")
    again = run(store, "geo", "load", good, env=env)
    assert again.returncode == 0, again.stderr_text
    assert "flows.region_1m is missing and flows.region_1m_old holds its data" in \
        again.stderr_text
    assert geo_state(store) == whole


def test_geo_malformed_lines_capped(tmp_path):
    store = tmp_path / "db"
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0.0.0,1.0.0.255,AU\n" + "x,y\n" * 10000)
    proc = run(store, "geo", "load", "--force", bad)
    assert proc.returncode == 3, proc.stderr_text
    skipped = [line for line in proc.stderr_text.splitlines() if "line skipped" in line]
    assert len(skipped) == 10
    assert skipped[0].endswith(f"{bad}:2: expected start,end,country; line skipped")
    assert f"{bad}: ... and 9990 more malformed lines skipped" in proc.stderr_text
    assert len(proc.stderr_text.splitlines()) < 20
    assert "17 prefixes loaded" in proc.stderr_text


# --- agent ids ------------------------------------------------------------------------------

def wire_record(i):
    src = ipaddress.IPv6Address("::ffff:192.0.2.1").packed
    dst = ipaddress.IPv6Address("::ffff:198.51.100.7").packed
    return src + dst + RECORD_TAIL.pack(i, 443, 6, 0x12, 0, 0, 0, 1, 2, 120, FIRST_SEEN + i,
                                        FIRST_SEEN + i + 1000)


def test_wire_agent_id_rejected_and_escaped(tmp_path):
    store = tmp_path / "db"
    records = [wire_record(i) for i in range(3)]
    batches = [encode_batch("edge-1", 7, 1, records, flags=1),
               encode_batch(b"bad\tid", 7, 1, records, flags=1),
               encode_batch(b"bad\nid", 7, 1, records, flags=1),
               encode_batch(b"nul\0id", 7, 1, records, flags=1),
               encode_batch(b"\x1b[31mred", 7, 1, records, flags=1),
               encode_batch("edge-1", 7, 2, records)]
    offsets = [sum(len(b) for b in batches[:i]) for i in range(len(batches))]
    proc = run(store, "--input", "-", input=b"".join(batches))
    assert proc.returncode == 3, proc.stderr_text
    rule = "is not 1 to 255 letters, digits, '.', '_', ':' or '-'"
    for i, shown in ((1, r"bad\tid"), (2, r"bad\nid"), (3, r"nul\x00id"), (4, r"\x1b[31mred")):
        assert f'stdin: offset {offsets[i]}: batch rejected: agent id "{shown}" {rule}' in \
            proc.stderr_text
    # the log is never broken by an id: no raw control character in it
    assert not any(c in proc.stderr_text for c in "\t\0\x1b")
    assert all(line.startswith(("flowcollector:", "  ")) for line in proc.stderr_text.splitlines())
    counters = summary(proc.stderr_text)
    assert counters["messages_rejected"] == 4
    assert counters["rows_inserted"] == 6
    assert sql(store, "SELECT agent, count() FROM flows.raw GROUP BY agent") == [["edge-1", "6"]]


def test_json_agent_id_rejected_and_escaped(tmp_path):
    store = tmp_path / "db"
    lines = [json_line(0, agent_id="ok-1"),
             json_line(1, agent_id="ok-1").replace('"ok-1"', '"tab\there"'),
             json_line(2, agent_id="ok-1").replace('"ok-1"', '"ok\u0000-1"'),
             json_line(3, agent_id="ok-1")]
    data = ("\n".join(lines) + "\n").encode()
    assert b"\t" in data and b"\0" in data
    proc = run(store, "--input", "-", input=data)
    assert proc.returncode == 3, proc.stderr_text
    assert 'stdin:2: record rejected: agent id "tab\\there" is not 1 to 255' in proc.stderr_text
    assert "stdin:3: record rejected: a NUL byte in the line" in proc.stderr_text
    assert "\t" not in proc.stderr_text and "\0" not in proc.stderr_text
    assert summary(proc.stderr_text)["records_rejected"] == 2
    assert sql(store, "SELECT agent, count() FROM flows.raw GROUP BY agent") == [["ok-1", "2"]]


# --- unwritable embedded stores -------------------------------------------------------------

def assert_store_refused(proc, path, cause):
    assert proc.returncode == 1, proc.stderr_text
    assert f"cannot open the embedded ClickHouse at {path}: {cause}" in proc.stderr_text
    assert "another flowcollector" not in proc.stderr_text
    # libchdb's own text only with -v; ours is one line
    assert "DB::Exception" not in proc.stderr_text and "Code: " not in proc.stderr_text
    assert len(proc.stderr_text.strip().splitlines()) == 1, proc.stderr_text


def test_store_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("not a directory\n")
    store = tmp_path / "file" / "db"
    proc = run(store, "migrate")
    assert_store_refused(proc, store, f"cannot create the directory {store}: Not a directory")


@needs_root
def test_store_permission_denied():
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv")
    base = dir_for_nobody()
    try:
        store = os.path.join(base, "db")
        assert run(store, "migrate").returncode == 0
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        proc = run(store, "migrate", prefix=nobody)
        assert_store_refused(proc, store, f"cannot write in {store}: Permission denied")
        fresh = os.path.join(base, "sub", "db")
        proc = run(fresh, "migrate", prefix=nobody)
        assert_store_refused(proc, fresh,
                             f"cannot create the directory {os.path.join(base, 'sub')}: "
                             "Permission denied")
    finally:
        shutil.rmtree(base)


def dir_for_nobody():
    """A directory under /tmp that user 65534 can reach (pytest's tmp_path is root's, 0700)."""
    base = tempfile.mkdtemp(prefix="flowcollector-errors-")
    os.chmod(base, 0o755)
    return base


@needs_root
def test_store_read_only_filesystem(tmp_path):
    """A tmpfs of our own, remounted read-only, inside a private mount namespace."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    mount = tmp_path / "mnt"
    mount.mkdir()
    out = tmp_path / "out"
    script = (f"mount -t tmpfs flowtest {mount} && "
              f"{FLOWCOLLECTOR} --store embedded:{mount}/db migrate 2>/dev/null && "
              f"mount -o remount,ro {mount} && "
              f"{{ {FLOWCOLLECTOR} --store embedded:{mount}/db migrate 2>{out}.old; "
              f"echo $? > {out}.old.rc; "
              f"{FLOWCOLLECTOR} --store embedded:{mount}/new migrate 2>{out}.new; "
              f"echo $? > {out}.new.rc; }}")
    setup = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, timeout=120)
    if setup.returncode and not (tmp_path / "out.old.rc").exists():
        pytest.skip(f"cannot mount a tmpfs here: {setup.stderr.decode()[-300:]}")
    for name, cause in (("old", f"cannot write in {mount}/db: Read-only file system"),
                        ("new", f"cannot create the directory {mount}/new: "
                                "Read-only file system")):
        text = (tmp_path / f"out.{name}").read_text()
        assert (tmp_path / f"out.{name}.rc").read_text().strip() == "1", text
        assert f"cannot open the embedded ClickHouse at {mount}/{'db' if name == 'old' else 'new'}:" \
            f" {cause}" in text
        assert "another flowcollector" not in text and "DB::Exception" not in text


def test_store_locked_by_another_collector(tmp_path):
    store = tmp_path / "db"
    first = subprocess.Popen([FLOWCOLLECTOR, "--store", f"embedded:{store}", "--input", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (store / "flowcollector-wal").exists() and time.time() < deadline:
            assert first.poll() is None, first.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.2)
        second = run(store, "migrate")
        assert second.returncode == 1
        assert f"cannot open the embedded ClickHouse at {store}: {store}/status is locked: " \
            "another flowcollector (or ClickHouse) is using this store" in second.stderr_text
        assert "Code: 76" not in second.stderr_text
        assert len(second.stderr_text.strip().splitlines()) == 1
        first.stdin.write((json_line(0) + "\n").encode())
        first.stdin.close()
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert sql(store, "SELECT count() FROM flows.raw") == [["1"]]


# --- library noise --------------------------------------------------------------------------

def test_kafka_log_lines_only_with_verbose(tmp_path):
    """librdkafka's own lines (%3|...|FAIL|...) go through our logger: none without -v, where
    one line of ours says the cause; with -v they are there, in our format."""
    store = tmp_path / "db"
    quiet = run(store, "--kafka", "127.0.0.1:1", "--exit-idle", "2500", timeout=60)
    assert quiet.returncode == 0, quiet.stderr_text
    assert "%3|" not in quiet.stderr_text and "|FAIL|" not in quiet.stderr_text
    assert "kafka: FAIL:" not in quiet.stderr_text
    refused = [line for line in quiet.stderr_text.splitlines()
               if "Connect to ipv4#127.0.0.1:1 failed: Connection refused" in line]
    assert len(refused) == 1, quiet.stderr_text
    assert refused[0].startswith("flowcollector: kafka: ")
    verbose = run(store, "--kafka", "127.0.0.1:1", "--exit-idle", "2500", "-v", timeout=60)
    assert verbose.returncode == 0, verbose.stderr_text
    assert "%3|" not in verbose.stderr_text
    assert "flowcollector: kafka: FAIL: " in verbose.stderr_text


# --- the HTTP store -------------------------------------------------------------------------

class StandIn:
    """A stand-in ClickHouse HTTP server: reply(body, query) -> (status, headers, bytes); the
    schema's statements get an empty 200 and the schema check the columns it wants."""

    def __init__(self, reply=None, host="127.0.0.1"):
        import http.server

        self.urls, self.requests = [], 0
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.urls.append(self.path)
                stand_in.requests += 1
                status, headers, data = 200, {}, b""
                if b"FROM system.columns" in body:
                    data = b"raw.batch_run\nbatches.batch_crc\nproto_1m.received\n"
                elif reply:
                    status, headers, data = reply(body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, *args, password=None):
        cmd = [FLOWCOLLECTOR, "--clickhouse", self.url]
        if password:
            cmd += ["--clickhouse-user", "flows", "--clickhouse-password-file", str(password)]
        proc = subprocess.run([*cmd, *args], capture_output=True, timeout=60)
        proc.stderr_text = proc.stderr.decode(errors="replace")
        return proc

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def password(tmp_path):
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    os.chmod(path, 0o600)
    return path


def test_http_multiline_error_kept_whole(password):
    message = (b"Code: 62. DB::Exception: Syntax error: failed at position 1 ('SELEC'):\n\n"
               b"SELEC 1\n\nExpected one of: Query, SELECT, EXPLAIN. (SYNTAX_ERROR) "
               b"(version 24.8.4.13 (official build))\n")

    def reply(body):
        return (400, {"X-ClickHouse-Exception-Code": "62"}, message) if b"SELEC 1" in body \
            else (200, {}, b"")
    server = StandIn(reply)
    try:
        proc = server.run("sql", "SELEC 1", password=password)
    finally:
        server.close()
    assert proc.returncode == 1, proc.stderr_text
    assert "ClickHouse: Code: 62. DB::Exception: Syntax error: failed at position 1 ('SELEC'):" \
        "\n\nSELEC 1\n\nExpected one of: Query, SELECT, EXPLAIN. (SYNTAX_ERROR) (version " \
        "24.8.4.13 (official build))\n" in proc.stderr_text
    assert "s3cret" not in proc.stderr_text
    # every query waits for its end before the status: a late error is an HTTP error
    assert server.urls and all(
        urllib.parse.parse_qs(urllib.parse.urlparse(u).query).get("wait_end_of_query") == ["1"]
        for u in server.urls)


def test_http_exception_header_on_200(password):
    def reply(body):
        if b"FROM flows.big" in body:
            return (200, {"X-ClickHouse-Exception-Code": "241"},
                    b"1\n2\nCode: 241. DB::Exception: Memory limit (total) exceeded. "
                    b"(MEMORY_LIMIT_EXCEEDED)\n")
        return 200, {}, b""
    server = StandIn(reply)
    try:
        proc = server.run("sql", "SELECT n FROM flows.big", password=password)
    finally:
        server.close()
    assert proc.returncode == 1, proc.stderr_text
    assert "ClickHouse: Code: 241. DB::Exception: Memory limit (total) exceeded. " \
        "(MEMORY_LIMIT_EXCEEDED)" in proc.stderr_text
    assert proc.stdout == b""  # no partial result taken for a whole one


def test_http_exception_trailer_in_200_body(password):
    def reply(body):
        if b"FROM flows.big" in body:
            return 200, {}, b"1\n2\nCode: 160. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)\n"
        return 200, {}, b""
    server = StandIn(reply)
    try:
        proc = server.run("sql", "SELECT n FROM flows.big", password=password)
    finally:
        server.close()
    assert proc.returncode == 1, proc.stderr_text
    assert "ClickHouse (after the result began): Code: 160. DB::Exception: Timeout exceeded." \
        in proc.stderr_text
    assert proc.stdout == b""


def test_http_password_warning_off_loopback(password):
    """The warning goes by the URL's host name: only localhost, 127.0.0.1 and [::1] are this
    machine by name. 127.0.0.2 is loopback too on Linux, but not by that rule."""
    warning = "the password goes over the network unencrypted (http://); use https://"
    local = StandIn()
    try:
        proc = local.run("sql", "SELECT 1", password=password)
        assert proc.returncode == 0, proc.stderr_text
        assert warning not in proc.stderr_text
    finally:
        local.close()
    try:
        remote = StandIn(host="127.0.0.2")
    except OSError as e:
        pytest.skip(f"cannot bind 127.0.0.2: {e}")
    try:
        proc = remote.run("sql", "SELECT 1", password=password)
        assert proc.returncode == 0, proc.stderr_text
        lines = [line for line in proc.stderr_text.splitlines() if warning in line]
        assert lines == [f"flowcollector: warning: --clickhouse {remote.url.rstrip('/')}: "
                         f"{warning}"]
        assert "s3cret" not in proc.stderr_text
        # without a password there is nothing to warn of
        proc = remote.run("sql", "SELECT 1")
        assert proc.returncode == 0 and warning not in proc.stderr_text
    finally:
        remote.close()


def test_http_password_file_mode_refused(password):
    os.chmod(password, 0o644)
    server = StandIn()
    try:
        proc = server.run("sql", "SELECT 1", password=password)
    finally:
        server.close()
    assert proc.returncode == 1
    assert f"--clickhouse-password-file refused: {password} has mode 0644: users other " \
        "than its owner have access to it; chmod 600 it" in proc.stderr_text
    assert "s3cret" not in proc.stderr_text
    assert server.requests == 0  # nothing sent


def test_input_gives_up_when_the_store_stays_away(tmp_path):
    """--input with a store that refuses every insert: after --insert-retry-timeout the run
    stops with exit 1 and says why, instead of retrying forever; once the store is back, the
    same input stores every row, once."""
    store = tmp_path / "db"
    fault = tmp_path / "inserts-fail"
    fault.write_text("")
    lines = "".join(json_line(i, batch_seq=1, agent_id="retry") + "\n" for i in range(5))
    failed = run(store, "ingest", "--input", "-", "--insert-retry-timeout", "2",
                 input=lines.encode(), env={"FLOWCOLLECTOR_TEST_FAIL_INSERTS_WHILE": str(fault)})
    assert failed.returncode == 1, failed.stderr_text
    assert re.search(r"giving up: the rows could not be stored for \d+ s "
                     r"\(--insert-retry-timeout 2\)", failed.stderr_text), failed.stderr_text
    fault.unlink()
    again = run(store, "ingest", "--input", "-", input=lines.encode())
    assert again.returncode == 0, again.stderr_text
    assert sql(store, "SELECT count(), sum(packets) FROM flows.raw") == [["5", str(sum(
        2 + i for i in range(5)))]]
