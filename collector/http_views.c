// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The views' JSON API and the live report on the HTTP endpoint; see http_views.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "http_views.h"
#include "report.h"

/* how often the page reloads itself, unless ?refresh=N (0: never) says otherwise */
#define LIVE_REFRESH_S	   60
#define LIVE_REFRESH_MIN_S 10
#define LIVE_REFRESH_MAX_S 86400

static const struct {
	const char *name, *label;
	uint64_t seconds; /* 0: everything */
} live_ranges[] = {
	{ "1h", "Last hour", 3600 },	       { "6h", "Last 6 hours", 6 * 3600 },
	{ "24h", "Last 24 hours", 86400 },     { "7d", "Last 7 days", 7 * 86400 },
	{ "30d", "Last 30 days", 30 * 86400 }, { "all", "All stored flows", 0 },
};
#define LIVE_RANGES (sizeof(live_ranges) / sizeof(live_ranges[0]))

int http_views_range(const char *name, uint64_t now, uint64_t *from, uint64_t *to)
{
	size_t i;

	if (!name)
		name = "24h";
	for (i = 0; i < LIVE_RANGES; i++) {
		if (strcmp(name, live_ranges[i].name))
			continue;
		if (!live_ranges[i].seconds) {
			*from = 0;
			*to = VIEW_TIME_END;
			return 0;
		}
		/* to the next whole minute, so the minute under way is in */
		*to = now - now % 60 + 60;
		*from = *to > live_ranges[i].seconds ? *to - live_ranges[i].seconds : 0;
		return 0;
	}
	return -EINVAL;
}

/* A page of text the caller gave as a format; the body malloc'd. */
static void page_text(struct http_page *page, unsigned int status, const char *type,
		      const char *format, ...) __attribute__((format(printf, 4, 5)));

static void page_text(struct http_page *page, unsigned int status, const char *type,
		      const char *format, ...)
{
	va_list args;
	int n;

	va_start(args, format);
	n = vasprintf(&page->body, format, args);
	va_end(args);
	if (n < 0) {
		page->body = NULL;
		return;
	}
	page->len = (size_t)n;
	page->status = status;
	page->content_type = type;
}

static void page_error(struct http_page *page, unsigned int status, const char *message)
{
	FILE *out = open_memstream(&page->body, &page->len);

	page->status = status;
	page->content_type = "application/json";
	if (!out) {
		page->body = NULL;
		return;
	}
	api_error_json(out, message);
	if (fclose(out)) {
		free(page->body);
		page->body = NULL;
	}
}

static void api_page(const struct http_views *views, struct store *reader,
		     const struct http_page_request *req, const char *name, struct http_page *page)
{
	struct api_view_request request;
	char err[512];
	int status;

	status = api_view_request_parse(name, req->param(req, "from"), req->param(req, "to"),
					req->param(req, "agent"), req->param(req, "direction"),
					req->param(req, "limit"), &request, err, sizeof(err));
	if (status) {
		page_error(page, (unsigned int)status, err);
		return;
	}
	status = api_view_run(reader, views->sql_dir, 0, &request, &page->body, &page->len);
	page->status = status ? (unsigned int)status : 200;
	page->content_type = "application/json";
}

/*
 * ?refresh=N: 0 (never) or LIVE_REFRESH_MIN_S to LIVE_REFRESH_MAX_S seconds; LIVE_REFRESH_S
 * when absent. Fewer than 10 s would have the page reload before a large range's views answer.
 */
static int parse_refresh(const char *text, unsigned int *seconds)
{
	char *end;
	unsigned long n;

	*seconds = LIVE_REFRESH_S;
	if (!text)
		return 0;
	if (text[0] < '0' || text[0] > '9' || strlen(text) > 6)
		return -EINVAL;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || *end || (n && (n < LIVE_REFRESH_MIN_S || n > LIVE_REFRESH_MAX_S)))
		return -EINVAL;
	*seconds = (unsigned int)n;
	return 0;
}

/*
 * "&agent=A&direction=D&refresh=N" of the request, for the range links (URL-escaped); refresh
 * only when not the default.
 */
static void filter_query(const struct api_view_request *request, unsigned int refresh, char *out,
			 size_t size)
{
	size_t used = 0;
	const char *p;

	out[0] = '\0';
	if (request->agent[0]) {
		used += (size_t)snprintf(out + used, size - used, "&agent=");
		for (p = request->agent; *p && used + 4 < size; p++) {
			unsigned char c = (unsigned char)*p;

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", c))
				out[used++] = (char)c;
			else
				used += (size_t)snprintf(out + used, size - used, "%%%02X", c);
		}
		out[used] = '\0';
	}
	if (request->direction && used < size)
		used += (size_t)snprintf(out + used, size - used, "&direction=%s",
					 request->direction);
	if (refresh != LIVE_REFRESH_S && used < size)
		snprintf(out + used, size - used, "&refresh=%u", refresh);
}

