// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flowagent: the command line. Live capture on interfaces (the default), or replay of
 * captures (--replay), both with the same parser, flow record and output.
 */
#include <argp.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "agent_id.h"
#include "bpf_log.h"
#include "kafka_check.h"
#include "kafka_export.h"
#include "live.h"
#include "map_budget.h"
#include "log.h"
#include "metrics_http.h"
#include "options_env.h"
#include "parse.h"
#include "replay.h"
#include "wire.h"

#define DEFAULT_IDLE_TIMEOUT_S	 15 /* NetFlow's usual inactive timeout */
#define DEFAULT_ACTIVE_TIMEOUT_S 60 /* the 1-minute active timeout most deployments use */
#define DEFAULT_MAX_FLOWS	 MAP_BUDGET_MAX_DEFAULT_FLOWS
#define DEFAULT_DRAIN_MS	 1000
#define MAX_TIMEOUT_S		 (7 * 24 * 3600)
#define DEFAULT_BATCH_RECORDS	 10000
#define DEFAULT_BATCH_BYTES	 (960u << 10) /* under Kafka's default 1 MB message limit */
#define DEFAULT_BATCH_MS	 1000
#define DEFAULT_QUEUE_BYTES	 (64u << 20)
#define DEFAULT_SPOOL_BYTES	 (1ull << 30)
#define DEFAULT_FLUSH_TIMEOUT_MS 30000
#define KAFKA_CHECK_TIMEOUT_MS	 10000

/* Long options without a short letter. */
enum {
	OPT_TOPIC = 256,
	OPT_KAFKA_FORMAT,
	OPT_COMPRESSION,
	OPT_KAFKA_CONFIG,
	OPT_AGENT_ID,
	OPT_BATCH_RECORDS,
	OPT_BATCH_BYTES,
	OPT_BATCH_MS,
	OPT_QUEUE_MAX_BYTES,
	OPT_SPOOL_DIR,
	OPT_SPOOL_MAX_BYTES,
	OPT_FLUSH_TIMEOUT,
	OPT_SPEED,
	OPT_CHECK,
	OPT_LEGACY_ATTACH,
};

static struct env {
	int replay;
	struct replay_options replay_options;
	enum attach_xdp_mode xdp_mode;
	int legacy_attach;
	uint32_t drain_interval_ms;
	struct sockaddr_storage metrics_address;
	int metrics;
	int verbosity;
	int no_progress;
	int kafka;
	int kafka_check;
	struct kafka_export_config kafka_config;
	int flush_timeout_ms;
	int max_flows_given;
} env = {
	.drain_interval_ms = DEFAULT_DRAIN_MS,
	.flush_timeout_ms = DEFAULT_FLUSH_TIMEOUT_MS,
	.kafka_config = {
		.topic = "flows",
		.compression = "lz4",
		.batch_records = DEFAULT_BATCH_RECORDS,
		.batch_bytes = DEFAULT_BATCH_BYTES,
		.batch_ms = DEFAULT_BATCH_MS,
		.queue_max_bytes = DEFAULT_QUEUE_BYTES,
		.spool_max_bytes = DEFAULT_SPOOL_BYTES,
	},
	.replay_options = {
		.engine = REPLAY_ENGINE_USER,
		.engine_config = {
			.idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_S * 1000000000ULL,
			.active_timeout_ns = DEFAULT_ACTIVE_TIMEOUT_S * 1000000000ULL,
			.sampling = 1,
			.max_flows = DEFAULT_MAX_FLOWS,
		},
	},
};

const char *argp_program_version = "flowagent 0.1";

