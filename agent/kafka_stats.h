/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The exporter's counters as people and Prometheus read them. */
#ifndef FLOWAGENT_KAFKA_STATS_H
#define FLOWAGENT_KAFKA_STATS_H

#include <stdio.h>

#include "kafka_export.h"

struct prom_writer;

/* "  name value" lines, the agent's summary format. */
void kafka_stats_print(const struct kafka_export_stats *stats, FILE *file);
/* The flowagent_kafka_* families. */
void kafka_stats_prometheus(const struct kafka_export_stats *stats, struct prom_writer *out);

#endif
