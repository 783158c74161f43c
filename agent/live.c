// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Live capture. xdp_flow_ingress is attached on ingress and tc_flow_egress on egress of every
 * interface, through BPF links where the kernel has them (attach.h); both write to the flow
 * map behind flow_tables[0]. Once attached, the agent keeps only CAP_NET_ADMIN.
 *
 * Draining is exact: userspace swaps the spare map into flow_tables[0], and that update
 * returns only once no program still holds the old map. The old map is then read and emptied
 * with batched lookup-and-delete, its per-CPU values are merged into a userspace table, and
 * records leave that table when they are idle, reach the active timeout, or saw FIN or RST.
 * A record carries everything since the previous record of its key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>

#include "flow.skel.h"
#include "attach.h"
#include "caps.h"
#include "clock.h"
#include "export.h"
#include "flow_maps.h"
#include "flow_table.h"
#include "kafka_stats.h"
#include "live.h"
#include "stop.h"
#include "log.h"
#include "metrics_http.h"
#include "prom.h"
#include "replay.h"

/* drain early once this share of the map is in use */
#define HIGH_WATER_PERCENT 50
#define POLL_MS		   50
/* how often the interfaces are looked up, to see one go or come back */
#define INTERFACE_WATCH_NS (500 * 1000000ULL)
#define TCP_FIN		   0x01
#define TCP_RST		   0x04

struct live_interface {
	struct attach_interface attach; /* its name, index and what is attached */
	int missing;			/* gone from the system: nothing of it is captured */
	uint64_t missing_since_ns;	/* monotonic */
	uint64_t missing_ns;		/* total time gone, past episodes */
	uint32_t losses;		/* times it went away */
};

struct live {
	const struct live_options *options;
	struct flow_bpf *skel;
	struct live_interface *interfaces;
	int map_fds[2]; /* the two flow maps; map_fds[active] is in flow_tables[0] */
	int active;
	struct flow_map_reader reader;
	uint64_t clock_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC for the drain in progress */
	struct flow_table table;  /* what each key saw since its last record */
	struct exporter exporter;
	uint64_t export_now_ns; /* wall clock of the drain in progress */
	int export_all;
	/* self-metrics; the endpoint's thread reads a snapshot under the lock */
	struct metrics_server *metrics;
	pthread_mutex_t snapshot_lock;
	uint64_t snapshot_counters[FLOW_CNT_MAX];
	uint64_t snapshot_records;
	uint64_t snapshot_drains;
	uint64_t snapshot_drain_ns_total;
	uint64_t snapshot_drain_ns_last;
	uint64_t snapshot_flows_open;
	uint64_t snapshot_forced_exports;
	uint64_t snapshot_interfaces_missing;
	uint64_t snapshot_interface_losses;
	struct kafka_export_stats snapshot_kafka;
	int snapshot_has_kafka;
	uint64_t forced_exports;
	uint64_t drains;
	uint64_t drain_ns_total;
	uint64_t drain_ns_last;
	uint64_t created_at_last_drain;
};

static int check_environment(void)
{
	uint64_t caps = caps_effective();
	uint64_t needed = CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_PERFMON);

	if ((caps & needed) != needed) {
		pr_warn("live capture needs root, or the capabilities CAP_BPF, CAP_NET_ADMIN and "
			"CAP_PERFMON (this process has %s)\n",
			geteuid() == 0 ? "a reduced set" : "neither");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		pr_warn("this kernel has no BTF (/sys/kernel/btf/vmlinux: %s); live capture needs "
			"a kernel built with CONFIG_DEBUG_INFO_BTF=y\n",
			strerror(errno));
		return -ENOTSUP;
	}
	return 0;
}

