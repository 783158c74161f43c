// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libbpf's output routed through lib/log's level; see bpf_log.h. */
#include <stdio.h>

#include "bpf_log.h"
#include "log.h"

int bpf_log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	enum log_level wanted = level == LIBBPF_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	if (wanted > log_get_level())
		return 0;
	/* libbpf's messages name themselves */
	return vfprintf(stderr, fmt, args);
}
