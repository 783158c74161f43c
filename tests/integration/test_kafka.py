# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Kafka export against a real Apache Kafka broker (KRaft): round trip, outages, crashes, a full
spool, bad messages and the connectivity check. Records are read back with build/flowconsume,
which decodes with the agent's wire decoder; tests/integration/wire.py reads spool files."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, FLOWAGENT, FLOWAGENT_ASAN, TRACEGEN, replay, summary_counters
from kafka_fixtures import kafka_broker  # noqa: F401  (a fixture)
import wire

FLOWCONSUME = str(BUILD / "flowconsume")
FLOWPRODUCE = str(BUILD / "flowproduce")
EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """A one-minute MAWI-like trace, its replay and the replay's records as sorted JSON."""
    d = tmp_path_factory.mktemp("kafka-trace")
    pcap = d / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "50000", "--days", "1", "--window", "60", "--seed",
                    "11", "--output", str(pcap), "--quiet"], check=True)
    result = replay([pcap])
    assert result.rc == 0, result.stderr
    assert len(result.records) > 5000
    return pcap, result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent(args, binary=FLOWAGENT, timeout=300, **kwargs):
    cmd = [binary, "--no-progress", *[str(a) for a in args]]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          **kwargs)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{cmd} died from signal {-proc.returncode}"
    assert "Sanitizer" not in proc.stderr_text and "runtime error" not in proc.stderr_text, \
        proc.stderr_text[-4000:]
    return proc


class Consumed:
    """What flowconsume read: records per (agent, sequence), batch lines, rejects."""

    def __init__(self, proc, batches_path):
        self.rc = proc.returncode
        self.stderr = proc.stderr.decode(errors="replace")
        self.batches = {}           # (agent, seq) -> [records], first copy only
        self.copies = {}            # (agent, seq) -> copies seen
        self.records_read = 0
        for line in proc.stdout.decode().splitlines():
            r = json.loads(line)
            key = (r.pop("agent_id"), r.pop("batch_seq"))
            self.records_read += 1
            self.batches.setdefault(key, []).append(r)
        self.batch_lines = []
        for line in batches_path.read_text().splitlines():
            partition, offset, agent_id, seq, count, flags = line.split()
            self.batch_lines.append((int(partition), int(offset), agent_id, int(seq), int(count),
                                     int(flags)))
            key = (agent_id, int(seq))
            self.copies[key] = self.copies.get(key, 0) + 1
        # a duplicate batch appears twice in stdout too: keep one copy of its records
        for key, count in self.copies.items():
            if count > 1:
                records = self.batches[key]
                assert len(records) % count == 0
                self.batches[key] = records[:len(records) // count]

    def sorted_records(self):
        return sorted(json.dumps(r, sort_keys=True) for rs in self.batches.values() for r in rs)


def consume(broker, topic, tmp_path, records=0, idle_ms=3000):
    batches_path = tmp_path / f"{topic}.batches"
    cmd = [FLOWCONSUME, "-b", broker.bootstrap, "-t", topic, "-i", str(idle_ms), "-B",
           str(batches_path)]
    if records:
        cmd += ["-n", str(records)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return Consumed(proc, batches_path)


def test_round_trip_binary(kafka_broker, trace, tmp_path):
    pcap, expected = trace
    kafka_broker.create_topic("roundtrip", partitions=3)
    proc = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "roundtrip",
                  "--agent-id", "probe-1", "--batch-records", "500", pcap])
    assert proc.returncode == 0, proc.stderr_text
    counters = summary_counters(proc.stderr_text)
    n = len(expected.records)
    assert counters["kafka_records_delivered"] == n
    assert counters["kafka_records_dropped"] == 0
    assert counters["kafka_batches_spooled"] == 0

    got = consume(kafka_broker, "roundtrip", tmp_path, records=n)
    assert got.rc == 0, got.stderr
    assert got.sorted_records() == expected.sorted_records()
    # one agent, one partition, consecutive sequence numbers in offset order
    assert len({p for p, *_ in got.batch_lines}) == 1
    seqs = [seq for _, _, _, seq, _, _ in sorted(got.batch_lines, key=lambda b: b[1])]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(seqs) == (n + 499) // 500
    assert [b[5] for b in sorted(got.batch_lines, key=lambda b: b[1])] == \
        [1] + [0] * (len(seqs) - 1)


