/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched)
 * with every view as a chart and its exact numbers as a table.
 */
#ifndef FLOWCOLLECTOR_REPORT_H
#define FLOWCOLLECTOR_REPORT_H

#include <stdio.h>

#include "view.h"

/* Returns 0, or -EIO when writing failed. */
int report_write_html(FILE *out, const char *heading, const char *time_range_text,
		      const struct view_table *views, int view_count);

#endif