static int interface_attach(struct live *live, struct live_interface *iface)
{
	bool legacy = live->options->legacy_attach;
	int err;

	err = attach_xdp(&iface->attach, bpf_program__fd(live->skel->progs.xdp_flow_ingress),
			 live->options->xdp_mode, legacy);
	if (!err)
		err = attach_tc_egress(&iface->attach,
				       bpf_program__fd(live->skel->progs.tc_flow_egress), legacy);
	if (err) {
		attach_detach(&iface->attach);
		return err;
	}
	pr_info("%s: XDP attached (%s), TC egress attached (%s)\n", iface->attach.name,
		attach_xdp_describe(&iface->attach), attach_tc_describe(&iface->attach));
	return 0;
}

static void emit_record(void *ctx, const struct flow_entry *entry)
{
	struct live *live = ctx;
	struct flow_record record = {
		.key = entry->key,
		.sampling = live->options->config.sampling,
		.stats = entry->metrics,
	};

	exporter_write(&live->exporter, &record);
}

/* A record is due when its flow went idle, reached the active timeout, or saw FIN or RST. */
static int record_due(void *ctx, const struct flow_entry *entry)
{
	const struct live *live = ctx;
	const struct flow_metrics *m = &entry->metrics;

	if (live->export_all || (m->tcp_flags & (TCP_FIN | TCP_RST)))
		return 1;
	/* the timeouts are the replay's: as if a packet arrived now */
	return flow_metrics_should_split(m, live->export_now_ns,
					 live->options->config.idle_timeout_ns,
					 live->options->config.active_timeout_ns);
}

/* Adds one drained entry to what its key saw since its last record. */
static int drain_visit(void *ctx, const struct flow_key *key, const struct flow_metrics *merged)
{
	struct live *live = ctx;
	struct flow_metrics wall = *merged;
	struct flow_entry *entry;
	int created;

	wall.first_seen_ns += live->clock_offset_ns;
	wall.last_seen_ns += live->clock_offset_ns;
	entry = flow_table_upsert(&live->table, key, flow_key_hash(key), &created);
	if (!entry)
		return -ENOMEM;
	flow_metrics_merge(&entry->metrics, &wall);
	return 0;
}

/* Swaps the flow maps, moves everything from the old one into the table, exports what is due. */
static int live_drain(struct live *live, int final)
{
	int old_fd = live->map_fds[live->active];
	int spare_fd = live->map_fds[!live->active];
	uint64_t started = clock_ns(CLOCK_MONOTONIC);
	__u32 zero = 0;
	int err;

	/* returns once no program holds the old map any more */
	err = bpf_map_update_elem(bpf_map__fd(live->skel->maps.flow_tables), &zero, &spare_fd,
				  BPF_ANY);
	if (err) {
		pr_warn("swapping the flow maps failed: %s\n", strerror(-err));
		return err;
	}
	live->active = !live->active;
	/* kernel timestamps are CLOCK_MONOTONIC; records carry the wall clock */
	live->clock_offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	err = flow_map_read_all(&live->reader, old_fd, 1, drain_visit, live);
	if (err)
		return err;

	live->export_now_ns = clock_ns(CLOCK_REALTIME);
	live->export_all = final;
	/*
	 * Memory stays bounded by --max-flows: with more flows waiting than that, they all get
	 * their record now. Records are deltas, so the sums stay exact; only records come sooner.
	 */
	if (live->table.live > live->options->config.max_flows) {
		live->export_all = 1;
		live->forced_exports++;
	}
	flow_table_expire(&live->table, record_due, emit_record, live);
	err = exporter_flush(&live->exporter);
	if (err) {
		pr_warn("writing records failed: %s\n", strerror(-err));
		return err;
	}
	live->drain_ns_last = clock_ns(CLOCK_MONOTONIC) - started;
	live->drain_ns_total += live->drain_ns_last;
	live->drains++;
	return 0;
}

static int read_counters(struct live *live, uint64_t counters[FLOW_CNT_MAX])
{
	return flow_map_read_counters(bpf_map__fd(live->skel->maps.flow_counters),
				      live->reader.num_cpus, counters);
}

