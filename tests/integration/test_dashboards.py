# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Grafana dashboards of dashboards/, without Grafana: the foundation SDK checks every file,
every ClickHouse panel's SQL runs, expanded as the plugin expands it, on the embedded store and
on a real 2x2 ClickHouse 18.16 cluster and equals the records' truth, and every metric a
Prometheus panel names is on a running agent's and collector's /metrics.

Cases:
  test_validator_accepts_every_dashboard   tests/dashboards/validate (the SDK's strict
                                           unmarshal and Validate()) passes each dashboard
  test_validator_rejects_broken_copies     an unknown key, a wrong type, a key in the wrong
                                           case, a bad target: each copy rejected, naming
                                           file, panel and field
  test_expander_as_recorded                the macro expansion equals what the real plugin
                                           produced for 2026-11-20 .. 2026-11-22, 1 h
  test_panels_exact_on_both_stores         every ClickHouse panel, expanded for whole days
                                           (1 h) and a sub-day range (1 min), unfiltered and
                                           filtered by agent and direction: the columns its
                                           panel type needs, the truth's numbers exactly, the
                                           same rows from the embedded store and the cluster
  test_agent_variable_on_both_stores       the agent variable's query lists the agents
  test_provisioning_matches_the_dashboards the provisioned datasources are the types the
                                           dashboards ask for; the provider reads the files
  test_metric_names_parsed                 the PromQL identifier parser on one expression
  test_prometheus_metrics_exist            every metric name in fleet.json's PromQL is on
                                           /metrics of a live agent (in a namespace of its
                                           own) and of a collector on Kafka and the cluster,
                                           and every label it groups or filters by
