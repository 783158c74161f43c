// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The replay loop: reads each capture in batches, feeds the chosen engine, expires idle
 * records on packet time, and reports what it read, recorded and could not record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "kafka_stats.h"
#include "log.h"
#include "pcap_reader.h"
#include "replay.h"
#include "stop.h"

#define READ_BATCH 256
#define NS_PER_SEC 1000000000ULL

const char *const flow_counter_names[FLOW_CNT_MAX] = {
	[FLOW_CNT_PACKETS] = "packets",
	[FLOW_CNT_RECORDED] = "recorded",
	[FLOW_CNT_SAMPLED_OUT] = "sampled_out",
	[FLOW_CNT_NON_IP] = "non_ip",
	[FLOW_CNT_LINK_UNSUPPORTED] = "link_unsupported",
	[FLOW_CNT_LINK_TRUNCATED] = "link_truncated",
	[FLOW_CNT_VLAN_TOO_DEEP] = "vlan_too_deep",
	[FLOW_CNT_MPLS_TOO_DEEP] = "mpls_too_deep",
	[FLOW_CNT_IP_BAD_VERSION] = "ip_bad_version",
	[FLOW_CNT_IP_BAD_HEADER_LEN] = "ip_bad_header_len",
	[FLOW_CNT_IP_BAD_TOTAL_LEN] = "ip_bad_total_len",
	[FLOW_CNT_IP_TRUNCATED] = "ip_truncated",
	[FLOW_CNT_MAP_FULL] = "map_full",
	[FLOW_CNT_META_INVALID] = "meta_invalid",
	[FLOW_CNT_L4_TRUNCATED] = "note_l4_truncated",
	[FLOW_CNT_FRAGMENT] = "note_fragment",
	[FLOW_CNT_IPV6_EXT_LIMIT] = "note_ipv6_ext_limit",
	[FLOW_CNT_BYTES_FROM_FRAME] = "note_bytes_from_frame",
	[FLOW_CNT_SPLIT] = "records_split",
	[FLOW_CNT_FLOW_CREATED] = "flows_created",
	[FLOW_CNT_EXPORT_LOST] = "records_lost",
};

struct replay_state {
	const struct replay_options *options;
	struct replay_engine *engine;
	struct exporter *exporter;
	uint64_t watermark_ns; /* latest packet time seen */
	uint64_t next_scan_ns;
	uint64_t scan_interval_ns;
	int scan_started;
	uint64_t packets_read;
	uint64_t capture_bytes; /* bytes of all captures consumed */
	int files_failed;
	int files_truncated;
	int interrupted;	    /* a stop signal ended the input early */
	int keep_reading_announced; /* a first SIGINT on a pipe: said that we read on */
	const char *interrupted_file;
	uint64_t interrupted_offset;
	/* pacing (--speed): packet time maps to wall time from the first packet on */
	uint64_t pace_first_ts_ns;
	struct timespec pace_started;
	/* progress */
	struct timespec started;
	struct timespec last_progress;
	uint64_t last_progress_bytes;
	int progress_shown;
};

uint64_t replay_scan_interval_ns(uint64_t idle_timeout_ns)
{
	uint64_t interval = idle_timeout_ns / 3;

	if (interval < NS_PER_SEC)
		interval = NS_PER_SEC;
	if (interval > 60 * NS_PER_SEC)
		interval = 60 * NS_PER_SEC;
	return interval;
}

