// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the metrics endpoint's address parsing: PORT, ADDR:PORT, [IPv6]:PORT only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>
#include <cmocka.h>

#include "metrics_http.h"

static void expect(const char *text, int family, const char *host, uint16_t port)
{
	struct sockaddr_storage addr;
	char err[256] = "", shown[64];

	assert_int_equal(metrics_parse_address(text, &addr, err, sizeof(err)), 0);
	assert_int_equal(addr.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;

		inet_ntop(AF_INET, &in4->sin_addr, shown, sizeof(shown));
		assert_int_equal(ntohs(in4->sin_port), port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, shown, sizeof(shown));
		assert_int_equal(ntohs(in6->sin6_port), port);
	}
	assert_string_equal(shown, host);
}

static void refused(const char *text, const char *message)
{
	struct sockaddr_storage addr;
	char err[256] = "";

	assert_int_not_equal(metrics_parse_address(text, &addr, err, sizeof(err)), 0);
	if (!strstr(err, message))
		fail_msg("'%s' not in '%s'", message, err);
}

static void test_accepted(void **state)
{
	(void)state;
	expect("9100", AF_INET, "127.0.0.1", 9100);
	expect(":9100", AF_INET, "127.0.0.1", 9100);
	expect("0.0.0.0:9100", AF_INET, "0.0.0.0", 9100);
	expect("[::1]:9100", AF_INET6, "::1", 9100);
	expect("[::]:65535", AF_INET6, "::", 65535);
}

static void test_refused(void **state)
{
	(void)state;
	/* both were once taken as an IPv6 address without its port's colon */
	refused("::1:9100", "an IPv6 address needs brackets, as in [::1]:9100");
	refused(":::9100", "an IPv6 address needs brackets");
	refused("9100x", "is not PORT, ADDR:PORT or [IPv6]:PORT");
	refused("0", "is not PORT");
	refused("65536", "is not PORT");
	refused("[::1]9100", "is not PORT");
	refused("localhost:9100", "with a numeric address");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