"""
import calendar
import collections
import copy
import datetime
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from cluster_fixtures import cluster_sh, node_http, parse_nodes, require_cluster, wait_until
from conftest import BUILD, FLOWAGENT, ROOT
from kafka_fixtures import kafka, kafka_broker  # noqa: F401  (fixtures)
from test_consumer_group import GROUP_TIMEOUTS, free_port, metrics
from test_views_exact import (DAY0, REGIONS, proto_name, region_of_plan,
                              sampled_records, scaled, wire_record, Truth)
from wire import encode_batch

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
DASHBOARDS = ROOT / "dashboards"
VALIDATE_SRC = ROOT / "tests" / "dashboards" / "validate"
VALIDATE = BUILD / "dashboards-validate"
SQL_DIR = ROOT / "sql"
CH_TYPE = "grafana-clickhouse-datasource"
# the tables each node replicates: synced before the cluster is read
LOCAL_TABLES = ("raw_local", "batches_local", "proto_1m_local", "proto_1d_local",
                "port_1m_local", "port_1d_local", "region_1m_local", "region_1d_local",
                "interface_1m_local")
# what a panel type needs of its query's columns (plugin format 0: a time column first)
TIME_FIELD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


# --- the validator ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator():
    """tests/dashboards/validate built into build/ (the SDK from the Go module cache or proxy;
    go.sum pins it)."""
    go = shutil.which("go")
    if not go:
        pytest.fail("no go: the validator needs the Go toolchain", pytrace=False)
    built = subprocess.run([go, "build", "-o", str(VALIDATE), "."], cwd=VALIDATE_SRC,
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"})
    assert built.returncode == 0, built.stderr[-3000:]
    return VALIDATE


def validate(validator, *files):
    return subprocess.run([str(validator), *map(str, files)], capture_output=True, text=True,
                          timeout=60)


def dashboard_files():
    files = sorted(DASHBOARDS.glob("*.json"))
    assert {f.name for f in files} >= {"network.json", "fleet.json"}
    return files


def test_validator_accepts_every_dashboard(validator):
    for path in dashboard_files():
        run = validate(validator, path)
        assert run.returncode == 0, run.stderr
        assert run.stdout == f"{path}: valid\n"
        assert run.stderr == ""


def test_provisioning_matches_the_dashboards():
    """The provisioned datasources are of the types the dashboards' variables ask for, and the
    provider loads the directory of the JSON files."""
    text = (DASHBOARDS / "provisioning" / "datasources" / "flowagent.yaml").read_text()
    provisioned = set(re.findall(r"^\s+type:\s*(\S+)$", text, re.M))
    wanted = set()
    for path in dashboard_files():
        doc = json.loads(path.read_text())
        wanted |= {v["query"] for v in doc["templating"]["list"] if v["type"] == "datasource"}
    assert wanted == provisioned == {CH_TYPE, "prometheus"}
    assert re.search(r"^\s+defaultDatabase:\s*flows$", text, re.M)
    provider = (DASHBOARDS / "provisioning" / "dashboards" / "flowagent.yaml").read_text()
    assert re.search(r"^\s+type:\s*file$", provider, re.M)
    assert re.search(r"^\s+path:\s*\$\{DASHBOARDS_DIR\}$", provider, re.M)


def panel_named(doc, title):
    [(i, p)] = [(i, p) for i, p in enumerate(doc["panels"]) if p["title"] == title]
    return i, p


def test_validator_rejects_broken_copies(validator, tmp_path):
    network = json.loads((DASHBOARDS / "network.json").read_text())
    fleet = json.loads((DASHBOARDS / "fleet.json").read_text())
    cases = []

    def case(name, base, edit, *wanted):
        doc = copy.deepcopy(base)
        edit(doc)
        cases.append((name, doc, wanted))

    i, _ = panel_named(network, "Top talkers")
    case("unknown option", network,
         lambda d: d["panels"][i]["options"].update(showHeaders=True),
         f'panel {i} "Top talkers": options.Options: unexpected field \'showHeaders\'')
    j, _ = panel_named(network, "Packets by protocol")
    case("wrong type", network,
         lambda d: d["panels"][j]["gridPos"].update(w="16"),
         f'panel {j} "Packets by protocol": gridPos.w: json: cannot unmarshal string')
    k, _ = panel_named(network, "Bandwidth by protocol")

    def rename(d):
        t = d["panels"][k]["targets"][0]
        t["rawSQL"] = t.pop("rawSql")
    case("target key case", network, rename,
         f'panel {k} "Bandwidth by protocol": targets[0].ClickHouseQuery: '
         "unexpected field 'rawSQL'",
         f'panel {k} "Bandwidth by protocol": targets[0].rawSql: required field is missing')

    def legend_case(d):
        legend = d["panels"][k]["options"]["legend"]
        legend["displaymode"] = legend.pop("displayMode")
    case("option key case", network, legend_case,
         f'panel {k} "Bandwidth by protocol": options.legend.displayMode: required field is '
         "missing",
         f'panel {k} "Bandwidth by protocol": options.legend.VizLegendOptions: '
         "unexpected field 'displaymode'")
    case("field config key case", network,
         lambda d: d["panels"][k]["fieldConfig"]["defaults"].update(Unit="bps"),
         f'panel {k} "Bandwidth by protocol": fieldConfig.defaults.FieldConfig: '
         "unexpected field 'Unit'")
    case("format of a time series", network,
         lambda d: d["panels"][k]["targets"][0].update(format=1),
         f'panel {k} "Bandwidth by protocol": targets[0].format: 1 does not match '
         'queryType "timeseries" (0)')
    case("format as a string", network,
         lambda d: d["panels"][k]["targets"][0].update(format="0"),
         f'panel {k} "Bandwidth by protocol": targets[0].format: json: cannot unmarshal string')
    f, _ = panel_named(fleet, "Insert latency")
    case("prometheus target", fleet,
         lambda d: d["panels"][f]["targets"][0].update(Expr="up"),
         f'panel {f} "Insert latency": targets[0].Dataquery: unexpected field \'Expr\'')
    case("panel title case", fleet,
         lambda d: d["panels"][f].update(Title=d["panels"][f].pop("title")),
         f'panel {f} "": Panel: unexpected field \'Title\'')
    case("dashboard key", fleet, lambda d: d.update(refreshes="1m"),
         "Dashboard: unexpected field 'refreshes'")
    for name, doc, wanted in cases:
        path = tmp_path / (name.replace(" ", "-") + ".json")
        path.write_text(json.dumps(doc, indent=2))
        run = validate(validator, path)
        assert run.returncode == 1, (name, run.stdout, run.stderr)
        lines = run.stderr.splitlines()
        for want in wanted:
            assert any(line.startswith(f"{path}: {want}") for line in lines), (name, lines)
        assert len(lines) == len(wanted), (name, lines)
    # a missing field Grafana does not default is an error, not ignored
    doc = copy.deepcopy(network)
    del doc["panels"][k]["options"]["tooltip"]["mode"]
    path = tmp_path / "missing-tooltip-mode.json"
    path.write_text(json.dumps(doc))
    run = validate(validator, path)
    assert run.returncode == 1
    assert run.stderr == (f'{path}: panel {k} "Bandwidth by protocol": options.tooltip.mode: '
                          "required field is missing from input\n")


# --- the plugin's expansion ---------------------------------------------------------------------

def macro_args(text, open_paren):
    """(arguments, index after the closing parenthesis) of text[open_paren] == '('; commas
    inside nested parentheses belong to their argument."""
    depth, args, current = 0, [], ""
    for i in range(open_paren, len(text)):
        c = text[i]
        if c == "(":
            depth += 1
            if depth == 1:
                continue
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(current)
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(current)
            current = ""
            continue
        current += c
    raise ValueError(f"unbalanced parentheses after {text[:open_paren + 1]!r}")


def replace_macro(sql, name, render):
    """Every $__name(args) in sql replaced by render(args), innermost last."""
    token = f"$__{name}("
    while token in sql:
        start = sql.index(token)
        args, end = macro_args(sql, start + len(token) - 1)
        sql = sql[:start] + render(*[a.strip() for a in args]) + sql[end:]
    return sql


def expand_variables(sql, variables):
    """The browser's part: $__conditionalAll(cond, $var) -> cond, or 1=1 when var is All; then
    ${var:singlequote} and $var. variables: {name: None (All) or [values]}."""
    def conditional(cond, var):
        name = var.lstrip("$").strip("{}").split(":")[0]
        return "1=1" if variables[name] is None else cond
    sql = replace_macro(sql, "conditionalAll", conditional)

    def value(m):
        name, fmt = m.group(1) or m.group(3), m.group(2)
        values = variables[name]
        assert values is not None, f"${name} is All outside $__conditionalAll"
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        assert fmt is None, fmt
        return ",".join(values)
    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)",
                  lambda m: m.group(0) if m.group(0).startswith("$__") else value(m), sql)


def expand_time(sql, start_ms, end_ms, interval_s):
    """The plugin's server side macros for the range [start_ms, end_ms] (milliseconds, both
    included, as Grafana sends them) and the interval."""
    def day(ms):
        return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))
    f_s, t_s = start_ms // 1000, end_ms // 1000
    sql = replace_macro(sql, "timeFilter_ms", lambda c: (
        f"{c} >= fromUnixTimestamp64Milli({start_ms}) AND "
        f"{c} <= fromUnixTimestamp64Milli({end_ms})"))
    sql = replace_macro(sql, "timeFilter", lambda c: (
        f"{c} >= toDateTime({f_s}) AND {c} <= toDateTime({t_s})"))
    sql = replace_macro(sql, "dateFilter", lambda c: (
        f"{c} >= toDate('{day(start_ms)}') AND {c} <= toDate('{day(end_ms)}')"))
    sql = replace_macro(sql, "timeInterval_ms", lambda c: (
        f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval_s * 1000} millisecond)"))
    sql = replace_macro(sql, "timeInterval", lambda c: (
        f"toStartOfInterval(toDateTime({c}), INTERVAL {interval_s} second)"))
    for name, value in (("fromTime_ms", f"fromUnixTimestamp64Milli({start_ms})"),
                        ("toTime_ms", f"fromUnixTimestamp64Milli({end_ms})"),
                        ("fromTime", f"toDateTime({f_s})"), ("toTime", f"toDateTime({t_s})"),
                        ("interval_s", str(interval_s))):
        sql = re.sub(re.escape(f"$__{name}") + r"\b", value, sql)
    assert "$" not in sql, f"unexpanded: {sql}"
    return sql


def expand(sql, start_ms, end_ms, interval_s, variables):
    return expand_time(expand_variables(sql, variables), start_ms, end_ms, interval_s)


def iso_ms(text):
    """Milliseconds of an ISO time in UTC, as Grafana's range."""
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000


