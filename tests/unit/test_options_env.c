// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * lib/options_env.c: the arguments built from the environment and a config file (exact
 * vectors and sources), precedence, flags, repeatable and positional values, every error with
 * its text, and the real parse in a child process: values reach the parser, and its errors
 * name the variable or file line they came from.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "options_env.h"

enum {
	OPT_TOPIC = 256,
	OPT_LEGACY,
	OPT_AGENT_ID
};

static const struct argp_option options[] = {
	{ "topic", OPT_TOPIC, "TOPIC", 0, "Kafka topic", 0 },
	{ "sample", 's', "N", 0, "1 in N", 0 },
	{ "legacy-attach", OPT_LEGACY, NULL, 0, "Legacy attach", 0 },
	{ "agent-id", OPT_AGENT_ID, "ID", 0, "The id", 0 },
	{ "kafka-property", 'X', "KEY=VALUE", 0, "A property (repeatable)", 0 },
	{ NULL, 'n', "N", 0, "A short option only", 0 },
	{ NULL, 0, NULL, 0, "General:", 1 },
	{ "verbose", 'v', NULL, 0, "More messages", 0 },
	{},
};

/* What the parser saw, printed by the child of the parse tests. */
static struct {
	const char *topic, *agent_id;
	int sample, legacy, verbose, properties, args;
	const char *property[8], *arg[8];
} seen;

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_TOPIC:
		seen.topic = arg;
		break;
	case 's':
		seen.sample = atoi(arg);
		if (seen.sample <= 0)
			argp_error(state, "--sample: '%s' is not a positive integer", arg);
		break;
	case OPT_LEGACY:
		seen.legacy = 1;
		break;
	case OPT_AGENT_ID:
		if (strchr(arg, ' '))
			argp_error(state, "--agent-id '%s': no spaces", arg);
		seen.agent_id = arg;
		break;
	case 'X':
		if (strstr(arg, "password"))
			argp_error(state, "-X: no secrets here");
		seen.property[seen.properties++ & 7] = arg;
		break;
	case 'n':
		break;
	case 'v':
		seen.verbose++;
		break;
	case ARGP_KEY_ARG:
		seen.arg[seen.args++ & 7] = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { .options = options,
				  .parser = parse_arg,
				  .args_doc = "IFACE...",
				  .doc = "t: a test.\vEXAMPLES:\n  t eth0\n" };
static const int repeatable[] = { 'X', 'v', 0 };
static const struct options_env spec = { .prefix = "FLOWAGENT_",
					 .positional = "interfaces",
					 .repeatable = repeatable };

static char config_path[64];
static char err[4096];
static struct options_env_args args;

static int setup(void **state)
{
	(void)state;
	snprintf(config_path, sizeof(config_path), "/tmp/test_options_env.XXXXXX");
	close(mkstemp(config_path));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(config_path);
	options_env_args_free(&args);
	return 0;
}

static void write_config(const char *text)
{
	FILE *file = fopen(config_path, "w");

	assert_non_null(file);
	fputs(text, file);
	fclose(file);
}

/* Builds from a NULL-terminated argv and envp; returns the result. */
static int build(char **argv, char **envp)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	options_env_args_free(&args);
	err[0] = '\0';
	return options_env_build(&argp, &spec, argc, argv, envp, &args, err, sizeof(err));
}

/* args equal exactly the NULL-terminated list of "ARG" or "ARG@SOURCE" strings */
static void assert_args(const char *const *expected)
{
	int i;

	for (i = 0; expected[i]; i++) {
		const char *at = strrchr(expected[i], '@');
		size_t len = at ? (size_t)(at - expected[i]) : strlen(expected[i]);

		assert_true(i < args.argc);
		assert_int_equal(strlen(args.argv[i]), len);
		assert_memory_equal(args.argv[i], expected[i], len);
		if (at)
			assert_string_equal(args.source[i], at + 1);
		else
			assert_null(args.source[i]);
	}
	assert_int_equal(args.argc, i);
	assert_null(args.argv[i]);
}

