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

#endif
