// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Options from the environment and a config file, turned into command-line arguments placed
 * before the real ones; see options_env.h. The command line is scanned once with the same
 * option table (argp itself, so abbreviations and "--" mean what they will mean) to learn
 * which options and how many positional arguments it gives, and which --config it names.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "options_env.h"

#define KEY_CONFIG     0x10c0f1	 /* --config: no program's key; argp's keys are below 1 << 24 */
#define KEY_SPECIAL    0x1000000 /* argp's ARGP_KEY_* start here */
#define POSITIONAL     (-1)	 /* an item that is a positional argument, not an option */
#define LINE_MAX_BYTES 4096
#define MAX_FLAG_COUNT 9 /* a repeatable flag (-v) given as a count */

extern char **environ;

struct option_info {
	const char *name;
	int key;
	int has_arg; /* 0 flag, 1 argument, 2 optional argument */
	int repeatable;
	char env[128];
};

struct catalog {
	struct option_info *opts;
	int count;
	const char *positional; /* the positional arguments' name, or NULL */
	char positional_env[128];
	char config_env[128];
};

/* One argument to add, and where it came from. */
struct item {
	int opt; /* index in the catalog, or POSITIONAL */
	char *arg;
	char *source;
};

struct items {
	struct item *v;
	int count, cap;
};

/* What the command line alone gives. */
struct scan {
	const struct catalog *cat;
	char *seen; /* per option: given on the command line */
	int positionals;
	const char *config;
};

