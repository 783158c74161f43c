-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Share of packets per protocol, on a cluster: the same rows as sql/views/proto_share_packets.sql,
-- in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no parameterized views, SQL
-- functions or window functions. The collector puts in the parts named in double braces
-- (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted.
SELECT proto, packets, round(100 * packets / (SELECT sum(pk) FROM
(
{{proto_range}}
)), 2) AS share_percent
FROM
(
    SELECT {{proto_name}} AS proto, sum(pk) AS packets
    FROM
    (
{{proto_range}}
    )
    GROUP BY proto
)
ORDER BY packets DESC
