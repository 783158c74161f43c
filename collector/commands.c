// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The collector's commands; see commands.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "collector.h"
#include "commands.h"
#include "geo.h"
#include "geo_store.h"
#include "http_endpoint.h"
#include "http_views.h"
#include "api.h"
#include "log.h"
#include "metrics_http.h"
#include "report.h"
#include "source_file.h"
#include "views.h"

/* Opens the store and, when asked, brings its schema up to date. */
/*
 * Columns this version writes and reads that older schemas lack. Migrations apply each file
 * once, so a store created by an older flowcollector keeps its old tables: say so plainly
 * rather than fail every insert.
 */
static const char *const required_columns[][2] = {
	{ "raw", "batch_run" },
	{ "batches", "batch_crc" },
	{ "proto_1m", "received" },
};

static int schema_check(struct store *store, char *err, size_t err_len)
{
	char sql[1024], *result = NULL, *missing;
	size_t i, len = 0, used;
	int ret;

	used = (size_t)snprintf(
		sql, sizeof(sql),
		"SELECT concat(table, '.', name) FROM system.columns WHERE database "
		"= 'flows' AND (table, name) IN (");
	for (i = 0; i < sizeof(required_columns) / sizeof(required_columns[0]); i++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s('%s', '%s')",
					 i ? ", " : "", required_columns[i][0],
					 required_columns[i][1]);
	snprintf(sql + used, sizeof(sql) - used, ")");
	ret = store_query(store, sql, "TSV", &result, &len, err, err_len);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(required_columns) / sizeof(required_columns[0]); i++) {
		char want[128];

		snprintf(want, sizeof(want), "%s.%s\n", required_columns[i][0],
			 required_columns[i][1]);
		missing = strstr(result, want) ? NULL : want;
		if (missing) {
			want[strlen(want) - 1] = '\0';
			snprintf(err, err_len,
				 "the store's schema is older than this flowcollector: flows.%s is "
				 "missing. Start a new store (or move the old one aside); "
				 "docs/schema.md, \"Upgrading\", says why",
				 want);
			free(result);
			return -EPROTO;
		}
	}
	free(result);
	return 0;
}

/* --cluster: the cluster whose query store is the command's store (one per process). */
static struct cluster *cluster_in_use;

/*
 * The cluster of --cluster: every node probed, the schema of sql/cluster applied on each that
 * answers when asked (and on the others by the probe thread when they come back).
 */
static int open_cluster(const struct command_options *options, struct store **store,
			int apply_schema, int probe_thread)
{
	static struct cluster_config config;
	struct cluster_options cluster = { .config = &config,
					   .migrate = options->migrate,
					   .apply_schema = apply_schema,
					   .probe_thread = probe_thread,
					   .config_path = options->cluster_file };
	char err[1024], sql_dir[4096];
	int ret;

	ret = cluster_config_load(options->cluster_file, &config, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		return ret;
	}
	snprintf(sql_dir, sizeof(sql_dir), "%s/cluster", options->migrate.sql_dir);
	cluster.migrate.sql_dir = sql_dir;
	ret = cluster_open(&cluster, &cluster_in_use, err, sizeof(err));
	if (ret) {
		pr_warn("cluster %s: %s\n", options->cluster_file, err);
		return ret;
	}
	*store = cluster_query_store(cluster_in_use);
	return 0;
}

static void close_store(struct store *store)
{
	if (cluster_in_use && store == cluster_query_store(cluster_in_use)) {
		cluster_close(cluster_in_use);
		cluster_in_use = NULL;
		return;
	}
	store_close(store);
}

static int open_store(const struct command_options *options, struct store **store, int apply_schema)
{
	char err[1024];
	int ret;

	if (options->cluster_file)
		return open_cluster(options, store, apply_schema, 0);
	ret = store_open(&options->store, store, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		return ret;
	}
	if (!apply_schema)
		return 0;
	ret = migrate_apply(*store, &options->migrate, err, sizeof(err));
	if (ret >= 0)
		ret = schema_check(*store, err, sizeof(err));
	if (ret < 0) {
		pr_warn("schema: %s\n", err);
		store_close(*store);
		*store = NULL;
		return ret;
	}
	return 0;
}

/* --- ingest ------------------------------------------------------------------------------- */