void options_env_name(const char *prefix, const char *name, char *out, size_t out_len)
{
	size_t used = (size_t)snprintf(out, out_len, "%s", prefix), i;

	for (i = 0; name[i] && used + 1 < out_len; i++)
		out[used++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	if (used < out_len)
		out[used] = '\0';
}

static int is_repeatable(const struct options_env *spec, int key)
{
	const int *k;

	for (k = spec->repeatable; k && *k; k++)
		if (*k == key)
			return 1;
	return 0;
}

/* The long options of argp's own table (not its children's), aliases left out. */
static int catalog_build(const struct argp *argp, const struct options_env *spec,
			 struct catalog *cat)
{
	const struct argp_option *o;
	int n = 0;

	memset(cat, 0, sizeof(*cat));
	for (o = argp->options; o && (o->name || o->key || o->doc); o++)
		n++;
	cat->opts = calloc((size_t)n + 1, sizeof(*cat->opts));
	if (!cat->opts)
		return -ENOMEM;
	for (o = argp->options; o && (o->name || o->key || o->doc); o++) {
		struct option_info *info = &cat->opts[cat->count];

		if (!o->name || (o->flags & (OPTION_ALIAS | OPTION_DOC)))
			continue;
		info->name = o->name;
		info->key = o->key;
		info->has_arg = !o->arg ? 0 : (o->flags & OPTION_ARG_OPTIONAL) ? 2 : 1;
		info->repeatable = is_repeatable(spec, o->key);
		options_env_name(spec->prefix, o->name, info->env, sizeof(info->env));
		cat->count++;
	}
	cat->positional = spec->positional;
	if (spec->positional)
		options_env_name(spec->prefix, spec->positional, cat->positional_env,
				 sizeof(cat->positional_env));
	options_env_name(spec->prefix, "config", cat->config_env, sizeof(cat->config_env));
	return 0;
}

static int catalog_find_name(const struct catalog *cat, const char *name)
{
	int i;

	for (i = 0; i < cat->count; i++)
		if (!strcmp(cat->opts[i].name, name))
			return i;
	return -1;
}

static int catalog_find_key(const struct catalog *cat, int key)
{
	int i;

	for (i = 0; i < cat->count; i++)
		if (cat->opts[i].key == key)
			return i;
	return -1;
}

static int catalog_find_env(const struct catalog *cat, const char *name)
{
	int i;

	for (i = 0; i < cat->count; i++)
		if (!strcmp(cat->opts[i].env, name))
			return i;
	return -1;
}

/* Adds the argument "--NAME=VALUE", "--NAME" (value NULL), or VALUE itself (name NULL). */
static int items_add(struct items *items, int opt, const char *name, const char *value,
		     const char *source)
{
	struct item *item;
	int n = 0;

	if (items->count == items->cap) {
		int cap = items->cap ? 2 * items->cap : 16;
		struct item *grown = realloc(items->v, (size_t)cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		items->v = grown;
		items->cap = cap;
	}
	item = &items->v[items->count];
	item->opt = opt;
	item->arg = NULL;
	if (!name)
		item->arg = strdup(value);
	else if (value)
		n = asprintf(&item->arg, "--%s=%s", name, value);
	else
		n = asprintf(&item->arg, "--%s", name);
	if (n < 0)
		item->arg = NULL;
	item->source = strdup(source);
	if (!item->source || !item->arg) {
		free(item->source);
		free(item->arg);
		return -ENOMEM;
	}
	items->count++;
	return 0;
}

static void items_free(struct items *items)
{
	int i;

	for (i = 0; i < items->count; i++) {
		free(items->v[i].arg);
		free(items->v[i].source);
	}
	free(items->v);
	memset(items, 0, sizeof(*items));
}

/* 1 for 1/true/yes, 0 for 0/false/no, -1 otherwise; a repeatable flag also takes a count. */
static int flag_count(const char *value, int repeatable)
{
	static const char *const yes[] = { "1", "true", "yes" }, *const no[] = { "0", "false",
										 "no" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!strcasecmp(value, yes[i]))
			return 1;
		if (!strcasecmp(value, no[i]))
			return 0;
	}
	if (repeatable && value[0] >= '0' && value[0] <= '0' + MAX_FLAG_COUNT && !value[1])
		return value[0] - '0';
	return -1;
}

/*
 * The items for one value of an option: "--name=value", "--name" once per flag count (none
 * for false). where names the value's origin in errors.
 */
static int option_items(const struct catalog *cat, int opt, const char *value, const char *where,
			struct items *items, char *err, size_t err_len)
{
	const struct option_info *info = &cat->opts[opt];
	int n, ret = 0;

	if (info->has_arg == 0) {
		n = flag_count(value, info->repeatable);
		if (n < 0) {
			snprintf(err, err_len,
				 "%s: --%s is a flag: expected 1 or 0, true or false, yes or no%s, "
				 "not '%s'",
				 where, info->name, info->repeatable ? ", or a count up to 9" : "",
				 value);
			return -EINVAL;
		}
		while (!ret && n--)
			ret = items_add(items, opt, info->name, NULL, where);
		return ret;
	}
	if (!*value && info->has_arg == 1) {
		snprintf(err, err_len, "%s: --%s needs a value (unset it to leave the default)",
			 where, info->name);
		return -EINVAL;
	}
	return items_add(items, opt, info->name, *value ? value : NULL, where);
}

/* Positional arguments: the words of value, split at white space. */
static int positional_items(const char *value, const char *where, struct items *items, char *err,
			    size_t err_len)
{
	const char *p = value;
	int ret = 0, words = 0;

	while (!ret && *p) {
		size_t len;
		char *word;

		p += strspn(p, " \t\r\n");
		len = strcspn(p, " \t\r\n");
		if (!len)
			break;
		word = strndup(p, len);
		if (!word)
			return -ENOMEM;
		ret = items_add(items, POSITIONAL, NULL, word, where);
		free(word);
		p += len;
		words++;
	}
	if (!ret && !words) {
		snprintf(err, err_len, "%s: no arguments in it (unset it instead)", where);
		return -EINVAL;
	}
	return ret;
}

static char *trim(char *text)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return text;
}

/* A key written as a variable or with '_' ("AGENT_ID") that means an option: its real name. */
static const char *near_name(const struct catalog *cat, const char *key)
{
	char wanted[128];
	size_t i;
	int opt;

	for (i = 0; key[i] && i + 1 < sizeof(wanted); i++)
		wanted[i] = key[i] == '_' ? '-' : (char)tolower((unsigned char)key[i]);
	wanted[i] = '\0';
	opt = catalog_find_name(cat, wanted);
	return opt >= 0 ? cat->opts[opt].name : NULL;
}

/*
 * The config file's lines as items. A line is "name = value": a long option's name, or the
 * positional arguments' name; the value is the rest of the line without the white space
 * around it ('#' starts a comment only at the start of a line: values may hold one).
 */
