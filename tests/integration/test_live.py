# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Live capture on a veth pair between two network namespaces this test creates (fa, fb). The
agent runs inside fb on its end of the pair; traffic comes from fa. Nothing touches the host's
interfaces.

Cases:
  test_ping_both_directions_exact        5 echo requests in, 5 replies out, exact bytes
  test_real_tcp_both_directions_and_fin_exports_early
  test_live_equals_replay                tcpreplay of every Ethernet capture, and of a generated
                                         trace, == flowagent --replay of the same frames
  test_signal_mid_stream_loses_nothing   SIGTERM, SIGINT or SIGHUP: records sum to every packet
                                         the programs saw, nothing left attached
  test_map_full_counted_traffic_passes   tiny --max-flows: map_full == packets not recorded
  test_metrics_endpoint                  Prometheus text on 127.0.0.1 only
  test_high_water_drains_early           a filling map is drained before the interval
  test_sigkill_then_restart_is_clean     a stale XDP program is removed, capture works
  test_closed_output_detaches            EPIPE on the output: detach and exit 1, no SIGPIPE
  test_errors                            no such interface, not root, foreign XDP program,
                                         the same interface twice
  test_quiet_without_v                   no library noise without -v
  test_interface_gone_and_back           deleted and re-created: reported, attached again
  test_interface_gone_for_good           deleted: its records kept, exit 1
  test_live_to_kafka_exact               ping through the agent into a real Kafka broker
  test_max_flows_beyond_memory_refused   maps that would not fit in memory: refused, sized
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

import struct

from conftest import (FLOWAGENT, FLOWAGENT_ASAN, PCAPS, ROOT, TRACEGEN, needs_shared,
                      shared_captures)
from procinfo import link_fdinfos

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


class Pair:
    """Namespaces fa and fb joined by veth va <-> vb, addresses 10.77.0.1 and .2."""

    def __init__(self, addresses=True):
        tag = f"{os.getpid() % 10000}"
        self.fa, self.fb = f"fla{tag}", f"flb{tag}"
        sh("ip", "netns", "add", self.fa)
        sh("ip", "netns", "add", self.fb)
        self.link(addresses)

    def link(self, addresses=True):
        """The veth pair, (again) after it was deleted. Its indexes are drawn at random from a
        range nothing else uses, so that they are unique on the machine: the TCX links are
        told apart by index (tcx_programs), whatever other tests run meanwhile."""
        index = random.randrange(1 << 20, 1 << 30, 2)
        sh("ip", "link", "add", "va", "netns", self.fa, "index", str(index + 1), "type", "veth",
           "peer", "name", "vb", "netns", self.fb, "index", str(index))
        for ns, dev, addr in ((self.fa, "va", "10.77.0.1/24"), (self.fb, "vb", "10.77.0.2/24")):
            # no IPv6: its neighbour discovery would add flows of its own
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            if addresses:
                sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            # replayed frames behind several VLAN tags exceed 1500 bytes
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "9000", "up")
        self.vb_ifindex = int(sh("ip", "netns", "exec", self.fb, "cat",
                                 "/sys/class/net/vb/ifindex").stdout)

    def run(self, ns, *cmd, **kw):
        return sh("ip", "netns", "exec", ns, *cmd, **kw)

    def close(self):
        sh("ip", "netns", "del", self.fa, check=False)
        sh("ip", "netns", "del", self.fb, check=False)


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


class Agent:
    def __init__(self, pair, *args, binary=FLOWAGENT, prefix=()):
        """prefix: a command that execs the agent (setpriv), so the process is the agent."""
        self.out = open(f"/tmp/flowagent-live-{os.getpid()}.json", "w+")
        self.err = open(f"/tmp/flowagent-live-{os.getpid()}.err", "w+")
        self.proc = subprocess.Popen(["ip", "netns", "exec", pair.fb, *prefix, binary, "-v",
                                      *args], stdout=self.out, stderr=self.err)
        # attached once it says so
        for _ in range(200):
            if "capturing on" in self.stderr() or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert "capturing on" in self.stderr(), self.stderr()

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.out.seek(0)
        records = [json.loads(line) for line in self.out if line.strip()]
        counters = {}
        for line in self.stderr().splitlines():
            parts = line.split()
            if line.startswith("  ") and len(parts) == 2 and parts[1].isdigit():
                counters[parts[0]] = int(parts[1])
        assert "Sanitizer" not in self.stderr() and "runtime error" not in self.stderr()
        for f in (self.out, self.err):
            os.unlink(f.name)
            f.close()
        return rc, records, counters


