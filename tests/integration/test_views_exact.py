# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Every network view against the records it was built from, exactly: scaled by sampling, and
per observation point (agent, direction). The real embedded store through build/flowcollector;
the real agent for the sampled replay and the router.

Cases:
  test_sampled_records_every_view_exact   two agents (JSON and wire input), both directions,
                                          sampling 10 (and 1): every view, whole days and
                                          a sub-day range, unfiltered and filtered by agent
                                          and direction, equals the sum of packets x sampling
                                          and bytes x sampling of the records it covers
  test_sampled_replay_every_view_exact    flowagent --replay --sample 10 of a generated trace:
                                          the same, against the agent's own records
  test_interfaces_view_exact              traffic per agent, interface and direction, with
                                          mean and peak bits/s, filtered and not, --limit
  test_interfaces_filled_on_upgrade       a store from before the per-interface rollup: migrate
                                          fills it from flows.raw once, --reapply adds nothing
  test_bad_filter_refused                 --direction other than ingress/egress: exit 2
  test_router_counted_once_per_direction  a router namespace metered on both interfaces: a
                                          forwarded packet counts twice unfiltered, once with
                                          --direction ingress (or egress)
"""
import collections
import ipaddress
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BUILD, FLOWAGENT, TRACEGEN
from wire import RECORD_TAIL, encode_batch

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")

PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 132: "SCTP", 136: "UDP-Lite"}
PORT_PROTOS = (6, 17, 132, 136)
DAY0 = 1767571200  # 2026-01-05 00:00 UTC
VIEWS = ("daily_bandwidth_by_proto", "daily_packets", "bandwidth", "bandwidth_peak",
         "top_talkers", "top_conversations", "top_regions_bytes", "top_regions_packets",
         "top_ports_bytes", "top_ports_packets", "proto_share_bytes",
         "proto_share_packets", "interfaces", "region_map")


def collector(store, *args, input=None, check=True):
    cmd = [FLOWCOLLECTOR, "--store", f"embedded:{store}", *[str(a) for a in args]]
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{cmd} died from signal {-proc.returncode}"
    if check:
        assert proc.returncode == 0, f"{cmd}: {proc.stderr_text[-3000:]}"
    return proc


def view(store, name, *args):
    """A view's rows as dicts, through `query VIEW --tsv`."""
    out = collector(store, "query", name, "--tsv", *args).stdout.decode().splitlines()
    header = out[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in out[1:]]


def proto_name(p):
    return PROTO_NAMES.get(p, f"IP {p}")


def scaled(r, measure):
    return r[measure] * max(r.get("sampling", 1), 1)


class Truth:
    """What each view must show for the records a range and a filter select."""

    def __init__(self, records, region_of, start, end, agent=None, direction=None):
        whole_days = start % 86400 == 0 and end % 86400 == 0
        self.sums = collections.defaultdict(collections.Counter)
        for r in records:
            first = r["first_seen_ns"] // 10**9
            point = first - first % (86400 if whole_days else 60)
            if not start <= point < end:
                continue
            if agent is not None and r["agent"] != agent:
                continue
            if direction is not None and r["direction"] != direction:
                continue
            day = time.strftime("%Y-%m-%d", time.gmtime(first))
            proto = proto_name(r["proto"])
            for measure in ("bytes", "packets"):
                value = scaled(r, measure)
                self.sums["day_proto_" + measure][(day, proto)] += value
                self.sums["day_" + measure][day] += value
                self.sums["proto_" + measure][proto] += value
                if r["proto"] in PORT_PROTOS:
                    port = str(min(r["src_port"], r["dst_port"]))
                    self.sums["port_" + measure][(proto, port)] += value
                self.sums["region_" + measure][region_of(r["src_addr"])] += value
            self.sums["day_records"][day] += 1
        self.packets = sum(self.sums["day_packets"].values())
        self.bytes = sum(self.sums["day_bytes"].values())