static int config_read(const struct catalog *cat, const char *path, const char *named_by,
		       struct items *items, char *err, size_t err_len)
{
	char line[LINE_MAX_BYTES], where[LINE_MAX_BYTES + 32];
	int *first_line = calloc((size_t)cat->count + 1, sizeof(int));
	int line_number = 0, positional_line = 0, ret = 0;
	FILE *file;

	if (!first_line)
		return -ENOMEM;
	file = fopen(path, "re");
	if (!file) {
		snprintf(err, err_len, "config file %s (%s): %s", path, named_by, strerror(errno));
		free(first_line);
		return -EINVAL;
	}
	while (!ret && fgets(line, sizeof(line), file)) {
		char *text, *eq, *key, *value;
		const char *near;
		int opt, *first;

		line_number++;
		snprintf(where, sizeof(where), "%s:%d", path, line_number);
		if (!strchr(line, '\n') && !feof(file)) {
			snprintf(err, err_len, "%s: line longer than %d bytes", where,
				 LINE_MAX_BYTES - 2);
			ret = -EINVAL;
			break;
		}
		text = trim(line);
		if (!*text || *text == '#')
			continue;
		eq = strchr(text, '=');
		if (!eq || eq == text) {
			snprintf(err, err_len, "%s: expected 'name = value' (a long option's name)",
				 where);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(text);
		value = trim(eq + 1);
		opt = catalog_find_name(cat, key);
		if (!strcmp(key, "config")) {
			snprintf(err, err_len,
				 "%s: 'config': a config file cannot name another one", where);
			ret = -EINVAL;
			break;
		}
		if (opt < 0 && !(cat->positional && !strcmp(key, cat->positional))) {
			near = near_name(cat, key);
			if (near)
				snprintf(err, err_len,
					 "%s: '%s' is not an option name; write it as --help does: "
					 "%s",
					 where, key, near);
			else
				snprintf(err, err_len,
					 "%s: '%s' is not an option name (the names are the long "
					 "options of --help)",
					 where, key);
			ret = -EINVAL;
			break;
		}
		first = opt >= 0 ? &first_line[opt] : &positional_line;
		if (*first && (opt < 0 || !cat->opts[opt].repeatable)) {
			snprintf(err, err_len, "%s: '%s' is given twice (first on line %d)", where,
				 key, *first);
			ret = -EINVAL;
			break;
		}
		*first = line_number;
		if (opt >= 0)
			ret = option_items(cat, opt, value, where, items, err, err_len);
		else
			ret = positional_items(value, where, items, err, err_len);
	}
	if (!ret && ferror(file)) {
		snprintf(err, err_len, "config file %s: %s", path, strerror(errno));
		ret = -EINVAL;
	}
	fclose(file);
	free(first_line);
	return ret;
}

static int all_digits(const char *text)
{
	return *text && !text[strspn(text, "0123456789")];
}

static int is_protocol(const char *text, size_t len)
{
	return (len == 3 && (!strncmp(text, "TCP", 3) || !strncmp(text, "UDP", 3))) ||
	       (len == 4 && !strncmp(text, "SCTP", 4));
}

static int is_protocol_url(const char *value)
{
	return !strncmp(value, "tcp://", 6) || !strncmp(value, "udp://", 6) ||
	       !strncmp(value, "sctp://", 7);
}

/*
 * Whether NAME=VALUE is one of the variables Kubernetes gives every pod for each Service of
 * its namespace (enableServiceLinks): a Service "flowcollector" gives FLOWCOLLECTOR_SERVICE_HOST,
 * FLOWCOLLECTOR_PORT=tcp://..., FLOWCOLLECTOR_PORT_8123_TCP_ADDR and so on. Their names and
 * values are both checked, so that a mistyped option is still an error.
 */
static int is_service_link(const char *name, const char *value)
{
	size_t len = strlen(name);
	const char *p;

	if (len >= 13 && !strcmp(name + len - 13, "_SERVICE_HOST"))
		return *value && !value[strcspn(value, " \t\n")];
	if ((len >= 13 && !strcmp(name + len - 13, "_SERVICE_PORT")) ||
	    strstr(name, "_SERVICE_PORT_"))
		return all_digits(value);
	if (len >= 5 && !strcmp(name + len - 5, "_PORT") && is_protocol_url(value))
		return 1;
	/* ..._PORT_<number>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR] */
	for (p = name; (p = strstr(p, "_PORT_")); p++) {
		const char *number = p + 6, *proto, *rest;
		size_t digits = strspn(number, "0123456789");

		if (!digits || number[digits] != '_')
			continue;
		proto = number + digits + 1;
		rest = proto + strcspn(proto, "_");
		if (!is_protocol(proto, (size_t)(rest - proto)))
			continue;
		if (!*rest)
			return is_protocol_url(value);
		if (!strcmp(rest, "_PROTO"))
			return !strcmp(value, "tcp") || !strcmp(value, "udp") ||
			       !strcmp(value, "sctp");
		if (!strcmp(rest, "_PORT"))
			return all_digits(value);
		if (!strcmp(rest, "_ADDR"))
			return *value && !value[strcspn(value, " \t\n")];
	}
	return 0;
}

/*
 * The environment's PREFIX_* variables as items; in_env[opt] marks the options it sets (a
 * flag set to false included, so that it hides the file's value). Every variable that names
 * no option is reported, by name only: its value may be a secret meant for something else.
 */
static int env_read(const struct catalog *cat, const char *prefix, char *const *envp, char *in_env,
		    struct items *items, char *err, size_t err_len)
{
	size_t prefix_len = strlen(prefix), used = 0;
	int i, ret = 0, unknown = 0;
	char name[256];

