// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Batches or JSON lines from a file; see source_file.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "source_file.h"
#include "wire.h"

/* Wire format: each batch's header tells its length. */
static int read_wire_batches(struct collector *c, FILE *file, const char *name)
{
	/* enough for every version's length */
	uint8_t header[WIRE_HEADER_FIXED_V1], *batch = NULL;
	uint64_t offset = 0;
	char where[512];
	int rejected = 0;

	while (!collector_stop_requested) {
		uint8_t *grown;
		size_t len;

		size_t got = fread(header, 1, sizeof(header), file);

		snprintf(where, sizeof(where), "%s: offset %" PRIu64, name, offset);
		if (got != sizeof(header)) {
			if (got) {
				pr_warn("%s: truncated batch header (%zu bytes); skipped\n", where,
					got);
				rejected++;
			}
			break;
		}
		len = wire_batch_length(header);
		if (!len) {
			pr_warn("%s: not a flow batch; the rest of the file is skipped\n", where);
			rejected++;
			break;
		}
		grown = realloc(batch, len);
		if (!grown) {
			free(batch);
			return -ENOMEM;
		}
		batch = grown;
		memcpy(batch, header, sizeof(header));
		if (fread(batch + sizeof(header), 1, len - sizeof(header), file) !=
		    len - sizeof(header)) {
			pr_warn("%s: truncated batch; skipped\n", where);
			rejected++;
			break;
		}
		if (ingest_add_wire(c->ingest, batch, len, where))
			rejected++;
		offset += len;
		if (ingest_due(c->ingest) && collector_flush(c))
			break;
	}
	free(batch);
	return rejected;
}

static int read_json_lines(struct collector *c, FILE *file, const char *name)
{
	size_t cap = 0, line_number = 0;
	char where[512], *line = NULL;
	int rejected = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, file)) >= 0 && !collector_stop_requested) {
		line_number++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!n)
			continue;
		snprintf(where, sizeof(where), "%s:%zu", name, line_number);
		if (ingest_add_json(c->ingest, line, (size_t)n, where))
			rejected++;
		if (ingest_due(c->ingest) && collector_flush(c))
			break;
	}
	free(line);
	return rejected;
}

int file_source_run(struct collector *c, FILE *file, const char *name)
{
	int first = fgetc(file);

	if (first == EOF)
		return 0;
	ungetc(first, file);
	if (first == WIRE_MAGIC[0])
		return read_wire_batches(c, file, name);
	return read_json_lines(c, file, name);
}
