// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* agent/caps: the capabilities kept, read back from the kernel's own view in /proc. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <cmocka.h>

#include "caps.h"

/* CapEff, CapPrm, ... of this thread's /proc status */
static uint64_t proc_caps(const char *field)
{
	char line[256], name[32];
	uint64_t caps = UINT64_MAX;
	FILE *status = fopen("/proc/thread-self/status", "r");

	assert_non_null(status);
	snprintf(name, sizeof(name), "%s:\t%%" SCNx64, field);
	while (fgets(line, sizeof(line), status))
		if (sscanf(line, name, &caps) == 1)
			break;
	fclose(status);
	assert_int_not_equal(caps, UINT64_MAX);
	return caps;
}

static void test_effective_matches_proc(void **state)
{
	(void)state;
	assert_int_equal(caps_effective(), proc_caps("CapEff"));
}

/* In a child, so the test process keeps its own capabilities. */
static int child_keep(uint64_t keep)
{
	pid_t pid = fork();
	int status;

	if (!pid) {
		int ok = !caps_keep_only(keep) &&
			 proc_caps("CapEff") == (keep & proc_caps("CapBnd")) &&
			 proc_caps("CapPrm") == proc_caps("CapEff") && proc_caps("CapInh") == 0 &&
			 proc_caps("CapAmb") == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 &&
			 caps_effective() == proc_caps("CapEff");
		_exit(ok ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_keep_only_net_admin(void **state)
{
	(void)state;
	if (!(caps_effective() & CAPS_BIT(CAP_NET_ADMIN)))
		skip(); /* the drop is only seen from a process that had it */
	assert_int_equal(child_keep(CAPS_BIT(CAP_NET_ADMIN)), 0);
}

static void test_keep_nothing(void **state)
{
	(void)state;
	assert_int_equal(child_keep(0), 0);
}

/* A capability not held is not gained by asking to keep it. */
static void test_keep_cannot_add(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	if (!pid) {
		int ok = !caps_keep_only(0) && !caps_keep_only(CAPS_BIT(CAP_NET_ADMIN)) &&
			 caps_effective() == 0;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_effective_matches_proc),
		cmocka_unit_test(test_keep_only_net_admin),
		cmocka_unit_test(test_keep_nothing),
		cmocka_unit_test(test_keep_cannot_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
