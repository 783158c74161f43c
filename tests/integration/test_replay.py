# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""PCAP replay end to end: the user and kernel engines agree on every shared capture and on
generated traces, totals equal the generator's truth, and bad input gets the documented exit
status and message, never a crash.

Cases:
  test_engines_agree_on_shared_capture   every capture in ../shared/pcaps, user vs kernel vs ASan
  test_edge_capture_outcome              exact counters for the edge cases of MANIFEST.md
  test_generated_trace_matches_truth     per-key totals == the generator's truth, both engines
  test_records_sum_to_totals_under_timeouts
  test_gzip_stdin_and_several_files      .pcap.gz, '-' and several inputs give the same records
  test_corrupt_file_*                    exit 3, file and offset named, earlier flows kept
  test_truncated_last_record_is_warning  exit 0, warning, earlier flows kept
  test_fuzzed_inputs_never_crash         mutated captures under ASan+UBSan
  test_usage_errors                      exit 2 with a message
  test_progress_line_on_a_terminal
"""
import gzip
import os
import pathlib
import pty
import random
import struct
import subprocess

import pytest

from conftest import (FLOWAGENT, FLOWAGENT_ASAN, KEY_FIELDS, PCAPS, needs_root, needs_shared,
                      replay, shared_captures)

# pcap 2.0, whose records put the wire length first: libpcap (and so we) read one packet of
# 197 bytes, then find 2 bytes of a record header
OLD_LAYOUT = "ndpi-fuzz-2021-10-13-badcaplen.pcap"


def capture_id(path):
    return f"{path.parent.name}/{path.name}"


@needs_shared
@pytest.mark.parametrize("capture", shared_captures(), ids=capture_id)
def test_engines_agree_on_shared_capture(capture):
    user = replay([capture])
    asan = replay([capture], binary=FLOWAGENT_ASAN)
    expected_rc = 0
    assert user.rc == expected_rc, user.stderr
    assert asan.rc == expected_rc
    assert asan.sorted_records() == user.sorted_records()
    assert asan.counters == user.counters
    # every packet read lands in exactly one outcome
    exclusive = ["recorded", "sampled_out", "non_ip", "link_unsupported", "link_truncated",
                 "vlan_too_deep", "mpls_too_deep", "ip_bad_version", "ip_bad_header_len",
                 "ip_bad_total_len", "ip_truncated", "map_full", "meta_invalid"]
    assert sum(user.counters[c] for c in exclusive) == user.counters["packets"]
    assert user.counters["packets"] == user.counters["packets_read"]
    assert sum(r["packets"] for r in user.records) == user.counters["recorded"]
    if os.geteuid() == 0:
        kernel = replay([capture], engine="kernel")
        assert kernel.rc == expected_rc, kernel.stderr
        assert kernel.sorted_records() == user.sorted_records()
        assert kernel.counters == user.counters


# Exact outcomes of the edge captures, checked against MANIFEST.md and tshark's dissection.
EDGE_EXPECTED = {
    "tcpdump-802.1ad_QinQ.pcap": {"non_ip": 2, "records": 0},  # ARP behind 0x88a8 + 0x8100
    "tcpdump-LINKTYPE_IPV4.pcap": {"recorded": 1, "records": 1},
    "tcpdump-LINKTYPE_IPV4_invalid.pcap": {"ip_bad_version": 1, "records": 0},
    "tcpdump-LINKTYPE_IPV6.pcap": {"recorded": 1, "records": 1},
    "tcpdump-LINKTYPE_IPV6_invalid.pcap": {"ip_bad_version": 1, "records": 0},
    "tcpdump-LINKTYPE_RAW_ipv4.pcap": {"recorded": 1, "records": 1},
    "tcpdump-LINKTYPE_RAW_ipv6.pcap": {"recorded": 1, "records": 1},
    "tcpdump-bigtcp-ipv4.pcap": {"note_bytes_from_frame": 1, "bytes_recorded": 80066 - 14},
    "tcpdump-bigtcp-ipv6.pcap": {"note_bytes_from_frame": 1, "bytes_recorded": 80054 - 14},
    "tcpdump-ipv6_jumbogram_1.pcap": {"note_bytes_from_frame": 1, "bytes_recorded": 65590 - 14},
    "tcpdump-ipv4_invalid_hdr_length.pcap": {"ip_bad_header_len": 1, "records": 0},
    # total length one byte more than captured: truncation, not malformation
    "tcpdump-ipv4_invalid_total_length.pcap": {"recorded": 1, "bytes_recorded": 85},
    "tcpdump-ipv6-bad-version.pcap": {"recorded": 2, "ip_bad_version": 2},
    "tcpdump-ipv6_invalid_length.pcap": {"ip_truncated": 1, "records": 0},
    "tcpdump-bad-ipv4-version-pgm-heapoverflow.pcap": {"ip_bad_version": 1, "records": 0},
    "tcpdump-nfs-attr-oobr.pcap": {"non_ip": 46, "recorded": 2},
    "tcpdump-various_gre.pcap": {"non_ip": 70, "recorded": 30},  # STP/CDP/DTP/loopback chatter
    "ndpi-badpackets.pcap": {"recorded": 93, "note_fragment": 0},  # all first fragments
    "ndpi-ip_fragmented_garbage.pcap": {"recorded": 1252, "note_fragment": 1248},
    "zeek-linuxsll-arp.pcap": {"non_ip": 12, "records": 0},
    "zeek-linux_dlt_sll2.pcap": {"recorded": 4, "non_ip": 2},
    "zeek-trunc-hdr.pcap": {"link_truncated": 1, "records": 0},
    "zeek-trunc-ip4.pcap": {"ip_truncated": 1, "records": 0},
    "zeek-trunc-ip6.pcap": {"ip_truncated": 1, "records": 0},
    "zeek-pppoe-over-qinq.pcap": {"recorded": 86},
    "zeek-mixed-vlan-mpls.pcap": {"recorded": 47},
    "zeek-vlan-qinqinq.pcap": {"recorded": 14},
    "zeek-q-in-q.pcap": {"recorded": 4, "non_ip": 1},
    "zeek-ipv6-fragmented-dns.pcap": {"recorded": 8, "note_fragment": 3},
    "zeek-ldap-gap-multi-idb.pcapng": {"recorded": 18},
    "zeek-tcp-timestamp.pcap": {"recorded": 878},
}


@needs_shared
def test_vlan_separates_colliding_five_tuples():
    result = replay([PCAPS / "edge" / "zeek-vlan-collisions.pcap"])
    vlans = sorted((r["src_port"], r["vlan"]) for r in result.records)
    assert vlans == [(80, 0), (80, 10), (80, 42), (59856, 0), (59856, 10), (59856, 42)]


@needs_shared
def test_timestamps_exactly_as_written():
    """seconds * 1e9 + fraction * unit, out-of-range fractions included."""
    for name, unit in (("tcpdump-timestamp_invalid_micro.pcap", 1000),
                       ("tcpdump-timestamp_invalid_nano.pcap", 1)):
        data = (PCAPS / "edge" / name).read_bytes()
        expected, off = [], 24
        while off < len(data):
            sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
            expected.append(sec * 10**9 + frac * unit)
            off += 16 + caplen
        result = replay([PCAPS / "edge" / name], "--idle-timeout", "0", "--active-timeout", "0")
        seen = sorted({r["first_seen_ns"] for r in result.records} |
                      {r["last_seen_ns"] for r in result.records})
        assert seen == sorted(set(expected))


@needs_shared
@pytest.mark.parametrize("name", sorted(EDGE_EXPECTED))
def test_edge_capture_outcome(name):
    expected = dict(EDGE_EXPECTED[name])
    records = expected.pop("records", None)
    result = replay([PCAPS / "edge" / name])
    assert result.rc == 0, result.stderr
    for counter, value in expected.items():
        assert result.counters[counter] == value, (counter, result.counters)
    if records is not None:
        assert len(result.records) == records


def check_truth(result, expected):
    got = result.totals_by_key()
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    assert not missing and not extra, (missing[:5], extra[:5])
    wrong = [(k, got[k], expected[k]) for k in expected if got[k] != expected[k]]
    assert not wrong, wrong[:5]


def test_generated_trace_matches_truth(generated_trace):
    trace, expected = generated_trace
    user = replay([trace])
    assert user.rc == 0, user.stderr
    check_truth(user, expected)
    assert user.counters["packets"] == 300000
    assert user.counters["recorded"] == 300000
    assert user.counters["records_split"] > 0  # the trace has flows longer than 60 s
    if os.geteuid() == 0:
        kernel = replay([trace], engine="kernel")
        assert kernel.rc == 0, kernel.stderr
        assert kernel.sorted_records() == user.sorted_records()
        assert kernel.counters == user.counters


@pytest.mark.parametrize("idle,active", [("0", "0"), ("1", "5"), ("0.25", "0"), ("30", "300")])
def test_records_sum_to_totals_under_timeouts(generated_trace, idle, active):
    trace, expected = generated_trace
    result = replay([trace], "--idle-timeout", idle, "--active-timeout", active)
    assert result.rc == 0
    check_truth(result, expected)
    if idle == "0" and active == "0":
        assert len(result.records) == len(expected)  # no timeout: one record per key
    else:
        assert len(result.records) > len(expected)
    for r in result.records:
        if active != "0":
            assert r["last_seen_ns"] - r["first_seen_ns"] < float(active) * 1e9


def test_gzip_stdin_and_several_files(generated_trace, tmp_path):
    trace, expected = generated_trace
    plain = replay([trace], "--idle-timeout", "0", "--active-timeout", "0")
    gz = tmp_path / "trace.pcap.gz"
    gz.write_bytes(gzip.compress(trace.read_bytes(), compresslevel=1))
    from_gzip = replay([gz], "--idle-timeout", "0", "--active-timeout", "0")
    from_stdin = replay(["-"], "--idle-timeout", "0", "--active-timeout", "0",
                        stdin=gz.read_bytes())
    assert from_gzip.rc == 0 and from_stdin.rc == 0
    assert from_gzip.sorted_records() == plain.sorted_records()
    assert from_stdin.sorted_records() == plain.sorted_records()
    # two inputs are one stream of packets: every packet counted twice
    twice = replay([trace, gz], "--idle-timeout", "0", "--active-timeout", "0")
    assert twice.rc == 0
    assert twice.counters["packets"] == 2 * plain.counters["packets"]
    doubled = {k: [v[0] * 2, v[1] * 2] for k, v in plain.totals_by_key().items()}
    assert {k: v[:2] for k, v in twice.totals_by_key().items()} == doubled


def pcap_bytes(records, snaplen=96, linktype=1):
    """A little-endian microsecond pcap from (ts_sec, ts_usec, data, orig_len)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for sec, usec, data, orig in records:
        out += struct.pack("<IIII", sec, usec, len(data), orig) + data
    return out


