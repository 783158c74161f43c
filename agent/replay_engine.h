/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The two replay engines behind one interface: "user" runs the shared parser in this process,
 * "kernel" runs every packet through the real XDP program with BPF_PROG_TEST_RUN. The replay
 * loop drives both identically (same batches, same expiry points), so their records must match.
 */
#ifndef FLOWAGENT_REPLAY_ENGINE_H
#define FLOWAGENT_REPLAY_ENGINE_H

#include <stdint.h>

#include "flow.h"
#include "flow_parse.h"
#include "pcap_reader.h"

struct replay_engine_config {
	uint64_t idle_timeout_ns;
	uint64_t active_timeout_ns;
	uint32_t sampling;  /* 1:N */
	uint32_t max_flows; /* kernel engine: flow map size */
};

/* Where finished records go. */
struct replay_sink {
	void (*emit)(void *ctx, const struct flow_record *record);
	void *ctx;
};

struct replay_engine {
	const char *name;
	/* Meters packets in order. Returns 0 or a negative errno (the engine failed). */
	int (*account)(struct replay_engine *engine, const struct pcap_packet *packets, int count);
	/* Emits and forgets the records idle at now_ns. */
	int (*expire)(struct replay_engine *engine, uint64_t now_ns);
	/* Emits every record still open. */
	int (*drain)(struct replay_engine *engine);
	/* Adds the engine's per-reason counters to counters[]. */
	int (*read_counters)(struct replay_engine *engine, uint64_t counters[FLOW_CNT_MAX]);
	void (*destroy)(struct replay_engine *engine);
};

int replay_engine_user_new(const struct replay_engine_config *config, struct replay_sink sink,
			   struct replay_engine **engine);
int replay_engine_kernel_new(const struct replay_engine_config *config, struct replay_sink sink,
			     struct replay_engine **engine);

/* The frame the parser may read: at most FLOW_PARSE_MAX_BYTES, in both engines. */
static inline uint32_t replay_parse_len(const struct pcap_packet *packet)
{
	return packet->cap_len < FLOW_PARSE_MAX_BYTES ? packet->cap_len : FLOW_PARSE_MAX_BYTES;
}

#endif
