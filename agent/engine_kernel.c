// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel replay engine: every packet runs through the real XDP program with
 * BPF_PROG_TEST_RUN, its timestamp, lengths and link type in the XDP metadata area. Records
 * the program closes on a timeout come back through its ring buffer; expiry scans and the
 * final drain read the flow map with batched lookups. This proves the BPF program and the
 * userspace engine agree, packet for packet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "flow.skel.h"
#include "flow_maps.h"
#include "flow_parse.h"
#include "log.h"
#include "replay_engine.h"

#define ETH_MIN_TEST_FRAME 14 /* BPF_PROG_TEST_RUN rejects shorter XDP frames */
#define DELETE_BATCH	   4096

struct kernel_engine {
	struct replay_engine base;
	struct replay_engine_config config;
	struct replay_sink sink;
	struct flow_bpf *skel;
	struct ring_buffer *exports;
	int prog_fd;
	int flow_map_fd;
	cpu_set_t saved_affinity;
	int affinity_saved;
	struct flow_map_reader reader;
	/* a scan's records to delete, and whether it only takes idle ones */
	struct flow_key *idle_keys;
	size_t idle_count;
	size_t idle_capacity;
	int scan_expire;
	uint64_t scan_now_ns;
	uint8_t frame[sizeof(struct flow_replay_meta) + FLOW_PARSE_MAX_BYTES];
};

static int on_export(void *ctx, void *data, size_t size)
{
	struct kernel_engine *engine = ctx;
	struct flow_record record;

	if (size < sizeof(record))
		return 0;
	memcpy(&record, data, sizeof(record));
	engine->sink.emit(engine->sink.ctx, &record);
	return 0;
}

static int kernel_account(struct replay_engine *base, const struct pcap_packet *packets, int count)
{
	struct kernel_engine *engine = (struct kernel_engine *)base;
	struct flow_replay_meta *meta = (struct flow_replay_meta *)engine->frame;
	uint8_t *frame_data = engine->frame + sizeof(*meta);
	struct xdp_md xdp_ctx = { .data = sizeof(*meta) };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = engine->frame, .ctx_in = &xdp_ctx,
		    .ctx_size_in = sizeof(xdp_ctx), .repeat = 1);
	int i, err;

	for (i = 0; i < count; i++) {
		const struct pcap_packet *packet = &packets[i];
		uint32_t parse_len = replay_parse_len(packet);
		uint32_t frame_len = parse_len < ETH_MIN_TEST_FRAME ? ETH_MIN_TEST_FRAME :
								      parse_len;

		meta->ts_ns = packet->ts_ns;
		meta->orig_len = packet->orig_len;
		meta->cap_len = parse_len;
		meta->link_type = packet->link_type;
		meta->pad = 0;
		memcpy(frame_data, packet->data, parse_len);
		memset(frame_data + parse_len, 0, frame_len - parse_len);
		xdp_ctx.data_end = sizeof(*meta) + frame_len;
		opts.data_size_in = sizeof(*meta) + frame_len;
		/* libbpf writes the sizes back; a stale data_size_out would cap the next run */
		opts.data_size_out = 0;
		opts.ctx_size_out = 0;
		opts.retval = 0;
		err = bpf_prog_test_run_opts(engine->prog_fd, &opts);
		if (err) {
			pr_warn("BPF_PROG_TEST_RUN failed: %s\n", strerror(-err));
			return err;
		}
		if (opts.retval != XDP_PASS) {
			pr_warn("XDP program returned %u, not XDP_PASS\n", opts.retval);
			return -EPROTO;
		}
	}
	err = ring_buffer__consume(engine->exports);
	return err < 0 ? err : 0;
}

static int scan_visit(void *ctx, const struct flow_key *key, const struct flow_metrics *merged)
{
	struct kernel_engine *engine = ctx;
	struct flow_record record = {
		.key = *key,
		.sampling = engine->config.sampling,
		.stats = *merged,
	};

	if (engine->scan_expire &&
	    !flow_metrics_is_idle(merged, engine->scan_now_ns, engine->config.idle_timeout_ns))
		return 0;
	engine->sink.emit(engine->sink.ctx, &record);
	if (engine->idle_count == engine->idle_capacity) {
		size_t capacity = engine->idle_capacity ? engine->idle_capacity * 2 : 4096;
		void *grown = realloc(engine->idle_keys, capacity * sizeof(struct flow_key));

		if (!grown)
			return -ENOMEM;
		engine->idle_keys = grown;
		engine->idle_capacity = capacity;
	}
	engine->idle_keys[engine->idle_count++] = *key;
	return 0;
}

/*
 * Emits the map's records (with expire, only the idle ones) and deletes them. Programs may
 * still write while the map is read, so deletion waits until the walk is done.
 */
