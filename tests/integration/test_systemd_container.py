# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The installed systemd unit flowagent@.service, started by a real systemd (PID 1 in a podman
container, in the test's network namespace): it captures a ping exactly with only the
capabilities the unit grants, and `systemctl stop` leaves nothing attached.

The container's root is build/systemd-test/root, prepared once and kept: a few directories and
symbolic links, a minimal /etc (passwd, group, an empty machine-id, a default target that
starts only the journal) and `make install DESTDIR=build/systemd-test/root PREFIX=/opt/flowagent
SYSTEMDUNITDIR=/etc/systemd/system SYSCONFDIR=/etc`, run again by every session (a few
seconds: it copies what changed). The host's /usr (Debian's systemd, journald, the agent's
libraries) is bind-mounted read-only, so nothing is downloaded; hence PREFIX=/opt/flowagent
rather than /usr, which also checks that the unit runs the binary from its @BINDIR@. /var is a
tmpfs: the state directory is new each boot.

The container gets what systemd needs to apply the unit's sandbox (CAP_SYS_ADMIN for its mount
namespaces, no seccomp filter of podman's) plus the three capabilities the unit hands on,
so that the unit, not podman, is what limits the agent. AGENT_OPTIONS=-v comes from
/etc/flowagent/flowagent-vb.env, the per-interface file the unit reads (bind-mounted).

Cases:
  test_systemd_unit_ping_exact   systemctl start flowagent@vb: a dynamic user, CapEff only
                                 CAP_NET_ADMIN, the bounding set the unit's three, no new
                                 privileges, the unit's seccomp filter; 3 pings exactly in the
                                 journal; systemctl stop: exit 0, nothing attached
Run time: about 5 s here (make install into the kept root included); the first make install
also makes the man pages.
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import BUILD, ROOT
from procinfo import bpf_links, proc_status
# podman_runs: test_image's autouse fixture, its skip (and CI failure) logic, here too
from test_image import CAP_NET_ADMIN, ENV, PINGS_IN, PINGS_OUT, attached_here, \
    nothing_attached, ping, podman, podman_runs  # noqa: F401
from test_live import Pair, by_key  # noqa: E402 (after test_image's skip decision)

ROOTFS = BUILD / "systemd-test" / "root"
CAP_BPF, CAP_PERFMON = 1 << 39, 1 << 38
DEFAULT_TARGET = """\
[Unit]
Description=flowagent test: the journal, nothing else
Wants=systemd-journald.socket systemd-journald.service
"""