static void emit_record(void *ctx, const struct flow_record *record)
{
	struct replay_state *state = ctx;

	exporter_write(state->exporter, record);
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_update(struct replay_state *state, struct pcap_reader *reader)
{
	uint64_t bytes = state->capture_bytes + pcap_reader_offset(reader);
	uint64_t size = pcap_reader_file_size(reader);
	struct timespec now;
	double elapsed;

	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = seconds_between(&state->last_progress, &now);
	/* the first line comes at once, so short replays show one too */
	if (state->progress_shown && elapsed < 0.5)
		return;
	fprintf(stderr, "\rflowagent: %s: %.1fM packets, %.0f MB/s", pcap_reader_format(reader),
		(double)state->packets_read / 1e6,
		(double)(bytes - state->last_progress_bytes) / elapsed / 1e6);
	if (size)
		fprintf(stderr, ", %.0f%%",
			100.0 * (double)pcap_reader_file_position(reader) / (double)size);
	fputs("\033[K", stderr);
	state->last_progress = now;
	state->last_progress_bytes = bytes;
	state->progress_shown = 1;
}

/* --speed: waits until wall time catches up with the packet time of ts_ns, serving Kafka. */
static void pace(struct replay_state *state, uint64_t ts_ns)
{
	double speed = state->options->speed;
	struct timespec now;
	double due, elapsed;

	if (!state->pace_first_ts_ns) {
		state->pace_first_ts_ns = ts_ns;
		clock_gettime(CLOCK_MONOTONIC, &state->pace_started);
		return;
	}
	if (ts_ns <= state->pace_first_ts_ns)
		return;
	due = (double)(ts_ns - state->pace_first_ts_ns) / 1e9 / speed;
	for (;;) {
		struct timespec nap = { 0, 0 };
		double wait;

		if (stop_input_now())
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = seconds_between(&state->pace_started, &now);
		if (elapsed >= due)
			return;
		exporter_poll(state->exporter);
		wait = due - elapsed;
		if (wait > 0.1)
			wait = 0.1;
		nap.tv_nsec = (long)(wait * 1e9);
		nanosleep(&nap, NULL);
	}
}

/* Feeds packets to the engine, expiring idle records whenever packet time passes a scan point. */
static int replay_feed(struct replay_state *state, const struct pcap_packet *packets, int count)
{
	struct replay_engine *engine = state->engine;
	int start = 0, i, err;

	for (i = 0; i < count; i++) {
		uint64_t ts_ns = packets[i].ts_ns;

		if (ts_ns > state->watermark_ns)
			state->watermark_ns = ts_ns;
		if (!state->scan_started) {
			state->scan_started = 1;
			state->next_scan_ns = state->watermark_ns + state->scan_interval_ns;
			continue;
		}
		if (state->watermark_ns < state->next_scan_ns)
			continue;
		if (i > start) {
			err = engine->account(engine, packets + start, i - start);
			if (err)
				return err;
			start = i;
		}
		err = engine->expire(engine, state->watermark_ns);
		if (err)
			return err;
		state->next_scan_ns = state->watermark_ns + state->scan_interval_ns;
	}
	state->packets_read += (uint64_t)count;
	return engine->account(engine, packets + start, count - start);
}

/* Replays one file. Returns 0, or a negative errno when the engine failed (fatal). */
static int replay_file(struct replay_state *state, const char *path)
{
	struct pcap_packet packets[READ_BATCH];
	struct pcap_reader *reader;
	char err_text[512];
	unsigned int batches = 0;
	int count, err = 0;

	reader = pcap_reader_open(path, err_text, sizeof(err_text));
	if (!reader) {
		pr_warn("%s\n", err_text);
		state->files_failed++;
		return 0;
	}
	pr_info("%s: %s\n", path, pcap_reader_format(reader));

	while ((count = pcap_reader_next_batch(reader, packets, READ_BATCH)) > 0) {
		if (state->options->speed > 0)
			pace(state, packets[count - 1].ts_ns);
		err = replay_feed(state, packets, count);
		if (err)
			goto cleanup;
		if ((++batches & 15) == 0)
			exporter_poll(state->exporter);
		if (state->options->show_progress && (batches & 255) == 0)
			progress_update(state, reader);
		if (stop_input_now())
			break;
		if (stop_signal_count() && !state->keep_reading_announced) {
			state->keep_reading_announced = 1;
			pr_warn("SIGINT: reading standard input to its end, as its writer stops too; "
				"another signal stops now\n");
		}
	}
	if (stop_input_now()) {
		/* the packets read are all accounted; what the reader had not read is not */
		if (state->progress_shown)
			fputs("\r\033[K", stderr);
		state->interrupted = 1;
		state->interrupted_file = path;
		state->interrupted_offset = pcap_reader_offset(reader);
		goto cleanup;
	}
	if (count < 0) {
		if (state->progress_shown)
			fputs("\r\033[K", stderr);
		if (pcap_reader_status(reader) == PCAP_READER_TRUNCATED) {
			pr_warn("warning: %s\n", pcap_reader_message(reader));
			state->files_truncated++;
		} else {
			pr_warn("error: %s; the flows read before it are kept\n",
				pcap_reader_message(reader));
			state->files_failed++;
		}
	}

cleanup:
	state->capture_bytes += pcap_reader_offset(reader);
	pcap_reader_close(reader);
	return err;
}

static void replay_summary(const struct replay_state *state, const uint64_t *counters,
			   double seconds)
{
	const struct replay_options *options = state->options;
	int i;

	if (state->interrupted)
		fprintf(stderr,
			"flowagent: replay interrupted by %s in %s at offset %llu: the flows of "
			"the %llu packets read are exported, the rest of the input was not read\n",
			log_signal_name(stop_first_signal()), state->interrupted_file,
			(unsigned long long)state->interrupted_offset,
			(unsigned long long)state->packets_read);
	fprintf(stderr,
		"flowagent: replay summary (engine %s): %d file(s), %d failed, %d truncated\n"
		"  %-24s %llu\n  %-24s %llu\n  %-24s %llu\n",
		state->engine->name, options->file_count, state->files_failed,
		state->files_truncated, "packets_read", (unsigned long long)state->packets_read,
		"records", (unsigned long long)state->exporter->records, "bytes_recorded",
		(unsigned long long)state->exporter->bytes);
	for (i = 0; i < FLOW_CNT_MAX; i++)
		fprintf(stderr, "  %-24s %llu\n", flow_counter_names[i],
			(unsigned long long)counters[i]);
	fprintf(stderr, "  %-24s %.3f s (%.2f Mpps)\n", "elapsed", seconds,
		seconds > 0 ? (double)state->packets_read / seconds / 1e6 : 0.0);
}

/* One input, standard input, and a pipe: a first SIGINT lets it run to its end (stop.h). */
static int reads_a_pipe(const struct replay_options *options)
{
	struct stat st;

	return options->file_count == 1 && !strcmp(options->files[0], "-") &&
	       !fstat(STDIN_FILENO, &st) && S_ISFIFO(st.st_mode);
}

int replay_run(const struct replay_options *options)
{
	struct exporter exporter;
	struct replay_state state = { .options = options, .exporter = &exporter };
	struct replay_sink sink = { .emit = emit_record, .ctx = &state };
	uint64_t counters[FLOW_CNT_MAX] = { 0 };
	int exit_status = EXIT_OK;
	struct timespec finished;
	struct kafka_export_stats kafka_stats;
	char why[512];
	int i, err, has_kafka;

	stop_signals_install();
	stop_keep_reading_on_sigint(reads_a_pipe(options));
	err = exporter_open(&exporter, options->kafka, why, sizeof(why));
	if (err) {
		pr_warn("%s\n", why);
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
	}
	state.scan_interval_ns = replay_scan_interval_ns(options->engine_config.idle_timeout_ns);
	if (options->engine == REPLAY_ENGINE_KERNEL)
		err = replay_engine_kernel_new(&options->engine_config, sink, &state.engine);
	else
		err = replay_engine_user_new(&options->engine_config, sink, &state.engine);
	if (err) {
		pr_warn("cannot start the %s engine: %s\n",
			options->engine == REPLAY_ENGINE_KERNEL ? "kernel" : "user",
			strerror(-err));
		exporter_close(&exporter, 0, NULL);
		return EXIT_FAILURE_RUNTIME;
	}

	clock_gettime(CLOCK_MONOTONIC, &state.started);
	state.last_progress = state.started;
	for (i = 0; i < options->file_count && !state.interrupted; i++) {
		err = replay_file(&state, options->files[i]);
		if (err)
			break;
	}
	if (state.progress_shown)
		fputs("\r\033[K", stderr);
	/* Records read before a failure are still written. */
	if (state.engine->drain(state.engine) && !err)
		err = -EIO;
	if (err) {
		pr_warn("the %s engine failed: %s\n", state.engine->name, strerror(-err));
		exit_status = EXIT_FAILURE_RUNTIME;
	}
	if (state.engine->read_counters(state.engine, counters))
		pr_warn("reading the engine's counters failed\n");
	/* Kafka: everything delivered or spooled before the summary, which reports it */
	has_kafka = exporter.kafka != NULL;
	if (exporter_close(&exporter, options->flush_timeout_ms, &kafka_stats))
		exit_status = EXIT_FAILURE_RUNTIME;
	clock_gettime(CLOCK_MONOTONIC, &finished);
	replay_summary(&state, counters, seconds_between(&state.started, &finished));
	if (has_kafka)
		kafka_stats_print(&kafka_stats, stderr);
	state.engine->destroy(state.engine);

	if (state.packets_read && counters[FLOW_CNT_LINK_UNSUPPORTED] == state.packets_read) {
		/* nothing could be read as packets: not a success, whatever else went well */
		pr_warn("error: every one of the %llu frames read had a link type this agent does "
			"not decode (link_unsupported): no flow was recorded\n",
			(unsigned long long)state.packets_read);
		state.files_failed++;
	}
	if (exit_status == EXIT_OK && state.files_failed)
		exit_status = EXIT_INPUT_ERROR;
	if (exit_status == EXIT_OK && state.interrupted)
		exit_status = EXIT_INTERRUPTED;
	return exit_status;
}
