# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""flowcollector's read-only ClickHouse HTTP interface (docs/endpoint.md) with real clients,
clickhouse-connect 1.12.0 and clickhouse-go v2, while the collector ingests from a real Kafka
broker into the same embedded store. The numbers come from the agent's records and tracegen's
truth, exactly.

Cases:
  test_reads_while_ingesting     three traces through Kafka one after the other; after each,
                                 the counts read over HTTP equal the records sent so far,
                                 with queries in parallel during the inserts
  test_typed_columns             DateTime, UInt64, IPv6 and String from flows.raw
  test_setting_and_parameter     a setting and a query parameter
  test_errors                    an unknown table (Code 60, HTTP 404), a syntax error,
                                 multi-statements, file() refused, ClickHouse's error body
  test_inserts_refused           INSERT (lz4 body), CREATE, DROP, ALTER: Code 164, nothing
                                 written
  test_authentication            wrong and missing password refused (516, HTTP 403); headers,
                                 HTTP Basic and URL parameters accepted
  test_compression               gzip responses (compress=True), a gzip request body
  test_limits                    execution time, result bytes, concurrent queries (202, 503)
  test_headers_and_ping          /ping, the X-ClickHouse-* headers, the query log
  test_clickhouse_go             the Go client (HTTP protocol) reads the same numbers
  test_stop_and_serve            SIGTERM ends the collector with everything stored; `serve`
                                 then serves the same store, and stops on SIGTERM
  test_bad_options               usage errors, exit 2
"""
import base64
import concurrent.futures
import datetime
import gzip
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import BUILD, FLOWAGENT, ROOT, TRACEGEN, replay
from conftest import summary_counters as summary
from kafka_fixtures import kafka_broker  # noqa: F401  (a fixture)

clickhouse_connect = pytest.importorskip(
    "clickhouse_connect", reason="clickhouse-connect is not installed (make deps installs it)")
from clickhouse_connect.driver.exceptions import DatabaseError  # noqa: E402

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
GO_CLIENT_DIR = ROOT / "tests" / "integration" / "clickhouse_go"
USER, PASSWORD = "reader", "s3cret-for-the-test"
MAX_EXECUTION_TIME_S, MAX_RESULT_BYTES, MAX_CONCURRENT = 3, 1000000, 2
SEEDS = (21, 22, 23)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def http(port, query=None, body=None, params=None, headers=None, auth=True):
    """One raw request: (status, headers, body bytes)."""
    params = dict(params or {})
    if query is not None:
        params["query"] = query
    url = f"http://127.0.0.1:{port}/?{urllib.parse.urlencode(params)}"
    headers = dict(headers or {})
    if auth:
        headers.setdefault("X-ClickHouse-User", USER)
        headers.setdefault("X-ClickHouse-Key", PASSWORD)
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Ingesting:
    """A collector consuming a Kafka topic into an embedded store, serving --http."""

    def __init__(self, broker, directory):
        self.broker, self.dir = broker, directory
        self.port = free_port()
        self.store = directory / "flowdb"
        self.password_file = directory / "password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.topic = "http-endpoint"
        broker.create_topic(self.topic, partitions=2)
        self.traces = []
        for seed in SEEDS:
            pcap, truth = directory / f"trace{seed}.pcap", directory / f"truth{seed}.json"
            subprocess.run([TRACEGEN, "--packets", "40000", "--days", "1", "--window", "60",
                            "--seed", str(seed), "--output", str(pcap), "--summary-json",
                            str(truth), "--quiet"], check=True)
            records = replay([pcap]).records
            truth = json.loads(truth.read_text())
            assert sum(r["packets"] for r in records) == truth["packets"]
            assert sum(r["bytes"] for r in records) == truth["bytes"]
            self.traces.append((pcap, records, truth))
        self.sent = []  # records produced so far
        self.produced = 0  # traces produced
        self.batches = 0  # batches the agents delivered
        self.stderr_path = directory / "collector.stderr"
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [FLOWCOLLECTOR, "--store", f"embedded:{self.store}", "--kafka", broker.bootstrap,
             "--topic", self.topic, "--batch-rows", "1000", "--batch-ms", "200",
             "--http", str(self.port), "--http-user", USER,
             "--http-password-file", str(self.password_file),
             "--http-max-execution-time", str(MAX_EXECUTION_TIME_S),
             "--http-max-result-bytes", str(MAX_RESULT_BYTES),
             "--http-max-concurrent", str(MAX_CONCURRENT), "-v"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        wait_for(self.ready, 60, "the HTTP endpoint")

    def ready(self):
        assert self.proc.poll() is None, self.log()[-3000:]
        try:
            return http(self.port, auth=False)[2] == b"Ok.\n"
        except OSError:
            return False

    def log(self):
        return self.stderr_path.read_text(errors="replace")

    def client(self, **kwargs):
        kwargs.setdefault("compress", True)
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, username=USER,
                                             password=PASSWORD, **kwargs)

    def produce(self, index):
        pcap, records, _ = self.traces[index]
        agent = subprocess.run(
            [FLOWAGENT, "--replay", "--no-progress", "--kafka", self.broker.bootstrap,
             "--topic", self.topic, "--agent-id", f"http-{index}", "--batch-records", "500",
             str(pcap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert agent.returncode == 0, agent.stderr.decode()[-2000:]
        self.batches += summary(agent.stderr.decode())["kafka_batches_delivered"]
        self.sent.extend(records)
        self.produced = index + 1

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def ingesting(kafka_broker, tmp_path_factory):  # noqa: F811  (the fixture)
    run = Ingesting(kafka_broker, tmp_path_factory.mktemp("http_endpoint"))
    try:
        yield run
    finally:
        run.stop()


def totals(records):
    return (len(records), sum(r["packets"] for r in records), sum(r["bytes"] for r in records))


def read_totals(client):
    [row] = client.query("SELECT count(), sum(packets), sum(bytes) FROM flows.raw").result_rows
    return tuple(row)


def all_ingested(run):
    """The module's tests after the first need all three traces stored."""
    for index in range(run.produced, len(run.traces)):
        run.produce(index)
    client = run.client()
    expected = totals(run.sent)
    wait_for(lambda: read_totals(client) == expected, 120, f"{expected} in flows.raw")
    return client


