#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`, live part: writes build/bench/live.txt.

1. Packets per second through a veth pair, from netsniff-ng's trafgen in one namespace to
   the other end in a second namespace, with nothing attached, with an empty XDP program
   (native and generic), and with the agent (native and generic). Ratios against nothing
   attached, and against the empty program in the same mode (what metering itself costs).
   xdp-trafficgen would be the other choice, but the Debian 12 build cannot load its
   tracepoint program on this kernel.
2. The agent's userspace CPU per 100k flow records/s drained: every packet a new flow,
   records exported continuously, CPU time from the kernel's accounting for the process.
Namespaces and veths are the benchmark's own; nothing leaves them.
"""
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
OUT = BUILD / "bench"
FLOWAGENT = BUILD / "flowagent"
PACKETS = int(os.environ.get("BENCH_LIVE_PACKETS", "3000000"))
FA, FB = "flbench_a", "flbench_b"

TRAFGEN_CONF = """{
  eth(da=%s, sa=02:00:00:00:00:01, type=0x0800),
  ipv4(saddr=10.77.0.1, daddr=10.77.0.99, ttl=64, proto=17),
  udp(sp=%s, dp=%s),
  fill(0x41, 18)
}
"""


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def ns(name, *cmd, check=True):
    return sh("ip", "netns", "exec", name, *cmd, check=check)


def setup():
    teardown()
    sh("ip", "netns", "add", FA)
    sh("ip", "netns", "add", FB)
    sh("ip", "link", "add", "va", "netns", FA, "type", "veth", "peer", "name", "vb", "netns", FB)
    for name, dev in ((FA, "va"), (FB, "vb")):
        ns(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", name, "link", "set", dev, "up")
    sh("ip", "-n", FB, "addr", "add", "10.77.0.2/24", "dev", "vb")
    return ns(FB, "cat", "/sys/class/net/vb/address").stdout.strip()


def teardown():
    sh("ip", "netns", "del", FA, check=False)
    sh("ip", "netns", "del", FB, check=False)


def rx_packets():
    return int(ns(FB, "cat", "/sys/class/net/vb/statistics/rx_packets").stdout)


def send(conf, packets):
    """Sends packets; returns the packets/s that reached vb."""
    before, start = rx_packets(), time.perf_counter()
    ns(FA, "trafgen", "-o", "va", "-i", str(conf), "-n", str(packets), "-P", "1", "-q")
    elapsed = time.perf_counter() - start
    time.sleep(0.2)
    return (rx_packets() - before) / elapsed


class Agent:
    def __init__(self, *args):
        self.out = open(OUT / "live-records.json", "w+")
        self.proc = subprocess.Popen(["ip", "netns", "exec", FB, str(FLOWAGENT), "-v", *args],
                                     stdout=self.out, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)

    def stop(self):
        self.proc.send_signal(15)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.out.seek(0)
        records = sum(1 for line in self.out if line.strip())
        self.out.close()
        return records, usage.ru_utime + usage.ru_stime


def best(conf, runs=3):
    return max(send(conf, PACKETS) for _ in range(runs))


def main():
    if os.geteuid() != 0:
        print("live benchmark skipped: needs root")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    mac = setup()
    try:
        few = OUT / "trafgen-256-flows.cfg"
        few.write_text(TRAFGEN_CONF % (mac, "dinc(1024, 1279)", "9"))
        many = OUT / "trafgen-new-flow-per-packet.cfg"
        many.write_text(TRAFGEN_CONF % (mac, "drnd()", "drnd()"))

        say(f"flowagent live benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        say(f"veth pair between two namespaces; trafgen (one CPU) sends {PACKETS} 64-byte UDP "
            "frames per run from one end; packets/s counted at the other end; best of 3")
        say()
        rates = {}
        rates["none"] = best(few)
        for mode, flag in (("native", "xdpdrv"), ("skb", "xdpgeneric")):
            sh("ip", "-n", FB, "link", "set", "dev", "vb", flag, "obj",
               str(BUILD / "xdp_pass.bpf.o"), "sec", "xdp")
            rates[f"empty XDP program, {mode}"] = best(few)
            sh("ip", "-n", FB, "link", "set", "dev", "vb", flag, "off")
            agent = Agent("--xdp-mode", mode, "vb")
            rates[f"flowagent, {mode}"] = best(few)
            agent.stop()
        for name, pps in rates.items():
            say(f"  {name:<28} {pps / 1e3:8.0f} kpps   {pps / rates['none']:5.2f} x nothing")
        say()
        say("ratios (target >= 0.95 of the rate without the agent):")
        for mode in ("native", "skb"):
            with_agent = rates[f"flowagent, {mode}"]
            ratio = with_agent / rates["none"]
            say(f"  agent {mode:<7} / nothing attached      {ratio:5.2f}  "
                f"{'PASS' if ratio >= 0.95 else 'MISS'}")
            say(f"  agent {mode:<7} / empty XDP, same mode  "
                f"{with_agent / rates[f'empty XDP program, {mode}']:5.2f}  (metering alone)")
        say()

        agent = Agent("--idle-timeout", "1", "--drain-interval", "200", "vb")
        start = time.perf_counter()
        send(many, PACKETS)
        time.sleep(1.5)
        elapsed = time.perf_counter() - start
        records, cpu = agent.stop()
        rate = records / elapsed
        say("userspace cost of draining (every packet a new flow, idle timeout 1 s):")
        say(f"  {records} records in {elapsed:.1f} s = {rate / 1e3:.0f} k records/s, "
            f"agent CPU {cpu:.2f} s")
        if records:
            say(f"  {100 * cpu * 100000 / records:.1f}% of one core per 100k records/s")
    finally:
        teardown()
        (OUT / "live-records.json").unlink(missing_ok=True)
    (OUT / "live.txt").write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {OUT / 'live.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
