# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Parser and reader edge cases of issue 11, end to end through `flowagent --replay`, in both
engines, with the expected keys cross-checked against tshark's dissection.

Cases:
  test_fragment_garbage_is_one_flow        ndpi-ip_fragmented_garbage.pcap: first fragments whose
                                           total length leaves 16 bytes for TCP get no ports
                                           from the Ethernet trailer: 1 flow, not 5
  test_fuzz_short_datagram_has_no_ports    ndpi-fuzz-2006-09-29-28586.pcap: frame 111 (total
                                           length 35) leaves the 53136 -> 80 flow
  test_ppp_links_and_pfc_match_tshark      hand-built link type 9 and 50 (PPP, Cisco HDLC) and
                                           PPPoE with 1-byte PPP protocols: keys == tshark's
  test_unsupported_pcap_version            pcap 2.5: exit 3, the file and version named
  test_pcapng_time_out_of_range            exit 3 at the block's offset, earlier flows kept
  test_capture_truncated_while_replayed    no SIGBUS: exit 3, file, offset and sizes named,
                                           summary and records of what was read (also ASan)
  test_capture_grown_while_replayed        read to the size it had when opened (also ASan)
"""
import collections
import ipaddress
import os
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

from conftest import (FLOWAGENT, FLOWAGENT_ASAN, PCAPS, TRACEGEN, Replay, is_root, needs_shared,
                      replay)

ENGINES = ["user", "kernel"] if is_root() else ["user"]
needs_tshark = pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")


def run_engines(files, *args):
    """Replays files through every engine available; all must agree, record for record."""
    results = [replay(files, *args, engine=e) for e in ENGINES]
    results.append(replay(files, *args, binary=FLOWAGENT_ASAN))
    for other in results[1:]:
        assert other.rc == results[0].rc
        assert other.sorted_records() == results[0].sorted_records()
        assert other.counters == results[0].counters
    return results[0]


def tshark_fields(path, fields, *options):
    cmd = ["tshark", "-n", "-r", str(path), *options, "-T", "fields", "-E", "occurrence=f",
           "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def totals(result):
    return {k: v[:2] for k, v in result.totals_by_key().items()}


@needs_shared
@needs_tshark
def test_fragment_garbage_is_one_flow():
    path = PCAPS / "edge" / "ndpi-ip_fragmented_garbage.pcap"
    result = run_engines([path])
    assert result.rc == 0, result.stderr
    assert totals(result) == {("10.0.0.2", "10.128.0.2", 0, 0, 6, 0): [1252, 45040]}
    assert result.counters["recorded"] == 1252
    assert result.counters["note_fragment"] == 1248
    assert result.counters["note_l4_truncated"] == 4
    assert result.counters["flows_created"] == 1

    # tshark: the first fragments are frames 1, 314, 627 and 940, 54 bytes with a 4-byte
    # trailer, IP total length 36: 16 bytes where a 20-byte TCP header would have to be
    rows = tshark_fields(path, ["frame.number", "frame.len", "ip.len", "ip.hdr_len",
                                "ip.frag_offset", "eth.trailer"], "-o", "ip.defragment:FALSE")
    assert len(rows) == 1252
    assert sum(int(r["ip.len"]) for r in rows) == 45040
    first = [r for r in rows if r["ip.frag_offset"] == "0"]
    assert [int(r["frame.number"]) for r in first] == [1, 314, 627, 940]
    for r in first:
        assert (r["frame.len"], r["ip.len"], r["ip.hdr_len"]) == ("54", "36", "20")
        assert len(r["eth.trailer"]) == 8  # 4 bytes, as hex


@needs_shared
@needs_tshark
def test_fuzz_short_datagram_has_no_ports():
    path = PCAPS / "edge" / "ndpi-fuzz-2006-09-29-28586.pcap"
    result = run_engines([path])
    assert result.rc == 0, result.stderr
    got = totals(result)
    assert got[("172.20.3.13", "172.20.3.5", 53136, 80, 6, 0)] == [5, 516]
    assert got[("172.20.3.13", "172.20.3.5", 0, 0, 6, 0)] == [2, 75]
    assert result.counters["note_l4_truncated"] == 1

    # tshark reads the ports from the 15 bytes there are, and calls the frame malformed
    rows = tshark_fields(path, ["frame.number", "ip.len", "ip.hdr_len", "ip.frag_offset",
                                "_ws.malformed"])
    frame = rows[110]
    assert (frame["frame.number"], frame["ip.len"], frame["ip.hdr_len"]) == ("111", "35", "20")
    assert frame["ip.frag_offset"] == "0"
    assert frame["_ws.malformed"] != ""


def ipv4(proto, payload, src="10.0.0.1", dst="10.0.0.2"):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                         ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    return header + payload


def ipv6(proto, payload, src="2001:db8::1", dst="2001:db8::2"):
    return (struct.pack("!IHBB", 0x60000000, len(payload), proto, 64) +
            ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + payload)


def udp(sport, dport):
    return struct.pack("!HHHH", sport, dport, 8 + 4, 0) + b"data"


def tcp(sport, dport, flags=0x02):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 65535, 0, 0)


def pcap_file(path, linktype, frames):
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, frame in enumerate(frames):
        data += struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame
    path.write_bytes(data)
    return path


def tshark_keys(path):
    """Per-key packets and L3 bytes as tshark dissects the file."""
    fields = ["ip.src", "ip.dst", "ip.len", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.plen",
              "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]
    keys = collections.defaultdict(lambda: [0, 0])
    for v in tshark_fields(path, fields):
        if v["ip.src"]:
            src, dst, proto, length = v["ip.src"], v["ip.dst"], int(v["ip.proto"]), int(v["ip.len"])
        elif v["ipv6.src"]:
            src, dst = v["ipv6.src"], v["ipv6.dst"]
            proto, length = int(v["ipv6.nxt"]), 40 + int(v["ipv6.plen"])
        else:
            continue
        port = "tcp" if proto == 6 else "udp"
        key = (src, dst, int(v[f"{port}.srcport"]), int(v[f"{port}.dstport"]), proto, 0)
        keys[key][0] += 1
        keys[key][1] += length
    return dict(keys)


@needs_tshark
def test_ppp_links_and_pfc_match_tshark(tmp_path):
    # PPP: with and without address/control, 2-byte and compressed protocols; Cisco HDLC
    ppp = [b"\xff\x03\x00\x21" + ipv4(17, udp(443, 50001)),
           b"\xff\x03\x21" + ipv4(6, tcp(443, 50002)),
           b"\x00\x21" + ipv4(17, udp(443, 50003)),
           b"\x21" + ipv4(17, udp(443, 50004)),
           b"\xff\x03\x57" + ipv6(17, udp(443, 50005)),
           b"\x00\x57" + ipv6(6, tcp(443, 50006)),
           b"\x0f\x00\x08\x00" + ipv4(17, udp(443, 50007)),
           b"\x8f\x00\x86\xdd" + ipv6(17, udp(443, 50008)),
           b"\xff\x03\xc0\x21" + b"\x01\x01\x00\x04"]  # LCP: not IP
    pppoe_head = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x88\x64\x11\x00\x00\x42"
    pppoe = [pppoe_head + struct.pack("!H", 1 + len(p)) + b"\x21" + p
             for p in (ipv4(17, udp(4500, 4500)), ipv4(6, tcp(4500, 4501)))]
    pppoe += [pppoe_head + struct.pack("!H", 1 + len(p)) + b"\x57" + p
              for p in (ipv6(17, udp(4500, 4502)),)]
    pppoe += [pppoe_head + struct.pack("!H", 2 + len(p)) + b"\x00\x21" + p
              for p in (ipv4(17, udp(4500, 4503)),)]
    pppoe += [pppoe_head + b"\x00\x05\xc0\x21\x01\x01\x00"]  # LCP
    files = [pcap_file(tmp_path / "ppp9.pcap", 9, ppp),
             pcap_file(tmp_path / "ppp50.pcap", 50, ppp),
             pcap_file(tmp_path / "pppoe.pcap", 1, pppoe)]
    for path, ip_frames in zip(files, (8, 8, 4)):
        result = run_engines([path])
        assert result.rc == 0, result.stderr
        expected = tshark_keys(path)
        assert len(expected) == ip_frames
        assert totals(result) == expected
        assert result.counters["recorded"] == ip_frames
        assert result.counters["non_ip"] == 1
        assert result.counters["link_unsupported"] == 0


def test_unsupported_pcap_version(tmp_path):
    path = pcap_file(tmp_path / "v25.pcap", 1, [])
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<HH", 2, 5)
    path.write_bytes(bytes(data))
    result = replay([path])
    assert result.rc == 3
    assert f"{path}: unsupported pcap savefile version 2.5 (2.0 to 2.4 are read)" in result.stderr
    assert result.records == []
    assert "1 failed" in result.stderr


def pcapng_block(block_type, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def test_pcapng_time_out_of_range(tmp_path):
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # µs (the default) with if_tsoffset -1000 s
    idb = pcapng_block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHq", 14, 8, -1000) +
                       struct.pack("<HH", 0, 0))
    frame = b"\x02" * 12 + b"\x08\x00" + ipv4(17, udp(53, 5353))

    def epb(units):
        return pcapng_block(6, struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF,
                                           len(frame), len(frame)) + frame)

    good = epb(1700000000 * 10**6)
    path = tmp_path / "time.pcapng"
    path.write_bytes(shb + idb + good + epb(494606065))
    bad_offset = len(shb + idb + good)
    result = replay([path])
    assert result.rc == 3
    assert (f"error: {path}: offset {bad_offset}: packet timestamp 494606065 units of 10^-6 s "
            "plus if_tsoffset -1000 s is -505393935000 ns, outside the 0 to "
            "9223372036854775807 ns a record can carry; the flows read before it are kept"
            in result.stderr)
    assert [(r["packets"], r["first_seen_ns"]) for r in result.records] == \
        [(1, (1700000000 - 1000) * 10**9)]


# ---- captures that change under the reader ----

def make_trace(tmp_path):
    """1M packets over 20 s of packet time: paced at --speed 5, about 4 s of replay."""
    path = tmp_path / "big.pcap"
    subprocess.run([TRACEGEN, "--packets", "1000000", "--days", "1", "--window", "20",
                    "--seed", "11", "--quiet", "--output", str(path)], check=True)
    return path


def record_ends(path):
    """Offsets at which each record of a little-endian pcap ends."""
    data = path.read_bytes()
    ends, off = [], 24
    while off + 16 <= len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        ends.append(off)
    return ends


def open_position(proc, path):
    """The file position of the process's descriptor for path, once it has one open."""
    target = os.path.realpath(path)
    while True:
        assert proc.poll() is None, "the replay ended before it was seen reading the file"
        for fd in os.listdir(f"/proc/{proc.pid}/fd"):
            try:
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == target:
                    with open(f"/proc/{proc.pid}/fdinfo/{fd}") as info:
                        return int(re.search(r"^pos:\s+(\d+)", info.read(), re.M).group(1))
            except FileNotFoundError:
                continue
        time.sleep(0.01)


