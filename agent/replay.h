/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* PCAP replay: captures in, the same flow records as live capture out. */
#ifndef FLOWAGENT_REPLAY_H
#define FLOWAGENT_REPLAY_H

#include <stdint.h>

#include "kafka_export.h"
#include "replay_engine.h"

/* Exit statuses of flowagent, documented in --help and the README. */
enum flowagent_exit {
	EXIT_OK = 0,		  /* every input read (a truncated last record is only a warning) */
	EXIT_FAILURE_RUNTIME = 1, /* could not run: BPF load, memory, output write */
	EXIT_USAGE = 2,		  /* bad command line */
	EXIT_INPUT_ERROR = 3, /* an input could not be opened or was corrupt; the rest was read */
	EXIT_INTERRUPTED = 4, /* replay stopped by a signal before the end of its input */
};

enum replay_engine_kind {
	REPLAY_ENGINE_USER,
	REPLAY_ENGINE_KERNEL,
};

struct replay_options {
	char **files;
	int file_count;
	enum replay_engine_kind engine;
	struct replay_engine_config engine_config;
	int show_progress;
	double speed; /* > 0: pace packets at this multiple of trace time */
	const struct kafka_export_config *kafka; /* NULL: JSON lines on standard output */
	int flush_timeout_ms;			 /* Kafka, at the end */
};

/*
 * How often, in packet time, idle records are expired: a third of the idle timeout, at least
 * 1 s and at most 60 s. Both engines expire at the same packets, so they stay identical.
 */
uint64_t replay_scan_interval_ns(uint64_t idle_timeout_ns);

/* Summary names of enum flow_counter. */
extern const char *const flow_counter_names[FLOW_CNT_MAX];

/* Runs the replay, writes records to stdout and the summary to stderr; returns an exit status. */
int replay_run(const struct replay_options *options);

#endif
