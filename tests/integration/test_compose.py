# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""compose/compose.yaml (docs/deployment-compose.md). Its third-party images (Kafka, ClickHouse,
Keeper, Grafana) cannot be pulled on this machine, so the whole stack never runs here; what
can be checked is:

- the file, by Docker Compose v5's `config -q` (built by make deps from the Go module proxy;
  it needs no engine for that), which applies the compose-spec schema: unknown keys and
  wrong types are refused, naming the key (podman-compose's `config` validates nothing);
- what it promises, read from `config --format json`: the agent's grant and every published
  port on 127.0.0.1;
- the agent and collector services themselves, run by podman-compose from our locally built
  images with the file's own settings (capabilities, seccomp profile, read-only root, bpffs),
  in the test's network namespace instead of the host's network: the agent meters vb and
  produces to a Kafka broker the test starts inside that namespace, the collector consumes
  into its embedded store and serves it, and a ping is recorded exactly.

Cases:
  test_compose_config_valid               config -q: exit 0, nothing printed
  test_compose_config_requires_interfaces without FLOWAGENT_INTERFACES: refused, naming it
  test_compose_config_broken[...]         a copy with an unknown key / a wrong type: exit 1,
                                          the service and key named
  test_compose_promises                   the agent: host network, exactly BPF NET_ADMIN
                                          PERFMON, the chart's seccomp profile, read-only,
                                          /sys/fs/bpf; every port on 127.0.0.1; images pinned;
                                          the ClickHouse password only as a secret file
  test_compose_clickhouse_files           cluster.xml, the macros, keeper.xml and the collector's
                                          cluster file name the same cluster, replicas, Keeper
  test_compose_grafana_datasource         compose's datasource file == dashboards/'s but for
                                          the password read from the secret
  test_compose_collector_cluster_file[..] the collector's cluster file and its secret in the
                                          collector's image: mode 600 taken (only the names
                                          fail to resolve, no network), 644 refused
  test_podman_compose_agent_command       podman-compose --dry-run of the unchanged agent: the
                                          podman create line has the three capabilities, the
                                          profile, --read-only, the bpffs and --network=host
  test_compose_agent_to_collector         podman-compose up of agent and collector in the
                                          namespace: the agent holds only CAP_NET_ADMIN once
                                          attached (of BPF NET_ADMIN PERFMON), no new privileges,
                                          seccomp, read-only; 3 pings each way recorded exactly
                                          in the store, read through the collector's HTTP
                                          interface;
                                          no pod, network or container left behind
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from conftest import BUILD, ROOT
from procinfo import proc_status

COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
DOCKER_COMPOSE = BUILD / "go" / "bin" / "docker-compose"
PODMAN_COMPOSE_DIR = BUILD / "podman-compose"
BROKER_SH = ROOT / "tests" / "kafka" / "broker.sh"
IN_CI = os.environ.get("CI") == "true"


