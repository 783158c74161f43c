# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The chart's DaemonSet pod, run by `podman kube play`, so that the securityContext the chart
renders (capabilities, no privilege escalation, read-only root, seccomp Localhost profile,
runAsUser), its hostNetwork and its bpffs hostPath are what is tested, not flags written again
by hand (test_image.py does that).

helm template renders helm/flowagent with the image at localhost/flowagent:latest (make image),
the interface vb and kafka.brokers a real broker (tests/kafka/broker.sh) started in the test's
namespace, on its 127.0.0.1; the DaemonSet's pod template becomes a Pod. podman kube play runs
under `nsenter --net=/var/run/netns/NAME`, so that the pod's "host network" is the test's
namespace (checked: the agent's network namespace is that one), with
tests/integration/containers.conf. The records are read back from the topic with flowconsume,
in the namespace too: all of them under the agent id node-1, the pod's spec.nodeName. Values
chosen: spool none (the default hostPath would be a directory of this machine), metrics off.

What the test changes in the rendered pod, and why (each is the kubelet's job or a podman
4.3 limit, none touches the arguments, the securityContext, the volumes or hostNetwork):
  - the fieldRef variables get the values the kubelet would give (podman 4.3 supports no
    spec.* or status.* fieldRef) and $(VAR) in the arguments is expanded as the kubelet does;
  - restartPolicy Never: podman's restart would not be in the test's namespace; the test
    starts the container again itself, as the kubelet would;
  - the checksum/kafka annotation is dropped (podman 4.3 refuses annotation values over 63
    characters), and securityContext.seccompProfile is given to podman also as the annotation
    container.seccomp.security.alpha.kubernetes.io/agent = localhost/<localhostProfile>, the
    only form podman 4.3 reads. podman 4.3 resolves that name to <seccomp-profile-root>/<its
    first directory>, so the chart's profile file is put there under that name. The profile is
    checked to be in force: Debian's default would refuse bpf (test_image.py shows it).

Cases:
  test_kube_play_ping_exact       3 pings recorded exactly, only CAP_NET_ADMIN left effective,
                                  no new privileges, seccomp filter on, read-only root, the
                                  test's namespace; after podman pod stop the agent exits 0
                                  and nothing is attached
  test_kube_play_kill_then_restart  kill -9 of the agent's container: nothing attached; the
                                  container started again attaches and records exactly
Run time: about 30 s (a broker's start, about 8 s, in each case).
"""
import json
import os
import re
import subprocess
import time

import pytest
import yaml

from conftest import BUILD, ROOT
# podman_runs: test_image's autouse fixture, its skip (and CI failure) logic, here too
from test_image import CAP_NET_ADMIN, ENV, PINGS_IN, PINGS_OUT, Container, attached_here, \
    link_exists, nothing_attached, ping, podman, podman_runs  # noqa: F401

from test_live import Pair, by_key  # noqa: E402 (after test_image's skip decision)
from kafka_fixtures import BROKER_SH, JAVA, KAFKA_LIBS, require_kafka  # noqa: E402

CHART = ROOT / "helm" / "flowagent"
HELM = os.environ.get("HELM", str(BUILD / "go" / "bin" / "helm"))
PROFILE = CHART / "files" / "seccomp-flowagent.json"
VALUES = {
    "agent": {"image": {"repository": "localhost/flowagent", "tag": "latest",
                        "pullPolicy": "Never"},
              "interfaces": ["vb"],
              "spool": {"type": "none", "hostPath": "/var/lib/flowagent/spool",
                        "maxBytes": "1G"},
              "metrics": {"enabled": False, "port": 9465, "address": ""},
              # -v: the agent says when it is capturing
              "verbosity": 1},
    "collector": {"enabled": False},
    "dashboards": {"enabled": False},
}
FLOWCONSUME = str(BUILD / "flowconsume")
TOPIC = "flows-kubeplay"


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


class NamespaceKafka:
    """A real broker (tests/kafka/broker.sh) in the namespace of pair.fb, on its 127.0.0.1:
    what the pod, whose host network that namespace is, reaches as the chart's kafka.brokers."""

    def __init__(self, pair, directory):
        self.pair, self.dir = pair, directory
        pair.run(pair.fb, "ip", "link", "set", "lo", "up")
        env = {**os.environ, "KAFKA_LIBS": str(KAFKA_LIBS), "JAVA": JAVA,
               "KAFKA_WATCH_PID": str(os.getpid())}
        proc = subprocess.run(["ip", "netns", "exec", pair.fb, str(BROKER_SH), "start",
                               str(directory)], capture_output=True, text=True, env=env,
                              timeout=150)
        if proc.returncode != 0:
            self.stop()
        assert proc.returncode == 0, proc.stderr[-3000:]
        self.bootstrap = proc.stdout.strip()

    def records(self, tmp_path):
        """Every record in the topic, read with flowconsume in the namespace."""
        batches = tmp_path / "batches"
        proc = subprocess.run(["ip", "netns", "exec", self.pair.fb, FLOWCONSUME, "-b",
                               self.bootstrap, "-t", TOPIC, "-i", "3000", "-B", str(batches)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def stop(self):
        subprocess.run([str(BROKER_SH), "stop", str(self.dir)], capture_output=True,
                       env={**os.environ, "KAFKA_LIBS": str(KAFKA_LIBS), "JAVA": JAVA},
                       timeout=150)


@pytest.fixture
def kafka_ns(pair, tmp_path):
    require_kafka()
    k = NamespaceKafka(pair, tmp_path / "kafka")
    yield k
    k.stop()


def rendered_pod(tmp_path, pair, bootstrap):
    """The chart's agent pod template as a Pod manifest for podman, and its seccomp root."""
    values = tmp_path / "values.json"
    values.write_text(json.dumps({**VALUES, "kafka": {"brokers": bootstrap, "topic": TOPIC,
                                                      "compression": "lz4"}}))
    out = subprocess.run([HELM, "template", "t", str(CHART), "-f", str(values)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    [ds] = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "DaemonSet"]
    template = ds["spec"]["template"]
    spec = template["spec"]
    assert spec["hostNetwork"] is True
    [c] = spec["containers"]
    sc = c["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "NET_ADMIN", "PERFMON"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["seccompProfile"]["type"] == "Localhost"
    # the kubelet's part: the field values, then $(VAR) in the arguments
    fields = {"spec.nodeName": "node-1", "status.hostIP": "10.77.0.2"}
    for e in c["env"]:
        e["value"] = fields[e.pop("valueFrom")["fieldRef"]["fieldPath"]]
    env = {e["name"]: e["value"] for e in c["env"]}
    c["args"] = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in c["args"]]
    assert c["args"][-1] == "vb"
    # restarts are the kubelet's: podman's own restart (policy Always) would start the
    # container again in the network namespace of podman's cleanup process, the host's
    spec["restartPolicy"] = "Never"
    local = sc["seccompProfile"]["localhostProfile"]
    root = tmp_path / "seccomp"
    root.mkdir()
    # podman 4.3: <root>/<first component of the name> (see the module's docstring)
    (root / local.split("/")[0]).write_bytes(PROFILE.read_bytes())
    name = f"flowagent-kube-{os.getpid()}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": template["metadata"]["labels"],
                        "annotations": {
                            f"container.seccomp.security.alpha.kubernetes.io/{c['name']}":
                            f"localhost/{local}"}},
           "spec": spec}
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    return manifest, root, name, f"{name}-{c['name']}"


class KubePod:
    """The pod played in the namespace of pair.fb; removed (kube down) on every exit path."""

    def __init__(self, tmp_path, pair, bootstrap):
        self.pair = pair
        self.manifest, root, self.podname, self.container = rendered_pod(tmp_path, pair,
                                                                         bootstrap)
        try:
            self.play(root)
        except BaseException:
            self.down()
            raise

    def play(self, root):
        pair = self.pair
        proc = subprocess.run(["nsenter", f"--net=/var/run/netns/{pair.fb}", "podman", "kube",
                               "play", "--seccomp-profile-root", str(root),
                               str(self.manifest)],
                              capture_output=True, text=True, env=ENV, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        self.wait_capturing(1)

    def logs(self):
        proc = podman("logs", self.container)
        return proc.stdout, proc.stderr

    def wait_capturing(self, times):
        for _ in range(600):
            err = self.logs()[1]
            if err.count("capturing on") >= times or " failed: " in err:
                break
            time.sleep(0.05)
        assert err.count("capturing on") == times, err[-3000:]

    def pid(self):
        return podman("inspect", "--format", "{{.State.Pid}}", self.container).stdout.strip()

    # test_image's Container reads /proc/PID of the container named self.name
    name = property(lambda self: self.container)
    links = Container.links
    status = Container.status

    def down(self):
        subprocess.run(["podman", "kube", "down", str(self.manifest)], capture_output=True,
                       env=ENV, timeout=180)


@pytest.fixture
def pod(tmp_path, pair, kafka_ns):
    p = KubePod(tmp_path, pair, kafka_ns.bootstrap)
    yield p
    p.down()


def check_in_namespace(pod, pair):
    netns = os.stat(f"/proc/{pod.pid()}/ns/net").st_ino
    assert netns == os.stat(f"/var/run/netns/{pair.fb}").st_ino


def delivered(kafka_ns, tmp_path):
    """The topic's records, every one from agent node-1 (the node name, spec.nodeName)."""
    records = kafka_ns.records(tmp_path)
    assert {r.pop("agent_id") for r in records} == {"node-1"}
    return records


def test_kube_play_ping_exact(pod, pair, kafka_ns, tmp_path):
    check_in_namespace(pod, pair)
    status = pod.status()
    assert status["Uid"] == "0"
    assert status["CapEff"] == CAP_NET_ADMIN and status["CapPrm"] == CAP_NET_ADMIN, status
    assert status["CapAmb"] == 0 and status["CapInh"] == 0, status
    assert status["NoNewPrivs"] == "1"
    with open(f"/proc/{pod.pid()}/status") as f:
        assert "Seccomp:\t2\n" in f.read()
    [info] = json.loads(podman("inspect", pod.container).stdout)
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    links = attached_here(pair, pod)
    ping(pair)
    podman("pod", "stop", "--time", "60", pod.podname)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", pod.container).stdout.strip() \
        == "0"
    assert "kafka_records_dropped    0\n" in pod.logs()[1]
    records = delivered(kafka_ns, tmp_path)
    assert by_key(records, "ingress") == {PINGS_IN: [3, 3 * 84]}
    assert by_key(records, "egress") == {PINGS_OUT: [3, 3 * 84]}
    assert {r["ifindex"] for r in records} == {pair.vb_ifindex}
    nothing_attached(pair, links)


def test_kube_play_kill_then_restart(pod, pair, kafka_ns, tmp_path):
    links = attached_here(pair, pod)
    ping(pair, 2)
    podman("kill", "--signal", "KILL", pod.container)
    assert podman("wait", pod.container).stdout.strip() == "137"
    # as the kubelet would: the same container started again, in the test's namespace
    # (podman wait may return while podman's cleanup of the exited container still runs:
    # start refuses it then, and is asked again)
    errors = []
    for _ in range(100):
        proc = subprocess.run(["nsenter", f"--net=/var/run/netns/{pair.fb}", "podman", "start",
                               pod.container], capture_output=True, text=True, env=ENV,
                              timeout=180)
        if proc.returncode == 0:
            break
        errors.append(proc.stderr.strip())
        time.sleep(0.1)
    assert proc.returncode == 0, errors[-3:]
    pod.wait_capturing(2)
    assert [i for i in links.values() if link_exists(i)] == []
    check_in_namespace(pod, pair)
    assert "left attached" not in pod.logs()[1]
    links = attached_here(pair, pod)
    ping(pair)
    podman("pod", "stop", "--time", "60", pod.podname)
    # the killed agent exported nothing (its flows were still in the kernel's maps): every
    # record in the topic is the new one's
    records = delivered(kafka_ns, tmp_path)
    assert by_key(records, "ingress") == {PINGS_IN: [3, 3 * 84]}
    assert by_key(records, "egress") == {PINGS_OUT: [3, 3 * 84]}
    nothing_attached(pair, links)
