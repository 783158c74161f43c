// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The HTML report: inline SVG charts drawn from the views' tables; see report.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

#define CHART_W 640
#define CHART_H 260
#define MAX_SERIES 8
#define MAX_POINTS 400

static const char *const palette[MAX_SERIES] = { "#3d7bd9", "#e8743b", "#19a979", "#ed4a7b",
						 "#945ecf", "#13a4b4", "#bf8b00", "#6c757d" };

static void escape(FILE *out, const char *text)
{
	for (; *text; text++) {
		switch (*text) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*text, out);
		}
	}
}

/* 1234567 -> "1.23 M"; bytes get B, kB, MB, ... */
static void human(char *dst, size_t size, double value, int is_bytes)
{
	static const char *const units[] = { "", " k", " M", " G", " T", " P", " E" };
	int unit = 0;

	while (fabs(value) >= 1000 && unit < 6) {
		value /= 1000;
		unit++;
	}
	snprintf(dst, size, unit ? "%.3g%s%s" : "%.0f%s%s", value, units[unit],
		 is_bytes ? (unit ? "B" : " B") : "");
}

static const char *cell(const struct view_table *v, int row, int column)
{
	if (row >= v->row_count || column >= v->column_count)
		return "";
	return v->cells[row * v->column_count + column];
}

static int column_index(const struct view_table *v, const char *name)
{
	int c;

	for (c = 0; c < v->column_count; c++)
		if (!strcmp(v->columns[c], name))
			return c;
	return -1;
}

/* The measure a view ranks by: bytes unless its name ends in _packets. */
static int measure_is_packets(const struct view_table *v)
{
	size_t len = strlen(v->name);

	return len > 8 && !strcmp(v->name + len - 8, "_packets");
}

static void no_data(FILE *out)
{
	fprintf(out, "<svg viewBox=\"0 0 %d 80\" class=\"chart\"><text x=\"%d\" y=\"45\" "
		     "class=\"muted\" text-anchor=\"middle\">no data in this range</text></svg>\n",
		CHART_W, CHART_W / 2);
}

/* Lines over days: x = column 0, series = column 1 when the view has one, y = the measure. */
static void chart_lines(FILE *out, const struct view_table *v)
{
	const char *days[MAX_POINTS], *series[MAX_SERIES];
	double values[MAX_SERIES][MAX_POINTS] = { { 0 } }, max = 0;
	int day_count = 0, series_count = 0, has_series, value_column, r, d, s;
	const int left = 70, right = 20, top = 20, bottom = 40;
	int is_bytes;
	char label[32];

	has_series = v->column_count >= 4 && column_index(v, "proto") == 1;
	value_column = has_series ? column_index(v, "bytes") : column_index(v, "packets");
	is_bytes = has_series;
	if (value_column < 0)
		value_column = v->column_count - 1;
	for (r = 0; r < v->row_count; r++) {
		const char *day = cell(v, r, 0), *name = has_series ? cell(v, r, 1) : "";

		for (d = 0; d < day_count && strcmp(days[d], day); d++)
			;
		if (d == day_count && day_count < MAX_POINTS)
			days[day_count++] = day;
		for (s = 0; s < series_count && strcmp(series[s], name); s++)
			;
		if (s == series_count && series_count < MAX_SERIES)
			series[series_count++] = name;
		if (d < MAX_POINTS && s < MAX_SERIES)
			values[s][d] += strtod(cell(v, r, value_column), NULL);
	}
	if (!day_count) {
		no_data(out);
		return;
	}
	for (s = 0; s < series_count; s++)
		for (d = 0; d < day_count; d++)
			if (values[s][d] > max)
				max = values[s][d];
	if (max <= 0)
		max = 1;
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart\">\n", CHART_W, CHART_H);
	for (r = 0; r <= 4; r++) {
		int y = top + (CHART_H - top - bottom) * r / 4;

		human(label, sizeof(label), max * (4 - r) / 4, is_bytes);
		fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>"
			     "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"end\">%s</text>\n",
			left, y, CHART_W - right, y, left - 6, y + 4, label);
	}
	for (d = 0; d < day_count; d++) {
		int x = day_count == 1 ? (left + CHART_W - right) / 2
				       : left + (CHART_W - left - right) * d / (day_count - 1);

		if (day_count <= 14 || d % (day_count / 10 + 1) == 0) {
			fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">",
				x, CHART_H - bottom + 18);
			escape(out, days[d]);
			fputs("</text>\n", out);
		}
	}
	for (s = 0; s < series_count; s++) {
		fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"",
			palette[s]);
		for (d = 0; d < day_count; d++) {
			double x = day_count == 1 ? (left + CHART_W - right) / 2.0
					: left + (double)(CHART_W - left - right) * d / (day_count - 1);
			double y = top + (CHART_H - top - bottom) * (1 - values[s][d] / max);

			fprintf(out, "%.1f,%.1f ", x, y);
		}
		fputs("\"/>\n", out);
		for (d = 0; d < day_count; d++) {
			double x = day_count == 1 ? (left + CHART_W - right) / 2.0
					: left + (double)(CHART_W - left - right) * d / (day_count - 1);
			double y = top + (CHART_H - top - bottom) * (1 - values[s][d] / max);

			human(label, sizeof(label), values[s][d], is_bytes);
			fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>",
				x, y, palette[s]);
			escape(out, days[d]);
			fputc(' ', out);
			escape(out, series[s]);
			fprintf(out, ": %s</title></circle>\n", label);
		}
	}
	fputs("</svg>\n", out);
	if (has_series) {
		fputs("<div class=\"legend\">", out);
		for (s = 0; s < series_count; s++) {
			fprintf(out, "<span><i style=\"background:%s\"></i>", palette[s]);
			escape(out, series[s]);
			fputs("</span>", out);
		}
		fputs("</div>\n", out);
	}
}