	for (i = 0; envp && envp[i] && !ret; i++) {
		const char *entry = envp[i], *eq = strchr(entry, '='), *value;
		int opt;

		if (!eq || strncmp(entry, prefix, prefix_len))
			continue;
		/* no option's name is this long: reported, cut short */
		snprintf(name, sizeof(name), "%.*s", (int)(eq - entry), entry);
		value = eq + 1;
		/* PREFIX_TEST_*: the test suite's hooks and settings, never options */
		if (!strcmp(name, cat->config_env) || !strncmp(name + prefix_len, "TEST_", 5))
			continue;
		opt = catalog_find_env(cat, name);
		if (opt < 0 && is_service_link(name, value))
			continue;
		if (cat->positional && !strcmp(name, cat->positional_env)) {
			in_env[cat->count] = 1;
			ret = positional_items(value, name, items, err, err_len);
			continue;
		}
		if (opt < 0) {
			if (used < err_len)
				used += (size_t)snprintf(err + used, err_len - used, "%s%s",
							 unknown ? ", " : "", name);
			unknown++;
			continue;
		}
		in_env[opt] = 1;
		if (cat->opts[opt].has_arg && !cat->opts[opt].repeatable && strchr(value, '\n')) {
			snprintf(err, err_len,
				 "%s: a value of several lines (only repeatable options take one "
				 "value per line)",
				 name);
			return -EINVAL;
		}
		if (cat->opts[opt].has_arg && cat->opts[opt].repeatable) {
			/* one value per line */
			char *copy = strdup(value), *line, *save = NULL;
			int values = 0;

			if (!copy)
				return -ENOMEM;
			for (line = strtok_r(copy, "\n", &save); line && !ret;
			     line = strtok_r(NULL, "\n", &save)) {
				char *text = trim(line);

				if (!*text)
					continue;
				ret = option_items(cat, opt, text, name, items, err, err_len);
				values++;
			}
			free(copy);
			if (!ret && !values)
				ret = option_items(cat, opt, "", name, items, err, err_len);
			continue;
		}
		ret = option_items(cat, opt, value, name, items, err, err_len);
	}
	if (!ret && unknown) {
		char names[1024];

		snprintf(names, sizeof(names), "%s", err);
		snprintf(err, err_len,
			 "%s: %s no option (every %s* variable is one, named after the option as "
			 "--help shows; %s is the config file)",
			 names, unknown > 1 ? "name" : "names", prefix, cat->config_env);
		return -EINVAL;
	}
	return ret;
}

static error_t scan_parse(int key, char *arg, struct argp_state *state)
{
	struct scan *scan = state->input;
	int opt;

	(void)arg;
	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = scan;
		return 0;
	case ARGP_KEY_ARG:
		scan->positionals++;
		return 0;
	default:
		if (key >= KEY_SPECIAL)
			return ARGP_ERR_UNKNOWN;
		opt = catalog_find_key(scan->cat, key);
		if (opt >= 0)
			scan->seen[opt] = 1;
		return 0;
	}
}

