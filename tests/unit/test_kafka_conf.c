// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of lib/kafka_conf: -X properties, properties files, and that secrets stay off the
 * command line and out of every message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "kafka_conf.h"

static char path[64];

static int write_file(const char *text, mode_t mode)
{
	FILE *file;

	snprintf(path, sizeof(path), "/tmp/test_kafka_conf.%d", (int)getpid());
	file = fopen(path, "w");
	if (!file)
		return -1;
	fputs(text, file);
	fclose(file);
	return chmod(path, mode);
}

static int remove_file(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void assert_property(rd_kafka_conf_t *conf, const char *name, const char *expected)
{
	char value[256];
	size_t size = sizeof(value);

	assert_int_equal(rd_kafka_conf_get(conf, name, value, &size), RD_KAFKA_CONF_OK);
	assert_string_equal(value, expected);
}

static void test_secret_names(void **state)
{
	(void)state;
	assert_true(kafka_property_is_secret("sasl.password"));
	assert_true(kafka_property_is_secret("ssl.key.password"));
	assert_true(kafka_property_is_secret("ssl.key.pem"));
	assert_true(kafka_property_is_secret("sasl.oauthbearer.config"));
	assert_true(kafka_property_is_secret("sasl.jaas.config"));
	assert_false(kafka_property_is_secret("linger.ms"));
	assert_false(kafka_property_is_secret("security.protocol"));
}

static void test_command_line_properties(void **state)
{
	struct kafka_properties list = { 0 };
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];

	(void)state;
	assert_int_equal(kafka_properties_add(&list, "linger.ms=7", err, sizeof(err)), 0);
	assert_int_equal(kafka_properties_add(&list, "client.id=a=b", err, sizeof(err)), 0);
	assert_int_equal(kafka_properties_add(&list, "linger.ms", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-X 'linger.ms': expected KEY=VALUE");
	assert_int_equal(kafka_properties_add(&list, "=5", err, sizeof(err)), -EINVAL);
	assert_int_equal(kafka_properties_add(&list, "sasl.password=hunter2", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "secrets never go on the command line"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(list.count, 2);

	assert_int_equal(kafka_conf_apply(conf, &list, err, sizeof(err)), 0);
	assert_property(conf, "linger.ms", "7");
	assert_property(conf, "client.id", "a=b");
	kafka_properties_free(&list);
	assert_int_equal(list.count, 0);

	/* a value librdkafka refuses: the name is in the message, the value is not */
	assert_int_equal(kafka_properties_add(&list, "linger.ms=soon-ish", err, sizeof(err)), 0);
	assert_int_equal(kafka_conf_apply(conf, &list, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "-X: Kafka property 'linger.ms'"));
	assert_null(strstr(err, "soon-ish"));
	kafka_properties_free(&list);
	rd_kafka_conf_destroy(conf);
}

static void test_properties_file(void **state)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];

	(void)state;
	assert_int_equal(write_file("# comment\n! also a comment\n\n  linger.ms = 9  \n"
				    "sasl.username=flows\n",
				    0600),
			 0);
	assert_int_equal(kafka_conf_load_file(conf, path, err, sizeof(err)), 0);
	assert_property(conf, "linger.ms", "9");
	assert_property(conf, "sasl.username", "flows");

	assert_int_equal(write_file("linger.ms=1\nnot a property\n", 0600), 0);
	assert_int_equal(kafka_conf_load_file(conf, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: expected key=value"));

	assert_int_equal(write_file("sasl.password=hunter2\nlinger.ms=later\n", 0600), 0);
	assert_int_equal(kafka_conf_load_file(conf, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: Kafka property 'linger.ms'"));
	assert_null(strstr(err, "later"));
	assert_null(strstr(err, "hunter2"));
	rd_kafka_conf_destroy(conf);
	unlink(path);

	conf = rd_kafka_conf_new();
	assert_int_equal(kafka_conf_load_file(conf, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--kafka-config"));
	rd_kafka_conf_destroy(conf);
}

/* Mode bits of a secret file: its owner's, or read by a group this process runs in. */
static void test_secret_file_modes(void **state)
{
	static const struct {
		mode_t mode;
		int ret;
	} cases[] = {
		/* 0640 and 0440: our own group (the file's creator's), read only */
		{ 0600, 0 },
		{ 0400, 0 },
		{ 0640, 0 },
		{ 0440, 0 },
		/* the group could change it, others can read it, the group has exec */
		{ 0660, -EPERM },
		{ 0604, -EPERM },
		{ 0644, -EPERM },
		{ 0610, -EPERM },
	};
	char err[512];
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(write_file("x\n", cases[i].mode), 0);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(secret_file_check(fd, path, err, sizeof(err)), cases[i].ret);
		if (cases[i].ret)
			assert_non_null(
				strstr(err, "users other than its owner have access to it"));
		close(fd);
	}
	/* read by a group this process is not in: refused (root can hand the file to one) */
	if (geteuid() == 0) {
		assert_int_equal(write_file("x\n", 0640), 0);
		assert_int_equal(chown(path, 0, 54321), 0);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(secret_file_check(fd, path, err, sizeof(err)),
				 getegid() == 54321 ? 0 : -EPERM);
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_names),
		cmocka_unit_test(test_command_line_properties),
		cmocka_unit_test_teardown(test_properties_file, remove_file),
		cmocka_unit_test_teardown(test_secret_file_modes, remove_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
