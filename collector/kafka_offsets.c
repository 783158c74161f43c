// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Offsets of sealed inserts and whether they were committed; see kafka_offsets.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_offsets.h"
#include "log.h"

#define METADATA_FORMAT	     "flowcollector insert %016" PRIx64
#define COMMITTED_TIMEOUT_MS 10000

uint64_t kafka_offsets_ambiguous;

int kafka_offsets_encode(const rd_kafka_topic_partition_list_t *offsets, char **blob, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int i;

	if (!out)
		return -ENOMEM;
	for (i = 0; i < offsets->cnt; i++)
		fprintf(out, "%s\t%" PRId32 "\t%" PRId64 "\n", offsets->elems[i].topic,
			offsets->elems[i].partition, offsets->elems[i].offset);
	if (fclose(out)) {
		free(text);
		return -ENOMEM;
	}
	*blob = text;
	*len = size;
	return 0;
}

int kafka_offsets_name(rd_kafka_topic_partition_list_t *offsets, uint64_t insert_id)
{
	char name[64];
	int i;

	snprintf(name, sizeof(name), METADATA_FORMAT, insert_id);
	for (i = 0; i < offsets->cnt; i++) {
		rd_kafka_topic_partition_t *p = &offsets->elems[i];
		char *copy = strdup(name);

		if (!copy)
			return -ENOMEM;
		free(p->metadata);
		p->metadata = copy;
		p->metadata_size = strlen(copy);
	}
	return 0;
}

/* The offsets a blob holds, as a partition list; NULL when it is not one of ours. */
static rd_kafka_topic_partition_list_t *decode(const char *blob, size_t len, int64_t **wanted)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
	char *text = strndup(blob, len), *line, *save = NULL;
	int64_t *offsets = NULL;
	int count = 0;

	if (!list || !text)
		goto bad;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char topic[256];
		int32_t partition;
		int64_t offset, *grown;

		if (sscanf(line, "%255[^\t]\t%" SCNd32 "\t%" SCNd64, topic, &partition, &offset) !=
		    3)
			goto bad;
		grown = realloc(offsets, (size_t)(count + 1) * sizeof(*offsets));
		if (!grown)
			goto bad;
		offsets = grown;
		offsets[count++] = offset;
		rd_kafka_topic_partition_list_add(list, topic, partition);
	}
	free(text);
	*wanted = offsets;
	return list;
bad:
	free(text);
	free(offsets);
	if (list)
		rd_kafka_topic_partition_list_destroy(list);
	return NULL;
}

int kafka_offsets_committed(void *ctx, uint64_t insert_id, const void *blob, size_t len)
{
	rd_kafka_t *rk = ctx;
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;
	int64_t *wanted = NULL;
	char name[64];
	int i, ours = 1, ret = 1;

	list = decode(blob, len, &wanted);
	if (!list) {
		pr_warn("insert %016" PRIx64 ": its Kafka offsets are unreadable\n", insert_id);
		return -EBADMSG;
	}
	snprintf(name, sizeof(name), METADATA_FORMAT, insert_id);
	err = rd_kafka_committed(rk, list, COMMITTED_TIMEOUT_MS);
	if (err) {
		pr_warn("insert %016" PRIx64 ": cannot read the group's committed offsets: %s\n",
			insert_id, rd_kafka_err2str(err));
		ret = -EAGAIN;
		goto out;
	}
	for (i = 0; i < list->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &list->elems[i];

		if (p->err) {
			pr_warn("insert %016" PRIx64 ": committed offset of %s [%" PRId32 "]: %s\n",
				insert_id, p->topic, p->partition, rd_kafka_err2str(p->err));
			ret = -EAGAIN;
			goto out;
		}
		if (p->offset < wanted[i]) {
			ret = 0; /* the commit did not happen: the batches are read again */
			goto out;
		}
		if (p->offset != wanted[i] || p->metadata_size != strlen(name) ||
		    memcmp(p->metadata, name, p->metadata_size))
			ours = 0;
	}
	if (!ours) {
		kafka_offsets_ambiguous++;
		pr_warn("insert %016" PRIx64 ": another member of the group committed past its "
			"offsets while this collector was down; it is finished, but if the crash "
			"fell between its write-ahead file and its commit, its batches are also in "
			"that member's store (docs/guarantees.md)\n",
			insert_id);
	}
out:
	free(wanted);
	rd_kafka_topic_partition_list_destroy(list);
	return ret;
}
