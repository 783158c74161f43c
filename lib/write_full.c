// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Writes that finish, or fail; see write_full.h. */
#define _GNU_SOURCE /* pwritev */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "write_full.h"

/* One loop for both: positional writes at offset, the others at the file's offset. */
static int write_iov(int fd, struct iovec *iov, int count, bool positional, off_t offset)
{
	for (;;) {
		ssize_t n;
		int batch;

		/* empty entries first: a write of nothing would look like a disk that takes nothing */
		while (count && !iov->iov_len) {
			iov++;
			count--;
		}
		if (!count)
			return 0;
		batch = count > IOV_MAX ? IOV_MAX : count;
		n = positional ? pwritev(fd, iov, batch, offset) : writev(fd, iov, batch);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		offset += n;
		while (count && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			count--;
		}
		if (count) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
}

int write_full_at(int fd, struct iovec *iov, int count, off_t offset)
{
	return write_iov(fd, iov, count, true, offset);
}

int write_full(int fd, struct iovec *iov, int count)
{
	return write_iov(fd, iov, count, false, 0);
}
