// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flowcollector: flow batches from Kafka (or a file) into ClickHouse, the schema, the
 * geolocation data, and the network views as tables or an HTML report.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "geo.h"
#include "ingest.h"
#include "kafka_export.h"
#include "args.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "report.h"
#include "store.h"
#include "views.h"
#include "wire.h"

enum collector_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1,	/* the store or Kafka failed */
	EXIT_USAGE = 2,
	EXIT_INPUT_ERROR = 3,		/* --input: records were rejected; the rest is stored */
};

enum {
	OPT_STORE = 256,
	OPT_CLICKHOUSE,
	OPT_CLICKHOUSE_USER,
	OPT_CLICKHOUSE_PASSWORD_FILE,
	OPT_LIBCHDB,
	OPT_SQL_DIR,
	OPT_RETENTION,
	OPT_TOPIC,
	OPT_GROUP,
	OPT_KAFKA_CONFIG,
	OPT_INPUT_AGENT,
	OPT_BATCH_ROWS,
	OPT_BATCH_MS,
	OPT_FROM,
	OPT_TO,
	OPT_HTML,
	OPT_TZDATA,
	OPT_EXIT_IDLE,
	OPT_REAPPLY,
	OPT_TSV,
};

#define DEFAULT_BATCH_ROWS 1000000
#define DEFAULT_BATCH_MS   1000
#define RETRY_MAX_MS	   30000
/* the default end of a time range: a midnight, so the views read the daily rollups */
#define TIME_END	   4294944000ULL

static volatile sig_atomic_t stop_requested;
/* Our standard input, moved away from fd 0: libchdb reads fd 0 as a query's external data. */
static FILE *input_stdin;

static struct env {
	struct store_options store;
	struct migrate_options migrate;
	struct ingest_options ingest;
	const char *kafka_brokers;
	const char *topic;
	const char *group;
	const char *kafka_config;
	char **properties;
	int property_count;
	const char *input;
	const char *html;
	const char *tzdata;
	uint64_t from, to;
	uint32_t exit_idle_ms;
	int tsv;
	struct sockaddr_storage metrics_address;
	int metrics;
	int verbosity;
	char **args;
	int arg_count;
} env = {
	.store = { .embedded_path = "flowdb" },
	.migrate = { .retention_days = 30 },
	.ingest = { .batch_rows = DEFAULT_BATCH_ROWS, .batch_ms = DEFAULT_BATCH_MS,
		    .input_agent = "input" },
	.topic = "flows",
	.group = "flowcollector",
	.tzdata = "/usr/share/zoneinfo",
	.to = TIME_END,
};

const char *argp_program_version = "flowcollector 0.1";

