#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`: side-by-side replay throughput against reference tools, in one run.

Writes build/bench/replay.txt and prints it. Every tool reads the same generated MAWI-like
trace from the page cache, pinned to the same CPU; the figure for each is the best of a few
wall-clock runs. Ratios are ours / theirs. Targets are printed next to the measurements with
PASS or MISS: a miss is reported, not hidden.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
OUT = BUILD / "bench"
FLOWAGENT = BUILD / "flowagent"
PACKETS = int(os.environ.get("BENCH_PACKETS", "6000000"))
TRACE = OUT / f"mawi-{PACKETS // 1000000}m.pcap"
CPU = str(os.cpu_count() - 1)
BPFFS = pathlib.Path("/sys/fs/bpf")


def pinned(cmd, cpus=None):
    return ["taskset", "-c", cpus or CPU, *cmd]


def best_time(cmd, runs, stdout=subprocess.DEVNULL, cwd=None, cpus=None):
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(pinned(cmd, cpus), stdout=stdout, stderr=subprocess.PIPE, cwd=cwd)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                               f"{proc.stderr.decode(errors='replace')[-500:]}")
        best = elapsed if best is None else min(best, elapsed)
    return best


def ensure_trace():
    OUT.mkdir(parents=True, exist_ok=True)
    tracegen = BUILD / "tracegen"
    if TRACE.exists() and TRACE.stat().st_mtime < tracegen.stat().st_mtime:
        TRACE.unlink()  # made by an older generator
        TRACE.with_suffix(".pcap.gz").unlink(missing_ok=True)
    if not TRACE.exists():
        tmp = TRACE.with_suffix(".tmp")
        subprocess.run([str(BUILD / "tracegen"), "--packets", str(PACKETS), "--days", "1",
                        "--window", "60", "--seed", "1", "--output", str(tmp)], check=True,
                       stderr=subprocess.DEVNULL)
        tmp.rename(TRACE)
    gz = TRACE.with_suffix(".pcap.gz")
    if not gz.exists():
        with open(gz, "wb") as out:
            subprocess.run(["gzip", "-1", "-c", str(TRACE)], stdout=out, check=True)
    for path in (TRACE, gz):  # into the page cache
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    return gz


def xdp_cost_ns(obj, name, frame, repeat=2000000):
    """Average ns per run of an XDP program over one frame, via bpftool prog run."""
    pin = BPFFS / f"flowagent_bench_{name}"
    subprocess.run(["rm", "-rf", str(pin)], check=True)
    try:
        # program types come from the section names; the object may hold a TC program too
        subprocess.run(["bpftool", "prog", "loadall", str(obj), str(pin)],
                       check=True, capture_output=True)
        prog = next(p for p in sorted(pin.iterdir()) if p.name.startswith("xdp"))
        with tempfile.NamedTemporaryFile() as data:
            data.write(frame)
            data.flush()
            proc = subprocess.run(pinned(["bpftool", "prog", "run", "pinned", str(prog),
                                          "data_in", data.name, "repeat", str(repeat)]),
                                  capture_output=True, text=True, check=True)
        return int(re.search(r"duration \(average\): (\d+)ns", proc.stdout).group(1))
    finally:
        subprocess.run(["rm", "-rf", str(pin)])


def frames():
    import struct
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    ip4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 0, 0x4000, 64, 6, 0,
                      bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7]))
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, 1460, 6, 64,
                      bytes.fromhex("20010db8000000000000000000000001"),
                      bytes.fromhex("20010db8000000000000000000000002"))
    tcp = struct.pack("!HHIIBBHHH", 443, 50000, 1, 1, 0x50, 0x10, 65535, 0, 0)
    return {
        "IPv4/TCP": (eth + b"\x08\x00" + ip4 + tcp).ljust(96, b"\0"),
        "IPv6/TCP": (eth + b"\x86\xdd" + ip6 + tcp).ljust(96, b"\0"),
        "QinQ/IPv4/TCP": (eth + b"\x88\xa8\x00\x64\x81\x00\x00\xc8\x08\x00" + ip4 + tcp)
        .ljust(96, b"\0"),
    }