def tcx_programs(ifindex):
    """Names of the programs of the TCX links (link type 11) on the interface of that index,
    found in the fdinfo of every process's BPF link files: a TCX link exists only while a
    process holds it (we pin none), and this machine's bpftool (7.1) cannot say which
    interface one is on. The test interfaces' indexes are unique on the machine (Pair), so
    an agent of another test, on another namespace's vb, is not counted."""
    prog_ids = {info["prog_id"] for info in link_fdinfos()
                if info["link_type"] == "tcx" and info.get("ifindex") == str(ifindex)}
    names = []
    for prog_id in sorted(prog_ids):
        shown = sh("bpftool", "-j", "prog", "show", "id", prog_id, check=False)
        if shown.returncode == 0:
            names.append(json.loads(shown.stdout)["name"])
    return names


def attached(pair):
    """Whether an XDP program is on vb, and whether our TC egress program is (a TCX link, or a
    filter on clsact)."""
    link = pair.run(pair.fb, "ip", "link", "show", "vb").stdout
    clsact = pair.run(pair.fb, "tc", "filter", "show", "dev", "vb", "egress").stdout
    return "prog/xdp" in link, \
        "tc_flow_egress" in clsact or "tc_flow_egress" in tcx_programs(pair.vb_ifindex)


def by_key(records, direction):
    totals = {}
    for r in records:
        if r["direction"] != direction:
            continue
        k = (r["src_addr"], r["dst_addr"], r["src_port"], r["dst_port"], r["proto"], r["vlan"])
        t = totals.setdefault(k, [0, 0])
        t[0] += r["packets"]
        t[1] += r["bytes"]
    return totals


def test_ping_both_directions_exact(pair):
    # under ASan+UBSan: the live path's memory handling is checked here
    agent = Agent(pair, "vb", binary=FLOWAGENT_ASAN)
    assert attached(pair) == (True, True)
    pair.run(pair.fa, "ping", "-q", "-c", "5", "-i", "0.2", "10.77.0.2")
    rc, records, counters = agent.stop()
    assert rc == 0
    ingress, egress = by_key(records, "ingress"), by_key(records, "egress")
    assert ingress[("10.77.0.1", "10.77.0.2", 0, 8 * 256, 1, 0)] == [5, 5 * 84]
    assert egress[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [5, 5 * 84]
    assert {r["ifindex"] for r in records} == {pair.vb_ifindex}
    assert sum(r["packets"] for r in records) == counters["recorded"]
    # every program detached, the qdisc we created removed
    assert attached(pair) == (False, False)


def tcpreplay(pair, capture):
    out = pair.run(pair.fa, "tcpreplay", "-i", "va", "--pps=20000", str(capture)).stdout
    sent = int(out.split("Actual: ")[1].split()[0])
    return sent


def ethernet_captures():
    """Classic pcap files with Ethernet framing (pcapng and other link types are not sent)."""
    found = []
    for path in shared_captures():
        head = path.read_bytes()[:24]
        if len(head) < 24 or head[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1",
                                              b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            continue
        order = "<" if head[0] in (0xd4, 0x4d) else ">"
        if struct.unpack(order + "I", head[20:24])[0] & 0xFFFF == 1:
            found.append(path)
    return found


def sendable_copy(capture, target):
    """The frames a veth can carry (14 to 9000 bytes), as a microsecond pcap, in order."""
    data = capture.read_bytes()
    order = "<" if data[0] in (0xd4, 0x4d) else ">"
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    off, kept = 24, 0
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(order + "IIII", data, off)
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if len(frame) < caplen:
            break
        if 14 <= caplen <= 9000:
            # the wire length of a replayed frame is what was captured of it
            out.append(struct.pack("<IIII", sec, frac % 1000000, caplen, caplen) + frame)
            kept += 1
    target.write_bytes(b"".join(out))
    return kept


def live_equals_replay(capture, tmp_path):
    sendable = tmp_path / "sendable.pcap"
    kept = sendable_copy(capture, sendable)
    if not kept:
        pytest.skip(f"{capture.name}: no frame a veth can carry")
    p = Pair(addresses=False)
    try:
        agent = Agent(p, "vb")
        sent = tcpreplay(p, sendable)
        rc, records, counters = agent.stop()
    finally:
        p.close()
    assert rc == 0
    assert sent == kept
    replay = subprocess.run([FLOWAGENT, "--replay", "--no-progress", str(sendable)],
                            capture_output=True, text=True, check=True)
    expected = by_key([json.loads(line) for line in replay.stdout.splitlines()], "ingress")
    assert counters["packets"] == kept
    assert by_key(records, "ingress") == expected


@needs_shared
@pytest.mark.parametrize("capture", ethernet_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_live_equals_replay(capture, tmp_path):
    live_equals_replay(capture, tmp_path)


def test_live_equals_replay_generated(tmp_path):
    trace = tmp_path / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "20000", "--days", "1", "--window", "30",
                    "--output", str(trace)], check=True, stderr=subprocess.DEVNULL)
    live_equals_replay(trace, tmp_path)


def udp_flood(pair, count, flows):
    script = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for i in range({count}):\n"
        f"    s.sendto(b'x' * 64, ('10.77.0.2', 20000 + i % {flows}))\n")
    return subprocess.Popen(["ip", "netns", "exec", pair.fa, "python3", "-c", script])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_mid_stream_loses_nothing(pair, sig):
    """SIGHUP too (an ssh disconnect, a closed terminal): detached, everything exported."""
    agent = Agent(pair, "vb", "--drain-interval", "100", binary=FLOWAGENT_ASAN)
    sender = udp_flood(pair, 400000, 50)
    time.sleep(1.0)
    rc, records, counters = agent.stop(sig)
    sender.wait(timeout=120)
    assert rc == 0
    assert counters["packets"] > 0
    # everything the programs counted reached a record, to the packet
    assert sum(r["packets"] for r in records) == counters["recorded"]
    assert counters["map_full"] == 0
    assert attached(pair) == (False, False)


