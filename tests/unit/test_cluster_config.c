// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The cluster file (collector/cluster_config.c): what it takes, and what it refuses where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_config.h"

static struct cluster_config config;
static char err[512];

static int parse(const char *text)
{
	err[0] = '\0';
	return cluster_config_parse(text, "c.conf", &config, err, sizeof(err));
}

static void assert_refused(const char *text, const char *message)
{
	assert_int_not_equal(parse(text), 0);
	if (!strstr(err, message))
		fail_msg("expected \"%s\" in \"%s\"", message, err);
}

static void test_full_file(void **state)
{
	(void)state;
	assert_int_equal(parse("# two shards\n"
			       "cluster flows_eu\n"
			       "user flowcollector\n"
			       "password-file /etc/flowcollector/ch.pass\n"
			       "probe-interval-ms 250\n"
			       "\n"
			       "shard 1   # the first\n"
			       "replica http://10.0.0.1:8123/\n"
			       "replica https://10.0.0.2:8443/ tcp 9440\n"
			       "shard 7 weight 3 capacity 2G\n"
			       "\treplica http://[2001:db8::1]:8123/\r\n"
			       "fill-limit 80\n"
			       "standby-at 60\n"
			       "shard 8 standby\n"
			       "replica http://10.0.0.8:8123/\n"),
			 0);
	assert_string_equal(config.name, "flows_eu");
	assert_string_equal(config.user, "flowcollector");
	assert_string_equal(config.password_file, "/etc/flowcollector/ch.pass");
	assert_int_equal(config.probe_interval_ms, 250);
	assert_int_equal(config.shard_count, 3);
	assert_int_equal(config.fill_limit_percent, 80);
	assert_int_equal(config.standby_at_percent, 60);
	assert_int_equal(config.shards[0].capacity, 0);
	assert_int_equal(config.shards[1].capacity, 2ull << 30);
	assert_false(config.shards[1].standby);
	assert_true(config.shards[2].standby);
	assert_int_equal(config.shards[0].number, 1);
	assert_int_equal(config.shards[0].weight, 1);
	assert_int_equal(config.shards[0].replica_count, 2);
	assert_string_equal(config.shards[0].replicas[1].url, "https://10.0.0.2:8443/");
	assert_int_equal(config.shards[0].replicas[0].tcp_port, 9000);
	assert_int_equal(config.shards[0].replicas[1].tcp_port, 9440);
	assert_int_equal(config.shards[1].number, 7);
	assert_int_equal(config.shards[1].weight, 3);
	assert_string_equal(config.shards[1].replicas[0].url, "http://[2001:db8::1]:8123/");
	assert_non_null(cluster_config_shard(&config, 7));
	assert_null(cluster_config_shard(&config, 2));
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(parse("shard 1\nreplica http://127.0.0.1:8123/\n"), 0);
	assert_string_equal(config.name, "flows");
	assert_string_equal(config.user, "");
	assert_string_equal(config.password_file, "");
	assert_int_equal(config.probe_interval_ms, 1000);
	assert_int_equal(config.fill_limit_percent, 90);
	assert_int_equal(config.standby_at_percent, 75);
	assert_false(config.shards[0].standby);
}

static void test_refused_with_line(void **state)
{
	(void)state;
	assert_refused("", "c.conf: no shard");
	assert_refused("# nothing\n\n", "no shard");
	assert_refused("replica http://a:1/\n", "c.conf:1: replica before any 'shard' line");
	assert_refused("shard 1\n", "c.conf: shard 1 has no replica");
	assert_refused("shard 1\nreplica http://a:1/\nshard 2\n", "shard 2 has no replica");
	assert_refused("shard 1\nreplica http://a:1/\nshard 1\n", "c.conf:3: shard 1: given twice");
	assert_refused("shard 0\n", "c.conf:1: shard '0': expected a whole number from 1");
	assert_refused("shard x\n", "shard 'x'");
	assert_refused("shard\n", "expected 'shard NUMBER [weight W]'");
	assert_refused("shard 1 weight\n", "weight without a value");
	assert_refused("shard 1 weight 0\n", "weight '0'");
	assert_refused("shard 1 weight 1001\n", "weight '1001'");
	assert_refused("shard 1 size 3\n", "unknown option 'size' (weight, capacity, standby)");
	assert_refused("shard 1 capacity 10\n", "c.conf:1: capacity '10': expected bytes of at "
						"least 1M");
	assert_refused("shard 1 capacity\n", "capacity without a value");
	assert_refused("shard 1 standby\nreplica http://a:1/\n", "every shard is a standby");
	assert_refused("fill-limit 101\n", "fill-limit '101'");
	assert_refused("fill-limit 50\nstandby-at 60\nshard 1\nreplica http://a:1/\n",
		       "standby-at 60% is above fill-limit 50%");
	assert_refused("shard 1\nreplica ftp://a/\n",
		       "c.conf:2: replica 'ftp://a/': expected http://");
	assert_refused("shard 1\nreplica http:///\n", "no host");
	assert_refused("shard 1\nreplica http://u:p@a:1/\n", "no credentials in the URL");
	assert_refused("shard 1\nreplica http://a:1/?user=x\n", "no query");
	assert_refused("shard 1\nreplica\n", "expected 'replica URL [tcp PORT]'");
	assert_refused("shard 1\nreplica http://a:1/ tcp\n", "expected 'replica URL [tcp PORT]'");
	assert_refused("shard 1\nreplica http://a:1/ port 9000\n", "expected 'replica URL");
	assert_refused("shard 1\nreplica http://a:1/ tcp 0\n",
		       "c.conf:2: tcp '0': expected a whole number from 1 to 65535");
	assert_refused("shard 1\nreplica http://a:1/ tcp 65536\n", "tcp '65536'");
	assert_refused("shard 1\nreplica http://a:1/\nshard 2\nreplica http://a:1/\n",
		       "c.conf:4: replica http://a:1/: already a replica of shard 1");
	assert_refused("cluster a b\n", "c.conf:1: cluster: expected one value");
	assert_refused("cluster fl'ows\n", "letters, digits");
	assert_refused("user a;b\n", "letters, digits");
	assert_refused("probe-interval-ms 5\n", "probe-interval-ms '5'");
	assert_refused("shards 2\n", "c.conf:1: unknown setting 'shards'");
	assert_refused("shard 1 a b c d e f g h\n", "too many words");
}

static void test_limits(void **state)
{
	char text[8192];
	size_t used = 0;
	int i;

	(void)state;
	used += (size_t)snprintf(text + used, sizeof(text) - used, "shard 1\n");
	for (i = 0; i <= CLUSTER_MAX_REPLICAS; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "replica http://h%d:1/\n", i);
	assert_refused(text, "more than 8 replicas");
	used = 0;
	for (i = 1; i <= CLUSTER_MAX_SHARDS + 1; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "shard %d\nreplica http://h%d:1/\n", i, i);
	assert_refused(text, "more than 64 shards");
	memset(text, 'a', 2000);
	memcpy(text, "replica ", 8);
	text[2000] = '\0';
	assert_refused(text, "c.conf:1: line longer than");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_cluster_config.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "shard 2\nreplica http://x:8123/\n", 31), 31);
	close(fd);
	assert_int_equal(cluster_config_load(path, &config, err, sizeof(err)), 0);
	assert_int_equal(config.shards[0].number, 2);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "shard 1\0", 8), 8);
	close(fd);
	assert_int_not_equal(cluster_config_load(path, &config, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "NUL byte"));
	unlink(path);
	assert_int_not_equal(cluster_config_load(path, &config, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),	  cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refused_with_line), cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
