/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes flow records as JSON lines. Formatting is hand-written: a replay of a MAWI trace
 * emits millions of records, and printf/inet_ntop would cost more than the metering itself.
 */
#ifndef FLOWAGENT_FLOW_OUTPUT_H
#define FLOWAGENT_FLOW_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define FLOW_OUTPUT_BUFFER (1 << 20)
#define FLOW_ADDR_TEXT_MAX 46
/* The longest JSON record, with room to spare. */
#define FLOW_RECORD_JSON_MAX 512

struct flow_output {
	int fd;
	int error; /* first write error, a negative errno */
	uint64_t records;
	size_t used;
	char buffer[FLOW_OUTPUT_BUFFER];
};

void flow_output_init(struct flow_output *out, int fd);
void flow_output_json(struct flow_output *out, const struct flow_record *record);
/*
 * Writes a record's JSON fields after an opening brace the caller wrote, through the closing
 * brace and a newline; returns the end. At most FLOW_RECORD_JSON_MAX - 1 bytes.
 */
char *flow_record_json_fields(char *dst, const struct flow_record *record);
/* Decimal digits of value, no terminator; returns the end. */
char *flow_format_u64(char *dst, uint64_t value);
/* Returns 0 or the first write error. */
int flow_output_flush(struct flow_output *out);

/*
 * IPv4 (v4-mapped) as a dotted quad, IPv6 as RFC 5952 text: lowercase, no leading zeros, the
 * longest run of two or more zero groups (the first on a tie) as "::". Returns the length.
 */
size_t flow_addr_format(char *dst, const uint8_t addr[FLOW_ADDR_LEN]);

#endif
