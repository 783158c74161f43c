-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Traffic per observation point: each agent's interfaces (ifindex on the agent's host, 0 for
-- a replayed trace) and directions, largest first, with the mean and the peak of the
-- bandwidth per minute in bits per second. The mean is over the minutes from the point's
-- first to its last minute with traffic in the range, quiet minutes counted as 0, as in
-- bandwidth_peak. Read from the per-interface rollup (sql/006_interfaces.sql).
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT agent, ifindex AS interface, direction, sum(b) AS bytes,
       sum(p) AS packets, sum(r) AS records,
       round(sum(b) * 8 / ((intDiv(toUInt32(max(minute)) - toUInt32(min(minute)), 60) + 1) * 60))
           AS mean_bits_per_second,
       round(max(b) * 8 / 60) AS peak_bits_per_second
FROM
(
    SELECT minute, agent, ifindex, direction, sum(bytes) AS b, sum(packets) AS p,
           sum(records) AS r
    FROM flows.interface_1m
    WHERE minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
      AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
    GROUP BY minute, agent, ifindex, direction
)
GROUP BY agent, ifindex, direction
ORDER BY bytes DESC, agent, interface, direction
LIMIT {limit:UInt32}
