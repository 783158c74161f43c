# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Kafka test broker itself (tests/kafka/broker.sh, kafka_fixtures.py): the exporter
tests trust it, so it is checked on its own.

Cases:
  test_topic_round_trip                  3 partitions, 5 messages in, the same 5 out
  test_restart_same_port_same_data       stop: port closed; start: same address, topic,
                                         topic id and messages, and it takes new ones
  test_failed_start_leaves_no_jvm        a JVM that dies, a broker not up in time: exit 1,
                                         the log tail on stderr, no java process left
  test_watchdog_stops_orphaned_broker    the process that started it is SIGKILLed: the
                                         broker is stopped all the same
"""
import os
import pathlib
import socket
import subprocess
import time

import pytest

from kafka_fixtures import KafkaBroker, KafkaError, broker_sh, require_kafka
# conftest.py imports these for every module; importing them here too is harmless (one broker)
from kafka_fixtures import kafka, kafka_broker  # noqa: F401


def port_open(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def jvms_of(directory):
    """Pids of the processes whose command line names DIRECTORY/server.properties."""
    needle = f"{directory}/server.properties".encode()
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if needle in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_topic_round_trip(kafka):
    topic = kafka.create_topic("broker-smoke-roundtrip", partitions=3)
    described = kafka.describe_topic(topic)
    assert described["partitions"] == {0: 1, 1: 1, 2: 1}
    values = [f"message-{i}" for i in range(5)]
    kafka.produce_lines(topic, values)
    assert sum(kafka.end_offsets(topic).values()) == 5
    messages = kafka.consume(topic)
    assert sorted(m["value"].decode() for m in messages) == values
    assert all(m["key"] is None for m in messages)
    # waiting for more than there is times out and says so
    with pytest.raises(KafkaError, match="5 messages of 6"):
        kafka.consume(topic, count=6, timeout=2)


def test_restart_same_port_same_data(kafka):
    topic = kafka.create_topic("broker-smoke-restart", partitions=2)
    topic_id = kafka.describe_topic(topic)["topic_id"]
    kafka.produce_lines(topic, ["before-1", "before-2", "before-3"])
    bootstrap, pid = kafka.bootstrap, kafka.pid
    assert port_open(bootstrap)

    kafka.stop()
    assert not kafka.running
    assert not port_open(bootstrap)
    assert jvms_of(kafka.dir) == []

    kafka.start()
    assert kafka.bootstrap == bootstrap
    assert kafka.pid != pid
    described = kafka.describe_topic(topic)
    assert described["topic_id"] == topic_id
    assert described["partitions"] == {0: 1, 1: 1}
    kafka.produce_lines(topic, ["after-1"])
    # everything up to the end offsets: exactly the 3 old messages and the new one
    assert sorted(m["value"].decode() for m in kafka.consume(topic)) == \
        ["after-1", "before-1", "before-2", "before-3"]


@pytest.mark.parametrize("env, reason", [
    ({"KAFKA_HEAP_OPTS": "-Xmx1k"}, "the JVM exited"),
    ({"KAFKA_START_TIMEOUT": "1"}, "not up after 1s"),
])
def test_failed_start_leaves_no_jvm(tmp_path, env, reason):
    require_kafka()
    proc = broker_sh("start", tmp_path, env=env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"did not start: {reason}" in proc.stderr
    assert "\n--- " in proc.stderr        # what the broker wrote, or that it wrote nothing
    assert jvms_of(tmp_path) == []
    assert not (tmp_path / "broker.pid").exists()
    assert broker_sh("status", tmp_path).returncode == 1


def test_watchdog_stops_orphaned_broker(tmp_path):
    require_kafka()
    # stands in for a test runner that is SIGKILLed and so never tears down
    runner = subprocess.Popen(["sleep", "600"])
    try:
        proc = broker_sh("start", tmp_path, env={"KAFKA_WATCH_PID": str(runner.pid)})
        assert proc.returncode == 0, proc.stderr
        assert len(jvms_of(tmp_path)) == 1
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 40
        while jvms_of(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert jvms_of(tmp_path) == []
    finally:
        runner.kill()
        runner.wait()
        broker_sh("stop", tmp_path)
    # it was a clean shutdown, and the broker starts again from the same data
    assert (tmp_path / "data" / ".kafka_cleanshutdown").exists()
    broker = KafkaBroker(tmp_path)
    try:
        broker.start()
        assert broker.bootstrap == (tmp_path / "bootstrap").read_text().strip()
    finally:
        broker.stop()
    assert jvms_of(tmp_path) == []