static const char doc[] =
	"flowagent: exact network flow records from packets, with one parser shared by an XDP "
	"program and userspace.\v"
	"Live mode (flowagent IFACE...) attaches an XDP program on ingress (native mode, falling "
	"back to generic SKB mode) and a TC program on egress of each interface, through BPF "
	"links (TCX for TC) that the kernel removes when the agent exits, however it exits, and "
	"writes one JSON flow record per line to standard output: a record when a "
	"flow has been idle for the idle timeout, every active timeout for long flows, and at the "
	"next drain after a TCP FIN or RST. Records carry what their key saw since its previous "
	"record, so the records of a key sum to its exact totals; timestamps are the wall clock. "
	"SIGINT, SIGTERM or SIGHUP exports everything still in the maps and detaches every "
	"program. "
	"Needs root, or exactly CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; once attached it keeps "
	"only CAP_NET_ADMIN (to attach again an interface that comes back).\n"
	"\n"
	"Replay mode reads pcap or pcapng captures (microsecond or nanosecond, either byte order, "
	"several interfaces and sections), plain or gzip-compressed (.pcap.gz as MAWI publishes "
	"them), or '-' for standard input, and writes one JSON flow record per line to standard "
	"output: src_addr, dst_addr, src_port, dst_port, proto, vlan, packets, bytes (L3), "
	"tcp_flags, first_seen_ns, last_seen_ns, sampling. A summary of every counter goes to "
	"standard error at the end, and a progress line while it runs on a terminal.\n"
	"\n"
	"Records are split on packet time by the idle and active timeouts; the records of a key "
	"sum "
	"to its exact totals. Frames that are not flows (non-IP, unsupported link types, malformed "
	"IP) are counted by reason in the summary, never silently dropped.\n"
	"\n"
	"KAFKA: --kafka BROKERS sends the records to Kafka instead, in batches "
	"(docs/wire-format.md) "
	"keyed by the agent id, through librdkafka's idempotent producer. Batches Kafka cannot "
	"take "
	"wait in memory, then in --spool-dir, and are sent again in order; only a full spool drops "
	"records, and every dropped record is counted. TLS, SASL and secrets go in --kafka-config "
	"FILE, never in -X.\n"
	"\n"
	"ENGINES:\n"
	"  user     the shared parser in this process (default, fastest)\n"
	"  kernel   every packet through the real XDP program via BPF_PROG_TEST_RUN (needs root)\n"
	"\n"
	"SIGNALS: SIGINT, SIGTERM and SIGHUP stop gracefully, in both modes: stop reading, export "
	"the flows read, flush Kafka (--flush-timeout) or spool what it did not take, detach, print "
	"the summary. During that flush one more signal says what is awaited, and another stops "
	"waiting (the rest is spooled, or dropped and counted). Replay from a pipe on standard "
	"input ('-') reads on to the end of the input after a first SIGINT, since Ctrl-C stops its "
	"writer (tcpdump) too; a second signal, or SIGTERM or SIGHUP, stops at once.\n"
	"\n"
	"EXIT STATUS:\n"
	"  0  every input was read; a truncated last record is only a warning\n"
	"  1  could not run: no such interface, missing privileges or BTF, a foreign XDP program "
	"on\n"
	"     the interface, BPF load failure, out of memory, output write error; records dropped\n"
	"     for Kafka; --check: brokers or topic not usable\n"
	"  2  bad command line\n"
	"  3  an input could not be opened, was corrupt (an unsupported pcap or pcapng version, a "
	"packet time before 1970 or past 2262 included) or shrank while it was read; the flows "
	"read before it, and all other inputs, were still written; or every frame read had a link "
	"type this agent does not decode\n"
	"  4  replay stopped by a signal before the end of its input; the flows of the packets read "
	"were written (a live capture stopped by a signal exits 0)\n"
	"\n"
	"EXAMPLES:\n"
	"  sudo flowagent eth0 > flows.json\n"
	"      capture on eth0 until Ctrl-C\n"
	"  sudo flowagent --xdp-mode skb --max-flows 65536 -v eth0 eth1\n"
	"      two interfaces, generic XDP, a smaller map, statistics every 10 s on stderr\n"
	"  sudo flowagent --metrics 9465 eth0 > flows.json\n"
	"      and Prometheus metrics on http://127.0.0.1:9465/metrics\n"
	"  flowagent --replay 202601051400.pcap.gz > flows.json\n"
	"      replay a MAWI trace as it is published\n"
	"  flowagent --replay day1.pcap.gz day2.pcap.gz > flows.json\n"
	"      several captures, metered as one stream of packets\n"
	"  tcpdump -i eth0 -s 96 -w - | flowagent --replay -\n"
	"      replay from standard input\n"
	"  sudo flowagent --replay --engine kernel capture.pcapng\n"
	"      the same records, through the XDP program in the kernel\n"
	"  flowagent --replay --idle-timeout 30 --active-timeout 300 trace.pcap\n"
	"      longer records\n"
	"  flowagent --kafka k1:9092 --topic flows --check\n"
	"      do the brokers answer, and does the topic exist?\n"
	"  sudo flowagent --kafka k1:9092 --kafka-config kafka.properties \\\n"
	"       --spool-dir /var/lib/flowagent/spool eth0\n"
	"      live capture into Kafka, with an on-disk spool for outages\n"
	"  flowagent --replay --speed 1 --kafka k1:9092 202601051400.pcap.gz\n"
	"      a trace as a live feed, at capture speed\n";

