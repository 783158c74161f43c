# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The OCI images `make image` builds (deploy/image/build.sh), run by podman the way a
DaemonSet runs the agent and a Deployment the collector. podman reads
tests/integration/containers.conf (CONTAINERS_CONF): runc, ulimits within the host's, and no
network unless a test gives one; the agent's container joins the test's network namespace
(--network=ns:...), so nothing touches the host's interfaces or creates a bridge.

The agent runs with exactly what the chart grants: --cap-drop=ALL
--cap-add=BPF,NET_ADMIN,PERFMON, helm/flowagent/files/seccomp-flowagent.json, a read-only root and the host's
/sys/fs/bpf. --read-only-tmpfs=false: not even a writable /tmp, as with Kubernetes'
readOnlyRootFilesystem.

Cases:
  test_seccomp_profile_regenerates_equal   the checked-in profile == generate.py of Debian's default
  test_agent_image_ping_exact[root|nobody] 3 pings recorded exactly, only CAP_NET_ADMIN kept, no
                                           new privileges; after podman stop nothing attached
  test_agent_image_kill_then_new_container podman kill -s KILL: nothing attached; a new container
                                           attaches and records exactly
  test_agent_image_default_profile_refused Debian's default profile: bpf refused (EPERM), exit 1
  test_agent_image_contents                exactly the libraries ldd names, labels, user, size
  test_agent_image_reproducible            built again from the same inputs: the same image id
  test_collector_image_view_exact          non-root, read-only root, input and store bind-mounted:
                                           the views equal tracegen's truth, the store is uid 65532's
  test_collector_image_serves_http_in_namespace  serve --http in the test's namespace: the views'
                                           JSON from the other namespace equals the truth
  test_collector_image_contents            libraries of the collector and of libchdb, the schema,
                                           labels, user 65532, names resolved through /etc/hosts
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import BUILD, FLOWAGENT, ROOT, TRACEGEN
from procinfo import bpf_links, proc_status

CONTAINERS_CONF = ROOT / "tests" / "integration" / "containers.conf"
PROFILE = ROOT / "helm" / "flowagent" / "files" / "seccomp-flowagent.json"
DEBIAN_PROFILE = pathlib.Path("/usr/share/containers/seccomp.json")
IMAGE_DIR = BUILD / "image"
ENV = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
# the chart's grant for the agent's container
AGENT_FLAGS = ("--cap-drop=ALL", "--cap-add=BPF,NET_ADMIN,PERFMON",
               f"--security-opt=seccomp={PROFILE}", "--security-opt=no-new-privileges",
               "--read-only", "--read-only-tmpfs=false",
               "--mount=type=bind,src=/sys/fs/bpf,dst=/sys/fs/bpf")
CAP_NET_ADMIN = 1 << 12
PINGS_IN = ("10.77.0.1", "10.77.0.2", 0, 2048, 1, 0)
PINGS_OUT = ("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)


def podman_works():
    try:
        proc = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                              capture_output=True, text=True, env=ENV, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"podman cannot run: {e}"
    if proc.returncode != 0:
        return f"podman cannot run: {proc.stderr.strip()[-500:]}"
    return None


_why_not = podman_works() if os.geteuid() == 0 else "running containers with BPF needs root"


@pytest.fixture(scope="module", autouse=True)
def podman_runs():
    """Skipped where podman cannot run at all, but not in CI as root, where make deps has
    installed it: there a skip would hide a broken install."""
    if _why_not is None:
        return
    if os.environ.get("CI") == "true" and os.geteuid() == 0:
        pytest.fail(f"{_why_not} (make deps installs podman, buildah and runc)")
    pytest.skip(_why_not)


# after the skip decision: test_live skips its own tests when not root, but imports fine
from test_live import Pair, by_key, sh  # noqa: E402


def podman(*args, check=True, timeout=120):
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr[-2000:]}"
    return proc


def image(name):
    """The image `make image` built last: its id, checked to be in the local storage."""
    iid = IMAGE_DIR / f"{name}.iid"
    assert iid.exists(), f"{iid} missing: run `make image` (make test builds the images)"
    ident = iid.read_text().strip()
    assert podman("image", "exists", ident, check=False).returncode == 0, \
        f"image {ident} of {iid} is not in the container storage: run `make image`"
    return ident