def test_map_full_counted_traffic_passes(pair):
    agent = Agent(pair, "vb", "--max-flows", "16", "--drain-interval", "60000")
    before = int(pair.run(pair.fb, "cat", "/sys/class/net/vb/statistics/rx_packets").stdout)
    sender = udp_flood(pair, 2000, 200)
    sender.wait(timeout=60)
    time.sleep(0.2)
    after = int(pair.run(pair.fb, "cat", "/sys/class/net/vb/statistics/rx_packets").stdout)
    rc, records, counters = agent.stop()
    assert rc == 0
    udp_in = sum(r["packets"] for r in records if r["proto"] == 17 and
                 r["direction"] == "ingress")
    assert counters["map_full"] > 0
    # every UDP packet is in a record or counted as not recordable, to the packet
    assert udp_in + counters["map_full"] == 2000
    assert counters["recorded"] + counters["map_full"] + counters["non_ip"] == counters["packets"]
    # XDP passed every frame on
    assert after - before >= 2000


TCP_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 5001))
s.listen(1)
c, _ = s.accept()
got = 0
while True:
    data = c.recv(65536)
    if not data:
        break
    got += len(data)
c.sendall(b"ok %d" % got)
c.close()
"""

TCP_CLIENT = """
import socket
c = socket.create_connection(("10.77.0.2", 5001))
c.sendall(b"y" * 300000)
c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode())
c.close()
"""


def test_real_tcp_both_directions_and_fin_exports_early(pair):
    # a long idle timeout: only the FIN can make the records appear while the agent runs
    agent = Agent(pair, "vb", "--idle-timeout", "300", "--drain-interval", "100")
    server = subprocess.Popen(["ip", "netns", "exec", pair.fb, "python3", "-c", TCP_SERVER])
    time.sleep(0.3)
    client = pair.run(pair.fa, "python3", "-c", TCP_CLIENT)
    assert client.stdout.strip() == "ok 300000"
    server.wait(timeout=30)
    time.sleep(0.5)
    agent.out.seek(0)
    early = [json.loads(line) for line in agent.out if line.strip()]
    rc, records, counters = agent.stop()
    assert rc == 0
    to_server = [r for r in early if r["proto"] == 6 and r["dst_port"] == 5001]
    to_client = [r for r in early if r["proto"] == 6 and r["src_port"] == 5001]
    assert to_server and all(r["direction"] == "ingress" for r in to_server)
    assert to_client and all(r["direction"] == "egress" for r in to_client)
    assert all(r["src_addr"] == "10.77.0.1" for r in to_server)
    flags_in = 0
    for r in to_server:
        flags_in |= r["tcp_flags"]
    assert flags_in & 0x02 and flags_in & 0x01  # SYN and FIN, exported before the stop
    # 300000 bytes of payload crossed, plus headers
    assert sum(r["bytes"] for r in to_server) > 300000
    assert sum(r["packets"] for r in records) == counters["recorded"]


SCRAPE = """
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics", timeout=10).read().decode())
"""


def test_metrics_endpoint(pair):
    pair.run(pair.fb, "ip", "link", "set", "lo", "up")
    agent = Agent(pair, "vb", "--metrics", "9465", "--drain-interval", "100")
    pair.run(pair.fa, "ping", "-q", "-c", "4", "-i", "0.2", "10.77.0.2")
    time.sleep(0.5)
    text = pair.run(pair.fb, "python3", "-c", SCRAPE % 9465).stdout
    listening = pair.run(pair.fb, "ss", "-ltnH").stdout
    rc, records, counters = agent.stop()
    assert rc == 0
    metrics = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    assert metrics['flowagent_packets_total{outcome="recorded"}'] >= 8
    assert metrics["flowagent_packets_seen_total"] >= 8
    assert metrics["flowagent_records_exported_total"] >= 0
    assert metrics["flowagent_drains_total"] >= 1
    assert metrics["flowagent_map_full_total"] == 0
    assert "flowagent_drain_last_seconds" in metrics
    # bound to loopback only
    assert "127.0.0.1:9465" in listening and "0.0.0.0:9465" not in listening


def test_high_water_drains_early(pair):
    pair.run(pair.fb, "ip", "link", "set", "lo", "up")
    agent = Agent(pair, "vb", "--max-flows", "1000", "--drain-interval", "60000",
                  "--metrics", "9466")
    udp_flood(pair, 600, 600).wait(timeout=60)  # 600 new flows: past half of the map
    time.sleep(1.0)
    text = pair.run(pair.fb, "python3", "-c", SCRAPE % 9466).stdout
    rc, records, counters = agent.stop()
    assert rc == 0
    drains = [float(line.split()[1]) for line in text.splitlines()
              if line.startswith("flowagent_drains_total ")]
    assert drains and drains[0] >= 1  # long before the 60 s interval
    assert counters["map_full"] == 0
    assert sum(r["packets"] for r in records if r["proto"] == 17) == 600


def test_sigkill_then_restart_is_clean(pair):
    """BPF links belong to the process: a SIGKILL leaves nothing attached, and the next run
    attaches as if it were the first."""
    agent = Agent(pair, "vb")
    assert "BPF link" in agent.stderr() and "TCX link" in agent.stderr()
    assert attached(pair) == (True, True)
    agent.proc.kill()
    agent.proc.wait()
    assert attached(pair) == (False, False)
    agent = Agent(pair, "vb")
    assert "left attached" not in agent.stderr()
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.2", "10.77.0.2")
    rc, records, _ = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress")[("10.77.0.1", "10.77.0.2", 0, 2048, 1, 0)] == [3, 252]
    assert attached(pair) == (False, False)


def test_legacy_attach_sigkill_then_restart(pair):
    """Without links (--legacy-attach, what old kernels get), a killed run leaves its programs
    behind; the next run finds them by name and filter handle, removes them, and counts every
    packet once."""
    agent = Agent(pair, "--legacy-attach", "vb")
    assert "netlink" in agent.stderr() and "clsact filter" in agent.stderr()
    agent.proc.kill()
    agent.proc.wait()
    assert attached(pair) == (True, True)
    agent = Agent(pair, "--legacy-attach", "vb")
    assert "removed the XDP program a killed flowagent left attached" in agent.stderr()
    assert "replacing the TC filter a killed flowagent left on clsact" in agent.stderr()
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.2", "10.77.0.2")
    rc, records, _ = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress")[("10.77.0.1", "10.77.0.2", 0, 2048, 1, 0)] == [3, 252]
    assert by_key(records, "egress")[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [3, 252]
    assert attached(pair) == (False, False)
    assert "clsact" not in pair.run(pair.fb, "tc", "qdisc", "show", "dev", "vb").stdout


def test_legacy_leftover_filter_is_removed_before_tcx(pair):
    """A clsact filter a killed legacy run left would meter egress a second time beside TCX:
    a run with links removes it first, and each egress packet is counted once."""
    agent = Agent(pair, "--legacy-attach", "vb")
    agent.proc.kill()
    agent.proc.wait()
    agent = Agent(pair, "vb")
    assert "removed the TC filter a previous flowagent left on clsact" in agent.stderr()
    assert "TCX link" in agent.stderr()
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.2", "10.77.0.2")
    rc, records, _ = agent.stop()
    assert rc == 0
    assert by_key(records, "egress")[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [3, 252]
    assert attached(pair) == (False, False)


def test_closed_output_detaches(pair):
    # the reader of the records goes away: the agent must not die of SIGPIPE with its
    # programs still attached
    proc = subprocess.Popen(["ip", "netns", "exec", pair.fb, FLOWAGENT, "--drain-interval", "100",
                             "vb"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    proc.stdout.close()
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.2", "10.77.0.2")
    rc = proc.wait(timeout=30)
    assert rc == 1  # a write error, reported
    assert "writing records failed" in proc.stderr.read().decode()
    assert attached(pair) == (False, False)


def test_errors(pair):
    proc = pair.run(pair.fb, FLOWAGENT, "nosuch0", check=False)
    assert proc.returncode == 1 and "no such interface: nosuch0" in proc.stderr
    proc = pair.run(pair.fb, FLOWAGENT, "vb", "vb", check=False)
    assert proc.returncode == 2 and "interface vb is named twice" in proc.stderr
    assert attached(pair) == (False, False)
    proc = pair.run(pair.fb, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    FLOWAGENT, "vb", check=False)
    assert proc.returncode == 1 and "needs root" in proc.stderr
    pair.run(pair.fb, "ip", "link", "set", "dev", "vb", "xdpgeneric", "obj",
             str(ROOT / "build/xdp_pass.bpf.o"), "sec", "xdp")
    proc = pair.run(pair.fb, FLOWAGENT, "vb", check=False)
    assert proc.returncode == 1 and "foreign XDP program" in proc.stderr
    # the foreign program is left alone
    assert "xdp" in pair.run(pair.fb, "ip", "link", "show", "vb").stdout


def wait_for(agent, text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and text not in agent.stderr():
        time.sleep(0.05)
    assert text in agent.stderr(), agent.stderr()


def icmp_requests_in(records):
    return sum(p for (src, dst, _, port, proto, _), (p, _) in by_key(records, "ingress").items()
               if (src, dst, proto, port) == ("10.77.0.1", "10.77.0.2", 1, 2048))


def test_interface_gone_and_back(pair):
    """The veth deleted under the agent, then made again: reported, attached again, and the
    pings of both lives are counted; the metric says how many times it went."""
    pair.run(pair.fb, "ip", "link", "set", "lo", "up")
    agent = Agent(pair, "vb", "--drain-interval", "100", "--metrics", "9467")
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.1", "10.77.0.2")
    sh("ip", "-n", pair.fa, "link", "del", "va")  # vb goes with its peer
    wait_for(agent, "vb: the interface is gone")
    # the endpoint serves the snapshot of the last drain (every 100 ms here), which may be
    # taken just before the loss was noticed: the next one shows it
    deadline = time.time() + 30
    while True:
        text = pair.run(pair.fb, "python3", "-c", SCRAPE % 9467).stdout
        if "flowagent_interfaces_missing 1" in text or time.time() > deadline:
            break
        time.sleep(0.1)
    assert "flowagent_interfaces_missing 1" in text and \
        "flowagent_interface_losses_total 1" in text, text
    pair.link()
    wait_for(agent, "vb: back (index")
    assert attached(pair) == (True, True)
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.1", "10.77.0.2")
    rc, records, counters = agent.stop()
    assert rc == 0
    assert icmp_requests_in(records) == 6
    assert attached(pair) == (False, False)


def test_interface_gone_for_good(pair):
    agent = Agent(pair, "vb", "--drain-interval", "100")
    pair.run(pair.fa, "ping", "-q", "-c", "3", "-i", "0.1", "10.77.0.2")
    sh("ip", "-n", pair.fa, "link", "del", "va")
    wait_for(agent, "vb: the interface is gone")
    rc, records, _ = agent.stop()
    # what was captured is exported; that capture stopped early is not a success
    assert rc == 1
    assert icmp_requests_in(records) == 3


def test_quiet_without_v(pair):
    """Without -v a start and a stop print nothing of libbpf's; -v shows it."""
    proc = subprocess.Popen(["ip", "netns", "exec", pair.fb, FLOWAGENT, "vb"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and attached(pair) != (True, True):
        time.sleep(0.05)
    assert attached(pair) == (True, True)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "libxdp" not in stderr and "libbpf" not in stderr, stderr
    assert "flowagent: live summary: " in stderr


def test_live_to_kafka_exact(pair, tmp_path):
    """Live capture into a real broker: the broker runs inside the agent's namespace, on that
    namespace's loopback, so no traffic leaves the namespaces the test made."""
    pair.run(pair.fb, "ip", "link", "set", "lo", "up")
    broker_dir = tmp_path / "broker"
    start = pair.run(pair.fb, str(ROOT / "tests" / "kafka" / "broker.sh"), "start",
                     str(broker_dir), check=False)
    assert start.returncode == 0, start.stderr[-3000:]
    bootstrap = start.stdout.strip()
    try:
        agent = Agent(pair, "--kafka", bootstrap, "--topic", "live", "--agent-id", "live-1",
                      "--spool-dir", str(tmp_path / "spool"), "--idle-timeout", "1",
                      "--drain-interval", "100", "--batch-ms", "100", "--metrics", "9466", "vb")
        pair.run(pair.fa, "ping", "-q", "-c", "5", "-i", "0.2", "10.77.0.2")
        # the idle records reach Kafka, and the endpoint says so
        delivered = 'flowagent_kafka_records_total{state="delivered"}'
        for _ in range(300):
            text = pair.run(pair.fb, "python3", "-c", SCRAPE % 9466).stdout
            metrics = dict(line.rsplit(" ", 1) for line in text.splitlines()
                           if line and not line.startswith("#"))
            if float(metrics.get(delivered, 0)) >= 2:
                break
            time.sleep(0.1)
        assert float(metrics[delivered]) >= 2, text
        assert metrics["flowagent_kafka_up"] == "1"
        assert float(metrics['flowagent_kafka_records_total{state="dropped"}']) == 0
        rc, stdout_records, counters = agent.stop()
        assert rc == 0
        assert stdout_records == []
        assert counters["kafka_records_dropped"] == 0
        assert counters["kafka_records_delivered"] == counters["kafka_records"] > 0
        consumed = pair.run(pair.fb, str(ROOT / "build" / "flowconsume"), "-b", bootstrap,
                            "-t", "live", "-n", str(counters["kafka_records"]), "-i", "3000")
    finally:
        pair.run(pair.fb, str(ROOT / "tests" / "kafka" / "broker.sh"), "stop", str(broker_dir),
                 check=False)
    records = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert {r.pop("agent_id") for r in records} == {"live-1"}
    for r in records:
        r.pop("batch_seq")
    ingress, egress = by_key(records, "ingress"), by_key(records, "egress")
    assert ingress[("10.77.0.1", "10.77.0.2", 0, 8 * 256, 1, 0)] == [5, 5 * 84]
    assert egress[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [5, 5 * 84]
    assert sum(r["packets"] for r in records) == counters["recorded"]


def test_max_flows_beyond_memory_refused(pair, tmp_path):
    """--max-flows whose maps would not fit: refused before the kernel is asked, with the size
    (it used to invoke the OOM killer, or fail with an unrelated XDP error)."""
    proc = pair.run(pair.fb, FLOWAGENT, "--max-flows", "268435456", "vb", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "--max-flows 268435456: the two flow maps need " in proc.stderr
    assert "MiB this machine has available; use a smaller --max-flows" in proc.stderr
    assert "XDP" not in proc.stderr
    assert attached(pair) == (False, False)
    # the kernel replay engine's one map, likewise
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    proc = sh(FLOWAGENT, "--replay", "--engine", "kernel", "--max-flows", "268435456",
              str(empty), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "--max-flows 268435456: the flow map needs " in proc.stderr
