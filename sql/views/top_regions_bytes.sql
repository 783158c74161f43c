-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Top source regions by bytes. {from} and {to} are Unix seconds, [from, to): whole days read the daily
-- rollup, any other range the per-minute one.
SELECT r.country_code AS country_code,
       if(c.country_name = '', if(r.country_code = '??', 'Unknown', r.country_code), c.country_name) AS country_name,
       r.bytes AS bytes, r.packets AS packets
FROM
(
    SELECT country_code, sum(bytes) AS bytes, sum(packets) AS packets
    FROM
    (
    SELECT country_code, bytes, packets
    FROM flows.region_1d
    WHERE {from} % 86400 = 0 AND {to} % 86400 = 0
      AND day >= toDate(toDateTime({from}, 'UTC')) AND day < toDate(toDateTime({to}, 'UTC')) AND side = 'src'
    UNION ALL
    SELECT country_code, bytes, packets
    FROM flows.region_1m
    WHERE NOT ({from} % 86400 = 0 AND {to} % 86400 = 0)
      AND minute >= toDateTime({from}, 'UTC') AND minute < toDateTime({to}, 'UTC') AND side = 'src'
    )
    GROUP BY country_code
) AS r
LEFT JOIN
(
    SELECT country_code, any(country_name) AS country_name FROM flows.countries GROUP BY country_code
) AS c ON c.country_code = r.country_code
ORDER BY bytes DESC, country_code
LIMIT 10
SETTINGS join_use_nulls = 0
