# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Shared helpers for the integration tests: run flowagent, parse its records and summary."""
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
FLOWAGENT = os.environ.get("FLOWAGENT", str(BUILD / "flowagent"))
FLOWAGENT_ASAN = os.environ.get("FLOWAGENT_TEST_ASAN", str(BUILD / "asan" / "flowagent"))
TRACEGEN = os.environ.get("TRACEGEN", str(BUILD / "tracegen"))
SHARED = pathlib.Path(os.environ.get("SHARED_DIR", str(ROOT.parent / "shared")))
PCAPS = SHARED / "pcaps"

KEY_FIELDS = ("src_addr", "dst_addr", "src_port", "dst_port", "proto", "vlan")


def shared_captures():
    if not PCAPS.is_dir():
        return []
    return sorted(p for d in ("real", "edge") for p in (PCAPS / d).iterdir() if p.is_file())


def is_root():
    return os.geteuid() == 0


class Replay:
    """One flowagent run: exit status, records, summary counters, stderr text."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr.decode(errors="replace")
        self.records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        self.counters = {}
        in_summary = False
        for line in self.stderr.splitlines():
            if "replay summary" in line:
                in_summary = True
                continue
            parts = line.split()
            if in_summary and line.startswith("  ") and len(parts) >= 2 and parts[1].isdigit():
                self.counters[parts[0]] = int(parts[1])

    def sorted_records(self):
        return sorted(json.dumps(r, sort_keys=True) for r in self.records)

    def totals_by_key(self):
        totals = {}
        for r in self.records:
            key = tuple(r[f] for f in KEY_FIELDS)
            t = totals.setdefault(key, [0, 0, None, None])
            t[0] += r["packets"]
            t[1] += r["bytes"]
            t[2] = r["first_seen_ns"] if t[2] is None else min(t[2], r["first_seen_ns"])
            t[3] = r["last_seen_ns"] if t[3] is None else max(t[3], r["last_seen_ns"])
        return totals


def summary_counters(stderr):
    """The "  name value" lines of a summary on stderr (agent or collector), as a dict."""
    counters = {}
    for line in stderr.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 2 and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def replay(files, *args, engine="user", binary=None, stdin=None, timeout=600):
    cmd = [binary or FLOWAGENT, "--replay", "--no-progress", "--engine", engine, *args,
           *[str(f) for f in files]]
    proc = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    result = Replay(proc)
    assert result.rc >= 0, f"{cmd} died from signal {-result.rc}: {result.stderr[-2000:]}"
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr, \
        result.stderr[-4000:]
    return result


needs_root = pytest.mark.skipif(not is_root(), reason="the kernel engine needs root")
needs_shared = pytest.mark.skipif(not PCAPS.is_dir(), reason=f"{PCAPS} not present")


@pytest.fixture(scope="session")
def generated_trace(tmp_path_factory):
    """A 2-day MAWI-like trace with its truth file, shared by the tests of one session."""
    d = tmp_path_factory.mktemp("trace")
    trace, truth = d / "trace.pcap", d / "truth.json"
    subprocess.run([TRACEGEN, "--packets", "300000", "--days", "2", "--window", "120",
                    "--seed", "7", "--output", str(trace), "--truth", str(truth)],
                   check=True, stderr=subprocess.DEVNULL)
    expected = {}
    for line in truth.read_text().splitlines():
        r = json.loads(line)
        expected[tuple(r[f] for f in KEY_FIELDS)] = [r["packets"], r["bytes"], r["first_seen_ns"],
                                                     r["last_seen_ns"]]
    return trace, expected
