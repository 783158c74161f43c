/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched)
 * with every view as a chart, its exact numbers as a table, and a summary in the header.
 */
#ifndef FLOWCOLLECTOR_REPORT_H
#define FLOWCOLLECTOR_REPORT_H

#include <stdio.h>

#include "view.h"

/*
 * Writes the page. Views are drawn by their chart kind, with the column positions of
 * sql/views/NAME.sql; an empty view is drawn as "no data". All text is escaped.
 * Returns 0, -ENOMEM, or the negative errno of a failed write (-EIO when unknown).
 */
int report_write_html(FILE *out, const char *heading, const char *time_range_text,
		      const struct view_table *views, int view_count);

/* A link of the live report's range bar. */
struct report_link {
	const char *label;
	const char *href; /* relative to the page: "?range=1h" */
	int current;
};

/* What the live report adds to the page (http_views.h). */
struct report_live {
	unsigned int refresh_seconds; /* the page reloads itself; 0: never */
	const struct report_link *links;
	int link_count;
};

/* report_write_html, with the live report's refresh and range links when live is not NULL. */
int report_write_html_live(FILE *out, const char *heading, const char *time_range_text,
			   const struct view_table *views, int view_count,
			   const struct report_live *live);

#endif