/* Horizontal bars, sorted as the view returns them. */
static void chart_bars(FILE *out, const struct view_table *v)
{
	int packets = measure_is_packets(v);
	int value_column = column_index(v, packets ? "packets" : "bytes");
	int ports = column_index(v, "port") >= 0, r, rows = v->row_count < 12 ? v->row_count : 12;
	const int left = 190, row_h = 24;
	double max = 0;
	char label[32];

	if (!rows || value_column < 0) {
		no_data(out);
		return;
	}
	for (r = 0; r < rows; r++)
		if (strtod(cell(v, r, value_column), NULL) > max)
			max = strtod(cell(v, r, value_column), NULL);
	if (max <= 0)
		max = 1;
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart\">\n", CHART_W, rows * row_h + 10);
	for (r = 0; r < rows; r++) {
		double value = strtod(cell(v, r, value_column), NULL);
		int width = (int)((CHART_W - left - 90) * value / max);
		int y = 5 + r * row_h;

		fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"end\">", left - 8,
			y + 16);
		if (ports) {
			escape(out, cell(v, r, 0));
			fputc('/', out);
			escape(out, cell(v, r, 1));
		} else {
			escape(out, cell(v, r, 1));
			fputs(" (", out);
			escape(out, cell(v, r, 0));
			fputc(')', out);
		}
		human(label, sizeof(label), value, !packets);
		fprintf(out, "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"3\" "
			     "fill=\"%s\"/><text x=\"%d\" y=\"%d\" class=\"value\">%s</text>\n",
			left, y + 3, width > 1 ? width : 1, row_h - 6, palette[packets ? 1 : 0],
			left + width + 6, y + 16, label);
	}
	fputs("</svg>\n", out);
}

/* A 100% bar with a legend: label, value, share. */
static void chart_share(FILE *out, const struct view_table *v)
{
	double x = 0;
	int r, rows = v->row_count < MAX_SERIES ? v->row_count : MAX_SERIES;
	char label[32];

	if (!rows) {
		no_data(out);
		return;
	}
	fprintf(out, "<svg viewBox=\"0 0 %d 60\" class=\"chart\">\n", CHART_W);
	for (r = 0; r < rows; r++) {
		double share = strtod(cell(v, r, 2), NULL);
		double width = (CHART_W - 20) * share / 100.0;

		fprintf(out, "<rect x=\"%.1f\" y=\"10\" width=\"%.1f\" height=\"40\" fill=\"%s\">"
			     "<title>", 10 + x, width, palette[r]);
		escape(out, cell(v, r, 0));
		fprintf(out, ": %s%%</title></rect>\n", cell(v, r, 2));
		x += width;
	}
	fputs("</svg>\n<div class=\"legend\">", out);
	for (r = 0; r < rows; r++) {
		human(label, sizeof(label), strtod(cell(v, r, 1), NULL),
		      !measure_is_packets(v));
		fprintf(out, "<span><i style=\"background:%s\"></i>", palette[r]);
		escape(out, cell(v, r, 0));
		fprintf(out, " %s%% (%s)</span>", cell(v, r, 2), label);
	}
	fputs("</div>\n", out);
}

/* An equirectangular world: a graticule, and a bubble per region sized by bytes. */
static void chart_map(FILE *out, const struct view_table *v)
{
	const int w = CHART_W, h = CHART_W / 2;
	int lat_column = column_index(v, "latitude"), lon_column = column_index(v, "longitude");
	int bytes_column = column_index(v, "bytes"), r, g;
	double max = 0;
	char label[32];

	if (!v->row_count || lat_column < 0 || lon_column < 0 || bytes_column < 0) {
		no_data(out);
		return;
	}
	for (r = 0; r < v->row_count; r++)
		if (strtod(cell(v, r, bytes_column), NULL) > max)
			max = strtod(cell(v, r, bytes_column), NULL);
	if (max <= 0)
		max = 1;
	fprintf(out, "<svg viewBox=\"0 0 %d %d\" class=\"chart map\">\n<rect width=\"%d\" "
		     "height=\"%d\" class=\"sea\"/>\n", w, h, w, h);
	for (g = -180; g <= 180; g += 30)
		fprintf(out, "<line x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n",
			(g + 180) * w / 360, (g + 180) * w / 360, h);
	for (g = -90; g <= 90; g += 30)
		fprintf(out, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"%s\"/>\n",
			(90 - g) * h / 180, w, (90 - g) * h / 180, g ? "grid" : "equator");
	/* smallest last, so large bubbles do not hide them */
	for (r = v->row_count - 1; r >= 0; r--) {
		double lat = strtod(cell(v, r, lat_column), NULL);
		double lon = strtod(cell(v, r, lon_column), NULL);
		double value = strtod(cell(v, r, bytes_column), NULL);
		double x = (lon + 180) * w / 360, y = (90 - lat) * h / 180;
		double radius = 3 + 22 * sqrt(value / max);

		human(label, sizeof(label), value, 1);
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" class=\"bubble\"><title>", x,
			y, radius);
		escape(out, cell(v, r, 1));
		fprintf(out, ": %s</title></circle>\n", label);
		if (r < 10) {
			fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"maplabel\" "
				     "text-anchor=\"middle\">", x, y + 4);
			escape(out, cell(v, r, 0));
			fputs("</text>\n", out);
		}
	}
	fputs("</svg>\n", out);
}

