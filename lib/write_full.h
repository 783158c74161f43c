/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes that finish: every byte written, or an error. write(2) may write less than it was
 * given (a signal, a full disk, a file size limit) and stop on EINTR; the spool and the
 * write-ahead files both need all of a record on disk or a clear failure, never a silent part.
 */
#ifndef FLOW_LIB_WRITE_FULL_H
#define FLOW_LIB_WRITE_FULL_H

#include <sys/types.h>
#include <sys/uio.h>

/*
 * pwritev(2) until every byte of iov[0..count) is written at offset: retries EINTR, carries
 * on after a short write, takes more than IOV_MAX entries. Returns 0, -EIO when a write
 * writes nothing, or another negative errno (what was written before the error stays).
 * iov may be changed (an entry written in part is advanced past what was written): pass a
 * fresh one to write the same bytes again.
 */
int write_full_at(int fd, struct iovec *iov, int count, off_t offset);

/* The same with writev(2), at the file's own offset: for pipes and files written in order. */
int write_full(int fd, struct iovec *iov, int count);

#endif
