/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* read(2) for capture streams: files, pipes, terminals and sockets alike. */
#ifndef FLOWAGENT_FD_READ_H
#define FLOWAGENT_FD_READ_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "stop.h"

/* how long a read waits before it looks at the stop flag again */
#define FD_READ_POLL_MS 100

/*
 * read(2) that waits for data, on blocking and non-blocking descriptors alike, and gives up
 * with -ECANCELED once a stop signal says input must stop (stop.h): it never blocks for more
 * than a poll interval without looking. -errno on error.
 */
static inline ssize_t fd_read_wait(int fd, uint8_t *dst, size_t len)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ready;
		ssize_t n;

		if (stop_input_now())
			return -ECANCELED;
		ready = poll(&pfd, 1, FD_READ_POLL_MS);
		if (ready < 0 && errno != EINTR)
			return -errno;
		if (ready <= 0)
			continue;
		n = read(fd, dst, len);
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		return -errno;
	}
}

#endif
