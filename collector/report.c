// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTML report: one self-contained page, a dark dashboard grid with a panel per view. Every
 * chart is inline SVG written here and every tooltip an SVG <title>, so the page has no
 * script, no font, no image and nothing to fetch; a Content-Security-Policy says so to the
 * browser too. Charts are drawn from the views' decimal text; the tables under them print that
 * text unchanged, so the exact numbers survive even where a chart rounds.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "report_assets.h"

#define CHART_W		640 /* viewBox width of a half-width panel; about 1:1 on screen */
#define LINES_H		250
#define MAP_W		1200
#define MAP_SOUTH	-60 /* the map spans 90N..60S: nobody's traffic comes from Antarctica */
#define MAP_SCALE	(MAP_W / 360.0)
#define MAP_H		((int)((90 - MAP_SOUTH) * MAP_SCALE))
#define MAX_SERIES	8 /* lines and slices; beyond that the smallest become "other" */
#define BAR_ROWS_MAX	20
#define TABLE_ROWS_MAX	31
#define LABEL_CHARS_MAX 24
#define MAP_LABELS	12 /* the largest bubbles get their country code written on */
#define MAP_OFF_LISTED	8  /* regions without a place named under the map */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A protocol keeps its colour in every chart (Grafana's palette). */
/* clang-format off */
static const struct {
	const char *name;
	const char *color;
} proto_colors[] = {
	{ "TCP", "#5794f2" },  { "UDP", "#ff9830" },  { "ICMP", "#73bf69" },
	{ "ICMPv6", "#b877d9" }, { "SCTP", "#f2495c" }, { "UDP-Lite", "#fade2a" },
	{ "other", "#6e7380" },
};
static const char *const other_colors[] = { "#8ab8ff", "#ffb357", "#96d98d",
					    "#ca95e5", "#ff7383", "#fff899" };
#define COLOR_BYTES	"#5794f2"
#define COLOR_PACKETS	"#73bf69"
#define COLOR_OTHER	"#6e7380"
/* clang-format on */

static const char *series_color(const char *name, int index)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(proto_colors); i++)
		if (!strcmp(proto_colors[i].name, name))
			return proto_colors[i].color;
	return other_colors[index % (int)ARRAY_SIZE(other_colors)];
}

/* --- text and numbers ---------------------------------------------------------------------- */

/*
 * Text from the data as HTML: markup characters escaped, control characters as spaces. At most
 * max characters (UTF-8 code points, so a name is never cut inside one), the last an ellipsis
 * when cut; max <= 0 writes it all.
 */
static void put_text(FILE *out, const char *text, int max)
{
	const unsigned char *p;
	int count = 0, shown = 0, limit;

	if (!text)
		return;
	for (p = (const unsigned char *)text; *p; p++)
		count += (*p & 0xc0) != 0x80;
	limit = max > 0 && count > max ? max - 1 : count;
	for (p = (const unsigned char *)text; *p; p++) {
		if ((*p & 0xc0) != 0x80 && shown++ == limit)
			break;
		switch (*p) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			fputc(*p < 0x20 ? ' ' : *p, out);
		}
	}
	if (limit < count)
		fputs("&#8230;", out);
}

static int is_number(const char *text)
{
	char *end;

	if (!text || !*text || strspn(text, "+-0123456789.eE") != strlen(text))
		return 0;
	strtod(text, &end);
	return !*end;
}

static int is_integer(const char *text)
{
	const char *digits = text && *text == '-' ? text + 1 : text;

	return digits && *digits && strspn(digits, "0123456789") == strlen(digits);
}

/* A measure to draw: negative, NaN or infinite text is drawn as zero (the table shows it). */
static double measure(const char *text)
{
	double value = text ? strtod(text, NULL) : 0;

	return isfinite(value) && value > 0 ? value : 0;
}

/* Columns whose integers get their digits grouped: sums, not identifiers like ports. */
static int column_is_measure(const char *name)
{
	return name &&
	       (strstr(name, "bytes") || strstr(name, "packets") || strstr(name, "records"));
}

/* Digit groups spaced by CSS, not by characters, so a copied number is still plain digits. */
static void put_number(FILE *out, const char *text)
{
	size_t len = strlen(text), sign = text[0] == '-', first, i;

	if (!is_integer(text) || len - sign < 5) {
		put_text(out, text, 0);
		return;
	}
	first = (len - sign) % 3 ? (len - sign) % 3 : 3;
	fwrite(text, 1, sign + first, out);
	for (i = sign + first; i < len; i += 3)
		fprintf(out, "<span>%.3s</span>", text + i);
}

static const char *const byte_units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
static const char *const count_units[] = { "", "k", "M", "G", "T", "P", "E" };

/* Decimal (SI) units: 1 MB = 10^6 bytes, as a network's counters are read. */
static int unit_of(double value)
{
	int unit = 0;

	while (value >= 999.5 && unit < 6) {
		value /= 1000;
		unit++;
	}
	return unit;
}

/* 636237288 -> "636 MB"; 1348937 -> "1.35 M" (three significant digits). */
static void format_value(char *dst, size_t size, double value, int is_bytes)
{
	int unit = unit_of(value);
	const char *name = is_bytes ? byte_units[unit] : count_units[unit];

	if (!unit)
		snprintf(dst, size, "%.0f%s%s", value, *name ? " " : "", name);
	else
		snprintf(dst, size, "%.3g %s", value / pow(1000, unit), name);
}

/* A value axis from 0 with round steps (1, 2, 2.5, 5 times a power of ten), one unit for all. */
struct axis {
	double step, top;
	int unit, decimals, is_bytes;
};

static void axis_make(struct axis *a, double max, int ticks, int is_bytes)
{
	double rough, magnitude, norm, scaled;

	if (max <= 0)
		max = 1;
	rough = max / ticks;
	magnitude = pow(10, floor(log10(rough)));
	norm = rough / magnitude;
	if (norm <= 1)
		a->step = magnitude;
	else if (norm <= 2)
		a->step = 2 * magnitude;
	else if (norm <= 2.5)
		a->step = 2.5 * magnitude;
	else if (norm <= 5)
		a->step = 5 * magnitude;
	else
		a->step = 10 * magnitude;
	/* bytes and packets are whole numbers: no axis at 0.25 packets */
	if (a->step < 1)
		a->step = 1;
	a->top = ceil(max / a->step - 1e-9) * a->step;
	a->unit = unit_of(a->top);
	a->is_bytes = is_bytes;
	scaled = a->step / pow(1000, a->unit);
	for (a->decimals = 0; a->decimals < 3; a->decimals++) {
		double shifted = scaled * pow(10, a->decimals);

		if (fabs(shifted - round(shifted)) < 1e-6 * shifted)
			break;
	}
}

static void axis_label(char *dst, size_t size, const struct axis *a, double value)
{
	const char *name = a->is_bytes ? byte_units[a->unit] : count_units[a->unit];

	if (value == 0)
		snprintf(dst, size, "0");
	else
		snprintf(dst, size, "%.*f%s%s", a->decimals, value / pow(1000, a->unit),
			 *name ? " " : "", name);
}