static void table(FILE *out, const struct view_table *v)
{
	int r, c, rows = v->row_count < 30 ? v->row_count : 30;

	fputs("<table><tr>", out);
	for (c = 0; c < v->column_count; c++) {
		fputs("<th>", out);
		escape(out, v->columns[c]);
		fputs("</th>", out);
	}
	fputs("</tr>\n", out);
	for (r = 0; r < rows; r++) {
		fputs("<tr>", out);
		for (c = 0; c < v->column_count; c++) {
			const char *text = cell(v, r, c);
			int numeric = *text && strspn(text, "0123456789.-") == strlen(text);

			fputs(numeric ? "<td class=\"n\">" : "<td>", out);
			escape(out, text);
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
	if (v->row_count > rows)
		fprintf(out, "<p class=\"muted\">%d more rows: flowcollector query %s</p>\n",
			v->row_count - rows, v->name);
}

int report_write_html(FILE *out, const char *heading, const char *time_range_text,
		      const struct view_table *views, int view_count)
{
	char generated[64];
	time_t now = time(NULL);
	int i;

	strftime(generated, sizeof(generated), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      out);
	escape(out, heading);
	fputs("</title>\n<style>\n"
	      "body{margin:0;background:#111217;color:#d8d9da;font:14px/1.4 -apple-system,"
	      "'Segoe UI',Roboto,Helvetica,Arial,sans-serif}\n"
	      "header{padding:18px 28px;background:#181b1f;border-bottom:1px solid #2c3235}\n"
	      "h1{margin:0;font-size:20px;font-weight:600}header p{margin:4px 0 0;color:#8e8e8e}\n"
	      "main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px;"
	      "padding:16px 28px}\n"
	      "section{background:#181b1f;border:1px solid #2c3235;border-radius:4px;padding:12px 16px}\n"
	      "h2{margin:0 0 8px;font-size:15px;font-weight:500}\n"
	      ".chart{width:100%;height:auto;display:block}\n"
	      ".grid{stroke:#2c3235;stroke-width:1}.equator{stroke:#464c54;stroke-width:1.5}\n"
	      ".axis,.value,.muted{fill:#8e8e8e;color:#8e8e8e;font-size:11px}\n"
	      ".label{fill:#d8d9da;font-size:12px}.sea{fill:#14161a}\n"
	      ".bubble{fill:#3d7bd9;fill-opacity:.55;stroke:#6ea0ec;stroke-width:1}\n"
	      ".maplabel{fill:#fff;font-size:10px;font-weight:600}\n"
	      ".legend{display:flex;flex-wrap:wrap;gap:14px;margin:6px 0;font-size:12px}\n"
	      ".legend i{display:inline-block;width:10px;height:10px;margin-right:5px;"
	      "border-radius:2px}\n"
	      "table{border-collapse:collapse;width:100%;margin-top:10px;font-size:12px}\n"
	      "th,td{padding:3px 8px;border-bottom:1px solid #2c3235;text-align:left}\n"
	      "th{color:#8e8e8e;font-weight:500}td.n{text-align:right;"
	      "font-variant-numeric:tabular-nums}\n"
	      "</style></head><body>\n<header><h1>", out);
	escape(out, heading);
	fputs("</h1><p>", out);
	escape(out, time_range_text);
	fprintf(out, " &middot; generated %s &middot; exact sums from the rollup tables</p>"
		     "</header>\n<main>\n", generated);
	for (i = 0; i < view_count; i++) {
		const struct view_table *v = &views[i];

		fputs("<section>\n<h2>", out);
		escape(out, v->title ? v->title : v->name);
		fputs("</h2>\n", out);
		if (!v->row_count)
			no_data(out);
		else if (v->chart == VIEW_CHART_LINES)
			chart_lines(out, v);
		else if (v->chart == VIEW_CHART_BARS)
			chart_bars(out, v);
		else if (v->chart == VIEW_CHART_SHARE)
			chart_share(out, v);
		else
			chart_map(out, v);
		if (v->row_count)
			table(out, v);
		fputs("</section>\n", out);
	}
	fputs("</main>\n</body></html>\n", out);
	return ferror(out) ? -EIO : 0;
}
