/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libbpf's messages through the agent's log level: shown only with -v. */
#ifndef FLOWAGENT_BPF_LOG_H
#define FLOWAGENT_BPF_LOG_H

#include <stdarg.h>
#include <bpf/libbpf.h>

/* libbpf print callback: its warnings at -v, its debug output at -vv */
int bpf_log_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args);

#endif
