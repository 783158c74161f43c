// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The process's capabilities; see caps.h. Two system calls do not need libcap. */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "caps.h"

static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &header, data) ? -errno : 0;
}

uint64_t caps_effective(void)
{
	struct __user_cap_data_struct data[2] = {};

	if (caps_get(data))
		return 0;
	return (uint64_t)data[1].effective << 32 | data[0].effective;
}

int caps_keep_only(uint64_t keep)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	uint64_t permitted;
	int err = caps_get(data);

	if (err)
		return err;
	permitted = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & keep;
	for (int i = 0; i < 2; i++) {
		data[i].permitted = data[i].effective = (uint32_t)(permitted >> (32 * i));
		data[i].inheritable = 0;
	}
	/* ambient capabilities would survive an exec; the kernel may predate them (EINVAL) */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &header, data))
		return -errno;
	/* nothing this process could exec gains privileges, setuid bits included */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}
