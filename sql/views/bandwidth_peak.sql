-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Peak, 95th percentile and mean of the bandwidth per minute, in bits per second, over the
-- minutes from the first to the last with traffic in the range, quiet minutes counted as 0,
-- rounded to whole bits per second.
-- The 95th percentile as transit is billed: the minutes sorted, the top 5% (rounded down)
-- left out, the next one's rate.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all.
SELECT statistic, round(bps) AS bits_per_second
FROM
(
    SELECT intDiv(toUInt32(max(minute)) - toUInt32(min(minute)), 60) + 1 AS minutes,
           arrayReverseSort(groupArray(v)) AS sorted
    FROM
    (
        SELECT minute, sum(bytes) * 8 / 60 AS v
        FROM flows.proto_1m
        WHERE minute >= toDateTime({from:UInt32}, 'UTC')
          AND minute < toDateTime({to:UInt32}, 'UTC')
          AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
        GROUP BY minute
    )
)
ARRAY JOIN ['peak', '95th percentile', 'mean'] AS statistic,
           [sorted[1], sorted[intDiv(minutes, 20) + 1], arraySum(sorted) / minutes]
           AS bps
WHERE length(sorted) > 0
