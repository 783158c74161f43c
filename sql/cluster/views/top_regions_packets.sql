-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top source regions by packets, on a cluster: the same rows as
-- sql/views/top_regions_packets.sql, in SQL ClickHouse 18.16 reads (docs/cluster-sql-notes.md; the
-- collector puts the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String} in, quoted). Whole days read the daily rollup, any other range the
-- per-minute one, over the Distributed tables; the names come from the node's own
-- flows.countries (every node holds all of it).
SELECT country_code,
       if(country_name = '', if(country_code = '??', 'Unknown', country_code), country_name)
           AS country_name,
       bytes, packets
FROM
(
    SELECT country_code, sum(b) AS bytes, sum(pk) AS packets
    FROM
    (
        SELECT country_code, bytes AS b, packets AS pk
        FROM flows.region_1d
        WHERE side = 'src' AND {from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0
          AND toUInt32(day) >= intDiv({from:UInt32}, 86400)
          AND toUInt32(day) < intDiv({to:UInt32}, 86400)
          AND ({agent:String} = '' OR agent = {agent:String})
          AND ({direction:String} = '' OR toString(direction) = {direction:String})
        UNION ALL
        SELECT country_code, bytes AS b, packets AS pk
        FROM flows.region_1m
        WHERE side = 'src' AND NOT ({from:UInt32} % 86400 = 0 AND {to:UInt32} % 86400 = 0)
          AND toUInt32(minute) >= {from:UInt32} AND toUInt32(minute) < {to:UInt32}
          AND ({agent:String} = '' OR agent = {agent:String})
          AND ({direction:String} = '' OR toString(direction) = {direction:String})
    )
    GROUP BY country_code
)
ANY LEFT JOIN
(
    SELECT country_code, any(country_name) AS country_name FROM flows.countries
    GROUP BY country_code
) USING country_code
ORDER BY packets DESC, country_code
LIMIT 10
