// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Logging to stderr with a level set once from the command line. */
#include <stdio.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum log_level current_level = LOG_LEVEL_WARN;
static const char *program_name = "flowagent";

void log_set_program(const char *name)
{
	program_name = name;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list args;

	if (level > current_level)
		return;
	fprintf(stderr, "%s: ", program_name);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
}

int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	enum log_level wanted = level == LIBBPF_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	if (wanted > current_level)
		return 0;
	/* libbpf's and libxdp's messages name themselves */
	return vfprintf(stderr, fmt, args);
}
