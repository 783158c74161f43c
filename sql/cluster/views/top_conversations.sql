-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top conversations, on a cluster: the same rows as sql/views/top_conversations.sql, in SQL
-- that ClickHouse 18.16 reads (docs/cluster-sql-notes.md), as top_talkers.sql. The collector
-- puts in the parts named in double braces (views/parts/) and the values of {from:UInt32},
-- {to:UInt32}, {agent:String}, {direction:String} and {limit:UInt32}, quoted.
SELECT src, dst, {{proto_name}} AS proto, sum(b) AS bytes, sum(pk) AS packets,
       count() AS records
FROM
(
    SELECT replaceRegexpOne(IPv6NumToString(src_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$',
                            '\\1') AS src,
           replaceRegexpOne(IPv6NumToString(dst_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$',
                            '\\1') AS dst,
           proto AS p, bytes * greatest(sampling, 1) AS b, packets * greatest(sampling, 1) AS pk
    FROM flows.raw
    WHERE intDiv(first_seen, 60000000000) * 60 >= {from:UInt32}
      AND intDiv(first_seen, 60000000000) * 60 < {to:UInt32}
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
)
GROUP BY src, dst, proto
ORDER BY bytes DESC, src, dst, proto
LIMIT {limit:UInt32}