static void test_env_name(void **state)
{
	char name[64];

	(void)state;
	options_env_name("FLOWCOLLECTOR_", "clickhouse-password-file", name, sizeof(name));
	assert_string_equal(name, "FLOWCOLLECTOR_CLICKHOUSE_PASSWORD_FILE");
	options_env_name("FLOWAGENT_", "agent-id", name, sizeof(name));
	assert_string_equal(name, "FLOWAGENT_AGENT_ID");
}

static void test_command_line_alone(void **state)
{
	char *argv[] = { "t", "--topic", "x", "-v", "eth0", NULL };
	char *envp[] = { "HOME=/root", "FLOWAGENTX=1", NULL };
	const char *expected[] = { "t", "--topic", "x", "-v", "eth0", NULL };

	(void)state;
	assert_int_equal(build(argv, envp), 0);
	assert_args(expected);
}

static void test_env_before_command_line(void **state)
{
	char *argv[] = { "t", "eth0", NULL };
	char *envp[] = { "FLOWAGENT_TOPIC=a=b c", "PATH=/bin", "FLOWAGENT_SAMPLE=3",
			 "FLOWAGENT_AGENT_ID=node-7", NULL };
	const char *expected[] = { "t",
				   "--topic=a=b c@FLOWAGENT_TOPIC",
				   "--sample=3@FLOWAGENT_SAMPLE",
				   "--agent-id=node-7@FLOWAGENT_AGENT_ID",
				   "eth0",
				   NULL };

	(void)state;
	assert_int_equal(build(argv, envp), 0);
	assert_args(expected);
}

static void test_command_line_wins(void **state)
{
	/* also abbreviated, or with '=': the scan is argp's own parse */
	char *argv1[] = { "t", "--topic", "c", "eth0", NULL };
	char *argv2[] = { "t", "--top=c", "-s5", "eth0", NULL };
	char *envp[] = { "FLOWAGENT_TOPIC=e", "FLOWAGENT_SAMPLE=3", NULL };
	const char *expected1[] = {
		"t", "--sample=3@FLOWAGENT_SAMPLE", "--topic", "c", "eth0", NULL
	};
	const char *expected2[] = { "t", "--top=c", "-s5", "eth0", NULL };

	(void)state;
	assert_int_equal(build(argv1, envp), 0);
	assert_args(expected1);
	assert_int_equal(build(argv2, envp), 0);
	assert_args(expected2);
}

static void test_env_wins_over_file(void **state)
{
	char *argv[] = { "t", "--config", config_path, "eth0", NULL };
	char *envp[] = { "FLOWAGENT_TOPIC=e", NULL };
	char sample[128], agent[128];
	const char *expected[] = { "t",	       sample,	    agent,  "--topic=e@FLOWAGENT_TOPIC",
				   "--config", config_path, "eth0", NULL };

	(void)state;
	write_config("# the fleet's settings\n\n  topic = f  \nsample=2\nagent-id = a b\n");
	snprintf(sample, sizeof(sample), "--sample=2@%s:4", config_path);
	snprintf(agent, sizeof(agent), "--agent-id=a b@%s:5", config_path);
	assert_int_equal(build(argv, envp), 0);
	assert_args(expected);

	/* and the command line over both */
	{
		char config_arg[128];
		char *argv2[] = { "t", config_arg, "--topic", "c", "eth0", NULL };
		const char *expected2[] = { "t",       sample, agent,  config_arg,
					    "--topic", "c",    "eth0", NULL };

		snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);
		assert_int_equal(build(argv2, envp), 0);
		assert_args(expected2);
	}
}

