/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* read(2) for capture streams: files, pipes, terminals and sockets alike. */
#ifndef FLOWAGENT_FD_READ_H
#define FLOWAGENT_FD_READ_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "stop.h"

/* how long a read waits before it looks at the stop flag again */
#define FD_READ_POLL_MS 100

/*
 * read(2) that waits for data, on blocking and non-blocking descriptors alike, and gives up
 * with -ECANCELED once a stop signal says input must stop (stop.h): it never blocks for more
 * than a poll interval without looking. -errno on error.
 *
 * regular: fd is a regular file (the caller's fstat said S_ISREG). Its reads never block, so
 * a poll before each would only cost a system call: it is read directly. The stop flag is
 * still looked at before every read, so a signal stops a long file at the next read.
 */
static inline ssize_t fd_read_input(int fd, bool regular, uint8_t *dst, size_t len)
{
	for (;;) {
		ssize_t n;

		if (stop_input_now())
			return -ECANCELED;
		if (!regular) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int ready = poll(&pfd, 1, FD_READ_POLL_MS);

			if (ready < 0 && errno != EINTR)
				return -errno;
			if (ready <= 0)
				continue;
		}
		n = read(fd, dst, len);
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		return -errno;
	}
}

/* fd_read_input for a descriptor that may block: a pipe, a terminal, a socket. */
static inline ssize_t fd_read_wait(int fd, uint8_t *dst, size_t len)
{
	return fd_read_input(fd, false, dst, len);
}

#endif
