/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one logging module of both programs: pr_warn/pr_info/pr_debug to stderr, prefixed with
 * the program name, at a level set once from the command line. The libbpf hook lives
 * in agent/bpf_log.h, so the collector never sees libbpf.
 */
#ifndef FLOW_LIB_LOG_H
#define FLOW_LIB_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_WARN = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_DEBUG = 2,
};

void log_set_level(enum log_level level);
/* -v: info, -vv: debug. */
void log_set_verbosity(int verbosity);
/* The prefix of every message: "flowagent" unless set. */
void log_set_program(const char *name);
const char *log_get_program(void);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* "SIGINT", "SIGTERM" or "SIGHUP" (the stop signals both programs name), else "a signal". */
const char *log_signal_name(int sig);

/*
 * A cap on a message that can repeat once per bad input line or record: the first burst in
 * each interval are shown, the rest only counted, and one line says how many were not shown
 * when the next interval begins, or at log_limit_flush. With -v every one is shown.
 */
struct log_limit {
	const char *what; /* "rejected records": the plural of what is counted */
	unsigned int burst;
	uint64_t interval_ms;
	uint64_t window_start_ms;
	uint64_t shown, suppressed;
};

#define LOG_LIMIT_INIT(what_, burst_, interval_ms_)                               \
	{                                                                         \
		.what = (what_), .burst = (burst_), .interval_ms = (interval_ms_) \
	}

/* Whether the message due now (a monotonic time) is to be printed. */
bool log_limit_allow(struct log_limit *limit, uint64_t now_ms);
/* The count of what was not shown, if any; the limit starts over. */
void log_limit_flush(struct log_limit *limit);

#endif
