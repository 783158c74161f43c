// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Logging to stderr with a level set once from the command line; see log.h. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "log.h"

static enum log_level current_level = LOG_LEVEL_WARN;
static const char *program_name = "flowagent";

void log_set_program(const char *name)
{
	program_name = name;
}

const char *log_get_program(void)
{
	return program_name;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_set_verbosity(int verbosity)
{
	current_level = verbosity >= 2 ? LOG_LEVEL_DEBUG :
			verbosity      ? LOG_LEVEL_INFO :
					 LOG_LEVEL_WARN;
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

void log_limit_flush(struct log_limit *limit)
{
	if (limit->suppressed)
		log_msg(LOG_LEVEL_WARN, "... and %" PRIu64 " more %s not shown (-v shows each)\n",
			limit->suppressed, limit->what);
	limit->shown = limit->suppressed = 0;
}

bool log_limit_allow(struct log_limit *limit, uint64_t now_ms)
{
	if (current_level >= LOG_LEVEL_INFO)
		return true;
	if (!limit->shown && !limit->suppressed)
		limit->window_start_ms = now_ms;
	else if (limit->interval_ms && now_ms - limit->window_start_ms >= limit->interval_ms) {
		log_limit_flush(limit);
		limit->window_start_ms = now_ms;
	}
	if (limit->shown < limit->burst) {
		limit->shown++;
		return true;
	}
	limit->suppressed++;
	return false;
}

const char *log_signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "a signal";
	}
}