static void test_config_from_env(void **state)
{
	char *argv[] = { "t", "eth0", NULL };
	char *argv_config[] = { "t", "--config", config_path, "eth0", NULL };
	char config_env[128], topic[128];
	char *envp[] = { config_env, NULL };
	char *elsewhere[] = { "FLOWAGENT_CONFIG=/nonexistent/flowagent.conf", NULL };
	const char *expected[] = { "t", topic, "eth0", NULL };
	const char *expected_config[] = { "t", topic, "--config", config_path, "eth0", NULL };

	(void)state;
	write_config("topic = f\n");
	snprintf(config_env, sizeof(config_env), "FLOWAGENT_CONFIG=%s", config_path);
	snprintf(topic, sizeof(topic), "--topic=f@%s:1", config_path);
	assert_int_equal(build(argv, envp), 0);
	assert_args(expected);
	/* the command line's --config wins over the environment's */
	assert_int_equal(build(argv_config, elsewhere), 0);
	assert_args(expected_config);
}

static void test_flags(void **state)
{
	char *argv[] = { "t", "--config", config_path, "eth0", NULL };
	char *yes[] = { "FLOWAGENT_LEGACY_ATTACH=yes", "FLOWAGENT_VERBOSE=2", NULL };
	char *no[] = { "FLOWAGENT_LEGACY_ATTACH=FALSE", "FLOWAGENT_VERBOSE=0", NULL };
	char *bad[] = { "FLOWAGENT_LEGACY_ATTACH=maybe", NULL };
	char *bad_count[] = { "FLOWAGENT_VERBOSE=10", NULL };
	char verbose[128];
	const char *expected_yes[] = { "t",
				       verbose,
				       "--legacy-attach@FLOWAGENT_LEGACY_ATTACH",
				       "--verbose@FLOWAGENT_VERBOSE",
				       "--verbose@FLOWAGENT_VERBOSE",
				       "--config",
				       config_path,
				       "eth0",
				       NULL };
	/* false hides the file's true; the counts of a repeatable flag add up */
	const char *expected_no[] = { "t", verbose, "--config", config_path, "eth0", NULL };

	(void)state;
	write_config("legacy-attach = 1\nverbose = true\n");
	snprintf(verbose, sizeof(verbose), "--verbose@%s:2", config_path);
	assert_int_equal(build(argv, yes), 0);
	assert_args(expected_yes);
	assert_int_equal(build(argv, no), 0);
	assert_args(expected_no);
	assert_int_equal(build(argv, bad), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_LEGACY_ATTACH: --legacy-attach is a flag: expected 1 "
				 "or 0, true or false, yes or no, not 'maybe'");
	assert_int_equal(build(argv, bad_count), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_VERBOSE: --verbose is a flag: expected 1 or 0, true or "
				 "false, yes or no, or a count up to 9, not '10'");
}

static void test_repeatable_values_add_up(void **state)
{
	char *argv[] = { "t", "--config", config_path, "-X", "e=5", "eth0", NULL };
	char *envp[] = { "FLOWAGENT_KAFKA_PROPERTY= c=3\n\nd=4\n", NULL };
	char first[128], second[128];
	const char *expected[] = { "t",
				   first,
				   second,
				   "--kafka-property=c=3@FLOWAGENT_KAFKA_PROPERTY",
				   "--kafka-property=d=4@FLOWAGENT_KAFKA_PROPERTY",
				   "--config",
				   config_path,
				   "-X",
				   "e=5",
				   "eth0",
				   NULL };

	(void)state;
	write_config("kafka-property = a=1\nkafka-property = b=2\n");
	snprintf(first, sizeof(first), "--kafka-property=a=1@%s:1", config_path);
	snprintf(second, sizeof(second), "--kafka-property=b=2@%s:2", config_path);
	assert_int_equal(build(argv, envp), 0);
	assert_args(expected);
}