def test_reads_while_ingesting(ingesting):
    client, plain = ingesting.client(), ingesting.client(compress=False)
    assert read_totals(client) == (0, 0, 0)
    seen, partial = [], []
    for index in range(len(SEEDS)):
        before = len(ingesting.sent)
        expected = totals(ingesting.sent + ingesting.traces[index][1])
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            # the agent sends while two readers read beside the collector's inserts
            agent = pool.submit(ingesting.produce, index)

            def current():
                a, b = pool.map(read_totals, (client, plain))
                seen.append(a[0])
                if before < a[0] < expected[0]:
                    partial.append(a[0])
                return agent.done() and a == expected and b == expected

            wait_for(current, 120, f"trace {index}: {expected} in flows.raw")
            agent.result()
    # counts only grow, each answer a consistent view of a store being written, and some
    # answers came while a trace was half stored
    assert seen == sorted(seen)
    assert seen[-1] == len(ingesting.sent)
    assert partial, f"no read saw a trace half stored: {seen}"
    [[batches]] = client.query("SELECT uniqExact(agent, batch_run, batch_seq) "
                               "FROM flows.raw").result_rows
    assert batches == ingesting.batches


def test_typed_columns(ingesting):
    client = all_ingested(ingesting)
    records = ingesting.sent
    first_ns = min(r["first_seen_ns"] for r in records)
    result = client.query("SELECT toDateTime(min(first_seen)) AS first, "
                          "max(bytes) AS most, toString(any(agent)) AS agent FROM flows.raw")
    [(first, most, agent)] = result.result_rows
    assert [t.name for t in result.column_types] == ["DateTime", "UInt64", "String"]
    assert first == datetime.datetime.fromtimestamp(first_ns // 10**9, datetime.timezone.utc) \
        .replace(tzinfo=None)
    assert most == max(r["bytes"] for r in records)
    assert agent.startswith("http-")

    def v6(text):
        address = ipaddress.ip_address(text)
        return ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed) \
            if address.version == 4 else address

    flows_by_source = {}
    for r in records:
        flows_by_source[v6(r["src_addr"])] = flows_by_source.get(v6(r["src_addr"]), 0) + 1
    most_flows = max(flows_by_source.values())
    result = client.query("SELECT src_addr, count() AS flows FROM flows.raw GROUP BY src_addr "
                          "ORDER BY flows DESC LIMIT 1")
    assert [t.name for t in result.column_types] == ["IPv6", "UInt64"]
    [(address, flows)] = result.result_rows
    assert flows == most_flows
    assert flows_by_source[v6(str(address))] == most_flows
    agents = client.query("SELECT DISTINCT toString(agent) FROM flows.raw ORDER BY 1").result_rows
    assert agents == [(f"http-{i}",) for i in range(len(SEEDS))]


