/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Files that travel with a program: found next to its executable. */
#ifndef FLOW_LIB_PATHS_H
#define FLOW_LIB_PATHS_H

#include <stddef.h>

/*
 * dst = the directory of this executable + "/" + relative, when that exists and is readable;
 * returns 0 then, else -ENOENT (dst is left as it was).
 */
int path_beside_executable(char *dst, size_t size, const char *relative);

#endif