static const char doc[] =
	"flowcollector: flow records into ClickHouse, and the network views.\v"
	"COMMANDS:\n"
	"  (none)            ingest: from Kafka (--kafka) or a file (--input), until SIGINT/SIGTERM\n"
	"                    or the end of the input\n"
	"  migrate           apply the schema (sql/NNN_*.sql) and exit; ingest does it too\n"
	"  geo load FILE...  load geolocation: Tor geoip/geoip6, DB-IP lite CSV, GeoLite2 CSV\n"
	"  query VIEW        print a view; 'query list' names them\n"
	"  report            --html FILE: every view as charts in one self-contained page\n"
	"  sql QUERY         run one SQL statement on the store, print the result as TSV\n"
	"\n"
	"STORES: --store embedded:PATH (default embedded:flowdb), the real ClickHouse engine in this "
	"process (libchdb, loaded only for this store), or --clickhouse http://HOST:8123/ for a "
	"server.\n"
	"\n"
	"DELIVERY: Kafka offsets are committed only after the rows are in ClickHouse. Each batch's "
	"(agent id, sequence) is stored with its rows; a batch stored before is skipped, so a "
	"restart after a crash stores nothing twice. Gaps in an agent's sequence are reported.\n"
	"\n"
	"EXIT STATUS: 0 ok; 1 the store or Kafka failed; 2 bad command line; 3 --input had rejected "
	"records (the rest is stored).\n"
	"\n"
	"EXAMPLES:\n"
	"  flowcollector --kafka k1:9092 --topic flows --store embedded:/var/lib/flowdb\n"
	"  flowagent --replay trace.pcap.gz | flowcollector --input -\n"
	"  flowcollector geo load build/geo/geoip build/geo/geoip6\n"
	"  flowcollector query top_ports_bytes --from 2026-01-05 --to 2026-01-06\n"
	"  flowcollector report --html report.html\n";

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "Store:", 1 },
	{ "store", OPT_STORE, "embedded:PATH", 0, "The embedded ClickHouse at PATH (default flowdb)", 1 },
	{ "clickhouse", OPT_CLICKHOUSE, "URL", 0, "A ClickHouse server over HTTP instead", 1 },
	{ "clickhouse-user", OPT_CLICKHOUSE_USER, "USER", 0, "Its user", 1 },
	{ "clickhouse-password-file", OPT_CLICKHOUSE_PASSWORD_FILE, "FILE", 0,
	  "Its password, first line of FILE (never on the command line)", 1 },
	{ "libchdb", OPT_LIBCHDB, "PATH", 0, "libchdb.so (default: chdb/ beside this program)", 1 },
	{ "sql-dir", OPT_SQL_DIR, "DIR", 0, "The schema and views (default: sql/ of the source tree)", 1 },
	{ "retention-days", OPT_RETENTION, "DAYS", 0,
	  "Keep raw flows this many days after ingestion (default 30)", 1 },
	{ "reapply", OPT_REAPPLY, NULL, 0, "migrate: apply every schema file again (they are idempotent)",
	  1 },
	{ NULL, 0, NULL, 0, "Ingest:", 2 },
	{ "kafka", 'k', "BROKERS", 0, "Consume flow batches from Kafka", 2 },
	{ "topic", OPT_TOPIC, "TOPIC", 0, "Kafka topic (default flows)", 2 },
	{ "group", OPT_GROUP, "GROUP", 0, "Kafka consumer group (default flowcollector)", 2 },
	{ "kafka-config", OPT_KAFKA_CONFIG, "FILE", 0, "librdkafka properties (TLS, SASL, secrets)", 2 },
	{ NULL, 'X', "KEY=VALUE", 0, "One librdkafka property (repeatable)", 2 },
	{ "input", 'f', "FILE", 0, "Read wire-format batches or JSON lines from FILE ('-' = stdin)", 2 },
	{ "input-agent", OPT_INPUT_AGENT, "ID", 0, "Agent id for JSON records without one (input)", 2 },
	{ "batch-rows", OPT_BATCH_ROWS, "N", 0, "Insert when this many rows wait (1000000)", 2 },
	{ "batch-ms", OPT_BATCH_MS, "MS", 0, "or this long after the first of them (1000)", 2 },
	{ "exit-idle", OPT_EXIT_IDLE, "MS", 0, "Kafka: exit after this long without messages", 2 },
	{ "metrics", 'M', "[ADDR:]PORT", 0, "Prometheus metrics on /metrics (127.0.0.1 unless ADDR)", 2 },
	{ NULL, 0, NULL, 0, "Views:", 3 },
	{ "from", OPT_FROM, "TIME", 0, "From (YYYY-MM-DD[ HH:MM[:SS]] UTC, or Unix seconds)", 3 },
	{ "to", OPT_TO, "TIME", 0, "Until, excluded", 3 },
	{ "html", OPT_HTML, "FILE", 0, "report: write the HTML page here", 3 },
	{ "tsv", OPT_TSV, NULL, 0, "query: tab-separated values with a header, for scripts", 3 },
	{ "tzdata", OPT_TZDATA, "DIR", 0, "geo: country names and coordinates (/usr/share/zoneinfo)", 3 },
	{ NULL, 0, NULL, 0, "General:", 4 },
	{ "verbose", 'v', NULL, 0, "More messages", 4 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char why[256];

	switch (key) {
	case OPT_STORE:
		if (strncmp(arg, "embedded:", 9) || !arg[9])
			argp_error(state, "--store '%s': expected embedded:PATH", arg);
		env.store.embedded_path = arg + 9;
		break;
	case OPT_CLICKHOUSE:
		env.store.http_url = arg;
		env.store.embedded_path = NULL;
		break;
	case OPT_CLICKHOUSE_USER:
		env.store.http_user = arg;
		break;
	case OPT_CLICKHOUSE_PASSWORD_FILE:
		env.store.http_password_file = arg;
		break;
	case OPT_LIBCHDB:
		env.store.libchdb = arg;
		break;
	case OPT_SQL_DIR:
		env.migrate.sql_dir = arg;
		break;
	case OPT_RETENTION:
		if (parse_u32(arg, 1, 36500, &env.migrate.retention_days))
			argp_error(state, "--retention-days: '%s' is not a number of days in [1, 36500]", arg);
		break;
	case 'k':
		env.kafka_brokers = arg;
		break;
	case OPT_TOPIC:
		env.topic = arg;
		break;
	case OPT_GROUP:
		env.group = arg;
		break;
	case OPT_KAFKA_CONFIG:
		env.kafka_config = arg;
		break;
	case 'X': {
		char name[256], **grown;

		if (!strchr(arg, '=') || arg[0] == '=')
			argp_error(state, "-X '%s': expected KEY=VALUE", arg);
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
		if (kafka_property_is_secret(name))
			argp_error(state, "-X: secrets never go on the command line (other users can read "
				   "it in /proc); put them in a --kafka-config file with mode 600");
		grown = realloc(env.properties, (size_t)(env.property_count + 1) * sizeof(*grown));
		if (!grown)
			argp_failure(state, EXIT_FAILURE_RUNTIME, ENOMEM, "-X");
		env.properties = grown;
		env.properties[env.property_count++] = arg;
		break;
	}
	case 'f':
		env.input = arg;
		break;
	case OPT_INPUT_AGENT:
		env.ingest.input_agent = arg;
		break;
	case OPT_BATCH_ROWS:
		if (parse_u32(arg, 1, 10000000, &env.ingest.batch_rows))
			argp_error(state, "--batch-rows: '%s' is not in [1, 10000000]", arg);
		break;
	case OPT_BATCH_MS:
		if (parse_u32(arg, 1, 3600000, &env.ingest.batch_ms))
			argp_error(state, "--batch-ms: '%s' is not milliseconds in [1, 3600000]", arg);
		break;
	case OPT_EXIT_IDLE:
		if (parse_u32(arg, 1, 86400000, &env.exit_idle_ms))
			argp_error(state, "--exit-idle: '%s' is not milliseconds", arg);
		break;
	case 'M':
		if (metrics_parse_address(arg, &env.metrics_address, why, sizeof(why)))
			argp_error(state, "--metrics: %s", why);
		env.metrics = 1;
		break;
	case OPT_FROM:
		if (parse_time(arg, &env.from))
			argp_error(state, "--from '%s': expected YYYY-MM-DD[ HH:MM[:SS]] or Unix seconds", arg);
		break;
	case OPT_TO:
		if (parse_time(arg, &env.to))
			argp_error(state, "--to '%s': expected YYYY-MM-DD[ HH:MM[:SS]] or Unix seconds", arg);
		break;
	case OPT_HTML:
		env.html = arg;
		break;
	case OPT_REAPPLY:
		env.migrate.force = 1;
		break;
	case OPT_TSV:
		env.tsv = 1;
		break;
	case OPT_TZDATA:
		env.tzdata = arg;
		break;
	case 'v':
		env.verbosity++;
		break;
	case ARGP_KEY_ARGS:
		env.args = state->argv + state->next;
		env.arg_count = state->argc - state->next;
		break;
	case ARGP_KEY_END:
		if (env.from >= env.to)
			argp_error(state, "--from must be before --to");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.args_doc = "\nmigrate\ngeo load FILE...\nquery VIEW\nreport --html FILE\nsql QUERY",
	.parser = parse_arg,
	.doc = doc,
};

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The schema directory: the option, else sql/ next to build/, else ./sql. */
static void default_sql_dir(void)
{
	static char path[PATH_MAX];

	if (env.migrate.sql_dir)
		return;
	env.migrate.sql_dir = path_beside_executable(path, sizeof(path), "../sql") ? "sql" : path;
}

static int open_store(struct store **store, int apply_schema)
{
	char err[1024];
	int ret;

	ret = store_open(&env.store, store, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		return ret;
	}
	if (!apply_schema)
		return 0;
	ret = migrate_apply(*store, &env.migrate, err, sizeof(err));
	if (ret < 0) {
		pr_warn("schema: %s\n", err);
		store_close(*store);
		*store = NULL;
		return ret;
	}
	return 0;
}

/* --- ingest ------------------------------------------------------------------------------- */

struct collector {
	struct store *store;
	struct ingest *ingest;
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *offsets;	/* consumed, not yet committed */
	struct metrics_server *metrics;
	pthread_mutex_t lock;
	struct ingest_stats snapshot;
	int64_t lag;
	uint64_t commits;
	uint64_t started_ms;
};

static void snapshot(struct collector *c);

/* Inserts what waits, retrying until it is stored or a stop is asked for; then commits. */
static int flush_and_commit(struct collector *c)
{
	uint32_t retry_ms = 500;
	char err[1024];

	while (ingest_flush(c->ingest, err, sizeof(err))) {
		pr_warn("insert failed, retrying in %u ms: %s\n", retry_ms, err);
		if (stop_requested)
			return -EIO;
		usleep(retry_ms * 1000);
		if (c->rk)
			rd_kafka_poll(c->rk, 0);
		retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
	}
	if (c->rk && c->offsets && c->offsets->cnt) {
		rd_kafka_resp_err_t kerr = rd_kafka_commit(c->rk, c->offsets, 0);

		if (kerr)
			pr_warn("kafka: committing offsets failed: %s (the batches are stored; "
				"they will be skipped when read again)\n", rd_kafka_err2str(kerr));
		else
			c->commits++;
		rd_kafka_topic_partition_list_destroy(c->offsets);
		c->offsets = rd_kafka_topic_partition_list_new(8);
	}
	if (c->metrics)
		snapshot(c);
	return 0;
}

static void snapshot(struct collector *c)
{
	struct ingest_stats stats;
	int64_t lag = -1;

	ingest_get_stats(c->ingest, &stats);
	if (c->rk) {
		rd_kafka_topic_partition_list_t *assigned = NULL;

		if (!rd_kafka_assignment(c->rk, &assigned) && assigned) {
			int i;

			rd_kafka_position(c->rk, assigned);
			lag = 0;
			for (i = 0; i < assigned->cnt; i++) {
				int64_t low, high;
				rd_kafka_topic_partition_t *p = &assigned->elems[i];

				if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low,
								   &high))
					continue;
				if (p->offset >= 0 && high > p->offset)
					lag += high - p->offset;
				else if (p->offset < 0 && high > low)
					lag += high - low;
			}
			rd_kafka_topic_partition_list_destroy(assigned);
		}
	}
	pthread_mutex_lock(&c->lock);
	c->snapshot = stats;
	c->lag = lag;
	pthread_mutex_unlock(&c->lock);
}