def udp_frame(sport):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    return b"\x02" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", sport, 53, 8, 0)


def test_corrupt_file_oversized_record_keeps_earlier_flows(tmp_path):
    good = [(1700000000, i, udp_frame(1000 + i), 42) for i in range(3)]
    data = pcap_bytes(good) + struct.pack("<IIII", 1700000001, 0, 300000, 300000) + b"x" * 64
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(data)
    result = replay([bad])
    assert result.rc == 3
    assert str(bad) in result.stderr
    assert f"offset {24 + 3 * (16 + 42)}" in result.stderr
    assert len(result.records) == 3
    assert result.counters["packets"] == 3


@needs_shared
def test_old_layout_shared_badcaplen_then_next_file(generated_trace):
    trace, expected = generated_trace
    bad = PCAPS / "edge" / OLD_LAYOUT
    result = replay([bad, trace], "--idle-timeout", "0", "--active-timeout", "0")
    assert result.rc == 0
    assert (f"warning: {bad}: offset 237: truncated last record (have 2 of 16 bytes)"
            in result.stderr)
    assert "2 file(s), 0 failed, 1 truncated" in result.stderr
    # its one packet (BSD NULL, an unknown address family: non_ip), then the next file
    assert result.counters["packets"] == 300001
    assert result.counters["non_ip"] == 1
    assert {k: v for k, v in result.totals_by_key().items()} == expected