/* Past the high-water mark, the map is drained before the interval is over. */
static int live_map_filling(struct live *live)
{
	uint64_t created = flow_map_read_counter(bpf_map__fd(live->skel->maps.flow_counters),
						 live->reader.num_cpus, FLOW_CNT_FLOW_CREATED) -
			   live->created_at_last_drain;

	return created * 100 >= (uint64_t)live->options->config.max_flows * HIGH_WATER_PERCENT;
}

/* One line of self-metrics on stderr; with every_counter, each counter follows on its own. */
static void live_report(struct live *live, const char *prefix, int every_counter)
{
	uint64_t counters[FLOW_CNT_MAX];
	int i;

	if (read_counters(live, counters))
		return;
	fprintf(stderr,
		"%spackets %" PRIu64 ", flows %" PRIu64 ", records %" PRIu64 ", map full %" PRIu64
		", drains %" PRIu64
		", last drain %.2f ms, records per drain %.1f, early exports %" PRIu64 "\n",
		prefix, counters[FLOW_CNT_PACKETS], counters[FLOW_CNT_FLOW_CREATED],
		live->exporter.records, counters[FLOW_CNT_MAP_FULL], live->drains,
		(double)live->drain_ns_last / 1e6,
		live->drains ? (double)live->exporter.records / (double)live->drains : 0.0,
		live->forced_exports);
	if (every_counter)
		for (i = 0; i < FLOW_CNT_MAX; i++)
			fprintf(stderr, "  %-24s %" PRIu64 "\n", flow_counter_names[i],
				counters[i]);
}

static void live_snapshot_update(struct live *live)
{
	uint64_t counters[FLOW_CNT_MAX];

	if (read_counters(live, counters))
		return;
	pthread_mutex_lock(&live->snapshot_lock);
	memcpy(live->snapshot_counters, counters, sizeof(counters));
	live->snapshot_records = live->exporter.records;
	live->snapshot_drains = live->drains;
	live->snapshot_drain_ns_total = live->drain_ns_total;
	live->snapshot_drain_ns_last = live->drain_ns_last;
	live->snapshot_flows_open = live->table.live;
	live->snapshot_forced_exports = live->forced_exports;
	live->snapshot_interfaces_missing = 0;
	live->snapshot_interface_losses = 0;
	for (int i = 0; i < live->options->interface_count; i++) {
		live->snapshot_interfaces_missing += (uint64_t)live->interfaces[i].missing;
		live->snapshot_interface_losses += live->interfaces[i].losses;
	}
	live->snapshot_has_kafka = exporter_kafka_stats(&live->exporter, &live->snapshot_kafka);
	pthread_mutex_unlock(&live->snapshot_lock);
}

/* One family of the programs' counters [first, last), labelled with their names. */
static void counter_family(struct prom_writer *out, const char *name, const char *help,
			   const char *label_name, const uint64_t *counters, int first, int last)
{
	char label[64];
	int i;

	prom_family(out, name, "counter", help);
	for (i = first; i < last; i++) {
		snprintf(label, sizeof(label), "%s=\"%s\"", label_name, flow_counter_names[i]);
		prom_u64(out, name, label, counters[i]);
	}
}

