# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The live agent with exactly the three capabilities it asks for (CAP_BPF, CAP_NET_ADMIN,
CAP_PERFMON), as a DaemonSet gives them: it attaches, keeps only CAP_NET_ADMIN once attached,
counts exactly, leaves nothing attached after a graceful stop, and starts again after a
SIGKILL. setpriv (util-linux) sets the capabilities and execs the agent, so the process the
test watches is the agent itself."""
import re

import pytest

from conftest import FLOWAGENT
from test_live import Agent, Pair, attached, by_key, icmp_requests_in, wait_for

CAPS = "-all,+bpf,+net_admin,+perfmon"
# nobody, with the three capabilities kept across the change of user as ambient ones
AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             f"--inh-caps={CAPS}", f"--ambient-caps={CAPS}", f"--bounding-set={CAPS}")
# root, whose capabilities are bounded to the three (a container's usual shape)
AS_ROOT_BOUNDED = ("setpriv", f"--bounding-set={CAPS}")
CAP_NET_ADMIN = 1 << 12
PINGS = ("10.77.0.1", "10.77.0.2", 0, 2048, 1, 0)


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


def status(pid):
    """The Cap* and NoNewPrivs lines of /proc/PID/status, as integers."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name.startswith("Cap"):
                fields[name] = int(value, 16)
            elif name == "NoNewPrivs":
                fields[name] = int(value)
    return fields


def ping(pair, count=3):
    pair.run(pair.fa, "ping", "-q", "-c", str(count), "-i", "0.2", "10.77.0.2")


@pytest.mark.parametrize("who", [AS_NOBODY, AS_ROOT_BOUNDED], ids=["nobody", "root-bounded"])
def test_three_capabilities_attach_count_and_drop(pair, who):
    agent = Agent(pair, "vb", prefix=who)
    started = status(agent.proc.pid)
    # attached and capturing, with only CAP_NET_ADMIN left, in every set
    assert started["CapEff"] == CAP_NET_ADMIN, started
    assert started["CapPrm"] == CAP_NET_ADMIN, started
    assert started["CapInh"] == 0 and started["CapAmb"] == 0, started
    assert started["NoNewPrivs"] == 1
    assert attached(pair) == (True, True)
    ping(pair)
    rc, records, counters = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress")[PINGS] == [3, 252]
    assert by_key(records, "egress")[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [3, 252]
    assert counters["map_full"] == 0
    assert attached(pair) == (False, False)


def test_sigkill_then_restart_with_three_capabilities(pair):
    """The DaemonSet pod's restart: the kernel removed the killed run's links with it, so the
    next run attaches without CAP_SYS_ADMIN, and counts from then on exactly."""
    agent = Agent(pair, "vb", prefix=AS_NOBODY)
    ping(pair, 2)
    agent.proc.kill()
    agent.proc.wait()
    assert attached(pair) == (False, False)
    agent = Agent(pair, "vb", prefix=AS_NOBODY)
    assert "left attached" not in agent.stderr()
    ping(pair)
    rc, records, _ = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress")[PINGS] == [3, 252]
    assert attached(pair) == (False, False)


def test_interface_back_attached_again_with_net_admin_only(pair):
    """After the drop only CAP_NET_ADMIN is left; it is enough to attach an interface that
    went away and came back."""
    agent = Agent(pair, "vb", "--drain-interval", "100", prefix=AS_NOBODY)
    ping(pair)
    pair.run(pair.fa, "ip", "link", "del", "va")
    wait_for(agent, "vb: the interface is gone")
    pair.link()
    wait_for(agent, "vb: back (index")
    assert attached(pair) == (True, True)
    ping(pair)
    rc, records, _ = agent.stop()
    assert rc == 0
    assert icmp_requests_in(records) == 6
    assert attached(pair) == (False, False)


def test_one_capability_short_is_refused(pair):
    short = "-all,+bpf,+net_admin"
    proc = pair.run(pair.fb, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    f"--inh-caps={short}", f"--ambient-caps={short}",
                    f"--bounding-set={short}", FLOWAGENT, "vb", check=False)
    assert proc.returncode == 1
    assert "needs root, or the capabilities CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON" in proc.stderr
    assert attached(pair) == (False, False)


def test_legacy_attach_after_crash_needs_sys_admin_to_tell(pair):
    """Without links (old kernels, or --legacy-attach), a killed run leaves its XDP program:
    with three capabilities the next run cannot tell whose it is (finding a program by id
    takes CAP_SYS_ADMIN), so it refuses with the command that removes it, and starts once
    that was run. This is why links are the default."""
    agent = Agent(pair, "--legacy-attach", "vb", prefix=AS_NOBODY)
    agent.proc.kill()
    agent.proc.wait()
    assert attached(pair)[0]
    proc = pair.run(pair.fb, *AS_NOBODY, FLOWAGENT, "--legacy-attach", "vb",
                    check=False)
    assert proc.returncode == 1
    assert "cannot identify without CAP_SYS_ADMIN" in proc.stderr
    # the command for the mode it is in: generic here, as veth with MTU 9000 has no native XDP
    [command] = re.findall(r"remove it with '(ip link set dev vb xdp(?:drv|generic) off)'",
                           proc.stderr)
    pair.run(pair.fb, *command.split())
    agent = Agent(pair, "--legacy-attach", "vb", prefix=AS_NOBODY)
    ping(pair)
    rc, records, _ = agent.stop()
    assert rc == 0
    assert by_key(records, "ingress")[PINGS] == [3, 252]
    # the killed run's clsact filter was replaced, not doubled
    assert by_key(records, "egress")[("10.77.0.2", "10.77.0.1", 0, 0, 1, 0)] == [3, 252]
    assert attached(pair) == (False, False)