/*
 * Minutes since 1970-01-01 of "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" (days_from_civil, proleptic
 * Gregorian): where a line chart puts a point.
 */
static int time_minutes(const char *text, long *minutes)
{
	int year, month, day, hour = 0, minute = 0, n;
	long era, yoe, doy, days;
	char tail;

	n = sscanf(text, "%4d-%2d-%2d %2d:%2d%c", &year, &month, &day, &hour, &minute, &tail);
	if ((n != 3 && n != 5) || (n == 3 && strlen(text) != 10) || month < 1 || month > 12 ||
	    day < 1 || day > 31 || hour > 23 || minute > 59 || hour < 0 || minute < 0)
		return -EINVAL;
	year -= month <= 2;
	era = (year >= 0 ? year : year - 399) / 400;
	yoe = year - era * 400;
	doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	*minutes = days * 1440 + hour * 60 + minute;
	return 0;
}

/* --- view access --------------------------------------------------------------------------- */

static const char *cell(const struct view_table *v, int row, int column)
{
	const char *text;

	if (!v->cells || row < 0 || row >= v->row_count || column < 0 || column >= v->column_count)
		return "";
	text = v->cells[row * v->column_count + column];
	return text ? text : "";
}

static const char *column_name(const struct view_table *v, int column)
{
	if (!v->columns || column < 0 || column >= v->column_count || !v->columns[column])
		return "";
	return v->columns[column];
}

static int column_is_bytes(const struct view_table *v, int column)
{
	return strstr(column_name(v, column), "bytes") != NULL;
}

/* bits_per_second: a rate, not a count (the bandwidth views) */
static int column_is_rate(const struct view_table *v, int column)
{
	return !strcmp(column_name(v, column), "bits_per_second");
}

/* daily_bandwidth_by_proto has (day, proto, bytes, ...), daily_packets (day, packets, ...). */
static int lines_have_series(const struct view_table *v)
{
	return v->column_count >= 3 && !column_is_measure(column_name(v, 1));
}

/* The top-N views rank by packets when their name says so, by bytes otherwise. */
static int ranks_packets(const struct view_table *v)
{
	size_t len = v->name ? strlen(v->name) : 0;

	return len > 8 && !strcmp(v->name + len - 8, "_packets");
}

static const struct view_table *view_named(const struct view_table *views, int count,
					   const char *name)
{
	int i;

	for (i = 0; i < count; i++)
		if (views[i].name && !strcmp(views[i].name, name) && views[i].row_count > 0)
			return &views[i];
	return NULL;
}

/* Rows ordered by a measure, largest first; ties keep the view's order. */
struct ranked {
	double value;
	int row;
};

static int ranked_compare(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return x->row - y->row;
}

static struct ranked *rank_rows(const struct view_table *v, int column)
{
	struct ranked *ranked = calloc((size_t)v->row_count, sizeof(*ranked));
	int r;

	if (!ranked)
		return NULL;
	for (r = 0; r < v->row_count; r++) {
		ranked[r].value = measure(cell(v, r, column));
		ranked[r].row = r;
	}
	qsort(ranked, (size_t)v->row_count, sizeof(*ranked), ranked_compare);
	return ranked;
}

/* --- pieces every panel uses --------------------------------------------------------------- */

static void no_data(FILE *out, const char *why)
{
	fputs("<div class=\"empty\">", out);
	put_text(out, why, 0);
	fputs("</div>\n", out);
}

