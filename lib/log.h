/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's one logging module: pr_warn/pr_info/pr_debug to stderr, prefixed with the program
 * name. libbpf's own output is routed here and shown only with -v.
 */
#ifndef FLOWAGENT_LOG_H
#define FLOWAGENT_LOG_H

#include <stdarg.h>
#include <bpf/libbpf.h>

enum log_level {
	LOG_LEVEL_WARN = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_DEBUG = 2,
};

void log_set_level(enum log_level level);
/* The prefix of every message: "flowagent" unless set. */
void log_set_program(const char *name);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* libbpf print callback: its warnings at -v, its debug output at -vv */
int log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args);

#define pr_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