static int kernel_scan(struct kernel_engine *engine, int expire, uint64_t now_ns)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err;

	err = ring_buffer__consume(engine->exports);
	if (err < 0)
		return err;
	engine->idle_count = 0;
	engine->scan_expire = expire;
	engine->scan_now_ns = now_ns;
	err = flow_map_read_all(&engine->reader, engine->flow_map_fd, 0, scan_visit, engine);
	if (err)
		return err;
	while (engine->idle_count > 0) {
		__u32 n = engine->idle_count > DELETE_BATCH ? DELETE_BATCH :
							      (__u32)engine->idle_count;

		err = bpf_map_delete_batch(engine->flow_map_fd,
					   engine->idle_keys + engine->idle_count - n, &n, &opts);
		if (err) {
			pr_warn("deleting from the flow map failed: %s\n", strerror(-err));
			return err;
		}
		engine->idle_count -= n;
	}
	return 0;
}

static int kernel_expire(struct replay_engine *base, uint64_t now_ns)
{
	struct kernel_engine *engine = (struct kernel_engine *)base;

	if (!engine->config.idle_timeout_ns)
		return 0;
	return kernel_scan(engine, 1, now_ns);
}

static int kernel_drain(struct replay_engine *base)
{
	return kernel_scan((struct kernel_engine *)base, 0, 0);
}

static int kernel_read_counters(struct replay_engine *base, uint64_t counters[FLOW_CNT_MAX])
{
	struct kernel_engine *engine = (struct kernel_engine *)base;
	uint64_t ours[FLOW_CNT_MAX];
	int i, err;

	err = flow_map_read_counters(bpf_map__fd(engine->skel->maps.flow_counters),
				     engine->reader.num_cpus, ours);
	if (err)
		return err;
	for (i = 0; i < FLOW_CNT_MAX; i++)
		counters[i] += ours[i];
	return 0;
}

static void kernel_destroy(struct replay_engine *base)
{
	struct kernel_engine *engine = (struct kernel_engine *)base;

	if (!engine)
		return;
	ring_buffer__free(engine->exports);
	flow_bpf__destroy(engine->skel);
	if (engine->affinity_saved)
		sched_setaffinity(0, sizeof(engine->saved_affinity), &engine->saved_affinity);
	flow_map_reader_free(&engine->reader);
	free(engine->idle_keys);
	free(engine);
}

int replay_engine_kernel_new(const struct replay_engine_config *config, struct replay_sink sink,
			     struct replay_engine **out)
{
	struct kernel_engine *engine;
	cpu_set_t one_cpu;
	int err, cpu;

	engine = calloc(1, sizeof(*engine));
	if (!engine)
		return -ENOMEM;
	engine->base = (struct replay_engine){
		.name = "kernel",
		.account = kernel_account,
		.expire = kernel_expire,
		.drain = kernel_drain,
		.read_counters = kernel_read_counters,
		.destroy = kernel_destroy,
	};
	engine->config = *config;
	engine->sink = sink;

	err = flow_map_reader_init(&engine->reader);
	if (err)
		goto cleanup;

	/* Per-CPU records only agree with the user engine if every packet meets the same CPU. */
	if (sched_getaffinity(0, sizeof(engine->saved_affinity), &engine->saved_affinity) == 0) {
		engine->affinity_saved = 1;
		cpu = sched_getcpu();
		CPU_ZERO(&one_cpu);
		CPU_SET(cpu < 0 ? 0 : cpu, &one_cpu);
		if (sched_setaffinity(0, sizeof(one_cpu), &one_cpu)) {
			err = -errno;
			pr_warn("cannot pin the kernel engine to one CPU: %s\n", strerror(errno));
			goto cleanup;
		}
	}

	engine->skel = flow_bpf__open();
	if (!engine->skel) {
		err = -errno;
		pr_warn("opening the BPF object failed: %s\n", strerror(errno));
		goto cleanup;
	}
	engine->skel->rodata->use_replay_meta = 1;
	engine->skel->rodata->sampling_rate = config->sampling;
	engine->skel->rodata->idle_timeout_ns = config->idle_timeout_ns;
	engine->skel->rodata->active_timeout_ns = config->active_timeout_ns;
	err = bpf_map__set_max_entries(engine->skel->maps.flow_table, config->max_flows);
	if (err)
		goto cleanup;
	err = flow_bpf__load(engine->skel);
	if (err) {
		pr_warn("loading the XDP program failed: %s%s\n", strerror(-err),
			err == -EPERM ?
				" (the kernel engine needs root, or CAP_BPF and CAP_NET_ADMIN)" :
				"");
		goto cleanup;
	}
	engine->prog_fd = bpf_program__fd(engine->skel->progs.xdp_flow_ingress);
	engine->flow_map_fd = bpf_map__fd(engine->skel->maps.flow_table);
	engine->exports = ring_buffer__new(bpf_map__fd(engine->skel->maps.flow_exports), on_export,
					   engine, NULL);
	if (!engine->exports) {
		err = -errno;
		pr_warn("opening the export ring buffer failed: %s\n", strerror(errno));
		goto cleanup;
	}
	*out = &engine->base;
	return 0;

cleanup:
	kernel_destroy(&engine->base);
	return err;
}
