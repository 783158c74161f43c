// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Paths relative to the running executable; see paths.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

int path_beside_executable(char *dst, size_t size, const char *relative)
{
	char exe[PATH_MAX], candidate[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	snprintf(candidate, sizeof(candidate), "%s/%s", exe, relative);
	if (access(candidate, R_OK) || strlen(candidate) >= size)
		return -ENOENT;
	memcpy(dst, candidate, strlen(candidate) + 1);
	return 0;
}
