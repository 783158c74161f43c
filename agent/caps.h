/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The process's capabilities: what live capture needs to start, and the one it keeps once its
 * programs are attached. Capabilities belong to threads: caps_keep_only changes the calling
 * thread, and threads created after it inherit the reduced set, so call it before any other
 * thread exists.
 */
#ifndef FLOWAGENT_CAPS_H
#define FLOWAGENT_CAPS_H

#include <stdint.h>

#define CAPS_BIT(cap) (1ULL << (cap))

/* The effective set, one bit per capability (CAP_* of linux/capability.h); 0 on error. */
uint64_t caps_effective(void);

/*
 * Reduces the permitted and effective sets to keep (bits not held stay off), empties the
 * inheritable and ambient sets, and sets no_new_privs. Returns 0 or a negative errno.
 */
int caps_keep_only(uint64_t keep);

#endif
