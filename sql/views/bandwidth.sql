-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Bandwidth by L4 protocol in bits per second: the mean of each bucket, a minute for ranges up
-- to 6 hours, an hour up to 8 days, else a day (flowBucketSeconds in sql/004_views.sql). A
-- bucket without traffic has no row; rounded to whole bits per second. Read from the
-- per-minute rollup, whatever the range.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all.
WITH flowBucketSeconds({from:UInt32}, {to:UInt32}) AS s
SELECT substring(toString(toDateTime(intDiv(toUInt32(minute), s) * s, 'UTC')), 1,
                 if(s = 86400, 10, 16)) AS time,
       flowProtoName(proto) AS proto, round(sum(bytes) * 8 / s) AS bits_per_second
FROM flows.proto_1m
WHERE minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
GROUP BY time, proto
ORDER BY time, bits_per_second DESC, proto
