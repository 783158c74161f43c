-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- L4 protocol share by packets. {from} and {to} are Unix seconds, [from, to): whole days read the daily
-- rollup, any other range the per-minute one.
SELECT multiIf(proto = 6, 'TCP', proto = 17, 'UDP', proto = 1, 'ICMP', proto = 58, 'ICMPv6', proto = 132, 'SCTP', proto = 136, 'UDP-Lite', concat('IP ', toString(proto))) AS proto, sum(packets) AS packets,
       round(100 * packets / sum(packets) OVER (), 2) AS share_percent
FROM
(
    SELECT proto, packets
    FROM flows.proto_1d
    WHERE {from} % 86400 = 0 AND {to} % 86400 = 0
      AND day >= toDate(toDateTime({from}, 'UTC')) AND day < toDate(toDateTime({to}, 'UTC'))
    UNION ALL
    SELECT proto, packets
    FROM flows.proto_1m
    WHERE NOT ({from} % 86400 = 0 AND {to} % 86400 = 0)
      AND minute >= toDateTime({from}, 'UTC') AND minute < toDateTime({to}, 'UTC')
)
GROUP BY proto
ORDER BY packets DESC
