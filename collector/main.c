// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flowcollector: flow batches from Kafka (or a file) into ClickHouse, the schema, the
 * geolocation data, and the network views as tables or an HTML report.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "commands.h"
#include "kafka_conf.h"
#include "log.h"
#include "metrics_http.h"
#include "options_env.h"
#include "parse.h"
#include "paths.h"
#include "store.h"
#include "views.h"

enum {
	OPT_STORE = 256,
	OPT_CLICKHOUSE,
	OPT_CLICKHOUSE_USER,
	OPT_CLICKHOUSE_PASSWORD_FILE,
	OPT_LIBCHDB,
	OPT_SQL_DIR,
	OPT_RETENTION,
	OPT_ROLLUP_RETENTION,
	OPT_TOPIC,
	OPT_GROUP,
	OPT_KAFKA_CONFIG,
	OPT_INPUT_AGENT,
	OPT_BATCH_ROWS,
	OPT_BLOCK_ROWS,
	OPT_WAL_DIR,
	OPT_MAX_FUTURE,
	OPT_BATCH_MS,
	OPT_FROM,
	OPT_TO,
	OPT_HTML,
	OPT_EXIT_IDLE,
	OPT_INSERT_RETRY_TIMEOUT,
	OPT_REAPPLY,
	OPT_TSV,
	OPT_AGENT,
	OPT_DIRECTION,
	OPT_LIMIT,
	OPT_FORCE,
	OPT_CLUSTER,
	OPT_HTTP,
	OPT_HTTP_USER,
	OPT_HTTP_PASSWORD_FILE,
	OPT_HTTP_MAX_EXECUTION_TIME,
	OPT_HTTP_MAX_RESULT_BYTES,
	OPT_HTTP_MAX_CONCURRENT,
};

#define DEFAULT_BATCH_ROWS	       1000000
#define DEFAULT_BATCH_MS	       1000
#define DEFAULT_INSERT_RETRY_TIMEOUT_S 300

static struct env {
	struct command_options command;
	struct sockaddr_storage metrics_address;
	struct sockaddr_storage http_address;
	int http_option_given; /* an --http-* option, which needs --http */
	int verbosity;
} env = {
	.command = {
		.store = { .embedded_path = "flowdb" },
		.migrate = { .retention_days = 30, .rollup_retention_days = 400 },
		.ingest = { .batch_rows = DEFAULT_BATCH_ROWS, .batch_ms = DEFAULT_BATCH_MS,
			    .input_agent = "input" },
		.kafka = { .topic = "flows", .group = "flowcollector",
			   .insert_retry_timeout_s = DEFAULT_INSERT_RETRY_TIMEOUT_S },
		.http = { .max_execution_time_s = HTTP_DEFAULT_MAX_EXECUTION_TIME_S,
			  .max_result_bytes = HTTP_DEFAULT_MAX_RESULT_BYTES,
			  .max_concurrent = HTTP_DEFAULT_MAX_CONCURRENT },
		.to = COMMAND_TIME_END,
	},
};

const char *argp_program_version = "flowcollector 0.1";

