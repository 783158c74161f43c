-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Traffic per agent, interface and direction, on a cluster: the same rows as
-- sql/views/interfaces.sql, in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md).
-- The collector puts in the values of {from:UInt32}, {to:UInt32}, {agent:String},
-- {direction:String} and {limit:UInt32}, quoted.
SELECT agent, ifindex AS interface, direction, sum(b) AS bytes, sum(p) AS packets,
       sum(r) AS records,
       round(sum(b) * 8 / ((intDiv(toUInt32(max(minute)) - toUInt32(min(minute)), 60) + 1) * 60))
           AS mean_bits_per_second,
       round(max(b) * 8 / 60) AS peak_bits_per_second
FROM
(
    SELECT minute, agent, ifindex, direction, sum(bytes) AS b, sum(packets) AS p,
           sum(records) AS r
    FROM flows.interface_1m
    WHERE toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
    GROUP BY minute, agent, ifindex, direction
)
GROUP BY agent, ifindex, direction
ORDER BY bytes DESC, agent, interface, direction
LIMIT {limit:UInt32}
