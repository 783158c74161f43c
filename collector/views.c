// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Running the network views and printing their tables. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"
#include "views.h"

const struct view_info view_list[] = {
	{ "daily_bandwidth_by_proto", "Daily bandwidth by protocol", VIEW_CHART_LINES },
	{ "daily_packets", "Daily packets", VIEW_CHART_LINES },
	{ "bandwidth", "Bandwidth by protocol (bits/s)", VIEW_CHART_LINES },
	{ "bandwidth_peak", "Peak, 95th percentile and mean bandwidth (bits/s)", VIEW_CHART_BARS },
	{ "top_regions_bytes", "Top regions by bandwidth", VIEW_CHART_BARS },
	{ "top_regions_packets", "Top regions by packets", VIEW_CHART_BARS },
	{ "top_ports_bytes", "Top ports by bandwidth", VIEW_CHART_BARS },
	{ "top_ports_packets", "Top ports by packets", VIEW_CHART_BARS },
	{ "top_talkers", "Top talkers (source addresses) by bandwidth", VIEW_CHART_BARS },
	{ "top_conversations", "Top conversations by bandwidth", VIEW_CHART_BARS },
	{ "interfaces", "Traffic per agent, interface and direction", VIEW_CHART_BARS },
	{ "proto_share_bytes", "Protocol share of bytes", VIEW_CHART_SHARE },
	{ "proto_share_packets", "Protocol share of packets", VIEW_CHART_SHARE },
	{ "region_map", "Traffic by region", VIEW_CHART_MAP },
};
const int view_count = sizeof(view_list) / sizeof(view_list[0]);

struct view_filter view_filter;

int view_filter_set_direction(const char *direction)
{
	if (strcmp(direction, "ingress") && strcmp(direction, "egress"))
		return -EINVAL;
	view_filter.direction = direction;
	return 0;
}

const struct view_info *view_find(const char *name)
{
	int i;

	for (i = 0; i < view_count; i++)
		if (!strcmp(view_list[i].name, name))
			return &view_list[i];
	return NULL;
}

/* TSV field unescaping: \t \n \\ and friends. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*d++ = *s == 't' ? '\t' :
			       *s == 'n' ? '\n' :
			       *s == 'r' ? '\r' :
			       *s == '0' ? '\0' :
					   *s;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* TSVWithNames: a header line, then rows. */
static int parse_tsv(char *text, struct view_table *table)
{
	char *line, *save = NULL;
	int row = -1, capacity = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *field, *field_save = NULL;
		int column = 0;

		if (row < 0) {
			int count = 1;
			char *c;

			for (c = line; *c; c++)
				count += *c == '\t';
			table->column_count = count;
			table->columns = calloc((size_t)count, sizeof(char *));
			if (!table->columns)
				return -ENOMEM;
			for (field = strtok_r(line, "\t", &field_save); field && column < count;
			     field = strtok_r(NULL, "\t", &field_save)) {
				unescape(field);
				table->columns[column++] = strdup(field);
			}
			row = 0;
			continue;
		}
		if (row == capacity) {
			char **grown;

			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(table->cells, (size_t)capacity *
							      (size_t)table->column_count *
							      sizeof(char *));
			if (!grown)
				return -ENOMEM;
			table->cells = grown;
		}
		/* strtok would merge empty fields: split by hand */
		field = line;
		for (column = 0; column < table->column_count; column++) {
			char *tab = field ? strchr(field, '\t') : NULL;

			if (tab)
				*tab = '\0';
			if (field)
				unescape(field);
			table->cells[row * table->column_count + column] =
				strdup(field ? field : "");
			field = tab ? tab + 1 : NULL;
		}
		row++;
	}
	table->row_count = row < 0 ? 0 : row;
	return 0;
}

/*
 * The query parameters written into the SQL, for servers without them (ClickHouse 18.16):
 * {name:UInt32} becomes the number (digits only), {name:String} a quoted string with '\' and
 * '\'' escaped. A placeholder of another type or name is an error. Returns malloc'd SQL.
 */