def test_round_trip_json_zstd(kafka_broker, trace, tmp_path):
    pcap, expected = trace
    kafka_broker.create_topic("roundtrip-json")
    proc = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "roundtrip-json",
                  "--kafka-format", "json", "--compression", "zstd", "--agent-id", "j1", pcap])
    assert proc.returncode == 0, proc.stderr_text
    out = subprocess.run([FLOWCONSUME, "-b", kafka_broker.bootstrap, "-t", "roundtrip-json",
                          "-j", "-i", "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=120)
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(rows) == len(expected.records)
    assert {r.pop("agent_id") for r in rows} == {"j1"}
    # JSON rows are ~300 bytes: batches are sealed by --batch-bytes (960K) before 10000 rows
    seqs = sorted({r.pop("batch_seq") for r in rows})
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(seqs) == 3
    runs = {r.pop("batch_run") for r in rows}
    assert len(runs) == 1 and runs.pop() != 0
    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == expected.sorted_records()


def test_asan_agent_round_trip(kafka_broker, trace, tmp_path):
    """The exporter under ASan+UBSan, with a spool it never needs."""
    pcap, expected = trace
    kafka_broker.create_topic("asan")
    proc = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "asan",
                  "--agent-id", "asan", "--batch-records", "97", "--spool-dir",
                  tmp_path / "spool", pcap], binary=FLOWAGENT_ASAN)
    assert proc.returncode == 0, proc.stderr_text
    got = consume(kafka_broker, "asan", tmp_path, records=len(expected.records))
    assert got.sorted_records() == expected.sorted_records()


def paced_replay(kafka_broker, topic, pcap, spool, speed, agent_id, extra=()):
    cmd = [FLOWAGENT, "--no-progress", "--replay", "--speed", str(speed), "--kafka",
           kafka_broker.bootstrap, "--topic", topic, "--agent-id", agent_id,
           "--batch-records", "200", "--batch-ms", "200", "--batch-bytes", "64K",
           "--queue-max-bytes", "64K",
           "--spool-dir", str(spool), "-X", "message.timeout.ms=3000",
           "-X", "reconnect.backoff.max.ms=500", "--flush-timeout", "60", *extra, str(pcap)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_broker_outage_loses_nothing(kafka_broker, trace, tmp_path):
    """The broker goes away mid-stream for longer than the memory queue lasts, then returns."""
    pcap, expected = trace
    kafka_broker.create_topic("outage")
    spool = tmp_path / "spool"
    # the trace spans 60 s of packet time: at 3x the replay takes ~20 s
    proc = paced_replay(kafka_broker, "outage", pcap, spool, 3, "outage-1")
    time.sleep(5)
    kafka_broker.stop()
    time.sleep(8)
    assert proc.poll() is None, proc.communicate()[1].decode()
    assert list(spool.glob("*.batch")), "batches should wait in the spool while Kafka is down"
    kafka_broker.start()
    out, err = proc.communicate(timeout=240)
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr
    counters = summary_counters(stderr)
    assert counters["kafka_batches_spooled"] > 0, stderr
    assert counters["kafka_records_dropped"] == 0
    assert counters["kafka_spool_batches"] == 0
    assert not list(spool.glob("*.batch"))

    got = consume(kafka_broker, "outage", tmp_path, idle_ms=5000)
    assert got.rc == 0, got.stderr
    assert got.sorted_records() == expected.sorted_records()
    seqs = sorted(seq for _, seq in got.batches)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no batch may be missing"


def test_crash_while_broker_down(kafka_broker, trace, tmp_path):
    """SIGKILL while Kafka is down: the spooled batches are delivered by the next start."""
    pcap, expected = trace
    kafka_broker.create_topic("crash")
    spool = tmp_path / "spool"
    kafka_broker.stop()
    try:
        proc = paced_replay(kafka_broker, "crash", pcap, spool, 6, "crash-1")
        deadline = time.time() + 60
        while sum(map(wire.spool_file_batches, spool.glob("*.batch"))) < 5 and \
                time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kafka_broker.start()
    spooled = {}
    runs = set()
    # a process crash keeps what was written: uncommitted files are sent too
    for count, payload in wire.read_spool_dir(spool, uncommitted=True):
        header, records = wire.decode_batch(payload)
        assert header["count"] == count and header["agent_id"] == "crash-1"
        assert header["version"] == 2 and header["run_id"] != 0
        runs.add(header["run_id"])
        spooled[header["sequence"]] = records
    assert len(spooled) >= 5
    assert len(runs) == 1, "one run spooled them"

    empty = tmp_path / "empty.pcap"
    empty.write_bytes(EMPTY_PCAP)
    restart = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "crash",
                     "--agent-id", "crash-1", "--spool-dir", spool, empty])
    assert restart.returncode == 0, restart.stderr_text
    counters = summary_counters(restart.stderr_text)
    assert counters["kafka_batches_resent"] == len(spooled)
    assert not list(spool.glob("*.batch")) and not list(spool.glob("*.open"))

    got = consume(kafka_broker, "crash", tmp_path, idle_ms=3000)
    delivered = {seq: rs for (agent_id, seq), rs in got.batches.items()}
    for seq, records in spooled.items():
        assert seq in delivered, f"spooled batch {seq} was not delivered"
        assert sorted(json.dumps(r, sort_keys=True) for r in delivered[seq]) == \
            sorted(json.dumps(r, sort_keys=True) for r in records)


