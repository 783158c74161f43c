-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- L4 protocol share by packets.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
SELECT flowProtoName(proto) AS proto, sum(packets) AS packets,
       round(100 * packets / sum(packets) OVER (), 2) AS share_percent
FROM flows.proto_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                       direction = {direction:String})
GROUP BY proto
ORDER BY packets DESC
