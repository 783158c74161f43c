-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Packets, bytes and records per day, on a cluster: the same rows as sql/views/daily_packets.sql,
-- in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no parameterized views, SQL
-- functions or window functions. The collector puts in the parts named in double braces
-- (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted.
SELECT toString(day) AS day, sum(pk) AS packets, sum(b) AS bytes, sum(n) AS records
FROM
(
{{proto_range}}
)
GROUP BY day
ORDER BY day