static const char doc[] =
	"flowcollector: flow records into ClickHouse, and the network views.\v"
	"COMMANDS:\n"
	"  (none)            ingest: from Kafka (--kafka) or a file (--input), until "
	"SIGINT/SIGTERM\n"
	"                    or the end of the input\n"
	"  migrate           apply the schema (sql/NNN_*.sql) and exit; ingest does it too\n"
	"  geo load FILE...  load geolocation: Tor geoip/geoip6, DB-IP lite CSV, GeoLite2 CSV;\n"
	"                    it replaces the one in use only once loaded whole, and refuses a\n"
	"                    file mostly malformed (over 50% of its lines) or no prefix at all\n"
	"                    unless --force\n"
	"  query VIEW        print a view; 'query list' names them\n"
	"  report            --html FILE: every view as charts in one self-contained page\n"
	"  sql QUERY         run one SQL statement on the store, print the result as TSV\n"
	"  serve             --http [ADDR:]PORT: the ClickHouse HTTP interface,\n"
	"                    read-only, over the store, until SIGINT/SIGTERM\n"
	"  cluster status    --cluster FILE: every shard and replica: up, down or read-only,\n"
	"                    replication queue and lag, rows, disk, where inserts go; exit 0\n"
	"                    when every replica takes writes\n"
	"  cluster discover [NAME]  --clickhouse URL: a cluster file from that node's\n"
	"                    system.clusters (cluster NAME, default flows), to check and keep\n"
	"  cluster remote-servers  --cluster FILE: the remote_servers section every node needs\n"
	"                    for the file's shards (config.d/remote_servers.xml)\n"
	"\n"
	"STORES: --store embedded:PATH (default embedded:flowdb), the real ClickHouse engine in "
	"this "
	"process (libchdb, loaded only for this store), or --clickhouse http://HOST:8123/ for a "
	"server.\n"
	"\n"
	"DELIVERY: Kafka offsets are committed only after the rows are in ClickHouse. Each batch's "
	"(agent id, sequence) is stored with its rows; a batch stored before is skipped, so a "
	"restart after a crash stores nothing twice. Gaps in an agent's sequence are reported.\n"
	"\n"
	"SIGNALS: SIGINT, SIGTERM or SIGHUP stop gracefully: what was read is stored, as whole "
	"batches. --input then prints where it stopped (file, byte offset) and exits 4; run the same "
	"input again to finish it (batches stored before are skipped). A second signal says what "
	"the stop waits for.\n"
	"\n"
	"INPUT LIMITS: --input JSON lines up to 1 MiB each; wire-format batches up to 128 MiB, "
	"records up to 1024 bytes, and no more than the file holds.\n"
	"\n"
	"EXIT STATUS: 0 ok (also Kafka stopped by a signal); 1 the store or Kafka failed; 2 bad "
	"command line; 3 --input could not be read, or had rejected records or bad bytes (what was "
	"read before is stored), or geo load refused its files or skipped malformed lines; 4 "
	"--input interrupted by a signal before its end.\n"
	"\n"
	"EXAMPLES:\n"
	"  flowcollector --kafka k1:9092 --topic flows --store embedded:/var/lib/flowdb\n"
	"  flowagent --replay trace.pcap.gz | flowcollector --input -\n"
	"  flowcollector geo load build/geo/geoip build/geo/geoip6\n"
	"  flowcollector query top_ports_bytes --from 2026-01-05 --to 2026-01-06\n"
	"  flowcollector report --html report.html\n"
	"  flowcollector --kafka k1:9092 --http 8123     # read while it ingests\n"
	"  flowcollector serve --http 8123 --http-user reader --http-password-file pw\n";

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "Store:", 1 },
	{ "store", OPT_STORE, "embedded:PATH", 0,
	  "The embedded ClickHouse at PATH (default flowdb)", 1 },
	{ "clickhouse", OPT_CLICKHOUSE, "URL", 0, "A ClickHouse server over HTTP instead", 1 },
	{ "clickhouse-user", OPT_CLICKHOUSE_USER, "USER", 0, "Its user", 1 },
	{ "cluster", OPT_CLUSTER, "FILE", 0,
	  "A sharded, replicated ClickHouse: its shards and replicas (docs/cluster.md)", 1 },
	{ "clickhouse-password-file", OPT_CLICKHOUSE_PASSWORD_FILE, "FILE", 0,
	  "Its password, first line of FILE (never on the command line)", 1 },
	{ "libchdb", OPT_LIBCHDB, "PATH", 0, "libchdb.so (default: chdb/ beside this program)", 1 },
	{ "sql-dir", OPT_SQL_DIR, "DIR", 0,
	  "The schema and views (default: sql/ of the source tree)", 1 },
	{ "retention-days", OPT_RETENTION, "DAYS", 0,
	  "Keep raw flows this many days after ingestion (default 30)", 1 },
	{ "rollup-retention-days", OPT_ROLLUP_RETENTION, "DAYS", 0,
	  "Keep the rollups the views read this many days, at least --retention-days "
	  "(default 400)",
	  1 },
	{ "reapply", OPT_REAPPLY, NULL, 0,
	  "migrate: apply every schema file again (they are idempotent)", 1 },
	{ NULL, 0, NULL, 0, "Ingest:", 2 },
	{ "kafka", 'k', "BROKERS", 0, "Consume flow batches from Kafka", 2 },
	{ "topic", OPT_TOPIC, "TOPIC", 0, "Kafka topic (default flows)", 2 },
	{ "group", OPT_GROUP, "GROUP", 0, "Kafka consumer group (default flowcollector)", 2 },
	{ "kafka-config", OPT_KAFKA_CONFIG, "FILE", 0, "librdkafka properties (TLS, SASL, secrets)",
	  2 },
	{ "kafka-property", 'X', "KEY=VALUE", 0, "One librdkafka property (repeatable)", 2 },
	{ "input", 'f', "FILE", 0, "Read wire-format batches or JSON lines from FILE ('-' = stdin)",
	  2 },
	{ "input-agent", OPT_INPUT_AGENT, "ID", 0, "Agent id for JSON records without one (input)",
	  2 },
	{ "batch-rows", OPT_BATCH_ROWS, "N", 0, "Insert when this many rows wait (1000000)", 2 },
	{ "insert-block-rows", OPT_BLOCK_ROWS, "N", 0,
	  "Rows per part of an insert, one ClickHouse block each (1048576)", 2 },
	{ "wal-dir", OPT_WAL_DIR, "DIR", 0,
	  "Write-ahead files of inserts, on a disk that lasts as long as the store: Kafka "
	  "offsets are then committed once an insert is written there (default: inside the "
	  "embedded store; with --clickhouse, ./flowcollector-wal, committing after inserts)",
	  2 },
	{ "max-future", OPT_MAX_FUTURE, "SECONDS", 0,
	  "Refuse records whose first packet is further ahead of this host's clock (86400)", 2 },
	{ "batch-ms", OPT_BATCH_MS, "MS", 0, "or this long after the first of them (1000)", 2 },
	{ "exit-idle", OPT_EXIT_IDLE, "MS", 0, "Kafka: exit after this long without messages", 2 },
	{ "insert-retry-timeout", OPT_INSERT_RETRY_TIMEOUT, "SECONDS", 0,
	  "Kafka and --input: stop with exit 1 when rows cannot be stored for this long (300); "
	  "what is not stored is read again by the next run",
	  2 },
	{ "metrics", 'M', "[ADDR:]PORT", 0,
	  "Prometheus metrics on /metrics (127.0.0.1 unless ADDR)", 2 },
	{ NULL, 0, NULL, 0, "ClickHouse HTTP interface (read-only; ingest and serve):", 3 },
	{ "http", OPT_HTTP, "[ADDR:]PORT", 0,
	  "Serve the ClickHouse HTTP interface, read-only, over the embedded store (127.0.0.1 "
	  "unless ADDR)",
	  3 },
	{ "http-user", OPT_HTTP_USER, "NAME", 0, "Its one user (default: no authentication)", 3 },
	{ "http-password-file", OPT_HTTP_PASSWORD_FILE, "FILE", 0,
	  "That user's password, first line of FILE (never on the command line)", 3 },
	{ "http-max-execution-time", OPT_HTTP_MAX_EXECUTION_TIME, "SECONDS", 0,
	  "A query's time limit (60); a request may lower it", 3 },
	{ "http-max-result-bytes", OPT_HTTP_MAX_RESULT_BYTES, "BYTES", 0,
	  "Refuse results larger than this, K/M/G allowed (256M)", 3 },
	{ "http-max-concurrent", OPT_HTTP_MAX_CONCURRENT, "N", 0,
	  "Queries at once, one read-only connection each (4, at most 64); more get Code 202", 3 },
	{ NULL, 0, NULL, 0, "Views:", 4 },
	{ "from", OPT_FROM, "TIME", 0, "From (YYYY-MM-DD[ HH:MM[:SS]] UTC, or Unix seconds)", 4 },
	{ "to", OPT_TO, "TIME", 0, "Until, excluded", 4 },
	{ "agent", OPT_AGENT, "NAME", 0, "query, report: only what this agent saw (default: all)",
	  4 },
	{ "limit", OPT_LIMIT, "N", 0,
	  "query, report: the top-N views list N rows (default 10, at most 100000)", 4 },
	{ "direction", OPT_DIRECTION, "DIR", 0,
	  "query, report: only ingress or only egress packets (default: both); one of them "
	  "counts a packet metered at two points once",
	  4 },
	{ "html", OPT_HTML, "FILE", 0, "report: write the HTML page here", 4 },
	{ "tsv", OPT_TSV, NULL, 0, "query: tab-separated values with a header, for scripts", 4 },
	{ "force", OPT_FORCE, NULL, 0,
	  "geo load: load even a file whose lines are mostly malformed, or no prefix at all "
	  "(which empties the geolocation)",
	  4 },
	{ NULL, 0, NULL, 0, "General:", 5 },
	{ "verbose", 'v', NULL, 0, "More messages (-v: also a line per HTTP query)", 5 },
	{},
};

