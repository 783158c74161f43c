/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's data that is not code, embedded at build time from collector/report/: its
 * stylesheet and the coastline of its map. Both are NUL-terminated text.
 */
#ifndef FLOWCOLLECTOR_REPORT_ASSETS_H
#define FLOWCOLLECTOR_REPORT_ASSETS_H

/* report.css */
extern const char report_css[];
/* coastline.txt: '#' comment lines, then one polygon a line: a name and lon,lat pairs */
extern const char report_coastline[];

#endif