def test_missing_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a capture at all")
    result = replay([tmp_path / "absent.pcap", junk])
    assert result.rc == 3
    assert "absent.pcap" in result.stderr and "junk.bin" in result.stderr
    assert result.records == []


def test_every_frame_unsupported_is_not_a_success(tmp_path):
    """Link type 147 (USER0) throughout: nothing could be decoded, so exit 3, not 0."""
    frames = [(1700000000, i, udp_frame(2000 + i), 42) for i in range(3)]
    user0 = tmp_path / "user0.pcap"
    user0.write_bytes(pcap_bytes(frames, linktype=147))
    result = replay([user0])
    assert result.rc == 3, result.stderr
    assert "every one of the 3 frames read had a link type this agent does not decode" in \
        result.stderr
    assert result.counters["link_unsupported"] == 3 and result.records == []
    # one decodable file beside it: a success as before
    ethernet = tmp_path / "ethernet.pcap"
    ethernet.write_bytes(pcap_bytes(frames))
    result = replay([user0, ethernet])
    assert result.rc == 0, result.stderr
    assert result.counters["link_unsupported"] == 3 and result.counters["recorded"] == 3


def test_truncated_last_record_is_warning(tmp_path):
    good = [(1700000000, i, udp_frame(2000 + i), 42) for i in range(5)]
    data = pcap_bytes(good)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])
    result = replay([cut])
    assert result.rc == 0
    assert "truncated" in result.stderr and str(cut) in result.stderr
    assert result.counters["packets"] == 4
    assert sum(r["packets"] for r in result.records) == 4