def test_full_spool_counts_every_dropped_record(kafka_broker, trace, tmp_path):
    """Kafka down and a small spool: dropped records + delivered records = all records."""
    pcap, expected = trace
    kafka_broker.create_topic("fullspool")
    spool = tmp_path / "spool"
    kafka_broker.stop()
    try:
        proc = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "fullspool",
                      "--agent-id", "full-1", "--batch-records", "300", "--spool-dir", spool,
                      "--spool-max-bytes", "200K", "--batch-bytes", "64K",
                      "--queue-max-bytes", "64K",
                      "-X", "message.timeout.ms=2000", "--flush-timeout", "3", pcap])
    finally:
        kafka_broker.start()
    assert proc.returncode == 1, proc.stderr_text
    assert "records were dropped" in proc.stderr_text
    counters = summary_counters(proc.stderr_text)
    dropped = counters["kafka_records_dropped"]
    assert dropped > 0
    spooled_records = sum(count for count, _ in wire.read_spool_dir(spool))
    assert spooled_records + dropped == len(expected.records)
    assert sum(f.stat().st_size for f in spool.glob("*.batch")) <= 200 * 1024

    empty = tmp_path / "empty.pcap"
    empty.write_bytes(EMPTY_PCAP)
    restart = agent(["--replay", "--kafka", kafka_broker.bootstrap, "--topic", "fullspool",
                     "--agent-id", "full-1", "--spool-dir", spool, empty])
    assert restart.returncode == 0, restart.stderr_text
    got = consume(kafka_broker, "fullspool", tmp_path, idle_ms=3000)
    delivered = sum(len(rs) for rs in got.batches.values())
    assert delivered == len(expected.records) - dropped


