-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Daily packet trend. {from} and {to} are Unix seconds, [from, to): whole days read the daily
-- rollup, any other range the per-minute one.
SELECT toString(day) AS day, sum(packets) AS packets, sum(bytes) AS bytes, sum(flows) AS flows
FROM
(
    SELECT day, packets, bytes, flows
    FROM flows.proto_1d
    WHERE {from} % 86400 = 0 AND {to} % 86400 = 0
      AND day >= toDate(toDateTime({from}, 'UTC')) AND day < toDate(toDateTime({to}, 'UTC'))
    UNION ALL
    SELECT toDate(minute) AS day, packets, bytes, flows
    FROM flows.proto_1m
    WHERE NOT ({from} % 86400 = 0 AND {to} % 86400 = 0)
      AND minute >= toDateTime({from}, 'UTC') AND minute < toDateTime({to}, 'UTC')
)
GROUP BY day
ORDER BY day
