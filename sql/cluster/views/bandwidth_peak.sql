-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Peak, 95th percentile and mean bandwidth per minute, on a cluster: the same rows as
-- sql/views/bandwidth_peak.sql, in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md).
-- The collector puts in the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted.
SELECT statistic, round(bps) AS bits_per_second
FROM
(
    SELECT intDiv(toUInt32(max(minute)) - toUInt32(min(minute)), 60) + 1 AS minutes,
           arrayReverseSort(groupArray(v)) AS sorted
    FROM
    (
        SELECT minute, sum(bytes) * 8 / 60 AS v
        FROM flows.proto_1m
        WHERE toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
          AND ({agent:String} = '' OR agent = {agent:String})
          AND ({direction:String} = '' OR toString(direction) = {direction:String})
        GROUP BY minute
    )
)
ARRAY JOIN ['peak', '95th percentile', 'mean'] AS statistic,
           [sorted[1], sorted[intDiv(minutes, 20) + 1], arraySum(sorted) / minutes]
           AS bps
WHERE length(sorted) > 0