static char *bind_locally(const char *sql, const struct store_param *params, size_t count,
			  char *err, size_t err_len)
{
	size_t cap = strlen(sql) * 2 + 256, len = 0, i;
	char *out = malloc(cap);
	const char *p = sql;

	while (out && *p) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		const char *colon = close ? memchr(p, ':', (size_t)(close - p)) : NULL;
		const struct store_param *param = NULL;
		int is_string = 0;

		if (colon) {
			for (i = 0; i < count; i++)
				if (strlen(params[i].name) == (size_t)(colon - p - 1) &&
				    !strncmp(params[i].name, p + 1, (size_t)(colon - p - 1)))
					param = &params[i];
			is_string = (size_t)(close - colon - 1) == 6 &&
				    !strncmp(colon + 1, "String", 6);
			if (!param || (!is_string && ((size_t)(close - colon - 1) != 6 ||
						      strncmp(colon + 1, "UInt32", 6)))) {
				snprintf(err, err_len,
					 "query parameter %.*s: unknown, or not UInt32 or "
					 "String",
					 (int)(close - p + 1), p);
				free(out);
				return NULL;
			}
		}
		if (!param) {
			if (len + 2 > cap) {
				char *grown = realloc(out, cap *= 2);

				if (!grown)
					break;
				out = grown;
			}
			out[len++] = *p++;
			continue;
		}
		/* the value, at most twice as long escaped, and its quotes */
		if (len + strlen(param->value) * 2 + 4 > cap) {
			char *grown = realloc(out, cap = cap * 2 + strlen(param->value) * 2 + 4);

			if (!grown)
				break;
			out = grown;
		}
		if (is_string) {
			const char *v;

			out[len++] = '\'';
			for (v = param->value; *v; v++) {
				if (*v == '\'' || *v == '\\')
					out[len++] = '\\';
				out[len++] = *v;
			}
			out[len++] = '\'';
		} else {
			if (!param->value[0] ||
			    param->value[strspn(param->value, "0123456789")] != '\0') {
				snprintf(err, err_len, "query parameter %s: '%s' is not a number",
					 param->name, param->value);
				free(out);
				return NULL;
			}
			memcpy(out + len, param->value, strlen(param->value));
			len += strlen(param->value);
		}
		p = close + 1;
	}
	if (!out || *p) {
		free(out);
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	out[len] = '\0';
	return out;
}

/*
 * A cluster view's {{NAME}}: the text of views/parts/NAME.sql (its comment lines left out),
 * for what several views share (the range over the daily or per-minute rollup, protocol
 * names). One level: a part has no parts.
 */
static char *expand_parts(const char *sql, const char *sql_dir, char *err, size_t err_len)
{
	size_t len = 0, cap = strlen(sql) + 1;
	char *out = malloc(cap);
	const char *p = sql;

	while (out && *p) {
		const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
		size_t name_len = close ? (size_t)(close - open - 2) : 0, copy, part_len = 0;
		char path[4096], *part = NULL, *grown;
		const char *text = p;

		if (!open) {
			copy = strlen(p);
		} else {
			if (!close || !name_len || name_len > 64 ||
			    strspn(open + 2, "abcdefghijklmnopqrstuvwxyz_") != name_len) {
				snprintf(err, err_len, "'%.40s': expected {{name}}", open);
				free(out);
				return NULL;
			}
			copy = (size_t)(open - p);
			snprintf(path, sizeof(path), "%s/views/parts/%.*s.sql", sql_dir,
				 (int)name_len, open + 2);
			part = read_text_file(path, err, err_len);
			if (!part) {
				free(out);
				return NULL;
			}
			/* its lines that are comments go, and its last newline */
			for (char *line = part, *next; *line; line = next) {
				next = line + strcspn(line, "\n");
				next += *next == '\n';
				if (!strncmp(line + strspn(line, " "), "--", 2))
					continue;
				memmove(part + part_len, line, (size_t)(next - line));
				part_len += (size_t)(next - line);
			}
			while (part_len && part[part_len - 1] == '\n')
				part_len--;
		}
		grown = realloc(out, cap += copy + part_len + 1);
		if (!grown) {
			free(part);
			break;
		}
		out = grown;
		memcpy(out + len, text, copy);
		len += copy;
		memcpy(out + len, part, part_len);
		len += part_len;
		free(part);
		p = open ? close + 2 : p + copy;
	}
	if (!out) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	out[len] = '\0';
	return out;
}

int view_run(struct store *store, const char *sql_dir, const struct view_info *view, uint64_t from,
	     uint64_t to, unsigned int flags, struct view_table *table, double *seconds, char *err,
	     size_t err_len)
{
	return view_run_filtered(store, sql_dir, view, from, to, &view_filter, flags, table,
				 seconds, err, err_len);
}