def check_every_view(store, truth, args, known_regions):
    """Each of VIEWS run with args equals truth: every row, and the totals where the view
    lists everything."""
    t = truth.sums
    rows = view(store, "daily_bandwidth_by_proto", *args)
    assert {(r["day"], r["proto"]): (int(r["bytes"]), int(r["packets"])) for r in rows} == \
        {k: (t["day_proto_bytes"][k], t["day_proto_packets"][k]) for k in t["day_proto_bytes"]}
    rows = view(store, "daily_packets", *args)
    assert {r["day"]: (int(r["packets"]), int(r["bytes"]), int(r["records"])) for r in rows} == \
        {d: (t["day_packets"][d], t["day_bytes"][d], t["day_records"][d])
         for d in t["day_packets"]}
    for measure in ("bytes", "packets"):
        rows = view(store, f"proto_share_{measure}", *args)
        assert {r["proto"]: int(r[measure]) for r in rows} == dict(t["proto_" + measure])
        assert sum(int(r[measure]) for r in rows) == getattr(truth, measure)
        if rows:
            assert abs(sum(float(r["share_percent"]) for r in rows) - 100) < 0.05

        rows = view(store, f"top_ports_{measure}", *args)
        expected = t["port_" + measure]
        other = "packets" if measure == "bytes" else "bytes"
        assert len(rows) == min(10, len(expected))
        for r in rows:
            key = (r["proto"], r["port"])
            assert (int(r[measure]), int(r[other])) == \
                (expected[key], t["port_" + other][key]), r
        values = [int(r[measure]) for r in rows]
        assert values == sorted(values, reverse=True)
        assert values == sorted(expected.values(), reverse=True)[:10]

        rows = view(store, f"top_regions_{measure}", *args)
        expected = t["region_" + measure]
        assert len(rows) == min(10, len(expected))
        for r in rows:
            assert (int(r[measure]), int(r[other])) == \
                (expected[r["country_code"]], t["region_" + other][r["country_code"]]), r
        assert [int(r[measure]) for r in rows] == sorted(expected.values(), reverse=True)[:10]

    rows = view(store, "region_map", *args)
    assert {r["country_code"]: (int(r["bytes"]), int(r["packets"])) for r in rows} == \
        {c: (t["region_bytes"][c], t["region_packets"][c])
         for c in t["region_bytes"] if c in known_regions}


def filters(records):
    """Unfiltered, each agent, each direction, and one agent in one direction."""
    agents = sorted({r["agent"] for r in records})
    out = [(None, None)]
    out += [(a, None) for a in agents]
    out += [(None, "ingress"), (None, "egress"), (agents[-1], "egress")]
    return out


def filter_args(agent, direction):
    return [*(["--agent", agent] if agent else []),
            *(["--direction", direction] if direction else [])]


# --- sampled records, written by the test -------------------------------------------------------

REGIONS = [("US", "11.0.0.0/16"), ("JP", "12.0.0.0/16"), ("DE", "14.0.0.0/16"),
           ("BR", "15.0.0.0/16")]
# What geo load labels itself (collector/geo.c special_use): a file's more specific prefix wins.
SPECIAL_USE = [("PRIVATE", "10.0.0.0/8"), ("PRIVATE", "172.16.0.0/12"),
               ("PRIVATE", "192.168.0.0/16"), ("PRIVATE", "fc00::/7"),
               ("CGNAT", "100.64.0.0/10"), ("LOCAL", "127.0.0.0/8"), ("LOCAL", "169.254.0.0/16"),
               ("LOCAL", "::1/128"), ("LOCAL", "fe80::/10"), ("MULTICAST", "224.0.0.0/4"),
               ("MULTICAST", "ff00::/8"), ("DOC", "192.0.2.0/24"), ("DOC", "198.51.100.0/24"),
               ("DOC", "203.0.113.0/24"), ("DOC", "198.18.0.0/15"), ("DOC", "2001:db8::/32")]
# (proto, service port, bytes per packet); 47 (GRE) has no place in the port views
SERVICES = [(6, 443, 1200), (17, 53, 120), (6, 22, 300), (132, 3868, 400), (1, 0, 84),
            (47, 0, 700), (17, 443, 1100)]