static void test_unknown_variables(void **state)
{
	char *argv[] = { "t", "eth0", NULL };
	char *one[] = { "FLOWAGENT_TOPIK=flows", "FLOWAGENT_TEST_ASAN=/x", NULL };
	char *two[] = { "FLOWAGENT_X=a=1", "FLOWAGENT_PASSWORD=hunter2", NULL };
	char *hooks[] = { "FLOWAGENT_TEST_FAULT=1", "FLOWAGENT=/bin/flowagent", NULL };
	const char *expected[] = { "t", "eth0", NULL };

	(void)state;
	assert_int_equal(build(argv, one), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_TOPIK: names no option (every FLOWAGENT_* variable is "
				 "one, named after the option as --help shows; FLOWAGENT_CONFIG is "
				 "the config file)");
	/* every one named, and no value repeated: it may be a secret */
	assert_int_equal(build(argv, two), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_X, FLOWAGENT_PASSWORD: name no option (every "
				 "FLOWAGENT_* variable is one, named after the option as --help "
				 "shows; FLOWAGENT_CONFIG is the config file)");
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(build(argv, hooks), 0);
	assert_args(expected);
}

/* What Kubernetes gives a pod for a Service "flowagent" and one "flowagent-collector". */
static void test_service_links_are_not_options(void **state)
{
	char *argv[] = { "t", "eth0", NULL };
	char *links[] = { "FLOWAGENT_SERVICE_HOST=10.96.0.7",
			  "FLOWAGENT_SERVICE_PORT=9465",
			  "FLOWAGENT_SERVICE_PORT_METRICS=9465",
			  "FLOWAGENT_PORT=tcp://10.96.0.7:9465",
			  "FLOWAGENT_PORT_9465_TCP=tcp://10.96.0.7:9465",
			  "FLOWAGENT_PORT_9465_TCP_PROTO=tcp",
			  "FLOWAGENT_PORT_9465_TCP_PORT=9465",
			  "FLOWAGENT_PORT_9465_TCP_ADDR=10.96.0.7",
			  "FLOWAGENT_COLLECTOR_SERVICE_HOST=10.96.0.8",
			  "FLOWAGENT_COLLECTOR_PORT_8123_SCTP=sctp://10.96.0.8:8123",
			  NULL };
	/* names or values Kubernetes never gives: mistakes, still refused */
	char *port[] = { "FLOWAGENT_PORT=9465", NULL };
	char *metrics_port[] = { "FLOWAGENT_METRICS_PORT=9465", NULL };
	char *service_port[] = { "FLOWAGENT_SERVICE_PORT=metrics", NULL };
	char *proto[] = { "FLOWAGENT_PORT_9465_TCP_PROTO=http", NULL };
	char *no_number[] = { "FLOWAGENT_PORT_X_TCP=tcp://10.96.0.7:9465", NULL };
	char *const *mistakes[] = { port, metrics_port, service_port, proto, no_number };
	const char *expected[] = { "t", "eth0", NULL };
	size_t i;

	(void)state;
	assert_int_equal(build(argv, links), 0);
	assert_args(expected);
	for (i = 0; i < sizeof(mistakes) / sizeof(mistakes[0]); i++) {
		size_t len = strcspn(mistakes[i][0], "=");

		assert_int_equal(build(argv, (char **)mistakes[i]), -EINVAL);
		assert_memory_equal(err, mistakes[i][0], len);
		assert_string_equal(err + len,
				    ": names no option (every FLOWAGENT_* variable is one, "
				    "named after the option as --help shows; "
				    "FLOWAGENT_CONFIG is the config file)");
	}
}

static void test_bad_env_values(void **state)
{
	char *argv[] = { "t", "eth0", NULL };
	char *empty[] = { "FLOWAGENT_TOPIC=", NULL };
	char *lines[] = { "FLOWAGENT_TOPIC=a\nb", NULL };
	char *no_words[] = { "FLOWAGENT_INTERFACES= \t", NULL };
	char *no_config[] = { "FLOWAGENT_CONFIG=", NULL };
	char *missing[] = { "FLOWAGENT_CONFIG=/nonexistent/flowagent.conf", NULL };

	(void)state;
	assert_int_equal(build(argv, empty), -EINVAL);
	assert_string_equal(
		err, "FLOWAGENT_TOPIC: --topic needs a value (unset it to leave the default)");
	assert_int_equal(build(argv, lines), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_TOPIC: a value of several lines (only repeatable "
				 "options take one value per line)");
	assert_int_equal(build(argv, no_words), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_INTERFACES: no arguments in it (unset it instead)");
	assert_int_equal(build(argv, no_config), -EINVAL);
	assert_string_equal(err, "FLOWAGENT_CONFIG is empty: name a config file, or unset it");
	assert_int_equal(build(argv, missing), -EINVAL);
	assert_string_equal(err, "config file /nonexistent/flowagent.conf (FLOWAGENT_CONFIG): No "
				 "such file or directory");
}

static void test_config_file_errors(void **state)
{
	static const struct {
		const char *text, *error; /* error after "PATH:" */
	} cases[] = {
		{ "topic flows\n", "1: expected 'name = value' (a long option's name)" },
		{ "= flows\n", "1: expected 'name = value' (a long option's name)" },
		{ "# c\n\ntopic = a\ntopic = b\n", "4: 'topic' is given twice (first on line 3)" },
		{ "topik = flows\n",
		  "1: 'topik' is not an option name (the names are the long options of --help)" },
		{ "AGENT_ID = node\n",
		  "1: 'AGENT_ID' is not an option name; write it as --help does: agent-id" },
		{ "n = 3\n",
		  "1: 'n' is not an option name (the names are the long options of --help)" },
		{ "config = other.conf\n", "1: 'config': a config file cannot name another one" },
		{ "sample = 2\nlegacy-attach = maybe\n",
		  "2: --legacy-attach is a flag: expected 1 or 0, true or false, yes or no, not "
		  "'maybe'" },
		{ "topic =\n", "1: --topic needs a value (unset it to leave the default)" },
		{ "interfaces = a\ninterfaces = b\n",
		  "2: 'interfaces' is given twice (first on line 1)" },
		{ "interfaces =\n", "1: no arguments in it (unset it instead)" },
	};
	char *argv[] = { "t", "--config", config_path, "eth0", NULL };
	char *envp[] = { NULL };
	char expected[512], *long_line;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_config(cases[i].text);
		assert_int_equal(build(argv, envp), -EINVAL);
		snprintf(expected, sizeof(expected), "%s:%s", config_path, cases[i].error);
		assert_string_equal(err, expected);
		assert_null(args.argv);
	}
	long_line = malloc(5000);
	assert_non_null(long_line);
	memcpy(long_line, "topic = a\ntopic", 15);
	memset(long_line + 15, 'x', 5000 - 16);
	long_line[4999] = '\0';
	write_config(long_line);
	free(long_line);
	assert_int_equal(build(argv, envp), -EINVAL);
	snprintf(expected, sizeof(expected), "%s:2: line longer than 4094 bytes", config_path);
	assert_string_equal(err, expected);
}

static void test_positional_arguments(void **state)
{
	char *none[] = { "t", "-v", NULL };
	char *given[] = { "t", "eth9", NULL };
	char *dashes[] = { "t", "--", NULL };
	char *with_file[] = { "t", "--config", config_path, NULL };
	char *envp[] = { "FLOWAGENT_INTERFACES=eth0  eth1\n", NULL };
	char *no_env[] = { NULL };
	char dashes_file[128], veth0[128], veth1[128];
	const char *from_env[] = { "t",
				   "-v",
				   "--@FLOWAGENT_INTERFACES",
				   "eth0@FLOWAGENT_INTERFACES",
				   "eth1@FLOWAGENT_INTERFACES",
				   NULL };
	const char *from_command_line[] = { "t", "eth9", NULL };
	const char *after_dashes[] = { "t", "--", "eth0@FLOWAGENT_INTERFACES",
				       "eth1@FLOWAGENT_INTERFACES", NULL };
	const char *env_over_file[] = { "t",
					"--config",
					config_path,
					"--@FLOWAGENT_INTERFACES",
					"eth0@FLOWAGENT_INTERFACES",
					"eth1@FLOWAGENT_INTERFACES",
					NULL };
	const char *from_file[] = { "t", "--config", config_path, dashes_file, veth0, veth1, NULL };

	(void)state;
	assert_int_equal(build(none, envp), 0);
	assert_args(from_env);
	assert_int_equal(build(given, envp), 0);
	assert_args(from_command_line);
	assert_int_equal(build(dashes, envp), 0);
	assert_args(after_dashes);
	write_config("interfaces = veth0 veth1\n");
	assert_int_equal(build(with_file, envp), 0);
	assert_args(env_over_file);
	snprintf(dashes_file, sizeof(dashes_file), "--@%s:1", config_path);
	snprintf(veth0, sizeof(veth0), "veth0@%s:1", config_path);
	snprintf(veth1, sizeof(veth1), "veth1@%s:1", config_path);
	assert_int_equal(build(with_file, no_env), 0);
	assert_args(from_file);
}

static void test_bad_command_line_left_to_argp(void **state)
{
	char *bogus[] = { "t", "--bogus", NULL };
	char *help[] = { "t", "--help", NULL };
	char *envp[] = { "FLOWAGENT_TOPIK=1", "FLOWAGENT_TOPIC=a", NULL };
	const char *expected_bogus[] = { "t", "--bogus", NULL };
	const char *expected_help[] = { "t", "--help", NULL };

	(void)state;
	assert_int_equal(build(bogus, envp), 0);
	assert_args(expected_bogus);
	assert_int_equal(build(help, envp), 0);
	assert_args(expected_help);
}

/*
 * Runs options_env_parse in a child with the given environment (NAME=VALUE strings, NULL
 * ending), returns its exit status; its stdout and stderr in out.
 */
static int run_parse(char **argv, char **envp, char *out, size_t out_len)
{
	int fds[2], status, argc = 0;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	while (argv[argc])
		argc++;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int i;

		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		clearenv();
		for (i = 0; envp[i]; i++)
			putenv(envp[i]);
		argp_err_exit_status = 2;
		if (options_env_parse(&argp, &spec, argc, argv, 0, NULL))
			_exit(3);
		printf("topic=%s sample=%d legacy=%d verbose=%d agent=%s", seen.topic, seen.sample,
		       seen.legacy, seen.verbose, seen.agent_id);
		for (i = 0; i < seen.properties; i++)
			printf(" X=%s", seen.property[i]);
		for (i = 0; i < seen.args; i++)
			printf(" arg=%s", seen.arg[i]);
		printf("\n");
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	while (used + 1 < out_len && (n = read(fds[0], out + used, out_len - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_parse_reaches_the_parser(void **state)
{
	char *argv[] = { "t", "--config", config_path, "-X", "e=5", NULL };
	char *envp[] = { "FLOWAGENT_TOPIC=e", "FLOWAGENT_INTERFACES=eth0 eth1",
			 "FLOWAGENT_VERBOSE=yes", "FLOWAGENT_LEGACY_ATTACH=no", NULL };
	char out[4096];

	(void)state;
	write_config("topic = f\nsample = 4\nlegacy-attach = yes\nkafka-property = a=1\n"
		     "agent-id = node-1\n");
	assert_int_equal(run_parse(argv, envp, out, sizeof(out)), 0);
	assert_string_equal(out, "topic=e sample=4 legacy=0 verbose=1 agent=node-1 X=a=1 X=e=5 "
				 "arg=eth0 arg=eth1\n");
}

static void test_parse_errors_name_their_origin(void **state)
{
	char *argv[] = { "t", "--config", config_path, "eth0", NULL };
	char *bad_env[] = { "FLOWAGENT_SAMPLE=abc", NULL };
	char *bad_id[] = { "FLOWAGENT_AGENT_ID=node 1", NULL };
	char *secret[] = { "FLOWAGENT_KAFKA_PROPERTY=sasl.password=hunter2", NULL };
	char *unknown[] = { "FLOWAGENT_SAMPEL=2", NULL };
	char *none[] = { NULL };
	char *command_line[] = { "t", "-s", "0", "eth0", NULL };
	char out[4096], expected[1024];

	(void)state;
	write_config("topic = f\n");
	assert_int_equal(run_parse(argv, bad_env, out, sizeof(out)), 2);
	assert_string_equal(out, "t: FLOWAGENT_SAMPLE: --sample: 'abc' is not a "
				 "positive integer\nTry `t --help' or "
				 "`t --usage' for more information.\n");
	assert_int_equal(run_parse(argv, bad_id, out, sizeof(out)), 2);
	assert_string_equal(out, "t: FLOWAGENT_AGENT_ID: --agent-id 'node 1': no "
				 "spaces\nTry `t --help' or `t "
				 "--usage' for more information.\n");
	assert_int_equal(run_parse(argv, secret, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "t: FLOWAGENT_KAFKA_PROPERTY: -X: no secrets"));
	assert_null(strstr(out, "hunter2"));
	assert_int_equal(run_parse(argv, unknown, out, sizeof(out)), 3);
	assert_string_equal(out, "t: FLOWAGENT_SAMPEL: names no option (every "
				 "FLOWAGENT_* variable is one, named after the option as --help "
				 "shows; FLOWAGENT_CONFIG is the config file)\n");
	/* a file's line */
	write_config("topic = f\n\nsample = -1\n");
	assert_int_equal(run_parse(argv, none, out, sizeof(out)), 2);
	snprintf(expected, sizeof(expected),
		 "t: %s:3: --sample: '-1' is not a positive integer\nTry "
		 "`t --help' or `t --usage' for more information.\n",
		 config_path);
	assert_string_equal(out, expected);
	/* the command line's own errors as argp always said them */
	assert_int_equal(run_parse(command_line, none, out, sizeof(out)), 2);
	assert_string_equal(out, "t: --sample: '0' is not a positive integer\nTry "
				 "`t --help' or `t --usage' for more "
				 "information.\n");
}

static void test_help_names_every_variable(void **state)
{
	char *argv[] = { "t", "--help", NULL };
	char *envp[] = { "FLOWAGENT_SAMPLE=abc", NULL };
	char out[8192];

	(void)state;
	/* --help answers even when the environment holds a bad value */
	assert_int_equal(run_parse(argv, envp, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "Kafka topic (env FLOWAGENT_TOPIC)"));
	assert_non_null(strstr(out, "1 in N (env FLOWAGENT_SAMPLE)"));
	assert_non_null(strstr(out, "Legacy attach (env FLOWAGENT_LEGACY_ATTACH)"));
	assert_non_null(strstr(out, "FLOWAGENT_KAFKA_PROPERTY)"));
	assert_non_null(strstr(out, "More messages (env FLOWAGENT_VERBOSE)"));
	assert_non_null(strstr(out, "(env FLOWAGENT_CONFIG)"));
	assert_non_null(strstr(out, "      --config=FILE"));
	assert_non_null(strstr(out, "EXAMPLES:\n  t eth0\n"));
	assert_non_null(strstr(out, "\nCONFIGURATION: every long option is also an environment"));
	assert_non_null(strstr(out, "FLOWAGENT_INTERFACES"));
	assert_null(strstr(out, "A short option only (env"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_name),
		cmocka_unit_test_setup_teardown(test_command_line_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_before_command_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_line_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_wins_over_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_from_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeatable_values_add_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_variables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_links_are_not_options, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_env_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_positional_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_command_line_left_to_argp, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_reaches_the_parser, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_errors_name_their_origin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_help_names_every_variable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
