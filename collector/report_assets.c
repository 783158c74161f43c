// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The files of collector/report/, assembled into read-only data with .incbin: the binary
 * carries them, so a report never depends on finding files at run time. The Makefile makes
 * this object depend on them (the compiler's dependency list does not see .incbin).
 */
#include "report_assets.h"

#define EMBED(symbol, path)                            \
	__asm__(".pushsection .rodata\n"               \
		".global " #symbol "\n"                \
		".type " #symbol ", @object\n"         \
		".balign 16\n" #symbol ":\n"           \
		".incbin \"" path "\"\n"               \
		".byte 0\n"                            \
		".size " #symbol ", . - " #symbol "\n" \
		".popsection\n")

EMBED(report_css, "collector/report/report.css");
EMBED(report_coastline, "collector/report/coastline.txt");