static const struct argp_option options[] = {
	{ "replay", 'r', NULL, 0, "Replay the capture files given as arguments ('-' = stdin)", 0 },
	{ "engine", 'e', "ENGINE", 0, "Replay engine: user (default) or kernel", 0 },
	{ "idle-timeout", 'i', "SECONDS", 0,
	  "End a record after this much packet time without packets (default 15, 0 = never)", 0 },
	{ "active-timeout", 'a', "SECONDS", 0,
	  "End a record this long after its first packet (default 60, 0 = never)", 0 },
	{ "sample", 's', "N", 0, "Meter 1 packet in N at random (default 1 = every packet)", 0 },
	{ "max-flows", 'm', "N", 0,
	  "Size of the kernel flow map (default 262144, or what fits the maps in 256 MiB of "
	  "kernel memory on a node with many CPUs)",
	  0 },
	{ "xdp-mode", 'x', "MODE", 0,
	  "Live: native or skb (default: native, falling back to skb with a warning)", 0 },
	{ "legacy-attach", OPT_LEGACY_ATTACH, NULL, 0,
	  "Live: attach XDP through netlink and TC to a clsact qdisc instead of BPF links (what "
	  "kernels before 5.9 and 6.6 get anyway); a killed agent then leaves them attached",
	  0 },
	{ "drain-interval", 'D', "MS", 0,
	  "Live: read the flow map every MS milliseconds (default 1000)", 0 },
	{ "metrics", 'M', "[ADDR:]PORT", 0,
	  "Live: serve Prometheus metrics on /metrics (off by default; 127.0.0.1 unless ADDR)", 0 },
	{ "no-progress", 'P', NULL, 0, "No progress line, even on a terminal", 0 },
	{ "speed", OPT_SPEED, "X", 0,
	  "Replay: pace packets at X times trace time (1 = as captured) instead of at full speed",
	  0 },
	{ NULL, 0, NULL, 0, "Kafka export (instead of JSON on standard output):", 1 },
	{ "kafka", 'k', "BROKERS", 0, "Produce records to these brokers (host:port,...)", 1 },
	{ "topic", OPT_TOPIC, "TOPIC", 0, "Kafka topic (default flows)", 1 },
	{ "kafka-format", OPT_KAFKA_FORMAT, "FORMAT", 0,
	  "binary (the wire format, default) or json (JSONEachRow, for ClickHouse's Kafka engine)",
	  1 },
	{ "compression", OPT_COMPRESSION, "CODEC", 0, "lz4 (default), zstd, gzip, snappy or none",
	  1 },
	{ "kafka-config", OPT_KAFKA_CONFIG, "FILE", 0,
	  "librdkafka properties, key=value lines: TLS, SASL and every secret go here", 1 },
	{ "kafka-property", 'X', "KEY=VALUE", 0,
	  "One librdkafka property (never a secret; repeatable)", 1 },
	{ "agent-id", OPT_AGENT_ID, "ID", 0,
	  "This agent's name in every batch (default: host name)", 1 },
	{ "batch-records", OPT_BATCH_RECORDS, "N", 0, "Records per Kafka message, at most (10000)",
	  1 },
	{ "batch-bytes", OPT_BATCH_BYTES, "BYTES", 0, "Bytes per Kafka message, at most (960K)",
	  1 },
	{ "batch-ms", OPT_BATCH_MS, "MS", 0,
	  "Send a message this long after its first record (1000)", 1 },
	{ "queue-max-bytes", OPT_QUEUE_MAX_BYTES, "BYTES", 0,
	  "In-memory queue: bytes sent and not yet acknowledged, at most (64M)", 1 },
	{ "spool-dir", OPT_SPOOL_DIR, "DIR", 0,
	  "Keep batches Kafka cannot take in DIR, and send them when it can (default: none)", 1 },
	{ "spool-max-bytes", OPT_SPOOL_MAX_BYTES, "BYTES", 0, "Spool size limit (1G)", 1 },
	{ "flush-timeout", OPT_FLUSH_TIMEOUT, "SECONDS", 0,
	  "At exit, wait this long for Kafka before spooling what is left (30)", 1 },
	{ "check", OPT_CHECK, NULL, 0,
	  "Check that the brokers answer and the topic exists, print them, and exit", 1 },
	{ NULL, 0, NULL, 0, "General:", 2 },
	{ "verbose", 'v', NULL, 0, "More messages; twice for libbpf debug output", 0 },
	{},
};

