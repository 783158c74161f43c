# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Helm chart helm/flowagent, offline: lint, render, schema, Kubernetes schemas.

helm (v4, built by `make deps` into build/go/bin) renders the chart with several value sets;
kubeconform checks every rendered manifest against the strict JSON schemas of Kubernetes
1.34 (kubernetes-validate's, build/kube-schemas). A real API server is in tests/deploy.

  test_lint_strict                 helm lint --strict, with every value set
  test_default_agent               the DaemonSet: host network, exactly the three capabilities,
                                   not privileged, read-only root, bpffs, seccomp, agent id
  test_default_collector           a Deployment writing ClickHouse, no privilege at all
  test_statefulset_collector       store=embedded: a StatefulSet with a volume claim
  test_cluster_collector           store=cluster: the cluster file from a ConfigMap, the
                                   password from a Secret, as files
  test_custom_interfaces           interfaces, XDP mode, RuntimeDefault seccomp, emptyDir spool
  test_kafka_secret                kafka.properties from a chart Secret or one of yours
  test_schema_rejects              values the schema refuses, the error naming the field
  test_kubeconform                 every manifest of every value set valid, strictly
  test_kubeconform_can_fail        a misspelled field in a rendered manifest is refused
  test_dashboards_are_the_repos    the chart's dashboards equal dashboards/*.json, and the
                                   ConfigMaps hold them, labelled for Grafana's sidecar
  test_seccomp_profile             Debian's default profile plus bpf with CAP_BPF and
                                   perf_event_open with CAP_PERFMON, nothing else
  test_notes                       NOTES say what was installed
  test_programs_accept_the_args    flowagent and flowcollector parse every argument the chart
                                   gives them, in every value set (and refuse a bad one)
  test_package_carries_the_dashboards  helm package: the dashboards and the profile inside
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
CHART = ROOT / "helm" / "flowagent"
HELM = os.environ.get("HELM", str(BUILD / "go" / "bin" / "helm"))
KUBECONFORM = os.environ.get("KUBECONFORM", str(BUILD / "go" / "bin" / "kubeconform"))
SCHEMAS = BUILD / "kube-schemas" / "v1.34.0"
DEBIAN_SECCOMP = pathlib.Path("/usr/share/containers/seccomp.json")
FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
FLOWAGENT = os.environ.get("FLOWAGENT", str(BUILD / "flowagent"))
# What the kubelet puts in the environment variables the chart's arguments refer to.
FIELD_VALUES = {"spec.nodeName": "node-1", "status.hostIP": "127.0.0.1",
                "status.podIP": "127.0.0.1"}

# The value sets the chart is rendered with; each must lint, render and validate.
VALUE_SETS = {
    "default": {},
    "statefulset": {"collector": {"store": "embedded",
                                  "embedded": {"storage": {"size": "20Gi",
                                                           "storageClassName": "fast"},
                                               "http": {"enabled": True, "port": 8123}}}},
    "cluster": {"collector": {"store": "cluster", "replicas": 3,
                              "cluster": {"config": "cluster flows\nuser flowcollector\n"
                                          "password-file /etc/flowcollector/clickhouse/password\n"
                                          "shard 1\nreplica http://ch-1:8123/\n"},
                              "password": {"existingSecret": "clickhouse-credentials",
                                           "key": "password", "value": ""}},
                "kafka": {"config": {"existingSecret": "kafka-client", "key": "client.properties",
                                     "properties": {}}}},
    "interfaces": {"agent": {"interfaces": ["eth1", "bond0.100", "ens5"], "xdpMode": "skb",
                             "seccompProfile": {"type": "RuntimeDefault",
                                                "localhostProfile": "flowagent/seccomp-flowagent.json"},
                             "spool": {"type": "emptyDir", "hostPath": "/var/lib/flowagent/spool",
                                       "maxBytes": "256M"},
                             "metrics": {"enabled": True, "port": 9100, "address": "0.0.0.0"},
                             "maxFlows": 65536, "verbosity": 1,
                             "updateStrategy": {"maxUnavailable": "10%"}},
                   "kafka": {"brokers": "k1:9093,k2:9093", "topic": "edge-flows",
                             "config": {"existingSecret": "", "key": "kafka.properties",
                                        "properties": {"security.protocol": "SASL_SSL",
                                                       "sasl.mechanism": "PLAIN",
                                                       "sasl.username": "agent",
                                                       "sasl.password": "s3cret"}}},
                   "dashboards": {"enabled": True, "label": "grafana_dashboard",
                                  "labelValue": "1", "folder": "Network"}},
}

pytestmark = pytest.mark.skipif(not (os.access(HELM, os.X_OK) and os.access(KUBECONFORM, os.X_OK)
                                     and SCHEMAS.is_dir()),
                                reason="helm, kubeconform or the schemas missing: run make deps")


def helm(*args, values=None, tmp_path=None, check=True):
    cmd = [HELM, *args]
    if values is not None:
        f = tmp_path / "values.yaml"
        f.write_text(yaml.safe_dump(values))
        cmd += ["-f", str(f)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    return proc


def render(tmp_path, values, release="t"):
    out = helm("template", release, str(CHART), "--namespace", "flows", values=values,
               tmp_path=tmp_path).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def container(doc):
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict(tmp_path, name):
    proc = helm("lint", "--strict", str(CHART), values=VALUE_SETS[name], tmp_path=tmp_path)
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


def test_default_agent(tmp_path):
    docs = by_kind(render(tmp_path, {}))
    assert sorted(docs) == [
        ("ConfigMap", "t-flowagent-dashboard-fleet"),
        ("ConfigMap", "t-flowagent-dashboard-network"),
        ("DaemonSet", "t-flowagent-agent"),
        ("Deployment", "t-flowagent-collector"),
        ("Service", "t-flowagent-collector"),
        ("ServiceAccount", "t-flowagent-agent"),
        ("ServiceAccount", "t-flowagent-collector"),
    ]
    ds = docs[("DaemonSet", "t-flowagent-agent")]
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False  # Service variables would read as options
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["terminationGracePeriodSeconds"] == 60
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    c = container(ds)
    assert c["image"] == "flowagent:0.1"
    assert c["securityContext"] == {
        "privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "runAsUser": 0,
        "capabilities": {"drop": ["ALL"], "add": ["BPF", "NET_ADMIN", "PERFMON"]},
        "seccompProfile": {"type": "Localhost",
                           "localhostProfile": "flowagent/seccomp-flowagent.json"},
    }
    assert c["env"] == [
        {"name": "FLOWAGENT_AGENT_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    ]
    assert c["args"] == [
        "--agent-id=$(FLOWAGENT_AGENT_ID)", "--kafka=kafka:9092", "--topic=flows",
        "--compression=lz4", "--spool-dir=/var/lib/flowagent/spool", "--spool-max-bytes=1G",
        "--metrics=$(HOST_IP):9465", "--idle-timeout=15", "--active-timeout=60", "--sample=1",
        "eth0",
    ]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9465, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "384Mi"},
                              "limits": {"memory": "768Mi"}}
    assert c["volumeMounts"] == [{"name": "bpffs", "mountPath": "/sys/fs/bpf"},
                                 {"name": "spool", "mountPath": "/var/lib/flowagent/spool"}]
    assert pod["volumes"] == [
        {"name": "bpffs", "hostPath": {"path": "/sys/fs/bpf", "type": "Directory"}},
        {"name": "spool", "hostPath": {"path": "/var/lib/flowagent/spool",
                                       "type": "DirectoryOrCreate"}},
    ]


def test_default_collector(tmp_path):
    docs = by_kind(render(tmp_path, {}))
    dep = docs[("Deployment", "t-flowagent-collector")]
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 1
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532,
                                      "runAsGroup": 65532, "fsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    c = container(dep)
    assert c["image"] == "flowcollector:0.1"
    assert c["securityContext"] == {"privileged": False, "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    assert c["args"] == ["--kafka=kafka:9092", "--topic=flows", "--group=flowcollector",
                         "--clickhouse=http://clickhouse:8123/", "--retention-days=30",
                         "--rollup-retention-days=400", "--metrics=$(POD_IP):9466"]
    assert c["workingDir"] == "/var/lib/flowcollector"
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    svc = docs[("Service", "t-flowagent-collector")]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9466, "targetPort": "metrics"}]
    # headless in every mode: a Service's clusterIP cannot change when the store does
    assert svc["spec"]["clusterIP"] == "None"