static error_t scan_config_parse(int key, char *arg, struct argp_state *state)
{
	struct scan *scan = state->input;

	if (key != KEY_CONFIG)
		return ARGP_ERR_UNKNOWN;
	scan->config = arg;
	return 0;
}

static const struct argp_option config_options[] = {
	{ "config", KEY_CONFIG, "FILE", 0,
	  "Options from FILE: 'name = value' lines, the long option names, '#' comments", 0 },
	{},
};

/*
 * The command line alone, parsed silently: 0, or an error when it asks for help or does not
 * parse (the real parse then says so).
 */
static int scan_command_line(const struct argp *argp, const struct catalog *cat, int argc,
			     char **argv, struct scan *scan)
{
	static const struct argp config_argp = { .options = config_options,
						 .parser = scan_config_parse };
	const struct argp_child children[] = { { &config_argp, 0, NULL, 0 }, {} };
	const struct argp scan_argp = { .options = argp->options,
					.parser = scan_parse,
					.children = children };
	char **copy = malloc(((size_t)argc + 1) * sizeof(*copy));
	int ret;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, argv, (size_t)argc * sizeof(*copy));
	copy[argc] = NULL;
	scan->cat = cat;
	ret = argp_parse(&scan_argp, argc, copy, ARGP_SILENT, NULL, scan);
	free(copy);
	return ret ? -EINVAL : 0;
}

static int args_push(struct options_env_args *args, const char *arg, const char *source)
{
	args->argv[args->argc] = strdup(arg);
	args->source[args->argc] = source ? strdup(source) : NULL;
	if (!args->argv[args->argc] || (source && !args->source[args->argc])) {
		free(args->argv[args->argc]);
		free((char *)args->source[args->argc]);
		return -ENOMEM;
	}
	args->argc++;
	args->argv[args->argc] = NULL;
	return 0;
}

/* Whether an item of the file or the environment is kept: the command line's hide them. */
static int item_kept(const struct catalog *cat, const struct item *item, const char *seen,
		     const char *in_env, int from_file)
{
	if (item->opt == POSITIONAL)
		return 0; /* added at the end */
	if (cat->opts[item->opt].repeatable)
		return 1;
	return !seen[item->opt] && !(from_file && in_env[item->opt]);
}

int options_env_build(const struct argp *argp, const struct options_env *spec, int argc,
		      char **argv, char *const *envp, struct options_env_args *args, char *err,
		      size_t err_len)
{
	struct items file_items = {}, env_items = {};
	struct scan scan = {};
	struct catalog cat;
	const struct items *positional_from = NULL;
	char *in_env = NULL;
	const char *config = NULL, *config_named_by = NULL;
	int ret, i, total, double_dash = 0;

	memset(args, 0, sizeof(*args));
	if (err_len)
		err[0] = '\0';
	ret = catalog_build(argp, spec, &cat);
	if (ret)
		return ret;
	scan.seen = calloc((size_t)cat.count + 1, 1);
	in_env = calloc((size_t)cat.count + 1, 1);
	if (!scan.seen || !in_env) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = scan_command_line(argp, &cat, argc, argv, &scan);
	if (ret == -ENOMEM)
		goto cleanup;
	if (!ret) {
		config = scan.config;
		config_named_by = "--config";
		for (i = 0; !config && envp && envp[i]; i++)
			if (!strncmp(envp[i], cat.config_env, strlen(cat.config_env)) &&
			    envp[i][strlen(cat.config_env)] == '=') {
				config = envp[i] + strlen(cat.config_env) + 1;
				config_named_by = cat.config_env;
			}
		if (config && !*config) {
			snprintf(err, err_len, "%s is empty: name a config file, or unset it",
				 config_named_by);
			ret = -EINVAL;
			goto cleanup;
		}
		ret = env_read(&cat, spec->prefix, envp, in_env, &env_items, err, err_len);
		if (!ret && config)
			ret = config_read(&cat, config, config_named_by, &file_items, err, err_len);
		if (ret)
			goto cleanup;
	}
	/* (when the scan failed, the command line alone, for argp to answer) */

	total = argc + file_items.count + env_items.count + 2;
	args->argv = calloc((size_t)total + 1, sizeof(*args->argv));
	args->source = calloc((size_t)total + 1, sizeof(*args->source));
	if (!args->argv || !args->source) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = args_push(args, argc ? argv[0] : "", NULL);
	for (i = 0; !ret && i < file_items.count; i++)
		if (item_kept(&cat, &file_items.v[i], scan.seen, in_env, 1))
			ret = args_push(args, file_items.v[i].arg, file_items.v[i].source);
	for (i = 0; !ret && i < env_items.count; i++)
		if (item_kept(&cat, &env_items.v[i], scan.seen, in_env, 0))
			ret = args_push(args, env_items.v[i].arg, env_items.v[i].source);
	for (i = 1; !ret && i < argc; i++) {
		double_dash |= !strcmp(argv[i], "--");
		ret = args_push(args, argv[i], NULL);
	}
	/* the positional arguments of the environment, else of the file, if the command line has none */
	if (!scan.positionals)
		positional_from = in_env[cat.count] ? &env_items : &file_items;
	for (i = 0; !ret && positional_from && i < positional_from->count; i++) {
		const struct item *item = &positional_from->v[i];

		if (item->opt != POSITIONAL)
			continue;
		if (!double_dash) {
			ret = args_push(args, "--", item->source);
			double_dash = 1;
		}
		if (!ret)
			ret = args_push(args, item->arg, item->source);
	}
cleanup:
	if (ret)
		options_env_args_free(args);
	items_free(&file_items);
	items_free(&env_items);
	free(scan.seen);
	free(in_env);
	free(cat.opts);
	return ret;
}

