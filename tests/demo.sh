#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make demo`: generate a MAWI-like trace of a few days, replay it with flowagent, and print
# the top flows and the traffic mix. Output goes to build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=build/demo
mkdir -p "$demo"
echo "== generating a 3-day MAWI-like trace (headers only, snaplen 96, gzip as MAWI publishes it)"
build/tracegen --packets 2000000 --days 3 --window 900 --seed 42 --output "$demo/trace.pcap" \
	--truth "$demo/truth.json"
gzip -1 -f "$demo/trace.pcap"
ls -l "$demo/trace.pcap.gz" | awk '{printf "   %s: %.1f MB\n", $9, $5 / 1e6}'

echo "== replaying it: flowagent --replay $demo/trace.pcap.gz > $demo/flows.json"
build/flowagent --replay "$demo/trace.pcap.gz" > "$demo/flows.json"

echo "== top flows by bytes (records of one key summed)"
python3 - "$demo/flows.json" "$demo/truth.json" <<'PY'
import collections, json, sys
flows = collections.defaultdict(lambda: [0, 0, 0])
proto_bytes = collections.Counter()
records = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    records += 1
    k = (r["src_addr"], r["src_port"], r["dst_addr"], r["dst_port"], r["proto"], r["vlan"])
    flows[k][0] += r["packets"]; flows[k][1] += r["bytes"]; flows[k][2] += 1
    proto_bytes[{6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}.get(r["proto"], str(r["proto"]))] += r["bytes"]
names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}
print(f"   {'source':>41}   {'destination':<41} {'proto':>5} {'vlan':>4} {'packets':>8} {'bytes':>12} {'records':>7}")
for k, (p, b, n) in sorted(flows.items(), key=lambda kv: -kv[1][1])[:10]:
    print(f"   {k[0] + ':' + str(k[1]):>41} > {k[2] + ':' + str(k[3]):<41} {names.get(k[4], k[4]):>5} {k[5]:>4} {p:>8} {b:>12} {n:>7}")
total = sum(proto_bytes.values())
print("== traffic mix by bytes: " + ", ".join(f"{p} {100 * b / total:.1f}%" for p, b in proto_bytes.most_common()))
truth = {}
for line in open(sys.argv[2]):
    t = json.loads(line)
    truth[(t["src_addr"], t["src_port"], t["dst_addr"], t["dst_port"], t["proto"], t["vlan"])] = (t["packets"], t["bytes"])
exact = all(truth.get(k) == (v[0], v[1]) for k, v in flows.items()) and len(truth) == len(flows)
print(f"== {records} records for {len(flows)} flow keys; per-key totals equal the generator's truth: {'yes' if exact else 'NO'}")
sys.exit(0 if exact else 1)
PY
