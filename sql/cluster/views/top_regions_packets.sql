-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top source regions by packets, on a cluster: the same rows as sql/views/top_regions_packets.sql,
-- in SQL that ClickHouse 18.16 reads (docs/cluster-sql-notes.md): no parameterized views, SQL
-- functions or window functions. The collector puts in the parts named in double braces
-- (views/parts/) and the values of {from:UInt32}, {to:UInt32}, {agent:String} and
-- {direction:String}, quoted. Country names come from the node's own flows.countries (every node
-- holds all of it).
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT country_code,
       if(country_name = '', if(country_code = '??', 'Unknown', country_code), country_name)
           AS country_name,
       bytes, packets
FROM
(
{{src_regions}}
)
ANY LEFT JOIN
(
    SELECT country_code, any(country_name) AS country_name FROM flows.countries
    GROUP BY country_code
) USING country_code
ORDER BY packets DESC, country_code
LIMIT {limit:UInt32}
