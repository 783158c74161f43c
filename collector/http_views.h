/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pages the HTTP endpoint serves besides the ClickHouse interface (an http_page_fn):
 *   GET /api/v1/views            the views, as JSON (api.h)
 *   GET /api/v1/views/NAME?...   one view: from, to, agent, direction, limit (docs/openapi.yaml)
 *   GET /report?range=...        the report, live: range 1h, 6h, 24h (the default), 7d, 30d or
 *                                all, or from and to; agent and direction as in the API. The
 *                                page refreshes itself every minute and links its ranges; no
 *                                script, nothing fetched but the page itself.
 *   GET /openapi.yaml            the API's description
 */
#ifndef FLOWCOLLECTOR_HTTP_VIEWS_H
#define FLOWCOLLECTOR_HTTP_VIEWS_H

#include <stdint.h>

#include "http_endpoint.h"

struct http_views {
	const char *sql_dir; /* the views, sql_dir/views/NAME.sql */
	const char *openapi; /* the text of docs/openapi.yaml, NULL: not served */
};

void http_views_page(void *ctx, struct store *reader, const struct http_page_request *req,
		     struct http_page *page);

/*
 * A live report's range: "1h", "6h", "24h", "7d", "30d" or "all", ending at now (to the next
 * whole minute); NULL is "24h". Returns 0, or -EINVAL for another name.
 */
int http_views_range(const char *name, uint64_t now, uint64_t *from, uint64_t *to);

#endif
