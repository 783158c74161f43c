-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top service ports by packets, on a cluster: the same rows as sql/views/top_ports_packets.sql, in
-- SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no parameterized views, SQL
-- functions or window functions. The collector puts in the parts named in double braces
-- (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT {{proto_name}} AS proto, port, sum(b) AS bytes, sum(pk) AS packets
FROM
(
{{port_range}}
)
GROUP BY proto, port
ORDER BY packets DESC, proto, port
LIMIT {limit:UInt32}
