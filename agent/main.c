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

#include "live.h"
#include "metrics.h"
#include "log.h"
#include "replay.h"

#define DEFAULT_IDLE_TIMEOUT_S	 15	/* NetFlow's usual inactive timeout */
#define DEFAULT_ACTIVE_TIMEOUT_S 60	/* the 1-minute active timeout most deployments use */
#define DEFAULT_MAX_FLOWS	 (1u << 18)
#define DEFAULT_DRAIN_MS	 1000
#define MAX_TIMEOUT_S		 (7 * 24 * 3600)

static struct env {
	int replay;
	struct replay_options replay_options;
	enum live_xdp_mode xdp_mode;
	uint32_t drain_interval_ms;
	struct sockaddr_storage metrics_address;
	int metrics;
	int verbosity;
	int no_progress;
} env = {
	.drain_interval_ms = DEFAULT_DRAIN_MS,
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
	"Live mode (flowagent IFACE...) attaches an XDP program on ingress (through libxdp, "
	"native mode, falling back to generic SKB mode) and a TC program on egress of each "
	"interface, and writes one JSON flow record per line to standard output: a record when a "
	"flow has been idle for the idle timeout, every active timeout for long flows, and at the "
	"next drain after a TCP FIN or RST. Records carry what their key saw since its previous "
	"record, so the records of a key sum to its exact totals; timestamps are the wall clock. "
	"SIGINT or SIGTERM exports everything still in the maps and detaches every program. "
	"Needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON.\n"
	"\n"
	"Replay mode reads pcap or pcapng captures (microsecond or nanosecond, either byte order, "
	"several interfaces and sections), plain or gzip-compressed (.pcap.gz as MAWI publishes "
	"them), or '-' for standard input, and writes one JSON flow record per line to standard "
	"output: src_addr, dst_addr, src_port, dst_port, proto, vlan, packets, bytes (L3), "
	"tcp_flags, first_seen_ns, last_seen_ns, sampling. A summary of every counter goes to "
	"standard error at the end, and a progress line while it runs on a terminal.\n"
	"\n"
	"Records are split on packet time by the idle and active timeouts; the records of a key sum "
	"to its exact totals. Frames that are not flows (non-IP, unsupported link types, malformed "
	"IP) are counted by reason in the summary, never silently dropped.\n"
	"\n"
	"ENGINES:\n"
	"  user     the shared parser in this process (default, fastest)\n"
	"  kernel   every packet through the real XDP program via BPF_PROG_TEST_RUN (needs root)\n"
	"\n"
	"EXIT STATUS:\n"
	"  0  every input was read; a truncated last record is only a warning\n"
	"  1  could not run: no such interface, missing privileges or BTF, a foreign XDP program on\n"
	"     the interface, BPF load failure, out of memory, output write error\n"
	"  2  bad command line\n"
	"  3  an input could not be opened or was corrupt; the flows read before it, and all other "
	"inputs, were still written\n"
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
	"      longer records\n";

static const struct argp_option options[] = {
	{ "replay", 'r', NULL, 0, "Replay the capture files given as arguments ('-' = stdin)", 0 },
	{ "engine", 'e', "ENGINE", 0, "Replay engine: user (default) or kernel", 0 },
	{ "idle-timeout", 'i', "SECONDS", 0,
	  "End a record after this much packet time without packets (default 15, 0 = never)", 0 },
	{ "active-timeout", 'a', "SECONDS", 0,
	  "End a record this long after its first packet (default 60, 0 = never)", 0 },
	{ "sample", 's', "N", 0, "Meter 1 packet in N at random (default 1 = every packet)", 0 },
	{ "max-flows", 'm', "N", 0, "Size of the kernel flow map (default 262144)", 0 },
	{ "xdp-mode", 'x', "MODE", 0,
	  "Live: native or skb (default: native, falling back to skb with a warning)", 0 },
	{ "drain-interval", 'D', "MS", 0,
	  "Live: read the flow map every MS milliseconds (default 1000)", 0 },
	{ "metrics", 'M', "[ADDR:]PORT", 0,
	  "Live: serve Prometheus metrics on /metrics (off by default; 127.0.0.1 unless ADDR)", 0 },
	{ "no-progress", 'P', NULL, 0, "No progress line, even on a terminal", 0 },
	{ "verbose", 'v', NULL, 0, "More messages; twice for libbpf debug output", 0 },
	{},
};

static int parse_seconds(const char *text, uint64_t *ns)
{
	char *end;
	double seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(seconds) || seconds < 0 ||
	    seconds > MAX_TIMEOUT_S)
		return -EINVAL;
	*ns = (uint64_t)llround(seconds * 1e9);
	return 0;
}

static int parse_u32(const char *text, unsigned long min, unsigned long max, uint32_t *value)
{
	unsigned long parsed;
	char *end;

	errno = 0;
	parsed = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || parsed < min || parsed > max)
		return -EINVAL;
	*value = (uint32_t)parsed;
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
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
		if (parse_seconds(arg, &config->idle_timeout_ns))
			argp_error(state, "--idle-timeout: '%s' is not a number of seconds in [0, %d]",
				   arg, MAX_TIMEOUT_S);
		break;
	case 'a':
		if (parse_seconds(arg, &config->active_timeout_ns))
			argp_error(state,
				   "--active-timeout: '%s' is not a number of seconds in [0, %d]", arg,
				   MAX_TIMEOUT_S);
		break;
	case 's':
		if (parse_u32(arg, 1, 1u << 24, &config->sampling))
			argp_error(state, "--sample: '%s' is not an integer in [1, %u]", arg, 1u << 24);
		break;
	case 'm':
		if (parse_u32(arg, 1, 1u << 28, &config->max_flows))
			argp_error(state, "--max-flows: '%s' is not an integer in [1, %u]", arg,
				   1u << 28);
		break;
	case 'x':
		if (!strcmp(arg, "native"))
			env.xdp_mode = LIVE_XDP_NATIVE;
		else if (!strcmp(arg, "skb"))
			env.xdp_mode = LIVE_XDP_SKB;
		else
			argp_error(state, "--xdp-mode: '%s' is not native or skb", arg);
		break;
	case 'D':
		if (parse_u32(arg, 10, 3600000, &env.drain_interval_ms))
			argp_error(state, "--drain-interval: '%s' is not milliseconds in [10, 3600000]",
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
		if (!env.replay_options.file_count)
			argp_error(state, env.replay ? "no capture file given (use '-' for standard input)"
						     : "no interface given");
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

int main(int argc, char **argv)
{
	int err;

	argp_err_exit_status = EXIT_USAGE;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return EXIT_USAGE;

	log_set_level(env.verbosity >= 2 ? LOG_LEVEL_DEBUG
					 : env.verbosity ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	libbpf_set_print(log_libbpf_print);
	if (!env.replay) {
		struct live_options live = {
			.interfaces = env.replay_options.files,
			.interface_count = env.replay_options.file_count,
			.xdp_mode = env.xdp_mode,
			.config = env.replay_options.engine_config,
			.drain_interval_ms = env.drain_interval_ms,
			.metrics_address = env.metrics ? &env.metrics_address : NULL,
		};

		return live_run(&live);
	}
	env.replay_options.show_progress = !env.no_progress && isatty(STDERR_FILENO);
	return replay_run(&env.replay_options);
}
