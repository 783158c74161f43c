#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Checks a tracegen truth file against tshark's own reading of the trace.

The keys are re-derived from tshark's dissection with the meter's rules (outermost VLAN, L3
bytes, ICMP type*256+code in dst_port, ports 0 and the upper protocol on non-first fragments),
so a bug in tracegen's bookkeeping cannot hide behind the same bug here. Every key must match
exactly: packets, bytes, first_seen_ns and last_seen_ns. Exits 0 on an exact match.

    check_truth.py TRACE.pcap TRUTH.jsonl
"""
import ipaddress
import json
import subprocess
import sys

FIELDS = [
    "frame.time_epoch", "ieee8021ad.id", "vlan.id",
    "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.fraghdr.nxt", "ipv6.fraghdr.offset",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
]
TRUTH_KEYS = ["src_addr", "dst_addr", "src_port", "dst_port", "proto", "vlan",
              "packets", "bytes", "first_seen_ns", "last_seen_ns"]


def epoch_ns(text):
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def num(text):
    return int(text, 0) if text else 0


def packets(trace):
    cmd = ["tshark", "-r", trace, "-n", "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f"]
    for field in FIELDS:
        cmd += ["-e", field]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        for line in proc.stdout:
            yield dict(zip(FIELDS, line.rstrip("\n").split("\t")))
        if proc.wait():
            sys.exit("tshark failed")


def key_of(p):
    # the first 802.1ad tag is the outermost when present; else the first 802.1Q tag
    vlan = num(p["ieee8021ad.id"] or p["vlan.id"])
    if p["ip.src"]:
        src, dst = p["ip.src"], p["ip.dst"]
        proto, nbytes = num(p["ip.proto"]), num(p["ip.len"])
        nonfirst = num(p["ip.frag_offset"]) != 0
    else:
        src, dst = p["ipv6.src"], p["ipv6.dst"]
        proto, nbytes = num(p["ipv6.nxt"]), 40 + num(p["ipv6.plen"])
        nonfirst = False
        if proto == 44:
            proto = num(p["ipv6.fraghdr.nxt"])
            nonfirst = num(p["ipv6.fraghdr.offset"]) != 0
    sport = dport = 0
    if nonfirst:
        pass
    elif proto == 6:
        sport, dport = num(p["tcp.srcport"]), num(p["tcp.dstport"])
    elif proto == 17:
        sport, dport = num(p["udp.srcport"]), num(p["udp.dstport"])
    elif proto == 1:
        dport = num(p["icmp.type"]) * 256 + num(p["icmp.code"])
    elif proto == 58:
        dport = num(p["icmpv6.type"]) * 256 + num(p["icmpv6.code"])
    src = ipaddress.ip_address(src).compressed
    dst = ipaddress.ip_address(dst).compressed
    return (src, dst, sport, dport, proto, vlan), nbytes


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    trace, truth_path = sys.argv[1:]
    seen = {}
    count = 0
    for p in packets(trace):
        key, nbytes = key_of(p)
        ts = epoch_ns(p["frame.time_epoch"])
        f = seen.get(key)
        if f is None:
            seen[key] = [1, nbytes, ts, ts]
        else:
            f[0] += 1
            f[1] += nbytes
            f[2] = min(f[2], ts)
            f[3] = max(f[3], ts)
        count += 1

    errors = 0
    truth = {}
    with open(truth_path) as fh:
        for n, line in enumerate(fh, 1):
            rec = json.loads(line)
            if list(rec) != TRUTH_KEYS:
                print(f"line {n}: keys {list(rec)}")
                errors += 1
            for field in ("src_addr", "dst_addr"):
                if rec[field] != ipaddress.ip_address(rec[field]).compressed:
                    print(f"line {n}: {field} {rec[field]} is not RFC 5952 text")
                    errors += 1
            key = (rec["src_addr"], rec["dst_addr"], rec["src_port"], rec["dst_port"],
                   rec["proto"], rec["vlan"])
            if key in truth:
                print(f"line {n}: duplicate key {key}")
                errors += 1
            truth[key] = [rec["packets"], rec["bytes"], rec["first_seen_ns"], rec["last_seen_ns"]]

    for key in seen.keys() - truth.keys():
        print(f"in the trace, not in the truth: {key} {seen[key]}")
        errors += 1
    for key in truth.keys() - seen.keys():
        print(f"in the truth, not in the trace: {key} {truth[key]}")
        errors += 1
    for key in seen.keys() & truth.keys():
        if seen[key] != truth[key]:
            print(f"mismatch {key}: trace {seen[key]} truth {truth[key]}")
            errors += 1
        if errors > 50:
            break
    total = sum(v[0] for v in truth.values())
    print(f"{count} packets ({total} in the truth), {len(seen)} keys in the trace, "
          f"{len(truth)} in the truth: {'exact match' if not errors else f'{errors} errors'}")
    return 1 if errors or total != count else 0


if __name__ == "__main__":
    sys.exit(main())