int view_run_filtered(struct store *store, const char *sql_dir, const struct view_info *view,
		      uint64_t from, uint64_t to, const struct view_filter *filter,
		      unsigned int flags, struct view_table *table, double *seconds, char *err,
		      size_t err_len)
{
	char path[4096], from_text[24], to_text[24], limit_text[16], *sql, *result = NULL;
	const struct store_param params[] = {
		{ "from", from_text },
		{ "to", to_text },
		{ "agent", filter->agent ? filter->agent : "" },
		{ "direction", filter->direction ? filter->direction : "" },
		{ "limit", limit_text },
	};
	struct timespec start, end;
	int ret;

	memset(table, 0, sizeof(*table));
	table->name = view->name;
	table->title = view->title;
	table->chart = view->chart;
	snprintf(path, sizeof(path), "%s/views/%s.sql", sql_dir, view->name);
	sql = read_text_file(path, err, err_len);
	if (!sql)
		return -ENOENT;
	snprintf(from_text, sizeof(from_text), "%" PRIu64, from);
	snprintf(to_text, sizeof(to_text), "%" PRIu64, to);
	snprintf(limit_text, sizeof(limit_text), "%u",
		 filter->limit ? filter->limit : VIEW_LIMIT_DEFAULT);
	if (flags & VIEW_BIND_LOCALLY) {
		char *expanded = expand_parts(sql, sql_dir, err, err_len), *bound;

		free(sql);
		if (!expanded)
			return -EINVAL;
		sql = expanded;
		bound = bind_locally(sql, params, sizeof(params) / sizeof(params[0]), err, err_len);
		free(sql);
		if (!bound)
			return -EINVAL;
		sql = bound;
	}
	/* a trailing ';' would end the statement before FORMAT over HTTP */
	for (ret = (int)strlen(sql) - 1;
	     ret >= 0 && (isspace((unsigned char)sql[ret]) || sql[ret] == ';'); ret--)
		sql[ret] = '\0';
	if (flags & VIEW_SKIP_UNAVAILABLE_SHARDS) {
		char *partial = NULL;

		if (asprintf(&partial, "%s\nSETTINGS skip_unavailable_shards = 1", sql) < 0) {
			free(sql);
			return -ENOMEM;
		}
		free(sql);
		sql = partial;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = store_query_params(store, sql, params,
				 flags & VIEW_BIND_LOCALLY ? 0 : sizeof(params) / sizeof(params[0]),
				 "TSVWithNames", &result, NULL, err, err_len);
	clock_gettime(CLOCK_MONOTONIC, &end);
	free(sql);
	if (seconds)
		*seconds = (double)(end.tv_sec - start.tv_sec) +
			   (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	if (ret)
		return ret;
	ret = parse_tsv(result, table);
	free(result);
	return ret;
}

void view_table_free(struct view_table *table)
{
	int i;

	for (i = 0; i < table->column_count; i++)
		free(table->columns ? table->columns[i] : NULL);
	for (i = 0; i < table->row_count * table->column_count; i++)
		free(table->cells[i]);
	free(table->columns);
	free(table->cells);
	memset(table, 0, sizeof(*table));
}

static int is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.')
			return 0;
	return 1;
}

void view_print(FILE *out, const struct view_table *table)
{
	int widths[64] = { 0 }, columns = table->column_count < 64 ? table->column_count : 64;
	int r, c;

	for (c = 0; c < columns; c++)
		widths[c] = (int)strlen(table->columns[c]);
	for (r = 0; r < table->row_count; r++)
		for (c = 0; c < columns; c++) {
			int w = (int)strlen(table->cells[r * table->column_count + c]);

			if (w > widths[c])
				widths[c] = w;
		}
	fprintf(out, "%s\n", table->title);
	for (c = 0; c < columns; c++)
		fprintf(out, "%s%*s", c ? "  " : "  ", widths[c], table->columns[c]);
	fputc('\n', out);
	for (r = 0; r < table->row_count; r++) {
		for (c = 0; c < columns; c++) {
			const char *cell = table->cells[r * table->column_count + c];

			if (is_number(cell))
				fprintf(out, "  %*s", widths[c], cell);
			else
				fprintf(out, "  %-*s", widths[c], cell);
		}
		fputc('\n', out);
	}
	if (!table->row_count)
		fprintf(out, "  (no rows)\n");
}

void view_print_tsv(FILE *out, const struct view_table *table)
{
	int r, c;

	for (c = 0; c < table->column_count; c++)
		fprintf(out, "%s%s", c ? "\t" : "", table->columns[c]);
	fputc('\n', out);
	for (r = 0; r < table->row_count; r++) {
		for (c = 0; c < table->column_count; c++)
			fprintf(out, "%s%s", c ? "\t" : "",
				table->cells[r * table->column_count + c]);
		fputc('\n', out);
	}
}
