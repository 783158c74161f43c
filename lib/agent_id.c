// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent id rule and its escape for logs; see agent_id.h. */
#include <stdio.h>
#include <string.h>

#include "agent_id.h"

/* Not isalnum(): the rule must not change with the locale. */
static int allowed(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

int agent_id_valid(const char *id, size_t len)
{
	size_t i;

	if (!len || len > AGENT_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!allowed((unsigned char)id[i]))
			return 0;
	return 1;
}

void agent_id_escape(const char *id, size_t len, char *dst, size_t dst_size)
{
	size_t used = 0, i;

	if (!dst_size)
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		char one[5];

		if (c == '\\' || c == '"')
			snprintf(one, sizeof(one), "\\%c", c);
		else if (c == '\t')
			snprintf(one, sizeof(one), "\\t");
		else if (c == '\n')
			snprintf(one, sizeof(one), "\\n");
		else if (c == '\r')
			snprintf(one, sizeof(one), "\\r");
		else if (c < ' ' || c > '~')
			snprintf(one, sizeof(one), "\\x%02x", c);
		else
			snprintf(one, sizeof(one), "%c", c);
		if (used + strlen(one) >= dst_size)
			break;
		memcpy(dst + used, one, strlen(one));
		used += strlen(one);
	}
	dst[used] = '\0';
}
