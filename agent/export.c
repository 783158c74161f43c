// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Record destinations for live and replay: JSON on standard output, or Kafka. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "log.h"

int exporter_open(struct exporter *exporter, const struct kafka_export_config *kafka, char *err,
		  size_t err_len)
{
	memset(exporter, 0, sizeof(*exporter));
	if (kafka)
		return kafka_export_open(kafka, &exporter->kafka, err, err_len);
	exporter->json = malloc(sizeof(*exporter->json));
	if (!exporter->json) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	flow_output_init(exporter->json, STDOUT_FILENO);
	return 0;
}

void exporter_poll(struct exporter *exporter)
{
	if (exporter->kafka)
		kafka_export_poll(exporter->kafka);
}

int exporter_flush(struct exporter *exporter)
{
	if (exporter->json)
		return flow_output_flush(exporter->json);
	kafka_export_poll(exporter->kafka);
	return 0;
}

int exporter_close(struct exporter *exporter, int timeout_ms, struct kafka_export_stats *stats_out)
{
	struct kafka_export_stats stats = { 0 };
	int err = 0;

	if (exporter->json) {
		err = flow_output_flush(exporter->json);
		if (err)
			pr_warn("writing records failed: %s\n", strerror(-err));
		free(exporter->json);
		exporter->json = NULL;
		return err;
	}
	if (!exporter->kafka)
		return 0;
	err = kafka_export_close(exporter->kafka, timeout_ms, &stats);
	exporter->kafka = NULL;
	if (stats_out)
		*stats_out = stats;
	if (err)
		pr_warn("kafka: %llu records were dropped\n",
			(unsigned long long)stats.records_dropped);
	return err;
}

int exporter_kafka_stats(struct exporter *exporter, struct kafka_export_stats *stats)
{
	if (!exporter->kafka)
		return 0;
	kafka_export_get_stats(exporter->kafka, stats);
	return 1;
}