def test_expander_as_recorded():
    """What the real plugin sent for 2026-11-20T00:00:00Z .. 2026-11-22T23:59:59.999Z, 1 h."""
    start, end = iso_ms("2026-11-20T00:00:00.000Z"), iso_ms("2026-11-22T23:59:59.999Z")
    recorded = {
        "$__timeFilter(t)": "t >= toDateTime(1795132800) AND t <= toDateTime(1795391999)",
        "$__timeFilter_ms(t)": "t >= fromUnixTimestamp64Milli(1795132800000) AND "
                               "t <= fromUnixTimestamp64Milli(1795391999999)",
        "$__dateFilter(d)": "d >= toDate('2026-11-20') AND d <= toDate('2026-11-22')",
        "$__fromTime": "toDateTime(1795132800)", "$__toTime": "toDateTime(1795391999)",
        "$__fromTime_ms": "fromUnixTimestamp64Milli(1795132800000)",
        "$__toTime_ms": "fromUnixTimestamp64Milli(1795391999999)",
        "$__timeInterval(t)": "toStartOfInterval(toDateTime(t), INTERVAL 3600 second)",
        "$__timeInterval_ms(t)":
            "toStartOfInterval(toDateTime64(t, 3), INTERVAL 3600000 millisecond)",
        "$__interval_s": "3600",
    }
    for macro, want in recorded.items():
        assert expand(macro, start, end, 3600, {}) == want, macro
    assert expand("toUnixTimestamp($__toTime) + 1", start, end, 3600, {}) == \
        "toUnixTimestamp(toDateTime(1795391999)) + 1"
    variables = {"agent": ["edge-a", "o'k"], "direction": None}
    assert expand_variables("$__conditionalAll(agent IN (${agent:singlequote}), $agent) AND "
                            "$__conditionalAll(toString(direction) IN "
                            "(${direction:singlequote}), $direction)", variables) == \
        "agent IN ('edge-a','o\\'k') AND 1=1"


# --- the stores ---------------------------------------------------------------------------------

# sources nobody geolocates, one of them IPv6: "??" in the region tables, not on the map
EXTRA_SOURCES = ("16.0.0.9", "2001:db8::5")