def region_of_plan(plan):
    """The region of an address: the longest prefix of the plan or of SPECIAL_USE."""
    nets = sorted(((ipaddress.ip_network(p), code) for code, p in plan + SPECIAL_USE),
                  key=lambda n: -n[0].prefixlen)

    def region_of(address):
        a = ipaddress.ip_address(address)
        return next((code for net, code in nets if a.version == net.version and a in net),
                    "??")
    return region_of


def sampled_records():
    """2 agents x 2 directions x 2 days x 4 regions x 7 services, sampling 10, except a few
    records with sampling 1 (unsampled: counted as they are; the collector refuses 0)."""
    records = []
    n = 0
    for a, agent in enumerate(("edge-a", "edge-b")):
        for direction in ("ingress", "egress"):
            for d in range(2):
                for g, (_, prefix) in enumerate(REGIONS):
                    src = ipaddress.ip_network(prefix)[7 + d + a]
                    for s, (proto, port, size) in enumerate(SERVICES):
                        n += 1
                        packets = 3 + 5 * s + 11 * g + 2 * d + 17 * a + (direction == "egress")
                        start = (DAY0 + d * 86400 + 3600 * (s + 1) + 60 * g + 7 * a) * 10**9
                        records.append({
                            "agent": agent, "src_addr": str(src), "dst_addr": "192.0.2.10",
                            "src_port": 0 if port == 0 else 40000 + s, "dst_port": port,
                            "proto": proto, "vlan": 0, "packets": packets,
                            "bytes": packets * size + g, "tcp_flags": 0x12 if proto == 6 else 0,
                            "first_seen_ns": start, "last_seen_ns": start + 2 * 10**9,
                            "sampling": 1 if n % 13 == 0 or n % 17 == 0 else 10,
                            "ifindex": 1 + s % 3, "direction": direction})
    return records


def wire_record(r):
    def addr(text):
        a = ipaddress.ip_address(text)
        return (ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + a.packed).packed
                if a.version == 4 else a.packed)
    return addr(r["src_addr"]) + addr(r["dst_addr"]) + RECORD_TAIL.pack(
        r["src_port"], r["dst_port"], r["proto"], r["tcp_flags"], r["vlan"], r["ifindex"],
        r["direction"] == "egress", r["sampling"], r["packets"], r["bytes"], r["first_seen_ns"],
        r["last_seen_ns"])


@pytest.fixture(scope="module")
def sampled_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("views-exact")
    store = d / "flowdb"
    records = sampled_records()
    assert sum(r["sampling"] == 10 for r in records) > 0.8 * len(records)
    assert {r["sampling"] for r in records} == {1, 10}
    # edge-a as JSON lines, edge-b as wire batches: both inputs carry sampling
    json_file, wire_file = d / "edge-a.json", d / "edge-b.wire"
    json_file.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "agent"}) + "\n"
                                 for r in records if r["agent"] == "edge-a"))
    b = [wire_record(r) for r in records if r["agent"] == "edge-b"]
    with open(wire_file, "wb") as out:
        for i in range(0, len(b), 50):
            out.write(encode_batch("edge-b", 0x5eed5eed5eed5eed, i // 50 + 1, b[i:i + 50],
                                   flags=1 if i == 0 else 0))
    collector(store, "--input", json_file, "--input-agent", "edge-a")
    collector(store, "--input", wire_file)
    geo = d / "regions.csv"  # DB-IP lite CSV: first,last,country
    geo.write_text("".join(f"{ipaddress.ip_network(p)[0]},{ipaddress.ip_network(p)[-1]},{c}\n"
                           for c, p in REGIONS))
    collector(store, "geo", "load", geo)
    return store, records