def inspect(ident):
    [info] = json.loads(podman("image", "inspect", ident).stdout)
    return info


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


class Container:
    """One agent container in the namespace of pair.fb, its output in files, attached once it
    says so. The podman process is the container's attached client: it exits with the agent."""

    count = 0

    def __init__(self, pair, *flags):
        Container.count += 1
        self.name = f"flowagent-test-{os.getpid()}-{Container.count}"
        self.out = open(f"/tmp/{self.name}.json", "w+")
        self.err = open(f"/tmp/{self.name}.err", "w+")
        self.proc = subprocess.Popen(
            ["podman", "run", "--rm", "--name", self.name, *AGENT_FLAGS, *flags,
             f"--network=ns:/var/run/netns/{pair.fb}", image("flowagent"), "-v", "vb"],
            stdout=self.out, stderr=self.err, env=ENV)
        for _ in range(600):
            if "capturing on" in self.stderr() or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if "capturing on" not in self.stderr():
            self.close()
        assert "capturing on" in self.stderr(), self.stderr()

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def pid(self):
        return podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip()

    def status(self):
        """The capabilities and flags of the agent's /proc/PID/status."""
        return proc_status(self.pid())

    def links(self):
        """The BPF links the agent holds, by type (xdp, tcx), from its file descriptors."""
        return bpf_links(self.pid())

    def stop(self):
        podman("stop", "--time", "60", self.name)
        return self.finish()

    def kill(self):
        podman("kill", "--signal", "KILL", self.name)
        return self.finish()

    def finish(self):
        rc = self.proc.wait(timeout=90)
        self.out.seek(0)
        records = [json.loads(line) for line in self.out if line.strip()]
        self.close()
        return rc, records

    def close(self):
        if self.proc.poll() is None:
            podman("rm", "--force", self.name, check=False)
            self.proc.wait(timeout=90)
        for f in (self.out, self.err):
            if not f.closed:
                f.close()
                os.unlink(f.name)


def link_exists(link_id):
    return subprocess.run(["bpftool", "link", "show", "id", str(link_id)],
                          capture_output=True).returncode == 0


def attached_here(pair, agent):
    """The agent's XDP and TCX links are there, and vb (in the test's namespace) runs XDP.
    (test_live's attached() looks for TCX programs by name in the whole system, which other
    agents on the machine would match.)"""
    links = agent.links()
    assert set(links) == {"xdp", "tcx"}, links
    assert all(link_exists(i) for i in links.values())
    assert "prog/xdp" in pair.run(pair.fb, "ip", "link", "show", "vb").stdout
    return links


def nothing_attached(pair, links):
    """The links of a container that is gone are gone, and vb has no program of any kind."""
    assert [i for i in links.values() if link_exists(i)] == []
    assert "prog/xdp" not in pair.run(pair.fb, "ip", "link", "show", "vb").stdout
    net = json.loads(pair.run(pair.fb, "bpftool", "-j", "net", "show", "dev", "vb").stdout)
    assert all(not entry.get(kind) for entry in net for kind in ("xdp", "tc", "tcx")), net
    assert pair.run(pair.fb, "tc", "filter", "show", "dev", "vb", "egress").stdout == ""


def ping(pair, count=3):
    pair.run(pair.fa, "ping", "-q", "-c", str(count), "-i", "0.2", "10.77.0.2")


def test_seccomp_profile_regenerates_equal():
    if not DEBIAN_PROFILE.exists():
        pytest.fail(f"{DEBIAN_PROFILE} missing (Debian package golang-github-containers-common, "
                    "installed with podman by make deps)")
    fresh = subprocess.run(["python3", str(ROOT / "deploy" / "seccomp" / "generate.py"),
                            str(DEBIAN_PROFILE)], capture_output=True, text=True, check=True)
    assert fresh.stdout == PROFILE.read_text(), \
        "helm/flowagent/files/seccomp-flowagent.json differs from the one derived from Debian's default: " \
        "run `make seccomp` and review the difference"
    rules = json.loads(PROFILE.read_text())["syscalls"]
    mine = {(r["names"][0], r["action"], tuple(r["includes"].get("caps", [])),
             tuple(r["excludes"].get("caps", [])))
            for r in rules if {"bpf", "perf_event_open"} & set(r["names"])}
    assert mine == {
        ("bpf", "SCMP_ACT_ALLOW", ("CAP_BPF",), ()),
        ("bpf", "SCMP_ACT_ALLOW", ("CAP_SYS_ADMIN",), ("CAP_BPF",)),
        ("bpf", "SCMP_ACT_ERRNO", (), ("CAP_SYS_ADMIN", "CAP_BPF")),
        ("perf_event_open", "SCMP_ACT_ALLOW", ("CAP_PERFMON",), ()),
        ("perf_event_open", "SCMP_ACT_ALLOW", ("CAP_SYS_ADMIN",), ("CAP_PERFMON",)),
        ("perf_event_open", "SCMP_ACT_ERRNO", (), ("CAP_SYS_ADMIN", "CAP_PERFMON")),
    }