/* --store given: it and --cluster exclude each other */
static int store_given;

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct command_options *o = &env.command;
	char why[512];
	int err;

	switch (key) {
	case OPT_STORE:
		if (strncmp(arg, "embedded:", 9) || !arg[9])
			argp_error(state, "--store '%s': expected embedded:PATH", arg);
		o->store.embedded_path = arg + 9;
		store_given = 1;
		break;
	case OPT_CLICKHOUSE:
		o->store.http_url = arg;
		o->store.embedded_path = NULL;
		break;
	case OPT_CLICKHOUSE_USER:
		o->store.http_user = arg;
		break;
	case OPT_CLICKHOUSE_PASSWORD_FILE:
		o->store.http_password_file = arg;
		break;
	case OPT_LIBCHDB:
		o->store.libchdb = arg;
		break;
	case OPT_CLUSTER:
		o->cluster_file = arg;
		break;
	case OPT_SQL_DIR:
		o->migrate.sql_dir = arg;
		break;
	case OPT_RETENTION:
		if (parse_u32(arg, 1, 36500, &o->migrate.retention_days))
			argp_error(state,
				   "--retention-days: '%s' is not a number of days in [1, 36500]",
				   arg);
		break;
	case OPT_ROLLUP_RETENTION:
		if (parse_u32(arg, 1, 36500, &o->migrate.rollup_retention_days))
			argp_error(state,
				   "--rollup-retention-days: '%s' is not a number of days in [1, "
				   "36500]",
				   arg);
		break;
	case 'k':
		o->kafka.brokers = arg;
		break;
	case OPT_TOPIC:
		o->kafka.topic = arg;
		break;
	case OPT_GROUP:
		o->kafka.group = arg;
		break;
	case OPT_KAFKA_CONFIG:
		o->kafka.properties_file = arg;
		break;
	case 'X':
		err = kafka_properties_add(&o->kafka.properties, arg, why, sizeof(why));
		if (err == -ENOMEM)
			argp_failure(state, EXIT_FAILURE_RUNTIME, ENOMEM, "-X");
		else if (err)
			argp_error(state, "%s", why);
		break;
	case 'f':
		o->input = arg;
		break;
	case OPT_INPUT_AGENT:
		o->ingest.input_agent = arg;
		break;
	case OPT_BLOCK_ROWS:
		if (parse_u32(arg, 1, 16777216, &o->ingest.part_rows))
			argp_error(state, "--insert-block-rows: '%s' is not in [1, 16777216]", arg);
		break;
	case OPT_WAL_DIR:
		o->ingest.wal_dir = arg;
		break;
	case OPT_MAX_FUTURE: {
		uint32_t seconds;

		if (parse_u32(arg, 0, 31536000, &seconds))
			argp_error(state, "--max-future: '%s' is not seconds in [0, 31536000]",
				   arg);
		o->ingest.max_future_s = seconds ? seconds : 1;
		break;
	}
	case OPT_BATCH_ROWS:
		if (parse_u32(arg, 1, 10000000, &o->ingest.batch_rows))
			argp_error(state, "--batch-rows: '%s' is not in [1, 10000000]", arg);
		break;
	case OPT_BATCH_MS:
		if (parse_u32(arg, 1, 3600000, &o->ingest.batch_ms))
			argp_error(state, "--batch-ms: '%s' is not milliseconds in [1, 3600000]",
				   arg);
		break;
	case OPT_INSERT_RETRY_TIMEOUT:
		if (parse_u32(arg, 1, 604800, &o->kafka.insert_retry_timeout_s))
			argp_error(state,
				   "--insert-retry-timeout: '%s' is not seconds in [1, 604800]",
				   arg);
		break;
	case OPT_EXIT_IDLE:
		if (parse_u32(arg, 1, 86400000, &o->kafka.exit_idle_ms))
			argp_error(state, "--exit-idle: '%s' is not milliseconds", arg);
		break;
	case 'M':
		if (metrics_parse_address(arg, &env.metrics_address, why, sizeof(why)))
			argp_error(state, "--metrics: %s", why);
		o->metrics_address = &env.metrics_address;
		break;
	case OPT_HTTP:
		if (metrics_parse_address(arg, &env.http_address, why, sizeof(why)))
			argp_error(state, "--http: %s", why);
		o->http.address = &env.http_address;
		break;
	case OPT_HTTP_USER:
		if (!arg[0] ||
		    arg[strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789_.-@")])
			argp_error(state,
				   "--http-user '%s': letters, digits and _ . - @ only, as a "
				   "ClickHouse user name",
				   arg);
		o->http.user = arg;
		env.http_option_given = 1;
		break;
	case OPT_HTTP_PASSWORD_FILE:
		o->http.password_file = arg;
		env.http_option_given = 1;
		break;
	case OPT_HTTP_MAX_EXECUTION_TIME:
		if (parse_u32(arg, 1, 86400, &o->http.max_execution_time_s))
			argp_error(state,
				   "--http-max-execution-time: '%s' is not seconds in [1, 86400]",
				   arg);
		env.http_option_given = 1;
		break;
	case OPT_HTTP_MAX_RESULT_BYTES:
		if (parse_bytes(arg, 1, 1ULL << 40, &o->http.max_result_bytes))
			argp_error(state,
				   "--http-max-result-bytes: '%s' is not a byte count in [1, 1T] "
				   "(K, M, G allowed)",
				   arg);
		env.http_option_given = 1;
		break;
	case OPT_HTTP_MAX_CONCURRENT:
		if (parse_u32(arg, 1, HTTP_MAX_CONCURRENT_LIMIT, &o->http.max_concurrent))
			argp_error(state, "--http-max-concurrent: '%s' is not in [1, %d]", arg,
				   HTTP_MAX_CONCURRENT_LIMIT);
		env.http_option_given = 1;
		break;
	case OPT_FROM:
		if (parse_time(arg, &o->from))
			argp_error(state,
				   "--from '%s': expected YYYY-MM-DD[ HH:MM[:SS]] or Unix seconds",
				   arg);
		break;
	case OPT_TO:
		if (parse_time(arg, &o->to))
			argp_error(state,
				   "--to '%s': expected YYYY-MM-DD[ HH:MM[:SS]] or Unix seconds",
				   arg);
		break;
	case OPT_HTML:
		o->html = arg;
		break;
	case OPT_REAPPLY:
		o->migrate.force = 1;
		break;
	case OPT_TSV:
		o->tsv = 1;
		break;
	case OPT_AGENT:
		view_filter.agent = arg;
		break;
	case OPT_LIMIT:
		if (parse_u32(arg, 1, 100000, &view_filter.limit))
			argp_error(state, "--limit '%s': expected a number of rows, 1 to 100000",
				   arg);
		break;
	case OPT_DIRECTION:
		if (view_filter_set_direction(arg))
			argp_error(state, "--direction '%s': expected ingress or egress", arg);
		break;
	case OPT_FORCE:
		o->geo_force = 1;
		break;
	case 'v':
		env.verbosity++;
		break;
	case ARGP_KEY_ARGS:
		o->args = state->argv + state->next;
		o->arg_count = state->argc - state->next;
		break;
	case ARGP_KEY_END:
		if (o->migrate.rollup_retention_days < o->migrate.retention_days)
			argp_error(
				state,
				"--rollup-retention-days %u is less than --retention-days %u: the "
				"views would lose days that flows.raw still holds",
				o->migrate.rollup_retention_days, o->migrate.retention_days);
		if (o->from >= o->to)
			argp_error(state, "--from must be before --to");
		if (o->http.address && o->cluster_file)
			argp_error(state,
				   "--http serves the embedded store only: on a cluster, query the "
				   "servers' own HTTP ports (8123), which serve the Distributed "
				   "tables (docs/endpoint.md)");
		if (o->cluster_file && (store_given || o->store.http_url))
			argp_error(state,
				   "--cluster excludes --store and --clickhouse: the cluster "
				   "file names the servers");
		if (o->cluster_file && o->ingest.part_rows > 1048576)
			argp_error(state,
				   "--insert-block-rows: at most 1048576 with --cluster (a "
				   "part is one block of the server's max_insert_block_size)");
		if (env.http_option_given && !o->http.address)
			argp_error(state, "the --http-* options need --http [ADDR:]PORT");
		if (!o->http.user != !o->http.password_file)
			argp_error(state, "--http-user and --http-password-file go together");
		if (o->http.address && o->store.http_url)
			argp_error(state,
				   "--http serves the embedded store only: the --clickhouse server "
				   "serves its own HTTP interface");
		if (o->to > COMMAND_TIME_END)
			argp_error(state, "--to: the views end at 2106-02-07 (Unix seconds %llu)",
				   COMMAND_TIME_END);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.args_doc = "\nmigrate\ngeo load [--force] FILE...\nquery VIEW\nreport --html FILE\nsql "
		    "QUERY\nserve --http [ADDR:]PORT",
	.parser = parse_arg,
	.doc = doc,
};

/* FLOWCOLLECTOR_* variables and --config FILE (docs/configuration.md); the command stays */
static const int repeatable_options[] = { 'X', 'v', 0 };
static const struct options_env options_env = {
	.prefix = "FLOWCOLLECTOR_",
	.repeatable = repeatable_options,
};

static void on_stop_signal(int sig)
{
	collector_stop_signal(sig);
}

/*
 * The schema directory: the option, else sql/ next to build/ (the source tree), else
 * ../share/flowagent/sql (installed: bin/flowcollector), else ./sql.
 */
static void default_sql_dir(void)
{
	static char path[PATH_MAX];

	if (env.command.migrate.sql_dir)
		return;
	if (path_beside_executable(path, sizeof(path), "../sql") &&
	    path_beside_executable(path, sizeof(path), "../share/flowagent/sql"))
		snprintf(path, sizeof(path), "sql");
	env.command.migrate.sql_dir = path;
}

/*
 * fd 0 becomes /dev/null, and *input reads what fd 0 was: libchdb reads fd 0 as a query's
 * external data.
 */
static int hide_stdin_from_chdb(FILE **input)
{
	int saved = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), null;

	if (saved < 0)
		return errno == EBADF ? 0 : -1;
	null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0)
		return -1;
	close(null);
	*input = fdopen(saved, "r");
	return *input ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct command_options *options);
	} commands[] = {
		{ "ingest", command_ingest },	{ "migrate", command_migrate },
		{ "geo", command_geo },		{ "query", command_query },
		{ "report", command_report },	{ "sql", command_sql },
		{ "cluster", command_cluster }, { "serve", command_serve },
	};
	struct sigaction stop = { .sa_handler = on_stop_signal };
	const char *command;
	int status;
	size_t i;

	log_set_program("flowcollector");
	argp_err_exit_status = EXIT_USAGE;
	if (options_env_parse(&argp, &options_env, argc, argv, 0, NULL))
		return EXIT_USAGE;
	log_set_verbosity(env.verbosity);
	default_sql_dir();
	/* SIGINT/SIGTERM only set a flag: the store is always closed on the way out */
	if (collector_stop_pipe_open()) {
		pr_warn("cannot create the stop signal's pipe: %s\n", strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(store_close_all);
	if (hide_stdin_from_chdb(&env.command.input_stdin)) {
		pr_warn("cannot set standard input aside: %s\n", strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}

	command = env.command.arg_count ? env.command.args[0] : "ingest";
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(command, commands[i].name))
			break;
	if (i < sizeof(commands) / sizeof(commands[0]) && env.command.http.address &&
	    strcmp(command, "ingest") && strcmp(command, "serve")) {
		pr_warn("--http: only ingest and serve serve the HTTP interface, not %s\n",
			command);
		status = EXIT_USAGE;
	} else if (i < sizeof(commands) / sizeof(commands[0])) {
		status = commands[i].run(&env.command);
	} else {
		pr_warn("unknown command '%s' (see --help)\n", command);
		status = EXIT_USAGE;
	}
	kafka_properties_free(&env.command.kafka.properties);
	return status;
}