def test_sampled_records_every_view_exact(sampled_store):
    store, records = sampled_store
    region_of = region_of_plan(REGIONS)
    known = {c for c, _ in REGIONS}
    [[raw_packets]] = [line.split("\t") for line in collector(
        store, "sql", "SELECT sum(packets) FROM flows.raw").stdout.decode().splitlines()]
    assert int(raw_packets) == sum(r["packets"] for r in records)  # raw keeps what was sampled
    ranges = [(DAY0, DAY0 + 2 * 86400, ["--from", "2026-01-05", "--to", "2026-01-07"]),
              # not whole days: the per-minute rollups answer, from 03:01 on the first day
              (DAY0 + 3 * 3600 + 60, DAY0 + 86400 + 5 * 3600,
               ["--from", "2026-01-05 03:01", "--to", "2026-01-06 05:00"])]
    for start, end, range_args in ranges:
        for agent, direction in filters(records):
            truth = Truth(records, region_of, start, end, agent, direction)
            assert truth.packets > 0
            check_every_view(store, truth, [*range_args, *filter_args(agent, direction)], known)
    # the whole default range, unfiltered: ten times what was metered, but for sampling 1
    truth = Truth(records, region_of, 0, 4294944000)
    assert truth.packets == sum(r["packets"] * max(r["sampling"], 1) for r in records)
    assert truth.packets > 8 * sum(r["packets"] for r in records)
    check_every_view(store, truth, [], known)
    # an agent nobody has: every view is empty
    for name in VIEWS:
        assert view(store, name, "--agent", "nobody") == []


