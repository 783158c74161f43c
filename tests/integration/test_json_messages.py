# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The agent's JSON format through a real Kafka broker into the embedded store: one message is
one batch, so a message sent twice, back to back, is stored once; a second agent run is a
restart, not a gap."""
import os
import subprocess

import pytest

from conftest import BUILD, FLOWAGENT, TRACEGEN, replay, summary_counters
from kafka_fixtures import kafka_broker  # noqa: F401  (a fixture)

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
FLOWPRODUCE = str(BUILD / "flowproduce")
LIBCHDB = BUILD / "chdb" / "libchdb.so"

pytestmark = pytest.mark.skipif(not LIBCHDB.exists() and
                                os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
                                reason="no libchdb (make deps fetches it)")


def sql(store, query):
    proc = subprocess.run([FLOWCOLLECTOR, "--store", f"embedded:{store}", "sql", query],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return [line.split("\t") for line in proc.stdout.decode().splitlines()]


def collect(store, broker, topic):
    proc = subprocess.run([FLOWCOLLECTOR, "--store", f"embedded:{store}", "--kafka",
                           broker.bootstrap, "--topic", topic, "--group", topic,
                           "--exit-idle", "5000", "-X", "session.timeout.ms=6000"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr[-3000:]
    return summary_counters(stderr)


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("json-trace")
    pcap = d / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "3000", "--days", "1", "--window", "60", "--seed",
                    "31", "--output", str(pcap), "--quiet"], check=True)
    result = replay([pcap])
    assert result.rc == 0, result.stderr
    return pcap, result


def test_resent_json_message_stored_once(kafka_broker, trace, tmp_path):
    """Three batches as the agent writes them (its JSON records, its identity fields in
    front); the second is sent twice in a row, as a lost acknowledgement makes the agent do."""
    _, result = trace
    records = result.records[:90]
    assert len(records) == 90
    agent_json = subprocess.run([FLOWAGENT, "--replay", "--no-progress", str(trace[0])],
                                stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    lines = agent_json[:90]
    run = 0x1234_5678_9abc_def0
    messages = []
    for seq in (1, 2, 3):
        body = "".join('{"agent_id":"jdup","batch_run":%d,"batch_seq":%d,%s\n'
                       % (run, seq, line[1:]) for line in lines[(seq - 1) * 30:seq * 30])
        path = tmp_path / f"batch-{seq}.json"
        path.write_text(body)
        messages.append(path)
    sent = [messages[0], messages[1], messages[1], messages[2]]
    topic = "json-dup"
    kafka_broker.create_topic(topic)
    subprocess.run([FLOWPRODUCE, "-b", kafka_broker.bootstrap, "-t", topic, "-k", "jdup",
                    *[str(p) for p in sent]], check=True, stdout=subprocess.DEVNULL)
    store = tmp_path / "db"
    counters = collect(store, kafka_broker, topic)
    assert counters["messages"] == 4
    assert counters["duplicate_batches"] == 1
    assert counters["duplicate_rows"] == 30
    assert counters["rows_inserted"] == 90
    assert counters["batches_missing"] == 0
    [[rows, batches, packets]] = sql(store, "SELECT count(), uniqExact(agent, batch_run, "
                                            "batch_seq), sum(packets) FROM flows.raw")
    assert (int(rows), int(batches)) == (90, 3)
    assert int(packets) == sum(r["packets"] for r in records)
    assert sql(store, "SELECT count() FROM flows.batches") == [["3"]]


def test_json_agent_restart_is_a_restart_not_a_gap(kafka_broker, trace, tmp_path):
    """The real agent in JSON, run twice: two runs, each numbered from 1; every record of both
    stored, one restart, nothing missing."""
    pcap, result = trace
    topic = "json-restart"
    kafka_broker.create_topic(topic)
    delivered = 0
    for _ in range(2):
        proc = subprocess.run([FLOWAGENT, "--replay", "--no-progress", "--kafka",
                               kafka_broker.bootstrap, "--topic", topic, "--kafka-format",
                               "json", "--agent-id", "jrestart", "--batch-records", "100",
                               str(pcap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120)
        stderr = proc.stderr.decode(errors="replace")
        assert proc.returncode == 0, stderr[-3000:]
        delivered += summary_counters(stderr)["kafka_batches_delivered"]
    store = tmp_path / "db"
    counters = collect(store, kafka_broker, topic)
    assert counters["agent_restarts"] == 1
    assert counters["batches_missing"] == 0
    assert counters["duplicate_batches"] == 0
    assert counters["rows_inserted"] == 2 * len(result.records)
    [[runs, batches]] = sql(store, "SELECT uniqExact(batch_run), uniqExact(batch_run, batch_seq) "
                                   "FROM flows.raw")
    assert (int(runs), int(batches)) == (2, delivered)
    assert sql(store, "SELECT min(batch_seq) FROM flows.raw GROUP BY batch_run") == [["1"], ["1"]]