/* Prometheus text: the packet outcomes and notes, and the drain loop's own numbers. */
static void live_metrics_render(void *ctx, struct prom_writer *out)
{
	struct live *live = ctx;
	uint64_t counters[FLOW_CNT_MAX];
	uint64_t records, drains, drain_total, drain_last, flows_open, forced, missing, losses;
	struct kafka_export_stats kafka;
	int has_kafka;

	pthread_mutex_lock(&live->snapshot_lock);
	memcpy(counters, live->snapshot_counters, sizeof(counters));
	records = live->snapshot_records;
	drains = live->snapshot_drains;
	drain_total = live->snapshot_drain_ns_total;
	drain_last = live->snapshot_drain_ns_last;
	flows_open = live->snapshot_flows_open;
	forced = live->snapshot_forced_exports;
	missing = live->snapshot_interfaces_missing;
	losses = live->snapshot_interface_losses;
	kafka = live->snapshot_kafka;
	has_kafka = live->snapshot_has_kafka;
	pthread_mutex_unlock(&live->snapshot_lock);

	prom_counter(out, "flowagent_packets_seen_total", "Packets the XDP and TC programs saw.",
		     counters[FLOW_CNT_PACKETS]);
	counter_family(out, "flowagent_packets_total", "Packets by outcome: recorded, or why not.",
		       "outcome", counters, FLOW_CNT_RECORDED, FLOW_CNT_NOTES_FIRST);
	counter_family(out, "flowagent_events_total", "Notes on recorded packets and records.",
		       "event", counters, FLOW_CNT_NOTES_FIRST, FLOW_CNT_MAX);
	prom_counter(out, "flowagent_map_full_total",
		     "Packets not recorded because the flow map was full.",
		     counters[FLOW_CNT_MAP_FULL]);
	prom_counter(out, "flowagent_flows_seen_total", "New flow map entries.",
		     counters[FLOW_CNT_FLOW_CREATED]);
	prom_counter(out, "flowagent_records_exported_total", "Flow records written.", records);
	prom_counter(out, "flowagent_drains_total", "Times the flow map was swapped and emptied.",
		     drains);
	prom_family(out, "flowagent_drain_seconds_total", "counter", "Time spent draining.");
	prom_double(out, "flowagent_drain_seconds_total", "", "%.6f", (double)drain_total / 1e9);
	prom_family(out, "flowagent_drain_last_seconds", "gauge", "Duration of the last drain.");
	prom_double(out, "flowagent_drain_last_seconds", "", "%.6f", (double)drain_last / 1e9);
	prom_family(out, "flowagent_records_per_drain", "gauge",
		    "Records written per drain, on average.");
	prom_double(out, "flowagent_records_per_drain", "", "%.3f",
		    drains ? (double)records / (double)drains : 0.0);
	prom_gauge(out, "flowagent_flows_open", "Flows waiting in userspace for their record.",
		   flows_open);
	prom_counter(out, "flowagent_forced_exports_total",
		     "Drains that exported every open flow early to stay within --max-flows.",
		     forced);
	prom_gauge(out, "flowagent_interfaces_missing",
		   "Interfaces named on the command line that are gone (nothing captured there).",
		   missing);
	prom_counter(out, "flowagent_interface_losses_total",
		     "Times an interface went away while capturing.", losses);
	if (has_kafka)
		kafka_stats_prometheus(&kafka, out);
}

static void live_detach_all(struct live *live)
{
	int i;

	if (live->interfaces)
		for (i = 0; i < live->options->interface_count; i++)
			attach_detach(&live->interfaces[i].attach);
}

static void live_cleanup(struct live *live)
{
	metrics_server_stop(live->metrics); /* NULL-safe */
	live_detach_all(live);
	flow_bpf__destroy(live->skel);
	if (live->map_fds[1] > 0)
		close(live->map_fds[1]);
	flow_table_free(&live->table);
	free(live->interfaces);
	flow_map_reader_free(&live->reader);
}

/*
 * Interfaces can go away (a deleted veth, a driver reload) and come back with a new index:
 * their programs go with them. Each gone one is reported, and attached again once it is back.
 */