@pytest.mark.parametrize("user", [(), ("--user=65534:65534",)], ids=["root", "nobody"])
def test_agent_image_ping_exact(pair, user):
    """root with only the three capabilities (the image's default, what Kubernetes can give),
    and nobody, to whom podman gives them as ambient capabilities."""
    agent = Container(pair, *user)
    status = agent.status()
    assert status["Uid"] == ("65534" if user else "0")
    assert status["CapEff"] == CAP_NET_ADMIN and status["CapPrm"] == CAP_NET_ADMIN, status
    assert status["CapAmb"] == 0 and status["CapInh"] == 0, status
    assert status["NoNewPrivs"] == "1"
    links = attached_here(pair, agent)
    ping(pair)
    rc, records = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress") == {PINGS_IN: [3, 3 * 84]}
    assert by_key(records, "egress") == {PINGS_OUT: [3, 3 * 84]}
    assert {r["ifindex"] for r in records} == {pair.vb_ifindex}
    nothing_attached(pair, links)


def test_agent_image_kill_then_new_container(pair):
    """kill -9 of the container: the kernel removed its links with it, so the next container
    attaches with the same three capabilities and records from then on exactly."""
    agent = Container(pair)
    links = attached_here(pair, agent)
    ping(pair, 2)
    rc, _ = agent.kill()
    assert rc == 137
    nothing_attached(pair, links)
    agent = Container(pair)
    assert "left attached" not in agent.stderr()
    links = attached_here(pair, agent)
    ping(pair)
    rc, records = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress") == {PINGS_IN: [3, 3 * 84]}
    assert by_key(records, "egress") == {PINGS_OUT: [3, 3 * 84]}
    nothing_attached(pair, links)


