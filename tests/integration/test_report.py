# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`flowcollector report --html`: one self-contained page, rendered offline in headless Chromium.

Cases:
  test_report_page_is_self_contained   no script, no external reference, a CSP that forbids fetching
  test_report_tables_equal_truth       every view has its panel; the tables hold the exact sums
                                       of the flows stored, the bars and slices are in order
  test_report_renders_offline          Chromium: no console message, no request leaves the page,
                                       a screenshot that is not blank
                                       (copied to build/test-results/report.png)
  test_report_empty_range              a range without flows: every panel says so, and it renders

The page comes from produce_report(); the checks only read the file it returns.
"""
import collections
import html.parser
import ipaddress
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import BUILD

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
RESULTS = BUILD / "test-results"

pytestmark = [
    pytest.mark.skipif(not os.access(FLOWCOLLECTOR, os.X_OK),
                       reason=f"{FLOWCOLLECTOR} not built (make builds it; or set FLOWCOLLECTOR)"),
    pytest.mark.skipif(not LIBCHDB.exists() and os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                       reason="no libchdb (make deps fetches it)"),
]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHROMIUM") == "1",
    reason=f"no {CHROMIUM} (make deps installs it)")

# --- the flows: 3 days, TCP/UDP/ICMP, 6 source regions, 7 service ports ----------------------
DAY0 = 1767571200  # 2026-01-05 00:00 UTC
DAYS = ["2026-01-05", "2026-01-06", "2026-01-07"]
PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP"}
# (code, name in the embedded country table (i18n-iso-countries), source prefix, weight)
REGIONS = [("US", "United States", "11.0.0.0/16", 40), ("JP", "Japan", "12.0.0.0/16", 23),
           ("CN", "China", "13.0.0.0/16", 11), ("DE", "Germany", "14.0.0.0/16", 7),
           ("BR", "Brazil", "15.0.0.0/16", 3), ("AU", "Australia", "16.0.0.0/16", 1),
           ("EU", "European Union (no single country)", "17.0.0.0/16", 2)]
# Not in the geolocation file: geo load labels it itself (special-use ranges, RFC 6890).
PRIVATE = [("PRIVATE", "Private network (RFC 1918, RFC 4193)", "10.9.0.0/16", 5)]
# Where each region's bubble must be: (south, north, west, east) in degrees; EU has no place.
CONTINENTS = {"US": (25, 49, -125, -67), "JP": (30, 46, 129, 146), "CN": (20, 50, 75, 125),
              "DE": (47, 55, 5, 15), "BR": (-30, 5, -70, -35), "AU": (-39, -11, 113, 154)}
MAP_SCALE = 1200 / 360  # collector/report.c: equirectangular, 1200 units wide
# (proto, service port, bytes per packet, packets); ICMP has no port and no place in the port views
SERVICES = [(6, 443, 1200, 500), (17, 443, 1100, 400), (6, 80, 900, 300), (17, 53, 120, 700),
            (6, 22, 300, 90), (6, 873, 1400, 40), (1, 0, 84, 60)]


def flow_records():
    """Every (day, region, service) once, with sizes that make every total distinct."""
    records = []
    for d in range(len(DAYS)):
        for r, (_, _, prefix, weight) in enumerate(REGIONS + PRIVATE):
            src = ipaddress.ip_network(prefix)[5 + d]
            for s, (proto, port, size, packets) in enumerate(SERVICES):
                packets = packets * weight + 7 * d + s
                start = (DAY0 + d * 86400 + 3600 * (s + 1) + 60 * r) * 10**9
                records.append({
                    "src_addr": str(src), "dst_addr": "192.0.2.10",
                    "src_port": 0 if proto == 1 else 40000 + s, "dst_port": port,
                    "proto": proto, "vlan": 0, "packets": packets, "bytes": packets * size + r,
                    "tcp_flags": 0x12 if proto == 6 else 0, "first_seen_ns": start,
                    "last_seen_ns": start + 5 * 10**9, "sampling": 1, "ifindex": 0,
                    "direction": "ingress"})
    return records


def truth(records):
    t = collections.defaultdict(lambda: collections.Counter())
    regions = {str(ipaddress.ip_network(p)): code for code, _, p, _ in REGIONS + PRIVATE}
    for rec in records:
        day = DAYS[(rec["first_seen_ns"] // 10**9 - DAY0) // 86400]
        proto = PROTO_NAMES[rec["proto"]]
        port = min(rec["src_port"], rec["dst_port"])
        region = next(c for p, c in regions.items()
                      if ipaddress.ip_address(rec["src_addr"]) in ipaddress.ip_network(p))
        for measure in ("bytes", "packets"):
            t["day_proto_" + measure][(day, proto)] += rec[measure]
            t["day_" + measure][day] += rec[measure]
            t["proto_" + measure][proto] += rec[measure]
            if rec["proto"] in (6, 17):  # the port views count TCP, UDP and SCTP only
                t["port_" + measure][(proto, str(port))] += rec[measure]
            t["region_" + measure][region] += rec[measure]
    return t


def collector(store, *args, input=None):
    cmd = [FLOWCOLLECTOR, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr.decode(errors='replace')[-3000:]}"
    return proc.stdout.decode()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An embedded store holding flow_records(), geolocated by REGIONS."""
    d = tmp_path_factory.mktemp("report")
    records = flow_records()
    collector(d / "flowdb", "--input", "-", "--input-agent", "report-test",
              input="".join(json.dumps(r) + "\n" for r in records).encode())
    geo = d / "regions.csv"  # DB-IP lite CSV: first,last,country
    geo.write_text("".join(f"{ipaddress.ip_network(p)[0]},{ipaddress.ip_network(p)[-1]},{c}\n"
                           for c, _, p, _ in REGIONS))
    collector(d / "flowdb", "geo", "load", geo)
    return d / "flowdb", truth(records)