/* The view's rows as they came, up to max_rows; measures with their digits grouped. */
static void table_write(FILE *out, const struct view_table *v, int max_rows)
{
	int rows = v->row_count < max_rows ? v->row_count : max_rows, r, c;

	fputs("<table>\n<thead><tr>", out);
	for (c = 0; c < v->column_count; c++) {
		int numeric = rows > 0;

		for (r = 0; r < rows && numeric; r++)
			numeric = is_number(cell(v, r, c));
		fputs(numeric ? "<th class=\"n\">" : "<th>", out);
		put_text(out, column_name(v, c), 0);
		fputs("</th>", out);
	}
	fputs("</tr></thead>\n<tbody>\n", out);
	for (r = 0; r < rows; r++) {
		fputs("<tr>", out);
		for (c = 0; c < v->column_count; c++) {
			const char *text = cell(v, r, c);

			if (is_number(text)) {
				fputs("<td class=\"n\">", out);
				if (column_is_measure(column_name(v, c)))
					put_number(out, text);
				else
					put_text(out, text, 0);
			} else {
				fputs("<td>", out);
				put_text(out, text, 0);
			}
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
	if (v->row_count > rows) {
		fprintf(out, "<p class=\"more\">%d more rows: <code>flowcollector query ",
			v->row_count - rows);
		put_text(out, v->name, 0);
		fputs("</code></p>\n", out);
	}
}

static void legend_item(FILE *out, const char *color, const char *shape, const char *name)
{
	fprintf(out, "<span><i class=\"%s\" style=\"background:%s\"></i>", shape, color);
	put_text(out, name, LABEL_CHARS_MAX);
	fputs("</span>", out);
}

/* --- lines: a measure per day, one line per series ----------------------------------------- */

struct lines {
	int day_count, series_count; /* series_count <= MAX_SERIES, "other" last if folded */
	const char **days;	     /* sorted; ISO dates sort as text */
	long *day_numbers;	     /* minutes, for x; NULL when a day is not a date or time */
	const char *series[MAX_SERIES];
	int folded;	    /* the last series sums those beyond MAX_SERIES - 1 */
	int repeated;	    /* a (day, series) in more than one row: summed */
	double *values;	    /* [series][day] */
	const char **texts; /* [series][day]: the cell, when not folded */
	double totals[MAX_SERIES];
};

static int text_compare(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int find_text(const char **list, int count, const char *text)
{
	int i;

	for (i = 0; i < count; i++)
		if (!strcmp(list[i], text))
			return i;
	return -1;
}

static void lines_free(struct lines *l)
{
	free(l->days);
	free(l->day_numbers);
	free(l->values);
	free(l->texts);
}

/* Collects days and series; series by total, largest first, so TCP leads the legend. */
static int lines_collect(const struct view_table *v, int series_column, int value_column,
			 struct lines *l)
{
	const char **names = NULL;
	struct ranked *order = NULL;
	int name_count = 0, r, s, d, ret = -ENOMEM;

	memset(l, 0, sizeof(*l));
	l->days = calloc((size_t)v->row_count, sizeof(*l->days));
	names = calloc((size_t)v->row_count, sizeof(*names));
	order = calloc((size_t)v->row_count, sizeof(*order));
	if (!l->days || !names || !order)
		goto cleanup;
	for (r = 0; r < v->row_count; r++) {
		const char *day = cell(v, r, 0);
		const char *name = series_column >= 0 ? cell(v, r, series_column) : "";

		if (find_text(l->days, l->day_count, day) < 0)
			l->days[l->day_count++] = day;
		s = find_text(names, name_count, name);
		if (s < 0) {
			s = name_count++;
			names[s] = name;
			order[s].row = s;
		}
		order[s].value += measure(cell(v, r, value_column));
	}
	qsort(l->days, (size_t)l->day_count, sizeof(*l->days), text_compare);
	l->day_numbers = calloc((size_t)l->day_count, sizeof(*l->day_numbers));
	if (!l->day_numbers)
		goto cleanup;
	for (d = 0; d < l->day_count; d++) {
		if (time_minutes(l->days[d], &l->day_numbers[d])) {
			free(l->day_numbers);
			l->day_numbers = NULL;
			break;
		}
	}
	qsort(order, (size_t)name_count, sizeof(*order), ranked_compare);
	l->folded = name_count > MAX_SERIES;
	l->series_count = l->folded ? MAX_SERIES : name_count;
	for (s = 0; s < l->series_count; s++)
		l->series[s] = names[order[s].row];
	if (l->folded)
		l->series[MAX_SERIES - 1] = "other";
	l->values = calloc((size_t)(l->series_count * l->day_count), sizeof(*l->values));
	l->texts = calloc((size_t)(l->series_count * l->day_count), sizeof(*l->texts));
	if (!l->values || !l->texts)
		goto cleanup;
	for (r = 0; r < v->row_count; r++) {
		const char *name = series_column >= 0 ? cell(v, r, series_column) : "";
		double value = measure(cell(v, r, value_column));

		d = find_text(l->days, l->day_count, cell(v, r, 0));
		s = find_text(l->series, l->folded ? MAX_SERIES - 1 : l->series_count, name);
		if (s < 0)
			s = MAX_SERIES - 1;
		l->repeated |= l->texts[s * l->day_count + d] != NULL;
		l->values[s * l->day_count + d] += value;
		l->texts[s * l->day_count + d] = cell(v, r, value_column);
		l->totals[s] += value;
	}
	ret = 0;
cleanup:
	free(names);
	free(order);
	return ret;
}

static double lines_x(const struct lines *l, int day, int left, int right)
{
	double span;

	if (l->day_count == 1)
		return (left + right) / 2.0;
	if (l->day_numbers) {
		span = (double)(l->day_numbers[l->day_count - 1] - l->day_numbers[0]);
		return left +
		       (right - left) * (double)(l->day_numbers[day] - l->day_numbers[0]) / span;
	}
	return left + (double)(right - left) * day / (l->day_count - 1);
}

/*
 * The plot of the series in shown (a bit per series), on an axis of their own: the ticks, the
 * day or time labels, areas and lines, and a hover column per point with the exact values.
 */
static void lines_plot(FILE *out, const struct lines *l, unsigned int shown, int has_series,
		       int is_bytes, const char *unit_text)
{
	const int left = 66, right = CHART_W - 18, top = 12, bottom = LINES_H - 34, pad = 14;
	int x0 = left + pad, x1 = right - pad, s, d, t, ticks, label_every;
	double max = 0, tick;
	struct axis axis;
	char label[48];

	for (s = 0; s < l->series_count; s++)
		for (d = 0; d < l->day_count && (shown & (1u << s)); d++)
			if (l->values[s * l->day_count + d] > max)
				max = l->values[s * l->day_count + d];
	axis_make(&axis, max, 4, is_bytes);

	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart\" role=\"img\">\n", CHART_W,
		LINES_H);
	ticks = (int)lround(axis.top / axis.step);
	for (t = 0; t <= ticks; t++) {
		double y = bottom - (double)(bottom - top) * t / ticks;

		tick = axis.step * t;
		axis_label(label, sizeof(label), &axis, tick);
		fprintf(out,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"%s\"/>"
			"<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>\n",
			left, y, right, y, t ? "gl" : "ax", left - 8, y + 4, label);
	}
	/* six date labels at most: each is ~65 px wide and they sit at their dates, not evenly */
	label_every = (l->day_count + 5) / 6;
	for (d = 0; d < l->day_count; d += label_every) {
		fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">",
			lines_x(l, d, x0, x1), bottom + 18);
		/* a time "YYYY-MM-DD HH:MM" from its month on: "01-05 03:00" */
		put_text(out, strlen(l->days[d]) > 10 ? l->days[d] + 5 : l->days[d], 12);
		fputs("</text>\n", out);
	}
	/* areas first, then lines over them, the largest series on top */
	for (s = l->series_count - 1; s >= 0; s--) {
		const char *color = l->folded && s == MAX_SERIES - 1 ? COLOR_OTHER :
				    has_series ? series_color(l->series[s], s) :
						 COLOR_PACKETS;
		double *values = &l->values[s * l->day_count];

		if (!(shown & (1u << s)))
			continue;

		/* one area only: overlapping fills would mix the colours */
		if (l->day_count > 1 && __builtin_popcount(shown) == 1) {
			fprintf(out, "<path class=\"area\" fill=\"%s\" d=\"M%.1f %d", color,
				lines_x(l, 0, x0, x1), bottom);
			for (d = 0; d < l->day_count; d++)
				fprintf(out, "L%.1f %.1f", lines_x(l, d, x0, x1),
					bottom - (bottom - top) * values[d] / axis.top);
			fprintf(out, "L%.1f %dZ\"/>\n", lines_x(l, l->day_count - 1, x0, x1),
				bottom);
		}
		if (l->day_count > 1) {
			fprintf(out, "<polyline class=\"line\" stroke=\"%s\" points=\"", color);
			for (d = 0; d < l->day_count; d++)
				fprintf(out, "%.1f,%.1f ", lines_x(l, d, x0, x1),
					bottom - (bottom - top) * values[d] / axis.top);
			fputs("\"/>\n", out);
		}
		/* markers only while they stay apart; one day is a dot with its value */
		for (d = 0; d < l->day_count && l->day_count <= 62; d++) {
			double x = lines_x(l, d, x0, x1);
			double y = bottom - (bottom - top) * values[d] / axis.top;

			fprintf(out,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" "
				"class=\"dot\"/>\n",
				x, y, l->day_count == 1 ? "5" : "3", color);
			if (l->day_count == 1 && __builtin_popcount(shown) == 1) {
				format_value(label, sizeof(label), values[d], is_bytes);
				fprintf(out,
					"<text x=\"%.1f\" y=\"%.1f\" class=\"value\">%s</text>\n",
					x + 9, y + 4, label);
			}
		}
	}
	/* a hover column per day: its tooltip lists every series' exact value */
	for (d = 0; d < l->day_count; d++) {
		double x = lines_x(l, d, x0, x1);
		double half = l->day_count == 1 ? (x1 - x0) / 2.0 :
						  (x1 - x0) / 2.0 / (l->day_count - 1);

		fprintf(out,
			"<rect class=\"hover\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\">"
			"<title>",
			x - half, top, 2 * half, bottom - top);
		put_text(out, l->days[d], 0);
		for (s = 0; s < l->series_count; s++) {
			double value = l->values[s * l->day_count + d];

			if (!(shown & (1u << s)))
				continue;

			format_value(label, sizeof(label), value, is_bytes);
			fputs("&#10;", out);
			if (has_series) {
				put_text(out, l->series[s], 0);
				fputs(": ", out);
			}
			fprintf(out, "%.0f %s (%s)", value, unit_text, label);
		}
		fputs("</title></rect>\n", out);
	}
	fputs("</svg>\n", out);
}

/*
 * The series whose highest point is under 5% of the highest of all (a bit each): on a shared
 * linear axis they lie on the zero line. None when every series is small or none is.
 */
static unsigned int lines_small_series(const struct lines *l)
{
	double top[MAX_SERIES] = { 0 }, max = 0;
	unsigned int small = 0;
	int s, d;

	for (s = 0; s < l->series_count; s++) {
		for (d = 0; d < l->day_count; d++)
			if (l->values[s * l->day_count + d] > top[s])
				top[s] = l->values[s * l->day_count + d];
		if (top[s] > max)
			max = top[s];
	}
	for (s = 0; s < l->series_count; s++)
		if (top[s] > 0 && top[s] < max / 20)
			small |= 1u << s;
	return small;
}

static int chart_lines(FILE *out, const struct view_table *v)
{
	int has_series = lines_have_series(v);
	int series_column = has_series ? 1 : -1, value_column = has_series ? 2 : 1;
	int is_bytes = column_is_bytes(v, value_column), is_rate = column_is_rate(v, value_column);
	const char *unit_text = is_bytes ? "bytes" : column_name(v, value_column);
	unsigned int small;
	struct lines l;
	int s, d, ret;

	if (v->column_count <= value_column) {
		no_data(out, "unexpected columns for a line chart");
		return 0;
	}
	ret = lines_collect(v, series_column, value_column, &l);
	if (ret)
		goto cleanup;
	/* every series; those too small to see beside the largest again, on their own scale */
	lines_plot(out, &l, (1u << l.series_count) - 1, has_series, is_bytes, unit_text);
	small = lines_small_series(&l);
	if (has_series && small) {
		fputs("<p class=\"more\">Too small to see above, on their own scale:</p>\n", out);
		lines_plot(out, &l, small, has_series, is_bytes, unit_text);
	}
	fputs("<div class=\"legend rows\">", out);
	for (s = 0; s < l.series_count; s++) {
		const char *color = l.folded && s == MAX_SERIES - 1 ? COLOR_OTHER :
				    has_series			    ? series_color(l.series[s], s) :
								      COLOR_PACKETS;
		char total[48], mean[48], peak[48];
		double top_value = 0;

		for (d = 0; d < l.day_count; d++)
			if (l.values[s * l.day_count + d] > top_value)
				top_value = l.values[s * l.day_count + d];
		format_value(total, sizeof(total), l.totals[s], is_bytes);
		format_value(mean, sizeof(mean), l.totals[s] / l.day_count, is_bytes);
		format_value(peak, sizeof(peak), top_value, is_bytes);
		legend_item(out, color, "line", has_series ? l.series[s] : unit_text);
		if (is_rate) /* rates do not add up: the mean of the points and the highest */
			fprintf(out, "<small>mean %s bit/s &middot; max %s bit/s</small>", mean,
				peak);
		else
			fprintf(out, "<small>total %s &middot; mean %s/day &middot; max %s</small>",
				total, mean, peak);
	}
	fputs("</div>\n", out);

	/* the table: a day per row, a column per series, when every series has its own column */
	if (!has_series || l.folded || l.repeated) {
		table_write(out, v, TABLE_ROWS_MAX);
		goto cleanup;
	}
	fputs("<table>\n<thead><tr><th>", out);
	put_text(out, column_name(v, 0), 0);
	fputs("</th>", out);
	for (s = 0; s < l.series_count; s++) {
		fputs("<th class=\"n\">", out);
		put_text(out, l.series[s], 0);
		fprintf(out, " %s</th>", unit_text);
	}
	fputs("</tr></thead>\n<tbody>\n", out);
	for (d = 0; d < l.day_count && d < TABLE_ROWS_MAX; d++) {
		fputs("<tr><td>", out);
		put_text(out, l.days[d], 0);
		fputs("</td>", out);
		for (s = 0; s < l.series_count; s++) {
			const char *text = l.texts[s * l.day_count + d];

			fputs("<td class=\"n\">", out);
			/* no row: nothing of that protocol on that day */
			put_number(out, text ? text : "0");
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
	if (l.day_count > TABLE_ROWS_MAX) {
		fprintf(out, "<p class=\"more\">%d more days: <code>flowcollector query ",
			l.day_count - TABLE_ROWS_MAX);
		put_text(out, v->name, 0);
		fputs("</code></p>\n", out);
	}
cleanup:
	lines_free(&l);
	return ret;
}

/* --- bars: the top N, largest first -------------------------------------------------------- */

/* clang-format off */
static const struct {
	int port;
	const char *name;
} services[] = {
	/* a non-first fragment carries no ports: the rollups count it as port 0 */
	{ 0, "non-first fragments" },
	{ 20, "ftp-data" }, { 21, "ftp" },	  { 22, "ssh" },	 { 23, "telnet" },
	{ 25, "smtp" },	    { 53, "dns" },	  { 80, "http" },	 { 110, "pop3" },
	{ 123, "ntp" },	    { 143, "imap" },	  { 161, "snmp" },	 { 443, "https" },
	{ 465, "smtps" },   { 587, "submission" }, { 853, "dns-tls" },	 { 873, "rsync" },
	{ 993, "imaps" },   { 995, "pop3s" },	  { 1194, "openvpn" },	 { 3306, "mysql" },
	{ 3389, "rdp" },    { 5353, "mdns" },	  { 8080, "http-alt" }, { 8443, "https-alt" },
};
/* clang-format on */

static const char *service_name(const char *port)
{
	size_t i;
	int number;

	if (!is_integer(port))
		return NULL;
	number = atoi(port);
	for (i = 0; i < ARRAY_SIZE(services); i++)
		if (services[i].port == number)
			return services[i].name;
	return NULL;
}

/* "TCP/443"; ICMP has no port (the view gives 0), so just "ICMP". */
static void port_label(char *dst, size_t size, const char *proto, const char *port)
{
	if (!strcmp(port, "0") && !strncmp(proto, "ICMP", 4))
		snprintf(dst, size, "%.12s", proto);
	else
		snprintf(dst, size, "%.12s/%.8s", proto, port);
}

/* The cells before the measures: "10.0.0.1", or "10.0.0.1 → 192.0.2.7 TCP". */
static void keyed_label(char *dst, size_t size, const struct view_table *v, int row,
			int value_column)
{
	size_t used = 0;
	int c;

	dst[0] = '\0';
	/* conversations: "src → dst proto"; interfaces: "agent if 3 ingress" */
	for (c = 0; c < value_column && used < size; c++) {
		const char *name = column_name(v, c);

		used += (size_t)snprintf(dst + used, size - used, "%s%s%s",
					 !c		      ? "" :
					 !strcmp(name, "dst") ? " \u2192 " :
								" ",
					 !strcmp(name, "interface") ? "if " : "", cell(v, row, c));
	}
}

static int chart_bars(FILE *out, const struct view_table *v)
{
	/*
	 * regions: (country_code, country_name, bytes, packets); ports: (proto, port, bytes, ...);
	 * two columns (bandwidth_peak): (label, value); others (talkers, conversations): the
	 * columns before bytes make the label, "src → dst proto", "agent if 3 ingress"
	 */
	int simple = v->column_count == 2;
	int packets = !simple && ranks_packets(v), value_column = simple ? 1 : packets ? 3 : 2;
	int ports = !simple && !strcmp(column_name(v, 1), "port");
	int regions = !strcmp(column_name(v, 0), "country_code"),
	    keyed = !simple && !ports && !regions;
	int rows = v->row_count < BAR_ROWS_MAX ? v->row_count : BAR_ROWS_MAX, i, t, ticks;
	const int top = 6, row_h = 26, bar_h = 16, label_w = 178, value_w = 70;
	const int x0 = label_w + 6, x1 = CHART_W - value_w, height = top + rows * row_h + 26;
	const char *legend_names[MAX_SERIES];
	int legend_count = 0;
	struct ranked *ranked;
	struct axis axis;
	char label[128];

	if (keyed)
		for (value_column = 1; value_column < v->column_count &&
				       !column_is_measure(column_name(v, value_column));
		     value_column++)
			;
	if (v->column_count <= value_column) {
		no_data(out, "unexpected columns for a bar chart");
		return 0;
	}
	ranked = rank_rows(v, value_column);
	if (!ranked)
		return -ENOMEM;
	axis_make(&axis, ranked[0].value, 4, !packets && !simple);
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart\" role=\"img\">\n", CHART_W, height);
	ticks = (int)lround(axis.top / axis.step);
	for (t = 0; t <= ticks; t++) {
		double x = x0 + (double)(x1 - x0) * t / ticks;

		axis_label(label, sizeof(label), &axis, axis.step * t);
		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%d\" class=\"tick\" "
			"text-anchor=\"middle\">%s</text>\n",
			x, top - 2, x, top + rows * row_h, t ? "gl" : "ax", x,
			top + rows * row_h + 16, label);
	}
	for (i = 0; i < rows; i++) {
		int r = ranked[i].row, y = top + i * row_h;
		double width = (x1 - x0) * ranked[i].value / axis.top;
		const char *color = packets ? COLOR_PACKETS : COLOR_BYTES, *service = NULL;

		if (ports) {
			color = series_color(cell(v, r, 0), 0);
			/* ICMP's port 0 is no port, not a fragment */
			service = strncmp(cell(v, r, 0), "ICMP", 4) ? service_name(cell(v, r, 1)) :
								      NULL;
			if (legend_count < MAX_SERIES &&
			    find_text(legend_names, legend_count, cell(v, r, 0)) < 0)
				legend_names[legend_count++] = cell(v, r, 0);
		}
		fputs("<g><title>", out);
		if (simple) {
			put_text(out, cell(v, r, 0), 0);
		} else if (keyed) {
			keyed_label(label, sizeof(label), v, r, value_column);
			put_text(out, label, 0);
		} else if (ports) {
			put_text(out, cell(v, r, 0), 0);
			fputc('/', out);
			put_text(out, cell(v, r, 1), 0);
		} else {
			put_text(out, cell(v, r, 1), 0);
			fputs(" (", out);
			put_text(out, cell(v, r, 0), 0);
			fputc(')', out);
		}
		fprintf(out, ": %.0f %s", ranked[i].value,
			simple	? column_name(v, 1) :
			packets ? "packets" :
				  "bytes");
		fprintf(out,
			"</title>\n<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"end\">",
			label_w, y + row_h / 2 + 4);
		if (simple) {
			put_text(out, cell(v, r, 0), LABEL_CHARS_MAX);
		} else if (keyed) {
			keyed_label(label, sizeof(label), v, r, value_column);
			put_text(out, label, LABEL_CHARS_MAX + 6);
		} else if (ports) {
			port_label(label, sizeof(label), cell(v, r, 0), cell(v, r, 1));
			put_text(out, label, 0);
			if (service) {
				fputs("<tspan class=\"muted\"> ", out);
				put_text(out, service, 0);
				fputs("</tspan>", out);
			}
		} else {
			put_text(out, cell(v, r, 1), LABEL_CHARS_MAX - 4);
			fputs("<tspan class=\"muted\"> ", out);
			put_text(out, cell(v, r, 0), 3);
			fputs("</tspan>", out);
		}
		format_value(label, sizeof(label), ranked[i].value, !packets && !simple);
		fprintf(out,
			"</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\" "
			"fill=\"%s\" class=\"bar\"/>\n<text x=\"%.1f\" y=\"%d\" class=\"value\">"
			"%s</text></g>\n",
			x0, y + (row_h - bar_h) / 2, width > 1 ? width : 1, bar_h, color,
			x0 + (width > 1 ? width : 1) + 6, y + row_h / 2 + 4, label);
	}
	fputs("</svg>\n", out);
	if (ports && legend_count) {
		fputs("<div class=\"legend\">", out);
		for (i = 0; i < legend_count; i++)
			legend_item(out, series_color(legend_names[i], 0), "box", legend_names[i]);
		fputs("</div>\n", out);
	}
	if (v->row_count > rows)
		fprintf(out, "<p class=\"more\">the top %d of %d are drawn</p>\n", rows,
			v->row_count);
	free(ranked);
	table_write(out, v, TABLE_ROWS_MAX);
	return 0;
}

/* --- share: a donut with its legend -------------------------------------------------------- */

static void donut_slice(FILE *out, double cx, double cy, double outer, double inner, double from,
			double to, const char *color)
{
	int large = to - from > M_PI;

	fprintf(out,
		"<path fill=\"%s\" class=\"slice\" d=\"M%.2f %.2fA%.1f %.1f 0 %d 1 %.2f %.2f"
		"L%.2f %.2fA%.1f %.1f 0 %d 0 %.2f %.2fZ\"><title>",
		color, cx + outer * sin(from), cy - outer * cos(from), outer, outer, large,
		cx + outer * sin(to), cy - outer * cos(to), cx + inner * sin(to),
		cy - inner * cos(to), inner, inner, large, cx + inner * sin(from),
		cy - inner * cos(from));
}

static int chart_share(FILE *out, const struct view_table *v)
{
	/* (proto, bytes or packets, share_percent) */
	int is_bytes = column_is_bytes(v, 1), has_share = v->column_count >= 3;
	int slices = v->row_count > MAX_SERIES ? MAX_SERIES : v->row_count, i, r;
	int folded = v->row_count > MAX_SERIES;
	const double cx = 112, cy = 104, outer = 92, inner = 60;
	const int height = 2 * (int)cy, legend_x = 250;
	double total = 0, values[MAX_SERIES] = { 0 }, angle = 0;
	struct ranked *ranked;
	char label[48];

	if (v->column_count < 2) {
		no_data(out, "unexpected columns for a share chart");
		return 0;
	}
	ranked = rank_rows(v, 1);
	if (!ranked)
		return -ENOMEM;
	for (r = 0; r < v->row_count; r++) {
		i = r < slices ? r : slices - 1;
		values[i] += ranked[r].value;
		total += ranked[r].value;
	}
	if (total <= 0) {
		free(ranked);
		no_data(out, "every value is zero");
		table_write(out, v, TABLE_ROWS_MAX);
		return 0;
	}
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart\" role=\"img\">\n", CHART_W, height);
	for (i = 0; i < slices; i++) {
		const char *name = folded && i == slices - 1 ? "other" : cell(v, ranked[i].row, 0);
		const char *color = folded && i == slices - 1 ? COLOR_OTHER : series_color(name, i);
		double sweep = 2 * M_PI * values[i] / total;

		if (values[i] <= 0)
			continue;
		/* a full ring cannot be one arc: its ends would meet */
		if (sweep > 2 * M_PI - 1e-4)
			fprintf(out,
				"<circle cx=\"%.0f\" cy=\"%.0f\" r=\"%.1f\" fill=\"none\" "
				"stroke=\"%s\" stroke-width=\"%.0f\"><title>",
				cx, cy, (outer + inner) / 2, color, outer - inner);
		else
			donut_slice(out, cx, cy, outer, inner, angle, angle + sweep, color);
		put_text(out, name, 0);
		fprintf(out, ": %.0f %s (%.2f%%)</title>%s\n", values[i],
			is_bytes ? "bytes" : "packets", 100 * values[i] / total,
			sweep > 2 * M_PI - 1e-4 ? "</circle>" : "</path>");
		angle += sweep;
	}
	format_value(label, sizeof(label), total, is_bytes);
	fprintf(out,
		"<text x=\"%.0f\" y=\"%.0f\" class=\"big\" text-anchor=\"middle\">%s</text>"
		"<text x=\"%.0f\" y=\"%.0f\" class=\"tick\" text-anchor=\"middle\">%s</text>\n",
		cx, cy + 3, label, cx, cy + 21, is_bytes ? "bytes" : "packets");
	for (i = 0; i < slices; i++) {
		const char *name = folded && i == slices - 1 ? "other" : cell(v, ranked[i].row, 0);
		const char *color = folded && i == slices - 1 ? COLOR_OTHER : series_color(name, i);
		int y = (int)cy - slices * 13 + i * 26 + 13;
		char percent[48];

		/* the view's own rounding when the row is its own slice */
		if (has_share && !(folded && i == slices - 1) &&
		    is_number(cell(v, ranked[i].row, 2)))
			snprintf(percent, sizeof(percent), "%.2f%%",
				 strtod(cell(v, ranked[i].row, 2), NULL));
		else
			snprintf(percent, sizeof(percent), "%.2f%%", 100 * values[i] / total);
		format_value(label, sizeof(label), values[i], is_bytes);
		fprintf(out,
			"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" rx=\"2\" "
			"fill=\"%s\"/><text x=\"%d\" y=\"%d\" class=\"label\">",
			legend_x, y - 10, color, legend_x + 20, y);
		put_text(out, name, LABEL_CHARS_MAX);
		fprintf(out,
			"</text><text x=\"%d\" y=\"%d\" class=\"pct\" text-anchor=\"end\">%s"
			"</text><text x=\"%d\" y=\"%d\" class=\"value\" text-anchor=\"end\">%s"
			"</text>\n",
			legend_x + 250, y, percent, CHART_W - 10, y, label);
	}
	fputs("</svg>\n", out);
	free(ranked);
	table_write(out, v, TABLE_ROWS_MAX);
	return 0;
}

