-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Daily packet trend. {from:UInt32} and {to:UInt32} are query parameters, Unix seconds,
-- [from, to); sql/004_views.sql says which rollup answers.
SELECT toString(day) AS day, sum(packets) AS packets, sum(bytes) AS bytes, sum(flows) AS flows
FROM flows.proto_range(from = {from:UInt32}, to = {to:UInt32})
GROUP BY day
ORDER BY day
