/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus text exposition into a fixed buffer. Every write is bounded: once the buffer is
 * full, later writes are dropped whole and the text is marked truncated, so a render can never
 * run past the end, and a cut-off page is never passed off as a complete one.
 */
#ifndef FLOW_LIB_PROM_H
#define FLOW_LIB_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom_writer {
	char *buf;
	size_t size;
	size_t len;    /* bytes written, always < size */
	int truncated; /* a write did not fit and was dropped */
};

void prom_init(struct prom_writer *w, char *buf, size_t size);
/* Appends formatted text, or nothing at all when it does not fit. */
void prom_printf(struct prom_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help" and "# TYPE name type": type is "counter" or "gauge". */
void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help);
/* One sample; labels is "" or 'key="value"' text without the braces. */
void prom_u64(struct prom_writer *w, const char *name, const char *labels, uint64_t value);
void prom_i64(struct prom_writer *w, const char *name, const char *labels, int64_t value);
/* Doubles with their precision: "%.6f" for seconds, "%.1f" for rates. */
void prom_double(struct prom_writer *w, const char *name, const char *labels, const char *format,
		 double value);
/* A family of one unlabelled sample. */
void prom_counter(struct prom_writer *w, const char *name, const char *help, uint64_t value);
void prom_gauge(struct prom_writer *w, const char *name, const char *help, uint64_t value);
/* The length written, terminated; what a metrics_render_fn returns. */
size_t prom_finish(struct prom_writer *w);

#endif
