# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Helm chart against a real Kubernetes API server (`make test-deploy`).

etcd (Debian's etcd-server) and kube-apiserver 1.34.4 (built by mk/helm.mk) run on free
loopback ports in a temporary directory and are stopped, by PID, on every exit path. No node,
kubelet or controller runs: the server validates, admits and stores what it is sent, which is
what a chart can get wrong. kubectl talks to it with a token kept in a kubeconfig file.

  test_server_version            kubectl sees the server it was built as (v1.34.4)
  test_dry_run_every_manifest    every manifest of every value set, `kubectl apply
                                 --dry-run=server` into a namespace at enforce=privileged
  test_server_refuses_misspelling a misspelled field is refused by the server's strict decoding
  test_pod_security              the agent's pod: admitted at privileged, refused at baseline
                                 and restricted (host network, hostPath, capabilities), and
                                 the collector's pod admitted even at restricted; a DaemonSet
                                 in a baseline namespace draws the warning
  test_install_upgrade_uninstall helm install, helm upgrade (a changed value and a
                                 Deployment turned StatefulSet visible), helm uninstall
                                 (nothing left)
"""
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from test_helm import CHART, VALUE_SETS  # noqa: E402  (the value sets the chart is tested with)

BUILD = ROOT / "build"
HELM = os.environ.get("HELM", str(BUILD / "go" / "bin" / "helm"))
KUBE_APISERVER = os.environ.get("KUBE_APISERVER",
                                str(BUILD / "deploy" / "kube-apiserver-1.34.4"))
ETCD = os.environ.get("ETCD", str(BUILD / "deploy" / "etcd"))
KUBECTL = next((k for k in ("/usr/lib/google-cloud-sdk/bin/kubectl.1.33", shutil.which("kubectl"))
                if k and os.access(k, os.X_OK)), None)
READY_WAIT_S = 120  # how long the servers may take to start; not an assertion

pytestmark = pytest.mark.skipif(
    not all(p and os.access(p, os.X_OK) for p in (HELM, KUBE_APISERVER, ETCD, KUBECTL)),
    reason="helm, kube-apiserver, etcd or kubectl missing: run make test-deploy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(what, check, proc, log):
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {READY_WAIT_S} s: {log.read_text()[-3000:]}")


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.env = dict(os.environ, KUBECONFIG=str(tmp / "kubeconfig"),
                        HELM_CACHE_HOME=str(tmp / "helm" / "cache"),
                        HELM_CONFIG_HOME=str(tmp / "helm" / "config"),
                        HELM_DATA_HOME=str(tmp / "helm" / "data"))

    def run(self, *cmd, input=None, check=True):
        proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True,
                              env=self.env, timeout=300)
        if check:
            assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
        return proc

    def kubectl(self, *args, **kw):
        return self.run(KUBECTL, *args, **kw)

    def helm(self, *args, **kw):
        return self.run(HELM, *args, **kw)

    def namespace(self, name, level):
        """A namespace whose Pod Security admission enforces LEVEL."""
        self.kubectl("create", "namespace", name)
        self.kubectl("label", "namespace", name, f"pod-security.kubernetes.io/enforce={level}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kube")
    etcd = apiserver = None
    try:
        client, peer, secure = free_port(), free_port(), free_port()
        etcd_log = tmp / "etcd.log"
        etcd = subprocess.Popen(
            [ETCD, "--name", "test", "--data-dir", str(tmp / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"test=http://127.0.0.1:{peer}"],
            stdout=etcd_log.open("w"), stderr=subprocess.STDOUT)

        def etcd_healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=2) as r:
                    return json.load(r).get("health") == "true"
            except OSError:
                return False

        wait_for("etcd", etcd_healthy, etcd, etcd_log)

        subprocess.run(["openssl", "genrsa", "-out", str(tmp / "sa.key"), "2048"], check=True,
                       capture_output=True)
        token = secrets.token_hex(16)
        tokens = tmp / "tokens.csv"
        tokens.write_text(f'{token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        api_log = tmp / "kube-apiserver.log"
        apiserver = subprocess.Popen(
            [KUBE_APISERVER, f"--etcd-servers=http://127.0.0.1:{client}",
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
             f"--secure-port={secure}", f"--cert-dir={tmp / 'certs'}",
             f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={tmp / 'sa.key'}",
             f"--service-account-signing-key-file={tmp / 'sa.key'}",
             "--service-cluster-ip-range=10.96.0.0/24", "--profiling=false"],
            stdout=api_log.open("w"), stderr=subprocess.STDOUT)
        (tmp / "kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {
                "server": f"https://127.0.0.1:{secure}", "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
        }))
        (tmp / "kubeconfig").chmod(0o600)
        c = Cluster(tmp)

        def api_ready():
            return c.kubectl("get", "--raw", "/readyz", check=False).stdout == "ok"

        wait_for("kube-apiserver", api_ready, apiserver, api_log)
        # The bootstrap creates "default"; a pod needs its service account, which the
        # controller manager (not running) would make: wait until the namespace exists.
        wait_for("the default namespace",
                 lambda: c.kubectl("get", "namespace", "default", check=False).returncode == 0,
                 apiserver, api_log)
        yield c
    finally:
        stop(apiserver)
        stop(etcd)


def render(name, namespace, release="t", extra=()):
    f = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"flowagent-values-{os.getpid()}.yaml"
    f.write_text(yaml.safe_dump(VALUE_SETS[name]))
    try:
        proc = subprocess.run([HELM, "template", release, str(CHART), "--namespace", namespace,
                               "-f", str(f), *extra], capture_output=True, text=True,
                              check=True, timeout=120)
    finally:
        f.unlink()
    return proc.stdout


def pod_of(docs, kind):
    """A Pod made of the pod template of the KIND in DOCS, as its controller would make it."""
    (w,) = [d for d in docs if d["kind"] == kind]
    t = w["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{w['metadata']['name']}-pod", "labels": t["metadata"]["labels"]},
           "spec": dict(t["spec"])}
    if kind == "StatefulSet":
        pod["spec"]["volumes"] = pod["spec"].get("volumes", []) + [
            {"name": "data", "emptyDir": {}}]
    return pod


def test_server_version(cluster):
    out = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == "v1.34.4"
    assert (out["serverVersion"]["major"], out["serverVersion"]["minor"]) == ("1", "34")


@pytest.mark.parametrize("name", VALUE_SETS)
def test_dry_run_every_manifest(cluster, name):
    ns = f"dry-{name}"
    cluster.namespace(ns, "privileged")
    manifest = render(name, ns)
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", input=manifest)
    lines = sorted(proc.stdout.splitlines())
    assert lines == sorted(
        f"{d['kind'].lower()}{'.apps' if d['apiVersion'] == 'apps/v1' else ''}/"
        f"{d['metadata']['name']} created (server dry run)" for d in docs)
    assert "Warning" not in proc.stderr, proc.stderr
    # a dry run stores nothing
    assert cluster.kubectl("get", "all,configmaps,serviceaccounts,secrets", "-n", ns,
                           "-l", "app.kubernetes.io/instance=t", "-o", "name").stdout == ""


def test_server_refuses_misspelling(cluster):
    cluster.namespace("dry-misspelled", "privileged")
    docs = [d for d in yaml.safe_load_all(render("default", "dry-misspelled")) if d]
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    c["securityContxt"] = c.pop("securityContext")
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", "dry-misspelled", "-f", "-",
                           input=yaml.safe_dump(ds), check=False)
    assert proc.returncode == 1
    assert 'unknown field "spec.template.spec.containers[0].securityContxt"' in proc.stderr, \
        proc.stderr


def test_pod_security(cluster):
    docs = [d for d in yaml.safe_load_all(render("default", "x")) if d]
    agent, collector = pod_of(docs, "DaemonSet"), pod_of(docs, "Deployment")
    for level in ("privileged", "baseline", "restricted"):
        ns = f"pods-{level}"
        cluster.namespace(ns, level)
        # what the controller manager would have made: the service accounts
        for d in docs:
            if d["kind"] == "ServiceAccount":
                cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(d))

    def create(pod, ns):
        return cluster.kubectl("create", "--dry-run=server", "-n", ns, "-o", "name", "-f", "-",
                               input=yaml.safe_dump(pod), check=False)

    ok = create(agent, "pods-privileged")
    assert (ok.returncode, ok.stdout) == (0, "pod/t-flowagent-agent-pod\n"), ok.stderr
    refused = create(agent, "pods-baseline")
    assert refused.returncode == 1
    assert 'violates PodSecurity "baseline:latest"' in refused.stderr, refused.stderr
    for why in ("host namespaces (hostNetwork=true)", 'hostPath volumes (volumes "bpffs", "spool")',
                'non-default capabilities (container "agent" must not include "BPF", "NET_ADMIN", '
                '"PERFMON" in securityContext.capabilities.add)'):
        assert why in refused.stderr, refused.stderr
    refused = create(agent, "pods-restricted")
    assert refused.returncode == 1
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    assert "runAsNonRoot != true" in refused.stderr, refused.stderr
    # the collector needs no privilege at all
    for level in ("baseline", "restricted"):
        ok = create(collector, f"pods-{level}")
        assert (ok.returncode, ok.stdout) == (0, "pod/t-flowagent-collector-pod\n"), ok.stderr
    # a DaemonSet itself is admitted with a warning: its pods would be refused, one per node
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    warned = cluster.kubectl("apply", "--dry-run=server", "-n", "pods-baseline", "-f", "-",
                             input=yaml.safe_dump(ds))
    assert 'Warning: would violate PodSecurity "baseline:latest"' in warned.stderr, warned.stderr


def release_objects(cluster, ns):
    out = cluster.kubectl("get", "daemonsets,deployments,statefulsets,services,configmaps,"
                          "secrets,serviceaccounts", "-n", ns,
                          "-l", "app.kubernetes.io/instance=flowagent", "-o", "name").stdout
    return sorted(out.split())


def test_install_upgrade_uninstall(cluster):
    ns = "flows"
    cluster.namespace(ns, "privileged")
    out = cluster.helm("install", "flowagent", str(CHART), "-n", ns).stdout
    assert "STATUS: deployed" in out and "REVISION: 1" in out
    assert "DaemonSet flowagent-agent: the agent on every node" in out
    assert release_objects(cluster, ns) == [
        "configmap/flowagent-dashboard-fleet", "configmap/flowagent-dashboard-network",
        "daemonset.apps/flowagent-agent", "deployment.apps/flowagent-collector",
        "service/flowagent-collector", "serviceaccount/flowagent-agent",
        "serviceaccount/flowagent-collector"]

    cluster.helm("upgrade", "flowagent", str(CHART), "-n", ns, "--set", "kafka.topic=flows-v2",
                 "--set", "agent.interfaces={eth1,eth2}", "--set", "collector.store=embedded")
    ds = json.loads(cluster.kubectl("get", "daemonset", "flowagent-agent", "-n", ns,
                                    "-o", "json").stdout)
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    assert "--topic=flows-v2" in c["args"] and "--topic=flows" not in c["args"]
    assert c["args"][-2:] == ["eth1", "eth2"]
    assert release_objects(cluster, ns) == [
        "configmap/flowagent-dashboard-fleet", "configmap/flowagent-dashboard-network",
        "daemonset.apps/flowagent-agent", "service/flowagent-collector",
        "serviceaccount/flowagent-agent", "serviceaccount/flowagent-collector",
        "statefulset.apps/flowagent-collector"]
    history = json.loads(cluster.helm("history", "flowagent", "-n", ns, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]

    cluster.helm("uninstall", "flowagent", "-n", ns)
    assert release_objects(cluster, ns) == []
    # nor Helm's own record of the release
    assert cluster.kubectl("get", "secrets", "-n", ns, "-l", "owner=helm",
                           "-o", "name").stdout == ""
    assert cluster.helm("list", "-n", ns, "-q").stdout == ""
