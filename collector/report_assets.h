/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report's data that is not code, embedded at build time: its stylesheet
 * (collector/report/report.css) and the land of its map (build/map/land.txt, Natural Earth
 * 1:110m made by collector/report/map_data.py). Both are NUL-terminated text.
 */
#ifndef FLOWCOLLECTOR_REPORT_ASSETS_H
#define FLOWCOLLECTOR_REPORT_ASSETS_H

/* report.css */
extern const char report_css[];
/* land.txt: '#' comment lines, then one closed ring a line: a name and lon,lat pairs */
extern const char report_land[];

#endif
