# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The agent's signal policy (agent/stop.h), in replay:

  test_replay_signal_exports_what_was_read  SIGINT, SIGTERM or SIGHUP mid-file: exit 4, the
                                            message names the signal, file and offset, and the
                                            records hold exactly the packets read
  test_replay_signal_under_asan             the same under ASan+UBSan
  test_replay_signal_kafka_down_spools      broker unreachable and a spool: the flows read are
                                            all spooled; a second signal says what the flush
                                            waits for, a third stops waiting
  test_stdin_pipe_first_sigint_reads_on     `cat | flowagent --replay -`: a first SIGINT reads
                                            to the end of the input (exit 0, every packet)
  test_stdin_pipe_second_signal_stops       a writer that never ends: the second SIGINT stops
  test_tcpdump_pipeline_ctrl_c              tcpdump -w - | flowagent --replay -, SIGINT to the
                                            process group as Ctrl-C sends it: every packet
                                            tcpdump says it captured is counted

Live mode's SIGINT/SIGTERM/SIGHUP: test_signal_mid_stream_loses_nothing (test_live.py).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FLOWAGENT, FLOWAGENT_ASAN, TRACEGEN, replay, summary_counters
from test_kafka import free_port
import wire

EXIT_INTERRUPTED = 4


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """60 s of packet time, 200 k packets: 6 s at --speed 10."""
    pcap = tmp_path_factory.mktemp("signals") / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "200000", "--days", "1", "--window", "60",
                    "--seed", "11", "--output", str(pcap), "--quiet"], check=True)
    full = replay([pcap])
    assert full.rc == 0, full.stderr
    return pcap, summary_counters(full.stderr)["packets_read"]


def started(path, proc, text, timeout=60):
    """Waits until the file at path contains text, or the process ended, or timeout seconds
    passed; returns whether the text appeared. Every wait for a line of output uses it."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def records_of(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def interrupted_run(tmp_path, pcap, sig, binary=FLOWAGENT):
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([binary, "--replay", "--no-progress", "--speed", "10", "-v",
                                 str(pcap)], stdout=o, stderr=e)
        assert started(err, proc, ": pcap"), err.read_text()
        time.sleep(1.5)
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
    return rc, records_of(out), err.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_replay_signal_exports_what_was_read(trace, tmp_path, sig):
    pcap, total = trace
    rc, records, stderr = interrupted_run(tmp_path, pcap, sig)
    assert rc == EXIT_INTERRUPTED, stderr
    c = summary_counters(stderr)
    match = re.search(rf"replay interrupted by {sig.name} in {re.escape(str(pcap))} at offset "
                      rf"(\d+): the flows of the (\d+) packets read are exported", stderr)
    assert match, stderr
    read = int(match.group(2))
    assert 0 < read == c["packets_read"] < total
    assert 0 < int(match.group(1)) < pcap.stat().st_size
    # the open flows were exported, not lost: the records hold every packet read
    assert len(records) == c["records"]
    assert sum(r["packets"] for r in records) == c["recorded"] == read - c["non_ip"] - \
        c["sampled_out"] - sum(v for k, v in c.items() if k.startswith(("link_", "ip_")))


def test_replay_signal_under_asan(trace, tmp_path):
    pcap, total = trace
    rc, records, stderr = interrupted_run(tmp_path, pcap, signal.SIGTERM, binary=FLOWAGENT_ASAN)
    assert rc == EXIT_INTERRUPTED, stderr
    assert "Sanitizer" not in stderr and "runtime error" not in stderr
    c = summary_counters(stderr)
    assert sum(r["packets"] for r in records) == c["recorded"] > 0
    assert c["packets_read"] < total


def test_replay_signal_kafka_down_spools(trace, tmp_path):
    pcap, total = trace
    spool, err = tmp_path / "spool", tmp_path / "err.txt"
    with open(err, "w") as e:
        proc = subprocess.Popen([FLOWAGENT, "--replay", "--no-progress", "--speed", "10", "-v",
                                 "--kafka", f"127.0.0.1:{free_port()}", "--topic", "t",
                                 "--agent-id", "sig-1", "--batch-records", "500",
                                 "--spool-dir", str(spool), "--flush-timeout", "600",
                                 str(pcap)], stdout=subprocess.DEVNULL, stderr=e)
        assert started(err, proc, ": pcap"), err.read_text()
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        # the flush waits for Kafka (--flush-timeout 600 s): a second signal says for what
        said = started(err, proc, "kafka: waiting up to", timeout=5)
        if not said:
            proc.send_signal(signal.SIGTERM)
            said = started(err, proc, "kafka: waiting up to", timeout=10)
        if said:
            proc.send_signal(signal.SIGHUP)
        rc = proc.wait(timeout=60)
    stderr = err.read_text()
    c = summary_counters(stderr)
    assert rc == EXIT_INTERRUPTED, stderr
    assert c["packets_read"] < total
    assert c["kafka_unaccounted"] == 0 and c["kafka_records_dropped"] == 0
    # every record of the packets read is in the spool, none lost
    spooled = wire.read_spool_dir(spool)
    assert sum(n for n, _ in spooled) == c["records"] == c["kafka_records_spooled"] > 0
    assert len(spooled) == c["kafka_spool_batches"] == c["kafka_batches"]
    if said:
        assert "stopped waiting for Kafka on a second signal" in stderr


# A pcap writer on standard output that writes the trace in chunks, then keeps the pipe open
# (hold=1) or closes it; SIGINT does not stop it, as a writer in a pipeline it would be.
WRITER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
data = open(sys.argv[1], "rb").read()
step = len(data) // 50
for i in range(0, len(data), step):
    sys.stdout.buffer.write(data[i:i + step])
    sys.stdout.buffer.flush()
    time.sleep(0.04)
if sys.argv[2] == "1":
    time.sleep(120)
"""