def test_statefulset_collector(tmp_path):
    docs = by_kind(render(tmp_path, VALUE_SETS["statefulset"]))
    assert ("Deployment", "t-flowagent-collector") not in docs
    sts = docs[("StatefulSet", "t-flowagent-collector")]
    assert sts["spec"]["serviceName"] == "t-flowagent-collector"
    assert docs[("Service", "t-flowagent-collector")]["spec"]["clusterIP"] == "None"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                             "resources": {"requests": {"storage": "20Gi"}}}
    c = container(sts)
    assert "--store=embedded:/var/lib/flowcollector/flowdb" in c["args"]
    assert "--http=$(POD_IP):8123" in c["args"]
    assert not [a for a in c["args"] if a.startswith("--clickhouse")]
    assert {"name": "data", "mountPath": "/var/lib/flowcollector"} in c["volumeMounts"]
    # the claim is the data volume: no emptyDir of that name
    assert [v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]] == ["tmp"]


def test_cluster_collector(tmp_path):
    values = VALUE_SETS["cluster"]
    docs = by_kind(render(tmp_path, values))
    cm = docs[("ConfigMap", "t-flowagent-collector-cluster")]
    assert cm["data"] == {"cluster.conf": values["collector"]["cluster"]["config"]}
    dep = docs[("Deployment", "t-flowagent-collector")]
    assert dep["spec"]["replicas"] == 3
    c = container(dep)
    assert "--cluster=/etc/flowcollector/cluster/cluster.conf" in c["args"]
    assert "--kafka-config=/etc/flowcollector/kafka/client.properties" in c["args"]
    assert not [a for a in c["args"] if a.startswith(("--clickhouse", "--store"))]
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["cluster"] == {"name": "cluster",
                               "configMap": {"name": "t-flowagent-collector-cluster"}}
    assert vols["clickhouse-password"]["secret"] == {"secretName": "clickhouse-credentials",
                                                     "defaultMode": 0o440}
    assert vols["kafka-config"]["secret"]["secretName"] == "kafka-client"
    # existing Secrets: the chart makes none
    assert not [k for k in docs if k[0] == "Secret"]