/* --- map: bubbles on an equirectangular world ---------------------------------------------- */

static double map_x(double longitude)
{
	return (longitude + 180) * MAP_SCALE;
}

static double map_y(double latitude)
{
	return (90 - latitude) * MAP_SCALE;
}

/*
 * The land of report_land ("name lon,lat lon,lat ..." a ring) as one path, a subpath a ring,
 * in whole map units: points that round to the one before are left out.
 */
static void map_land(FILE *out)
{
	const char *p = report_land;

	fputs("<path class=\"land\" d=\"", out);
	while (*p) {
		const char *eol = p + strcspn(p, "\n");
		long last_x = LONG_MIN, last_y = LONG_MIN;
		int points = 0;

		if (*p != '#') {
			p += strcspn(p, " \n"); /* past the ring's name */
			while (p < eol && *p == ' ') {
				double lon, lat;
				long x, y;
				char *end;

				lon = strtod(p + 1, &end);
				if (end == p + 1 || *end != ',')
					break;
				lat = strtod(end + 1, &end);
				p = end;
				x = lround(map_x(lon));
				y = lround(map_y(lat));
				if (x == last_x && y == last_y)
					continue;
				fprintf(out, "%c%ld %ld", points ? 'L' : 'M', x, y);
				last_x = x;
				last_y = y;
				points++;
			}
		}
		if (points)
			fputc('Z', out);
		p = *eol ? eol + 1 : eol;
	}
	fputs("\"/>\n", out);
}

