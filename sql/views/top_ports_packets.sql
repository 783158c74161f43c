-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top service ports by packets (the lower port of a TCP/UDP/SCTP flow).
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT flowProtoName(proto) AS proto, port, sum(bytes) AS bytes, sum(packets) AS packets
FROM flows.port_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                      direction = {direction:String})
GROUP BY proto, port
ORDER BY packets DESC, proto, port
LIMIT {limit:UInt32}
