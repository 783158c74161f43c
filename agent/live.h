/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Live capture: XDP on ingress and TC on egress of each interface, drained from userspace. */
#ifndef FLOWAGENT_LIVE_H
#define FLOWAGENT_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "attach.h"
#include "kafka_export.h"
#include "replay_engine.h"

struct live_options {
	char **interfaces;
	int interface_count;
	enum attach_xdp_mode xdp_mode;
	bool legacy_attach;		    /* netlink and clsact instead of BPF links */
	struct replay_engine_config config; /* timeouts (wall clock), sampling, max_flows */
	uint32_t drain_interval_ms;
	const struct sockaddr_storage *metrics_address; /* NULL: no Prometheus endpoint */
	const struct kafka_export_config *kafka;	/* NULL: JSON lines on standard output */
	int flush_timeout_ms;				/* Kafka, at exit */
};

/* Runs until SIGINT or SIGTERM; returns an exit status (see enum flowagent_exit). */
int live_run(const struct live_options *options);

#endif