static void live_watch_interfaces(struct live *live, uint64_t now)
{
	int i;

	for (i = 0; i < live->options->interface_count; i++) {
		struct live_interface *iface = &live->interfaces[i];
		int ifindex = (int)if_nametoindex(iface->attach.name);

		if (!iface->missing && ifindex == iface->attach.ifindex)
			continue;
		if (!iface->missing) {
			pr_warn("%s: the interface is gone (index %d%s); nothing is captured there "
				"until it is back\n",
				iface->attach.name, iface->attach.ifindex,
				ifindex ? ", a new one has its name" : "");
			/* the kernel removed our programs with it */
			attach_forget(&iface->attach);
			iface->missing = 1;
			iface->missing_since_ns = now;
			iface->losses++;
		}
		if (!ifindex)
			continue;
		iface->attach.ifindex = ifindex;
		/* tried again at the next look; the attach functions said why */
		if (interface_attach(live, iface))
			continue;
		iface->missing = 0;
		iface->missing_ns += now - iface->missing_since_ns;
		pr_warn("%s: back (index %d), its programs attached again after %.1f s away\n",
			iface->attach.name, ifindex, (double)(now - iface->missing_since_ns) / 1e9);
	}
}

/* At the end: what was not captured because an interface was gone. 1 if one still is. */
static int live_report_interfaces(struct live *live, uint64_t now)
{
	int i, missing = 0;

	for (i = 0; i < live->options->interface_count; i++) {
		struct live_interface *iface = &live->interfaces[i];
		uint64_t gone =
			iface->missing_ns + (iface->missing ? now - iface->missing_since_ns : 0);

		if (!iface->losses)
			continue;
		pr_warn("%s: gone %u time(s), %.1f s in all%s: packets in that time were not seen\n",
			iface->attach.name, iface->losses, (double)gone / 1e9,
			iface->missing ? ", and still gone" : "");
		missing |= iface->missing;
	}
	return missing;
}