def test_setting_and_parameter(ingesting):
    client = all_ingested(ingesting)
    records = ingesting.sent
    https = sum(1 for r in records if r["dst_port"] == 443)
    assert https > 0
    result = client.query("SELECT count() FROM flows.raw WHERE dst_port = {port:UInt16}",
                          parameters={"port": 443})
    assert result.result_rows == [(https,)]
    result = client.query("SELECT toString(getSetting('max_result_rows'))",
                          settings={"max_result_rows": 7})
    assert result.result_rows == [("7",)]
    # the setting stays with its request: the next one sees the default again
    assert client.query("SELECT toString(getSetting('max_result_rows'))").result_rows == [("0",)]
    with pytest.raises(DatabaseError) as refused:
        client.query("SELECT number FROM numbers(10)", settings={"max_result_rows": 3})
    assert "code: 396" in str(refused.value)
    # the database of a client, and of its request only
    in_flows = ingesting.client(database="flows")
    assert in_flows.query("SELECT count() FROM raw").result_rows == [(len(records),)]
    assert client.query("SELECT currentDatabase()").result_rows == [("default",)]
    status, headers, _ = http(ingesting.port, "SELECT 1", params={"database": "nosuch"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "81")
    # a setting from the URL through the raw interface, with default_format
    status, headers, body = http(ingesting.port, "SELECT 1 AS one",
                                 params={"default_format": "JSONEachRow"})
    assert (status, body, headers["X-ClickHouse-Format"]) == (200, b'{"one":1}\n', "JSONEachRow")


def test_errors(ingesting):
    client = ingesting.client()
    with pytest.raises(DatabaseError) as unknown:
        client.query("SELECT * FROM flows.nosuch")
    assert "code: 60" in str(unknown.value)
    status, headers, body = http(ingesting.port, "SELECT * FROM flows.nosuch")
    assert status == 404
    assert headers["X-ClickHouse-Exception-Code"] == "60"
    assert body.startswith(b"Code: 60. DB::Exception: ")
    assert b"(UNKNOWN_TABLE) (version 26." in body
    status, headers, body = http(ingesting.port, "SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    status, headers, body = http(ingesting.port, "SELECT 1; DROP TABLE flows.raw")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    assert b"Multi-statements are not allowed" in body
    status, headers, body = http(ingesting.port,
                                 "SELECT * FROM file('/etc/passwd', 'LineAsString')")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "497")
    status, headers, body = http(ingesting.port, "SELECT 1 FORMAT Protobuf SETTINGS "
                                 "output_format_schema = '/tmp/flowcollector-http-test-schema'")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "452")
    status, headers, body = http(ingesting.port, "SELECT 1", params={"format_schema": "x:M"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "452")
    assert not os.path.exists("/tmp/flowcollector-http-test-schema")
    assert http(ingesting.port, "EXISTS TABLE flows.raw")[2] == b"1\n"


def test_inserts_refused(ingesting):
    client = all_ingested(ingesting)
    before = read_totals(client)
    with pytest.raises(DatabaseError) as refused:
        # clickhouse-connect sends the statement and its data in one lz4 body
        client.insert("flows.raw", [["x", 1]], column_names=["agent", "packets"])
    assert "code: 164" in str(refused.value)
    for statement in ("INSERT INTO flows.raw (agent) VALUES ('x')",
                      "CREATE TABLE flows.evil (x UInt8) ENGINE = Memory",
                      "DROP TABLE flows.raw", "ALTER TABLE flows.raw DELETE WHERE 1",
                      "TRUNCATE TABLE flows.raw", "KILL QUERY WHERE 1",
                      "SELECT 1 INTO OUTFILE '/tmp/flowcollector-http-test-outfile'"):
        with pytest.raises(DatabaseError) as refused:
            client.command(statement)
        assert "code: 164" in str(refused.value), statement
        status, headers, _ = http(ingesting.port, statement)
        assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "164"), statement
    assert not os.path.exists("/tmp/flowcollector-http-test-outfile")
    assert read_totals(client) == before
    # the query log says who was refused what
    assert f"http: user {USER} query " in ingesting.log()
    assert "code 164, " in ingesting.log()
    assert " sent: INSERT INTO flows.raw (agent) VALUES ('x')\n" in ingesting.log()
    assert client.query("EXISTS TABLE flows.evil").result_rows == [(0,)]


