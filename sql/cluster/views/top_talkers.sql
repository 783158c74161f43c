-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top talkers, on a cluster: the same rows as sql/views/top_talkers.sql, in SQL that ClickHouse
-- 18.16 reads (docs/cluster-sql-notes.md): addresses are FixedString(16) and first_seen is
-- nanoseconds in flows.raw there. The collector puts in the values of {from:UInt32},
-- {to:UInt32}, {agent:String}, {direction:String} and {limit:UInt32}, quoted.
SELECT replaceRegexpOne(IPv6NumToString(src_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$', '\\1')
           AS address,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
WHERE intDiv(first_seen, 60000000000) * 60 >= {from:UInt32}
  AND intDiv(first_seen, 60000000000) * 60 < {to:UInt32}
  AND ({agent:String} = '' OR agent = {agent:String})
  AND ({direction:String} = '' OR toString(direction) = {direction:String})
GROUP BY address
ORDER BY bytes DESC, address
LIMIT {limit:UInt32}