/* Opens --input for reading; returns the fd, or -1 with the reason printed. */
static int input_open(const struct command_options *options, const char *name)
{
	int from_stdin = !strcmp(options->input, "-"), fd;
	struct stat st;

	if (from_stdin && !options->input_stdin) {
		pr_warn("--input -: there is no standard input\n");
		return -1;
	}
	fd = from_stdin ? fileno(options->input_stdin) : open(options->input, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("--input %s: %s\n", name, strerror(errno));
		return -1;
	}
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) {
		pr_warn("--input %s: is a directory; give a file of wire-format batches or JSON "
			"lines (or - for standard input)\n",
			name);
		if (!from_stdin)
			close(fd);
		return -1;
	}
	return fd;
}

/* --input: returns the exit status; *end says where the reading stopped. */
static int ingest_input(struct collector *c, const struct command_options *options,
			struct file_source_end *end)
{
	int from_stdin = !strcmp(options->input, "-");
	const char *name = from_stdin ? "stdin" : options->input;
	int fd = input_open(options, name), rejected;

	memset(end, 0, sizeof(*end));
	if (fd < 0)
		return EXIT_INPUT_ERROR;
	rejected = file_source_run(c, fd, name, end);
	if (!from_stdin)
		close(fd);
	if (end->interrupted)
		pr_warn("stopped by %s before the end of --input %s: storing the whole batches "
			"read\n",
			log_signal_name(end->interrupted), name);
	if (rejected < 0) {
		pr_warn("--input %s: %s\n", name, strerror(-rejected));
		return EXIT_FAILURE_RUNTIME;
	}
	if (collector_flush(c))
		return EXIT_FAILURE_RUNTIME;
	if (end->interrupted)
		return EXIT_INTERRUPTED;
	return rejected ? EXIT_INPUT_ERROR : EXIT_OK;
}

/* After the summary: that an interrupted --input was not finished, and where it stopped. */
static void input_report_interrupted(struct collector *c, const char *name,
				     const struct file_source_end *end)
{
	struct ingest_stats s;

	ingest_get_stats(c->ingest, &s);
	fprintf(stderr,
		"flowcollector: --input %s NOT finished: stopped by %s at byte offset %" PRIu64,
		name, log_signal_name(end->interrupted), end->offset);
	if (end->lines)
		fprintf(stderr, " (after line %" PRIu64 ")", end->lines);
	fprintf(stderr, "; %" PRIu64 " rows stored, of whole batches", s.rows_inserted);
	if (end->held_lines)
		fprintf(stderr, "; the %" PRIu64 " lines of an unfinished batch were not stored",
			end->held_lines);
	fprintf(stderr, ". Run it again with the same input to finish: batches with an identity "
			"(wire format, JSON lines with batch_seq) stored before are skipped.\n");
}

/*
 * Ingest with its write-ahead directory: inside the embedded store, so the two share one disk
 * (and a source may commit once an insert is sealed), or as given.
 */
static int open_ingest(const struct command_options *options, struct collector *c, char *err,
		       size_t err_len)
{
	struct ingest_options ingest = options->ingest;
	char wal_dir[4096];

	if (c->cluster)
		ingest.router = cluster_router(c->cluster);
	if (!ingest.wal_dir && options->store.embedded_path) {
		snprintf(wal_dir, sizeof(wal_dir), "%s/flowcollector-wal",
			 options->store.embedded_path);
		ingest.wal_dir = wal_dir;
		ingest.wal_durable = 1;
	} else if (!ingest.wal_dir) {
		/* a server's collector may run where no disk outlives it: commit after inserts */
		ingest.wal_dir = "flowcollector-wal";
	} else {
		/* given: the operator puts it where it lasts as long as the store */
		ingest.wal_durable = 1;
	}
	return ingest_open(c->store, &ingest, &c->ingest, err, err_len);
}

/* The HTTP endpoint with its pages: the views' JSON API and the live report (http_views.h). */
static int endpoint_start(struct store *store, const struct command_options *options,
			  struct http_endpoint **endpoint, char *err, size_t err_len)
{
	static struct http_views views;
	struct http_endpoint_options http = options->http;

	views.sql_dir = options->migrate.sql_dir;
	views.openapi = api_openapi_yaml;
	http.pages = http_views_page;
	http.pages_ctx = &views;
	return http_endpoint_start(store, &http, endpoint, err, err_len);
}

