# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What /proc says of a process the tests started: its capabilities and flags, and the BPF
links it holds (the fdinfo of its link files, which names each link's type, id, program and
interface)."""
import glob
import os


def proc_status(pid):
    """The Cap* (as numbers), NoNewPrivs, Uid (the real one) and Seccomp lines of
    /proc/PID/status."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                fields[key] = int(value, 16)
            elif key in ("NoNewPrivs", "Uid", "Seccomp"):
                fields[key] = value.split()[0]
    return fields


def link_fdinfos(pid="[0-9]*"):
    """The fdinfo fields of every BPF link file the process holds (every process's, by
    default); files or processes that go away meanwhile are skipped."""
    for path in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            with open(path) as f:
                info = {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
        except OSError:
            continue
        if "link_id" in info:
            yield info


def bpf_links(pid):
    """The process's BPF links by type ("xdp", "tcx"): their ids."""
    return {info["link_type"]: int(info["link_id"]) for info in link_fdinfos(pid)}
