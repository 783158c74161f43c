-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- L4 protocol share by bytes.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
SELECT flowProtoName(proto) AS proto, sum(bytes) AS bytes,
       round(100 * bytes / sum(bytes) OVER (), 2) AS share_percent
FROM flows.proto_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                       direction = {direction:String})
GROUP BY proto
ORDER BY bytes DESC
