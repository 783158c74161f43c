# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Real Apache Kafka brokers for the integration tests: one KRaft node (broker and controller,
no ZooKeeper) on 127.0.0.1, run by tests/kafka/broker.sh from the jars that tests/kafka/pom.xml
names (fetched into build/kafka/libs).

conftest.py imports the fixtures:
  kafka_broker  session scope: started once, stopped at the end on every exit path
  kafka         function scope: the same broker, started again first if a test left it stopped
  kafka_cluster function scope: a 3-node cluster of its own (KafkaCluster: kill(i), start_node(i))

Without the jars (or java) the fixtures fail with the reason, so CI cannot pass by skipping;
FLOWAGENT_TEST_ALLOW_SKIP_KAFKA=1 turns that into a skip. There is no Python Kafka client here: the
helpers run the tools in the jars (TopicCommand, ConsoleProducer, GetOffsetShell) and
tests/kafka/TopicDump.java, one short JVM each (about a second).
"""
import atexit
import base64
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BROKER_SH = ROOT / "tests" / "kafka" / "broker.sh"
TOPIC_DUMP = ROOT / "tests" / "kafka" / "TopicDump.java"
KAFKA_LIBS = pathlib.Path(os.environ.get("KAFKA_LIBS", str(ROOT / "build" / "kafka" / "libs")))
JAVA = os.environ.get("JAVA") or (os.path.join(os.environ["JAVA_HOME"], "bin", "java")
                                  if os.environ.get("JAVA_HOME") else "java")
ALLOW_SKIP = os.environ.get("FLOWAGENT_TEST_ALLOW_SKIP_KAFKA") == "1"
# short-lived tool JVMs: C1 only, serial GC, class data sharing
TOOL_JVM_OPTS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Xmx512m"]
TOOL_LOG4J = """\
appender.err.type=Console
appender.err.name=STDERR
appender.err.target=SYSTEM_ERR
appender.err.layout.type=PatternLayout
appender.err.layout.pattern=%p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.err.ref=STDERR
"""


class KafkaError(Exception):
    pass


def kafka_missing():
    """Why a broker cannot run here, or None."""
    if not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return (f"no Kafka jars in {KAFKA_LIBS}: fetch them with `mvn -q -B -f "
                "tests/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime "
                f"-DoutputDirectory={KAFKA_LIBS}` (the Makefile does it for `make test`)")
    if not shutil.which(JAVA):
        return f"no java ({JAVA}): install openjdk-17-jdk-headless or set JAVA"
    return None


def require_kafka():
    """Fail the calling test or fixture if Kafka cannot run; skip only when allowed."""
    why = kafka_missing()
    if why is None:
        return
    if ALLOW_SKIP:
        pytest.skip(f"{why} (skipped: FLOWAGENT_TEST_ALLOW_SKIP_KAFKA=1)")
    pytest.fail(f"{why}; set FLOWAGENT_TEST_ALLOW_SKIP_KAFKA=1 to skip the Kafka tests instead",
                pytrace=False)


def broker_sh(command, directory, env=None, timeout=150):
    """Runs broker.sh COMMAND DIRECTORY; returns the CompletedProcess (text)."""
    full_env = dict(os.environ, KAFKA_LIBS=str(KAFKA_LIBS), JAVA=JAVA, **(env or {}))
    return subprocess.run([str(BROKER_SH), command, str(directory)], env=full_env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


class KafkaBroker:
    """One broker in `directory`. `bootstrap` is "127.0.0.1:PORT", the same after a restart."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.bootstrap = None
        self._tool_log = self.dir / "tools-log4j2.properties"
        self._classes = None
        self._classpath = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self):
        """Starts the broker (again, on the same port and data after stop()); raises
        KafkaError with the end of the broker log if it does not come up."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # The watchdog stops the JVM if this process dies without tearing down (SIGKILL).
        env = {"KAFKA_WATCH_PID": str(os.getpid())}
        try:
            proc = broker_sh("start", self.dir, env=env)
        except subprocess.TimeoutExpired as e:
            broker_sh("stop", self.dir)
            raise KafkaError(f"broker.sh start {self.dir} hung: {e}") from e
        if proc.returncode != 0:
            broker_sh("stop", self.dir)
            raise KafkaError(f"Kafka broker in {self.dir} did not start:\n{proc.stderr}")
        bootstrap = proc.stdout.strip()
        if self.bootstrap is not None and bootstrap != self.bootstrap:
            broker_sh("stop", self.dir)
            raise KafkaError(f"broker came back on {bootstrap}, not {self.bootstrap}")
        self.bootstrap = bootstrap
        return self

    def stop(self):
        """SIGTERM, SIGKILL after 30 s; returns once the JVM is gone."""
        proc = broker_sh("stop", self.dir)
        if proc.returncode != 0:
            raise KafkaError(f"broker.sh stop {self.dir} failed:\n{proc.stderr}")

    def restart(self):
        self.stop()
        return self.start()

    @property
    def running(self):
        return broker_sh("status", self.dir, timeout=30).returncode == 0

    def ensure_running(self):
        if not self.running:
            self.start()
        return self

    @property
    def pid(self):
        try:
            return int((self.dir / "broker.pid").read_text())
        except (OSError, ValueError):
            return None

    @property
    def log(self):
        """The broker's log4j log (all starts of it)."""
        return self.dir / "broker.log"

    # --- tools ----------------------------------------------------------------------------
    def java(self, *args, input=None, timeout=120, check=True, classpath=None):
        """Runs a class with the Kafka jars on the class path; returns the CompletedProcess."""
        if not self._tool_log.exists():
            self._tool_log.write_text(TOOL_LOG4J)
        cp = f"{KAFKA_LIBS}/*" if classpath is None else f"{classpath}:{KAFKA_LIBS}/*"
        cmd = [JAVA, *TOOL_JVM_OPTS, f"-Dlog4j2.configurationFile={self._tool_log}",
               "-cp", cp, *[str(a) for a in args]]
        proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise KafkaError(f"{' '.join(cmd[-len(args):])} exited {proc.returncode}:\n"
                             f"{proc.stderr.decode(errors='replace')[-4000:]}")
        return proc

    def _tool(self, main_class, *args, **kwargs):
        return self.java(main_class, "--bootstrap-server", self.bootstrap, *args, **kwargs)

    def create_topic(self, name, partitions=1, config=None):
        """Creates the topic (replication factor 1); fails if it exists. config: {k: v}."""
        args = ["--create", "--topic", name, "--partitions", str(partitions),
                "--replication-factor", "1"]
        for k, v in (config or {}).items():
            args += ["--config", f"{k}={v}"]
        self._tool("org.apache.kafka.tools.TopicCommand", *args)
        return name

    def delete_topic(self, name):
        self._tool("org.apache.kafka.tools.TopicCommand", "--delete", "--topic", name)

    def topics(self):
        """The names of all topics, internal ones included."""
        out = self._tool("org.apache.kafka.tools.TopicCommand", "--list").stdout.decode()
        return sorted(line.strip() for line in out.splitlines() if line.strip())

    def describe_topic(self, name):
        """{"topic_id": str, "partitions": {partition: leader}, "configs": {k: v}}."""
        out = self._tool("org.apache.kafka.tools.TopicCommand", "--describe", "--topic",
                         name).stdout.decode()
        result = {"topic_id": None, "partitions": {}, "configs": {}}
        for line in out.splitlines():
            fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
            if "Partition" in fields:
                result["partitions"][int(fields["Partition"])] = int(fields["Leader"])
            elif "TopicId" in fields:
                result["topic_id"] = fields["TopicId"]
                configs = fields.get("Configs", "")
                result["configs"] = dict(c.split("=", 1) for c in configs.split(",") if "=" in c)
        return result

    def end_offsets(self, topic):
        """{partition: offset of the next message}: the message count of a topic never
        deleted from or compacted is their sum."""
        # --topic is a regular expression
        out = self._tool("org.apache.kafka.tools.GetOffsetShell", "--topic",
                         re.escape(topic)).stdout.decode()
        offsets = {}
        for line in out.splitlines():
            name, partition, offset = line.strip().rsplit(":", 2)
            if name == topic:
                offsets[int(partition)] = int(offset)
        return offsets

    def produce_lines(self, topic, lines):
        """Produces one message per line (text, acks=all) with the console producer."""
        data = "".join(f"{line}\n" for line in lines).encode()
        self._tool("org.apache.kafka.tools.ConsoleProducer", "--topic", topic,
                   "--producer-property", "acks=all", input=data)

    def consume(self, topic, count=None, timeout=30):
        """The messages of `topic` from the start, each {"partition", "offset", "timestamp",
        "key", "value", "headers"} with bytes keys and values. count=None: everything up to
        the end offsets at the time of the call; else wait for exactly `count` messages and
        raise KafkaError if they do not all arrive within `timeout` seconds."""
        args = [topic, str(count or 0), str(int(timeout * 1000))]
        proc = self.java(*self._topic_dump(), self.bootstrap, *args, timeout=timeout + 60,
                         check=False)
        messages = []
        for line in proc.stdout.decode().splitlines():
            m = json.loads(line)
            for field in ("key", "value"):
                if m[field] is not None:
                    m[field] = base64.b64decode(m[field])
            m["headers"] = [(k, None if v is None else base64.b64decode(v))
                            for k, v in m["headers"]]
            messages.append(m)
        if proc.returncode != 0:
            raise KafkaError(f"reading {topic}: {len(messages)} messages"
                             f"{'' if count is None else f' of {count}'}, TopicDump exited "
                             f"{proc.returncode}:\n{proc.stderr.decode(errors='replace')[-4000:]}")
        return messages

    def _topic_dump(self):
        """Arguments that run TopicDump: compiled once if javac is there, else from source."""
        if self._classes is None:
            javac = shutil.which("javac", path=os.path.dirname(shutil.which(JAVA) or "") or None)
            classes = self.dir / "classes"
            if javac and subprocess.run([javac, "-nowarn", "-d", str(classes), "-cp",
                                         f"{KAFKA_LIBS}/*", str(TOPIC_DUMP)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        timeout=120).returncode == 0:
                self._classes = ["TopicDump"]
                self._classpath = classes
            else:
                self._classes = [str(TOPIC_DUMP)]
                self._classpath = None
        if self._classpath is None:
            return self._classes
        return ["-cp", f"{self._classpath}:{KAFKA_LIBS}/*", *self._classes]


# The session broker, shared by every definition of the fixture (conftest.py and a test
# module may both import it) and stopped at exit if pytest itself is interrupted.
_session = {"broker": None, "users": 0}


@atexit.register
def _stop_at_exit():
    if _session["broker"] is not None:
        broker_sh("stop", _session["broker"].dir)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A running broker for the session (auto topic creation on, num.partitions from
    KAFKA_PARTITIONS, 16 MiB messages); stopped at the end however the tests went."""
    require_kafka()
    if _session["broker"] is None:
        broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
        try:
            broker.start()
        except KafkaError as e:
            pytest.fail(str(e), pytrace=False)
        _session["broker"] = broker
    _session["users"] += 1
    try:
        yield _session["broker"]
    finally:
        _session["users"] -= 1
        if _session["users"] == 0:
            broker, _session["broker"] = _session["broker"], None
            broker.stop()


@pytest.fixture
def kafka(kafka_broker):
    """The session broker, running: started again if an earlier test stopped it."""
    return kafka_broker.ensure_running()


class KafkaCluster(KafkaBroker):
    """`nodes` KRaft nodes (each broker and controller, all voters) in `directory`/nodeI, run
    by broker.sh cluster-start. `bootstrap` lists every node; the tools go through it."""

    def __init__(self, directory, nodes=3):
        super().__init__(directory)
        self.nodes = nodes
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tool_log = self.dir / "tools-log4j2.properties"

    def _env(self):
        return {"KAFKA_WATCH_PID": str(os.getpid()), "KAFKA_HEAP_OPTS": "-Xms64m -Xmx256m"}

    def _run(self, *args, timeout=180):
        full_env = dict(os.environ, KAFKA_LIBS=str(KAFKA_LIBS), JAVA=JAVA, **self._env())
        return subprocess.run([str(BROKER_SH), *[str(a) for a in args]], env=full_env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)

    def start(self, i=None):
        """The whole cluster, or node i (1-based) again on its ports and data."""
        if i is not None:
            return self.start_node(i)
        proc = self._run("cluster-start", self.dir, self.nodes)
        if proc.returncode != 0:
            self._run("cluster-stop", self.dir)
            raise KafkaError(f"Kafka cluster in {self.dir} did not start:\n{proc.stderr}")
        self.bootstrap = proc.stdout.strip()
        return self

    def stop(self):
        proc = self._run("cluster-stop", self.dir)
        if proc.returncode != 0:
            raise KafkaError(f"broker.sh cluster-stop {self.dir} failed:\n{proc.stderr}")

    def node_dir(self, i):
        return self.dir / f"node{i}"

    def kill(self, i):
        """SIGKILL of node i (1-based): no shutdown at all."""
        proc = self._run("kill-node", self.dir, i)
        if proc.returncode != 0:
            raise KafkaError(f"kill-node {i}: {proc.stderr}")

    def start_node(self, i):
        """Starts node i again, on its ports and data."""
        proc = self._run("start-node", self.dir, i)
        if proc.returncode != 0:
            raise KafkaError(f"start-node {i} did not start:\n{proc.stderr}")

    def pid(self, i):
        try:
            return int((self.node_dir(i) / "broker.pid").read_text())
        except (OSError, ValueError):
            return None

    def create_topic(self, name, partitions=1, config=None, replication_factor=3,
                     min_insync_replicas=2):
        """Creates the topic with its replication factor and min.insync.replicas."""
        args = ["--create", "--topic", name, "--partitions", str(partitions),
                "--replication-factor", str(replication_factor)]
        config = dict({"min.insync.replicas": min_insync_replicas}, **(config or {}))
        for k, v in config.items():
            args += ["--config", f"{k}={v}"]
        self._tool("org.apache.kafka.tools.TopicCommand", *args)
        return name


_clusters = []


@atexit.register
def _stop_clusters_at_exit():
    for cluster in _clusters:
        cluster._run("cluster-stop", cluster.dir)


@pytest.fixture
def kafka_cluster(tmp_path_factory):
    """A 3-node KRaft cluster of its own for one test (start(i)/kill(i) of a node, pid(i));
    stopped at the end however the test went."""
    require_kafka()
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka-cluster"), nodes=3)
    _clusters.append(cluster)
    try:
        cluster.start()
    except KafkaError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
        _clusters.remove(cluster)