static void map_background(FILE *out)
{
	int g;

	fprintf(out, "<rect width=\"%d\" height=\"%d\" class=\"sea\"/>\n", MAP_W, MAP_H);
	map_land(out);
	for (g = -150; g <= 150; g += 30) {
		fprintf(out,
			"<line x1=\"%.0f\" y1=\"0\" x2=\"%.0f\" y2=\"%d\" class=\"grat\"/>"
			"<text x=\"%.0f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">"
			"%d&#176;%s</text>\n",
			map_x(g), map_x(g), MAP_H, map_x(g), MAP_H - 6, abs(g),
			g < 0 ? "W" :
			g > 0 ? "E" :
				"");
	}
	for (g = 60; g > MAP_SOUTH; g -= 30) {
		fprintf(out,
			"<line x1=\"0\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\" class=\"%s\"/>"
			"<text x=\"6\" y=\"%.0f\" class=\"tick\">%d&#176;%s</text>\n",
			map_y(g), MAP_W, map_y(g), g ? "grat" : "equator", map_y(g) - 4, abs(g),
			g < 0 ? "S" :
			g > 0 ? "N" :
				"");
	}
}

/* A region with a place on the drawn part of the map (regional codes have none: "nan"). */
static int on_map(const char *lat_text, const char *lon_text)
{
	double lat = strtod(lat_text, NULL), lon = strtod(lon_text, NULL);

	return is_number(lat_text) && is_number(lon_text) && lat <= 90 && lat >= MAP_SOUTH &&
	       lon >= -180 && lon <= 180;
}