def pipe_run(tmp_path, pcap, hold):
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(pcap), str(hold)],
                              stdout=subprocess.PIPE)
    with open(out, "w") as o, open(err, "w") as e:
        agent = subprocess.Popen([FLOWAGENT, "--replay", "--no-progress", "-v", "-"],
                                 stdin=writer.stdout, stdout=o, stderr=e)
    writer.stdout.close()
    return writer, agent, out, err


def test_stdin_pipe_first_sigint_reads_on(trace, tmp_path):
    pcap, total = trace
    writer, agent, out, err = pipe_run(tmp_path, pcap, hold=0)
    try:
        assert started(err, agent, ": pcap"), err.read_text()
        agent.send_signal(signal.SIGINT)
        rc = agent.wait(timeout=60)
    finally:
        writer.kill()
        writer.wait()
    stderr = err.read_text()
    assert rc == 0, stderr
    assert "SIGINT: reading standard input to its end" in stderr
    c = summary_counters(stderr)
    assert c["packets_read"] == total
    assert sum(r["packets"] for r in records_of(out)) == c["recorded"]


def test_stdin_pipe_second_signal_stops(trace, tmp_path):
    pcap, total = trace
    writer, agent, out, err = pipe_run(tmp_path, pcap, hold=1)
    try:
        assert started(err, agent, ": pcap"), err.read_text()
        agent.send_signal(signal.SIGINT)
        # it reads on, to all the writer wrote, and then waits for more
        started(err, agent, "SIGINT: reading standard input")
        time.sleep(3)
        assert agent.poll() is None, "the writer has not closed the pipe: it must still read"
        agent.send_signal(signal.SIGINT)
        rc = agent.wait(timeout=30)
    finally:
        writer.kill()
        writer.wait()
    stderr = err.read_text()
    assert rc == EXIT_INTERRUPTED, stderr
    assert "replay interrupted by SIGINT in -" in stderr
    c = summary_counters(stderr)
    assert c["packets_read"] == total
    assert sum(r["packets"] for r in records_of(out)) == c["recorded"]


# Runs `tcpdump ... -w - | flowagent --replay -` as a shell would: both in this launcher's
# process group (it leads a new session), which Ctrl-C signals as a whole; it writes both
# exit statuses to a file.
PIPELINE = """
import json, os, signal, subprocess, sys
tcpdump, agent, out, err, dump_err, statuses = json.loads(sys.argv[1])
r, w = os.pipe()
t = subprocess.Popen(tcpdump, stdout=w, stderr=open(dump_err, "w"))
os.close(w)
a = subprocess.Popen(agent, stdin=r, stdout=open(out, "w"), stderr=open(err, "w"))
os.close(r)
signal.signal(signal.SIGINT, signal.SIG_IGN)
json.dump([t.wait(), a.wait()], open(statuses, "w"))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_tcpdump_pipeline_ctrl_c(tmp_path):
    from test_live import Pair
    pair = Pair()
    out, err, dump_err = tmp_path / "out.json", tmp_path / "err.txt", tmp_path / "tcpdump.txt"
    statuses = tmp_path / "statuses.json"
    tcpdump = ["ip", "netns", "exec", pair.fb, "tcpdump", "-i", "vb", "--immediate-mode", "-U",
               "-n", "-w", "-"]
    agent = [FLOWAGENT, "--replay", "--no-progress", "-"]
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-c", PIPELINE,
             json.dumps([tcpdump, agent, str(out), str(err), str(dump_err), str(statuses)])],
            start_new_session=True)
        assert started(dump_err, launcher, "listening on"), dump_err.read_text()
        pair.run(pair.fa, "ping", "-q", "-c", "12", "-i", "0.05", "10.77.0.2")
        time.sleep(1)  # delivered to tcpdump, and written into the pipe
        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
    finally:
        pair.close()
    tcpdump_rc, rc = json.loads(statuses.read_text())
    captured = re.search(r"(\d+) packets? captured", dump_err.read_text())
    assert captured, dump_err.read_text()
    stderr = err.read_text()
    assert rc == 0, stderr
    c = summary_counters(stderr)
    assert c["packets_read"] == int(captured.group(1)) >= 24  # 12 requests, 12 replies
    assert sum(r["packets"] for r in records_of(out)) == c["recorded"]