def test_agent_image_default_profile_refused(pair):
    """Why the image needs its own profile: Debian's default allows bpf only with
    CAP_SYS_ADMIN."""
    flags = [f for f in AGENT_FLAGS if not f.startswith("--security-opt=seccomp")]
    proc = subprocess.run(["podman", "run", "--rm", *flags,
                           f"--security-opt=seccomp={DEBIAN_PROFILE}",
                           f"--network=ns:/var/run/netns/{pair.fb}", image("flowagent"), "vb"],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "loading the BPF programs failed: Operation not permitted" in proc.stderr
    nothing_attached(pair, {})


def mounted_files(ident):
    """Every path in the image (relative, without the leading /) and its mount point."""
    mnt = pathlib.Path(podman("image", "mount", ident).stdout.strip())
    try:
        files = {str(p.relative_to(mnt)): (p.is_symlink() and os.readlink(p)) or None
                 for p in mnt.rglob("*")}
    finally:
        podman("image", "unmount", ident, check=False)
    return files


def ldd_libraries(*objects):
    """The libraries' file names ldd resolves for the objects, the loader included."""
    names = set()
    for obj in objects:
        for line in sh("ldd", str(obj)).stdout.splitlines():
            parts = line.split()
            if "=>" in parts and parts[2].startswith("/"):
                names.add(os.path.basename(parts[2]))
            elif parts and parts[0].startswith("/"):
                names.add(os.path.basename(parts[0]))
    return names


def labels_match_checkout(info):
    labels = info["Config"]["Labels"]
    head = sh("git", "-C", str(ROOT), "rev-parse", "HEAD").stdout.strip()
    assert labels["org.opencontainers.image.revision"] == head, \
        "the image was built from another commit: run `make image`"
    described = sh("git", "-C", str(ROOT), "describe", "--tags", "--always", "--dirty").stdout
    assert labels["org.opencontainers.image.version"] == described.strip()


def test_agent_image_contents():
    ident = image("flowagent")
    info = inspect(ident)
    labels_match_checkout(info)
    assert info["Config"]["Entrypoint"] == ["/usr/bin/flowagent"]
    assert info["Config"]["User"] == "0:0"
    files = mounted_files(ident)
    libs = {p.rsplit("/", 1)[1] for p in files
            if p.startswith(("usr/lib/x86_64-linux-gnu/", "usr/lib64/"))}
    assert libs == ldd_libraries(FLOWAGENT)
    assert files["lib"] == "usr/lib" and files["lib64"] == "usr/lib64"
    assert "usr/bin/flowagent" in files
    assert files["usr/lib/ssl/cert.pem"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "etc/ssl/certs/ca-certificates.crt" in files
    # the binary without its debug information, its libraries and the CA bundle: small
    assert info["Size"] < 25_000_000, info["Size"]


def test_agent_image_reproducible(tmp_path):
    """The same binary, version and commit make the same image, to the byte: every file and
    the creation time are dated by the commit."""
    built = image("flowagent")
    version, revision = (IMAGE_DIR / "version").read_text().split()
    commit_time = int(sh("git", "-C", str(ROOT), "log", "-1", "--format=%ct", revision).stdout)
    (tmp_path / "flowagent").symlink_to(BUILD / "flowagent")
    # under a name of its own, so that the images `make image` tagged keep their tags
    again = "localhost/flowagent-rebuilt"
    try:
        subprocess.run([str(ROOT / "deploy" / "image" / "build.sh"), "agent", str(tmp_path),
                        version, revision], check=True, capture_output=True,
                       env={**ENV, "SOURCE_DATE_EPOCH": str(commit_time),
                            "IMAGE_REPOSITORY": again})
        assert (tmp_path / "image" / "flowagent.iid").read_text() == built
    finally:
        podman("rmi", f"{again}:{version}", f"{again}:latest", check=False)
    created = inspect(built)["Created"]
    assert created.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(commit_time))), \
        created


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("image-trace")
    pcap, truth = d / "trace.pcap", d / "summary.json"
    subprocess.run([TRACEGEN, "--packets", "30000", "--days", "2", "--window", "120",
                    "--seed", "11", "--output", str(pcap), "--summary-json", str(truth),
                    "--quiet"], check=True)
    flows = subprocess.run([FLOWAGENT, "--replay", "--no-progress", str(pcap)],
                           capture_output=True, check=True)
    (d / "flows.json").write_bytes(flows.stdout)
    return d / "flows.json", json.loads(truth.read_text()), flows.stdout.count(b"\n")


