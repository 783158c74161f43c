/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The JSON API of the network views: GET /api/v1/views (the list) and
 * GET /api/v1/views/NAME?from=&to=&agent=&direction=&limit= (one view), described by
 * docs/openapi.yaml. The parsing and the rendering are here, apart from the HTTP server, so
 * they are tested alone; every error is a status and a message naming the parameter.
 */
#ifndef FLOWCOLLECTOR_API_H
#define FLOWCOLLECTOR_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "views.h"

struct api_view_request {
	const struct view_info *view;
	uint64_t from, to; /* [from, to), Unix seconds */
	char agent[256];   /* "" for every agent */
	const char *direction;
	uint32_t limit;
};

/*
 * A request's parameters, as they came (NULL when absent): name is the path's last part.
 * Returns 0, or an HTTP status (400 for a bad parameter, 404 for no such view) with the reason
 * in err.
 */
int api_view_request_parse(const char *name, const char *from, const char *to, const char *agent,
			   const char *direction, const char *limit, struct api_view_request *req,
			   char *err, size_t err_len);

/*
 * The view's result as JSON: {"view", "title", "from", "to", "agent", "direction", "limit",
 * "columns": [...], "rows": [{column: value, ...}]}; a column whose every cell is a number is
 * written as numbers (nan as null), the others as strings.
 */
void api_view_json(FILE *out, const struct api_view_request *req, const struct view_table *table);

/* The list: {"views": [{"name", "title"}, ...]}. */
void api_view_list_json(FILE *out);

/* docs/openapi.yaml, embedded (api_assets.c): the description the endpoint serves. */
extern const char api_openapi_yaml[];

/* {"error": message}: the body of every refusal. */
void api_error_json(FILE *out, const char *message);

/*
 * Runs the request's view on store and renders it into a malloc'd body. Returns 0 (200), or a
 * status (500: the store failed, the body says why).
 */
int api_view_run(struct store *store, const char *sql_dir, unsigned int view_flags,
		 const struct api_view_request *req, char **body, size_t *body_len);

#endif