def prepare_rootfs():
    """build/systemd-test/root: the skeleton (once) and the installed files (each time)."""
    for d in ("etc/systemd/system", "proc", "sys", "dev", "run", "tmp", "var", "root", "usr"):
        (ROOTFS / d).mkdir(parents=True, exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64")):
        if not (ROOTFS / link).is_symlink():
            (ROOTFS / link).symlink_to(target)
    (ROOTFS / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (ROOTFS / "etc/group").write_text("root:x:0:\n")
    (ROOTFS / "etc/machine-id").write_text("")
    (ROOTFS / "etc/os-release").write_bytes(pathlib.Path("/usr/lib/os-release").read_bytes())
    (ROOTFS / "etc/systemd/system/flowagent-test.target").write_text(DEFAULT_TARGET)
    default = ROOTFS / "etc/systemd/system/default.target"
    if not default.is_symlink():
        default.symlink_to("flowagent-test.target")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"DESTDIR={ROOTFS}",
                           "PREFIX=/opt/flowagent", "SYSTEMDUNITDIR=/etc/systemd/system",
                           "SYSCONFDIR=/etc"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    unit = (ROOTFS / "etc/systemd/system/flowagent@.service").read_text()
    assert "ExecStart=/opt/flowagent/bin/flowagent $AGENT_OPTIONS %i\n" in unit


class Booted:
    """systemd as PID 1 of a container in the namespace of pair.fb; removed on every path."""

    def __init__(self, pair, tmp_path):
        self.name = f"flowagent-systemd-{os.getpid()}"
        env_file = tmp_path / "flowagent-vb.env"
        env_file.write_text("AGENT_OPTIONS=-v\n")
        proc = podman("run", "-d", "--name", self.name, "--systemd=always",
                      f"--network=ns:/var/run/netns/{pair.fb}",
                      "--cap-add=SYS_ADMIN,BPF,NET_ADMIN,PERFMON",
                      "--security-opt=seccomp=unconfined",
                      "--mount=type=bind,src=/usr,dst=/usr,ro",
                      "--mount=type=bind,src=/sys/fs/bpf,dst=/sys/fs/bpf",
                      "--mount=type=tmpfs,dst=/var",
                      f"--mount=type=bind,src={env_file},dst=/etc/flowagent/flowagent-vb.env,ro",
                      "--rootfs", str(ROOTFS), "/usr/lib/systemd/systemd", check=False)
        if proc.returncode != 0:
            self.close()
        assert proc.returncode == 0, proc.stderr[-2000:]
        try:
            # is-system-running --wait: until the boot is over (running, or degraded), once
            # systemd answers at all
            for _ in range(600):
                state = self.exec("systemctl", "is-system-running", "--wait", check=False)
                if state.stdout.strip() or podman("inspect", "--format", "{{.State.Running}}",
                                                  self.name).stdout.strip() != "true":
                    break
                time.sleep(0.05)
            assert state.stdout.strip() == "running", \
                state.stdout + self.exec("systemctl", "--failed", "--no-pager").stdout
        except BaseException:
            self.close()
            raise

    def exec(self, *cmd, check=True):
        return podman("exec", self.name, *cmd, check=check)

    def journal(self):
        return self.exec("journalctl", "-u", "flowagent@vb", "-o", "cat", "--no-pager").stdout

    def close(self):
        podman("rm", "--force", "--time", "30", self.name, check=False)


class Agent:
    """The unit's main process, seen from the host (test_image's attached_here reads its
    file descriptors)."""

    def __init__(self, booted):
        pid = booted.exec("systemctl", "show", "-P", "MainPID", "flowagent@vb").stdout.strip()
        assert pid != "0"
        top = podman("top", booted.name, "pid", "hpid").stdout.split()
        self.hpid = dict(zip(top[2::2], top[3::2]))[pid]

    def links(self):
        return bpf_links(self.hpid)

    def status(self):
        return proc_status(self.hpid)


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


@pytest.fixture
def booted(pair, tmp_path):
    prepare_rootfs()
    b = Booted(pair, tmp_path)
    yield b
    b.close()


def test_systemd_unit_ping_exact(booted, pair):
    booted.exec("systemctl", "start", "flowagent@vb")
    for _ in range(600):
        journal = booted.journal()
        if "capturing on" in journal or "flowagent@vb.service: Failed" in journal:
            break
        time.sleep(0.05)
    assert "capturing on" in journal, journal
    agent = Agent(booted)
    status = agent.status()
    assert status["Uid"] != "0"  # DynamicUser
    assert status["CapEff"] == CAP_NET_ADMIN and status["CapPrm"] == CAP_NET_ADMIN, status
    assert status["CapBnd"] == CAP_BPF | CAP_NET_ADMIN | CAP_PERFMON, status
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", status
    links = attached_here(pair, agent)
    ping(pair)
    booted.exec("systemctl", "stop", "flowagent@vb")
    show = booted.exec("systemctl", "show", "-P", "ExecMainStatus", "flowagent@vb").stdout
    assert show.strip() == "0"
    # the agent's counters on stderr come after its records on stdout, in the same stream
    # to the journal: once they are there, every record is
    for _ in range(600):
        journal = booted.journal()
        if "records_lost " in journal:
            break
        time.sleep(0.05)
    assert "records_lost             0\n" in journal, journal[-3000:]
    records = [json.loads(line) for line in journal.splitlines()
               if line.startswith("{")]
    assert by_key(records, "ingress") == {PINGS_IN: [3, 3 * 84]}
    assert by_key(records, "egress") == {PINGS_OUT: [3, 3 * 84]}
    assert {r["ifindex"] for r in records} == {pair.vb_ifindex}
    nothing_attached(pair, links)
