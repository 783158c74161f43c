-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Daily bandwidth by L4 protocol. {from} and {to} are Unix seconds, [from, to): whole days read the daily
-- rollup, any other range the per-minute one.
SELECT toString(day) AS day, multiIf(proto = 6, 'TCP', proto = 17, 'UDP', proto = 1, 'ICMP', proto = 58, 'ICMPv6', proto = 132, 'SCTP', proto = 136, 'UDP-Lite', concat('IP ', toString(proto))) AS proto, sum(bytes) AS bytes, sum(packets) AS packets
FROM
(
    SELECT day, proto, bytes, packets
    FROM flows.proto_1d
    WHERE {from} % 86400 = 0 AND {to} % 86400 = 0
      AND day >= toDate(toDateTime({from}, 'UTC')) AND day < toDate(toDateTime({to}, 'UTC'))
    UNION ALL
    SELECT toDate(minute) AS day, proto, bytes, packets
    FROM flows.proto_1m
    WHERE NOT ({from} % 86400 = 0 AND {to} % 86400 = 0)
      AND minute >= toDateTime({from}, 'UTC') AND minute < toDateTime({to}, 'UTC')
)
GROUP BY day, proto
ORDER BY day, bytes DESC
