#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The agent's seccomp profile (helm/flowagent/files/seccomp-flowagent.json), derived from Debian's default
container profile (/usr/share/containers/seccomp.json, package golang-github-containers-common).

The default allows bpf(2) and perf_event_open(2) only to a container holding CAP_SYS_ADMIN,
the capability the agent is meant to run without. This profile takes both out of that rule
and allows them with the capability the kernel itself checks since Linux 5.8: bpf with
CAP_BPF, perf_event_open with CAP_PERFMON, and still with CAP_SYS_ADMIN, which the kernel
also accepts. Without either, they fail with EPERM as in the default. Every other rule is the
default's, unchanged and in its order. Exactly one of the three rules of a system call applies
to any set of capabilities (includes: all of them held; excludes: none of them held), so the
runtime never meets two rules with different actions for one call.

  deploy/seccomp/generate.py [SOURCE] > helm/flowagent/files/seccomp-flowagent.json

tests/integration/test_image.py regenerates it from the machine's default and requires the
same bytes, so a changed default shows up as a failing test, not as a drifted copy.
"""
import copy
import json
import sys

DEFAULT = "/usr/share/containers/seccomp.json"
# system call -> the capability that allows it besides CAP_SYS_ADMIN
SPLIT = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}


def fail(msg):
    print(f"generate.py: {msg}", file=sys.stderr)
    sys.exit(3)


def caps(rule, side):
    return (rule.get(side) or {}).get("caps") or []


def derive(profile, source):
    out = copy.deepcopy(profile)
    rules = out.get("syscalls")
    if not isinstance(rules, list):
        fail(f"{source}: no \"syscalls\" list")
    # the default's CAP_SYS_ADMIN pair: the ALLOW with includes, the ERRNO with excludes
    allow = [i for i, r in enumerate(rules) if set(SPLIT) <= set(r.get("names", [])) and
             r.get("action") == "SCMP_ACT_ALLOW" and caps(r, "includes") == ["CAP_SYS_ADMIN"]]
    deny = [i for i, r in enumerate(rules) if set(SPLIT) <= set(r.get("names", [])) and
            r.get("action") == "SCMP_ACT_ERRNO" and caps(r, "excludes") == ["CAP_SYS_ADMIN"]]
    if len(allow) != 1 or len(deny) != 1:
        fail(f"{source}: expected one rule allowing bpf and perf_event_open with CAP_SYS_ADMIN "
             f"and one refusing them without it; found {len(allow)} and {len(deny)}")
    others = [i for i, r in enumerate(rules) if set(SPLIT) & set(r.get("names", []))
              and i not in allow + deny]
    if others:
        fail(f"{source}: bpf or perf_event_open also in rules {others}; "
             "this derivation does not know what they mean")
    errno = {k: rules[deny[0]][k] for k in ("errnoRet", "errno") if k in rules[deny[0]]}
    for i in allow + deny:
        rules[i]["names"] = [n for n in rules[i]["names"] if n not in SPLIT]
    added = []
    for name, cap in SPLIT.items():
        added += [
            {"names": [name], "action": "SCMP_ACT_ALLOW", "args": [],
             "comment": f"flowagent: {name} with {cap}", "includes": {"caps": [cap]},
             "excludes": {}},
            {"names": [name], "action": "SCMP_ACT_ALLOW", "args": [],
             "comment": f"flowagent: {name} with CAP_SYS_ADMIN, as in the default",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}, "excludes": {"caps": [cap]}},
            {"names": [name], "action": "SCMP_ACT_ERRNO", "args": [],
             "comment": f"flowagent: {name} without {cap} or CAP_SYS_ADMIN",
             "includes": {}, "excludes": {"caps": ["CAP_SYS_ADMIN", cap]}, **errno},
        ]
    at = max(allow + deny) + 1
    rules[at:at] = added
    return out


def main():
    if len(sys.argv) > 2:
        print("usage: generate.py [SOURCE]  (default " + DEFAULT + ")", file=sys.stderr)
        sys.exit(2)
    source = sys.argv[1] if len(sys.argv) == 2 else DEFAULT
    try:
        with open(source) as f:
            profile = json.load(f)
    except OSError as e:
        fail(f"cannot read {source}: {e.strerror}")
    except json.JSONDecodeError as e:
        fail(f"{source}: not JSON: {e}")
    sys.stdout.write(json.dumps(derive(profile, source), indent="\t") + "\n")


if __name__ == "__main__":
    main()