def dashboard_records():
    """test_views_exact's sampled records (2 agents x 2 directions x 2 days x 4 regions x 7
    services, sampling 10 or 1), a few from unlocated sources, and a small ICMP record every
    3 minutes of both days, each point in turn: more than 5% of the minutes of any filter
    carry traffic, so the 95th percentile is not 0."""
    records = sampled_records()
    for i in range(2 * 86400 // 180):
        agent, direction = ("edge-a", "edge-b")[i % 2], ("ingress", "egress")[i // 2 % 2]
        start = (DAY0 + 180 * i + 17) * 10**9
        packets = 1 + i * 7 % 13
        records.append({
            "agent": agent, "src_addr": "11.0.3.3", "dst_addr": "192.0.2.10", "src_port": 0,
            "dst_port": 0, "proto": 1, "vlan": 0, "packets": packets, "bytes": packets * 84 + i,
            "tcp_flags": 0, "first_seen_ns": start, "last_seen_ns": start + 10**9,
            "sampling": 1 + 9 * (i % 3 == 0), "ifindex": 1 + (direction == "egress"),
            "direction": direction})
    for n, src in enumerate(EXTRA_SOURCES):
        for direction in ("ingress", "egress"):
            start = (DAY0 + 86400 + 4 * 3600 + 30 * 60 + 60 * n) * 10**9 + 123456789
            packets = 41 + 3 * n + (direction == "egress")
            records.append({
                "agent": "edge-b", "src_addr": src,
                "dst_addr": "192.0.2.10" if "." in src else "2001:db8::10",
                "src_port": 51000 + n, "dst_port": 8443, "proto": 6, "vlan": 0,
                "packets": packets, "bytes": packets * 900, "tcp_flags": 0x12,
                "first_seen_ns": start, "last_seen_ns": start + 10**9, "sampling": 10,
                "ifindex": 1 + (direction == "egress"), "direction": direction})
    return records


def write_wire(records, path):
    """One wire file of each agent's records, 50 per batch."""
    with open(path, "wb") as out:
        for a, agent in enumerate(sorted({r["agent"] for r in records})):
            mine = [wire_record(r) for r in records if r["agent"] == agent]
            for i in range(0, len(mine), 50):
                out.write(encode_batch(agent, 0x0da5b0a7d0000000 + a, i // 50 + 1,
                                       mine[i:i + 50], flags=1 if i == 0 else 0))


def geo_csv(path):
    path.write_text("".join(f"{ipaddress.ip_network(p)[0]},{ipaddress.ip_network(p)[-1]},{c}\n"
                            for c, p in REGIONS))


def collector(*args, timeout=300):
    proc = subprocess.run([FLOWCOLLECTOR, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"{args}: {proc.stderr_text[-3000:]}"
    return proc


def parse_tsv(text):
    """(header, rows) of TabSeparatedWithNames."""
    lines = text.splitlines()
    assert lines, "no header"
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


class Embedded:
    def __init__(self, path):
        self.path = path

    def query(self, sql):
        out = collector("--store", f"embedded:{self.path}", "sql",
                        sql + "\nFORMAT TabSeparatedWithNames")
        return parse_tsv(out.stdout.decode())


class Cluster:
    def __init__(self, url):
        self.url = url

    def query(self, sql):
        status, body = node_http(self.url, sql + "\nFORMAT TabSeparatedWithNames")
        assert status == 200, f"HTTP {status}: {body[-2000:]}\n{sql}"
        return parse_tsv(body)


def cluster_conf(path, nodes):
    lines = ["cluster flows", "probe-interval-ms 200"]
    for shard in sorted({s for s, _ in nodes}):
        lines.append(f"shard {shard}")
        lines += [f"replica {nodes[(s, r)][0]}" for (s, r) in sorted(nodes) if s == shard]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One real 2x2 cluster for the module, its schema applied."""
    require_cluster()
    directory = tempfile.mkdtemp(prefix="flowcluster-", dir="/tmp")
    started = cluster_sh("start", directory, 2, 2, env={"CLUSTER_WATCH_PID": str(os.getpid())})
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        nodes = parse_nodes(started.stdout)
        conf = cluster_conf(tmp_path_factory.mktemp("cluster") / "cluster.conf", nodes)
        collector("--cluster", conf, "--sql-dir", SQL_DIR, "migrate")
        yield {"dir": directory, "nodes": nodes, "conf": conf}
    finally:
        stopped = cluster_sh("stop", directory)
        subprocess.run(["rm", "-rf", directory], check=False)
        assert stopped.returncode == 0, stopped.stderr[-2000:]


@pytest.fixture(scope="module")
def stores(cluster, tmp_path_factory):
    """The same records, geolocation first, in an embedded store and in the cluster."""
    d = tmp_path_factory.mktemp("dashboards")
    records = dashboard_records()
    wire, geo = d / "records.wire", d / "regions.csv"
    write_wire(records, wire)
    geo_csv(geo)
    store = d / "flowdb"
    collector("--store", f"embedded:{store}", "--sql-dir", SQL_DIR, "geo", "load", geo)
    collector("--store", f"embedded:{store}", "--sql-dir", SQL_DIR, "ingest", "--input", wire)
    conf = cluster["conf"]
    collector("--cluster", conf, "--sql-dir", SQL_DIR, "geo", "load", geo)
    collector("--cluster", conf, "--sql-dir", SQL_DIR, "ingest", "--input", wire,
              "--wal-dir", d / "wal")
    for url, _ in cluster["nodes"].values():
        for table in LOCAL_TABLES:
            status, body = node_http(url, f"SYSTEM SYNC REPLICA flows.{table}")
            assert status == 200, body
    embedded, distributed = Embedded(store), Cluster(cluster["nodes"][(1, 1)][0])
    # both hold every record, scaled the same
    total = sum(scaled(r, "packets") for r in records)
    for s in (embedded, distributed):
        assert s.query("SELECT sum(packets) AS p FROM flows.proto_1m")[1] == [[str(total)]]
        assert s.query("SELECT count() AS n FROM flows.raw")[1] == [[str(len(records))]]
    return {"records": records, "embedded": embedded, "cluster": distributed}


def clickhouse_panels():
    doc = json.loads((DASHBOARDS / "network.json").read_text())
    panels = [p for p in doc["panels"]
              if p.get("datasource", {}).get("type") == CH_TYPE]
    assert len(panels) == len(doc["panels"]) >= 13
    for p in panels:
        want = {"type": CH_TYPE, "uid": "${datasource}"}
        assert [t["datasource"] for t in p["targets"]] == [want], p["title"]
    return {p["title"]: p for p in panels}


def test_agent_variable_on_both_stores(stores):
    doc = json.loads((DASHBOARDS / "network.json").read_text())
    names = {v["name"]: v for v in doc["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource"
    assert names["datasource"]["query"] == CH_TYPE
    assert names["direction"]["query"] == "ingress,egress" and names["direction"]["includeAll"]
    agent = names["agent"]
    assert agent["type"] == "query" and agent["includeAll"]
    for where in ("embedded", "cluster"):
        header, rows = stores[where].query(agent["query"])
        assert rows == [["edge-a"], ["edge-b"]], (where, rows)
    # the interfaces the records name (sampled_records: 1 to 3), from the per-interface rollup
    interface = names["interface"]
    assert interface["type"] == "query" and interface["includeAll"] and interface["multi"]
    want = sorted({r["ifindex"] for r in stores["records"]})
    assert want == [1, 2, 3]
    for where in ("embedded", "cluster"):
        header, rows = stores[where].query(interface["query"])
        assert rows == [[str(i)] for i in want], (where, rows)


# --- the truth ------------------------------------------------------------------------------------

def first_s(r):
    return r["first_seen_ns"] // 10**9


def selected(records, agent, direction, interface=None):
    return [r for r in records if (agent is None or r["agent"] in agent) and
            (direction is None or r["direction"] in direction) and
            (interface is None or str(r["ifindex"]) in interface)]


def in_minutes(records, start, end):
    """Records whose minute is in [start, end) (the per-minute rollups' filter)."""
    return [r for r in records if start <= first_s(r) - first_s(r) % 60 < end]


def addr(text):
    a = ipaddress.ip_address(text)
    return str(a)


class PanelTruth:
    """What each panel must show for the records, the range [start, end) (seconds; end is the
    plugin's $__toTime + 1), the interval and the filter."""

    def __init__(self, records, start, end, interval, agent, direction, countries,
                 interface=None):
        self.start, self.end, self.interval = start, end, interval
        # the interface variable filters only the panels whose SQL names it
        self.records = selected(records, agent, direction)
        self.records_on_interface = selected(records, agent, direction, interface)
        self.countries = countries
        region_of = region_of_plan(REGIONS)
        # the range views' truth (whole days: daily rollups, else per minute)
        self.views = Truth(records, region_of, start, end,
                           agent[0] if agent and len(agent) == 1 else None,
                           direction[0] if direction else None)
        if agent and len(agent) > 1:
            assert set(agent) == {r["agent"] for r in records}
        self.region_of = region_of

    def rates(self, measure, scale):
        out = collections.Counter()
        for r in in_minutes(self.records, self.start, self.end):
            bucket = first_s(r) - first_s(r) % self.interval
            out[(bucket, proto_name(r["proto"]))] += scaled(r, measure)
        return {k: v * scale / self.interval for k, v in out.items()}, out

    def minutes(self):
        per = collections.Counter()
        for r in in_minutes(self.records, self.start, self.end):
            per[first_s(r) - first_s(r) % 60] += scaled(r, "bytes")
        first_minute = -(-self.start // 60)
        last_minute = (self.end - 1) // 60
        values = [per.get(m * 60, 0) * 8 / 60 for m in range(first_minute, last_minute + 1)]
        assert len(per) <= len(values)
        return values

    def daily(self):
        first_day = time.strftime("%Y-%m-%d", time.gmtime(self.start))
        last_day = time.strftime("%Y-%m-%d", time.gmtime(self.end - 1))
        out = collections.defaultdict(lambda: [0, 0, 0])
        for r in self.records:
            day = time.strftime("%Y-%m-%d", time.gmtime(first_s(r)))
            if first_day <= day <= last_day:
                out[day][0] += scaled(r, "packets")
                out[day][1] += scaled(r, "bytes")
                out[day][2] += 1
        return out

    def raw(self, key):
        out = collections.defaultdict(lambda: [0, 0])
        for r in self.records_on_interface:
            if self.start <= first_s(r) < self.end:
                k = key(r)
                out[k][0] += scaled(r, "bytes")
                out[k][1] += scaled(r, "packets")
        return out

    def interfaces(self):
        """Per (agent, interface, direction): bytes, packets and the busiest minute's bits/s,
        ranked by bytes, then agent, interface and direction (ingress first)."""
        sums = collections.defaultdict(lambda: [0, 0])
        minutes = collections.defaultdict(collections.Counter)
        for r in in_minutes(self.records_on_interface, self.start, self.end):
            point = (r["agent"], r["ifindex"], r["direction"])
            sums[point][0] += scaled(r, "bytes")
            sums[point][1] += scaled(r, "packets")
            minutes[point][first_s(r) - first_s(r) % 60] += scaled(r, "bytes")
        keys = sorted(sums, key=lambda k: (-sums[k][0], k[0], k[1], k[2] == "egress"))
        return [[a, i, d, *sums[(a, i, d)], max(minutes[(a, i, d)].values()) * 8 / 60]
                for a, i, d in keys[:10]]


def number(text):
    return float(text) if "." in text or "e" in text else int(text)


def check_panel(title, panel, header, rows, truth):
    """rows (strings) of the panel's query against truth; returns the rows as values."""
    kind = panel["type"]
    target = panel["targets"][0]
    assert target["format"] == (0 if kind == "timeseries" else 1), title
    values = [[v if h in ("time", "protocol", "src", "dst", "day", "region", "country_code",
                          "agent", "direction")
               else number(v) for h, v in zip(header, row)] for row in rows]
    if kind == "timeseries":
        measure, scale = (("bytes", 8) if "bits_per_second" in header else ("packets", 1))
        assert header == ["time", "protocol", "bits_per_second" if scale == 8 else
                          "packets_per_second"], (title, header)
        want, sums = truth.rates(measure, scale)
        got = {}
        for t, proto, rate in values:
            assert TIME_FIELD.match(t), (title, t)
            bucket = calendar.timegm(time.strptime(t, "%Y-%m-%d %H:%M:%S"))
            got[(bucket, proto)] = rate
            # exact: the rate times the bucket's seconds is the integer sum
            assert round(rate * truth.interval / scale) == sums[(bucket, proto)], (title, t)
        assert got.keys() == want.keys(), title
        for k in want:
            assert abs(got[k] - want[k]) <= 1e-9 * want[k], (title, k, got[k], want[k])
        assert [(v[0], v[1]) for v in values] == sorted((v[0], v[1]) for v in values)
    elif title == "Peak and 95th percentile":
        assert header == ["peak", "p95"]
        minutes = truth.minutes()
        ordered = sorted(minutes)
        p95 = ordered[min(int(0.95 * len(ordered)), len(ordered) - 1)]
        [[peak, got_p95]] = values
        assert abs(peak - max(minutes)) <= 1e-9 * max(minutes), (peak, max(minutes))
        assert abs(got_p95 - p95) <= 1e-9 * max(p95, 1), (got_p95, p95)
        assert max(minutes) > p95 > 0
    elif title.startswith("Protocol share"):
        measure = "bytes" if "bytes" in title else "packets"
        assert header == ["protocol", measure]
        want = truth.views.sums["proto_" + measure]
        assert {p: v for p, v in values} == dict(want), title
        assert [v for _, v in values] == sorted(want.values(), reverse=True)
    elif title.startswith("Top service ports"):
        measure = "bytes" if "bytes" in title else "packets"
        assert header == ["protocol", "port", "bytes", "packets"]
        t = truth.views.sums
        keys = sorted(t["port_bytes"], key=lambda k: (-t["port_" + measure][k], k[0], int(k[1])))
        assert [(p, str(port), b, pk) for p, port, b, pk in values] == \
            [(p, port, t["port_bytes"][(p, port)], t["port_packets"][(p, port)])
             for p, port in keys[:10]], title
    elif title.startswith("Top source regions"):
        measure = "bytes" if "bytes" in title else "packets"
        assert header == ["country_code", "region", "bytes", "packets"]
        t = truth.views.sums
        keys = sorted(t["region_bytes"], key=lambda c: (-t["region_" + measure][c], c))

        def name(c):
            return truth.countries.get(c, ("Unknown" if c == "??" else c, 0, 0))[0]
        assert values == [[c, name(c), t["region_bytes"][c], t["region_packets"][c]]
                          for c in keys[:10]], title
    elif kind == "geomap":
        assert header == ["country_code", "region", "latitude", "longitude", "bytes", "packets"]
        t = truth.views.sums
        # regions without a single place (EU, PRIVATE: NaN in flows.countries) are not drawn
        keys = sorted((c for c in t["region_bytes"]
                       if c in truth.countries and truth.countries[c][1] is not None),
                      key=lambda c: (-t["region_bytes"][c], c))
        assert [[c, n, round(lat, 3), round(lon, 3), b, p]
                for c, n, lat, lon, b, p in values] == \
            [[c, truth.countries[c][0], round(truth.countries[c][1], 3),
              round(truth.countries[c][2], 3), t["region_bytes"][c], t["region_packets"][c]]
             for c in keys], title
    elif title.startswith("Daily"):
        assert header == ["day", "packets", "bytes", "records"]
        want = truth.daily()
        assert values == [[d, *want[d]] for d in sorted(want)], title
    elif title == "Top talkers":
        assert header == ["src", "bytes", "packets"]
        want = truth.raw(lambda r: addr(r["src_addr"]))
        keys = sorted(want, key=lambda k: (-want[k][0], k))[:10]
        assert values == [[k, *want[k]] for k in keys], title
    elif title == "Top conversations":
        assert header == ["src", "dst", "protocol", "bytes", "packets"]
        want = truth.raw(lambda r: (addr(r["src_addr"]), addr(r["dst_addr"]),
                                    proto_name(r["proto"])))
        keys = sorted(want, key=lambda k: (-want[k][0], k))[:10]
        assert values == [[*k, *want[k]] for k in keys], title
    elif title == "Interfaces":
        assert header == ["agent", "interface", "direction", "bytes", "packets",
                          "peak_bits_per_second"]
        want = truth.interfaces()
        assert [v[:5] for v in values] == [w[:5] for w in want], title
        for v, w in zip(values, want):
            assert abs(v[5] - w[5]) <= 1e-9 * w[5], (title, v, w)
    else:
        pytest.fail(f"no truth for panel {title!r}")
    return values


RANGES = [
    # whole days, as Grafana's "2026-01-05 .. 2026-01-06" (now/d ends at .999): daily rollups
    ("2026-01-05T00:00:00.000Z", "2026-01-06T23:59:59.999Z", 3600),
    # hours: the per-minute rollups, from 03:01 on the first day to 05:00 on the second
    ("2026-01-05T03:01:00.000Z", "2026-01-06T05:00:00.000Z", 60),
]


def countries(store):
    header, rows = store.query("SELECT country_code, any(country_name) AS n, any(latitude) AS "
                               "la, any(longitude) AS lo FROM flows.countries GROUP BY "
                               "country_code ORDER BY country_code")
    def place(text):  # nan (no single place) as None, so two stores compare equal
        return None if text.lower() == "nan" else float(text)
    return {c: (n, place(la), place(lo)) for c, n, la, lo in rows}


def test_panels_exact_on_both_stores(stores):
    records = stores["records"]
    panels = clickhouse_panels()
    places = countries(stores["embedded"])
    assert countries(stores["cluster"]) == places
    assert {c for c, _ in REGIONS} <= places.keys() and "??" not in places
    # the map needs coordinates: geo load gives every country its own
    assert all(places[c][1] != 0 and places[c][2] != 0 for c, _ in REGIONS), places
    assert len({places[c][1:] for c, _ in REGIONS}) == len(REGIONS), places
    # unfiltered, one agent, both agents named, one direction, one agent in one direction
    filters = [(None, None, None), (["edge-b"], None, None), (["edge-a", "edge-b"], None, None),
               (None, ["egress"], None), (["edge-a"], ["ingress"], None),
               (None, None, ["2"]), (["edge-b"], ["egress"], ["1", "3"])]
    checked = collections.Counter()
    for start_text, end_text, interval in RANGES:
        start_ms, end_ms = iso_ms(start_text), iso_ms(end_text)
        start, end = start_ms // 1000, end_ms // 1000 + 1
        for agent, direction, interface in filters:
            truth = PanelTruth(records, start, end, interval, agent, direction, places,
                               interface)
            assert truth.views.packets > 0
            variables = {"agent": agent, "direction": direction, "interface": interface}
            for title, panel in panels.items():
                sql = expand(panel["targets"][0]["rawSql"], start_ms, end_ms, interval,
                             variables)
                results = []
                for where in ("embedded", "cluster"):
                    header, rows = stores[where].query(sql)
                    assert rows, (where, title, start_text, agent, direction)
                    results.append(check_panel(f"{title}", panel, header, rows, truth))
                    checked[where] += 1
                assert results[0] == results[1], title
    assert checked["embedded"] == checked["cluster"] == len(RANGES) * len(filters) * len(panels)
    # an agent nobody has: every panel is empty (a stat: zeros)
    start_ms, end_ms = iso_ms(RANGES[0][0]), iso_ms(RANGES[0][1])
    for title, panel in panels.items():
        sql = expand(panel["targets"][0]["rawSql"], start_ms, end_ms, 3600,
                     {"agent": ["nobody"], "direction": None, "interface": None})
        for where in ("embedded", "cluster"):
            header, rows = stores[where].query(sql)
            assert rows == ([["0", "0"]] if panel["type"] == "stat" else []), (where, title)


def same_value(a, b):
    """One value of TabSeparated text and one of clickhouse-go's, written as text."""
    if a == b:
        return True
    try:
        return float(a) == float(b) or (a.lower() == "nan" and b.lower() == "nan")
    except ValueError:
        return False


def test_panels_through_clickhouse_go_on_the_endpoint(stores, tmp_path):
    """Every ClickHouse panel as the plugin sends it, through clickhouse-go (HTTP, gzip)
    against the collector's read-only endpoint over the embedded store: the rows are those of
    the store itself, and a time series' first column is a DateTime, the map's latitude and
    longitude numbers."""
    go = shutil.which("go")
    assert go, "go is needed to build the clickhouse-go client"
    client_dir = ROOT / "tests" / "integration" / "clickhouse_go"
    binary = BUILD / "clickhouse_go"
    built = subprocess.run([go, "build", "-buildvcs=false", "-o", str(binary), "."],
                           cwd=client_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
    assert built.returncode == 0, built.stdout.decode()[-3000:]
    panels = clickhouse_panels()
    start_ms, end_ms = iso_ms(RANGES[1][0]), iso_ms(RANGES[1][1])
    queries, expected = [], []
    for title, panel in panels.items():
        for variables in ({"agent": None, "direction": None, "interface": None},
                          {"agent": ["edge-a"], "direction": ["egress"], "interface": ["2"]}):
            sql = expand(panel["targets"][0]["rawSql"], start_ms, end_ms, 60, variables)
            queries.append(sql)
            expected.append((title, panel["type"], stores["embedded"].query(sql)))
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    password = tmp_path / "password"
    password.write_text("panels\n")
    password.chmod(0o600)
    port = free_port()
    serve = subprocess.Popen([FLOWCOLLECTOR, "--store", f"embedded:{stores['embedded'].path}",
                              "serve", "--http", f"127.0.0.1:{port}", "--http-user", "grafana",
                              "--http-password-file", str(password)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def answers():
            assert serve.poll() is None, serve.stderr.read().decode()[-3000:]
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/ping",
                                              timeout=2).read() == b"Ok.\n"
            except OSError:
                return False
        wait_until("the endpoint answering /ping", answers, 60)
        run = subprocess.run([str(binary), "--queries", str(tmp_path / "queries.json"),
                              f"127.0.0.1:{port}", "grafana", str(password)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    finally:
        serve.terminate()
        assert serve.wait(timeout=60) == 0
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    results = json.loads(run.stdout)
    assert len(results) == len(expected)
    for got, (title, kind, (header, rows)) in zip(results, expected):
        assert not got.get("error"), (title, got["error"])
        assert got["columns"] == header, title
        assert len(got["rows"]) == len(rows), (title, got["rows"][:3], rows[:3])
        for g, w in zip(got["rows"], rows):
            assert all(same_value(a, b) for a, b in zip(w, g)), (title, w, g)
        if kind == "timeseries":
            assert got["types"][0].startswith("DateTime"), (title, got["types"])
        if kind == "geomap":
            lat, lon = header.index("latitude"), header.index("longitude")
            assert got["types"][lat].startswith("Float") and \
                got["types"][lon].startswith("Float"), got["types"]
    assert sum(bool(r["rows"]) for r in results) >= len(panels)


# --- Prometheus -----------------------------------------------------------------------------------

PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "rate", "increase",
                "irate", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                "offset", "bool", "histogram_quantile", "clamp_min", "abs", "delta", "deriv"}
# series and labels Prometheus itself writes for every target
PROMETHEUS_SERIES = {"up"}
PROMETHEUS_LABELS = {"instance", "job"}


def metric_names(expr):
    """The metric names a PromQL expression reads: identifiers outside label matchers,
    ranges, strings and Grafana's $variables, and not PromQL's own words."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - PROMQL_WORDS
    return {n for n in names if not re.fullmatch(r"\d+", n)}


def fleet_metric_names():
    doc = json.loads((DASHBOARDS / "fleet.json").read_text())
    assert [v["type"] for v in doc["templating"]["list"] if v["name"] == "datasource"] == \
        ["datasource"]
    assert [v["query"] for v in doc["templating"]["list"] if v["name"] == "datasource"] == \
        ["prometheus"]
    names = set()
    for p in doc["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            found = metric_names(t["expr"])
            assert found, (p["title"], t["expr"])
            names |= found
    return names


def test_metric_names_parsed():
    assert metric_names('sum by (instance) (rate(flowagent_map_full_total{job=~"$agent_job"}'
                        '[$__rate_interval])) / max(flowcollector_inserts_total)') == \
        {"flowagent_map_full_total", "flowcollector_inserts_total"}


def exported_names(text):
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def exported_labels(text):
    """{metric name: its label names} of a /metrics page."""
    out = collections.defaultdict(set)
    for line in text.splitlines():
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s", line)
        if m and not line.startswith("#"):
            out[m.group(1)] |= set(re.findall(r"(\w+)=", m.group(2) or ""))
    return out


def grouping_labels(expr):
    """(metric names, label names) of each `by (...)` and of each matcher in expr."""
    labels = set()
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    for matcher in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matcher))
    return labels


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


SCRAPE = ("import sys, urllib.request\n"
          "print(urllib.request.urlopen('http://127.0.0.1:%d/metrics', timeout=10)"
          ".read().decode())\n")


def agent_metrics(tmp_path):
    """/metrics of a live agent with Kafka export, on a veth pair in a namespace made here
    (its Kafka is its own loopback, where nothing listens: the families are there anyway)."""
    ns = f"fdash{os.getpid() % 10000}"
    sh("ip", "netns", "add", ns)
    agent = None
    try:
        sh("ip", "link", "add", "dva", "netns", ns, "type", "veth", "peer", "name", "dvb",
           "netns", ns)
        for dev in ("lo", "dva", "dvb"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        err = open(tmp_path / "agent.err", "w+")
        agent = subprocess.Popen(["ip", "netns", "exec", ns, FLOWAGENT, "-v", "--kafka",
                                  "127.0.0.1:9", "--spool-dir", str(tmp_path / "spool"),
                                  "--metrics", "9471", "dvb"],
                                 stdout=subprocess.DEVNULL, stderr=err)

        def scrape():
            got = sh("ip", "netns", "exec", ns, "python3", "-c", SCRAPE % 9471, check=False)
            assert agent.poll() is None, (tmp_path / "agent.err").read_text()[-2000:]
            return got.returncode == 0 and "flowagent_kafka_up" in got.stdout, got.stdout
        _, text = wait_until("the agent's /metrics", scrape)
        return text
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)
        sh("ip", "netns", "del", ns, check=False)


def collector_metrics(tmp_path, cluster, kafka):  # noqa: F811
    """/metrics of a collector consuming Kafka into the cluster, once it knows its lag."""
    topic = "dashboards-metrics"
    kafka.create_topic(topic, partitions=1)
    port = free_port()
    log = open(tmp_path / "collector.log", "wb")
    proc = subprocess.Popen([FLOWCOLLECTOR, "--cluster", str(cluster["conf"]), "--sql-dir",
                             str(SQL_DIR), "--kafka", kafka.bootstrap, "--topic", topic,
                             "--group", topic, "--wal-dir", str(tmp_path / "wal"),
                             "--metrics", str(port), *GROUP_TIMEOUTS],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        def ready():
            assert proc.poll() is None, (tmp_path / "collector.log").read_text()[-2000:]
            values = metrics(port) or {}
            return ("flowcollector_consumer_lag" in values and
                    any(k.startswith("flowcollector_cluster_replica_up") for k in values),
                    sorted(values)[:5])
        wait_until("the collector's consumer lag and replicas on /metrics", ready)
        return "\n".join(f"{k} {v}" for k, v in metrics(port).items())
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        log.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")
def test_prometheus_metrics_exist(tmp_path, cluster, kafka):  # noqa: F811
    wanted = fleet_metric_names()
    assert len(wanted) >= 25
    texts = [agent_metrics(tmp_path), collector_metrics(tmp_path, cluster, kafka)]
    exported = exported_names(texts[0]) | exported_names(texts[1])
    assert {n for n in exported if n.startswith("flowagent_")}, exported
    assert {n for n in exported if n.startswith("flowcollector_cluster_")}, exported
    missing = sorted(wanted - exported - PROMETHEUS_SERIES)
    assert missing == [], f"fleet.json names metrics nobody exports: {missing}"
    # every label a panel groups or filters by is on the series it reads, or one Prometheus
    # adds to every target (instance, job)
    labels = exported_labels(texts[0]) | exported_labels(texts[1])
    doc = json.loads((DASHBOARDS / "fleet.json").read_text())
    for p in doc["panels"]:
        for t in p["targets"]:
            have = set().union(*(labels[n] for n in metric_names(t["expr"])))
            unknown = grouping_labels(t["expr"]) - have - PROMETHEUS_LABELS
            assert not unknown, (p["title"], t["expr"], unknown)
