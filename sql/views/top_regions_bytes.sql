-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top source regions by bytes.
-- Query parameters: {from:UInt32} and {to:UInt32}, Unix seconds, [from, to);
-- {agent:String} and {direction:String}, '' for all; sql/004_views.sql says which
-- rollup answers.
-- {limit:UInt32}: how many rows (--limit, default 10).
SELECT r.country_code AS country_code,
       if(c.country_name = '', if(r.country_code = '??', 'Unknown', r.country_code), c.country_name) AS country_name,
       r.bytes AS bytes, r.packets AS packets
FROM
(
    SELECT country_code, sum(bytes) AS bytes, sum(packets) AS packets
    FROM flows.region_range(from = {from:UInt32}, to = {to:UInt32}, agent = {agent:String},
                            direction = {direction:String})
    WHERE side = 'src'
    GROUP BY country_code
) AS r
LEFT JOIN
(
    SELECT country_code, any(country_name) AS country_name FROM flows.countries GROUP BY country_code
) AS c ON c.country_code = r.country_code
ORDER BY bytes DESC, country_code
LIMIT {limit:UInt32}
SETTINGS join_use_nulls = 0
