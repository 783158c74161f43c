-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Traffic by source region, with coordinates for a map, on a cluster: the same rows as
-- sql/views/region_map.sql, in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no
-- parameterized views, SQL functions or window functions. The collector puts in the parts named in
-- double braces (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted. Country names come from the node's own flows.countries (every node
-- holds all of it).
SELECT country_code, country_name, latitude, longitude, bytes, packets
FROM
(
{{src_regions}}
)
ANY INNER JOIN
(
    SELECT country_code, any(country_name) AS country_name, any(latitude) AS latitude,
           any(longitude) AS longitude
    FROM flows.countries
    GROUP BY country_code
) USING country_code
ORDER BY bytes DESC, country_code