static int chart_map(FILE *out, const struct view_table *v)
{
	/* (country_code, country_name, latitude, longitude, bytes, packets) */
	const int lat_column = 2, lon_column = 3, bytes_column = 4;
	const double max_radius = 34, min_radius = 2.5;
	int i, off_map = 0, labels = 0;
	struct ranked *ranked;
	char label[48];
	double max;

	if (v->column_count <= bytes_column) {
		no_data(out, "unexpected columns for a map");
		return 0;
	}
	ranked = rank_rows(v, bytes_column);
	if (!ranked)
		return -ENOMEM;
	max = ranked[0].value > 0 ? ranked[0].value : 1;
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart map\" role=\"img\">\n", MAP_W,
		MAP_H);
	map_background(out);
	/* largest first, so the small ones stay visible on top */
	for (i = 0; i < v->row_count; i++) {
		int r = ranked[i].row;
		const char *lat_text = cell(v, r, lat_column), *lon_text = cell(v, r, lon_column);
		double lat = strtod(lat_text, NULL), lon = strtod(lon_text, NULL);
		/* area, not radius, proportional to bytes */
		double radius = max_radius * sqrt(ranked[i].value / max);

		if (!on_map(lat_text, lon_text)) {
			off_map++;
			continue;
		}
		if (radius < min_radius)
			radius = min_radius;
		format_value(label, sizeof(label), ranked[i].value, 1);
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" class=\"bubble\"><title>",
			map_x(lon), map_y(lat), radius);
		put_text(out, cell(v, r, 1), 0);
		fputs(" (", out);
		put_text(out, cell(v, r, 0), 0);
		fprintf(out, "): %.0f bytes (%s), ", ranked[i].value, label);
		put_text(out, cell(v, r, 5), 0);
		fputs(" packets</title></circle>\n", out);
	}
	/* codes last, above every bubble; inside a large bubble, beside a small one */
	for (i = 0; i < v->row_count && labels < MAP_LABELS; i++) {
		int r = ranked[i].row;
		double lat = strtod(cell(v, r, lat_column), NULL);
		double lon = strtod(cell(v, r, lon_column), NULL);
		double radius = max_radius * sqrt(ranked[i].value / max);
		int inside = radius >= 11, left = map_x(lon) > MAP_W - 40;
		double offset = (radius > min_radius ? radius : min_radius) + 3;

		if (!on_map(cell(v, r, lat_column), cell(v, r, lon_column)) || ranked[i].value <= 0)
			continue;
		/* near the right edge the code goes left of its bubble */
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"code\" text-anchor=\"%s\">",
			inside ? map_x(lon) :
			left   ? map_x(lon) - offset :
				 map_x(lon) + offset,
			map_y(lat) + 4,
			inside ? "middle" :
			left   ? "end" :
				 "start");
		put_text(out, cell(v, r, 0), 3);
		fputs("</text>\n", out);
		labels++;
	}
	/* the size key, in the empty South Pacific */
	if (ranked[0].value > 0) {
		const double fractions[] = { 1, 0.25, 0.04 };
		double key_x = 104, key_base = MAP_H - 40;
		size_t k;

		fprintf(out,
			"<rect x=\"48\" y=\"%.0f\" width=\"176\" height=\"%.0f\" rx=\"4\" "
			"class=\"key\"/><text x=\"58\" y=\"%.0f\" class=\"tick\">bubble area "
			"&#8733; bytes</text>\n",
			key_base - 2 * max_radius - 30, 2 * max_radius + 44,
			key_base - 2 * max_radius - 12);
		for (k = 0; k < ARRAY_SIZE(fractions); k++) {
			double radius = max_radius * sqrt(fractions[k]);

			format_value(label, sizeof(label), max * fractions[k], 1);
			fprintf(out,
				"<circle cx=\"%.0f\" cy=\"%.1f\" r=\"%.1f\" class=\"keyring\"/>"
				"<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
				"class=\"keyline\"/><text x=\"%.0f\" y=\"%.1f\" class=\"tick\">%s"
				"</text>\n",
				key_x, key_base - radius, radius, key_x, key_base - 2 * radius,
				key_x + max_radius + 8, key_base - 2 * radius,
				key_x + max_radius + 12, key_base - 2 * radius + 4, label);
		}
	}
	fputs("</svg>\n<p class=\"note\">Equirectangular, 90&#176;N to 60&#176;S; land from "
	      "Natural Earth (1:110m). A bubble sits inside each country's largest land area; the "
	      "largest are labelled.",
	      out);
	if (off_map) {
		int listed = 0;

		fputs(" Not on the map, for want of a single place (or south of 60&#176;S):", out);
		for (i = 0; i < v->row_count && listed < MAP_OFF_LISTED; i++) {
			int r = ranked[i].row;

			if (on_map(cell(v, r, lat_column), cell(v, r, lon_column)))
				continue;
			format_value(label, sizeof(label), ranked[i].value, 1);
			fputs(listed++ ? ", " : " ", out);
			put_text(out, cell(v, r, 1), 0);
			fputs(" (", out);
			put_text(out, cell(v, r, 0), 0);
			fprintf(out, ") %s", label);
		}
		if (off_map > listed)
			fprintf(out, " and %d more (in the table)", off_map - listed);
		fputc('.', out);
	}
	fputs("</p>\n", out);
	free(ranked);
	table_write(out, v, 20);
	return 0;
}

