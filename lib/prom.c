// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bounded Prometheus text; see prom.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "prom.h"

void prom_init(struct prom_writer *w, char *buf, size_t size)
{
	w->buf = buf;
	w->size = size;
	w->len = 0;
	w->truncated = 0;
	if (size)
		buf[0] = '\0';
}

void prom_printf(struct prom_writer *w, const char *fmt, ...)
{
	size_t room = w->size > w->len ? w->size - w->len : 0;
	va_list args;
	int n;

	if (w->truncated || !room)
		goto full;
	va_start(args, fmt);
	n = vsnprintf(w->buf + w->len, room, fmt, args);
	va_end(args);
	if (n >= 0 && (size_t)n < room) {
		w->len += (size_t)n;
		return;
	}
	/* the partial line is taken back: a scraper must never see half a sample */
	w->buf[w->len] = '\0';
full:
	w->truncated = 1;
}

void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help)
{
	prom_printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_u64(struct prom_writer *w, const char *name, const char *labels, uint64_t value)
{
	prom_printf(w, "%s%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels,
		    *labels ? "}" : "", value);
}

void prom_i64(struct prom_writer *w, const char *name, const char *labels, int64_t value)
{
	prom_printf(w, "%s%s%s%s %" PRId64 "\n", name, *labels ? "{" : "", labels,
		    *labels ? "}" : "", value);
}

void prom_double(struct prom_writer *w, const char *name, const char *labels, const char *format,
		 double value)
{
	char number[64];

	snprintf(number, sizeof(number), format, value);
	prom_printf(w, "%s%s%s%s %s\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		    number);
}

void prom_counter(struct prom_writer *w, const char *name, const char *help, uint64_t value)
{
	prom_family(w, name, "counter", help);
	prom_u64(w, name, "", value);
}

void prom_gauge(struct prom_writer *w, const char *name, const char *help, uint64_t value)
{
	prom_family(w, name, "gauge", help);
	prom_u64(w, name, "", value);
}

size_t prom_finish(struct prom_writer *w)
{
	return w->len;
}
