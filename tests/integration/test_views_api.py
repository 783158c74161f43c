# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The views' JSON API and the live report on the collector's HTTP endpoint (`serve --http`),
over the sampled records of test_views_exact.py, with a user and a password file.

Cases:
  test_api_equals_query            every view, two ranges, every filter: the API's rows are
                                   `query VIEW --tsv`'s, typed (numbers as numbers, nan null)
  test_api_refusals                404 for no view, 400 naming the parameter, 405 for POST,
                                   401 with a Basic challenge without the right credentials
  test_api_against_openapi         schemathesis (PyPI) against docs/openapi.yaml, as served at
                                   /openapi.yaml: every response conforms, no server error
  test_live_report                 /report (and / for a browser): the report's sections and
                                   tables as `report --html` draws them for the same range,
                                   a refresh, six range links, the current one marked; a range
                                   with nothing in it; a bad range refused
  test_live_report_in_chromium     headless Chromium renders /report: no console message, no
                                   request but to the endpoint; the screenshot is kept
  test_live_report_playwright      Playwright (npm playwright-core) drives Debian's chromium:
                                   the page renders, every range link leads to its page, the
                                   page reloads itself, nothing is asked outside the endpoint,
                                   and the map's bubbles sit on their countries' continents
"""
import base64
import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, ROOT
from test_views_exact import FLOWCOLLECTOR, collector, sampled_store  # noqa: F401 (fixture)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = BUILD / "npm" / "playwright" / "node_modules"
LIVE_REPORT_JS = ROOT / "tests" / "integration" / "playwright" / "live_report.js"
# where each sampled region's bubble must be: (south, north, west, east), degrees
CONTINENTS = {"US": (25, 49, -125, -67), "JP": (30, 46, 129, 146), "DE": (47, 55, 5, 15),
              "BR": (-30, 5, -70, -35)}
RESULTS = BUILD / "test-results"
PASSWORD = "s3cret-views"
RANGES = [[], ["--from", "2026-01-05 03:01", "--to", "2026-01-06 05:00"]]
FILTERS = [[], ["--agent", "edge-a"], ["--direction", "egress"],
           ["--agent", "edge-b", "--direction", "ingress"]]


def views():
    out = subprocess.run([FLOWCOLLECTOR, "query", "list"], stdout=subprocess.PIPE, check=True,
                         text=True).stdout
    return [line.split(None, 1)[0] for line in out.splitlines() if line.strip()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args_to_params(args):
    it = iter(args)
    return {flag.lstrip("-"): value for flag, value in zip(it, it)}


@pytest.fixture(scope="module")
def served(sampled_store, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """What `query` and `report` print first (the store is one process's at a time), then
    `serve` on the same store, with a user."""
    store, _ = sampled_store
    d = tmp_path_factory.mktemp("views-api")
    expected = {}
    for name in views():
        for range_args in RANGES:
            for filter_args in FILTERS:
                out = collector(store, "query", name, "--tsv", *range_args, *filter_args)
                lines = out.stdout.decode().splitlines()
                expected[(name, tuple(range_args + filter_args))] = \
                    (lines[0].split("\t"), [line.split("\t") for line in lines[1:]])
    report = d / "report.html"
    collector(store, "report", "--html", report, "--agent", "edge-a")
    password_file = d / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    port = free_port()
    log = open(d / "serve.log", "wb")
    proc = subprocess.Popen([FLOWCOLLECTOR, "--store", f"embedded:{store}", "-v", "serve",
                             "--http", f"127.0.0.1:{port}", "--http-user", "reader",
                             "--http-password-file", str(password_file)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (d / "serve.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as r:
                if r.read() == b"Ok.\n":
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "serve never answered /ping"
        time.sleep(0.2)
    yield {"url": url, "expected": expected, "report": report, "dir": d, "store": store}
    proc.terminate()
    assert proc.wait(timeout=60) == 0
    log.close()
    text = (d / "serve.log").read_text()
    assert PASSWORD not in text


def get(url, path, params=None, auth=("reader", PASSWORD), headers=None, method="GET"):
    query = urllib.parse.urlencode(params or {})
    request = urllib.request.Request(url + path + ("?" + query if query else ""),
                                     method=method, headers=headers or {})
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def as_text(value):
    """An API value as `query --tsv` prints it."""
    if value is None:
        return "nan"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def test_api_equals_query(served):
    checked = 0
    for (name, args), (header, rows) in served["expected"].items():
        status, headers, body = get(served["url"], f"/api/v1/views/{name}",
                                    args_to_params(args))
        assert status == 200, (name, args, body[:500])
        assert headers["Content-Type"] == "application/json"
        got = json.loads(body)
        assert got["view"] == name and got["columns"] == header
        assert [[as_text(r[c]) for c in header] for r in got["rows"]] == rows, (name, args)
        # numbers are numbers: a byte count is an int, never a string
        for column in ("bytes", "packets", "bits_per_second"):
            if column in header and got["rows"]:
                assert all(isinstance(r[column], (int, float)) for r in got["rows"]), column
        checked += bool(rows)
    assert checked > 60, checked  # most of them hold rows
    # nan coordinates (a region without a place) are null
    status, _, body = get(served["url"], "/api/v1/views/region_map")
    assert status == 200
    # the list
    status, _, body = get(served["url"], "/api/v1/views")
    assert [v["name"] for v in json.loads(body)["views"]] == views()


def test_api_refusals(served):
    url = served["url"]
    cases = [("/api/v1/views/nope", {}, 404, "no view 'nope'"),
             ("/api/v1/views/daily_packets", {"direction": "up"}, 400, "direction 'up'"),
             ("/api/v1/views/daily_packets", {"from": "yesterday"}, 400, "from 'yesterday'"),
             ("/api/v1/views/daily_packets", {"from": "2026-01-06", "to": "2026-01-05"}, 400,
              "is not before to"),
             ("/api/v1/views/top_talkers", {"limit": "0"}, 400, "limit '0'"),
             ("/nothing-here", {}, 404, "no such page")]
    for path, params, status, reason in cases:
        got, headers, body = get(url, path, params)
        assert got == status, (path, params, got, body)
        assert reason in json.loads(body)["error"], body
    got, headers, body = get(url, "/api/v1/views", method="POST")
    assert got == 405 and headers["Allow"] == "GET, HEAD", (got, headers)
    for auth in (None, ("reader", "wrong"), ("other", PASSWORD)):
        got, headers, body = get(url, "/api/v1/views/daily_packets", auth=auth)
        assert got == 401, (auth, got)
        assert headers["WWW-Authenticate"].startswith("Basic realm="), headers
    # the ClickHouse clients' headers work as well as Basic
    got, _, _ = get(url, "/api/v1/views", auth=None,
                    headers={"X-ClickHouse-User": "reader", "X-ClickHouse-Key": PASSWORD})
    assert got == 200


def test_api_against_openapi(served, tmp_path):
    import schemathesis  # noqa: F401  (make deps installs it; missing is a failure)
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", served["url"] + "/openapi.yaml",
         "--url", served["url"], "--auth", f"reader:{PASSWORD}", "--checks", "all",
         "--exclude-checks", "positive_data_acceptance", "--max-examples", "25",
         "--seed", "1", "--no-color", f"--report-dir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""})  # its cache (.schemathesis) in tmp_path
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, out[-6000:]
    assert re.search(r"\b[1-9]\d* passed\b|operations? .*passed", out, re.I) or \
        "No issues found" in out, out[-3000:]


class Sections(html.parser.HTMLParser):
    """section id -> its text, tables included, without the time it was made."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.sections, self.current, self.links, self.meta = {}, None, [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs.get("id")
            self.sections[self.current] = []
        if tag == "a":
            self.links.append((attrs.get("href"), attrs.get("class")))
        if tag == "meta":
            self.meta.append(attrs)

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.sections[self.current].append(data.strip())


def test_live_report(served):
    url = served["url"]
    status, headers, body = get(url, "/report", {"range": "all", "agent": "edge-a"})
    assert status == 200 and headers["Content-Type"].startswith("text/html"), body[:300]
    live = Sections(body.decode())
    static = Sections(served["report"].read_text())
    assert list(live.sections) == views()
    assert live.sections == static.sections
    assert {"http-equiv": "refresh", "content": "60"} in live.meta
    assert [href for href, _ in live.links] == [
        f"?range={r}&agent=edge-a" for r in ("1h", "6h", "24h", "7d", "30d", "all")]
    assert [href for href, cls in live.links if cls == "current"] == ["?range=all&agent=edge-a"]
    # a browser at / gets the report (the last 24 hours: nothing of January 2026)
    status, headers, body = get(url, "/", headers={"Accept": "text/html,*/*"})
    assert status == 200 and b"Last 24 hours" in body, body[:300]
    assert body.count(b'class="empty"') == len(views())
    # a ClickHouse client at / still gets ClickHouse's answer
    status, _, body = get(url, "/", auth=None)
    assert (status, body) == (200, b"Ok.\n")
    status, _, body = get(url, "/report", {"range": "2h"})
    assert status == 400 and b"range '2h': expected 1h, 6h, 24h, 7d, 30d or all" in body
    # ?refresh=N: the page's reload, kept in the range links; 0 never reloads
    status, _, body = get(url, "/report", {"range": "6h", "refresh": "300"})
    assert status == 200, body[:300]
    live = Sections(body.decode())
    assert {"http-equiv": "refresh", "content": "300"} in live.meta
    assert [href for href, _ in live.links] == [
        f"?range={r}&refresh=300" for r in ("1h", "6h", "24h", "7d", "30d", "all")]
    status, _, body = get(url, "/report", {"range": "6h", "refresh": "0"})
    assert status == 200 and b'http-equiv="refresh"' not in body, body[:600]
    for bad in ("5", "86401", "-1", "soon", ""):
        status, _, body = get(url, "/report", {"refresh": bad})
        assert status == 400 and \
            f"refresh '{bad}': expected 0 (never) or 10 to 86400 seconds".encode() in body, \
            (bad, body)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no {CHROMIUM} (make deps installs it)")
def test_live_report_in_chromium(served, tmp_path):
    port = served["url"].rsplit(":", 1)[1]
    page = f"{served['url']}/report?range=all&user=reader&password={PASSWORD}"
    netlog, shot = tmp_path / "netlog.json", tmp_path / "live.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-quic", "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                           "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                           f"--log-net-log={netlog}", f"--screenshot={shot}",
                           "--window-size=1400,2600", page],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0 and shot.exists(), log[-3000:]
    assert [line for line in log.splitlines() if ":CONSOLE" in line] == []
    events = json.loads(netlog.read_text()).get("events", [])
    origin = f"http://127.0.0.1:{port}"
    urls = {e.get("params", {}).get("url", "") for e in events} - {""}
    assert any(u.startswith(f"{origin}/report") for u in urls), urls
    # the page's own requests carry its site in their isolation key (Chromium's background
    # ones: null or google.com)
    page_requests = {e["params"]["url"] for e in events
                     if e.get("params", {}).get("url") and
                     "http://127.0.0.1" in e["params"].get("network_isolation_key", "")}
    assert page_requests and all(u.startswith(origin + "/") for u in page_requests), \
        page_requests
    assert shot.stat().st_size > 100_000
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, RESULTS / "live-report.png")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no {CHROMIUM} (make deps installs it)")
def test_live_report_playwright(served, tmp_path):
    assert (PLAYWRIGHT / "playwright-core").is_dir(), "make deps installs playwright-core (npm)"
    node = shutil.which("node")
    assert node, "node is needed (make deps installs npm and node)"
    shot = tmp_path / "playwright.png"
    proc = subprocess.run([node, str(LIVE_REPORT_JS), CHROMIUM,
                           f"{served['url']}/report?range=all", str(shot)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                          env={**os.environ, "NODE_PATH": str(PLAYWRIGHT),
                               "HTTP_USER": "reader", "HTTP_PASSWORD": PASSWORD})
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    out = json.loads(proc.stdout)
    assert out["title"] == "Network flows" and out["sections"] == views()
    assert out["console"] == [] and out["outside"] == [], (out["console"], out["outside"])
    # each range link leads to the page of that range, marked current
    assert [(label, current) for label, current, _ in out["ranges"]] == [
        (label, label) for label in ("Last hour", "Last 6 hours", "Last 24 hours",
                                     "Last 7 days", "Last 30 days", "All stored flows")]
    assert [search for _, _, search in out["ranges"]] == [
        f"?range={r}" for r in ("1h", "6h", "24h", "7d", "30d", "all")]
    assert out["refresh"] == 60 and out["reloaded"], out
    assert set(out["bubbles"]) == set(CONTINENTS), out["bubbles"]
    for code, (lat, lon) in out["bubbles"].items():
        south, north, west, east = CONTINENTS[code]
        assert south <= lat <= north and west <= lon <= east, (code, lat, lon)
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, RESULTS / "live-report-playwright.png")
