/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Options for fleets: every long option of a program's argp table also from an environment
 * variable (PREFIX + the name in capitals, '-' as '_': FLOWAGENT_AGENT_ID) or from a config
 * file of "name = value" lines (--config FILE, or PREFIX_CONFIG). They become ordinary
 * "--name=value" arguments placed before the command line's, so the program's own parser checks
 * every value whatever its origin, and an error names where the value came from.
 *
 * Precedence: the command line, then the environment, then the config file. A repeatable
 * option (-X) adds up instead: the file's values, then the environment's, then the command
 * line's. docs/configuration.md is the user's description.
 */
#ifndef FLOW_LIB_OPTIONS_ENV_H
#define FLOW_LIB_OPTIONS_ENV_H

#include <argp.h>
#include <stddef.h>

struct options_env {
	/* "FLOWAGENT_": the options' variables are this and the name, e.g. FLOWAGENT_KAFKA */
	const char *prefix;
	/*
	 * The positional arguments' name ("interfaces": FLOWAGENT_INTERFACES="eth0 eth1" and an
	 * "interfaces = eth0 eth1" line, split at white space), or NULL when they are only given
	 * on the command line. Used only when the command line gives none.
	 */
	const char *positional;
	/* Keys of the options that may be given more than once, 0-terminated (NULL: none). */
	const int *repeatable;
};

/*
 * The argument vector to parse: argv[0], what the config file and the environment give, then
 * the command line's arguments (and the positional arguments from the environment or file).
 * source[i] names where argv[i] came from ("FLOWAGENT_TOPIC", "flowagent.conf:3") or is NULL
 * for the command line's own.
 */
struct options_env_args {
	int argc;
	char **argv;
	const char **source;
};

/*
 * Builds args from argc/argv, the environment envp (NULL-terminated "NAME=VALUE" strings) and
 * the config file it names. When the command line itself does not parse (a bad option, or
 * --help, --usage, --version) args is the command line alone, for argp to report or answer.
 * Returns 0, -EINVAL with err saying what and where (a variable naming no option, a bad flag
 * value, a config file's line), or -ENOMEM. Never repeats a value that may be a secret.
 */
int options_env_build(const struct argp *argp, const struct options_env *spec, int argc,
		      char **argv, char *const *envp, struct options_env_args *args, char *err,
		      size_t err_len);
void options_env_args_free(struct options_env_args *args);

/*
 * argp_parse(argp, ...) over options_env_build's arguments from the process environment.
 * Adds --config FILE to the options, an "(env NAME)" to each option's help and a paragraph on
 * configuration to the end of --help; an error of argp's or of the program's parser about a
 * value from the environment or a file starts with that origin ("flowagent: FLOWAGENT_SAMPLE:
 * --sample: ..."). The arguments live until exit: the program may keep pointers into them.
 * Returns argp_parse's result, or EINVAL after printing what was wrong with the environment or
 * config file (the program then exits 2). Not reentrant: once, at start-up.
 */
int options_env_parse(const struct argp *argp, const struct options_env *spec, int argc,
		      char **argv, unsigned int flags, void *input);

/* The variable for a long option name: prefix + NAME, '-' as '_'. */
void options_env_name(const char *prefix, const char *name, char *out, size_t out_len);

#endif
