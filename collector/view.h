/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A network view's result: what `flowcollector query` prints and the HTML report draws. */
#ifndef FLOWCOLLECTOR_VIEW_H
#define FLOWCOLLECTOR_VIEW_H

enum view_chart {
	VIEW_CHART_LINES,
	VIEW_CHART_BARS,
	VIEW_CHART_SHARE,
	VIEW_CHART_MAP
};

struct view_table {
	const char *name;  /* e.g. "daily_bandwidth_by_proto" */
	const char *title; /* e.g. "Daily bandwidth by protocol" */
	enum view_chart chart;
	int column_count;
	char **columns; /* column names */
	int row_count;
	char **cells; /* row-major, row_count * column_count strings (numbers as decimal text) */
};

#endif
