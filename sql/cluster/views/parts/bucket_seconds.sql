-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- The bucket of the bandwidth view, in seconds, as flowBucketSeconds() of sql/004_views.sql:
-- `{{bucket_seconds}}` in a cluster view (collector/views.c puts this text in, without these
-- comment lines).
multiIf(toInt64({to:UInt32}) - toInt64({from:UInt32}) <= 6 * 3600, 60,
        toInt64({to:UInt32}) - toInt64({from:UInt32}) <= 8 * 86400, 3600, 86400)
