#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make demo`, the main job on one machine: generate a MAWI-like trace of a few days, replay it
# with flowagent into flowcollector and the embedded ClickHouse, load geolocation, print the
# network views and write build/demo/report.html. The totals are checked against the
# generator's own; a mismatch fails the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=build/demo
store=$demo/flowdb
mkdir -p "$demo"
rm -rf "$store"
collector() { build/flowcollector --store "embedded:$store" "$@"; }

echo "== generating a 3-day MAWI-like trace (headers only, snaplen 96, gzip as MAWI publishes it)"
build/tracegen --packets 2000000 --days 3 --window 900 --seed 42 --output "$demo/trace.pcap" \
	--summary-json "$demo/truth.json"
gzip -1 -f "$demo/trace.pcap"
ls -l "$demo/trace.pcap.gz" | awk '{printf "   %s: %.1f MB\n", $9, $5 / 1e6}'

echo "== flowagent --replay $demo/trace.pcap.gz | flowcollector --input - --store embedded:$store"
build/flowagent --replay --no-progress "$demo/trace.pcap.gz" 2>"$demo/agent.log" |
	collector --input - --input-agent demo 2>"$demo/collector.log"
grep -E "^  (packets_read|records|elapsed) " "$demo/agent.log" | sed 's/^/   agent:    /'
grep -E "^  (rows_inserted|records_rejected|elapsed) " "$demo/collector.log" | sed 's/^/   collector:/'

echo "== loading geolocation: Tor's geoip and geoip6 (IPFire location database, CC BY-SA 4.0)"
collector geo load build/geo/geoip build/geo/geoip6 2>&1 | sed 's/^flowcollector: /   /'

for view in daily_bandwidth_by_proto daily_packets proto_share_bytes proto_share_packets \
	top_ports_bytes top_ports_packets top_regions_bytes top_regions_packets region_map; do
	echo "== $view"
	collector query "$view" | sed -n 's/^/   /; 1,16p'
done

echo "== report"
collector report --html "$demo/report.html" 2>&1 | sed 's/^flowcollector: /   /'

echo "== checking the stored totals against the generator's"
totals=$(collector sql "SELECT sum(packets), sum(bytes) FROM flows.raw")
python3 - "$demo/truth.json" "$totals" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
packets, nbytes = (int(x) for x in sys.argv[2].split())
ok = packets == truth["packets"] and nbytes == truth["bytes"]
print(f"   stored {packets} packets, {nbytes} bytes; generated {truth['packets']} packets, "
      f"{truth['bytes']} bytes: {'exact' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
PY
