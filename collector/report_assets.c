// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The report's stylesheet and land outlines; see report_assets.h. */
#include "embed.h"
#include "report_assets.h"

EMBED(report_css, "collector/report/report.css");
EMBED(report_land, MAP_DIR "/land.txt");