def test_sampled_replay_every_view_exact(tmp_path):
    pcap = tmp_path / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "100000", "--days", "2", "--window", "120",
                    "--seed", "11", "--output", str(pcap), "--quiet"], check=True)
    proc = subprocess.run([FLOWAGENT, "--replay", "--no-progress", "--sample", "10", str(pcap)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    records = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    assert records and all(r["sampling"] == 10 for r in records)
    for r in records:
        r["agent"] = "replay"
    store = tmp_path / "flowdb"
    collector(store, "--input", "-", "--input-agent", "replay", input=proc.stdout)
    plan = subprocess.run([TRACEGEN, "--list-regions"], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.splitlines()[1:]
    regions = [(line.split(",", 2)[1], line.split(",", 2)[0]) for line in plan]
    geo = tmp_path / "regions.csv"
    geo.write_text("".join(f"{ipaddress.ip_network(p)[0]},{ipaddress.ip_network(p)[-1]},{c}\n"
                           for c, p in regions))
    collector(store, "geo", "load", geo)
    region_of = region_of_plan(regions)
    known = {c for c, _ in regions}
    for agent, direction in ((None, None), ("replay", "ingress")):
        truth = Truth(records, region_of, 0, 4294944000, agent, direction)
        assert truth.packets == 10 * sum(r["packets"] for r in records)
        check_every_view(store, truth, filter_args(agent, direction), known)


def bandwidth_truth(records, start, end, agent=None, direction=None):
    """The bandwidth and bandwidth_peak views' rows for [start, end): bits/s per bucket and
    protocol (a minute up to 6 h, an hour up to 8 days, else a day), and the peak, 95th
    percentile (the top 5% of minutes left out) and mean per minute, quiet minutes as 0."""
    span = end - start
    bucket = 60 if span <= 6 * 3600 else 3600 if span <= 8 * 86400 else 86400
    per_bucket, per_minute = collections.Counter(), collections.Counter()
    for r in records:
        minute = r["first_seen_ns"] // 10**9 // 60 * 60
        if not start <= minute < end or (agent and r["agent"] != agent) or \
                (direction and r["direction"] != direction):
            continue
        at = minute - minute % bucket
        label = time.strftime("%Y-%m-%d" if bucket == 86400 else "%Y-%m-%d %H:%M",
                              time.gmtime(at))
        per_bucket[(label, proto_name(r["proto"]))] += scaled(r, "bytes")
        per_minute[minute] += scaled(r, "bytes")
    rows = sorted(((t, p, round(b * 8 / bucket)) for (t, p), b in per_bucket.items()),
                  key=lambda row: (row[0], -per_bucket[row[:2]], row[1]))
    rates = sorted((b * 8 / 60 for b in per_minute.values()), reverse=True)
    minutes = (max(per_minute) - min(per_minute)) // 60 + 1 if per_minute else 0
    peak = [("peak", round(rates[0])),
            ("95th percentile", round(rates[minutes // 20]) if minutes // 20 < len(rates) else 0),
            ("mean", round(sum(rates) / minutes))] if rates else []
    return rows, peak


def test_bandwidth_views_exact(sampled_store):
    """bits/s per bucket and protocol, and the peak, 95th percentile and mean, for a range of
    2 hours (minutes), 26 hours (hours) and everything (days), filtered and not."""
    store, records = sampled_store
    ranges = [(DAY0 + 3 * 3600, DAY0 + 5 * 3600, ["--from", "2026-01-05 03:00", "--to",
                                                    "2026-01-05 05:00"]),
              (DAY0 + 3 * 3600 + 60, DAY0 + 86400 + 5 * 3600,
               ["--from", "2026-01-05 03:01", "--to", "2026-01-06 05:00"]),
              (0, 4294944000, [])]
    buckets = set()
    for start, end, range_args in ranges:
        for agent, direction in filters(records):
            args = [*range_args, *filter_args(agent, direction)]
            want_rows, want_peak = bandwidth_truth(records, start, end, agent, direction)
            assert want_rows and want_peak
            got = view(store, "bandwidth", *args)
            assert [(r["time"], r["proto"], int(r["bits_per_second"])) for r in got] == \
                want_rows, (args, got[:5], want_rows[:5])
            got = view(store, "bandwidth_peak", *args)
            assert [(r["statistic"], int(r["bits_per_second"])) for r in got] == want_peak, \
                (args, got, want_peak)
            buckets.add(len(want_rows[0][0]))
    assert buckets == {10, 16}  # days, and minutes or hours
    # nothing in the range: no rows, not a row of zeros
    assert view(store, "bandwidth_peak", "--from", "2030-01-01", "--to", "2030-01-02") == []


def address_text(text):
    """How the views write an address: IPv4 as a.b.c.d, IPv6 compressed."""
    return str(ipaddress.ip_address(text))


def raw_truth(records, start, end, key, agent=None, direction=None):
    """Sums by key over the records whose first minute is in [start, end), ranked as the raw
    views rank them: bytes descending, then the key."""
    sums = collections.defaultdict(lambda: [0, 0, 0])
    for r in records:
        minute = r["first_seen_ns"] // 10**9 // 60 * 60
        if not start <= minute < end or (agent and r["agent"] != agent) or \
                (direction and r["direction"] != direction):
            continue
        s = sums[key(r)]
        s[0] += scaled(r, "bytes")
        s[1] += scaled(r, "packets")
        s[2] += 1
    return sorted(((*k, *v) for k, v in sums.items()), key=lambda row: (-row[-3], row[:-3]))


def test_talkers_and_conversations_exact(sampled_store):
    """top_talkers (by source) and top_conversations (source, destination, protocol) from the
    raw rows: scaled by sampling, ranked by bytes, for a range of hours and everything,
    filtered and not, with --limit."""
    store, records = sampled_store
    ranges = [(DAY0 + 3 * 3600 + 60, DAY0 + 86400 + 5 * 3600,
               ["--from", "2026-01-05 03:01", "--to", "2026-01-06 05:00"]), (0, 4294944000, [])]
    for start, end, range_args in ranges:
        for agent, direction in filters(records):
            args = [*range_args, *filter_args(agent, direction)]
            want = raw_truth(records, start, end, lambda r: (address_text(r["src_addr"]),),
                             agent, direction)
            assert len(want) > 1
            got = view(store, "top_talkers", *args, "--limit", "100")
            assert [(r["address"], int(r["bytes"]), int(r["packets"]), int(r["records"]))
                    for r in got] == want, args
            want = raw_truth(records, start, end,
                             lambda r: (address_text(r["src_addr"]),
                                        address_text(r["dst_addr"]), proto_name(r["proto"])),
                             agent, direction)
            got = view(store, "top_conversations", *args)
            assert [(r["src"], r["dst"], r["proto"], int(r["bytes"]), int(r["packets"]),
                     int(r["records"])) for r in got] == want[:10], args
            assert len(got) == min(10, len(want))


def test_limit(sampled_store):
    """--limit N: a top view's first N rows of the whole ranking, N up to all of them."""
    store, records = sampled_store
    truth = Truth(records, region_of_plan(REGIONS), 0, 4294944000)
    ranked = sorted(truth.sums["port_bytes"].values(), reverse=True)
    assert len(ranked) == 5
    for limit in (1, 3, 4, 100000):
        rows = view(store, "top_ports_bytes", "--limit", str(limit))
        assert [int(r["bytes"]) for r in rows] == ranked[:limit], limit
    for bad in ("0", "-1", "ten", "100001"):
        proc = collector(store, "query", "top_ports_bytes", "--limit", bad, check=False)
        assert proc.returncode == 2, proc.stderr_text
        assert f"--limit '{bad}': expected a number of rows, 1 to 100000" in proc.stderr_text


def test_bad_filter_refused(tmp_path):
    for bad in ("both", "", "INGRESS", "in"):
        proc = collector(tmp_path / "db", "query", "daily_packets", "--direction", bad,
                         check=False)
        assert proc.returncode == 2
        assert f"--direction '{bad}': expected ingress or egress" in proc.stderr_text
    proc = collector(tmp_path / "db", "--retention-days", "90", "--rollup-retention-days", "60",
                     "migrate", check=False)
    assert proc.returncode == 2
    assert "--rollup-retention-days 60 is less than --retention-days 90" in proc.stderr_text


# --- a router metered on both of its interfaces -------------------------------------------------

def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


class Router:
    """Namespaces client -- router -- server, all made here: client ca 10.78.1.1/24 <-> ra
    10.78.1.254 on the router, router rb 10.78.2.254 <-> sb 10.78.2.1/24 on the server. The
    router forwards between ra and rb."""

    def __init__(self):
        tag = f"{os.getpid() % 10000}"
        self.client, self.router, self.server = f"fvc{tag}", f"fvr{tag}", f"fvs{tag}"
        self.made = []
        for ns in (self.client, self.router, self.server):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
        sh("ip", "link", "add", "ca", "netns", self.client, "type", "veth", "peer", "name", "ra",
           "netns", self.router)
        sh("ip", "link", "add", "rb", "netns", self.router, "type", "veth", "peer", "name", "sb",
           "netns", self.server)
        for ns, dev, addr in ((self.client, "ca", "10.78.1.1/24"),
                              (self.router, "ra", "10.78.1.254/24"),
                              (self.router, "rb", "10.78.2.254/24"),
                              (self.server, "sb", "10.78.2.1/24")):
            # no IPv6: its neighbour discovery would add packets of its own
            self.run(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.client, "route", "add", "default", "via", "10.78.1.254")
        sh("ip", "-n", self.server, "route", "add", "default", "via", "10.78.2.254")
        self.run(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def run(self, ns, *cmd, **kw):
        return sh("ip", "netns", "exec", ns, *cmd, **kw)

    def close(self):
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def router():
    r = Router()
    yield r
    r.close()


UDP_SERVER = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('10.78.2.1', 5000))\n"
              "print('ready', flush=True)\n"
              "for _ in range(int(sys.argv[1])):\n"
              "    s.recv(2048)\n")
UDP_CLIENT = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('10.78.1.1', 40000))\n"
              "for _ in range(int(sys.argv[1])):\n"
              "    s.sendto(b'u' * 100, ('10.78.2.1', 5000))\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")
def test_router_counted_once_per_direction(router, tmp_path):
    pings, datagrams = 6, 7
    out, err = open(tmp_path / "agent.json", "w+"), open(tmp_path / "agent.err", "w+")
    agent = subprocess.Popen(["ip", "netns", "exec", router.router, FLOWAGENT, "-v", "ra", "rb"],
                             stdout=out, stderr=err)
    server = None
    try:
        for _ in range(200):
            err.seek(0)
            if "capturing on" in err.read() or agent.poll() is not None:
                break
            time.sleep(0.05)
        err.seek(0)
        assert "capturing on 2 interface(s)" in err.read()
        # the neighbours are resolved first, so no packet is lost to ARP during the count
        router.run(router.router, "ping", "-q", "-c", "1", "-W", "2", "10.78.1.1")
        router.run(router.router, "ping", "-q", "-c", "1", "-W", "2", "10.78.2.1")
        router.run(router.client, "ping", "-q", "-c", str(pings), "-i", "0.2", "10.78.2.1")
        server = subprocess.Popen(["ip", "netns", "exec", router.server, "python3", "-c",
                                   UDP_SERVER, str(datagrams)], stdout=subprocess.PIPE,
                                  text=True)
        assert server.stdout.readline().strip() == "ready"
        router.run(router.client, "python3", "-c", UDP_CLIENT, str(datagrams))
        server.wait(timeout=30)
        assert server.returncode == 0
        server = None
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
    finally:
        if server and server.poll() is None:
            server.kill()
            server.wait()
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    out.seek(0)
    lines = [line for line in out.read().splitlines() if line.strip()]
    out.close()
    err.close()
    records = [json.loads(line) for line in lines]
    # only the traffic between client and server crosses the router
    forwarded = [r for r in records if {r["src_addr"], r["dst_addr"]} ==
                 {"10.78.1.1", "10.78.2.1"}]
    assert sum(r["packets"] for r in forwarded) == 2 * (2 * pings + datagrams)

    store = tmp_path / "flowdb"
    collector(store, "--input", "-", "--input-agent", "router",
              input="".join(line + "\n" for line in lines).encode())
    base = ["--from", "2000-01-01"]
    icmp = 2 * pings          # echo requests and replies
    icmp_bytes = icmp * 84    # 20 IP + 8 ICMP + 56 data
    udp_bytes = datagrams * 128  # 20 IP + 8 UDP + 100 data
    local = [r for r in records if r not in forwarded]  # the router's own pings, one point
    local_packets = {d: sum(r["packets"] for r in local if r["direction"] == d)
                     for d in ("ingress", "egress")}

    def protocols(*args):
        return {r["proto"]: (int(r["packets"]), int(r["bytes"]))
                for r in view(store, "daily_bandwidth_by_proto", *base, *args)}

    # unfiltered: every forwarded packet twice, once entering the router, once leaving it
    rows = protocols()
    assert rows["UDP"] == (2 * datagrams, 2 * udp_bytes)
    assert rows["ICMP"][0] == 2 * icmp + sum(local_packets.values())
    for direction in ("ingress", "egress"):
        rows = protocols("--direction", direction)
        assert rows["UDP"] == (datagrams, udp_bytes)
        assert rows["ICMP"][0] == icmp + local_packets[direction]
        rows = protocols("--direction", direction, "--agent", "router")
        assert rows["UDP"] == (datagrams, udp_bytes)
        ports = view(store, "top_ports_packets", *base, "--direction", direction)
        assert [(r["proto"], r["port"], int(r["packets"]), int(r["bytes"])) for r in ports] == \
            [("UDP", "5000", datagrams, udp_bytes)]
    # the ping's own bytes, each once per direction, without the router's local pings
    ingress_icmp = sum(r["bytes"] for r in forwarded if r["proto"] == 1 and
                       r["direction"] == "ingress")
    assert ingress_icmp == icmp_bytes
    [total] = view(store, "daily_packets", *base)
    [ingress] = view(store, "daily_packets", *base, "--direction", "ingress")
    assert int(total["packets"]) == 2 * (icmp + datagrams) + sum(local_packets.values())
    assert int(ingress["packets"]) == icmp + datagrams + local_packets["ingress"]
    assert view(store, "daily_packets", *base, "--agent", "elsewhere") == []


def interfaces_truth(records, start, end, agent=None, direction=None):
    """The interfaces view's rows: per (agent, ifindex, direction), bytes, packets and records,
    the mean bits/s over the point's minutes from its first to its last with traffic, and the
    peak minute's; bytes descending, then agent, interface and direction (ingress first)."""
    minutes = collections.defaultdict(collections.Counter)
    sums = collections.defaultdict(lambda: [0, 0, 0])
    for r in records:
        minute = r["first_seen_ns"] // 10**9 // 60 * 60
        if not start <= minute < end or (agent and r["agent"] != agent) or \
                (direction and r["direction"] != direction):
            continue
        point = (r["agent"], r["ifindex"], r["direction"])
        minutes[point][minute] += scaled(r, "bytes")
        s = sums[point]
        s[0] += scaled(r, "bytes")
        s[1] += scaled(r, "packets")
        s[2] += 1
    rows = []
    for point, (b, p, n) in sums.items():
        m = minutes[point]
        span = (max(m) - min(m)) // 60 + 1
        rows.append((point[0], str(point[1]), point[2], b, p, n, round(b * 8 / (span * 60)),
                     round(max(m.values()) * 8 / 60)))
    return sorted(rows, key=lambda row: (-row[3], row[0], int(row[1]), row[2] == "egress"))


def interface_rows(got):
    return [(r["agent"], r["interface"], r["direction"], int(r["bytes"]), int(r["packets"]),
             int(r["records"]), int(r["mean_bits_per_second"]), int(r["peak_bits_per_second"]))
            for r in got]


def test_interfaces_view_exact(sampled_store):
    """Per agent, interface and direction: every point's sums, mean and peak, for a range of
    hours and everything, filtered and not; the default limit (10) cuts the 12 points."""
    store, records = sampled_store
    points = {(r["agent"], r["ifindex"], r["direction"]) for r in records}
    assert len(points) == 12
    ranges = [(DAY0 + 3 * 3600 + 60, DAY0 + 86400 + 5 * 3600,
               ["--from", "2026-01-05 03:01", "--to", "2026-01-06 05:00"]), (0, 4294944000, [])]
    for start, end, range_args in ranges:
        for agent, direction in filters(records):
            args = [*range_args, *filter_args(agent, direction)]
            want = interfaces_truth(records, start, end, agent, direction)
            assert want and all(row[6] <= row[7] for row in want)
            got = view(store, "interfaces", *args, "--limit", "100")
            assert interface_rows(got) == want, args
            assert interface_rows(view(store, "interfaces", *args)) == want[:10], args
    assert len(interfaces_truth(records, 0, 4294944000)) == 12


def test_interfaces_filled_on_upgrade(sampled_store, tmp_path):
    """A store migrated before sql/006_interfaces.sql existed: without the table, its view and
    its migration row, as such a store is. The next start fills the table from flows.raw,
    exactly once: the view equals the records, and --reapply (every file again) and new
    inserts add only what is new."""
    store, records = sampled_store
    old = tmp_path / "flowdb"
    subprocess.run(["cp", "-a", str(store), str(old)], check=True)
    collector(old, "sql", "DROP TABLE flows.interface_1m_mv")
    collector(old, "sql", "DROP TABLE flows.interface_1m")
    collector(old, "sql", "ALTER TABLE flows.schema_migrations DELETE WHERE "
                          "version = 6 SETTINGS mutations_sync = 2")
    want = interfaces_truth(records, 0, 4294944000)
    proc = collector(old, "-v", "migrate")  # every command migrates first; -v says what
    assert "schema: applied 006_interfaces.sql" in proc.stderr_text, proc.stderr_text
    assert interface_rows(view(old, "interfaces", "--limit", "100")) == want
    collector(old, "migrate", "--reapply")
    assert interface_rows(view(old, "interfaces", "--limit", "100")) == want
    # the view feeds it again: one more record of edge-a on interface 9
    extra = dict(records[0], ifindex=9, packets=4, bytes=4000, sampling=1)
    line = json.dumps({k: v for k, v in extra.items() if k != "agent"}) + "\n"
    collector(old, "--input", "-", "--input-agent", "edge-a", input=line.encode())
    got = interface_rows(view(old, "interfaces", "--limit", "100"))
    assert len(got) == 13
    assert ("edge-a", "9", extra["direction"], 4000, 4, 1, round(4000 * 8 / 60),
            round(4000 * 8 / 60)) in got
    assert [row for row in got if row[1] != "9"] == want