def test_bad_messages_rejected(kafka_broker, trace, tmp_path):
    """Garbage, a wrong version and truncated batches: clear errors, and the good one decodes."""
    pcap, _ = trace
    kafka_broker.create_topic("bad")
    good = pathlib.Path(tmp_path / "good")
    # a real batch from the agent, captured through its spool (Kafka unreachable)
    proc = agent(["--replay", "--kafka", f"127.0.0.1:{free_port()}", "--topic", "bad",
                  "--agent-id", "bad-1", "--batch-records", "50", "--spool-dir",
                  tmp_path / "spool", "--flush-timeout", "1", "-X",
                  "message.timeout.ms=1000", pcap])
    spooled = wire.read_spool_dir(tmp_path / "spool")
    assert spooled, proc.stderr_text
    _, payload = spooled[0]
    good.write_bytes(payload)
    variants = {
        "garbage": b"this is not a flow batch at all, not even close....",
        "version": payload[:4] + b"\x09" + payload[5:],
        "truncated": payload[:-7],
        "short": payload[:20],
        "crc": payload[:-1] + bytes([payload[-1] ^ 0xFF]),
    }
    paths = []
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    subprocess.run([FLOWPRODUCE, "-b", kafka_broker.bootstrap, "-t", "bad", *paths, str(good)],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    got = consume(kafka_broker, "bad", tmp_path, idle_ms=2000)
    assert got.rc == 1
    for message in ("offset 0: bad magic: not a flow batch",
                    "offset 1: unsupported wire format version",
                    "offset 2: record count does not match the message length",
                    "offset 3: shorter than a batch header",
                    "offset 4: records checksum mismatch"):
        assert message in got.stderr, got.stderr
    assert "5 messages rejected" in got.stderr
    assert sum(len(rs) for rs in got.batches.values()) == 50


def test_check(kafka_broker):
    kafka_broker.create_topic("checked", partitions=2)
    ok = agent(["--kafka", kafka_broker.bootstrap, "--topic", "checked", "--check"])
    assert ok.returncode == 0, ok.stderr_text
    out = ok.stdout.decode()
    assert "topic checked: 2 partition(s)" in out and "partition 1  leader 1" in out
    missing = agent(["--kafka", kafka_broker.bootstrap, "--topic", "no-such-topic", "--check"])
    assert missing.returncode == 1
    assert "topic 'no-such-topic': Broker: Unknown topic or partition" in missing.stderr_text
    port = free_port()
    down = agent(["--kafka", f"127.0.0.1:{port}", "--check"], timeout=60)
    assert down.returncode == 1
    assert f"no answer from the brokers 127.0.0.1:{port}" in down.stderr_text


def test_secrets_never_on_the_command_line(tmp_path):
    proc = agent(["--replay", "--kafka", "127.0.0.1:1", "-X", "sasl.password=hunter2", "x.pcap"])
    assert proc.returncode == 2
    assert "secrets never go on the command line" in proc.stderr_text
    assert "hunter2" not in proc.stderr_text

    config = tmp_path / "kafka.properties"
    config.write_text("# comment\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                      "sasl.username=flow\nsasl.password=hunter2\nno equals sign here\n")
    os.chmod(config, 0o600)
    proc = agent(["--replay", "--kafka", "127.0.0.1:1", "--kafka-config", config, "x.pcap"])
    assert proc.returncode == 2
    assert f"{config}:6: expected key=value" in proc.stderr_text
    assert "hunter2" not in proc.stderr_text

    config.write_text("sasl.password=hunter2\nno.such.property=1\n")
    proc = agent(["--replay", "--kafka", "127.0.0.1:1", "--kafka-config", config, "x.pcap"])
    assert proc.returncode == 2
    assert f"{config}:2: Kafka property 'no.such.property'" in proc.stderr_text

    config.write_text("sasl.password=hunter2\n")
    os.chmod(config, 0o644)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(EMPTY_PCAP)
    proc = agent(["--replay", "--kafka", "127.0.0.1:1", "--kafka-config", config,
                  "--flush-timeout", "0", empty])
    assert "holds secrets and is readable by other users" in proc.stderr_text
    assert "hunter2" not in proc.stderr_text


@pytest.mark.parametrize("args,message", [
    (["--kafka-format", "avro"], "--kafka-format: 'avro' is not binary or json"),
    (["--compression", "brotli"], "--compression 'brotli': use lz4, zstd, gzip, snappy or none"),
    (["--batch-records", "0"], "--batch-records: '0' is not an integer"),
    (["--batch-bytes", "1"], "--batch-bytes: '1' is not a size in [4K, 64M]"),
    (["--topic", "bad topic"], "--topic 'bad topic'"),
    (["--agent-id", "has space"], "--agent-id 'has space'"),
    (["-X", "linger.ms"], "-X 'linger.ms': expected KEY=VALUE"),
    (["-X", "linger.ms=abc"], "-X: Kafka property 'linger.ms'"),
])
def test_kafka_usage_errors(args, message, tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(EMPTY_PCAP)
    proc = agent(["--replay", "--kafka", "127.0.0.1:1", *args, empty])
    assert proc.returncode == 2, proc.stderr_text
    assert message in proc.stderr_text


def test_spool_needs_kafka(tmp_path):
    proc = agent(["--replay", "--spool-dir", tmp_path, "x.pcap"])
    assert proc.returncode == 2
    assert "Kafka options need --kafka BROKERS" in proc.stderr_text