/* --- the page ------------------------------------------------------------------------------ */

static double column_sum(const struct view_table *v, int column)
{
	double sum = 0;
	int r;

	for (r = 0; r < v->row_count; r++)
		sum += measure(cell(v, r, column));
	return sum;
}

/* A name (not a number) as the value is set smaller, so "United States" fits. */
static void stat_tile(FILE *out, const char *title, const char *value, const char *note,
		      int is_name)
{
	fputs("<div class=\"stat\"><span>", out);
	put_text(out, title, 0);
	fputs(is_name ? "</span><b class=\"name\">" : "</span><b>", out);
	put_text(out, value, LABEL_CHARS_MAX);
	fputs("</b><small>", out);
	put_text(out, note, 40);
	fputs("</small></div>\n", out);
}

/* The header's summary, from whichever of the well-known views are present and not empty. */
static void stat_tiles(FILE *out, const struct view_table *views, int count)
{
	const struct view_table *v;
	char value[64], note[96];
	struct ranked *ranked;

	fputs("<div class=\"stats\">\n", out);
	v = view_named(views, count, "proto_share_bytes");
	if (v) {
		format_value(value, sizeof(value), column_sum(v, 1), 1);
		stat_tile(out, "Traffic", value, "bytes in the time range", 0);
	}
	v = view_named(views, count, "proto_share_packets");
	if (v) {
		format_value(value, sizeof(value), column_sum(v, 1), 0);
		stat_tile(out, "Packets", value, "packets in the time range", 0);
	}
	v = view_named(views, count, "daily_packets");
	if (v) {
		snprintf(value, sizeof(value), "%d", v->row_count);
		snprintf(note, sizeof(note), "%.12s to %.12s", cell(v, 0, 0),
			 cell(v, v->row_count - 1, 0));
		stat_tile(out, v->row_count == 1 ? "Day with traffic" : "Days with traffic", value,
			  note, 0);
	}
	v = view_named(views, count, "proto_share_bytes");
	if (v && v->column_count >= 3 && (ranked = rank_rows(v, 1))) {
		snprintf(note, sizeof(note), "%.12s%% of bytes", cell(v, ranked[0].row, 2));
		stat_tile(out, "Top protocol", cell(v, ranked[0].row, 0), note, 1);
		free(ranked);
	}
	v = view_named(views, count, "top_regions_bytes");
	if (v && v->column_count >= 3 && (ranked = rank_rows(v, 2))) {
		format_value(value, sizeof(value), ranked[0].value, 1);
		snprintf(note, sizeof(note), "%s from %.2s", value, cell(v, ranked[0].row, 0));
		stat_tile(out, "Top source region", cell(v, ranked[0].row, 1), note, 1);
		free(ranked);
	}
	v = view_named(views, count, "top_ports_bytes");
	if (v && v->column_count >= 3 && (ranked = rank_rows(v, 2))) {
		const char *service = service_name(cell(v, ranked[0].row, 1));

		port_label(value, sizeof(value), cell(v, ranked[0].row, 0),
			   cell(v, ranked[0].row, 1));
		format_value(note, sizeof(note), ranked[0].value, 1);
		if (service) {
			size_t len = strlen(note);

			snprintf(note + len, sizeof(note) - len, " (%s)", service);
		}
		stat_tile(out, "Top port", value, note, 1);
		free(ranked);
	}
	v = view_named(views, count, "region_map");
	if (v) {
		snprintf(value, sizeof(value), "%d", v->row_count);
		stat_tile(out, "Source regions", value, "countries seen", 0);
	}
	fputs("</div>\n", out);
}