def need(path, what):
    if path.exists():
        return
    msg = f"{path} missing: make deps builds {what}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def compose_config(*args, env_extra=None, compose_file=COMPOSE_FILE, interfaces="eth0"):
    need(DOCKER_COMPOSE, "docker compose v5")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWAGENT_", "COMPOSE_"))}
    # no engine is needed (or contacted) for `config`; a DOCKER_HOST nobody serves proves it
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    if interfaces is not None:
        env["FLOWAGENT_INTERFACES"] = interfaces
    env.update(env_extra or {})
    return subprocess.run([str(DOCKER_COMPOSE), "-f", str(compose_file), "config", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_compose_config_valid():
    proc = compose_config("-q")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_compose_config_requires_interfaces():
    proc = compose_config("-q", interfaces=None)
    assert proc.returncode == 1
    assert "required variable FLOWAGENT_INTERFACES is missing a value" in proc.stderr


def broken_copy(tmp_path, change):
    """compose/ copied beside copies of what it refers to (../helm, ../dashboards), with
    change(doc) applied to the parsed file."""
    shutil.copytree(COMPOSE_DIR, tmp_path / "compose")
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    change(doc)
    path = tmp_path / "compose" / "compose.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


BROKEN = {
    # a key compose does not know (capabilities are cap_add)
    "unknown-key": (lambda d: d["services"]["agent"].update(capabilities=["BPF"]),
                    "services.agent.capabilities false schema"),
    # a mapping where a list of strings is expected
    "wrong-type": (lambda d: d["services"]["agent"].update(cap_add={"BPF": True}),
                   "services.agent.cap_add must be a array"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_compose_config_broken(tmp_path, case):
    change, message = BROKEN[case]
    proc = compose_config("-q", compose_file=broken_copy(tmp_path, change))
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr, proc.stderr
    # the unchanged copy passes, so the change alone is what was refused
    proc = compose_config("-q", compose_file=broken_copy(tmp_path / "ok", lambda d: None))
    assert proc.returncode == 0, proc.stderr


def test_compose_promises():
    proc = compose_config("--format", "json")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    services = cfg["services"]
    assert set(services) == {"kafka", "keeper", "clickhouse1", "clickhouse2",
                             "collector-migrate", "collector", "agent", "grafana"}
    agent = services["agent"]
    assert agent["network_mode"] == "host"
    assert agent["cap_drop"] == ["ALL"]
    assert sorted(agent["cap_add"]) == ["BPF", "NET_ADMIN", "PERFMON"]
    assert agent["read_only"] is True
    assert agent.get("privileged", False) is False
    # compose hands seccomp=FILE to the engine as it is, read relative to the working
    # directory: compose/, where the documentation runs compose
    profile = "../helm/flowagent/files/seccomp-flowagent.json"
    assert (COMPOSE_DIR / profile).resolve() == \
        ROOT / "helm" / "flowagent" / "files" / "seccomp-flowagent.json"
    assert (COMPOSE_DIR / profile).is_file()
    assert sorted(agent["security_opt"]) == ["no-new-privileges:true", f"seccomp={profile}"]
    assert [(v["type"], v["source"], v["target"]) for v in agent["volumes"]] == \
        [("bind", "/sys/fs/bpf", "/sys/fs/bpf")]
    assert agent["environment"]["FLOWAGENT_INTERFACES"] == "eth0"
    # every published port on loopback only
    published = {(name, p["host_ip"], p["published"], p["target"])
                 for name, s in services.items() for p in s.get("ports", [])}
    assert published == {("kafka", "127.0.0.1", "9094", 9094),
                         ("clickhouse1", "127.0.0.1", "8123", 8123),
                         ("collector", "127.0.0.1", "9466", 9466),
                         ("grafana", "127.0.0.1", "3000", 3000)}
    # third-party images pinned to a release, ours the local build
    for name, s in services.items():
        repo, _, tag = s["image"].rpartition(":")
        if repo.startswith("localhost/"):
            assert repo in ("localhost/flowagent", "localhost/flowcollector")
        else:
            assert tag.replace(".", "").isdigit() and tag.count(".") >= 2, (name, s["image"])
    # the password never in an environment: a secret file wherever it is needed
    for name, s in services.items():
        for key, value in (s.get("environment") or {}).items():
            assert "PASSWORD" not in key or key.endswith("_FILE"), (name, key)
    secrets = {name: sorted(x["source"] for x in s.get("secrets", []))
               for name, s in services.items()}
    assert secrets == {"kafka": [], "keeper": [], "agent": [],
                       "clickhouse1": ["clickhouse_password"],
                       "clickhouse2": ["clickhouse_password"],
                       "collector-migrate": ["collector_clickhouse_password"],
                       "collector": ["collector_clickhouse_password"],
                       "grafana": ["grafana_admin_password", "grafana_clickhouse_password"]}
    assert {k: v["file"] for k, v in cfg["secrets"].items()} == \
        {k: str(COMPOSE_DIR / "secrets" / k) for k in
         ("clickhouse_password", "collector_clickhouse_password",
          "grafana_clickhouse_password", "grafana_admin_password")}
    # the collector's cluster file names the secret and both ClickHouse services
    cluster = (COMPOSE_DIR / "collector" / "cluster.conf").read_text()
    assert "password-file /run/secrets/collector_clickhouse_password\n" in cluster
    assert "replica http://clickhouse1:8123/ tcp 9000\n" in cluster
    assert "replica http://clickhouse2:8123/ tcp 9000\n" in cluster


def test_compose_clickhouse_files():
    """The servers' files agree with each other and with the collector's cluster file: the
    cluster flows of one shard, its replicas the two ClickHouse services, each a replica name
    of its own, Keeper at the keeper service's port."""
    import xml.etree.ElementTree as ET
    cluster = ET.parse(COMPOSE_DIR / "clickhouse" / "cluster.xml").getroot()
    [flows] = cluster.find("remote_servers")
    assert flows.tag == "flows"
    [shard] = flows
    assert shard.findtext("internal_replication") == "true"
    hosts = [(r.findtext("host"), r.findtext("port")) for r in shard.findall("replica")]
    assert hosts == [("clickhouse1", "9000"), ("clickhouse2", "9000")]
    assert [(n.findtext("host"), n.findtext("port"))
            for n in cluster.find("zookeeper")] == [("keeper", "9181")]
    keeper = ET.parse(COMPOSE_DIR / "keeper" / "keeper.xml").getroot().find("keeper_server")
    assert keeper.findtext("tcp_port") == "9181"
    macros = {}
    for i in (1, 2):
        root = ET.parse(COMPOSE_DIR / "clickhouse" / f"macros-{i}.xml").getroot()
        assert root.findtext("interserver_http_host") == f"clickhouse{i}"
        macros[i] = (root.findtext("macros/shard"), root.findtext("macros/replica"))
    assert macros == {1: ("1", "clickhouse1"), 2: ("1", "clickhouse2")}
    conf = [line.split("#")[0].split() for line in
            (COMPOSE_DIR / "collector" / "cluster.conf").read_text().splitlines()]
    conf = [words for words in conf if words]
    assert ["cluster", "flows"] in conf and ["shard", "1"] in conf
    assert [w for w in conf if w[0] == "replica"] == \
        [["replica", f"http://{h}:8123/", "tcp", p] for h, p in hosts]
    # every server mounts the cluster file and its own macros
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    for i in (1, 2):
        assert doc["services"][f"clickhouse{i}"]["volumes"][:2] == [
            "./clickhouse/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro",
            f"./clickhouse/macros-{i}.xml:/etc/clickhouse-server/config.d/macros.xml:ro"]


def test_compose_grafana_datasource():
    def body(path):
        text = path.read_text()
        return text[text.index("apiVersion: 1"):].splitlines()

    ours = body(COMPOSE_DIR / "grafana" / "datasources.yaml")
    theirs = body(ROOT / "dashboards" / "provisioning" / "datasources" / "flowagent.yaml")
    diff = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert len(ours) == len(theirs)
    assert diff == [("      password: $__file{/run/secrets/grafana_clickhouse_password}",
                     "      password: ${CLICKHOUSE_PASSWORD}")]


def test_podman_compose_agent_command():
    """What podman-compose would run for the file's agent, unchanged, on a real host
    (--dry-run: printed, not run; --no-deps, so no other service's network is created)."""
    need(PODMAN_COMPOSE_DIR / "podman_compose.py", "podman-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWAGENT_")}
    env.update(PYTHONPATH=str(PODMAN_COMPOSE_DIR), FLOWAGENT_INTERFACES="eth0",
               CONTAINERS_CONF=str(ROOT / "tests" / "integration" / "containers.conf"))
    proc = subprocess.run([sys.executable, "-m", "podman_compose", "--verbose", "--dry-run",
                           "--in-pod", "false", "-f", "compose.yaml", "up", "--no-deps", "-d",
                           "agent"], cwd=COMPOSE_DIR, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [create] = [line.split(":__main__:", 1)[1] for line in proc.stderr.splitlines()
                if ":__main__:podman create " in line]
    args = create.split()
    assert args[-1] == "localhost/flowagent:latest"
    flags = [a for a in args if not a.startswith(("--label", "io.", "com.", "PODMAN_"))]
    pairs = {(a, b) for a, b in zip(flags, flags[1:])}
    assert {("--cap-drop", "ALL"), ("--cap-add", "BPF"), ("--cap-add", "NET_ADMIN"),
            ("--cap-add", "PERFMON"),
            ("--security-opt", "seccomp=../helm/flowagent/files/seccomp-flowagent.json"),
            ("--security-opt", "no-new-privileges:true"),
            ("-v", "/sys/fs/bpf:/sys/fs/bpf"), ("-e", "FLOWAGENT_INTERFACES=eth0"),
            ("-e", "FLOWAGENT_KAFKA=127.0.0.1:9094")} <= pairs, create
    assert [a for a in flags if a.startswith("--cap-")] == \
        ["--cap-add"] * 3 + ["--cap-drop"], create
    assert "--read-only" in flags and "--network=host" in flags, create
    assert not [a for a in flags if a.startswith("--privileged")], create


@pytest.fixture
def podman_image():
    """test_image's helpers, where podman runs (as test_image.py decides)."""
    if os.geteuid() != 0:
        pytest.skip("the images are in root's container storage")
    import test_image
    if test_image._why_not is not None:
        if IN_CI:
            pytest.fail(test_image._why_not)
        pytest.skip(test_image._why_not)
    return test_image


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_compose_collector_cluster_file(podman_image, tmp_path, mode):
    """compose/collector/cluster.conf and its secret, in the collector's image as compose.yaml
    runs it (read-only, no capabilities), without a network: with the secret owned by the
    image's user and mode 600 the file is taken and only the servers' names fail; 644 is
    refused before anything is asked."""
    secret = tmp_path / "collector_clickhouse_password"
    secret.write_text("not-the-password\n")
    os.chown(secret, 65532, 65532)
    secret.chmod(mode)
    conf = COMPOSE_DIR / "collector" / "cluster.conf"
    proc = podman_image.collector(
        "migrate", check=False,
        mounts=("--env=FLOWCOLLECTOR_CLUSTER=/etc/flowcollector/cluster.conf",
                f"--mount=type=bind,src={conf},dst=/etc/flowcollector/cluster.conf,ro",
                f"--mount=type=bind,src={secret},"
                "dst=/run/secrets/collector_clickhouse_password,ro"))
    assert proc.returncode == 1, proc.stderr
    if mode == 0o600:
        assert "cluster /etc/flowcollector/cluster.conf: no server of the cluster answers " \
               "(first: http://clickhouse1:8123/: ClickHouse at http://clickhouse1:8123/: " \
               "Couldn't resolve host name)" in proc.stderr, proc.stderr
    else:
        assert "/run/secrets/collector_clickhouse_password has mode 0644: users other than " \
               "its owner have access to it" in proc.stderr, proc.stderr
        assert "clickhouse1" not in proc.stderr
    assert "not-the-password" not in proc.stderr + proc.stdout


# --- the agent and the collector services, run -----------------------------------------------

@pytest.fixture
def runnable():
    """podman (as test_image.py decides), podman-compose, the Kafka jars, root."""
    need(PODMAN_COMPOSE_DIR / "podman_compose.py", "podman-compose")
    if os.geteuid() != 0:
        pytest.skip("running the agent needs root")
    import test_image
    if test_image._why_not is not None:
        if IN_CI:
            pytest.fail(test_image._why_not)
        pytest.skip(test_image._why_not)
    from kafka_fixtures import require_kafka
    require_kafka()
    return test_image


def service_file(tmp_path, ns, kafka_port, store, images):
    """compose.yaml's agent and collector services, changed only where a test must differ:
    the test's namespace for the host's network (and so no published ports), the broker the
    test runs there, the interface vb, an embedded store in a bind-mounted directory served
    read-only on the namespace's loopback instead of the cluster, our images by id; no restart
    policy or dependencies on services that do not run here."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    agent = copy.deepcopy(doc["services"]["agent"])
    collector = copy.deepcopy(doc["services"]["collector"])
    for s in (agent, collector):
        for key in ("restart", "depends_on", "ports"):
            s.pop(key, None)
        s["network_mode"] = f"ns:/var/run/netns/{ns}"
    agent["security_opt"] = [o.replace("seccomp=../", f"seccomp={ROOT}/")
                             for o in agent["security_opt"]]
    agent["environment"].update(FLOWAGENT_INTERFACES="vb",
                                FLOWAGENT_KAFKA=f"127.0.0.1:{kafka_port}",
                                FLOWAGENT_AGENT_ID="compose-test",
                                # says "capturing on" once attached, and its statistics at exit
                                FLOWAGENT_VERBOSE="1")
    env = collector["environment"]
    del env["FLOWCOLLECTOR_CLUSTER"], env["FLOWCOLLECTOR_WAL_DIR"]
    env.update(FLOWCOLLECTOR_KAFKA=f"127.0.0.1:{kafka_port}",
               FLOWCOLLECTOR_HTTP="127.0.0.1:8123")
    del collector["configs"], collector["secrets"]
    collector["volumes"] = [f"{store}:/var/lib/flowcollector"]
    agent["image"], collector["image"] = images
    tag = os.getpid()
    agent["container_name"] = f"flowagent-compose-{tag}-agent"
    collector["container_name"] = f"flowagent-compose-{tag}-collector"
    test_doc = {"name": f"flowagent-compose-{tag}",
                "services": {"agent": agent, "collector": collector},
                "x-podman": {"in_pod": False}}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(test_doc, sort_keys=False))
    return path, test_doc


def podman_compose(runnable, path, *args, timeout=300, check=True):
    env = {**runnable.ENV, "PYTHONPATH": str(PODMAN_COMPOSE_DIR)}
    proc = subprocess.run([sys.executable, "-m", "podman_compose", "-f", str(path), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"podman-compose {' '.join(args)}:\n{proc.stderr[-3000:]}"
    return proc


def view(pair, name, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    proc = pair.run(pair.fb, "curl", "-sf", f"http://127.0.0.1:8123/api/v1/views/{name}?{query}",
                    check=False)
    return json.loads(proc.stdout)["rows"] if proc.returncode == 0 else None


def sql(pair, query):
    proc = pair.run(pair.fb, "curl", "-s", "-w", "\n%{http_code}", "--data-binary", query,
                    "http://127.0.0.1:8123/", check=False)
    body, _, code = proc.stdout.rpartition("\n")
    assert (proc.returncode, code) == (0, "200"), proc.stdout + proc.stderr
    return body


def test_compose_agent_to_collector(runnable, tmp_path):
    from test_live import Pair
    pair = Pair()
    kafka_dir = tmp_path / "kafka"
    kafka_dir.mkdir()
    path = None
    names = ()
    try:
        # the broker on the namespace's loopback, where the agent and collector find it
        pair.run(pair.fb, "ip", "link", "set", "lo", "up")
        started = pair.run(pair.fb, str(BROKER_SH), "start", str(kafka_dir),
                           env={**os.environ, "KAFKA_WATCH_PID": str(os.getpid())},
                           check=False)
        assert started.returncode == 0, started.stderr[-3000:]
        port = int(started.stdout.strip().rpartition(":")[2])
        store = tmp_path / "store"
        store.mkdir()
        os.chown(store, 65532, 65532)
        images = (runnable.image("flowagent"), runnable.image("flowcollector"))
        path, doc = service_file(tmp_path, pair.fb, port, store, images)
        names = [s["container_name"] for s in doc["services"].values()]
        podman_compose(runnable, path, "up", "-d", "agent")
        for _ in range(600):
            logs = runnable.podman("logs", names[0], check=False).stderr
            if "capturing on" in logs:
                break
            time.sleep(0.05)
        assert "vb: XDP attached" in logs and "capturing on 1 interface(s)" in logs, logs
        # the file's grant reached the process: of the three, only CAP_NET_ADMIN kept once
        # attached, no new privileges, the chart's seccomp filter (mode 2), a read-only root
        status = container_status(runnable, names[0])
        assert (status["CapEff"], status["CapPrm"], status["CapBnd"]) == \
            (runnable.CAP_NET_ADMIN, runnable.CAP_NET_ADMIN, CAP_THREE), status
        assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2"), status
        assert runnable.podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}",
                               names[0]).stdout.strip() == "true"
        runnable.ping(pair)
        # a graceful stop flushes what the agent holds to Kafka (it exits 0 only then)
        podman_compose(runnable, path, "stop", "-t", "60", "agent")
        state = runnable.podman("inspect", "--format", "{{.State.ExitCode}}", names[0]).stdout
        logs = runnable.podman("logs", names[0]).stderr
        assert state.strip() == "0", logs[-3000:]
        stats = agent_stats(logs)
        assert {k: stats[k] for k in ("kafka_delivery_failures", "kafka_records_dropped",
                                      "kafka_records_spooled", "records_lost")} == \
            dict.fromkeys(("kafka_delivery_failures", "kafka_records_dropped",
                           "kafka_records_spooled", "records_lost"), 0), logs[-3000:]
        podman_compose(runnable, path, "up", "-d", "collector")
        # the collector has inserted every record the agent sent once the store holds as many
        # records as the agent reported delivered; then the numbers must be exact
        sent = stats["kafka_records_delivered"]
        assert sent > 0
        rows = None
        for _ in range(1200):
            rows = view(pair, "daily_packets", agent="compose-test")
            if rows and sum(r["records"] for r in rows) >= sent:
                break
            assert runnable.podman("inspect", "--format", "{{.State.Running}}",
                                   names[1]).stdout.strip() == "true", \
                runnable.podman("logs", names[1]).stderr[-3000:]
            time.sleep(0.1)
        assert rows and sum(r["records"] for r in rows) == sent, rows
        assert [(r["packets"], r["bytes"]) for r in rows] == [(6, 6 * 84)]
        for direction in ("ingress", "egress"):
            [row] = view(pair, "daily_packets", agent="compose-test", direction=direction)
            assert (row["packets"], row["bytes"]) == (3, 3 * 84), direction
        flows = sql(pair, "SELECT direction, IPv6NumToString(src_addr), "
                    "IPv6NumToString(dst_addr), proto, sum(packets), sum(bytes) "
                    "FROM flows.raw WHERE agent = 'compose-test' GROUP BY 1, 2, 3, 4 "
                    "ORDER BY 1, 2 FORMAT TSV")
        assert sorted(flows.splitlines()) == sorted([
            "ingress\t::ffff:10.77.0.1\t::ffff:10.77.0.2\t1\t3\t252",
            "egress\t::ffff:10.77.0.2\t::ffff:10.77.0.1\t1\t3\t252"])
        podman_compose(runnable, path, "stop", "-t", "60", "collector")
        state = runnable.podman("inspect", "--format", "{{.State.ExitCode}}", names[1]).stdout
        assert state.strip() == "0", runnable.podman("logs", names[1]).stderr[-3000:]
        podman_compose(runnable, path, "down", "-t", "30")
        # nothing left: no container, and podman-compose made no pod or network
        for name in names:
            assert runnable.podman("container", "exists", name, check=False).returncode == 1
        project = doc["name"]
        assert project not in runnable.podman("pod", "ls", "--format", "{{.Name}}").stdout
        assert project not in runnable.podman("network", "ls", "--format", "{{.Name}}").stdout
    finally:
        if path is not None:
            podman_compose(runnable, path, "down", "-t", "10", check=False)
        for name in names:
            runnable.podman("rm", "--force", "--time", "10", name, check=False)
        subprocess.run([str(BROKER_SH), "stop", str(kafka_dir)], capture_output=True,
                       timeout=120)
        pair.close()



CAP_THREE = (1 << 39) | (1 << 12) | (1 << 38)  # CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON


def container_status(runnable, name):
    """The capabilities and flags of a container's /proc/PID/status."""
    return proc_status(runnable.podman("inspect", "--format", "{{.State.Pid}}",
                                       name).stdout.strip())


def agent_stats(logs):
    """The agent's exit statistics ("  name  number" lines) from its standard error."""
    stats = {}
    for line in logs.splitlines():
        words = line.split()
        if line.startswith("  ") and len(words) == 2 and words[1].isdigit():
            stats[words[0]] = int(words[1])
    assert "kafka_records_delivered" in stats, logs[-3000:]
    return stats