def replay_changing(path, binary, change):
    """Starts a paced replay of path, stops it once it reads, changes the file, resumes it.
    change(pos) gets the bytes the reader has read so far and returns what it expects."""
    out_path, err_path = path.with_suffix(".out"), path.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([binary, "--replay", "--no-progress", "--speed", "5", str(path)],
                                stdout=out, stderr=err)
    try:
        open_position(proc, path)
        os.kill(proc.pid, signal.SIGSTOP)
        # where it is now, stopped: a read in flight when it was stopped has completed
        pos = open_position(proc, path)
        expected = change(pos)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
    result = Replay(subprocess.CompletedProcess(proc.args, proc.returncode,
                                                out_path.read_bytes(), err_path.read_bytes()))
    assert result.rc >= 0, f"died from signal {-result.rc}: {result.stderr[-2000:]}"
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr
    return result, expected


@pytest.mark.parametrize("binary", [FLOWAGENT, FLOWAGENT_ASAN], ids=["plain", "asan"])
def test_capture_truncated_while_replayed(tmp_path, binary):
    path = make_trace(tmp_path)
    size = path.stat().st_size
    ends = record_ends(path)
    assert ends[-1] == size and len(ends) == 1000000

    def cut_ahead_of_reader(pos):
        assert 0 < pos < size, "the replay read the whole file before it could be stopped"
        cut = pos + (size - pos) // 2
        os.truncate(path, cut)
        return cut

    result, cut = replay_changing(path, binary, cut_ahead_of_reader)
    # the reader had read pos bytes: it reads on to the cut and stops there, never SIGBUS
    assert result.rc == 3, result.stderr[-2000:]
    assert (f"error: {path}: offset {cut}: the file shrank to {cut} bytes while it was read "
            f"(it had {size} when opened); the flows read before it are kept"
            in result.stderr)
    whole = sum(1 for e in ends if e <= cut)
    assert "replay summary" in result.stderr and "1 file(s), 1 failed" in result.stderr
    assert result.counters["packets_read"] == whole
    assert result.counters["recorded"] == whole
    assert sum(r["packets"] for r in result.records) == whole
    assert len(result.records) == result.counters["records"] > 0


@pytest.mark.parametrize("binary", [FLOWAGENT, FLOWAGENT_ASAN], ids=["plain", "asan"])
def test_capture_grown_while_replayed(tmp_path, binary):
    path = make_trace(tmp_path)
    size = path.stat().st_size
    tail = path.read_bytes()[24:record_ends(path)[9]]

    def append(pos):
        assert 0 < pos < size
        with open(path, "ab") as f:
            f.write(tail)
        return None

    result, _ = replay_changing(path, binary, append)
    assert result.rc == 0, result.stderr[-2000:]
    assert "1 file(s), 0 failed, 0 truncated" in result.stderr
    assert result.counters["packets_read"] == 1000000
    assert sum(r["packets"] for r in result.records) == 1000000