static const char *describe(const struct view_table *v)
{
	if (column_is_rate(v, v->column_count - 1))
		return v->chart == VIEW_CHART_LINES ?
			       "Bits per second, the mean of each minute, hour or day (by the "
			       "range), a line per protocol" :
			       "Bits per second over the minutes of the range, quiet ones as 0";
	switch (v->chart) {
	case VIEW_CHART_LINES:
		if (lines_have_series(v))
			return column_is_bytes(v, 2) ? "Bytes per UTC day, a line per protocol" :
						       "Per UTC day, a line per protocol";
		return column_is_bytes(v, 1) ? "Bytes per UTC day" : "Packets per UTC day";
	case VIEW_CHART_BARS:
		return ranks_packets(v) ? "Packets, largest first" : "Bytes, largest first";
	case VIEW_CHART_SHARE:
		return column_is_bytes(v, 1) ? "Share of all bytes" : "Share of all packets";
	case VIEW_CHART_MAP:
		return "Bytes by source region";
	}
	return "";
}

int report_write_html(FILE *out, const char *heading, const char *time_range_text,
		      const struct view_table *views, int view_count)
{
	return report_write_html_live(out, heading, time_range_text, views, view_count, NULL);
}

int report_write_html_live(FILE *out, const char *heading, const char *time_range_text,
			   const struct view_table *views, int view_count,
			   const struct report_live *live)
{
	char generated[64];
	time_t now = time(NULL);
	struct tm tm;
	int i, ret = 0;

	if (!heading)
		heading = "";
	if (!time_range_text)
		time_range_text = "";
	if (!gmtime_r(&now, &tm) ||
	    !strftime(generated, sizeof(generated), "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(generated, sizeof(generated), "unknown");

	/* the policy makes "nothing is fetched" the browser's rule, not only our intent */
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"flowcollector\">\n",
	      out);
	if (live && live->refresh_seconds)
		fprintf(out, "<meta http-equiv=\"refresh\" content=\"%u\">\n",
			live->refresh_seconds);
	fputs("<title>", out);
	put_text(out, heading, 0);
	fputs("</title>\n<style>\n", out);
	fputs(report_css, out);
	fputs("</style>\n</head>\n<body>\n<header>\n<div><h1>", out);
	put_text(out, heading, 0);
	fputs("</h1><p>Flows captured by flowagent, summed in ClickHouse by flowcollector"
	      "</p></div>\n"
	      "<dl><div><dt>Time range</dt><dd>",
	      out);
	put_text(out, time_range_text, 0);
	fputs("</dd></div><div><dt>Generated</dt><dd>", out);
	put_text(out, generated, 0);
	fputs("</dd></div></dl>\n", out);
	if (live && live->link_count) {
		fputs("<nav class=\"ranges\">", out);
		for (i = 0; i < live->link_count; i++) {
			fputs(live->links[i].current ? "<a class=\"current\" href=\"" :
						       "<a href=\"",
			      out);
			put_text(out, live->links[i].href, 0);
			fputs("\">", out);
			put_text(out, live->links[i].label, 0);
			fputs("</a>", out);
		}
		if (live->refresh_seconds)
			fprintf(out, "<span>refreshes every %u s</span>", live->refresh_seconds);
		fputs("</nav>\n", out);
	}
	fputs("</header>\n", out);
	stat_tiles(out, views, view_count);
	fputs("<main>\n", out);
	for (i = 0; i < view_count; i++) {
		const struct view_table *v = &views[i];
		int err = 0;

		fprintf(out, "<section%s id=\"",
			v->chart == VIEW_CHART_MAP ? " class=\"wide\"" : "");
		put_text(out, v->name, 0);
		fputs("\">\n<div class=\"ph\"><h2>", out);
		put_text(out, v->title ? v->title : v->name, 0);
		fputs("</h2><code>", out);
		put_text(out, v->name, 0);
		fputs("</code></div>\n<p>", out);
		put_text(out, describe(v), 0);
		fputs("</p>\n", out);
		if (v->row_count <= 0 || !v->cells)
			no_data(out, "No data in this time range");
		else if (v->chart == VIEW_CHART_LINES)
			err = chart_lines(out, v);
		else if (v->chart == VIEW_CHART_BARS)
			err = chart_bars(out, v);
		else if (v->chart == VIEW_CHART_SHARE)
			err = chart_share(out, v);
		else
			err = chart_map(out, v);
		if (err && !ret)
			ret = err;
		fputs("</section>\n", out);
	}
	fputs("</main>\n<footer>Self-contained page: no script and nothing fetched. Charts round; "
	      "the tables are exact. Every view, in full: <code>flowcollector query VIEW</code>."
	      "</footer>\n</body>\n</html>\n",
	      out);
	errno = 0;
	if (fflush(out) || ferror(out))
		return errno ? -errno : -EIO;
	return ret;
}
