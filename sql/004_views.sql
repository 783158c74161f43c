-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- What the network views (sql/views/*.sql) share, written once: protocol names, and the time
-- range and observation points over the rollups. A range of whole UTC days reads the daily
-- rollups, any other range the per-minute ones; both are [from, to) in Unix seconds. agent and
-- direction ('ingress' or 'egress') choose the observation points, '' for all of them: a
-- packet metered at two points counts once per point unless one is chosen (docs/schema.md).
-- All four are query parameters (HTTP: param_from, param_to, param_agent, param_direction),
-- never pasted into the SQL text.

CREATE OR REPLACE FUNCTION flowProtoName AS (p) ->
    multiIf(p = 6, 'TCP', p = 17, 'UDP', p = 1, 'ICMP', p = 58, 'ICMPv6', p = 132, 'SCTP',
            p = 136, 'UDP-Lite', concat('IP ', toString(p)));

-- 1 when [from, to) is whole days: the daily rollups answer it.
CREATE OR REPLACE FUNCTION flowWholeDays AS (from_s, to_s) ->
    from_s % 86400 = 0 AND to_s % 86400 = 0;

-- 1 when a rollup row's observation point is one asked for ('' = any).
CREATE OR REPLACE FUNCTION flowPointMatches AS (row_agent, row_direction, want_agent,
                                                 want_direction) ->
    (want_agent = '' OR row_agent = want_agent) AND
    (want_direction = '' OR toString(row_direction) = want_direction);

-- Per protocol, by day: flows.proto_range(from = ..., to = ..., agent = ..., direction = ...).
CREATE OR REPLACE VIEW flows.proto_range AS
SELECT day, agent, direction, proto, bytes, packets, records
FROM flows.proto_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
UNION ALL
SELECT toDate(minute) AS day, agent, direction, proto, bytes, packets, records
FROM flows.proto_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String});

-- Per protocol and service port (the lower port of the flow).
CREATE OR REPLACE VIEW flows.port_range AS
SELECT day, agent, direction, proto, port, bytes, packets, records
FROM flows.port_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
UNION ALL
SELECT toDate(minute) AS day, agent, direction, proto, port, bytes, packets, records
FROM flows.port_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String});

-- Per region of the source ('src') or destination ('dst') address.
CREATE OR REPLACE VIEW flows.region_range AS
SELECT day, agent, direction, side, country_code, bytes, packets, records
FROM flows.region_1d
WHERE flowWholeDays({from:UInt32}, {to:UInt32})
  AND day >= toDate(toDateTime({from:UInt32}, 'UTC')) AND day < toDate(toDateTime({to:UInt32}, 'UTC'))
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String})
UNION ALL
SELECT toDate(minute) AS day, agent, direction, side, country_code, bytes, packets, records
FROM flows.region_1m
WHERE NOT flowWholeDays({from:UInt32}, {to:UInt32})
  AND minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
  AND flowPointMatches(agent, direction, {agent:String}, {direction:String});
