/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Kafka offsets behind a sealed insert, and the question a restart asks about them: did
 * the commit happen before the crash? (docs/guarantees.md, "Kafka ↔ collector").
 *
 * Each commit names the insert it covers in its metadata ("flowcollector insert <id>"), and
 * the insert's write-ahead file keeps the offsets it would commit. After a crash:
 *   - a committed offset below the file's: the commit did not happen, the batches are read
 *     again, the insert is dropped;
 *   - the file's offsets committed with this insert's name: it happened, the insert is
 *     finished;
 *   - offsets at or past the file's, committed by another insert: another member went on
 *     after us. The commit most likely happened (a crash between the write-ahead file and the
 *     commit is a window of one round trip); the insert is finished and a warning says that
 *     its batches may also be in that member's store.
 */
#ifndef FLOWCOLLECTOR_KAFKA_OFFSETS_H
#define FLOWCOLLECTOR_KAFKA_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* "topic\tpartition\toffset\n" per partition: what ingest_set_source keeps. malloc'd. */
int kafka_offsets_encode(const rd_kafka_topic_partition_list_t *offsets, char **blob, size_t *len);
/* Names the insert in each partition's commit metadata. */
int kafka_offsets_name(rd_kafka_topic_partition_list_t *offsets, uint64_t insert_id);
/*
 * An ingest_committed_fn; ctx is the consumer (rd_kafka_t *, with its group.id). Returns 1,
 * 0, or a negative errno when the group coordinator does not answer.
 */
int kafka_offsets_committed(void *ctx, uint64_t insert_id, const void *blob, size_t len);

/* Counts of the answers, for the metrics: finished as ambiguous (see above). */
extern uint64_t kafka_offsets_ambiguous;

#endif
