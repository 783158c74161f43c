/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent id rule, one copy for both programs: the agent refuses an --agent-id that breaks
 * it, and the collector refuses a batch or JSON line whose id breaks it, since ids name rows,
 * appear in SQL text and in log lines. The escape keeps a refused id readable in a log line.
 */
#ifndef FLOW_LIB_AGENT_ID_H
#define FLOW_LIB_AGENT_ID_H

#include <stddef.h>

#define AGENT_ID_MAX  255 /* the wire format's one-byte length */
#define AGENT_ID_RULE "1 to 255 letters, digits, '.', '_', ':' or '-'"
/* agent_id_escape's output for the longest id: every byte as \xNN, and the NUL */
#define AGENT_ID_ESCAPED_MAX (4 * AGENT_ID_MAX + 1)

/* 1 when the len bytes of id follow AGENT_ID_RULE (a NUL among them does not). */
int agent_id_valid(const char *id, size_t len);

/*
 * Writes len bytes of id to dst as printable ASCII: '\\' and '"' escaped with a backslash,
 * tab, newline and carriage return as \t, \n, \r, any other byte outside ' '..'~' as \xNN.
 * Truncated to dst_size (at a whole escape), always NUL-terminated.
 */
void agent_id_escape(const char *id, size_t len, char *dst, size_t dst_size);

#endif
