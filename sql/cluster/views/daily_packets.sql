-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Packets, bytes and records per day, on a cluster: the same rows as sql/views/daily_packets.sql, in SQL ClickHouse 18.16
-- reads (no parameterized views, SQL functions or window functions; the collector puts the
-- values of {from:UInt32}, {to:UInt32}, {agent:String} and {direction:String} in,
-- quoted). Whole days read the daily rollup, any other range the per-minute one, over the
-- Distributed tables. Days and minutes are compared as numbers: 18.16's toDateTime() gives
-- 1970 for times past 2105, such as the default end of a range.
SELECT toString(day) AS day, sum(pk) AS packets, sum(b) AS bytes, sum(n) AS records
FROM
(
    SELECT day, proto AS p, bytes AS b, packets AS pk, records AS n
    FROM flows.proto_1d
    WHERE {from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0
      AND toUInt32(day) >= intDiv({from:UInt32}, 86400)
      AND toUInt32(day) < intDiv({to:UInt32}, 86400)
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
    UNION ALL
    SELECT toDate(minute) AS day, proto AS p, bytes AS b, packets AS pk, records AS n
    FROM flows.proto_1m
    WHERE NOT ({from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0)
      AND toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
)
GROUP BY day
ORDER BY day
