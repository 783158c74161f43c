-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The rows of flows.port_1d or flows.port_1m in the range: `{{port_range}}` in a cluster view
-- (collector/views.c puts this text in, without these comment lines). Whole days read the daily
-- rollup, any other range the per-minute one; days and minutes are compared as numbers (18.16's
-- toDateTime() gives 1970 past 2105). Columns: day, p (the protocol), port, b (bytes), pk
-- (packets), n (records).
    SELECT day, proto AS p, port, bytes AS b, packets AS pk, records AS n
    FROM flows.port_1d
    WHERE {from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0
      AND toUInt32(day) >= intDiv({from:UInt32}, 86400)
      AND toUInt32(day) < intDiv({to:UInt32}, 86400)
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
    UNION ALL
    SELECT toDate(minute) AS day, proto AS p, port, bytes AS b, packets AS pk, records AS n
    FROM flows.port_1m
    WHERE NOT ({from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0)
      AND toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
      AND ({agent:String} = '' OR agent = {agent:String})
      AND ({direction:String} = '' OR toString(direction) = {direction:String})