def main():
    gz = ensure_trace()
    size = TRACE.stat().st_size
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"flowagent replay benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    say(f"trace: {TRACE.name}, {PACKETS} packets, {size / 1e6:.0f} MB, MAWI-like "
        f"(snaplen 96, 1 day x 60 s); gzip: {gz.stat().st_size / 1e6:.0f} MB")
    say(f"machine: {os.cpu_count()} CPUs, every tool pinned to CPU {CPU}, "
        f"input in the page cache; best of the runs shown")
    say()

    results = {}

    def measure(name, cmd, runs, note="", cpus=None):
        try:
            seconds = best_time(cmd, runs, cpus=cpus)
        except (RuntimeError, FileNotFoundError) as e:
            say(f"  {name:<34} FAILED: {e}")
            return None
        mpps = PACKETS / seconds / 1e6
        results[name] = mpps
        say(f"  {name:<34} {seconds:8.3f} s {mpps:9.2f} Mpps  x{runs} {note}")
        return mpps

    say("throughput (wall clock, one core):")
    user = measure("flowagent --engine user", [str(FLOWAGENT), "--replay", "--no-progress",
                                                str(TRACE)], 5)
    # gzip is inflated on a second thread (ISA-L igzip), so this one gets two CPUs
    user_gz = measure("flowagent --engine user (.pcap.gz)",
                      [str(FLOWAGENT), "--replay", "--no-progress", str(gz)], 3,
                      note="(2 CPUs: inflate + meter)", cpus=f"0-{CPU}")
    kernel = None
    if os.geteuid() == 0:
        kernel = measure("flowagent --engine kernel",
                         [str(FLOWAGENT), "--replay", "--no-progress", "--engine", "kernel",
                          str(TRACE)], 1)
    libpcap = measure("bare libpcap read loop", [str(BUILD / "pcap_loop"), str(TRACE)], 5)
    tshark = measure("tshark -T fields (5-tuple)",
                     ["tshark", "-n", "-r", str(TRACE), "-T", "fields", "-e", "ip.src", "-e",
                      "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ip.proto", "-e",
                      "ipv6.nxt", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e",
                      "udp.srcport", "-e", "udp.dstport"], 1)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="flowbench-"))
    # Debian's softflowd 1.1.0 never starts reading with -r when its control socket path is
    # longer than 12 characters (measured: 12 works, 13 hangs)
    ctl = pathlib.Path("/tmp/sfb.ctl")
    try:
        # -6: track IPv6 too, as we do
        softflowd = measure("softflowd -r", ["softflowd", "-d", "-6", "-r", str(TRACE), "-n",
                                             "127.0.0.1:9", "-c", str(ctl), "-p",
                                             str(workdir / "softflowd.pid")], 3)
        (workdir / "nf").mkdir()
        nfpcapd = measure("nfpcapd -r", ["nfpcapd", "-r", str(TRACE), "-w",
                                         str(workdir / "nf")], 3)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        ctl.unlink(missing_ok=True)

    say()
    say("ratios and targets:")

    def target(label, value, goal, unit=""):
        if value is None:
            say(f"  {label:<44} n/a")
            return
        verdict = "PASS" if value >= goal else "MISS"
        say(f"  {label:<44} {value:8.2f}{unit}  (target >= {goal}{unit})  {verdict}")

    target("user engine Mpps", user, 10)
    if user and libpcap:
        target("user engine / bare libpcap loop", user / libpcap, 0.5)
    if user and softflowd:
        target("user engine / softflowd -r", user / softflowd, 5)
    if user and nfpcapd:
        target("user engine / nfpcapd -r", user / nfpcapd, 5)
    if user and tshark:
        say(f"  {'user engine / tshark -T fields':<44} {user / tshark:8.2f}")
    if user and kernel:
        say(f"  {'user engine / kernel engine':<44} {user / kernel:8.2f}  "
            "(the kernel engine pays a syscall per packet)")

    say()
    say("XDP program cost (BPF_PROG_TEST_RUN, repeat 2M, live mode, one flow):")
    if os.geteuid() == 0:
        for label, frame in frames().items():
            try:
                flow = xdp_cost_ns(BUILD / "flow.bpf.o", "flow", frame)
                empty = xdp_cost_ns(BUILD / "xdp_pass.bpf.o", "pass", frame)
                say(f"  {label:<16} flow program {flow:4d} ns, empty program {empty:4d} ns, "
                    f"flow metering costs {flow - empty:4d} ns per packet")
            except (subprocess.CalledProcessError, StopIteration, AttributeError) as e:
                say(f"  {label:<16} FAILED: {e}")
    else:
        say("  skipped: needs root")

    (OUT / "replay.txt").write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {OUT / 'replay.txt'}")


if __name__ == "__main__":
    sys.exit(main())
