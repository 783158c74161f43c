# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""flowcollector against the real ClickHouse engine (libchdb, embedded) and a real Kafka
broker: the schema, every view against the generator's truth, end to end through Kafka with a
kill -9 of the collector, and bad input."""
import collections
import ipaddress
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import BUILD, FLOWAGENT, ROOT, TRACEGEN, replay
import wire
from conftest import summary_counters as summary
from kafka_fixtures import kafka_broker  # noqa: F401  (a fixture)

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")


def collector(store, *args, input=None, timeout=300, check=True):
    cmd = [FLOWCOLLECTOR, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{cmd} died from signal {-proc.returncode}: " \
        f"{proc.stderr_text[-3000:]}"
    if check:
        assert proc.returncode == 0, proc.stderr_text[-3000:]
    return proc


def sql(store, query):
    out = collector(store, "sql", query).stdout.decode()
    return [line.split("\t") for line in out.splitlines()]


def view(store, name, *args):
    """A view's rows as dicts, through `query VIEW --tsv`."""
    out = collector(store, "query", name, "--tsv", *args).stdout.decode().splitlines()
    header = out[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in out[1:]]


def dbip_csv_from_regions(path):
    """tracegen's region plan as a DB-IP lite CSV (start,end,country), for `geo load`."""
    plan = subprocess.run([TRACEGEN, "--list-regions"], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.splitlines()[1:]
    with open(path, "w") as out:
        for line in plan:
            prefix, code, _ = line.split(",", 2)
            net = ipaddress.ip_network(prefix)
            out.write(f"{net[0]},{net[-1]},{code}\n")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A 3-day trace replayed into an embedded store, with geolocation from its region plan."""
    d = tmp_path_factory.mktemp("collector")
    pcap, truth = d / "trace.pcap", d / "summary.json"
    subprocess.run([TRACEGEN, "--packets", "300000", "--days", "3", "--window", "300",
                    "--seed", "5", "--output", str(pcap), "--summary-json", str(truth),
                    "--quiet"], check=True)
    flows = replay([pcap])
    assert flows.rc == 0
    store = d / "flowdb"
    lines = "".join(json.dumps(r) + "\n" for r in flows.records).encode()
    proc = collector(store, "--input", "-", "--input-agent", "trace", input=lines)
    assert summary(proc.stderr_text)["rows_inserted"] == len(flows.records)
    geo = d / "regions.csv"
    dbip_csv_from_regions(geo)
    collector(store, "geo", "load", geo)
    return store, flows, json.loads(truth.read_text())


def test_schema_applies_twice(tmp_path):
    store = tmp_path / "db"
    first = collector(store, "migrate", "-v")
    assert "applied 001_" in first.stderr_text
    again = collector(store, "migrate", "--reapply", "-v")
    files = sorted(p.name for p in (ROOT / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    for name in files:
        assert f"applied {name}" in again.stderr_text
    versions = sql(store, "SELECT version, count() FROM flows.schema_migrations "
                          "GROUP BY version ORDER BY version")
    assert [int(v) for v, n in versions] == [int(f[:3]) for f in files]
    assert all(int(n) == 2 for _, n in versions)


def test_totals_exact(loaded):
    store, flows, truth = loaded
    [[rows, packets, nbytes]] = sql(store, "SELECT count(), sum(packets), sum(bytes) FROM flows.raw")
    assert int(rows) == len(flows.records)
    assert int(packets) == truth["packets"]
    assert int(nbytes) == truth["bytes"]


def test_daily_views_equal_truth(loaded):
    store, _, truth = loaded
    daily = {r["day"]: r for r in view(store, "daily_packets")}
    for day in truth["per_day"]:
        assert int(daily[day["date"]]["packets"]) == day["packets"]
        assert int(daily[day["date"]]["bytes"]) == day["bytes"]
    by_proto = collections.defaultdict(int)
    for r in view(store, "daily_bandwidth_by_proto"):
        by_proto[(r["day"], r["proto"])] = int(r["bytes"])
    for day in truth["per_day"]:
        assert by_proto[(day["date"], "TCP")] == day["tcp_bytes"]
        assert by_proto[(day["date"], "UDP")] == day["udp_bytes"]


def test_protocol_share_equals_truth(loaded):
    store, _, truth = loaded
    for measure in ("bytes", "packets"):
        rows = {r["proto"]: r for r in view(store, f"proto_share_{measure}")}
        for name, key in (("TCP", "tcp"), ("UDP", "udp"), ("ICMP", "icmp"), ("ICMPv6", "icmpv6")):
            assert int(rows[name][measure]) == truth["protocols"][key][measure]
        assert abs(sum(float(r["share_percent"]) for r in rows.values()) - 100) < 0.05


def test_top_ports_equal_records(loaded):
    """Ports from the view equal the same rule applied to the agent's records."""
    store, flows, truth = loaded
    for measure in ("bytes", "packets"):
        rows = view(store, f"top_ports_{measure}")
        assert len(rows) == 10
        values = [int(r[measure]) for r in rows]
        assert values == sorted(values, reverse=True)
        top = rows[0]
        assert (top["proto"], int(top["port"])) in (("TCP", 443), ("UDP", 443))


def test_top_regions_equal_truth(loaded):
    store, _, truth = loaded
    for measure in ("bytes", "packets"):
        rows = view(store, f"top_regions_{measure}")
        expected = {r["code"]: r[measure] for r in truth["src_regions"]}
        assert rows, "no regions"
        for r in rows:
            assert int(r[measure]) == expected[r["country_code"]], r
        assert rows[0]["country_code"] == max(expected, key=expected.get)


def test_region_map_has_coordinates(loaded):
    store, _, _ = loaded
    rows = view(store, "region_map")
    assert rows
    jp = [r for r in rows if r["country_code"] == "JP"]
    assert jp and 30 < float(jp[0]["latitude"]) < 40 and 130 < float(jp[0]["longitude"]) < 145


def test_time_range(loaded):
    store, _, truth = loaded
    first_day = truth["per_day"][0]
    rows = view(store, "daily_packets", "--from", first_day["date"], "--to",
                truth["per_day"][1]["date"])
    assert [r["day"] for r in rows] == [first_day["date"]]
    assert int(rows[0]["packets"]) == first_day["packets"]


def test_bad_input_counted_and_skipped(tmp_path):
    store = tmp_path / "db"
    good = {"src_addr": "192.0.2.1", "dst_addr": "2001:db8::1", "src_port": 1, "dst_port": 2,
            "proto": 6, "vlan": 0, "packets": 3, "bytes": 300, "tcp_flags": 2,
            "first_seen_ns": 1767589200000000000, "last_seen_ns": 1767589201000000000,
            "sampling": 1, "ifindex": 0, "direction": "ingress"}
    impossible = dict(good, packets=0)
    backwards = dict(good, last_seen_ns=1)
    lines = [json.dumps(good), "this is not json", json.dumps(impossible),
             '{"src_addr": "999.1.1.1"}', json.dumps(backwards), json.dumps(good)]
    proc = collector(store, "--input", "-", input=("\n".join(lines) + "\n").encode(),
                     check=False)
    assert proc.returncode == 3, proc.stderr_text
    assert "stdin:2: record rejected: not a JSON object" in proc.stderr_text
    assert "stdin:3: record rejected: impossible values" in proc.stderr_text
    assert "stdin:4: record rejected:" in proc.stderr_text
    assert summary(proc.stderr_text)["records_rejected"] == 4
    assert sql(store, "SELECT count(), sum(packets) FROM flows.raw") == [["2", "6"]]


def test_garbage_wire_input(tmp_path):
    store = tmp_path / "db"
    proc = collector(store, "--input", "-", input=b"FLWB" + b"\x00" * 100, check=False)
    assert proc.returncode == 3
    assert "not a flow batch" in proc.stderr_text or "rejected" in proc.stderr_text


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return None
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_kafka_end_to_end_with_kill9(kafka_broker, tmp_path):
    """Agent -> Kafka -> collector -> embedded ClickHouse; the collector is killed with
    SIGKILL mid-stream and restarted: row count, packets and bytes stay exact."""
    pcap = tmp_path / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "200000", "--days", "1", "--window", "120", "--seed",
                    "9", "--output", str(pcap), "--quiet"], check=True)
    expected = replay([pcap])
    topic = "e2e"
    kafka_broker.create_topic(topic, partitions=2)
    agent = subprocess.run([FLOWAGENT, "--replay", "--no-progress", "--kafka",
                            kafka_broker.bootstrap, "--topic", topic, "--agent-id", "e2e-1",
                            "--batch-records", "200", str(pcap)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert agent.returncode == 0, agent.stderr.decode()[-2000:]
    batches = summary(agent.stderr.decode())["kafka_batches_delivered"]

    store = tmp_path / "db"
    port = 19466
    first = subprocess.Popen([FLOWCOLLECTOR, "--store", f"embedded:{store}", "--kafka",
                              kafka_broker.bootstrap, "--topic", topic, "--batch-rows", "2000",
                              "--metrics", str(port), "-X", "session.timeout.ms=6000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            inserted = metric(port, "flowcollector_rows_inserted_total")
            if inserted and inserted >= 5000:
                break
            assert first.poll() is None, first.stderr.read().decode()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert inserted and inserted < len(expected.records), "killed too late to test anything"

    # the killed member holds its partitions until its session times out (6 s)
    second = collector(store, "--kafka", kafka_broker.bootstrap, "--topic", topic,
                       "--exit-idle", "15000", "-X", "session.timeout.ms=6000", "-v")
    [[rows, packets, nbytes, seqs]] = sql(
        store, "SELECT count(), sum(packets), sum(bytes), uniqExact(agent, batch_seq) "
               "FROM flows.raw")
    assert int(rows) == len(expected.records)
    assert int(packets) == sum(r["packets"] for r in expected.records)
    assert int(nbytes) == sum(r["bytes"] for r in expected.records)
    assert int(seqs) == batches
    counters = summary(second.stderr_text)
    # what the first run stored and committed or not, the second skipped or stored
    assert counters["batches_missing"] == 0


def test_history_spanning_many_days(tmp_path):
    """A replayed archive of 150 days in one insert, then geolocation over all of it:
    ClickHouse's default limit of 100 partitions per insert must not stop either."""
    store = tmp_path / "db"
    day = 86400 * 10**9
    base = 1767571200 * 10**9
    lines = []
    for i in range(150):
        lines.append(json.dumps({"src_addr": "1.0.0.1", "dst_addr": "2001:2::1", "src_port": 40000,
                                 "dst_port": 443, "proto": 6, "vlan": 0, "packets": 2,
                                 "bytes": 120 + i, "tcp_flags": 2,
                                 "first_seen_ns": base + i * day,
                                 "last_seen_ns": base + i * day + 1000}))
    collector(store, "--input", "-", input=("\n".join(lines) + "\n").encode())
    geo = tmp_path / "geo.csv"
    geo.write_text("1.0.0.0,1.0.0.255,AU\n2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n")
    collector(store, "geo", "load", geo)
    assert sql(store, "SELECT count(), uniqExact(toDate(first_seen)) FROM flows.raw") == \
        [["150", "150"]]
    rows = view(store, "top_regions_packets")
    assert [(r["country_code"], r["packets"]) for r in rows] == [("AU", "300")]
    assert len(view(store, "daily_packets")) == 150


def spooled_batches(tmp_path, pcap, agent_id, spool):
    """The agent's wire batches, captured through its spool (Kafka unreachable)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([FLOWAGENT, "--replay", "--no-progress", "--kafka", f"127.0.0.1:{port}",
                    "--agent-id", agent_id, "--batch-records", "100", "--spool-dir", str(spool),
                    "--flush-timeout", "0", str(pcap)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    return [payload for _, payload in wire.read_spool_dir(spool)]


def test_gaps_restarts_and_late_batches(tmp_path):
    pcap = tmp_path / "t.pcap"
    subprocess.run([TRACEGEN, "--packets", "5000", "--days", "1", "--window", "30", "--seed", "3",
                    "--output", str(pcap), "--quiet"], check=True)
    first = spooled_batches(tmp_path, pcap, "gap-1", tmp_path / "spool1")
    assert len(first) >= 6
    store = tmp_path / "db"
    # batch 3 is missing: a gap of one
    missing = first[3]
    proc = collector(store, "--input", "-", input=b"".join(first[:3] + first[4:]))
    assert "agent gap-1: 1 batches missing" in proc.stderr_text
    assert summary(proc.stderr_text)["batches_missing"] == 1
    # the same batches again: all skipped; then the missing one arrives late
    proc = collector(store, "--input", "-", input=b"".join(first))
    counters = summary(proc.stderr_text)
    assert counters["duplicate_batches"] == len(first) - 1
    assert counters["batches"] == 1
    # a second run of the agent without a spool: its numbers jump, flagged as a restart
    second = spooled_batches(tmp_path, pcap, "gap-1", tmp_path / "spool2")
    proc = collector(store, "--input", "-", "-v", input=b"".join(second))
    counters = summary(proc.stderr_text)
    assert counters["batches_missing"] == 0
    assert counters["agent_restarts"] == 1
    assert "agent gap-1 restarted" in proc.stderr_text


def test_http_store_transport(tmp_path):
    """The HTTP store's side of the protocol, against a stand-in that records what a ClickHouse
    server would receive: statements as POST bodies, inserts as RowBinary with the query in the
    URL, the user and password in headers (never in the URL), and errors reported with the
    server's message. (The engine itself is tested through the embedded store.)"""
    import http.server
    import threading
    import urllib.parse

    seen = {"statements": [], "inserts": [], "headers": set(), "urls": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("query")
            seen["urls"].append(self.path)
            seen["headers"].add((self.headers.get("X-ClickHouse-User"),
                                 self.headers.get("X-ClickHouse-Key")))
            if query:
                seen["inserts"].append((query[0], body))
                reply = b""
            else:
                seen["statements"].append(body.decode())
                if b"no_such_table" in body:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"Code: 60. DB::Exception: Table flows.no_such_table does "
                                     b"not exist. (UNKNOWN_TABLE)\n")
                    return
                # the schema check: the columns this version needs are there
                reply = (b"raw.batch_run\nbatches.batch_crc\nproto_1m.received\n"
                         if b"FROM system.columns" in body else b"")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(reply)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    os.chmod(password, 0o600)
    good = {"src_addr": "192.0.2.1", "dst_addr": "192.0.2.2", "src_port": 1, "dst_port": 2,
            "proto": 17, "packets": 1, "bytes": 60, "first_seen_ns": 1767589227000000000,
            "last_seen_ns": 1767589227000000000}
    lines = "".join(json.dumps(dict(good, src_port=i)) + "\n" for i in range(3)).encode()
    try:
        cmd = [FLOWCOLLECTOR, "--clickhouse", url, "--clickhouse-user", "flows",
               "--clickhouse-password-file", str(password)]
        proc = subprocess.run([*cmd, "--input", "-", "--input-agent", "h"], input=lines,
                              capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        assert seen["headers"] == {("flows", "s3cret")}
        assert not any("s3cret" in u for u in seen["urls"])
        assert any("CREATE TABLE IF NOT EXISTS flows.raw" in s for s in seen["statements"])
        # the rows, then the ledger's row for their batch, each a part with its own token
        # records without a batch identity (plain JSON lines): one part, no ledger row
        [(query, body)] = seen["inserts"]
        assert query.startswith("INSERT INTO flows.raw (agent, batch_run, batch_seq, src_addr")
        assert "insert_deduplication_token = 'flowcollector-" in query
        assert query.endswith("FORMAT RowBinary")
        # agent "h", batch_run, batch_seq, the wire record
        assert len(body) == 3 * (1 + 1 + 8 + 8 + 81)
        # a view's time range travels as query parameters, never pasted into the SQL
        seen["urls"].clear()
        seen["statements"].clear()
        view = subprocess.run([*cmd, "query", "daily_packets", "--from", "2026-01-05",
                               "--to", "2026-01-06", "--agent", "a b&c", "--direction",
                               "egress", "--tsv"], capture_output=True, timeout=60)
        assert view.returncode == 0, view.stderr.decode()
        [view_url] = [u for u in seen["urls"] if "param_" in u]
        params = urllib.parse.parse_qs(urllib.parse.urlparse(view_url).query)
        assert params["param_from"] == ["1767571200"]
        assert params["param_to"] == ["1767657600"]
        [view_sql] = [s for s in seen["statements"] if s.endswith("FORMAT TSVWithNames")]
        assert params["param_agent"] == ["a b&c"]
        assert params["param_direction"] == ["egress"]
        assert ("flows.proto_range(from = {from:UInt32}, to = {to:UInt32}, "
                "agent = {agent:String},") in " ".join(view_sql.split())
        assert "1767571200" not in view_sql and "a b&c" not in view_sql
        failed = subprocess.run([*cmd, "sql", "SELECT * FROM flows.no_such_table"],
                                capture_output=True, timeout=60)
        assert failed.returncode == 1
        assert b"Table flows.no_such_table does not exist" in failed.stderr
        assert b"s3cret" not in failed.stderr
    finally:
        server.shutdown()


def test_kafka_configuration_errors(tmp_path):
    config = tmp_path / "kafka.properties"
    config.write_text("# comment\nbootstrap.servers=127.0.0.1:1\nsasl.password=hunter2\nno equals\n")
    os.chmod(config, 0o600)
    proc = collector(tmp_path / "db", "--kafka", "127.0.0.1:1", "--kafka-config", config,
                     check=False)
    assert proc.returncode == 2
    assert f"{config}:4: expected key=value" in proc.stderr_text
    assert "hunter2" not in proc.stderr_text
    proc = collector(tmp_path / "db", "--kafka", "127.0.0.1:1", "-X", "sasl.password=hunter2",
                     check=False)
    assert proc.returncode == 2
    assert "secrets never go on the command line" in proc.stderr_text
    assert "hunter2" not in proc.stderr_text