int command_ingest(const struct command_options *options)
{
	struct collector c = { .started_ms = monotonic_ms() };
	struct metrics_server *metrics = NULL;
	struct http_endpoint *endpoint = NULL;
	struct file_source_end end = { 0 };
	char err[1024];
	int ret, status;

	if (!options->kafka.brokers && !options->input) {
		pr_warn("nothing to ingest: give --kafka BROKERS or --input FILE (see --help)\n");
		return EXIT_USAGE;
	}
	if (options->kafka.brokers && options->input) {
		pr_warn("--kafka and --input exclude each other\n");
		return EXIT_USAGE;
	}
	pthread_mutex_init(&c.lock, NULL);
	collector_init(&c);
	if (options->cluster_file ? open_cluster(options, &c.store, 1, 1) :
				    open_store(options, &c.store, 1))
		return EXIT_FAILURE_RUNTIME;
	c.cluster = cluster_in_use;
	ret = open_ingest(options, &c, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		close_store(c.store);
		return EXIT_FAILURE_RUNTIME;
	}
	collector_snapshot(&c);
	/* asked for by name: an endpoint that cannot start stops the run before it reads */
	if (options->http.address &&
	    endpoint_start(c.store, options, &endpoint, err, sizeof(err))) {
		pr_warn("%s\n", err);
		ingest_close(c.ingest);
		close_store(c.store);
		return EXIT_FAILURE_RUNTIME;
	}
	if (options->metrics_address &&
	    metrics_server_start(options->metrics_address, collector_metrics_render, &c, &metrics))
		pr_warn("cannot serve metrics on the address given\n");
	c.metrics_served = metrics != NULL;

	if (options->input) {
		/* a store that stays away ends the run (exit 1) instead of holding it forever */
		c.insert_retry_timeout_ms = options->kafka.insert_retry_timeout_s * 1000;
		/* a file has no commits: every interrupted insert is finished */
		ret = ingest_recover(c.ingest, NULL, NULL, err, sizeof(err));
		status = ret ? EXIT_FAILURE_RUNTIME : ingest_input(&c, options, &end);
		if (ret)
			pr_warn("%s\n", err);
	} else {
		ret = kafka_source_run(&c, &options->kafka);
		status = !ret ? EXIT_OK : ret == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
	}
	metrics_server_stop(metrics);
	http_endpoint_stop(endpoint);
	ingest_report_unshown(c.ingest);
	collector_print_summary(&c, (double)(monotonic_ms() - c.started_ms) / 1000.0);
	if (status == EXIT_INTERRUPTED)
		input_report_interrupted(&c, strcmp(options->input, "-") ? options->input : "stdin",
					 &end);
	ingest_close(c.ingest);
	close_store(c.store);
	pthread_mutex_destroy(&c.lock);
	return status;
}

/*
 * serve: the HTTP interface over a store nobody ingests into, until SIGINT, SIGTERM or
 * SIGHUP; the store stays locked meanwhile, as for any command.
 */
int command_serve(const struct command_options *options)
{
	struct http_endpoint *endpoint = NULL;
	struct store *store;
	char err[1024];

	if (options->arg_count != 1) {
		pr_warn("usage: flowcollector serve --http [ADDR:]PORT\n");
		return EXIT_USAGE;
	}
	if (!options->http.address) {
		pr_warn("serve: give the address with --http [ADDR:]PORT\n");
		return EXIT_USAGE;
	}
	if (open_store(options, &store, 1))
		return EXIT_FAILURE_RUNTIME;
	if (endpoint_start(store, options, &endpoint, err, sizeof(err))) {
		pr_warn("%s\n", err);
		close_store(store);
		return EXIT_FAILURE_RUNTIME;
	}
	while (!collector_stop_requested) {
		struct pollfd stop = { .fd = collector_stop_fd, .events = POLLIN };

		poll(&stop, 1, 1000);
	}
	fprintf(stderr, "flowcollector: stopping the HTTP interface (%s)\n",
		log_signal_name(collector_stop_requested));
	http_endpoint_stop(endpoint);
	close_store(store);
	return EXIT_OK;
}

/* --- migrate, geo --------------------------------------------------------------------------- */