#define METRIC(p, end, ...) ((p) += snprintf((p), (size_t)((end) - (p)), __VA_ARGS__))

static size_t metrics_render(void *ctx, char *buf, size_t size)
{
	struct collector *c = ctx;
	struct ingest_stats s;
	char *p = buf, *end = buf + size;
	double uptime;
	int64_t lag;

	pthread_mutex_lock(&c->lock);
	s = c->snapshot;
	lag = c->lag;
	pthread_mutex_unlock(&c->lock);
	uptime = (double)(monotonic_ms() - c->started_ms) / 1000.0;
	METRIC(p, end,
	       "# HELP flowcollector_rows_inserted_total Flow rows stored.\n"
	       "# TYPE flowcollector_rows_inserted_total counter\n"
	       "flowcollector_rows_inserted_total %" PRIu64 "\n"
	       "# HELP flowcollector_rows_per_second Rows stored per second since start.\n"
	       "# TYPE flowcollector_rows_per_second gauge\n"
	       "flowcollector_rows_per_second %.1f\n"
	       "# HELP flowcollector_inserts_total Inserts into ClickHouse.\n"
	       "# TYPE flowcollector_inserts_total counter\n"
	       "flowcollector_inserts_total %" PRIu64 "\n"
	       "# HELP flowcollector_insert_failures_total Inserts that failed (and were retried).\n"
	       "# TYPE flowcollector_insert_failures_total counter\n"
	       "flowcollector_insert_failures_total %" PRIu64 "\n"
	       "# HELP flowcollector_batch_rows Rows in the last insert.\n"
	       "# TYPE flowcollector_batch_rows gauge\n"
	       "flowcollector_batch_rows %" PRIu64 "\n"
	       "# HELP flowcollector_insert_seconds_last Duration of the last insert.\n"
	       "# TYPE flowcollector_insert_seconds_last gauge\n"
	       "flowcollector_insert_seconds_last %.6f\n"
	       "# HELP flowcollector_insert_seconds_total Time spent inserting.\n"
	       "# TYPE flowcollector_insert_seconds_total counter\n"
	       "flowcollector_insert_seconds_total %.6f\n"
	       "# HELP flowcollector_records_rejected_total Records with impossible values or "
	       "unreadable JSON, skipped.\n"
	       "# TYPE flowcollector_records_rejected_total counter\n"
	       "flowcollector_records_rejected_total %" PRIu64 "\n"
	       "# HELP flowcollector_messages_rejected_total Messages the wire decoder rejected.\n"
	       "# TYPE flowcollector_messages_rejected_total counter\n"
	       "flowcollector_messages_rejected_total %" PRIu64 "\n"
	       "# HELP flowcollector_duplicate_batches_total Batches stored before, skipped.\n"
	       "# TYPE flowcollector_duplicate_batches_total counter\n"
	       "flowcollector_duplicate_batches_total %" PRIu64 "\n"
	       "# HELP flowcollector_batches_missing Batches missing from agents' sequences.\n"
	       "# TYPE flowcollector_batches_missing gauge\n"
	       "flowcollector_batches_missing %" PRIu64 "\n"
	       "# HELP flowcollector_agent_restarts_total Agent restarts seen in sequences.\n"
	       "# TYPE flowcollector_agent_restarts_total counter\n"
	       "flowcollector_agent_restarts_total %" PRIu64 "\n"
	       "# HELP flowcollector_rows_pending Rows waiting for the next insert.\n"
	       "# TYPE flowcollector_rows_pending gauge\n"
	       "flowcollector_rows_pending %" PRIu64 "\n"
	       "# HELP flowcollector_consumer_lag Kafka messages not yet consumed, -1 unknown.\n"
	       "# TYPE flowcollector_consumer_lag gauge\n"
	       "flowcollector_consumer_lag %" PRId64 "\n",
	       s.rows_inserted, uptime > 0 ? (double)s.rows_inserted / uptime : 0.0, s.inserts,
	       s.insert_failures, s.last_insert_rows, (double)s.insert_ns_last / 1e9,
	       (double)s.insert_ns_total / 1e9, s.records_rejected, s.messages_rejected,
	       s.duplicate_batches, s.batches_missing, s.agent_restarts, s.pending_rows, lag);
	return p < end ? (size_t)(p - buf) : size - 1;
}

