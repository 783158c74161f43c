/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One line of the agent's JSON output (docs/flow-record.md): a flat object of strings and
 * unsigned integers. Unknown fields are ignored, so later agents can add fields; a missing
 * required field, a value of the wrong type or range, or impossible counters refuse the line.
 */
#ifndef FLOWCOLLECTOR_JSON_RECORD_H
#define FLOWCOLLECTOR_JSON_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "wire.h"

struct json_record {
	struct flow_record record;
	char agent[WIRE_AGENT_ID_MAX + 1]; /* "" when the line has no agent_id */
	uint64_t run;			   /* batch_run, 0 when absent */
	uint64_t sequence;		   /* batch_seq, 0 when absent */
	unsigned int seen;		   /* bit per required field */
};

/* Parses one line (without its newline); on failure *why says what was wrong. */
int json_record_parse(const char *line, size_t len, struct json_record *record, const char **why);

#endif
