-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Daily bandwidth by L4 protocol.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
SELECT toString(day) AS day, flowProtoName(proto) AS proto, sum(bytes) AS bytes,
       sum(packets) AS packets
FROM flows.proto_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                       direction = {direction:String})
GROUP BY day, proto
ORDER BY day, bytes DESC