static void print_summary(struct collector *c, double seconds)
{
	struct ingest_stats s;

	ingest_get_stats(c->ingest, &s);
	fprintf(stderr,
		"flowcollector: summary\n"
		"  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n"
		"  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n"
		"  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n"
		"  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n"
		"  %-22s %.3f s (%.0f rows/s)\n",
		"messages", s.messages, "batches", s.batches, "rows_inserted", s.rows_inserted,
		"inserts", s.inserts, "records_rejected", s.records_rejected, "messages_rejected",
		s.messages_rejected, "duplicate_batches", s.duplicate_batches, "duplicate_rows",
		s.duplicate_rows, "batches_missing", s.batches_missing, "agent_restarts",
		s.agent_restarts, "agents", s.agents, "elapsed", seconds,
		seconds > 0 ? (double)s.rows_inserted / seconds : 0.0);
}

/* Reads wire batches (self-delimiting) or JSON lines from a file. */
static int ingest_file(struct collector *c, FILE *file, const char *name)
{
	char where[512], *line = NULL;
	size_t cap = 0, line_number = 0;
	uint8_t *batch = NULL;
	int first = fgetc(file), rejected = 0;
	ssize_t n;

	if (first == EOF)
		return 0;
	ungetc(first, file);
	if (first == 'F') {
		/* wire format: a header tells each batch's length */
		uint64_t offset = 0;

		for (;;) {
			uint8_t header[WIRE_HEADER_FIXED];
			uint32_t count;
			uint16_t header_len, record_size;
			size_t len;

			if (stop_requested)
				break;
			if (fread(header, 1, sizeof(header), file) != sizeof(header))
				break;
			memcpy(&header_len, header + 6, 2);
			memcpy(&record_size, header + 8, 2);
			memcpy(&count, header + 12, 4);
			len = (size_t)le16toh(header_len) + (size_t)le32toh(count) * le16toh(record_size);
			snprintf(where, sizeof(where), "%s: offset %" PRIu64, name, offset);
			if (memcmp(header, WIRE_MAGIC, 4) || le16toh(header_len) < WIRE_HEADER_FIXED ||
			    le32toh(count) > WIRE_MAX_RECORDS) {
				pr_warn("%s: not a flow batch; the rest of the file is skipped\n", where);
				rejected++;
				break;
			}
			batch = realloc(batch, len);
			if (!batch)
				return -ENOMEM;
			memcpy(batch, header, sizeof(header));
			if (fread(batch + sizeof(header), 1, len - sizeof(header), file) !=
			    len - sizeof(header)) {
				pr_warn("%s: truncated batch; skipped\n", where);
				rejected++;
				break;
			}
			if (ingest_add_wire(c->ingest, batch, len, where))
				rejected++;
			offset += len;
			if (ingest_due(c->ingest) && flush_and_commit(c))
				break;
		}
		free(batch);
	} else {
		while ((n = getline(&line, &cap, file)) >= 0 && !stop_requested) {
			line_number++;
			if (n && line[n - 1] == '\n')
				line[--n] = '\0';
			if (!n)
				continue;
			snprintf(where, sizeof(where), "%s:%zu", name, line_number);
			if (ingest_add_json(c->ingest, line, (size_t)n, where))
				rejected++;
			if (ingest_due(c->ingest) && flush_and_commit(c))
				break;
		}
		free(line);
	}
	return rejected;
}

