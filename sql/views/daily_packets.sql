-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Daily packet trend.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
SELECT toString(day) AS day, sum(packets) AS packets, sum(bytes) AS bytes,
       sum(records) AS records
FROM flows.proto_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                       direction = {direction:String})
GROUP BY day
ORDER BY day
