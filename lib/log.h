/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one logging module of both programs: pr_warn/pr_info/pr_debug to stderr, prefixed with
 * the program name, at a level set once from the command line. The libbpf hook lives
 * in agent/bpf_log.h, so the collector never sees libbpf.
 */
#ifndef FLOW_LIB_LOG_H
#define FLOW_LIB_LOG_H

#include <stdarg.h>

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

#endif
