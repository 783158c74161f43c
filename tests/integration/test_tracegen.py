# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The trace generator's truth is what the flow meter's exactness is judged by, so it is
checked on its own, against tshark's independent dissection.

Cases:
  test_truth_matches_tshark     every key's packets, bytes and timestamps (check_truth.py)
  test_deterministic            same seed and options: byte-identical trace and truth
  test_exact_packet_count_and_mix
"""
import hashlib
import json
import pathlib
import shutil
import subprocess

import pytest

from conftest import ROOT, TRACEGEN


def generate(tmp_path, name, *args):
    trace, truth = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    subprocess.run([TRACEGEN, "--output", str(trace), "--truth", str(truth), *args], check=True,
                   stderr=subprocess.DEVNULL)
    return trace, truth


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_truth_matches_tshark(tmp_path):
    trace, truth = generate(tmp_path, "t", "--packets", "100000", "--days", "2", "--window",
                            "120", "--seed", "3")
    proc = subprocess.run(["python3", str(ROOT / "tests/tracegen/check_truth.py"), str(trace),
                           str(truth)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_deterministic(tmp_path):
    a = generate(tmp_path, "a", "--packets", "50000", "--seed", "9")
    b = generate(tmp_path, "b", "--packets", "50000", "--seed", "9")
    c = generate(tmp_path, "c", "--packets", "50000", "--seed", "10")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (*a, *b, *c)]
    assert digest[0] == digest[2] and digest[1] == digest[3]
    assert digest[0] != digest[4]


def test_exact_packet_count_and_mix(tmp_path):
    trace, truth = generate(tmp_path, "m", "--packets", "200000", "--days", "3")
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    packets = sum(r["packets"] for r in rows)
    assert packets == 200000
    by_proto = {}
    for r in rows:
        by_proto[r["proto"]] = by_proto.get(r["proto"], 0) + r["bytes"]
    total = sum(by_proto.values())
    # REFERENCE.md: TCP carried 69% of bytes, UDP 31%
    assert 0.64 < by_proto[6] / total < 0.74
    assert 0.26 < by_proto[17] / total < 0.36
    days = {r["first_seen_ns"] // (86400 * 10**9) for r in rows}
    assert len(days) == 3