static int live_setup(struct live *live)
{
	const struct live_options *options = live->options;
	int i, err;

	live->interfaces = calloc((size_t)options->interface_count, sizeof(*live->interfaces));
	if (!live->interfaces)
		return -ENOMEM;
	for (i = 0; i < options->interface_count; i++) {
		struct live_interface *iface = &live->interfaces[i];
		const char *name = options->interfaces[i];

		attach_interface_init(&iface->attach, name, (int)if_nametoindex(name));
		if (!iface->attach.ifindex) {
			pr_warn("no such interface: %s\n", name);
			return -ENODEV;
		}
	}
	err = check_environment();
	if (err)
		return err;

	err = flow_map_reader_init(&live->reader);
	if (err)
		return err;
	if (flow_table_init(&live->table, 1 << 12))
		return -ENOMEM;

	live->skel = flow_bpf__open();
	if (!live->skel)
		return -errno;
	live->skel->rodata->sampling_rate = options->config.sampling;
	live->skel->rodata->link_type = 1; /* Ethernet */
	err = bpf_map__set_max_entries(live->skel->maps.flow_table, options->config.max_flows);
	if (err)
		return err;
	err = flow_bpf__load(live->skel);
	if (err) {
		pr_warn("loading the BPF programs failed: %s (-v shows the verifier's log)\n",
			strerror(-err));
		return err;
	}
	live->map_fds[0] = bpf_map__fd(live->skel->maps.flow_table);
	live->map_fds[1] = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "flow_table_b",
					  sizeof(struct flow_key), sizeof(struct flow_metrics),
					  options->config.max_flows, NULL);
	if (live->map_fds[1] < 0) {
		err = -errno;
		pr_warn("creating the spare flow map failed: %s\n", strerror(errno));
		return err;
	}
	for (i = 0; i < options->interface_count; i++) {
		err = interface_attach(live, &live->interfaces[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Everything but CAP_NET_ADMIN goes once the programs are loaded and attached. */
static int live_drop_capabilities(void)
{
	int err = caps_keep_only(CAPS_BIT(CAP_NET_ADMIN));

	if (err) {
		pr_warn("dropping capabilities after attaching failed: %s\n", strerror(-err));
		return err;
	}
	pr_debug("capabilities dropped: only CAP_NET_ADMIN is kept, to attach again an "
		 "interface that comes back\n");
	return 0;
}

int live_run(const struct live_options *options)
{
	struct live live = { .options = options };
	uint64_t next_drain, next_report, next_watch, now;
	int err, exit_status = EXIT_OK;

	char why[512];

	/* SIGINT, SIGTERM, SIGHUP (a closed terminal): detach, export everything, then exit */
	stop_signals_install();

	pthread_mutex_init(&live.snapshot_lock, NULL);
	/*
	 * Attached first, then down to CAP_NET_ADMIN (to attach again an interface that comes
	 * back), and only then the exporter and the metrics endpoint: capabilities are per
	 * thread, and their threads inherit the reduced set.
	 */
	err = live_setup(&live);
	if (!err)
		err = live_drop_capabilities();
	if (err) {
		live_cleanup(&live);
		return EXIT_FAILURE_RUNTIME;
	}
	err = exporter_open(&live.exporter, options->kafka, why, sizeof(why));
	if (err) {
		pr_warn("%s\n", why);
		live_cleanup(&live);
		return err == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
	}
	if (options->metrics_address) {
		live_snapshot_update(&live);
		err = metrics_server_start(options->metrics_address, live_metrics_render, &live,
					   &live.metrics);
		if (err) {
			pr_warn("cannot serve metrics on the address given: %s\n", strerror(-err));
			live_cleanup(&live);
			exporter_close(&live.exporter, 0, NULL);
			return EXIT_FAILURE_RUNTIME;
		}
	}
	pr_info("capturing on %d interface(s); SIGINT, SIGTERM or SIGHUP stops and exports "
		"everything\n",
		options->interface_count);

	now = clock_ns(CLOCK_MONOTONIC);
	next_drain = now + options->drain_interval_ms * 1000000ULL;
	next_report = now + 10 * NS_PER_SEC;
	next_watch = now + INTERFACE_WATCH_NS;
	while (!stop_signal_count()) {
		struct timespec nap = { 0, POLL_MS * 1000000L };

		nanosleep(&nap, NULL);
		exporter_poll(&live.exporter);
		now = clock_ns(CLOCK_MONOTONIC);
		if (now >= next_watch) {
			live_watch_interfaces(&live, now);
			next_watch = now + INTERFACE_WATCH_NS;
		}
		if (now < next_drain && !live_map_filling(&live))
			continue;
		err = live_drain(&live, 0);
		if (err)
			break;
		live_snapshot_update(&live);
		live.created_at_last_drain = live.snapshot_counters[FLOW_CNT_FLOW_CREATED];
		next_drain = now + options->drain_interval_ms * 1000000ULL;
		if (log_get_level() >= LOG_LEVEL_INFO && now >= next_report) {
			live_report(&live, "flowagent: ", 0);
			next_report = now + 10 * NS_PER_SEC;
		}
	}
	/*
	 * A graceful stop detaches first, so nothing writes to either map any more, then drains
	 * both: the last swap may have left packets in the map it swapped in.
	 */
	live_detach_all(&live);
	if (!err)
		err = live_drain(&live, 0);
	if (!err)
		err = live_drain(&live, 1);
	if (err)
		exit_status = EXIT_FAILURE_RUNTIME;
	live_report(&live, "flowagent: live summary: ", 1);
	if (live_report_interfaces(&live, clock_ns(CLOCK_MONOTONIC)))
		exit_status = EXIT_FAILURE_RUNTIME;
	live_cleanup(&live);
	if (live.exporter.kafka) {
		struct kafka_export_stats kafka_stats;

		if (exporter_close(&live.exporter, options->flush_timeout_ms, &kafka_stats))
			exit_status = EXIT_FAILURE_RUNTIME;
		kafka_stats_print(&kafka_stats, stderr);
	} else if (exporter_close(&live.exporter, 0, NULL)) {
		exit_status = EXIT_FAILURE_RUNTIME;
	}
	return exit_status;
}