static rd_kafka_t *kafka_consumer(char *err, size_t err_len)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *topics;
	const char *defaults[][2] = {
		{ "bootstrap.servers", env.kafka_brokers },
		{ "group.id", env.group },
		{ "enable.auto.commit", "false" },
		{ "auto.offset.reset", "earliest" },
		{ "fetch.message.max.bytes", "16777216" },
		{ "client.id", "flowcollector" },
	};
	char why[512];
	rd_kafka_t *rk;
	size_t i;
	int p;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], why, sizeof(why))) {
			snprintf(err, err_len, "Kafka property '%s': %s", defaults[i][0], why);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (env.kafka_config && kafka_conf_load_file(conf, env.kafka_config, err, err_len)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	for (p = 0; p < env.property_count; p++) {
		char *property = strdup(env.properties[p]), *eq = strchr(property, '=');

		*eq = '\0';
		if (rd_kafka_conf_set(conf, property, eq + 1, why, sizeof(why))) {
			snprintf(err, err_len, "-X: Kafka property '%s': %s", property, why);
			free(property);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
		free(property);
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!rk) {
		snprintf(err, err_len, "cannot create the Kafka consumer: %s", why);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, env.topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rk, topics)) {
		snprintf(err, err_len, "cannot subscribe to %s", env.topic);
		rd_kafka_topic_partition_list_destroy(topics);
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_topic_partition_list_destroy(topics);
	return rk;
}

/* The offset to commit for a partition: one entry each, moved forward as messages come. */
static void commit_offset(rd_kafka_topic_partition_list_t *offsets, const char *topic,
			  int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_t *entry =
		rd_kafka_topic_partition_list_find(offsets, topic, partition);

	if (!entry)
		entry = rd_kafka_topic_partition_list_add(offsets, topic, partition);
	entry->offset = offset;
}

static int ingest_kafka(struct collector *c)
{
	uint64_t last_message = monotonic_ms(), last_snapshot = 0;
	char err[1024], where[128];
	int ret = 0;

	c->rk = kafka_consumer(err, sizeof(err));
	if (!c->rk) {
		pr_warn("%s\n", err);
		return -EINVAL;
	}
	c->offsets = rd_kafka_topic_partition_list_new(8);
	pr_info("consuming %s from %s as group %s\n", env.topic, env.kafka_brokers, env.group);
	while (!stop_requested) {
		rd_kafka_message_t *message = rd_kafka_consumer_poll(c->rk, 100);
		uint64_t now = monotonic_ms();

		if (message) {
			if (message->err) {
				if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					pr_warn("kafka: %s\n", rd_kafka_message_errstr(message));
			} else {
				const char *topic = rd_kafka_topic_name(message->rkt);

				last_message = now;
				snprintf(where, sizeof(where), "%s partition %" PRId32 " offset %" PRId64,
					 topic, message->partition, message->offset);
				if (message->len && *(const char *)message->payload == '{') {
					const char *p = message->payload, *end = p + message->len;

					while (p < end) {
						const char *nl = memchr(p, '\n', (size_t)(end - p));
						size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

						if (len)
							ingest_add_json(c->ingest, p, len, where);
						p += len + 1;
					}
				} else {
					ingest_add_wire(c->ingest, message->payload, message->len, where);
				}
				commit_offset(c->offsets, topic, message->partition,
					      message->offset + 1);
			}
			rd_kafka_message_destroy(message);
		}
		if (ingest_due(c->ingest) || (c->offsets->cnt && !message)) {
			if (ingest_due(c->ingest) || now - last_message >= 200) {
				ret = flush_and_commit(c);
				if (ret)
					break;
			}
		}
		if (now - last_snapshot >= 1000) {
			snapshot(c);
			last_snapshot = now;
		}
		if (env.exit_idle_ms && now - last_message >= env.exit_idle_ms) {
			pr_info("no message for %u ms; exiting\n", env.exit_idle_ms);
			break;
		}
	}
	if (!ret)
		ret = flush_and_commit(c);
	rd_kafka_consumer_close(c->rk);
	rd_kafka_topic_partition_list_destroy(c->offsets);
	rd_kafka_destroy(c->rk);
	c->rk = NULL;
	return ret;
}

static int run_ingest(void)
{
	struct collector c = { .started_ms = monotonic_ms() };
	char err[1024];
	int ret, rejected = 0, status = EXIT_OK;

	if (!env.kafka_brokers && !env.input) {
		pr_warn("nothing to ingest: give --kafka BROKERS or --input FILE (see --help)\n");
		return EXIT_USAGE;
	}
	if (env.kafka_brokers && env.input) {
		pr_warn("--kafka and --input exclude each other\n");
		return EXIT_USAGE;
	}
	pthread_mutex_init(&c.lock, NULL);
	if (open_store(&c.store, 1))
		return EXIT_FAILURE_RUNTIME;
	ret = ingest_open(c.store, &env.ingest, &c.ingest, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		store_close(c.store);
		return EXIT_FAILURE_RUNTIME;
	}
	snapshot(&c);
	if (env.metrics && metrics_server_start(&env.metrics_address, metrics_render, &c, &c.metrics))
		pr_warn("cannot serve metrics on the address given\n");

	if (env.input) {
		FILE *file = strcmp(env.input, "-") ? fopen(env.input, "re") : input_stdin;

		if (!file) {
			pr_warn("--input %s: %s\n", env.input, strerror(errno));
			status = EXIT_USAGE;
		} else {
			rejected = ingest_file(&c, file, strcmp(env.input, "-") ? env.input : "stdin");
			if (file != input_stdin)
				fclose(file);
			if (rejected < 0 || flush_and_commit(&c))
				status = EXIT_FAILURE_RUNTIME;
			else if (rejected)
				status = EXIT_INPUT_ERROR;
		}
	} else {
		ret = ingest_kafka(&c);
		if (ret)
			status = ret == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
	}
	metrics_server_stop(c.metrics);
	print_summary(&c, (double)(monotonic_ms() - c.started_ms) / 1000.0);
	ingest_close(c.ingest);
	store_close(c.store);
	return status;
}

/* --- the other commands -------------------------------------------------------------------- */

static int run_migrate(void)
{
	struct store *store;

	if (open_store(&store, 1))
		return EXIT_FAILURE_RUNTIME;
	fprintf(stderr, "flowcollector: schema of %s is up to date\n", store_describe(store));
	store_close(store);
	return EXIT_OK;
}

struct geo_loader {
	uint8_t *rows;
	size_t len, cap;
	uint64_t count;
};

static int geo_collect(void *ctx, const struct geo_prefix *prefix)
{
	struct geo_loader *loader = ctx;

	if (geo_rowbinary_append(&loader->rows, &loader->len, &loader->cap, prefix))
		return -ENOMEM;
	loader->count++;
	return 0;
}

/*
 * The region rollups of every day still in flows.raw, again with the new geolocation: each
 * day's partitions are replaced whole. Older days keep the regions they were stored with.
 */
static int rebuild_regions(struct store *store, char *err, size_t err_len)
{
	static const char *const tables[] = { "region_1d", "region_1m" };
	/* region_1d follows region_1m through its materialized view */
	static const char *const insert =
		"INSERT INTO flows.region_1m SELECT toStartOfMinute(first_seen) AS minute, side, "
		"dictGet('flows.geo', 'country_code', if(side = 'src', src_addr, dst_addr)) AS cc, "
		"sum(bytes), sum(packets), count() FROM flows.raw "
		"ARRAY JOIN ['src', 'dst'] AS side "
		"GROUP BY minute, side, cc SETTINGS insert_deduplicate = 0, "
		"max_partitions_per_insert_block = 0";
	char *days = NULL, *day, *save = NULL, sql[256];
	size_t t;
	int ret;

	ret = store_query(store, "SELECT DISTINCT toYYYYMMDD(first_seen) FROM flows.raw", "TSV",
			  &days, NULL, err, err_len);
	for (day = ret ? NULL : strtok_r(days, "\n", &save); day && !ret;
	     day = strtok_r(NULL, "\n", &save)) {
		for (t = 0; t < sizeof(tables) / sizeof(tables[0]) && !ret; t++) {
			snprintf(sql, sizeof(sql), "ALTER TABLE flows.%s DROP PARTITION ID '%.8s'",
				 tables[t], day);
			ret = store_exec(store, sql, err, err_len);
		}
	}
	free(days);
	if (!ret)
		ret = store_exec(store, insert, err, err_len);
	return ret;
}

static int run_geo(void)
{
	struct geo_loader loader = { 0 };
	struct store *store;
	char err[1024];
	int i, status = EXIT_OK;

	if (env.arg_count < 3 || strcmp(env.args[1], "load")) {
		pr_warn("usage: flowcollector geo load FILE...\n");
		return EXIT_USAGE;
	}
	for (i = 2; i < env.arg_count; i++) {
		struct geo_stats stats = { 0 };

		if (geo_load_file(env.args[i], env.tzdata, geo_collect, &loader, &stats, err,
				  sizeof(err))) {
			pr_warn("%s\n", err);
			free(loader.rows);
			return EXIT_INPUT_ERROR;
		}
		fprintf(stderr, "flowcollector: %s: %s, %" PRIu64 " ranges, %" PRIu64 " prefixes, "
			"%" PRIu64 " unknown skipped, %" PRIu64 " malformed skipped\n", env.args[i],
			stats.format, stats.ranges, stats.prefixes, stats.skipped_unknown,
			stats.skipped_malformed);
		if (stats.skipped_malformed)
			status = EXIT_INPUT_ERROR;
	}
	if (open_store(&store, 1)) {
		free(loader.rows);
		return EXIT_FAILURE_RUNTIME;
	}
	if (store_exec(store, "TRUNCATE TABLE flows.geo_ranges", err, sizeof(err)) ||
	    store_insert_rowbinary(store, "INSERT INTO flows.geo_ranges (prefix, country_code, "
				   "country_name, latitude, longitude) SETTINGS insert_deduplicate = 0",
				   loader.rows, loader.len, err, sizeof(err)) ||
	    store_exec(store, "SYSTEM RELOAD DICTIONARY flows.geo", err, sizeof(err)) ||
	    store_exec(store, "TRUNCATE TABLE flows.countries", err, sizeof(err)) ||
	    store_exec(store, "INSERT INTO flows.countries SELECT country_code, any(country_name), "
			      "any(latitude), any(longitude) FROM flows.geo_ranges GROUP BY "
			      "country_code SETTINGS insert_deduplicate = 0", err, sizeof(err)) ||
	    rebuild_regions(store, err, sizeof(err))) {
		pr_warn("loading geolocation into %s: %s\n", store_describe(store), err);
		status = EXIT_FAILURE_RUNTIME;
	} else {
		fprintf(stderr, "flowcollector: %" PRIu64 " prefixes loaded into flows.geo_ranges; "
			"region rollups rebuilt\n", loader.count);
	}
	free(loader.rows);
	store_close(store);
	return status;
}

static int run_query(void)
{
	const struct view_info *view;
	struct view_table table;
	struct store *store;
	char err[1024];
	double seconds;
	int i;

	if (env.arg_count != 2) {
		pr_warn("usage: flowcollector query VIEW (or: query list)\n");
		return EXIT_USAGE;
	}
	if (!strcmp(env.args[1], "list")) {
		for (i = 0; i < view_count; i++)
			printf("%-26s %s\n", view_list[i].name, view_list[i].title);
		return EXIT_OK;
	}
	view = view_find(env.args[1]);
	if (!view) {
		pr_warn("no view '%s'; `flowcollector query list` names them\n", env.args[1]);
		return EXIT_USAGE;
	}
	if (open_store(&store, 1))
		return EXIT_FAILURE_RUNTIME;
	if (view_run(store, env.migrate.sql_dir, view, env.from, env.to, &table, &seconds, err,
		     sizeof(err))) {
		pr_warn("%s: %s\n", view->name, err);
		store_close(store);
		return EXIT_FAILURE_RUNTIME;
	}
	if (env.tsv)
		view_print_tsv(stdout, &table);
	else
		view_print(stdout, &table);
	pr_info("%s: %d rows in %.3f s\n", view->name, table.row_count, seconds);
	view_table_free(&table);
	store_close(store);
	return EXIT_OK;
}

static int run_sql(void)
{
	struct store *store;
	char err[1024], *result = NULL;
	size_t len = 0;
	int status = EXIT_OK;
	uint64_t started;

	if (env.arg_count != 2) {
		pr_warn("usage: flowcollector sql QUERY\n");
		return EXIT_USAGE;
	}
	if (open_store(&store, 1))
		return EXIT_FAILURE_RUNTIME;
	started = monotonic_ms();
	if (store_query(store, env.args[1], "TSV", &result, &len, err, sizeof(err))) {
		pr_warn("%s\n", err);
		status = EXIT_FAILURE_RUNTIME;
	} else {
		fwrite(result, 1, len, stdout);
		pr_info("done in %.3f s\n", (double)(monotonic_ms() - started) / 1000.0);
	}
	free(result);
	store_close(store);
	return status;
}

static int run_report(void)
{
	struct view_table tables[16];
	char err[1024], range[128], from_text[32], to_text[32];
	struct store *store;
	FILE *out;
	int i, ret, status = EXIT_OK;

	if (!env.html) {
		pr_warn("usage: flowcollector report --html FILE\n");
		return EXIT_USAGE;
	}
	if (open_store(&store, 1))
		return EXIT_FAILURE_RUNTIME;
	for (i = 0; i < view_count; i++) {
		if (view_run(store, env.migrate.sql_dir, &view_list[i], env.from, env.to, &tables[i],
			     NULL, err, sizeof(err))) {
			pr_warn("%s: %s\n", view_list[i].name, err);
			status = EXIT_FAILURE_RUNTIME;
			tables[i].row_count = 0;
		}
	}
	store_close(store);
	{
		time_t from = (time_t)env.from, to = (time_t)env.to;

		strftime(from_text, sizeof(from_text), "%Y-%m-%d %H:%M", gmtime(&from));
		strftime(to_text, sizeof(to_text), "%Y-%m-%d %H:%M", gmtime(&to));
		if (env.from == 0 && env.to == TIME_END)
			snprintf(range, sizeof(range), "all stored flows");
		else
			snprintf(range, sizeof(range), "%s to %s UTC", from_text, to_text);
	}
	out = fopen(env.html, "we");
	if (!out) {
		pr_warn("--html %s: %s\n", env.html, strerror(errno));
		status = EXIT_FAILURE_RUNTIME;
	} else {
		ret = report_write_html(out, "flowagent network report", range, tables, view_count);
		if (fclose(out) || ret) {
			pr_warn("writing %s failed\n", env.html);
			status = EXIT_FAILURE_RUNTIME;
		} else {
			fprintf(stderr, "flowcollector: report written to %s\n", env.html);
		}
	}
	for (i = 0; i < view_count; i++)
		view_table_free(&tables[i]);
	return status;
}

/* fd 0 becomes /dev/null; input_stdin reads what fd 0 was. */
static int hide_stdin_from_chdb(void)
{
	int saved = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), null;

	if (saved < 0)
		return errno == EBADF ? 0 : -1;
	null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0)
		return -1;
	close(null);
	input_stdin = fdopen(saved, "r");
	return input_stdin ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sigaction stop = { .sa_handler = on_stop_signal };
	const char *command;
	int status;

	log_set_program("flowcollector");
	argp_err_exit_status = EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return EXIT_USAGE;
	log_set_level(env.verbosity >= 2 ? LOG_LEVEL_DEBUG
					 : env.verbosity ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	default_sql_dir();
	/* SIGINT/SIGTERM only set a flag: the store is always closed on the way out */
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(store_close_all);
	if (hide_stdin_from_chdb()) {
		pr_warn("cannot set standard input aside: %s\n", strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}

	command = env.arg_count ? env.args[0] : "ingest";
	if (!strcmp(command, "ingest"))
		status = run_ingest();
	else if (!strcmp(command, "migrate"))
		status = run_migrate();
	else if (!strcmp(command, "geo"))
		status = run_geo();
	else if (!strcmp(command, "query"))
		status = run_query();
	else if (!strcmp(command, "report"))
		status = run_report();
	else if (!strcmp(command, "sql"))
		status = run_sql();
	else {
		pr_warn("unknown command '%s' (see --help)\n", command);
		status = EXIT_USAGE;
	}
	return status;
}