static void add_property(struct argp_state *state, const char *arg)
{
	char why[512];
	int err = kafka_properties_add(&env.kafka_config.properties, arg, why, sizeof(why));

	if (err == -ENOMEM)
		argp_failure(state, EXIT_FAILURE_RUNTIME, ENOMEM, "-X");
	else if (err)
		argp_error(state, "%s", why);
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct kafka_export_config *kafka = &env.kafka_config;
	uint64_t bytes;
	struct replay_engine_config *config = &env.replay_options.engine_config;

	switch (key) {
	case 'r':
		env.replay = 1;
		break;
	case 'e':
		if (!strcmp(arg, "user"))
			env.replay_options.engine = REPLAY_ENGINE_USER;
		else if (!strcmp(arg, "kernel"))
			env.replay_options.engine = REPLAY_ENGINE_KERNEL;
		else
			argp_error(state, "--engine: '%s' is not user or kernel", arg);
		break;
	case 'i':
		if (parse_seconds(arg, MAX_TIMEOUT_S, &config->idle_timeout_ns))
			argp_error(state,
				   "--idle-timeout: '%s' is not a number of seconds in [0, %d]",
				   arg, MAX_TIMEOUT_S);
		break;
	case 'a':
		if (parse_seconds(arg, MAX_TIMEOUT_S, &config->active_timeout_ns))
			argp_error(state,
				   "--active-timeout: '%s' is not a number of seconds in [0, %d]",
				   arg, MAX_TIMEOUT_S);
		break;
	case 's':
		if (parse_u32(arg, 1, 1u << 24, &config->sampling))
			argp_error(state, "--sample: '%s' is not an integer in [1, %u]", arg,
				   1u << 24);
		break;
	case 'm':
		if (parse_u32(arg, 1, 1u << 28, &config->max_flows))
			argp_error(state, "--max-flows: '%s' is not an integer in [1, %u]", arg,
				   1u << 28);
		env.max_flows_given = 1;
		break;
	case 'x':
		if (!strcmp(arg, "native"))
			env.xdp_mode = ATTACH_XDP_NATIVE;
		else if (!strcmp(arg, "skb"))
			env.xdp_mode = ATTACH_XDP_SKB;
		else
			argp_error(state, "--xdp-mode: '%s' is not native or skb", arg);
		break;
	case OPT_LEGACY_ATTACH:
		env.legacy_attach = 1;
		break;
	case 'D':
		if (parse_u32(arg, 10, 3600000, &env.drain_interval_ms))
			argp_error(state,
				   "--drain-interval: '%s' is not milliseconds in [10, 3600000]",
				   arg);
		break;
	case 'M': {
		char why[256];

		if (metrics_parse_address(arg, &env.metrics_address, why, sizeof(why)))
			argp_error(state, "--metrics: %s", why);
		env.metrics = 1;
		break;
	}
	case 'P':
		env.no_progress = 1;
		break;
	case OPT_SPEED: {
		char *end;

		errno = 0;
		env.replay_options.speed = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(env.replay_options.speed) ||
		    env.replay_options.speed < 0.001 || env.replay_options.speed > 1e6)
			argp_error(state, "--speed: '%s' is not a number in [0.001, 1000000]", arg);
		break;
	}
	case 'k':
		env.kafka = 1;
		kafka->brokers = arg;
		break;
	case OPT_TOPIC:
		if (!*arg || strlen(arg) > 249 ||
		    arg[strspn(arg, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")])
			argp_error(state,
				   "--topic '%s': Kafka topics are 1 to 249 letters, digits, '.', "
				   "'_' or '-'",
				   arg);
		kafka->topic = arg;
		break;
	case OPT_KAFKA_FORMAT:
		if (!strcmp(arg, "binary"))
			kafka->format = KAFKA_FORMAT_BINARY;
		else if (!strcmp(arg, "json"))
			kafka->format = KAFKA_FORMAT_JSON;
		else
			argp_error(state, "--kafka-format: '%s' is not binary or json", arg);
		break;
	case OPT_COMPRESSION:
		kafka->compression = arg;
		break;
	case OPT_KAFKA_CONFIG:
		kafka->properties_file = arg;
		break;
	case 'X':
		add_property(state, arg);
		break;
	case OPT_AGENT_ID:
		/* checked here, so that an error names its origin (FLOWAGENT_AGENT_ID, a file) */
		if (!agent_id_valid(arg, strlen(arg))) {
			char escaped[AGENT_ID_ESCAPED_MAX];

			agent_id_escape(arg, strlen(arg), escaped, sizeof(escaped));
			argp_error(state, "--agent-id '%s': use " AGENT_ID_RULE, escaped);
		}
		kafka->agent_id = arg;
		break;
	case OPT_BATCH_RECORDS:
		if (parse_u32(arg, 1, WIRE_MAX_RECORDS, &kafka->batch_records))
			argp_error(state, "--batch-records: '%s' is not an integer in [1, %u]", arg,
				   WIRE_MAX_RECORDS);
		break;
	case OPT_BATCH_BYTES:
		if (parse_bytes(arg, 4096, 64u << 20, &bytes))
			argp_error(state, "--batch-bytes: '%s' is not a size in [4K, 64M]", arg);
		kafka->batch_bytes = (size_t)bytes;
		break;
	case OPT_BATCH_MS:
		if (parse_u32(arg, 1, 3600000, &kafka->batch_ms))
			argp_error(state, "--batch-ms: '%s' is not milliseconds in [1, 3600000]",
				   arg);
		break;
	case OPT_QUEUE_MAX_BYTES:
		if (parse_bytes(arg, 4096, 1ull << 40, &bytes))
			argp_error(state, "--queue-max-bytes: '%s' is not a size in [4K, 1T]", arg);
		kafka->queue_max_bytes = (size_t)bytes;
		break;
	case OPT_SPOOL_DIR:
		kafka->spool_dir = arg;
		break;
	case OPT_SPOOL_MAX_BYTES:
		if (parse_bytes(arg, 0, 1ull << 50, &kafka->spool_max_bytes))
			argp_error(state,
				   "--spool-max-bytes: '%s' is not a size (K, M, G suffixes)", arg);
		break;
	case OPT_FLUSH_TIMEOUT: {
		uint64_t ns;

		if (parse_seconds(arg, MAX_TIMEOUT_S, &ns) || ns > 3600 * 1000000000ULL)
			argp_error(state, "--flush-timeout: '%s' is not seconds in [0, 3600]", arg);
		env.flush_timeout_ms = (int)(ns / 1000000);
		break;
	}
	case OPT_CHECK:
		env.kafka_check = 1;
		break;
	case 'v':
		env.verbosity++;
		break;
	case ARGP_KEY_ARG:
		/* collected after parsing; arguments are files in replay mode */
		return ARGP_ERR_UNKNOWN;
	case ARGP_KEY_ARGS:
		env.replay_options.files = state->argv + state->next;
		env.replay_options.file_count = state->argc - state->next;
		break;
	case ARGP_KEY_END:
		if (env.kafka_check) {
			if (!env.kafka)
				argp_error(state, "--check needs --kafka BROKERS");
			break;
		}
		if (!env.kafka && (kafka->spool_dir || kafka->properties_file ||
				   kafka->properties.count || kafka->agent_id))
			argp_error(state, "Kafka options need --kafka BROKERS");
		if (env.replay_options.speed > 0 && !env.replay)
			argp_error(state, "--speed paces a replay; it needs --replay");
		if (!env.replay_options.file_count)
			argp_error(state,
				   env.replay ?
					   "no capture file given (use '-' for standard input)" :
					   "no interface given");
		if (!env.replay) {
			char **names = env.replay_options.files;
			int i, j;

			/* attaching twice would find our own program and "remove" it */
			for (i = 0; i < env.replay_options.file_count; i++)
				for (j = 0; j < i; j++)
					if (!strcmp(names[i], names[j]))
						argp_error(state, "interface %s is named twice",
							   names[i]);
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.args_doc = "IFACE...\n--replay FILE...",
	.parser = parse_arg,
	.doc = doc,
};

/* FLOWAGENT_* variables and --config FILE (docs/configuration.md) */
static const int repeatable_options[] = { 'X', 'v', 0 };
static const struct options_env options_env = {
	.prefix = "FLOWAGENT_",
	.positional = "interfaces",
	.repeatable = repeatable_options,
};

/*
 * The default --max-flows fits the maps' memory budget on this node; any size is checked
 * against the memory the machine has before the kernel is asked (map_budget.h).
 */
static int size_flow_maps(void)
{
	struct replay_engine_config *config = &env.replay_options.engine_config;
	int cpus = libbpf_num_possible_cpus(), maps;
	char why[512];

	if (!env.replay)
		maps = 2;
	else if (env.replay_options.engine == REPLAY_ENGINE_KERNEL)
		maps = 1;
	else
		return 0;
	if (cpus <= 0) {
		pr_warn("cannot count the possible CPUs: %s\n", strerror(-cpus));
		return -1;
	}
	if (!env.max_flows_given)
		config->max_flows = map_budget_default_flows(cpus, maps);
	if (map_budget_check(config->max_flows, cpus, maps, map_budget_available(), why,
			     sizeof(why))) {
		pr_warn("%s\n", why);
		return -1;
	}
	pr_debug("flow map%s: %u flows, %.0f MiB of kernel memory each (%d possible CPUs)\n",
		 maps > 1 ? "s" : "", config->max_flows,
		 (double)map_budget_bytes(config->max_flows, cpus) / (1 << 20), cpus);
	return 0;
}

int main(int argc, char **argv)
{
	int err;

	argp_err_exit_status = EXIT_USAGE;
	err = options_env_parse(&argp, &options_env, argc, argv, 0, NULL);
	if (err)
		return EXIT_USAGE;

	log_set_verbosity(env.verbosity);
	libbpf_set_print(bpf_log_libbpf_print);
	if (env.kafka_check) {
		switch (kafka_check(&env.kafka_config, KAFKA_CHECK_TIMEOUT_MS)) {
		case KAFKA_CHECK_OK:
			return EXIT_OK;
		case KAFKA_CHECK_BAD_CONFIG:
			return EXIT_USAGE;
		default:
			return EXIT_FAILURE_RUNTIME;
		}
	}
	if (size_flow_maps())
		return EXIT_FAILURE_RUNTIME;
	if (!env.replay) {
		struct live_options live = {
			.interfaces = env.replay_options.files,
			.interface_count = env.replay_options.file_count,
			.xdp_mode = env.xdp_mode,
			.legacy_attach = env.legacy_attach,
			.config = env.replay_options.engine_config,
			.drain_interval_ms = env.drain_interval_ms,
			.metrics_address = env.metrics ? &env.metrics_address : NULL,
			.kafka = env.kafka ? &env.kafka_config : NULL,
			.flush_timeout_ms = env.flush_timeout_ms,
		};

		return live_run(&live);
	}
	env.replay_options.show_progress = !env.no_progress && isatty(STDERR_FILENO);
	env.replay_options.kafka = env.kafka ? &env.kafka_config : NULL;
	env.replay_options.flush_timeout_ms = env.flush_timeout_ms;
	/* unpaced replay waits for Kafka rather than spooling while Kafka keeps up */
	env.kafka_config.block_when_full = env.replay_options.speed == 0;
	return replay_run(&env.replay_options);
}
