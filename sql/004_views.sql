-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- What the network views (sql/views/*.sql) share, written once: protocol names, and the time
-- range over the rollups. A range of whole UTC days reads the daily rollups, any other range
-- the per-minute ones; both are [from, to) in Unix seconds, passed as query parameters
-- (HTTP: param_from, param_to), never pasted into the SQL text.

CREATE OR REPLACE FUNCTION flowProtoName AS (p) ->
    multiIf(p = 6, 'TCP', p = 17, 'UDP', p = 1, 'ICMP', p = 58, 'ICMPv6', p = 132, 'SCTP',
            p = 136, 'UDP-Lite', concat('IP ', toString(p)));

-- 1 when [from, to) is whole days: the daily rollups answer it.
CREATE OR REPLACE FUNCTION flowWholeDays AS (from_s, to_s) ->
    from_s % 86400 = 0 AND to_s % 86400 = 0;

-- Per protocol, by day: flows.proto_range(from = ..., to = ...).
CREATE OR REPLACE VIEW flows.proto_range AS
SELECT day, proto, bytes, packets, flows
FROM flows.proto_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
UNION ALL
SELECT toDate(minute) AS day, proto, bytes, packets, flows
FROM flows.proto_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC');

-- Per protocol and service port (the lower port of the flow).
CREATE OR REPLACE VIEW flows.port_range AS
SELECT day, proto, port, bytes, packets, flows
FROM flows.port_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
UNION ALL
SELECT toDate(minute) AS day, proto, port, bytes, packets, flows
FROM flows.port_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC');

-- Per region of the source ('src') or destination ('dst') address.
CREATE OR REPLACE VIEW flows.region_range AS
SELECT day, side, country_code, bytes, packets, flows
FROM flows.region_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
UNION ALL
SELECT toDate(minute) AS day, side, country_code, bytes, packets, flows
FROM flows.region_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC');
