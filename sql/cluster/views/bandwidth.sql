-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Bandwidth by protocol in bits per second, on a cluster: the same rows as
-- sql/views/bandwidth.sql, in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md). The
-- collector puts in the parts named in double braces (views/parts/) and the values of
-- {from:UInt32}, {to:UInt32}, {agent:String} and {direction:String}, quoted.
WITH {{bucket_seconds}} AS s
SELECT substring(toString(toDateTime(intDiv(toUInt32(minute), s) * s, 'UTC')), 1,
                 if(s = 86400, 10, 16)) AS time,
       {{proto_name}} AS proto, round(sum(bytes) * 8 / s) AS bits_per_second
FROM
(
    SELECT minute, proto AS p, bytes
    FROM flows.proto_1m
    WHERE toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
)
GROUP BY time, proto
ORDER BY time, bits_per_second DESC, proto
