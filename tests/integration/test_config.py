# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Configuration for fleets with the real binaries: options from FLOWAGENT_* and
FLOWCOLLECTOR_* variables and from --config files (lib/options_env.c, docs/configuration.md).

Cases:
- test_help_names_every_variable: each program's --help names, after every long option, its
  variable, and nothing else.
- test_doc_lists_every_variable: docs/configuration.md's tables list exactly those variables.
- test_agent_refuses_bad_configuration: bad values, unknown variables, config file errors and
  secrets exit 2 with the message naming the variable or file:line (no root needed).
- test_agent_replay_configured_by_env_and_file: a replay configured only by the environment
  equals the same replay from the command line, record for record; the precedence command
  line > environment > file seen on the records' idle timeout.
- test_agent_to_kafka_configured_by_env_and_file: the agent as a DaemonSet runs it, Kafka and
  the node name as agent id from the environment, the rest from a file: every record arrives in
  batches under that id, batch sizes and topic as configured.
- test_collector_configured_by_env_and_file: the collector ingests a file configured only by
  variables and answers a view, configured only by a file, exactly as the records sum up.
- test_collector_refuses_bad_configuration: its bad values and unknown variables exit 2.
"""
import collections
import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import BUILD, FLOWAGENT, ROOT, TRACEGEN, replay
from kafka_fixtures import kafka_broker  # noqa: F401  (a fixture)
from test_kafka import consume

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
LIBCHDB = BUILD / "chdb" / "libchdb.so"
DOC = ROOT / "docs" / "configuration.md"
PROTO_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}
USAGE = "Try `flowagent --help' or `flowagent --usage' for more information."


def clean_env(**variables):
    """This process's environment without any option variable, plus the given ones."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("FLOWAGENT_", "FLOWCOLLECTOR_")) and "_TEST_" not in k)}
    env.update({k: str(v) for k, v in variables.items()})
    return env