void options_env_args_free(struct options_env_args *args)
{
	int i;

	for (i = 0; args->argv && i < args->argc; i++) {
		free(args->argv[i]);
		free((char *)args->source[i]);
	}
	free(args->argv);
	free(args->source);
	memset(args, 0, sizeof(*args));
}

/*
 * The parse: the program's argp with its parser and help filter wrapped, and --config added.
 * One parse per process, so the state is static.
 */
static struct {
	const struct argp *argp;
	const struct options_env *spec;
	struct catalog cat;
	struct options_env_args args;
	char **elements; /* args.argv before argp permutes it, for the sources */
	struct argp wrapped;
	struct argp_child *children;
	FILE *tagged;
	const char *tag;
	char last;
} parse;

/* The error stream while the parser handles a value from elsewhere: the origin after "name: ". */
static ssize_t tagged_write(void *cookie, const char *buf, size_t size)
{
	size_t i;

	(void)cookie;
	for (i = 0; i < size; i++) {
		fputc(buf[i], stderr);
		if (parse.tag && parse.last == ':' && buf[i] == ' ') {
			fputs(parse.tag, stderr);
			fputs(": ", stderr);
			parse.tag = NULL;
		}
		parse.last = buf[i];
	}
	return (ssize_t)size;
}

static const char *source_of(const char *arg, const struct argp_state *state)
{
	const char *element = NULL;
	int i;

	if (!arg && state->next > 0 && state->next <= state->argc)
		element = state->argv[state->next - 1];
	for (i = 0; i < parse.args.argc; i++) {
		const char *e = parse.elements[i];

		if (arg ? arg >= e && arg <= e + strlen(e) : element == e)
			return parse.args.source[i];
	}
	return NULL;
}

static error_t wrapped_parse(int key, char *arg, struct argp_state *state)
{
	FILE *saved = state->err_stream;
	const char *source = NULL;
	error_t ret;

	if (key < KEY_SPECIAL)
		source = source_of(arg, state);
	if (source && parse.tagged) {
		parse.tag = source;
		parse.last = '\0';
		state->err_stream = parse.tagged;
	}
	ret = parse.argp->parser ? parse.argp->parser(key, arg, state) : ARGP_ERR_UNKNOWN;
	state->err_stream = saved;
	parse.tag = NULL;
	return ret;
}

static error_t config_parse(int key, char *arg, struct argp_state *state)
{
	(void)arg;
	(void)state;
	return key == KEY_CONFIG ? 0 : ARGP_ERR_UNKNOWN;
}

