-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top talkers: the source addresses that sent the most bytes, IPv4 written as a.b.c.d. Read
-- from flows.raw (the rollups keep no addresses), so it scans the raw rows of the range; a
-- record counts in the minute of its first packet, as in the rollups.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT replaceRegexpOne(IPv6NumToString(src_addr), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$', '\\1')
           AS address,
       sum(bytes * greatest(sampling, 1)) AS bytes,
       sum(packets * greatest(sampling, 1)) AS packets, count() AS records
FROM flows.raw
WHERE intDiv(toUnixTimestamp(first_seen), 60) * 60 >= {from:UInt32}
  AND intDiv(toUnixTimestamp(first_seen), 60) * 60 < {to:UInt32}
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
GROUP BY address
ORDER BY bytes DESC, address
LIMIT {limit:UInt32}
