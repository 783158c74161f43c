-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The name of protocol p, as flowProtoName() of sql/004_views.sql: `{{proto_name}}` in a cluster
-- view (collector/views.c puts this text in, without these comment lines).
multiIf(p = 6, 'TCP', p = 17, 'UDP', p = 1, 'ICMP', p = 58, 'ICMPv6', p = 132, 'SCTP',
        p = 136, 'UDP-Lite', concat('IP ', toString(p)))
