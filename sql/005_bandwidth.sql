-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- What the bandwidth view (sql/views/bandwidth.sql) adds to sql/004_views.sql, in a file of its
-- own so that stores migrated before it get it too.

-- The bucket of the bandwidth view for [from, to), in seconds: a minute up to 6 hours, an
-- hour up to 8 days, else a day.
CREATE OR REPLACE FUNCTION flowBucketSeconds AS (from_s, to_s) ->
    multiIf(toInt64(to_s) - toInt64(from_s) <= 6 * 3600, 60,
            toInt64(to_s) - toInt64(from_s) <= 8 * 86400, 3600, 86400);
