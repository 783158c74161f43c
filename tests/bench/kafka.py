#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`, Kafka part: flow records/s from replay into a real local broker, side by side
with a minimal librdkafka producer sending the same pre-encoded messages (the ceiling).

Writes build/bench/kafka.txt and prints it. One broker (KRaft, from tests/kafka/broker.sh) on
loopback; each run gets a fresh single-partition topic. The agent's figure is the wall time of
the whole replay, reading and metering included, until the last batch is acknowledged. The
ceiling's is the time flowproduce takes for the same messages, so the ratio is the agent's
bytes/s over the ceiling's. Best of a few runs each; PASS or MISS against the issue's targets.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
OUT = BUILD / "bench"
FLOWAGENT = BUILD / "flowagent"
BROKER = ROOT / "tests" / "kafka" / "broker.sh"
RUNS = int(os.environ.get("BENCH_KAFKA_RUNS", "3"))
PACKETS = int(os.environ.get("BENCH_PACKETS", "6000000"))
TRACE = OUT / f"mawi-{PACKETS // 1000000}m.pcap"


def counters(stderr):
    values = {}
    for line in stderr.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values


def topic_log_bytes(data_dir, topic):
    return sum(f.stat().st_size for d in data_dir.glob(f"**/{topic}-*") if d.is_dir()
               for f in d.glob("*.log"))


def run_agent(bootstrap, topic, extra):
    t0 = time.perf_counter()
    proc = subprocess.run([str(FLOWAGENT), "--replay", "--no-progress", "--kafka", bootstrap,
                           "--topic", topic, "--agent-id", "bench", *extra, str(TRACE)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"flowagent failed: {proc.stderr[-1500:]}")
    c = counters(proc.stderr)
    if c["kafka_records_delivered"] != c["records"]:
        raise RuntimeError("not every record was delivered: " + proc.stderr[-1500:])
    return elapsed, c


def run_ceiling(bootstrap, topic, files):
    out = subprocess.run([str(BUILD / "flowproduce"), "-b", bootstrap, "-t", topic, "-k",
                          "bench", *files], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, check=True)
    fields = out.stdout.split()
    return float(fields[fields.index("seconds") + 1])


def scenario(say, bootstrap, broker_dir, work, name, extra):
    """The agent, then the ceiling with the very messages the agent sent; best of RUNS each.
    Each side writes to its own topic, created by an untimed first run: topic creation (about
    a second in librdkafka 2.0) is not what is measured."""
    agent_topic, ceiling_topic = f"{name}-agent", f"{name}-ceiling"
    run_agent(bootstrap, agent_topic, extra)
    best = None
    for _ in range(RUNS):
        elapsed, c = run_agent(bootstrap, agent_topic, extra)
        if best is None or elapsed < best[0]:
            best = (elapsed, c)
    elapsed, c = best
    records, payload = c["kafka_records_delivered"], c["kafka_bytes_delivered"]
    batches = c["kafka_batches_delivered"]

    # the first run's messages: the same bytes as every run's but for sequence numbers
    dump = work / f"{name}-messages"
    dump.mkdir()
    subprocess.run([str(BUILD / "flowconsume"), "-b", bootstrap, "-t", agent_topic, "-i",
                    "2000", "-n", str(records), "-D", str(dump)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, check=True, timeout=600)
    files = sorted(str(p) for p in dump.iterdir())
    if len(files) != batches:
        raise RuntimeError(f"dumped {len(files)} messages, expected {batches}")
    run_ceiling(bootstrap, ceiling_topic, files)
    ceiling = min(run_ceiling(bootstrap, ceiling_topic, files) for _ in range(RUNS))
    time.sleep(1)
    on_disk = topic_log_bytes(broker_dir, agent_topic)
    subprocess.run(["rm", "-rf", str(dump)])

    agent_rate, agent_bytes = records / elapsed, payload / elapsed
    ceiling_bytes = payload / ceiling
    say(f"  flowagent --replay {' '.join(extra + ['--kafka'])}: {records} records in {batches} "
        f"messages, {elapsed:.3f} s")
    say(f"    {agent_rate / 1e6:.2f} M records/s, {agent_bytes / 1e6:.0f} MB/s of messages")
    say(f"    message size {payload / batches / 1024:.0f} KiB ({payload / records:.1f} bytes a "
        f"record); lz4 on the broker's disk "
        + (f"{payload * (RUNS + 1) / on_disk:.2f}x" if on_disk else "not read"))
    say(f"  ceiling, flowproduce with the same {batches} messages pre-encoded: {ceiling:.3f} s, "
        f"{ceiling_bytes / 1e6:.0f} MB/s ({records / ceiling / 1e6:.2f} M records/s)")
    ratio = agent_bytes / ceiling_bytes
    say(f"  target >= 1.0 M records/s: {agent_rate / 1e6:.2f} "
        f"{'PASS' if agent_rate >= 1e6 else 'MISS'}")
    say(f"  target >= 0.8 of the ceiling's bytes/s: {ratio:.2f} "
        f"{'PASS' if ratio >= 0.8 else 'MISS'}")


def spool_bench(say):
    """The spool's power-loss safety, measured with spool_put itself on the build disk."""
    say("3. the spool (--spool-dir) on the build directory's disk: what fsync costs")
    for size, count in ((64 << 10, 300), (1 << 20, 100)):
        work = OUT / "spool-bench"
        out = subprocess.run([str(BUILD / "spool_bench"), str(work), str(size), str(count)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        subprocess.run(["rm", "-rf", str(work)])
        for line in (out.stdout.splitlines() if out.returncode == 0 else
                     [f"spool_bench failed: {out.stderr.strip()}"]):
            say("  " + line)


def main():
    if not TRACE.exists():
        print(f"kafka bench: {TRACE} is missing; tests/bench/bench.py makes it", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    work = pathlib.Path(tempfile.mkdtemp(prefix="flowagent-kafka-bench-"))
    broker_dir = work / "broker"
    # Kafka's own production JVM settings, not the tests' fast-start ones
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xms1g -Xmx1g",
               KAFKA_JVM_OPTS="-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true")
    start = subprocess.run([str(BROKER), "start", str(broker_dir)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    if start.returncode != 0:
        print(f"kafka bench: the broker did not start:\n{start.stderr}", file=sys.stderr)
        return 1
    bootstrap = start.stdout.strip()
    try:
        say(f"Kafka export: {TRACE.name} replayed into one local broker (KRaft, Kafka 4.3.1, "
            f"{bootstrap}), lz4, idempotent producer, acks=all, best of {RUNS}")
        say(f"machine: {os.cpu_count()} CPUs shared by the agent and the broker's JVM; each run "
            "to a topic created beforehand")
        say()
        say("1. the MAWI-like trace, default timeouts: metering-bound (the replay alone takes "
            "most of the time)")
        scenario(say, bootstrap, broker_dir, work, "mawi", [])
        say()
        say("2. the same trace with --idle-timeout 0.000001: nearly every packet its own "
            "record, export-bound")
        scenario(say, bootstrap, broker_dir, work, "perpacket", ["--idle-timeout", "0.000001"])
        say()
        spool_bench(say)
    finally:
        subprocess.run([str(BROKER), "stop", str(broker_dir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(work)])
    (OUT / "kafka.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
