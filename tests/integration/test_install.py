# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make install DESTDIR=... PREFIX=/usr` and the systemd units it installs.

Cases:
- test_layout: exactly the files the install layout names (docs/deployment.md), the units
  with the installed paths, man pages for both programs.
- test_pipeline_without_path_options: the installed agent and collector, run from an
  unrelated directory with neither --sql-dir nor --libchdb, replay a capture from
  /work/shared/pcaps and a generated trace, load geolocation and answer every view exactly
  as the source tree's programs do; the stored totals are the agent's.
- test_lookup_is_what_finds_them: without the installed sql/ (or libchdb) the same
  installed collector fails, so the executable-relative lookup is what found them.
- test_uninstall: `make uninstall` leaves nothing but a changed configuration file.
- test_units_verify: `systemd-analyze verify --man=no` prints nothing for either unit (and
  does print for a copy with a misspelled key, so the check can fail).
- test_units_security: `systemd-analyze security --offline=yes` exposure at most
  SECURITY_MAX for each unit.
- test_agent_syscalls_fit_the_unit / test_collector_syscalls_fit_the_unit: the live agent
  (with exactly its three capabilities, as nobody) and the collector (ingest, views, report)
  under strace make only system calls the unit's SystemCallFilter allows, open sockets only
  of its RestrictAddressFamilies, never map memory writable and executable
  (MemoryDenyWriteExecute) (the agent; libchdb's JIT needs such mappings), and the agent
  reads /proc/meminfo (hence no ProcSubset=pid).
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, FLOWAGENT, PCAPS, ROOT, TRACEGEN, is_root, needs_shared

FLOWCOLLECTOR = os.environ.get("FLOWCOLLECTOR", str(BUILD / "flowcollector"))
UNITS = ("flowagent@.service", "flowcollector.service")
ENVS = ("flowagent.env", "flowcollector.env")
# The exposure levels measured with systemd 252 are 1.7 (agent) and 1.1 (collector); a unit
# that loses a protection scores above these.
SECURITY_MAX = {"flowagent@.service": 2.0, "flowcollector.service": 1.5}
CAPTURE = PCAPS / "real" / "ndpi-bot.pcap"


def run(cmd, check=True, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, **kw)
    if check:
        assert proc.returncode == 0, f"{cmd}: {proc.stderr[-3000:]!r}"
    return proc


def make_install(destdir, *targets):
    return run(["make", "-s", "-C", ROOT, *targets, f"DESTDIR={destdir}", "PREFIX=/usr"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("install") / "root"
    make_install(dest, "install")
    return dest


def sql_files():
    out = run(["git", "-C", ROOT, "ls-files", "sql"], text=True).stdout.split()
    assert len(out) > 20
    return out


def test_layout(installed):
    files = sorted(str(p.relative_to(installed)) for p in installed.rglob("*")
                   if p.is_file() or p.is_symlink())
    expected = sorted(["usr/bin/flowagent", "usr/bin/flowcollector",
                       "usr/lib/flowagent/chdb/libchdb.so",
                       "usr/share/man/man8/flowagent.8", "usr/share/man/man8/flowcollector.8",
                       "usr/share/doc/flowagent/deployment.md"]
                      + [f"usr/share/flowagent/{f}" for f in sql_files()]
                      + [f"usr/lib/systemd/system/{u}" for u in UNITS]
                      + [f"etc/flowagent/{e}" for e in ENVS]
                      + [f"usr/share/doc/flowagent/{e}" for e in ENVS])
    assert files == expected
    for f in sql_files():
        assert (installed / "usr/share/flowagent" / f).read_bytes() == (ROOT / f).read_bytes()
    assert os.access(installed / "usr/bin/flowagent", os.X_OK)
    agent = (installed / "usr/lib/systemd/system/flowagent@.service").read_text()
    assert "ExecStart=/usr/bin/flowagent $AGENT_OPTIONS %i\n" in agent
    assert "EnvironmentFile=-/etc/flowagent/flowagent.env\n" in agent
    assert "@BINDIR@" not in agent and "@SYSCONFDIR@" not in agent
    collector = (installed / "usr/lib/systemd/system/flowcollector.service").read_text()
    assert "ExecStart=/usr/bin/flowcollector $COLLECTOR_OPTIONS\n" in collector
    assert "@BINDIR@" not in collector and "@SYSCONFDIR@" not in collector
    for prog in ("flowagent", "flowcollector"):
        page = (installed / f"usr/share/man/man8/{prog}.8").read_text()
        assert f'.TH {prog.upper()} "8"' in page, page[:300]
        assert "\\-\\-help" in page or "EXAMPLES" in page


def collector(binary, store, *args, cwd, input=None, env=None):
    return run([binary, "--store", f"embedded:{store}", *args], input=input, cwd=cwd, env=env)


def pipeline(agent, flowcollector, work, inputs, geo):
    """Replay, ingest, geo load, every view and the report; returns what a comparison needs."""
    work.mkdir()
    store = work / "flowdb"
    # nothing in the environment or the working directory that points at the source tree
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWCOLLECTOR")}
    records = b""
    for f in inputs:
        records += run([agent, "--replay", "--no-progress", f], cwd=work, env=env).stdout
    ingest = collector(flowcollector, store, "--input", "-", "--input-agent", "install",
                       cwd=work, input=records, env=env)
    assert b"rows_inserted" in ingest.stderr
    collector(flowcollector, store, "geo", "load", geo, cwd=work, env=env)
    names = [line.split()[0] for line in
             collector(flowcollector, store, "query", "list", cwd=work, env=env)
             .stdout.decode().splitlines()]
    views = {n: collector(flowcollector, store, "query", n, "--tsv", cwd=work, env=env).stdout
             for n in names}
    collector(flowcollector, store, "report", "--html", work / "report.html", cwd=work, env=env)
    totals = collector(flowcollector, store, "sql",
                       "SELECT count(), sum(packets), sum(bytes) FROM flows.raw", cwd=work,
                       env=env).stdout.decode().split()
    return records, views, [int(t) for t in totals], (work / "report.html").stat().st_size


def geo_csv(path):
    """tracegen's region plan as a DB-IP lite CSV (start,end,country)."""
    import ipaddress
    plan = run([TRACEGEN, "--list-regions"], text=True).stdout.splitlines()[1:]
    with open(path, "w") as out:
        for line in plan:
            prefix, code, _ = line.split(",", 2)
            net = ipaddress.ip_network(prefix)
            out.write(f"{net[0]},{net[-1]},{code}\n")


@needs_shared
def test_pipeline_without_path_options(installed, tmp_path):
    trace = tmp_path / "trace.pcap"
    run([TRACEGEN, "--packets", "100000", "--days", "2", "--window", "300", "--seed", "11",
         "--output", trace, "--quiet"])
    geo = tmp_path / "regions.csv"
    geo_csv(geo)
    inputs = [CAPTURE, trace]
    tree = pipeline(FLOWAGENT, FLOWCOLLECTOR, tmp_path / "tree", inputs, geo)
    inst = pipeline(installed / "usr/bin/flowagent", installed / "usr/bin/flowcollector",
                    tmp_path / "installed", inputs, geo)
    records, views, totals, report_size = inst
    assert records == tree[0]
    assert len(views) == 13 and views == tree[1]
    lines = [json.loads(r) for r in records.splitlines()]
    assert totals == [len(lines), sum(r["packets"] for r in lines),
                      sum(r["bytes"] for r in lines)]
    assert totals == tree[2]
    assert report_size == tree[3]
    # every view has rows: the geolocation and the schema were found
    assert all(len(v.splitlines()) > 1 for v in views.values()), views


def test_lookup_is_what_finds_them(installed, tmp_path):
    # a copy of the installed tree (hard links), less the schema, then less libchdb
    copy = tmp_path / "copy"
    run(["cp", "-al", installed, copy])
    binary = copy / "usr/bin/flowcollector"
    ok = collector(binary, tmp_path / "a", "migrate", cwd=tmp_path)
    assert ok.returncode == 0
    shutil.rmtree(copy / "usr/share/flowagent/sql")
    proc = run([binary, "--store", f"embedded:{tmp_path / 'b'}", "migrate"], check=False,
               cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert b"schema directory sql:" in proc.stderr, proc.stderr
    os.unlink(copy / "usr/lib/flowagent/chdb/libchdb.so")
    proc = run([binary, "--store", f"embedded:{tmp_path / 'c'}", "--sql-dir", ROOT / "sql",
                "migrate"], check=False, cwd=tmp_path,
               env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    assert proc.returncode == 1, proc.stderr
    assert b"libchdb.so" in proc.stderr, proc.stderr


def test_uninstall(tmp_path):
    dest = tmp_path / "root"
    make_install(dest, "install")
    changed = dest / "etc/flowagent/flowcollector.env"
    changed.write_text(changed.read_text() + "COLLECTOR_OPTIONS=--kafka 10.0.0.1:9092\n")
    make_install(dest, "uninstall")
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir())
    assert left == ["etc/flowagent/flowcollector.env"]


def unit_copies(installed, out):
    """The installed units as verify and security read them: the agent as an instance (lo),
    and the programs' paths under DESTDIR."""
    out.mkdir(exist_ok=True)
    copies = {}
    for unit in UNITS:
        text = (installed / "usr/lib/systemd/system" / unit).read_text()
        text = text.replace("ExecStart=/usr/bin/", f"ExecStart={installed}/usr/bin/")
        text = text.replace("EnvironmentFile=-/etc/", f"EnvironmentFile=-{installed}/etc/")
        name = unit.replace("@.", "@lo.")
        (out / name).write_text(text)
        copies[unit] = out / name
    return copies


def verify(path):
    proc = run(["systemd-analyze", "verify", "--man=no", path], check=False, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_units_verify(installed, tmp_path):
    copies = unit_copies(installed, tmp_path / "units")
    for unit, path in copies.items():
        assert verify(path) == (0, ""), unit
    # the check can fail: a misspelled key is only a warning, but it is output
    bad = tmp_path / "bad" / copies["flowagent@.service"].name
    bad.parent.mkdir()
    bad.write_text(copies["flowagent@.service"].read_text()
                   .replace("ProtectHome=", "ProtectHomes="))
    rc, out = verify(bad)
    assert "Unknown key 'ProtectHomes'" in out


def exposure(path):
    proc = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", path],
               check=False, text=True)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return float(m.group(1)), proc.stdout


def test_units_security(installed, tmp_path):
    copies = unit_copies(installed, tmp_path / "units")
    for unit, path in copies.items():
        level, report = exposure(path)
        assert level <= SECURITY_MAX[unit], f"{unit}: {level}\n{report}"
    # the measure can fail: without its sandbox the agent's unit scores far higher
    loose = tmp_path / "loose" / copies["flowagent@.service"].name
    loose.parent.mkdir()
    text = copies["flowagent@.service"].read_text()
    loose.write_text("\n".join(line for line in text.splitlines()
                               if not line.startswith(("Protect", "Private", "Restrict",
                                                       "SystemCall"))) + "\n")
    assert exposure(loose)[0] > SECURITY_MAX["flowagent@.service"] + 2


# --- the sandbox, against what the programs really do ----------------------------------------
def syscall_groups():
    """systemd's named system call sets, expanded."""
    out = run(["systemd-analyze", "syscall-filter", "--no-pager"], text=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.add(line.strip())

    def expand(name):
        if not name.startswith("@"):
            return {name}
        result = set()
        for entry in groups[name]:
            result |= expand(entry)
        return result

    return expand


def unit_sandbox(installed, unit):
    """(allowed system calls, allowed address families, MemoryDenyWriteExecute) of a unit."""
    expand = syscall_groups()
    allowed, families, mdwe = None, set(), False
    for line in (installed / "usr/lib/systemd/system" / unit).read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "SystemCallFilter":
            deny = value.startswith("~")
            names = set().union(*(expand(n) for n in value.lstrip("~").split()))
            if allowed is None:
                assert not deny
                allowed = names
            elif deny:
                allowed -= names
            else:
                allowed |= names
        elif key == "RestrictAddressFamilies":
            families = set(value.split())
        elif key == "MemoryDenyWriteExecute":
            mdwe = value == "yes"
    return allowed, families, mdwe


def strace_findings(log, program):
    """(system calls, socket families, W+X mappings, /proc paths) in an strace -f log, from
    the exec of program on (setpriv's own calls before it are not the program's)."""
    calls, families, wx, procfs = set(), set(), [], set()
    started = False
    for line in open(log):
        m = re.match(r"(?:\d+\s+)?(\w+)\((.*)", line)
        if not m:
            continue
        name, args = m.groups()
        if not started:
            started = name == "execve" and f'"{program}"' in args
            if not started:
                continue
        calls.add(name)
        if name == "socket":
            families.add(args.split(",")[0])
        if (name == "mmap" and "PROT_WRITE" in args and "PROT_EXEC" in args) or \
           (name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in args):
            wx.append(line.strip())
        if name in ("openat", "open", "statx", "newfstatat", "access", "faccessat2",
                    "readlink", "readlinkat"):
            for path in re.findall(r'"(/proc/[^"]*)"', args):
                if not re.match(r"/proc/(self|thread-self|\d+)(/|$)", path):
                    procfs.add(path)
    assert started, f"no execve of {program} in {log}"
    return calls, families, wx, procfs


needs_root = pytest.mark.skipif(not is_root(), reason="a live capture needs root")
needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="no strace")


@needs_root
@needs_strace
def test_agent_syscalls_fit_the_unit(installed, tmp_path):
    from test_least_privilege import AS_NOBODY, ping
    from test_live import Agent, Pair
    agent_binary = str(installed / "usr/bin/flowagent")
    log = tmp_path / "strace.log"
    pair = Pair()
    try:
        agent = Agent(pair, "vb", binary=agent_binary,
                      prefix=("strace", "-f", "-qq", "-o", str(log), *AS_NOBODY))
        ping(pair)
        # the agent is strace's child (setpriv execs it): stop it, not strace
        children = open(f"/proc/{agent.proc.pid}/task/{agent.proc.pid}/children").read()
        os.kill(int(children.split()[0]), 15)
        rc, records, _ = agent.stop(sig=0)
    finally:
        pair.close()
    assert rc == 0
    assert sum(r["packets"] for r in records if r["proto"] == 1) == 6
    calls, families, wx, procfs = strace_findings(log, agent_binary)
    allowed, allowed_families, mdwe = unit_sandbox(installed, "flowagent@.service")
    assert "bpf" in calls
    assert calls - allowed == set()
    assert families - allowed_families == set()
    assert mdwe and wx == []
    # the map budget reads MemAvailable, which is why the unit has no ProcSubset=pid
    assert "/proc/meminfo" in procfs
    assert "ProcSubset=" not in (installed / "usr/lib/systemd/system/flowagent@.service") \
        .read_text().replace("No ProcSubset=", "")


@needs_shared
@needs_strace
def test_collector_syscalls_fit_the_unit(installed, tmp_path):
    binary = str(installed / "usr/bin/flowcollector")
    records = run([FLOWAGENT, "--replay", "--no-progress", CAPTURE]).stdout
    (tmp_path / "flows.json").write_bytes(records)
    log = tmp_path / "strace.log"
    store = tmp_path / "flowdb"
    for i, args in enumerate((["--input", "flows.json", "--input-agent", "t"],
                              ["query", "top_ports_bytes"],
                              ["report", "--html", "report.html"])):
        run(["strace", "-f", "-qq", "-o", f"{log}.{i}", binary, "--store", f"embedded:{store}",
             *args], cwd=tmp_path)
    allowed, allowed_families, mdwe = unit_sandbox(installed, "flowcollector.service")
    for i in range(3):
        calls, families, wx, _ = strace_findings(f"{log}.{i}", binary)
        assert calls - allowed == set(), i
        assert families - allowed_families == set(), i
        if mdwe:
            assert wx == [], i
