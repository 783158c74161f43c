/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --input: wire-format batches (framed by their headers) or the agent's JSON lines from a
 * file. Every input is bounded: a line longer than FILE_LINE_MAX, or a batch header declaring
 * more than the wire format allows (or more than the file holds), stops the reading with an
 * error that names the file and the byte offset; nothing is allocated for bytes not present.
 * A stop signal is honoured between reads, so an endless input (/dev/zero) can be stopped.
 */
#ifndef FLOWCOLLECTOR_SOURCE_FILE_H
#define FLOWCOLLECTOR_SOURCE_FILE_H

#include <stdint.h>

#include "collector.h"

/*
 * The longest JSON line read: a thousand times the agent's longest record (under 1 KiB with a
 * 255-byte agent id), so only an input that is not JSON lines reaches it.
 */
#define FILE_LINE_MAX (1u << 20)

/* Where the reading ended. */
struct file_source_end {
	uint64_t offset;     /* bytes of whole batches or lines handed to ingest */
	uint64_t lines;	     /* JSON: lines handed to ingest (0 for the wire format) */
	int interrupted;     /* the signal that stopped the reading before the end, or 0 */
	int unreadable;	     /* the reading stopped at bad input (printed) before the end */
	uint64_t held_lines; /* interrupted: lines of an unfinished batch, not stored */
};

/*
 * Reads fd to its end (or a stop), inserting as batches become due. name is used in messages
 * ("flows.json:17"). Returns how many batches or lines were rejected, or a negative errno when
 * the run failed (out of memory). A batch of JSON lines (lines sharing agent_id, batch_run and
 * batch_seq) is handed to ingest only once its last line is read, so an interrupted run stores
 * whole batches only.
 */
int file_source_run(struct collector *c, int fd, const char *name, struct file_source_end *end);

#endif
