-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Share of bytes per protocol, on a cluster: the same rows as sql/views/proto_share_bytes.sql, in
-- SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no parameterized views, SQL
-- functions or window functions. The collector puts in the parts named in double braces
-- (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted.
SELECT proto, bytes, round(100 * bytes / (SELECT sum(b) FROM
(
{{proto_range}}
)), 2) AS share_percent
FROM
(
    SELECT {{proto_name}} AS proto, sum(b) AS bytes
    FROM
    (
{{proto_range}}
    )
    GROUP BY proto
)
ORDER BY bytes DESC
