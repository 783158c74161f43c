/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --input: wire-format batches (self-delimiting) or the agent's JSON lines from a file. */
#ifndef FLOWCOLLECTOR_SOURCE_FILE_H
#define FLOWCOLLECTOR_SOURCE_FILE_H

#include <stdio.h>

#include "collector.h"

/*
 * Reads file to its end (or a stop), inserting as batches become due. name is used in
 * messages ("flows.json:17"). Returns how many batches or lines were rejected, or a negative
 * errno when the run failed.
 */
int file_source_run(struct collector *c, FILE *file, const char *name);

#endif