def produce_report(store, out, *args):
    """The page under test: switch this to produce it another way."""
    collector(store, "report", "--html", out, *args)
    return pathlib.Path(out)


def view_list():
    out = subprocess.run([FLOWCOLLECTOR, "query", "list"], stdout=subprocess.PIPE, check=True,
                         text=True).stdout
    return [tuple(line.split(None, 1)) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    path = produce_report(store[0], tmp_path_factory.mktemp("page") / "report.html")
    return path, store[1]


# --- reading the page ------------------------------------------------------------------------
class Page(html.parser.HTMLParser):
    """Sections by id: title, tables (rows of cell text), svg count, the "no data" text; and
    every attribute that can make a browser fetch."""
    FETCHING = {"src", "href", "xlink:href", "action", "formaction", "poster", "data",
                "srcset", "background", "ping", "manifest"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.sections, self.tags, self.fetching, self.meta = {}, collections.Counter(), [], []
        self.section = self.cell = self.capture = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        self.fetching += [(tag, k, v) for k, v in attrs.items() if k in self.FETCHING]
        if tag == "meta":
            self.meta.append(attrs)
        if tag == "section":
            self.section = self.sections.setdefault(
                attrs.get("id"), {"title": "", "tables": [], "svg": 0, "empty": ""})
        elif self.section is None:
            return
        elif tag == "svg":
            self.section["svg"] += 1
        elif tag == "table":
            self.section["tables"].append([])
        elif tag == "tr":
            self.section["tables"][-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "h2" or (tag == "div" and attrs.get("class") == "empty"):
            self.capture = tag, []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.section["tables"][-1][-1].append("".join(self.cell).strip())
            self.cell = None
        elif self.capture and tag == self.capture[0]:
            self.section["title" if tag == "h2" else "empty"] = "".join(self.capture[1])
            self.capture = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data):
        # in the tables, digit groups are <span>s: the text of a cell is the plain number
        if self.cell is not None:
            self.cell.append(data)
        if self.capture:
            self.capture[1].append(data)


def table_dicts(section):
    header, *rows = section["tables"][0]
    return [dict(zip(header, row)) for row in rows]


# --- Chromium and PNG --------------------------------------------------------------------------
def render(page, out_png, work):
    """Screenshot page; returns (console lines, URLs the page requested). No DNS either."""
    netlog = work / "netlog.json"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-quic", "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={work / 'profile'}", "--enable-logging=stderr",
                           "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND",
                           f"--log-net-log={netlog}", f"--screenshot={out_png}",
                           "--window-size=1400,2600", page.resolve().as_uri()],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0 and out_png.exists(), log[-3000:]
    # the page has no script: any console line is an error or a blocked load
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    # Chromium's own background requests have no page behind them; the page's have a file://
    # network isolation key and the file's null origin as initiator
    assert netlog.exists(), "Chromium wrote no net log: the request check would prove nothing"
    events = json.loads(netlog.read_text()).get("events", [])
    assert events, "an empty net log: the request check would prove nothing"
    requested = []
    for event in events:
        params = event.get("params", {})
        url = params.get("url", "")
        if url and not url.startswith(("file:", "data:")) and (
                "file://" in params.get("network_isolation_key", "") or
                params.get("initiator") == "null"):
            requested.append(url)
    return console, sorted(set(requested))


def png_rgb_rows(data):
    """A non-interlaced 8-bit RGB or RGBA PNG, decoded with zlib and struct: rows of (r, g, b)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and not interlace, (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (left + previous[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        previous = line
    return rows


# --- the cases ---------------------------------------------------------------------------------
def test_report_page_is_self_contained(report):
    path, _ = report
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.fetching == [], page.fetching
    for tag in ("script", "link", "img", "iframe", "object", "embed", "video", "audio", "base"):
        assert page.tags[tag] == 0, tag
    for needle in ("http://", "https://", "url(", "@import", "//fonts", "javascript:"):
        assert needle not in text, needle
    csp = [m.get("content", "") for m in page.meta
           if m.get("http-equiv", "").lower() == "content-security-policy"]
    assert csp and "default-src 'none'" in csp[0], page.meta


def test_report_tables_equal_truth(report):
    path, t = report
    page = Page(path.read_text(encoding="utf-8"))
    views = view_list()
    assert list(page.sections) == [name for name, _ in views]
    for name, title in views:
        s = page.sections[name]
        assert s["title"] == title and s["svg"] >= 1 and not s["empty"], (name, s)

    # ICMP is under 5% of TCP: drawn again on a scale of its own, alone
    text = path.read_text(encoding="utf-8")
    section = text[text.index('id="daily_bandwidth_by_proto"'):]
    section = section[:section.index("</section>")]
    svgs = re.findall(r"<svg .*?</svg>", section, re.S)
    assert len(svgs) == 2 and page.sections["daily_packets"]["svg"] == 1
    assert all(f"&#10;{p}: " in svgs[0] for p in ("TCP", "UDP", "ICMP")), svgs[0][-800:]
    assert "&#10;ICMP: " in svgs[1] and "TCP" not in svgs[1] and "UDP" not in svgs[1]
    # the pivot: a day per row, a column of bytes per protocol
    header, *rows = page.sections["daily_bandwidth_by_proto"]["tables"][0]
    assert header == ["day", "TCP bytes", "UDP bytes", "ICMP bytes"]  # largest total first
    assert rows == [[day] + [str(t["day_proto_bytes"][(day, p)]) for p in ("TCP", "UDP", "ICMP")]
                    for day in DAYS]
    rows = table_dicts(page.sections["daily_packets"])
    assert [(r["day"], int(r["packets"]), int(r["bytes"])) for r in rows] == \
        [(day, t["day_packets"][day], t["day_bytes"][day]) for day in DAYS]

    for measure in ("bytes", "packets"):
        rows = table_dicts(page.sections[f"proto_share_{measure}"])
        assert {r["proto"]: int(r[measure]) for r in rows} == t[f"proto_{measure}"]
        assert abs(sum(float(r["share_percent"]) for r in rows) - 100) < 0.05

        rows = table_dicts(page.sections[f"top_ports_{measure}"])
        assert {(r["proto"], r["port"]): int(r[measure]) for r in rows} == t[f"port_{measure}"]
        assert [int(r[measure]) for r in rows] == \
            sorted(t[f"port_{measure}"].values(), reverse=True)

        rows = table_dicts(page.sections[f"top_regions_{measure}"])
        assert {r["country_code"]: int(r[measure]) for r in rows} == t[f"region_{measure}"]
        assert {r["country_code"]: r["country_name"] for r in rows} == \
            {code: name for code, name, _, _ in REGIONS + PRIVATE}

    rows = table_dicts(page.sections["region_map"])
    assert {r["country_code"]: (int(r["bytes"]), int(r["packets"])) for r in rows} == \
        {c: (t["region_bytes"][c], t["region_packets"][c]) for c, _, _, _ in REGIONS + PRIVATE}
    for r in rows:
        if r["country_code"] in ("EU", "PRIVATE"):  # no single place: not (0, 0)
            assert (r["latitude"], r["longitude"]) == ("nan", "nan"), r
            continue
        south, north, west, east = CONTINENTS[r["country_code"]]
        assert south <= float(r["latitude"]) <= north and \
            west <= float(r["longitude"]) <= east, r


def test_report_map_puts_countries_in_place(report):
    """Each bubble inside its country's box; EU and PRIVATE, without a place, drawn nowhere
    and named under the map."""
    path, _ = report
    text = path.read_text(encoding="utf-8")
    section = text[text.index('<section class="wide" id="region_map">'):]
    section = section[:section.index("</section>")]
    bubbles = re.findall(r'<circle cx="([0-9.]+)" cy="([0-9.]+)" r="[0-9.]+" class="bubble">'
                         r'<title>[^<(]*\((\w+)\)', section)
    placed = {code: (90 - float(cy) / MAP_SCALE, float(cx) / MAP_SCALE - 180)
              for cx, cy, code in bubbles}
    assert set(placed) == set(CONTINENTS), placed
    for code, (lat, lon) in placed.items():
        south, north, west, east = CONTINENTS[code]
        assert south - 0.5 <= lat <= north + 0.5 and west - 0.5 <= lon <= east + 0.5, \
            (code, lat, lon)
    [note] = re.findall(r"Not on the map, for want of a single place \(or south of "
                        r"60&#176;S\): (.*?)\.</p>", section)
    # largest first, the bytes formatted
    assert re.fullmatch(r"Private network \(RFC 1918, RFC 4193\) \(PRIVATE\) [0-9.]+ [kMG]B, "
                        r"European Union \(no single country\) \(EU\) [0-9.]+ [kMG]B", note), note
    # the land: Natural Earth's rings, one path, no stripe across the map from a ring that
    # crosses the antimeridian (a subpath as wide as the map)
    [land] = re.findall(r'<path class="land" d="([^"]+)"/>', section)
    rings = [ring for ring in land.split("Z") if ring]
    assert len(rings) > 100, len(rings)
    for ring in rings:
        points = [(int(x), int(y)) for x, y in re.findall(r"[ML](-?\d+) (-?\d+)", ring)]
        xs = [x for x, _ in points]
        if min(y for _, y in points) > 500:
            continue  # Antarctica, south of the drawn 60 degrees S
        assert max(xs) - min(xs) < 1100 or min(xs) < -100 or max(xs) > 1300, ring[:200]


@needs_chromium
def test_report_renders_offline(report, tmp_path):
    path, _ = report
    shot = tmp_path / "report.png"
    console, requested = render(path, shot, tmp_path)
    assert console == [], console
    assert requested == [], requested
    data = shot.read_bytes()
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, RESULTS / "report.png")
    assert len(data) > 100_000, len(data)
    rows = png_rgb_rows(data)
    assert (len(rows[0]), len(rows)) == (1400, 2600)
    # the page's own colours: the header (#181b1f) at the top, the body (#111217) at the edge
    assert rows[5][5] == (0x18, 0x1b, 0x1f), rows[5][5]
    assert rows[1500][3] == (0x11, 0x12, 0x17), rows[1500][3]
    # and drawn on: many colours, and a good part of the page is not background
    sample = [px for row in rows[::7] for px in row[::7]]
    assert len(set(sample)) > 200, len(set(sample))
    background = {(0x11, 0x12, 0x17), (0x18, 0x1b, 0x1f)}
    assert sum(px not in background for px in sample) > len(sample) // 10


@needs_chromium
def test_report_empty_range(store, tmp_path):
    path = produce_report(store[0], tmp_path / "empty.html", "--from", "2030-01-01",
                          "--to", "2030-01-02")
    page = Page(path.read_text(encoding="utf-8"))
    assert list(page.sections) == [name for name, _ in view_list()]
    for name, s in page.sections.items():
        assert s["empty"] == "No data in this time range" and s["tables"] == [], (name, s)
    console, requested = render(path, tmp_path / "empty.png", tmp_path)
    assert console == [] and requested == [], (console, requested)