def run(binary, *args, env=None, input=None, timeout=300):
    proc = subprocess.run([binary, *[str(a) for a in args]], env=env or clean_env(),
                          input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    proc.stderr_text = proc.stderr.decode(errors="replace")
    assert proc.returncode >= 0, f"{binary} died from signal {-proc.returncode}"
    assert "Sanitizer" not in proc.stderr_text and "runtime error" not in proc.stderr_text
    return proc


def help_variables(binary):
    """(long options, variables named) of --help's option lines."""
    text = run(binary, "--help").stdout.decode()
    options_part = text.split("\n\n  -?, --help")[0]
    names = set(re.findall(r"^\s+(?:-\S, )?--([a-z][a-z0-9-]*)", options_part, re.M))
    variables = re.findall(r"\(env\s+([A-Z][A-Z0-9_]*)\)", " ".join(options_part.split()))
    return names, variables


@pytest.mark.parametrize("binary,prefix", [(FLOWAGENT, "FLOWAGENT_"),
                                           (FLOWCOLLECTOR, "FLOWCOLLECTOR_")],
                         ids=["flowagent", "flowcollector"])
def test_help_names_every_variable(binary, prefix):
    names, variables = help_variables(binary)
    expected = sorted(prefix + n.upper().replace("-", "_") for n in names)
    assert len(names) > 20
    assert sorted(variables) == expected
    assert "config" in names and "kafka-property" in names
    text = " ".join(run(binary, "--help").stdout.decode().split())
    assert f"CONFIGURATION: every long option is also an environment variable, {prefix} " in text


def doc_variables(prefix):
    """The variables of the doc's table rows: | `--name` | `PREFIX_NAME` | ..."""
    rows = re.findall(r"^\| `--([a-z0-9-]+)[^`]*` \| `(" + prefix + r"[A-Z0-9_]+)` \|",
                      DOC.read_text(), re.M)
    for name, variable in rows:
        assert variable == prefix + name.upper().replace("-", "_"), (name, variable)
    return sorted(v for _, v in rows)


@pytest.mark.parametrize("binary,prefix", [(FLOWAGENT, "FLOWAGENT_"),
                                           (FLOWCOLLECTOR, "FLOWCOLLECTOR_")],
                         ids=["flowagent", "flowcollector"])
def test_doc_lists_every_variable(binary, prefix):
    _, variables = help_variables(binary)
    assert doc_variables(prefix) == sorted(variables)


def agent_error(tmp_path, *args, config=None, **variables):
    if config is not None:
        (tmp_path / "agent.conf").write_text(config)
        variables.setdefault("FLOWAGENT_CONFIG", tmp_path / "agent.conf")
    proc = run(FLOWAGENT, *args, env=clean_env(**variables))
    assert proc.returncode == 2, proc.stderr_text
    assert proc.stdout == b""
    return proc.stderr_text


def test_agent_refuses_bad_configuration(tmp_path):
    conf = tmp_path / "agent.conf"
    assert agent_error(tmp_path, FLOWAGENT_SAMPLE="abc", FLOWAGENT_INTERFACES="eth0") == \
        "flowagent: FLOWAGENT_SAMPLE: --sample: 'abc' is not an integer in [1, 16777216]\n" \
        + USAGE + "\n"
    # the node name a DaemonSet passes, when it is not one
    assert agent_error(tmp_path, "eth0", FLOWAGENT_KAFKA="127.0.0.1:9",
                       FLOWAGENT_AGENT_ID="node 1") == \
        "flowagent: FLOWAGENT_AGENT_ID: --agent-id 'node 1': use 1 to 255 letters, digits, " \
        "'.', '_', ':' or '-'\n" + USAGE + "\n"
    assert agent_error(tmp_path, "eth0", FLOWAGENT_KAFAK="127.0.0.1:9") == \
        "flowagent: FLOWAGENT_KAFAK: names no option (every FLOWAGENT_* variable is one, named " \
        "after the option as --help shows; FLOWAGENT_CONFIG is the config file)\n"
    assert agent_error(tmp_path, "eth0", FLOWAGENT_LEGACY_ATTACH="maybe") == \
        "flowagent: FLOWAGENT_LEGACY_ATTACH: --legacy-attach is a flag: expected 1 or 0, true " \
        "or false, yes or no, not 'maybe'\n"
    # a secret in the environment is refused like one on the command line, and never shown
    secret = agent_error(tmp_path, "eth0", FLOWAGENT_KAFKA="127.0.0.1:9",
                         FLOWAGENT_KAFKA_PROPERTY="linger.ms=5\nsasl.password=hunter2")
    assert secret.startswith("flowagent: FLOWAGENT_KAFKA_PROPERTY: -X sasl.password: secrets "
                             "never go on the command line")
    assert "hunter2" not in secret
    # a config file's errors name the line
    assert agent_error(tmp_path, "eth0", config="# fleet\ntopic = flows\nidle-timeout 5\n") == \
        f"flowagent: {conf}:3: expected 'name = value' (a long option's name)\n"
    assert agent_error(tmp_path, "eth0", config="kafka = 127.0.0.1:9\nagent_id = n1\n") == \
        f"flowagent: {conf}:2: 'agent_id' is not an option name; write it as --help does: " \
        "agent-id\n"
    assert agent_error(tmp_path, "eth0", config="\nmax-flows = lots\n") == \
        f"flowagent: {conf}:2: --max-flows: 'lots' is not an integer in [1, 268435456]\n" \
        + USAGE + "\n"
    assert agent_error(tmp_path, "--config", tmp_path / "none.conf", "eth0") == \
        f"flowagent: config file {tmp_path}/none.conf (--config): No such file or directory\n"
    # the command line's own mistakes come first, and --help always answers
    bogus = agent_error(tmp_path, "--bogus", FLOWAGENT_KAFAK="1")
    assert "unrecognized option '--bogus'" in bogus and "KAFAK" not in bogus
    assert run(FLOWAGENT, "--help", env=clean_env(FLOWAGENT_KAFAK="1")).returncode == 0
    assert run(FLOWAGENT, "--version", env=clean_env(FLOWAGENT_SAMPLE="x")).stdout == \
        b"flowagent 0.1\n"


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("config")
    pcap = d / "trace.pcap"
    subprocess.run([TRACEGEN, "--packets", "20000", "--days", "1", "--window", "120",
                    "--seed", "14", "--output", str(pcap), "--quiet"], check=True)
    return pcap


def agent_records(*args, **variables):
    proc = run(FLOWAGENT, *args, env=clean_env(**variables))
    assert proc.returncode == 0, proc.stderr_text
    return sorted(proc.stdout.decode().splitlines())


def test_agent_replay_configured_by_env_and_file(trace, tmp_path):
    short = agent_records("--replay", "--no-progress", "--idle-timeout", "1", trace)
    long = agent_records("--replay", "--no-progress", "--idle-timeout", "60", trace)
    assert len(short) > len(long) > 0  # the timeout shows on the records
    # only the environment, the capture as the positional argument
    assert agent_records(FLOWAGENT_REPLAY="1", FLOWAGENT_NO_PROGRESS="true",
                         FLOWAGENT_IDLE_TIMEOUT="60", FLOWAGENT_INTERFACES=trace) == long
    # only a file, named by the environment; test hooks' variables are not options
    conf = tmp_path / "agent.conf"
    conf.write_text(f"# replay\nreplay = yes\nno-progress = 1\nidle-timeout = 1\n"
                    f"interfaces = {trace}\n")
    assert agent_records(FLOWAGENT_CONFIG=conf, FLOWAGENT_TEST_UNUSED="1") == short
    # the environment wins over the file, the command line over both
    assert agent_records("--config", conf, FLOWAGENT_IDLE_TIMEOUT="60") == long
    assert agent_records("--config", conf, "--idle-timeout", "60", FLOWAGENT_IDLE_TIMEOUT="1") \
        == long
    assert agent_records("--config", conf, "--idle-timeout=1", FLOWAGENT_IDLE_TIMEOUT="60") \
        == short
    # the command line's arguments replace the file's
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pathlib.Path(trace).read_bytes()[:24])
    assert agent_records("--config", conf, empty) == []


