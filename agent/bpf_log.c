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
	/* libbpf's and libxdp's messages name themselves */
	return vfprintf(stderr, fmt, args);
}

int bpf_log_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list args)
{
	/* libxdp warns about what the agent handles itself (bpffs, dispatchers): -v shows it */
	enum log_level wanted = level == LIBXDP_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	if (wanted > log_get_level())
		return 0;
	return vfprintf(stderr, fmt, args);
}