@needs_shared
def test_fuzzed_inputs_never_crash(tmp_path):
    rng = random.Random(20261121)
    seeds = [PCAPS / "edge" / n for n in ("zeek-pppoe-over-qinq.pcap", "zeek-vlan-qinqinq.pcap",
                                          "zeek-ldap-gap-multi-idb.pcapng",
                                          "zeek-linux_dlt_sll2.pcap",
                                          "zeek-ipv6-fragmented-dns.pcap")]
    target = tmp_path / "fuzz.pcap"
    statuses = set()
    for i in range(120):
        data = bytearray(rng.choice(seeds).read_bytes())
        for _ in range(rng.randint(1, 20)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[:rng.randrange(len(data))]
        if rng.random() < 0.2:
            data = bytearray(gzip.compress(bytes(data)))
            if rng.random() < 0.5:
                data[rng.randrange(10, len(data))] ^= 0xFF
        target.write_bytes(bytes(data))
        result = replay([target], binary=FLOWAGENT_ASAN, timeout=60)
        assert result.rc in (0, 3), (i, result.rc, result.stderr[-2000:])
        statuses.add(result.rc)
        if result.rc == 0:
            assert result.counters["packets"] == result.counters["packets_read"]
    assert statuses == {0, 3}  # the mutations reach both outcomes


@pytest.mark.parametrize("args,message", [
    (["--replay", "--engine", "gpu", "x.pcap"], "--engine"),
    (["--replay", "--idle-timeout", "ten", "x.pcap"], "--idle-timeout"),
    (["--replay", "--active-timeout", "-1", "x.pcap"], "--active-timeout"),
    (["--replay", "--sample", "0", "x.pcap"], "--sample"),
    (["--replay", "--max-flows", "99999999999", "x.pcap"], "--max-flows"),
    (["--replay"], "no capture file"),
    (["--bogus"], "unrecognized option"),
    (["--metrics", "localhost:99999", "eth0"], "--metrics"),
    (["--xdp-mode", "hw", "eth0"], "--xdp-mode"),
    ([], "no interface given"),
])
def test_usage_errors(args, message):
    proc = subprocess.run([FLOWAGENT, *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_help_documents_exit_status_and_examples():
    proc = subprocess.run([FLOWAGENT, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for text in ("EXIT STATUS", "EXAMPLES", "--replay", "--engine", "--idle-timeout",
                 "--active-timeout", "--sample"):
        assert text in proc.stdout


def test_progress_line_on_a_terminal(generated_trace):
    trace, _ = generated_trace
    pid, fd = pty.fork()
    if pid == 0:
        out = os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        os.execv(FLOWAGENT, [FLOWAGENT, "--replay", str(trace)])
    text = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"\rflowagent: pcap: " in text and b"M packets" in text and b"%" in text
    assert b"replay summary" in text
