-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top conversations: source, destination and protocol by bytes, one direction each (a reply
-- is its own row). Read from flows.raw, as top_talkers.sql.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT replaceRegexpOne(IPv6NumToString(src_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$', '\\1')
           AS src,
       replaceRegexpOne(IPv6NumToString(dst_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$', '\\1')
           AS dst,
       flowProtoName(proto) AS proto,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
WHERE intDiv(toUnixTimestamp(first_seen), 60) * 60 >= {from:UInt32}
  AND intDiv(toUnixTimestamp(first_seen), 60) * 60 < {to:UInt32}
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
GROUP BY src, dst, proto
ORDER BY bytes DESC, src, dst, proto
LIMIT {limit:UInt32}