def test_authentication(ingesting):
    for password in ("wrong", ""):
        with pytest.raises(DatabaseError) as refused:
            clickhouse_connect.get_client(host="127.0.0.1", port=ingesting.port,
                                          username=USER, password=password)
        assert "code: 516" in str(refused.value)
    status, headers, body = http(ingesting.port, "SELECT 1", auth=False)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")
    assert b"Authentication failed" in body
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert http(ingesting.port, "SELECT 2", auth=False,
                headers={"Authorization": f"Basic {basic}"})[:3:2] == (200, b"2\n")
    assert http(ingesting.port, "SELECT 3", auth=False,
                params={"user": USER, "password": PASSWORD})[:3:2] == (200, b"3\n")
    # two ways at once are refused, as ClickHouse does
    status, _, body = http(ingesting.port, "SELECT 4", params={"user": USER})
    assert status == 403 and b"simultaneously" in body
    assert PASSWORD not in ingesting.log()


def test_compression(ingesting):
    client = all_ingested(ingesting)
    expected = totals(ingesting.sent)
    assert read_totals(client) == expected
    status, headers, body = http(ingesting.port,
                                 "SELECT count(), sum(packets), sum(bytes) FROM flows.raw",
                                 params={"enable_http_compression": "1"},
                                 headers={"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert gzip.decompress(body) == ("\t".join(map(str, expected)) + "\n").encode()
    # without enable_http_compression=1 the answer is plain, as ClickHouse's
    status, headers, body = http(ingesting.port, "SELECT 5", headers={"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"], body) == (200, None, b"5\n")
    status, _, body = http(ingesting.port, body=gzip.compress(b"SELECT 6"),
                           headers={"Content-Encoding": "gzip"})
    assert (status, body) == (200, b"6\n")
    status, headers, _ = http(ingesting.port, body=b"SELECT 7", headers={"Content-Encoding": "br"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")


def test_limits(ingesting):
    client = ingesting.client()
    started = time.time()
    with pytest.raises(DatabaseError) as slow:
        client.query("SELECT sleep(2) FROM numbers(3) SETTINGS max_block_size = 1")
    assert "code: 159" in str(slow.value)
    assert time.time() - started < MAX_EXECUTION_TIME_S + 3
    with pytest.raises(DatabaseError) as big:
        client.raw_query("SELECT number FROM numbers(1000000) FORMAT TSV")
    assert "code: 396" in str(big.value)
    # a limit may be lowered, not raised
    with pytest.raises(DatabaseError) as raised:
        client.query("SELECT 1", settings={"max_execution_time": 1000})
    assert "code: 452" in str(raised.value)
    status, headers, _ = http(ingesting.port, "SELECT 1 SETTINGS max_execution_time = 1000")
    assert headers["X-ClickHouse-Exception-Code"] == "452"
    # every connection busy: the next query is refused at once, the others finish
    with concurrent.futures.ThreadPoolExecutor(MAX_CONCURRENT) as pool:
        busy = [pool.submit(http, ingesting.port, "SELECT sleep(1.5)")
                for _ in range(MAX_CONCURRENT)]
        time.sleep(0.5)
        status, headers, body = http(ingesting.port, "SELECT 8")
        assert (status, headers["X-ClickHouse-Exception-Code"]) == (503, "202"), body
        assert [f.result()[::2] for f in busy] == [(200, b"0\n")] * MAX_CONCURRENT
    assert http(ingesting.port, "SELECT 9")[::2] == (200, b"9\n")


def test_headers_and_ping(ingesting):
    for path in ("/", "/ping"):
        with urllib.request.urlopen(f"http://127.0.0.1:{ingesting.port}{path}") as response:
            assert response.read() == b"Ok.\n"
    status, headers, body = http(ingesting.port, "SELECT 1", params={"query_id": "q-42"})
    assert (status, body) == (200, b"1\n")
    assert headers["X-ClickHouse-Query-Id"] == "q-42"
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["X-ClickHouse-Timezone"]
    assert headers["X-ClickHouse-Server-Display-Name"] == "flowcollector"
    assert json.loads(headers["X-ClickHouse-Summary"])["result_bytes"] == "2"
    assert ingesting.client().server_version.startswith("26.")
    log = ingesting.log()
    assert f"http: user {USER} query q-42: code 0, " in log
    assert " ms, 1 rows read, 1 rows and 2 bytes sent: SELECT 1\n" in log
    assert json.loads(headers["X-ClickHouse-Summary"])["result_rows"] == "1"


def test_clickhouse_go(ingesting):
    go = shutil.which("go")
    if not go:
        pytest.skip("go is not installed: the clickhouse-go client is not built")
    binary = BUILD / "clickhouse_go"
    build = subprocess.run([go, "build", "-o", str(binary), "."], cwd=GO_CLIENT_DIR,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert build.returncode == 0, build.stdout.decode()[-3000:]
    all_ingested(ingesting)
    run = subprocess.run([str(binary), f"127.0.0.1:{ingesting.port}", USER,
                          str(ingesting.password_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    out = json.loads(run.stdout)
    assert (out["rows"], out["packets"], out["bytes"]) == totals(ingesting.sent)
    first_ns = min(r["first_seen_ns"] for r in ingesting.sent)
    assert out["first_seen"] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first_ns // 10**9))
    assert out["agent"].startswith("http-")
    assert (out["param"], out["setting"]) == (42, "7")
    assert "code: 164" in out["insert_error"]
    assert "code: 60" in out["query_error"]
    assert "code: 516" in out["auth_error"]
    assert "revision 0" in out["server_version"]


def test_stop_and_serve(ingesting, tmp_path):
    all_ingested(ingesting)
    expected = totals(ingesting.sent)
    assert ingesting.stop() == 0, ingesting.log()[-3000:]
    log = ingesting.log()
    assert summary(log)["rows_inserted"] == expected[0]
    assert "Sanitizer" not in log
    # the store alone, served until SIGTERM
    port = free_port()
    serve = subprocess.Popen([FLOWCOLLECTOR, "--store", f"embedded:{ingesting.store}", "serve",
                              "--http", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: serve.poll() is None and _answers(port), 60, "serve")
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        assert read_totals(client) == expected
        with pytest.raises(DatabaseError) as refused:
            client.command("DROP TABLE flows.raw")
        assert "code: 164" in str(refused.value)
        # a stop answers the query under way first, and takes no new connection
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            under_way = pool.submit(http, port, "SELECT sleep(2)", auth=False)
            time.sleep(0.5)
            serve.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(OSError):
                http(port, "SELECT 1", auth=False)
            assert under_way.result()[::2] == (200, b"0\n")
        assert serve.wait(timeout=30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    stderr = serve.stderr.read().decode()
    assert f"ClickHouse HTTP interface (read-only) on 127.0.0.1 port {port}" in stderr
    assert "stopping the HTTP interface (SIGTERM)" in stderr


def _answers(port):
    try:
        return http(port, auth=False)[2] == b"Ok.\n"
    except OSError:
        return False


@pytest.mark.parametrize("args, message", [
    (["serve"], "serve: give the address with --http"),
    (["--http", "0", "serve"], "--http: '0' is not PORT"),
    (["--http", "::1:8123", "serve"], "needs brackets"),
    (["--http-user", "x", "serve"], "the --http-* options need --http"),
    (["--http", "8123", "--http-user", "x", "serve"], "go together"),
    (["--http", "8123", "--http-max-concurrent", "0", "serve"], "is not in [1, 64]"),
    (["--http", "8123", "--http-max-concurrent", "65", "serve"], "is not in [1, 64]"),
    (["--http", "8123", "--http-max-execution-time", "x", "serve"], "not seconds"),
    (["--http", "8123", "--http-max-result-bytes", "-1", "serve"], "not a byte count"),
    (["--http", "8123", "--cluster", "c.conf", "serve"], "servers' own HTTP ports"),
    (["--http", "8123", "--clickhouse", "http://127.0.0.1:1/", "serve"], "own HTTP interface"),
    (["--http", "8123", "query", "list"], "only ingest and serve"),
])
def test_bad_options(tmp_path, args, message):
    proc = subprocess.run([FLOWCOLLECTOR, "--store", f"embedded:{tmp_path / 'db'}", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 2, proc.stderr.decode()
    assert message in proc.stderr.decode()
    assert not (tmp_path / "db").exists()
