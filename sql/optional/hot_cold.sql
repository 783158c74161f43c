-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- Hot/cold storage for flows.raw: parts move to the 'cold' volume {{hot_days}} days after
-- ingestion and are deleted after {{retention_days}}. Needs a storage policy named hot_cold
-- with volumes 'hot' and 'cold' in the server's configuration, for example:
--   <storage_configuration><disks><fast><path>/ssd/clickhouse/</path></fast>
--     <slow><path>/hdd/clickhouse/</path></slow></disks>
--   <policies><hot_cold><volumes><hot><disk>fast</disk></hot><cold><disk>slow</disk></cold>
--   </volumes></hot_cold></policies></storage_configuration>
-- Not applied by `flowcollector migrate`; replace the placeholders and run it once.

ALTER TABLE flows.raw MODIFY SETTING storage_policy = 'hot_cold';

ALTER TABLE flows.raw MODIFY TTL
    inserted_at + INTERVAL {{hot_days}} DAY TO VOLUME 'cold',
    inserted_at + INTERVAL {{retention_days}} DAY DELETE;
