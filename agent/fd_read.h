/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* read(2) for capture streams: files, pipes, terminals and sockets alike. */
#ifndef FLOWAGENT_FD_READ_H
#define FLOWAGENT_FD_READ_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

/* read(2) that waits on a non-blocking descriptor instead of failing; -errno on error. */
static inline ssize_t fd_read_wait(int fd, uint8_t *dst, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, dst, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		return -errno;
	}
}

#endif