def test_agent_to_kafka_configured_by_env_and_file(kafka_broker, trace, tmp_path):
    kafka_broker.create_topic("configured")
    conf = tmp_path / "agent.conf"
    conf.write_text(f"kafka = {kafka_broker.bootstrap}\ntopic = not-this-one\n"
                    "batch-records = 100\nkafka-property = linger.ms=5\nreplay = true\n")
    node = "ip-10-0-1-7.eu-west-1.compute.internal"  # what spec.nodeName gives
    proc = run(FLOWAGENT, env=clean_env(FLOWAGENT_CONFIG=conf, FLOWAGENT_TOPIC="configured",
                                        FLOWAGENT_AGENT_ID=node, FLOWAGENT_NO_PROGRESS="1",
                                        FLOWAGENT_KAFKA_PROPERTY="statistics.interval.ms=0",
                                        FLOWAGENT_INTERFACES=trace))
    assert proc.returncode == 0, proc.stderr_text
    expected = replay([trace])
    got = consume(kafka_broker, "configured", tmp_path)
    assert got.rc == 0, got.stderr
    assert {agent for agent, _ in got.batches} == {node}
    assert got.sorted_records() == expected.sorted_records()
    # the file's --batch-records (a batch may close earlier on --batch-ms, a wall-clock limit)
    assert max(len(records) for records in got.batches.values()) == 100


needs_chdb = pytest.mark.skipif(
    not LIBCHDB.exists() and os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_CHDB") == "1",
    reason="no libchdb (make deps fetches it)")


@needs_chdb
def test_collector_configured_by_env_and_file(trace, tmp_path):
    flows = replay([trace])
    assert flows.rc == 0 and flows.records
    records = tmp_path / "records.json"
    records.write_text("".join(json.dumps(r) + "\n" for r in flows.records))
    store = tmp_path / "flowdb"
    ingest = run(FLOWCOLLECTOR, env=clean_env(FLOWCOLLECTOR_STORE=f"embedded:{store}",
                                              FLOWCOLLECTOR_INPUT=records,
                                              FLOWCOLLECTOR_INPUT_AGENT="trace",
                                              FLOWCOLLECTOR_BATCH_ROWS="1000",
                                              FLOWCOLLECTOR_LIBCHDB=LIBCHDB))
    assert ingest.returncode == 0, ingest.stderr_text[-3000:]
    conf = tmp_path / "collector.conf"
    conf.write_text(f"store = embedded:{store}\ntsv = true\nagent = trace\nlibchdb = {LIBCHDB}\n")
    out = run(FLOWCOLLECTOR, "query", "proto_share_packets",
              env=clean_env(FLOWCOLLECTOR_CONFIG=conf))
    assert out.returncode == 0, out.stderr_text[-3000:]
    lines = out.stdout.decode().splitlines()
    header = lines[0].split("\t")
    rows = {r["proto"]: int(r["packets"]) for r in (dict(zip(header, line.split("\t")))
                                                   for line in lines[1:])}
    truth = collections.Counter()
    for r in flows.records:
        truth[PROTO_NAMES.get(r["proto"], str(r["proto"]))] += r["packets"]
    assert rows == dict(truth)
    # the same view from the command line alone, byte for byte
    direct = run(FLOWCOLLECTOR, "--store", f"embedded:{store}", "query", "proto_share_packets",
                 "--tsv", "--agent", "trace", "--libchdb", LIBCHDB)
    assert direct.returncode == 0 and direct.stdout == out.stdout
    # a file's --agent is overridden by the environment's: no rows for another agent
    other = run(FLOWCOLLECTOR, "query", "proto_share_packets",
                env=clean_env(FLOWCOLLECTOR_CONFIG=conf, FLOWCOLLECTOR_AGENT="other"))
    assert other.returncode == 0 and other.stdout.decode().splitlines()[1:] == []


def test_collector_refuses_bad_configuration(tmp_path):
    proc = run(FLOWCOLLECTOR, "migrate", env=clean_env(FLOWCOLLECTOR_STORE="flowdb"))
    assert proc.returncode == 2
    assert proc.stderr_text.startswith(
        "flowcollector: FLOWCOLLECTOR_STORE: --store 'flowdb': expected embedded:PATH\n")
    proc = run(FLOWCOLLECTOR, "migrate",
               env=clean_env(FLOWCOLLECTOR_CLICKHOUSE_PASWORD_FILE="/run/secrets/pw"))
    assert proc.returncode == 2
    assert proc.stderr_text == "flowcollector: FLOWCOLLECTOR_CLICKHOUSE_PASWORD_FILE: names no " \
        "option (every FLOWCOLLECTOR_* variable is one, named after the option as --help shows; " \
        "FLOWCOLLECTOR_CONFIG is the config file)\n"
    conf = tmp_path / "collector.conf"
    conf.write_text("kafka = 127.0.0.1:9\nkafka-property = sasl.password=hunter2\n")
    proc = run(FLOWCOLLECTOR, "--config", conf, "migrate")
    assert proc.returncode == 2
    assert proc.stderr_text.startswith(f"flowcollector: {conf}:2: -X sasl.password: secrets "
                                       "never go on the command line")
    assert "hunter2" not in proc.stderr_text
