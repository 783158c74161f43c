// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line number parsing; see args.h. */
#include <errno.h>
#include <stdlib.h>

#include "args.h"

int parse_u32(const char *text, unsigned long min, unsigned long max, uint32_t *value)
{
	unsigned long parsed;
	char *end;

	errno = 0;
	parsed = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || parsed < min || parsed > max)
		return -EINVAL;
	*value = (uint32_t)parsed;
	return 0;
}