static void range_text(uint64_t from, uint64_t to, char *text, size_t size)
{
	char from_text[32], to_text[32];
	time_t from_time = (time_t)from, to_time = (time_t)to;
	struct tm tm;

	if (from == 0 && to == VIEW_TIME_END) {
		snprintf(text, size, "all stored flows");
		return;
	}
	strftime(from_text, sizeof(from_text), "%Y-%m-%d %H:%M", gmtime_r(&from_time, &tm));
	strftime(to_text, sizeof(to_text), "%Y-%m-%d %H:%M", gmtime_r(&to_time, &tm));
	snprintf(text, size, "%s to %s UTC", from_text, to_text);
}

static void report_page(const struct http_views *views, struct store *reader,
			const struct http_page_request *req, struct http_page *page)
{
	const char *range = req->param(req, "range"), *from = req->param(req, "from");
	const char *to = req->param(req, "to");
	struct report_link links[LIVE_RANGES];
	char hrefs[LIVE_RANGES][600], filters[540], err[512], text[128];
	struct view_table tables[32];
	struct api_view_request request;
	struct report_live live = { .refresh_seconds = LIVE_REFRESH_S, .links = links };
	int status, i, ran = 0, failed = -1;
	FILE *out;
	size_t r;

	if (view_count > (int)(sizeof(tables) / sizeof(tables[0]))) {
		page_error(page, 500, "more views than the live report holds");
		return;
	}
	/* the first view's name stands for the request: the API's checks of every parameter */
	status = api_view_request_parse(view_list[0].name, from, to, req->param(req, "agent"),
					req->param(req, "direction"), req->param(req, "limit"),
					&request, err, sizeof(err));
	if (!status && (range || (!from && !to))) {
		if ((from || to) && range) {
			snprintf(err, sizeof(err), "range and from/to: one or the other");
			status = 400;
		} else if (http_views_range(range, (uint64_t)time(NULL), &request.from,
					    &request.to)) {
			snprintf(err, sizeof(err),
				 "range '%.32s': expected 1h, 6h, 24h, 7d, 30d or all", range);
			status = 400;
		}
	}
	if (!status && parse_refresh(req->param(req, "refresh"), &live.refresh_seconds)) {
		snprintf(err, sizeof(err),
			 "refresh '%.32s': expected 0 (never) or %u to %u seconds",
			 req->param(req, "refresh"), LIVE_REFRESH_MIN_S, LIVE_REFRESH_MAX_S);
		status = 400;
	}
	if (status) {
		page_text(page, (unsigned int)status, "text/plain; charset=UTF-8", "%s\n", err);
		return;
	}
	filter_query(&request, live.refresh_seconds, filters, sizeof(filters));
	for (r = 0; r < LIVE_RANGES; r++) {
		snprintf(hrefs[r], sizeof(hrefs[r]), "?range=%s%s", live_ranges[r].name, filters);
		links[r].label = live_ranges[r].label;
		links[r].href = hrefs[r];
		links[r].current = !from && !to &&
				   !strcmp(range ? range : "24h", live_ranges[r].name);
	}
	live.link_count = (int)LIVE_RANGES;
	for (i = 0; i < view_count; i++) {
		struct view_filter filter = { .agent = request.agent,
					      .direction = request.direction,
					      .limit = request.limit };

		if (view_run_filtered(reader, views->sql_dir, &view_list[i], request.from,
				      request.to, &filter, 0, &tables[i], NULL, err, sizeof(err))) {
			failed = i;
			break;
		}
		ran++;
	}
	if (failed >= 0) {
		page_text(page, 500, "text/plain; charset=UTF-8", "view %s: %s\n",
			  view_list[failed].name, err);
	} else {
		range_text(request.from, request.to, text, sizeof(text));
		out = open_memstream(&page->body, &page->len);
		if (out && (report_write_html_live(out, "Network flows", text, tables, view_count,
						   &live) ||
			    fclose(out))) {
			free(page->body);
			page->body = NULL;
		} else if (!out) {
			page->body = NULL;
		}
		page->status = 200;
		page->content_type = "text/html; charset=UTF-8";
	}
	for (i = 0; i < ran; i++)
		view_table_free(&tables[i]);
}

void http_views_page(void *ctx, struct store *reader, const struct http_page_request *req,
		     struct http_page *page)
{
	const struct http_views *views = ctx;
	const char *prefix = "/api/v1/views/";

	if (!strcmp(req->url, "/api/v1/views") || !strcmp(req->url, "/api/v1/views/")) {
		FILE *out = open_memstream(&page->body, &page->len);

		if (out) {
			api_view_list_json(out);
			if (fclose(out)) {
				free(page->body);
				page->body = NULL;
			}
		}
		page->content_type = "application/json";
		return;
	}
	if (!strncmp(req->url, prefix, strlen(prefix))) {
		api_page(views, reader, req, req->url + strlen(prefix), page);
		return;
	}
	if (!strcmp(req->url, "/report")) {
		report_page(views, reader, req, page);
		return;
	}
	if (!strcmp(req->url, "/openapi.yaml") && views->openapi) {
		page_text(page, 200, "application/yaml", "%s", views->openapi);
		return;
	}
	page_error(page, 404,
		   "no such page: the ClickHouse interface is at / (and /ping), the views at "
		   "/api/v1/views, the live report at /report, the API's description at "
		   "/openapi.yaml");
}