static char *with_env(const char *text, const char *env)
{
	char *out;

	if (asprintf(&out, "%s (env %s)", text ? text : "", env) < 0)
		return (char *)text;
	return out;
}

static char *config_help_filter(int key, const char *text, void *input)
{
	(void)input;
	return key == KEY_CONFIG ? with_env(text, parse.cat.config_env) : (char *)text;
}

static char *configuration_paragraph(const char *text)
{
	const char *prefix = parse.spec->prefix;
	char positional[512] = "", *out;

	if (parse.cat.positional)
		snprintf(positional, sizeof(positional),
			 "; %s (or a line '%s = ...') gives the %s when the command line gives "
			 "none",
			 parse.cat.positional_env, parse.cat.positional, parse.cat.positional);
	if (asprintf(&out,
		     "%s%sCONFIGURATION: every long option is also an environment variable, %s and "
		     "its name in capitals with '_' for '-' (after each option above), and a line "
		     "'name = value' of the --config FILE (or %s)%s. The command line wins over "
		     "the environment, which wins over the file; a repeatable option's values add "
		     "up. A %s* variable that names no option is an error (%sTEST_* belong to the "
		     "test suite). Secrets only in the files named for them. docs/configuration.md "
		     "has the details.\n",
		     text ? text : "", text ? "\n" : "", prefix, parse.cat.config_env, positional,
		     prefix, prefix) < 0)
		return (char *)text;
	return out;
}

static char *wrapped_help_filter(int key, const char *text, void *input)
{
	char *filtered = (char *)text, *out;
	int opt;

	if (parse.argp->help_filter)
		filtered = parse.argp->help_filter(key, text, input);
	if (key == ARGP_KEY_HELP_POST_DOC) {
		out = configuration_paragraph(filtered);
	} else if (key > 0 && key < KEY_SPECIAL && filtered &&
		   (opt = catalog_find_key(&parse.cat, key)) >= 0) {
		out = with_env(filtered, parse.cat.opts[opt].env);
	} else {
		return filtered;
	}
	if (filtered != text && filtered != out)
		free(filtered);
	return out;
}

int options_env_parse(const struct argp *argp, const struct options_env *spec, int argc,
		      char **argv, unsigned int flags, void *input)
{
	static const struct argp config_argp = { .options = config_options,
						 .parser = config_parse,
						 .help_filter = config_help_filter };
	static const cookie_io_functions_t tagged_io = { .write = tagged_write };
	int i, children = 0, ret;
	char err[2048];

	parse.argp = argp;
	parse.spec = spec;
	ret = catalog_build(argp, spec, &parse.cat);
	if (!ret)
		ret = options_env_build(argp, spec, argc, argv, environ, &parse.args, err,
					sizeof(err));
	if (ret) {
		/* the name argp's messages start with */
		const char *slash = argc ? strrchr(argv[0], '/') : NULL;

		fprintf(stderr, "%s: %s\n",
			slash ? slash + 1 :
			argc  ? argv[0] :
				program_invocation_short_name,
			ret == -ENOMEM ? "out of memory" : err);
		return -ret;
	}
	parse.elements = malloc(((size_t)parse.args.argc + 1) * sizeof(*parse.elements));
	for (i = 0; argp->children && argp->children[i].argp; i++)
		children++;
	parse.children = calloc((size_t)children + 2, sizeof(*parse.children));
	if (!parse.elements || !parse.children) {
		fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
		return ENOMEM;
	}
	memcpy(parse.elements, parse.args.argv,
	       ((size_t)parse.args.argc + 1) * sizeof(*parse.elements));
	if (children)
		memcpy(parse.children, argp->children, (size_t)children * sizeof(*parse.children));
	/* before argp's --help (group -1): the options of every group come first */
	parse.children[children] = (struct argp_child){ &config_argp, 0, "Configuration:", -2 };
	parse.tagged = fopencookie(NULL, "w", tagged_io);
	if (parse.tagged)
		setvbuf(parse.tagged, NULL, _IONBF, 0);
	parse.wrapped = *argp;
	parse.wrapped.parser = wrapped_parse;
	parse.wrapped.help_filter = wrapped_help_filter;
	parse.wrapped.children = parse.children;
	return argp_parse(&parse.wrapped, parse.args.argc, parse.args.argv, flags, NULL, input);
}
