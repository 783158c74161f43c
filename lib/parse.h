/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line number parsing shared by flowagent and flowcollector. */
#ifndef FLOWAGENT_ARGS_H
#define FLOWAGENT_ARGS_H

#include <stdint.h>

/* A decimal integer in [min, max], nothing else on the string; 0 or -EINVAL. */
int parse_u32(const char *text, unsigned long min, unsigned long max, uint32_t *value);

#endif