def collector(*args, mounts=(), check=True):
    """The collector's image as a Deployment runs it: its own user, a read-only root (no
    /tmp either), no capabilities, no network."""
    proc = subprocess.run(["podman", "run", "--rm", "--read-only", "--read-only-tmpfs=false",
                           "--cap-drop=ALL", "--security-opt=no-new-privileges", *mounts,
                           image("flowcollector"), *args],
                          capture_output=True, text=True, env=ENV, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def store(trace, tmp_path_factory):
    """The trace's records ingested by the collector's image into a bind-mounted store."""
    flows, truth, records = trace
    store = tmp_path_factory.mktemp("image-store")
    os.chown(store, 65532, 65532)
    mounts = (f"--mount=type=bind,src={store},dst=/var/lib/flowcollector",
              f"--mount=type=bind,src={flows},dst=/input/flows.json,ro")
    proc = collector("--input", "/input/flows.json", "--input-agent", "trace", mounts=mounts)
    assert f"rows_inserted          {records}\n" in proc.stderr
    assert "records_rejected       0\n" in proc.stderr
    return store, truth, records


def tsv_rows(text):
    lines = text.splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def test_collector_image_view_exact(store):
    store, truth, records = store
    # the default store, embedded:flowdb in the working directory, written as uid 65532
    db = store / "flowdb"
    assert db.is_dir()
    assert {p.lstat().st_uid for p in db.rglob("*")} == {65532}
    mount = f"--mount=type=bind,src={store},dst=/var/lib/flowcollector"
    rows = {r["day"]: r for r in tsv_rows(collector("query", "daily_packets", "--tsv",
                                                    mounts=(mount,)).stdout)}
    assert set(rows) == {d["date"] for d in truth["per_day"]}
    for day in truth["per_day"]:
        assert int(rows[day["date"]]["packets"]) == day["packets"]
        assert int(rows[day["date"]]["bytes"]) == day["bytes"]
    assert sum(int(r["records"]) for r in rows.values()) == records
    by_proto = {(r["day"], r["proto"]): int(r["bytes"])
                for r in tsv_rows(collector("query", "daily_bandwidth_by_proto", "--tsv",
                                            mounts=(mount,)).stdout)}
    for day in truth["per_day"]:
        assert by_proto[(day["date"], "TCP")] == day["tcp_bytes"]
        assert by_proto[(day["date"], "UDP")] == day["udp_bytes"]


def test_collector_image_serves_http_in_namespace(store, pair):
    """`serve --http ADDR:PORT` from the image, in the test's namespace: the views' JSON API
    answers from the other namespace with the truth's numbers; podman stop ends it with 0."""
    store, truth, _ = store
    name = f"flowcollector-test-{os.getpid()}"
    serve = subprocess.Popen(
        ["podman", "run", "--rm", "--name", name, "--read-only", "--read-only-tmpfs=false",
         "--cap-drop=ALL", "--security-opt=no-new-privileges",
         f"--mount=type=bind,src={store},dst=/var/lib/flowcollector",
         f"--network=ns:/var/run/netns/{pair.fb}", image("flowcollector"),
         "serve", "--http", "10.77.0.2:8123"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        url = "http://10.77.0.2:8123/api/v1/views/daily_packets"
        for _ in range(600):
            answer = pair.run(pair.fa, "curl", "-sf", url, check=False)
            if answer.returncode == 0 or serve.poll() is not None:
                break
            time.sleep(0.1)
        assert answer.returncode == 0, answer.stderr
        rows = {r["day"]: r for r in json.loads(answer.stdout)["rows"]}
        assert {d: (r["packets"], r["bytes"]) for d, r in rows.items()} == \
            {d["date"]: (d["packets"], d["bytes"]) for d in truth["per_day"]}
        podman("stop", "--time", "60", name)
        _, err = serve.communicate(timeout=90)
        assert serve.returncode == 0, err[-2000:]
    finally:
        if serve.poll() is None:
            podman("rm", "--force", name, check=False)
            serve.communicate(timeout=90)


def test_collector_image_contents():
    ident = image("flowcollector")
    info = inspect(ident)
    labels_match_checkout(info)
    assert info["Config"]["User"] == "65532:65532"
    assert info["Config"]["WorkingDir"] == "/var/lib/flowcollector"
    assert info["Config"]["Entrypoint"] == ["/usr/bin/flowcollector", "--sql-dir",
                                            "/usr/share/flowagent/sql"]
    assert "FLOWCOLLECTOR_LIBCHDB=/usr/lib/flowagent/chdb/libchdb.so" in info["Config"]["Env"]
    files = mounted_files(ident)
    libs = {p.rsplit("/", 1)[1] for p in files
            if p.startswith(("usr/lib/x86_64-linux-gnu/", "usr/lib64/"))}
    assert libs == ldd_libraries(BUILD / "flowcollector", BUILD / "chdb" / "libchdb.so")
    assert "usr/lib/flowagent/chdb/libchdb.so" in files
    # libchdb alone in the first layer, so that it is stored and sent once across builds
    assert len(info["RootFS"]["Layers"]) == 2
    schema = {p for p in files if p.startswith("usr/share/flowagent/sql/") and
              p.endswith((".sql", ".xml"))}
    expected = {f"usr/share/flowagent/{p.relative_to(ROOT)}" for p in (ROOT / "sql").rglob("*")
                if p.suffix in (".sql", ".xml")}
    assert schema == expected
    # host names resolve through /etc/hosts (glibc's files and dns, no NSS modules needed):
    # localhost is found and refuses, a name that cannot exist is not found
    proc = collector("--clickhouse", "http://localhost:1/", "migrate", check=False)
    assert proc.returncode == 1
    assert "ClickHouse at http://localhost:1/: Couldn't connect to server" in proc.stderr
    proc = collector("--clickhouse", "http://no-such-host.invalid:1/", "migrate", check=False)
    assert "Couldn't resolve host name" in proc.stderr
