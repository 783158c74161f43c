// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the JSON record writer and its RFC 5952 address formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <signal.h>
#include <cmocka.h>

#include "flow_output.h"

static void check_addr(const char *text, const char *expected)
{
	uint8_t addr[16] = { 0 };
	char out[FLOW_ADDR_TEXT_MAX];

	if (strchr(text, ':')) {
		assert_int_equal(inet_pton(AF_INET6, text, addr), 1);
	} else {
		addr[10] = addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, text, addr + 12), 1);
	}
	assert_int_equal(flow_addr_format(out, addr), strlen(expected));
	assert_string_equal(out, expected);
}

static void test_addresses_rfc5952(void **state)
{
	(void)state;
	check_addr("192.0.2.33", "192.0.2.33");
	check_addr("0.0.0.0", "0.0.0.0");
	check_addr("255.255.255.255", "255.255.255.255");
	check_addr("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
	check_addr("::", "::");
	check_addr("::1", "::1");
	check_addr("1::", "1::");
	/* a single zero group is not compressed */
	check_addr("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
	/* the longest run wins; on a tie the first */
	check_addr("2001:0:0:1:0:0:0:1", "2001:0:0:1::1");
	check_addr("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	/* IPv4-compatible addresses stay hexadecimal, unlike inet_ntop */
	check_addr("::102:304", "::102:304");
	check_addr("fe80::abcd:ef01:2345:6789", "fe80::abcd:ef01:2345:6789");
}

static void test_json_record_line(void **state)
{
	static struct flow_output out;
	struct flow_record record = { 0 };
	char text[1024];
	FILE *tmp = tmpfile();
	size_t n;

	(void)state;
	assert_non_null(tmp);
	record.key.src_addr[10] = record.key.src_addr[11] = 0xff;
	record.key.src_addr[12] = 10;
	record.key.src_addr[15] = 1;
	record.key.dst_addr[0] = 0x20;
	record.key.dst_addr[1] = 0x01;
	record.key.dst_addr[15] = 2;
	record.key.src_port = 65535;
	record.key.dst_port = 443;
	record.key.proto = 6;
	record.key.vlan = 4095;
	record.key.ifindex = 7;
	record.key.direction = FLOW_DIR_EGRESS;
	record.sampling = 1;
	record.stats.packets = 18446744073709551615ULL;
	record.stats.bytes = 0;
	record.stats.tcp_flags = 0xff;
	record.stats.first_seen_ns = 1767589200000000000ULL;
	record.stats.last_seen_ns = 1767589200123456789ULL;

	flow_output_init(&out, fileno(tmp));
	flow_output_json(&out, &record);
	assert_int_equal(flow_output_flush(&out), 0);
	assert_int_equal(out.records, 1);
	rewind(tmp);
	n = fread(text, 1, sizeof(text) - 1, tmp);
	text[n] = '\0';
	assert_string_equal(
		text, "{\"src_addr\":\"10.0.0.1\",\"dst_addr\":\"2001::2\",\"src_port\":65535,"
		      "\"dst_port\":443,\"proto\":6,\"vlan\":4095,"
		      "\"packets\":18446744073709551615,\"bytes\":0,\"tcp_flags\":255,"
		      "\"first_seen_ns\":1767589200000000000,"
		      "\"last_seen_ns\":1767589200123456789,\"sampling\":1,\"ifindex\":7,"
		      "\"direction\":\"egress\"}\n");
	fclose(tmp);
}

/* Numbers and IPv4 octets against snprintf, around every power of ten and at random. */
static void test_numbers_match_snprintf(void **state)
{
	static struct flow_output out;
	uint64_t rng = 88172645463325252ULL, pow10 = 1;
	char expected[512];
	int i;

	(void)state;
	flow_output_init(&out, -1);
	for (i = 0; i < 20000; i++) {
		struct flow_record r = { 0 };
		uint64_t value;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		if (i < 60) {
			value = pow10 - 1 + (uint64_t)(i % 3);
			if (i % 3 == 2 && pow10 <= UINT64_MAX / 10)
				pow10 *= 10;
		} else {
			value = rng >> (rng & 63);
		}
		r.key.src_addr[10] = r.key.src_addr[11] = 0xff;
		memcpy(r.key.src_addr + 12, &rng, 4);
		r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
		r.key.src_port = (uint16_t)value;
		r.stats.packets = value;
		r.stats.bytes = ~value;
		r.stats.first_seen_ns = value / 3;
		snprintf(expected, sizeof(expected),
			 "{\"src_addr\":\"%u.%u.%u.%u\",\"dst_addr\":\"0.0.0.0\",\"src_port\":%u,"
			 "\"dst_port\":0,\"proto\":0,\"vlan\":0,\"packets\":%llu,\"bytes\":%llu,"
			 "\"tcp_flags\":0,\"first_seen_ns\":%llu,\"last_seen_ns\":0,"
			 "\"sampling\":0,\"ifindex\":0,\"direction\":\"ingress\"}\n",
			 r.key.src_addr[12], r.key.src_addr[13], r.key.src_addr[14],
			 r.key.src_addr[15], r.key.src_port, (unsigned long long)value,
			 (unsigned long long)~value, (unsigned long long)(value / 3));
		out.used = 0;
		flow_output_json(&out, &r);
		assert_int_equal(out.used, strlen(expected));
		assert_memory_equal(out.buffer, expected, out.used);
	}
}

static void test_write_error_reported(void **state)
{
	static struct flow_output out;
	struct flow_record record = { 0 };
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	flow_output_init(&out, fds[1]);
	flow_output_json(&out, &record);
	assert_int_not_equal(flow_output_flush(&out), 0);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_rfc5952),
		cmocka_unit_test(test_json_record_line),
		cmocka_unit_test(test_numbers_match_snprintf),
		cmocka_unit_test(test_write_error_reported),
	};

	return cmocka_run_group_tests_name("flow_output", tests, NULL, NULL);
}