def test_custom_interfaces(tmp_path):
    docs = by_kind(render(tmp_path, VALUE_SETS["interfaces"]))
    ds = docs[("DaemonSet", "t-flowagent-agent")]
    c = container(ds)
    assert c["args"][-3:] == ["eth1", "bond0.100", "ens5"]
    assert "--xdp-mode=skb" in c["args"]
    assert "--max-flows=65536" in c["args"]
    assert "--metrics=0.0.0.0:9100" in c["args"]
    assert "--kafka=k1:9093,k2:9093" in c["args"]
    assert "--topic=edge-flows" in c["args"]
    assert "--spool-max-bytes=256M" in c["args"]
    assert c["args"].count("-v") == 1
    assert c["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ds["spec"]["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": "10%",
                                                             "maxSurge": 0}
    spool = [v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == "spool"]
    assert spool == [{"name": "spool", "emptyDir": {}}]
    for name in ("fleet", "network"):
        cm = docs[("ConfigMap", f"t-flowagent-dashboard-{name}")]
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Network"}


def test_kafka_secret(tmp_path):
    docs = by_kind(render(tmp_path, VALUE_SETS["interfaces"]))
    secret = docs[("Secret", "t-flowagent-kafka")]
    assert secret["stringData"] == {"kafka.properties": "sasl.mechanism=PLAIN\n"
                                    "sasl.password=s3cret\nsasl.username=agent\n"
                                    "security.protocol=SASL_SSL\n"}
    for kind, name in (("DaemonSet", "t-flowagent-agent"),
                       ("Deployment", "t-flowagent-collector")):
        doc = docs[(kind, name)]
        c = container(doc)
        path = [a for a in c["args"] if a.startswith("--kafka-config=")]
        (mount,) = [m for m in c["volumeMounts"] if m["name"] == "kafka-config"]
        assert path == [f"--kafka-config={mount['mountPath']}/kafka.properties"]
        assert mount["readOnly"] is True
        (vol,) = [v for v in doc["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "kafka-config"]
        assert vol["secret"]["secretName"] == "t-flowagent-kafka"
        # the secret never on a command line
        assert not [a for a in c["args"] if "s3cret" in a]
    # without properties or a Secret, no --kafka-config at all
    c = container(by_kind(render(tmp_path, {}))[("DaemonSet", "t-flowagent-agent")])
    assert not [a for a in c["args"] if a.startswith("--kafka-config")]


# (values, text the error must hold): each is refused by values.schema.json.
REJECTED = {
    "unknown key": ({"agent": {"interface": ["eth0"]}}, "additional properties 'interface' not allowed"),
    "no interface": ({"agent": {"interfaces": []}}, "at '/agent/interfaces'"),
    "pattern as interface": ({"agent": {"interfaces": ["eth*"]}}, "at '/agent/interfaces/0'"),
    "interface named twice": ({"agent": {"interfaces": ["eth0", "eth0"]}}, "at '/agent/interfaces'"),
    "surge": ({"agent": {"updateStrategy": {"maxUnavailable": 1, "maxSurge": 1}}},
              "at '/agent/updateStrategy': additional properties 'maxSurge' not allowed"),
    "unconfined seccomp": ({"agent": {"seccompProfile": {"type": "Unconfined"}}},
                           "at '/agent/seccompProfile/type'"),
    "xdp mode": ({"agent": {"xdpMode": "generic"}}, "at '/agent/xdpMode'"),
    "spool size": ({"agent": {"spool": {"maxBytes": "lots"}}}, "at '/agent/spool/maxBytes'"),
    "topic": ({"kafka": {"topic": "bad topic"}}, "at '/kafka/topic'"),
    "compression": ({"kafka": {"compression": "brotli"}}, "at '/kafka/compression'"),
    "store": ({"collector": {"store": "sqlite"}}, "at '/collector/store'"),
    "cluster without file": ({"collector": {"store": "cluster"}}, "at '/collector/cluster/config'"),
    "embedded replicas": ({"collector": {"store": "embedded", "replicas": 2}},
                          "at '/collector/replicas': maximum: got 2, want 1"),
    "credentials in url": ({"collector": {"clickhouse": {"url": "http://u:pw@ch:8123/"}}},
                           "at '/collector/clickhouse/url'"),
    "grace too short": ({"agent": {"terminationGracePeriodSeconds": 10}},
                        "at '/agent/terminationGracePeriodSeconds'"),
    "port": ({"collector": {"metrics": {"port": 70000}}}, "at '/collector/metrics/port'"),
}


@pytest.mark.parametrize("case", REJECTED)
def test_schema_rejects(tmp_path, case):
    values, field = REJECTED[case]
    proc = helm("template", "t", str(CHART), values=values, tmp_path=tmp_path, check=False)
    assert proc.returncode == 1, proc.stdout[-500:]
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert field in proc.stderr, proc.stderr
    assert proc.stdout == ""


def kubeconform(path):
    return subprocess.run(
        [KUBECONFORM, "-strict", "-summary", "-output", "json",
         "-schema-location", f"{SCHEMAS}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
         str(path)], capture_output=True, text=True, timeout=120)


# Resources each value set renders: kubeconform must have checked every one of them.
RESOURCE_COUNTS = {"default": 7, "statefulset": 7, "cluster": 8, "interfaces": 8}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_kubeconform(tmp_path, name):
    out = helm("template", "t", str(CHART), values=VALUE_SETS[name], tmp_path=tmp_path).stdout
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(out)
    proc = kubeconform(manifest)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report
    assert report["summary"] == {"valid": RESOURCE_COUNTS[name], "invalid": 0, "errors": 0,
                                 "skipped": 0}


def test_kubeconform_can_fail(tmp_path):
    docs = render(tmp_path, {})
    for d in docs:
        if d["kind"] == "DaemonSet":
            c = container(d)
            c["securityContxt"] = c.pop("securityContext")
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    proc = kubeconform(manifest)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert report["summary"] == {"valid": 6, "invalid": 1, "errors": 0, "skipped": 0}
    (bad,) = report["resources"]
    assert bad["kind"] == "DaemonSet" and "securityContxt" in bad["msg"]


def test_dashboards_are_the_repos(tmp_path):
    repo = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    chart = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert chart == repo == ["fleet.json", "network.json"]
    for name in repo:
        assert (CHART / "dashboards" / name).read_bytes() == \
            (ROOT / "dashboards" / name).read_bytes(), \
            f"helm/flowagent/dashboards/{name} differs from dashboards/{name}: copy it again"
    docs = by_kind(render(tmp_path, {}))
    for name in repo:
        cm = docs[("ConfigMap", f"t-flowagent-dashboard-{name[:-5]}")]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert list(cm["data"]) == [name]
        assert json.loads(cm["data"][name]) == json.loads((ROOT / "dashboards" / name).read_text())
    # off: no dashboard ConfigMap
    off = by_kind(render(tmp_path, {"dashboards": {"enabled": False}}))
    assert not [k for k in off if k[0] == "ConfigMap"]


def test_seccomp_profile():
    """The chart's profile is the one deploy/seccomp/generate.py derives from Debian's default
    (test_image.py runs the agent under it and checks its bpf and perf_event_open rules)."""
    profile = json.loads((CHART / "files" / "seccomp-flowagent.json").read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    if not DEBIAN_SECCOMP.exists():
        pytest.fail(f"{DEBIAN_SECCOMP} missing (make deps installs podman, which brings it)")
    fresh = subprocess.run([sys.executable, str(ROOT / "deploy" / "seccomp" / "generate.py"),
                            str(DEBIAN_SECCOMP)], capture_output=True, text=True, check=True)
    assert json.loads(fresh.stdout) == profile, "run `make seccomp` and review the difference"


def test_notes(tmp_path):
    proc = helm("install", "t", str(CHART), "--namespace", "flows", "--dry-run=client",
                values=VALUE_SETS["statefulset"], tmp_path=tmp_path)
    notes = proc.stdout[proc.stdout.index("NOTES:"):]
    assert "release t in namespace flows" in notes
    assert "DaemonSet t-flowagent-agent" in notes
    assert "metering\n  eth0 with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON" in notes
    assert "StatefulSet t-flowagent-collector: 1 collector(s), consumer group flowcollector" \
        in notes
    assert "the embedded ClickHouse on a 20Gi volume per pod" in notes
    assert "kubectl label namespace flows pod-security.kubernetes.io/enforce=privileged" in notes
    assert "grafana_dashboard=1" in notes


def expanded_args(c):
    """The container's arguments with $(VAR) expanded as the kubelet does."""
    env = {e["name"]: FIELD_VALUES[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in c["env"]}
    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], a)
            for a in c["args"]]


def parses(binary, args):
    """Runs BINARY ARGS --help: argp parses every option before --help (a bad name or value
    exits 2) and then prints the help and exits 0, before anything is opened or reached."""
    return subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_programs_accept_the_args(tmp_path, name):
    for b in (FLOWAGENT, FLOWCOLLECTOR):
        if not os.access(b, os.X_OK):
            pytest.skip(f"{b} not built")
    docs = render(tmp_path, VALUE_SETS[name])
    checked = 0
    for d in docs:
        if d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            c = container(d)
            binary = FLOWAGENT if d["kind"] == "DaemonSet" else FLOWCOLLECTOR
            args = expanded_args(c)
            assert not [a for a in args if "$(" in a], args
            proc = parses(binary, args)
            assert proc.returncode == 0, f"{binary} {args}: {proc.stderr}"
            assert proc.stdout.startswith("Usage: "), proc.stdout[:200]
            checked += 1
            # the check can fail: one value the program refuses
            bad = parses(binary, ["--batch-ms=0", *args])
            assert bad.returncode == 2, bad.stderr
            assert "--batch-ms: '0' is not milliseconds in [1, 3600000]" in bad.stderr
    assert checked == 2


def test_package_carries_the_dashboards(tmp_path):
    """The packaged chart (what a repository serves) holds the dashboards and the profile."""
    helm("package", str(CHART), "-d", str(tmp_path))
    (tgz,) = tmp_path.glob("flowagent-*.tgz")
    assert tgz.name == "flowagent-0.1.0.tgz"
    with tarfile.open(tgz) as t:
        names = set(t.getnames())
    for f in ("dashboards/fleet.json", "dashboards/network.json",
              "files/seccomp-flowagent.json", "values.schema.json", "README.md"):
        assert f"flowagent/{f}" in names, sorted(names)
    out = helm("template", "t", str(tgz)).stdout
    docs = by_kind([d for d in yaml.safe_load_all(out) if d])
    cm = docs[("ConfigMap", "t-flowagent-dashboard-network")]
    assert cm["data"]["network.json"] == (ROOT / "dashboards" / "network.json").read_text().rstrip("\n")
