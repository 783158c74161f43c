// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The JSON API of the network views; see api.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "parse.h"

static void json_string(FILE *out, const char *text)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *)(text ? text : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* A JSON number as ClickHouse writes one: -12, 3.5, 1e+30; nan and inf are not numbers. */
static int is_json_number(const char *text)
{
	char *end;

	if (!*text || strspn(text, "+-0123456789.eE") != strlen(text) || *text == '+' ||
	    *text == '.')
		return 0;
	strtod(text, &end);
	return !*end && !(text[0] == '0' && text[1] >= '0' && text[1] <= '9');
}

static int is_nan(const char *text)
{
	return !strcasecmp(text, "nan") || !strcasecmp(text, "-nan");
}

int api_view_request_parse(const char *name, const char *from, const char *to, const char *agent,
			   const char *direction, const char *limit, struct api_view_request *req,
			   char *err, size_t err_len)
{
	memset(req, 0, sizeof(*req));
	req->to = VIEW_TIME_END;
	req->limit = VIEW_LIMIT_DEFAULT;
	req->view = name ? view_find(name) : NULL;
	if (!req->view) {
		snprintf(err, err_len, "no view '%.64s': GET /api/v1/views lists them",
			 name ? name : "");
		return 404;
	}
	if (from && parse_time(from, &req->from)) {
		snprintf(err, err_len,
			 "from '%.64s': expected YYYY-MM-DD[ HH:MM[:SS]] (UTC) or Unix seconds",
			 from);
		return 400;
	}
	if (to && parse_time(to, &req->to)) {
		snprintf(err, err_len,
			 "to '%.64s': expected YYYY-MM-DD[ HH:MM[:SS]] (UTC) or Unix seconds", to);
		return 400;
	}
	if (req->to > VIEW_TIME_END) {
		snprintf(err, err_len, "to '%.64s': after 2106-02-07, the last day of the views",
			 to);
		return 400;
	}
	if (req->from >= req->to) {
		snprintf(err, err_len, "from %" PRIu64 " is not before to %" PRIu64, req->from,
			 req->to);
		return 400;
	}
	if (agent && strlen(agent) >= sizeof(req->agent)) {
		snprintf(err, err_len, "agent: longer than %zu bytes", sizeof(req->agent) - 1);
		return 400;
	}
	snprintf(req->agent, sizeof(req->agent), "%s", agent ? agent : "");
	if (direction && *direction) {
		if (strcmp(direction, "ingress") && strcmp(direction, "egress")) {
			snprintf(err, err_len, "direction '%.32s': expected ingress or egress",
				 direction);
			return 400;
		}
		req->direction = !strcmp(direction, "ingress") ? "ingress" : "egress";
	}
	if (limit && parse_u32(limit, 1, VIEW_LIMIT_MAX, &req->limit)) {
		snprintf(err, err_len, "limit '%.32s': expected a number of rows, 1 to %u", limit,
			 VIEW_LIMIT_MAX);
		return 400;
	}
	return 0;
}

void api_view_json(FILE *out, const struct api_view_request *req, const struct view_table *table)
{
	int r, c, *numeric = calloc((size_t)(table->column_count + 1), sizeof(*numeric));

	for (c = 0; c < table->column_count && numeric; c++) {
		numeric[c] = table->row_count > 0;
		for (r = 0; r < table->row_count && numeric[c]; r++) {
			const char *text = table->cells[r * table->column_count + c];

			numeric[c] = is_json_number(text) || is_nan(text);
		}
	}
	fputs("{\"view\":", out);
	json_string(out, req->view->name);
	fputs(",\"title\":", out);
	json_string(out, req->view->title);
	fprintf(out, ",\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"agent\":", req->from, req->to);
	json_string(out, req->agent);
	fputs(",\"direction\":", out);
	json_string(out, req->direction ? req->direction : "");
	fprintf(out, ",\"limit\":%u,\"columns\":[", req->limit);
	for (c = 0; c < table->column_count; c++) {
		fputs(c ? "," : "", out);
		json_string(out, table->columns[c]);
	}
	fputs("],\"rows\":[", out);
	for (r = 0; r < table->row_count; r++) {
		fputs(r ? ",{" : "{", out);
		for (c = 0; c < table->column_count; c++) {
			const char *text = table->cells[r * table->column_count + c];

			fputs(c ? "," : "", out);
			json_string(out, table->columns[c]);
			fputc(':', out);
			if (numeric && numeric[c])
				fputs(is_nan(text) ? "null" : text, out);
			else
				json_string(out, text);
		}
		fputc('}', out);
	}
	fputs("]}\n", out);
	free(numeric);
}

void api_view_list_json(FILE *out)
{
	int i;

	fputs("{\"views\":[", out);
	for (i = 0; i < view_count; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", out);
		json_string(out, view_list[i].name);
		fputs(",\"title\":", out);
		json_string(out, view_list[i].title);
		fputc('}', out);
	}
	fputs("]}\n", out);
}

void api_error_json(FILE *out, const char *message)
{
	fputs("{\"error\":", out);
	json_string(out, message);
	fputs("}\n", out);
}

int api_view_run(struct store *store, const char *sql_dir, unsigned int view_flags,
		 const struct api_view_request *req, char **body, size_t *body_len)
{
	struct view_filter filter = {
		.agent = req->agent,
		.direction = req->direction,
		.limit = req->limit,
	};
	struct view_table table;
	char err[1024];
	FILE *out;
	int ret;

	*body = NULL;
	*body_len = 0;
	ret = view_run_filtered(store, sql_dir, req->view, req->from, req->to, &filter, view_flags,
				&table, NULL, err, sizeof(err));
	out = open_memstream(body, body_len);
	if (!out) {
		if (!ret)
			view_table_free(&table);
		return 500;
	}
	if (ret)
		api_error_json(out, err);
	else
		api_view_json(out, req, &table);
	if (!ret)
		view_table_free(&table);
	if (fclose(out)) {
		free(*body);
		*body = NULL;
		return 500;
	}
	return ret ? 500 : 0;
}