int command_migrate(const struct command_options *options)
{
	struct store *store;

	if (open_store(options, &store, 1))
		return EXIT_FAILURE_RUNTIME;
	if (cluster_in_use) {
		struct cluster_replica_status st[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
		size_t n = cluster_status(cluster_in_use, st, sizeof(st) / sizeof(st[0])), i,
		       missing = 0;

		for (i = 0; i < n; i++)
			if (st[i].state != CLUSTER_REPLICA_UP &&
			    st[i].state != CLUSTER_REPLICA_READ_ONLY) {
				pr_warn("cluster: shard %u replica %u (%s): schema not applied: "
					"%s\n",
					st[i].shard, st[i].replica, st[i].url, st[i].reason);
				missing++;
			}
		close_store(store);
		if (missing) {
			pr_warn("cluster: the schema is on %zu of %zu nodes; run migrate again once "
				"the others answer (a collector also applies it when they come "
				"back)\n",
				n - missing, n);
			return EXIT_FAILURE_RUNTIME;
		}
		fprintf(stderr, "flowcollector: schema of all %zu nodes of %s is up to date\n", n,
			options->cluster_file);
		return EXIT_OK;
	}
	fprintf(stderr, "flowcollector: schema of %s is up to date\n", store_describe(store));
	close_store(store);
	return EXIT_OK;
}

/* A result is only delivered once it is written: /dev/full or a closed stdout is a failure. */
static int stdout_finish(const char *what)
{
	int failed = fflush(stdout) != 0 || ferror(stdout);

	if (failed) {
		pr_warn("%s: writing the result to standard output failed: %s\n", what,
			strerror(errno ? errno : EIO));
		return EXIT_FAILURE_RUNTIME;
	}
	return EXIT_OK;
}

/*
 * cluster discover [NAME]: a cluster file from system.clusters of the --clickhouse node, for
 * the operator to check and keep. system.clusters has each node's host and TCP port only, so
 * every node is taken to answer HTTP on the seed's scheme and port (the file says so).
 */
static int cluster_discover(const struct command_options *options, const char *name)
{
	const char *url = options->store.http_url, *host, *rest;
	char err[1024], sql[256], *result = NULL, *line, *save = NULL, scheme[8], port[16] = "";
	const char *hosts[512], *shared_host = NULL;
	unsigned long last_shard = 0;
	size_t replicas = 0;
	struct store *store;
	int ret;

	if (!url) {
		pr_warn("cluster discover: give a node to ask with --clickhouse URL\n");
		return EXIT_USAGE;
	}
	if (name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")]) {
		pr_warn("cluster discover: '%s' is not a cluster name\n", name);
		return EXIT_USAGE;
	}
	if (open_store(options, &store, 0))
		return EXIT_FAILURE_RUNTIME;
	snprintf(sql, sizeof(sql),
		 "SELECT shard_num, shard_weight, host_name, port FROM system.clusters WHERE "
		 "cluster = "
		 "'%s' ORDER BY shard_num, replica_num",
		 name);
	ret = store_query(store, sql, "TSV", &result, NULL, err, sizeof(err));
	close_store(store);
	if (ret) {
		pr_warn("cluster discover: %s\n", err);
		return EXIT_FAILURE_RUNTIME;
	}
	if (!result[0]) {
		pr_warn("cluster discover: %s has no cluster '%s' in system.clusters\n", url, name);
		free(result);
		return EXIT_FAILURE_RUNTIME;
	}
	snprintf(scheme, sizeof(scheme), "%s", strncmp(url, "https://", 8) ? "http" : "https");
	host = strstr(url, "://") + 3;
	rest = host[0] == '[' ? strchr(host, ']') : host;
	rest = rest ? rest + strcspn(rest, ":/") : host + strlen(host);
	if (*rest == ':')
		snprintf(port, sizeof(port), "%.*s", (int)strcspn(rest + 1, "/"), rest + 1);
	else
		snprintf(port, sizeof(port), "%s", scheme[4] ? "8443" : "8123");
	printf("# discovered from system.clusters of %s (cluster %s)\n"
	       "# every node is taken to answer HTTP on port %s, as that node does: check it\n"
	       "cluster %s\n",
	       url, name, port, name);
	if (options->store.http_user)
		printf("user %s\n", options->store.http_user);
	if (options->store.http_password_file)
		printf("password-file %s\n", options->store.http_password_file);
	for (line = strtok_r(result, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *weight = strchr(line, '\t'), *node = weight ? strchr(weight + 1, '\t') : NULL;
		char *tcp = node ? strchr(node + 1, '\t') : NULL;
		unsigned long shard = strtoul(line, NULL, 10);
		size_t i;

		if (!tcp)
			continue;
		*weight++ = '\0';
		*node++ = '\0';
		*tcp++ = '\0';
		if (shard != last_shard)
			printf("shard %lu%s%s\n", shard, strcmp(weight, "1") ? " weight " : "",
			       strcmp(weight, "1") ? weight : "");
		last_shard = shard;
		printf(strchr(node, ':') ? "replica %s://[%s]:%s/" : "replica %s://%s:%s/", scheme,
		       node, port);
		printf(" tcp %s\n", tcp);
		for (i = 0; i < replicas && i < 512; i++)
			if (!strcmp(hosts[i], node))
				shared_host = node;
		if (replicas < 512)
			hosts[replicas] = node;
		replicas++;
	}
	fprintf(stderr, "flowcollector: cluster %s: %lu shards, %zu replicas\n", name, last_shard,
		replicas);
	ret = stdout_finish("cluster discover");
	if (shared_host) {
		pr_warn("cluster discover: several nodes run on host %s, so they cannot all answer "
			"HTTP on port %s; system.clusters has their TCP ports only: put each one's "
			"HTTP URL in the file by hand\n",
			shared_host, port);
		ret = EXIT_FAILURE_RUNTIME;
	}
	free(result);
	return ret;
}

/*
 * cluster remote-servers: the remote_servers section that every node needs for the cluster
 * file's shards (config.d/remote_servers.xml; the servers read it again by themselves). The
 * collector cannot write a server's configuration: the operator installs it, and a new shard
 * takes writes once every node lists it (docs/cluster.md, adding a shard).
 */
static int cluster_remote_servers(const struct command_options *options)
{
	static struct cluster_config config;
	char err[1024];
	uint32_t s, r;

	if (!options->cluster_file) {
		pr_warn("cluster remote-servers: give the cluster with --cluster FILE\n");
		return EXIT_USAGE;
	}
	if (cluster_config_load(options->cluster_file, &config, err, sizeof(err))) {
		pr_warn("cluster %s: %s\n", options->cluster_file, err);
		return EXIT_INPUT_ERROR;
	}
	printf("<?xml version=\"1.0\"?>\n"
	       "<!-- written by flowcollector cluster remote-servers from %s: install it on every\n"
	       "     node as config.d/remote_servers.xml (the server reads it again by itself)%s -->\n"
	       "<yandex>\n    <remote_servers>\n        <%s>\n",
	       options->cluster_file,
	       config.user[0] ? ";\n     add each replica's <password> if its user has one" : "",
	       config.name);
	for (s = 0; s < config.shard_count; s++) {
		const struct cluster_shard_config *shard = &config.shards[s];

		printf("            <!-- shard %u -->\n            <shard>\n"
		       "                <internal_replication>true</internal_replication>\n",
		       shard->number);
		for (r = 0; r < shard->replica_count; r++) {
			const char *host = strstr(shard->replicas[r].url, "://") + 3;
			int len = host[0] == '[' ? (int)strcspn(++host, "]") :
						   (int)strcspn(host, ":/");

			printf("                <replica><host>%.*s</host><port>%u</port>", len,
			       host, shard->replicas[r].tcp_port);
			if (config.user[0])
				printf("<user>%s</user>", config.user);
			printf("</replica>\n");
		}
		printf("            </shard>\n");
	}
	printf("        </%s>\n    </remote_servers>\n</yandex>\n", config.name);
	return stdout_finish("cluster remote-servers");
}

/* cluster status: every shard and replica, as the collector sees them; cluster discover. */
int command_cluster(const struct command_options *options)
{
	struct cluster_replica_status st[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
	struct store *store;
	size_t n, i, up = 0;

	if (options->arg_count >= 2 && options->arg_count <= 3 &&
	    !strcmp(options->args[1], "discover"))
		return cluster_discover(options,
					options->arg_count == 3 ? options->args[2] : "flows");
	if (options->arg_count == 2 && !strcmp(options->args[1], "remote-servers"))
		return cluster_remote_servers(options);
	if (options->arg_count != 2 || strcmp(options->args[1], "status")) {
		pr_warn("cluster: expected 'cluster status' or 'cluster remote-servers' (with "
			"--cluster FILE), or 'cluster discover [NAME]' (with --clickhouse URL)\n");
		return EXIT_USAGE;
	}
	if (!options->cluster_file) {
		pr_warn("cluster status: give the cluster with --cluster FILE\n");
		return EXIT_USAGE;
	}
	if (open_cluster(options, &store, 0, 0))
		return EXIT_FAILURE_RUNTIME;
	cluster_print_status(cluster_in_use, stdout);
	n = cluster_status(cluster_in_use, st, sizeof(st) / sizeof(st[0]));
	for (i = 0; i < n; i++)
		up += st[i].state == CLUSTER_REPLICA_UP;
	close_store(store);
	if (stdout_finish("cluster status"))
		return EXIT_FAILURE_RUNTIME;
	/* 0 only when every replica takes writes: a script can wait on it */
	return up == n ? EXIT_OK : EXIT_FAILURE_RUNTIME;
}

struct geo_rows {
	uint8_t *rows;
	size_t len, cap;
	uint64_t count;
	int v4_mapped;		/* IPv4 prefixes as ::ffff:a.b.c.d/(96 + length): a cluster's */
	uint32_t special_named; /* special-use prefixes a file named (geo_special_use) */
};

static int geo_collect(void *ctx, const struct geo_prefix *prefix)
{
	struct geo_rows *rows = ctx;
	struct geo_prefix mapped = *prefix;
	const char *slash = strchr(prefix->prefix, '/');
	int special = geo_special_use_match(prefix->prefix);

	if (special >= 0)
		rows->special_named |= 1u << special;
	if (rows->v4_mapped && slash && !strchr(prefix->prefix, ':')) {
		snprintf(mapped.prefix, sizeof(mapped.prefix), "::ffff:%.*s/%d",
			 (int)(slash - prefix->prefix), prefix->prefix, 96 + atoi(slash + 1));
		prefix = &mapped;
	}
	if (geo_rowbinary_append(&rows->rows, &rows->len, &rows->cap, prefix))
		return -ENOMEM;
	rows->count++;
	return 0;
}

/*
 * geo load on a cluster: the prefixes into every node, each of which holds all of them
 * (sql/cluster/003_geo.sql). A node that does not answer is named and the load fails (exit 1),
 * to be run again; the nodes done keep the new data.
 */
static int geo_load_cluster(const struct command_options *options, const struct geo_rows *rows)
{
	struct cluster_replica_status st[CLUSTER_MAX_SHARDS * CLUSTER_MAX_REPLICAS];
	size_t n = cluster_status(cluster_in_use, st, sizeof(st) / sizeof(st[0])), i, done = 0;
	char err[2048];

	for (i = 0; i < n; i++) {
		struct store *node = NULL;
		int ret;

		ret = cluster_node_store(cluster_in_use, st[i].url, 120000, &node, err,
					 sizeof(err));
		if (!ret)
			ret = geo_store_node_replace(node, rows->rows, rows->len, err, sizeof(err));
		store_close(node);
		if (ret) {
			pr_warn("geo load: shard %u replica %u (%s): %s\n", st[i].shard,
				st[i].replica, st[i].url, err);
			continue;
		}
		done++;
	}
	if (done < n) {
		pr_warn("geo load: the geolocation is new on %zu of the %zu nodes of %s; run geo "
			"load again once the others answer (until then their region rollups use "
			"the old one)\n",
			done, n, options->cluster_file);
		return -EIO;
	}
	fprintf(stderr,
		"flowcollector: %" PRIu64 " prefixes loaded on all %zu nodes of %s; the region "
		"rollups of rows stored before keep their regions (docs/cluster.md)\n",
		rows->count, n, options->cluster_file);
	return 0;
}

/*
 * geo load: every file read first, and refused when it does not look like geolocation data
 * (most of its lines malformed), or when no prefix came out of them all, unless --force; only
 * then the store, where the new data replaces the old at once (geo_store.h) or not at all.
 */
int command_geo(const struct command_options *options)
{
	struct geo_rows rows = { .v4_mapped = options->cluster_file != NULL };
	int i, status = EXIT_OK;
	uint64_t special;
	struct store *store;
	char err[2048];

	if (options->arg_count < 3 || strcmp(options->args[1], "load")) {
		pr_warn("usage: flowcollector geo load [--force] FILE...\n");
		return EXIT_USAGE;
	}
	for (i = 2; i < options->arg_count; i++) {
		const char *path = options->args[i];
		struct geo_stats stats = { 0 };

		if (geo_load_file(path, geo_collect, &rows, &stats, err, sizeof(err))) {
			pr_warn("%s; nothing was loaded\n", err);
			free(rows.rows);
			return EXIT_INPUT_ERROR;
		}
		fprintf(stderr,
			"flowcollector: %s: %s, %" PRIu64 " ranges, %" PRIu64 " prefixes, "
			"%" PRIu64 " unknown skipped, %" PRIu64 " malformed skipped\n",
			path, stats.format, stats.ranges, stats.prefixes, stats.skipped_unknown,
			stats.skipped_malformed);
		if (stats.skipped_malformed)
			status = EXIT_INPUT_ERROR;
		if (geo_mostly_malformed(&stats) && !options->geo_force) {
			pr_warn("%s: %" PRIu64 " of its %" PRIu64 " data lines are malformed (more "
				"than %d%%): this is not geolocation data in a format flowcollector "
				"reads. Nothing was loaded; the geolocation in use stays. --force "
				"loads its good lines anyway\n",
				path, stats.skipped_malformed, stats.data_lines,
				GEO_MALFORMED_MAX_PERCENT);
			free(rows.rows);
			return EXIT_INPUT_ERROR;
		}
		if (geo_mostly_malformed(&stats))
			pr_warn("%s: %" PRIu64 " of its %" PRIu64 " data lines are malformed; "
				"loading its %" PRIu64 " prefixes anyway (--force)\n",
				path, stats.skipped_malformed, stats.data_lines, stats.prefixes);
	}
	if (!rows.count && !options->geo_force) {
		pr_warn("no prefixes in the files given (only unknown countries, or no ranges): "
			"nothing was loaded; the geolocation in use stays. --force replaces it "
			"with only the special-use ranges (PRIVATE and the rest)\n");
		return EXIT_INPUT_ERROR;
	}
	if (geo_special_use(geo_collect, &rows, rows.special_named, &special)) {
		pr_warn("out of memory adding the special-use ranges; nothing was loaded\n");
		free(rows.rows);
		return EXIT_FAILURE_RUNTIME;
	}
	fprintf(stderr,
		"flowcollector: and %" PRIu64 " special-use prefixes (PRIVATE, CGNAT, LOCAL, "
		"MULTICAST, DOC) labelled instead of Unknown\n",
		special);
	if (open_store(options, &store, 1)) {
		free(rows.rows);
		return EXIT_FAILURE_RUNTIME;
	}
	if (cluster_in_use) {
		status = geo_load_cluster(options, &rows) ? EXIT_FAILURE_RUNTIME : status;
	} else if (geo_store_replace(store, rows.rows, rows.len, err, sizeof(err))) {
		pr_warn("loading geolocation into %s: %s\n", store_describe(store), err);
		status = EXIT_FAILURE_RUNTIME;
	} else {
		fprintf(stderr,
			"flowcollector: %" PRIu64 " prefixes loaded into flows.geo_ranges; "
			"region rollups rebuilt\n",
			rows.count);
	}
	free(rows.rows);
	close_store(store);
	return status;
}

/* --- query, sql, report --------------------------------------------------------------------- */

/*
 * How views run here: on a cluster from sql/cluster/views with the values bound by us (18.16
 * has no query parameters), and, when a shard has no replica answering, over the shards that
 * answer, with *partial set to say which are missing.
 */
static unsigned int views_setup(const struct command_options *options, char *sql_dir, size_t len,
				char *partial, size_t partial_len)
{
	unsigned int flags = 0;

	partial[0] = '\0';
	if (!cluster_in_use) {
		snprintf(sql_dir, len, "%s", options->migrate.sql_dir);
		return 0;
	}
	snprintf(sql_dir, len, "%s/cluster", options->migrate.sql_dir);
	flags |= VIEW_BIND_LOCALLY;
	if (cluster_unreadable_shards(cluster_in_use, partial, partial_len))
		flags |= VIEW_SKIP_UNAVAILABLE_SHARDS;
	return flags;
}

static void view_failed(const struct view_info *view, const char *err)
{
	pr_warn("%s: %s\n", view->name, err);
}

int command_query(const struct command_options *options)
{
	char err[1024], sql_dir[4096], partial[256];
	const struct view_info *view;
	struct view_table table;
	struct store *store;
	unsigned int flags;
	double seconds;
	int i, ret;

	if (options->arg_count != 2) {
		pr_warn("usage: flowcollector query VIEW (or: query list)\n");
		return EXIT_USAGE;
	}
	if (!strcmp(options->args[1], "list")) {
		for (i = 0; i < view_count; i++)
			printf("%-26s %s\n", view_list[i].name, view_list[i].title);
		return stdout_finish("query list");
	}
	view = view_find(options->args[1]);
	if (!view) {
		pr_warn("no view '%s'; `flowcollector query list` names them\n", options->args[1]);
		return EXIT_USAGE;
	}
	if (open_store(options, &store, 1))
		return EXIT_FAILURE_RUNTIME;
	flags = views_setup(options, sql_dir, sizeof(sql_dir), partial, sizeof(partial));
	ret = view_run(store, sql_dir, view, options->from, options->to, flags, &table, &seconds,
		       err, sizeof(err));
	if (ret) {
		view_failed(view, err);
		close_store(store);
		return EXIT_FAILURE_RUNTIME;
	}
	if (options->tsv)
		view_print_tsv(stdout, &table);
	else
		view_print(stdout, &table);
	pr_info("%s: %d rows in %.3f s\n", view->name, table.row_count, seconds);
	view_table_free(&table);
	close_store(store);
	ret = stdout_finish(view->name);
	if (partial[0]) {
		pr_warn("%s: PARTIAL ANSWER: no replica of shard %s answers, so its rows are not in "
			"these numbers\n",
			view->name, partial);
		return EXIT_FAILURE_RUNTIME;
	}
	return ret;
}

int command_sql(const struct command_options *options)
{
	char err[1024], *result = NULL;
	int status = EXIT_OK;
	struct store *store;
	uint64_t started;
	size_t len = 0;

	if (options->arg_count != 2) {
		pr_warn("usage: flowcollector sql QUERY\n");
		return EXIT_USAGE;
	}
	if (open_store(options, &store, 1))
		return EXIT_FAILURE_RUNTIME;
	started = monotonic_ms();
	if (store_query(store, options->args[1], "TSV", &result, &len, err, sizeof(err))) {
		pr_warn("%s\n", err);
		status = EXIT_FAILURE_RUNTIME;
	} else {
		fwrite(result, 1, len, stdout);
		status = stdout_finish("sql");
		pr_info("done in %.3f s\n", (double)(monotonic_ms() - started) / 1000.0);
	}
	free(result);
	close_store(store);
	return status;
}

/* "all stored flows", or the range as UTC text. */
static void describe_range(uint64_t from, uint64_t to, char *text, size_t size)
{
	char from_text[32], to_text[32];
	time_t from_time = (time_t)from, to_time = (time_t)to;

	if (from == 0 && to == COMMAND_TIME_END) {
		snprintf(text, size, "all stored flows");
		return;
	}
	strftime(from_text, sizeof(from_text), "%Y-%m-%d %H:%M", gmtime(&from_time));
	strftime(to_text, sizeof(to_text), "%Y-%m-%d %H:%M", gmtime(&to_time));
	snprintf(text, size, "%s to %s UTC", from_text, to_text);
}

int command_report(const struct command_options *options)
{
	char err[1024], range[384], sql_dir[4096], partial[256];
	struct view_table tables[16];
	int i, ret, status = EXIT_OK;
	unsigned int flags;
	struct store *store;
	FILE *out;

	if (!options->html) {
		pr_warn("usage: flowcollector report --html FILE\n");
		return EXIT_USAGE;
	}
	if (open_store(options, &store, 1))
		return EXIT_FAILURE_RUNTIME;
	flags = views_setup(options, sql_dir, sizeof(sql_dir), partial, sizeof(partial));
	for (i = 0; i < view_count; i++) {
		ret = view_run(store, sql_dir, &view_list[i], options->from, options->to, flags,
			       &tables[i], NULL, err, sizeof(err));
		if (ret) {
			view_failed(&view_list[i], err);
			status = EXIT_FAILURE_RUNTIME;
			tables[i].row_count = 0;
		}
	}
	close_store(store);
	describe_range(options->from, options->to, range, sizeof(range));
	if (partial[0]) {
		size_t used = strlen(range);

		snprintf(range + used, sizeof(range) - used,
			 " | PARTIAL: shard %s did not answer, its rows are missing", partial);
		pr_warn("report: PARTIAL: no replica of shard %s answers, so its rows are not in "
			"the report\n",
			partial);
		status = EXIT_FAILURE_RUNTIME;
	}
	out = fopen(options->html, "we");
	if (!out) {
		pr_warn("--html %s: %s\n", options->html, strerror(errno));
		status = EXIT_FAILURE_RUNTIME;
	} else {
		ret = report_write_html(out, "flowagent network report", range, tables, view_count);
		if (fclose(out) || ret) {
			pr_warn("writing %s failed\n", options->html);
			status = EXIT_FAILURE_RUNTIME;
		} else {
			fprintf(stderr, "flowcollector: report written to %s\n", options->html);
		}
	}
	for (i = 0; i < view_count; i++)
		view_table_free(&tables[i]);
	return status;
}
