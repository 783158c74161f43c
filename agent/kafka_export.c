// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kafka export with librdkafka. One thread: delivery reports and errors are served by
 * rd_kafka_poll() from the caller's loop, so the spool and the counters need no locks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "flow_output.h"
#include "kafka_config.h"
#include "kafka_export.h"
#include "log.h"
#include "spool.h"
#include "stop.h"
#include "wire.h"

#define RETRY_MIN_MS	 500
#define RETRY_MAX_MS	 30000
#define WARN_INTERVAL_NS (10 * 1000 * NS_PER_MS)
/* After a purge, how long delivery reports may take to come back before the handle goes. */
#define PURGE_REPORT_MS 10000
/* {"agent_id":"<id>","batch_run":<u64>,"batch_seq":<u64>, around a record's JSON */
#define JSON_PREFIX_MAX 96

/*
 * What librdkafka carries with each message, handed back in its delivery report. Every ref
 * is also on the exporter's in-flight list until its report is served, so a teardown can
 * account for a message whose report never came.
 */
struct batch_ref {
	struct batch_ref *prev, *next;
	uint64_t sequence; /* the batch's sequence in this run; 0 for one from the spool */
	uint64_t spool_id; /* from_spool: its spool ordinal */
	uint32_t records;
	int from_spool; /* the payload was read from the spool, and is not a batch buffer */
	void *payload;
	size_t len;
};

/*
 * Batch buffers are reused: a fresh 1 MB malloc per batch is an mmap, 240 page faults and a
 * munmap, which cost more than encoding the batch.
 */
#define BUFFER_POOL_MAX 16

/* A warning repeated at most every 10 s, with the count of those held back. */
struct rate_limited_warning {
	uint64_t last_ns;
	uint64_t suppressed;
};

struct kafka_export {
	struct kafka_export_config config;
	rd_kafka_t *rk;
	rd_kafka_topic_t *topic;
	struct spool *spool;
	char agent_id[WIRE_AGENT_ID_MAX + 1];
	size_t agent_id_len;

	/* the batch being filled */
	uint8_t *buffer;
	size_t capacity;
	size_t used;
	uint32_t batch_records;
	int batch_open;
	uint64_t batch_sequence;
	uint64_t batch_started_ns;
	struct wire_batch wire;

	uint64_t run_id; /* random, nonzero: (agent id, run id, sequence) names a batch */
	uint64_t next_sequence;
	int first_of_run;
	struct batch_ref inflight; /* list head: refs whose delivery report is still due */
	uint64_t inflight_records;

	int kafka_up;
	uint64_t retry_at_ns;
	uint32_t retry_ms;
	int fatal;

	struct kafka_export_stats stats;
	struct rate_limited_warning warn_delivery, warn_drop, warn_spool;
	void *buffer_pool[BUFFER_POOL_MAX];
	int pooled;
};

static void *buffer_get(struct kafka_export *exporter)
{
	if (exporter->pooled)
		return exporter->buffer_pool[--exporter->pooled];
	return malloc(exporter->capacity);
}

static void buffer_put(struct kafka_export *exporter, void *buffer)
{
	if (exporter->pooled < BUFFER_POOL_MAX)
		exporter->buffer_pool[exporter->pooled++] = buffer;
	else
		free(buffer);
}

/* A payload librdkafka is done with: a batch buffer goes back to the pool. */
static void payload_release(struct kafka_export *exporter, void *payload, int from_spool)
{
	if (from_spool)
		free(payload);
	else
		buffer_put(exporter, payload);
}

/* Returns 1 when the warning may be printed now, and how many were held back before it. */
static int warning_due(struct rate_limited_warning *warning, uint64_t *suppressed)
{
	uint64_t now = monotonic_ns();

	if (warning->last_ns && now - warning->last_ns < WARN_INTERVAL_NS) {
		warning->suppressed++;
		return 0;
	}
	*suppressed = warning->suppressed;
	warning->suppressed = 0;
	warning->last_ns = now;
	return 1;
}

/*
 * Kafka stopped answering, or a probe failed. The probe interval starts at RETRY_MIN_MS and
 * doubles with each failed probe; other failures during the same outage leave it alone.
 */
static void mark_down(struct kafka_export *exporter, int probe_failed)
{
	if (exporter->kafka_up) {
		exporter->kafka_up = 0;
		exporter->retry_ms = RETRY_MIN_MS;
	} else if (probe_failed) {
		exporter->retry_ms *= 2;
		if (exporter->retry_ms > RETRY_MAX_MS)
			exporter->retry_ms = RETRY_MAX_MS;
	} else {
		return;
	}
	exporter->retry_at_ns = monotonic_ns() + exporter->retry_ms * NS_PER_MS;
}

static void mark_up(struct kafka_export *exporter)
{
	if (!exporter->kafka_up)
		pr_info("kafka: delivering again\n");
	exporter->kafka_up = 1;
	exporter->retry_ms = RETRY_MIN_MS;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_export *exporter = opaque;
	uint64_t suppressed;

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal_reason[512];

		rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
		pr_warn("kafka: fatal producer error: %s; restarting the producer\n", fatal_reason);
		exporter->fatal = 1;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		mark_down(exporter, 0);
	if (warning_due(&exporter->warn_delivery, &suppressed))
		pr_warn("kafka: %s%s\n", reason,
			suppressed ? " (and earlier errors held back)" : "");
}

/* Errors that sending again cannot cure: the batch is dropped, and counted. */
static int error_is_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
		return 1;
	default:
		return 0;
	}
}

/* A batch of this run (sequence) or from the spool (sequence 0, spool_id) is dropped. */
static void count_dropped(struct kafka_export *exporter, uint64_t sequence, uint64_t spool_id,
			  uint32_t records, const char *why)
{
	uint64_t suppressed;

	exporter->stats.records_dropped += records;
	exporter->stats.batches_dropped++;
	if (!sequence) {
		exporter->stats.spool_dropped_batches++;
		exporter->stats.spool_dropped_records += records;
	}
	if (!warning_due(&exporter->warn_drop, &suppressed))
		return;
	if (sequence)
		pr_warn("kafka: dropped batch %" PRIu64 " of run %016" PRIx64
			" (%u records): %s; %" PRIu64 " records dropped so far\n",
			sequence, exporter->run_id, records, why, exporter->stats.records_dropped);
	else
		pr_warn("kafka: dropped spooled batch %" PRIu64 " (%u records): %s; %" PRIu64
			" records dropped so far\n",
			spool_id, records, why, exporter->stats.records_dropped);
}

/* A batch of this run Kafka did not take: into the spool if it has room, else dropped. */
static void spool_or_drop(struct kafka_export *exporter, const void *payload, size_t len,
			  uint64_t sequence, uint32_t records)
{
	uint64_t suppressed;
	int err;

	if (!exporter->spool) {
		count_dropped(exporter, sequence, 0, records,
			      "Kafka cannot take it and there is no --spool-dir");
		return;
	}
	err = spool_put(exporter->spool, records, payload, len);
	if (!err) {
		exporter->stats.batches_spooled++;
		exporter->stats.records_spooled += records;
		return;
	}
	if (err == -EDQUOT) {
		count_dropped(exporter, sequence, 0, records,
			      "the spool is full (--spool-max-bytes)");
		return;
	}
	if (warning_due(&exporter->warn_spool, &suppressed))
		pr_warn("kafka: writing to the spool %s failed: %s\n", spool_dir(exporter->spool),
			strerror(-err));
	count_dropped(exporter, sequence, 0, records, "the spool write failed");
}

static void inflight_add(struct kafka_export *exporter, struct batch_ref *ref)
{
	ref->next = exporter->inflight.next;
	ref->prev = &exporter->inflight;
	ref->next->prev = ref;
	exporter->inflight.next = ref;
	exporter->stats.inflight_bytes += ref->len;
	exporter->stats.inflight_batches++;
	exporter->inflight_records += ref->records;
}

static void inflight_remove(struct kafka_export *exporter, struct batch_ref *ref)
{
	ref->prev->next = ref->next;
	ref->next->prev = ref->prev;
	exporter->stats.inflight_bytes -= ref->len;
	exporter->stats.inflight_batches--;
	exporter->inflight_records -= ref->records;
}

/*
 * A message that was not delivered, for a reason sending again may cure: a batch of this run
 * goes to the spool (or is dropped), one from the spool waits there again.
 */
static void not_delivered(struct kafka_export *exporter, struct batch_ref *ref)
{
	if (ref->from_spool)
		spool_retry(exporter->spool, ref->spool_id);
	else
		spool_or_drop(exporter, ref->payload, ref->len, ref->sequence, ref->records);
	payload_release(exporter, ref->payload, ref->from_spool);
	free(ref);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
	struct kafka_export *exporter = opaque;
	struct batch_ref *ref = message->_private;
	uint64_t suppressed;

	(void)rk;
	inflight_remove(exporter, ref);
	if (!message->err) {
		exporter->stats.batches_delivered++;
		exporter->stats.records_delivered += ref->records;
		exporter->stats.bytes_delivered += message->len;
		if (ref->from_spool) {
			spool_delivered(exporter->spool, ref->spool_id);
			exporter->stats.batches_resent++;
			exporter->stats.records_resent += ref->records;
		}
		mark_up(exporter);
		payload_release(exporter, message->payload, ref->from_spool);
		free(ref);
		return;
	}

	exporter->stats.delivery_failures++;
	if (error_is_permanent(message->err)) {
		if (ref->from_spool)
			spool_delivered(exporter->spool, ref->spool_id);
		count_dropped(exporter, ref->sequence, ref->spool_id, ref->records,
			      rd_kafka_err2str(message->err));
		payload_release(exporter, message->payload, ref->from_spool);
		free(ref);
		return;
	}
	if (message->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
	    message->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
		mark_down(exporter, ref->from_spool);
		if (warning_due(&exporter->warn_delivery, &suppressed))
			pr_warn("kafka: a batch was not delivered: %s; %s\n",
				rd_kafka_err2str(message->err),
				exporter->spool ? "it waits in the spool" : "no spool to keep it");
	}
	not_delivered(exporter, ref);
}

static int producer_create(struct kafka_export *exporter, rd_kafka_t **out, char *err,
			   size_t err_len)
{
	rd_kafka_conf_t *conf;
	char why[512];
	rd_kafka_t *rk;
	int ret;

	ret = kafka_config_producer_conf(&exporter->config, exporter->agent_id, 0, &conf, err,
					 err_len);
	if (ret)
		return ret;
	rd_kafka_conf_set_opaque(conf, exporter);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_len, "cannot create the Kafka producer: %s", why);
		return -EINVAL;
	}
	*out = rk;
	return 0;
}

/* A random nonzero 64-bit run id from the kernel's CSPRNG; blocks only before it is seeded. */
static int draw_run_id(uint64_t *run_id)
{
	do {
		ssize_t n = getrandom(run_id, sizeof(*run_id), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(*run_id))
			return n < 0 ? -errno : -EIO;
	} while (!*run_id);
	return 0;
}

int kafka_export_open(const struct kafka_export_config *config, struct kafka_export **out,
		      char *err, size_t err_len)
{
	struct kafka_export *exporter;
	size_t smallest_batch;
	int ret;

	exporter = calloc(1, sizeof(*exporter));
	if (!exporter)
		return -ENOMEM;
	exporter->config = *config;
	ret = kafka_config_validate(config, exporter->agent_id, err, err_len);
	if (ret)
		goto fail;
	exporter->agent_id_len = strlen(exporter->agent_id);
	exporter->inflight.next = exporter->inflight.prev = &exporter->inflight;
	smallest_batch = wire_batch_size(exporter->agent_id_len, 1) + FLOW_RECORD_JSON_MAX +
			 exporter->agent_id_len + JSON_PREFIX_MAX;
	if (config->batch_bytes < smallest_batch || config->batch_bytes > 64u << 20) {
		snprintf(err, err_len, "--batch-bytes: %zu is not in [%zu, %u]",
			 config->batch_bytes, smallest_batch, 64u << 20);
		ret = -EINVAL;
		goto fail;
	}
	if (config->queue_max_bytes < config->batch_bytes) {
		snprintf(err, err_len, "--queue-max-bytes must be at least --batch-bytes (%zu)",
			 config->batch_bytes);
		ret = -EINVAL;
		goto fail;
	}
	exporter->capacity = config->batch_bytes;
	if (config->spool_dir) {
		ret = spool_open(config->spool_dir, config->spool_max_bytes, &exporter->spool, err,
				 err_len);
		if (ret)
			goto fail;
		if (spool_batches(exporter->spool))
			pr_info("kafka: %u batches (%" PRIu64 " records) wait in the spool %s\n",
				spool_batches(exporter->spool), spool_records(exporter->spool),
				config->spool_dir);
		/* torn files set aside at open: found in the spool, and lost */
		exporter->stats.spool_corrupt = spool_corrupt_batches(exporter->spool);
		exporter->stats.spool_found_batches =
			spool_batches(exporter->spool) + exporter->stats.spool_corrupt;
		exporter->stats.spool_found_records =
			spool_records(exporter->spool) + spool_corrupt_records(exporter->spool);
		exporter->stats.spool_dropped_batches = exporter->stats.spool_corrupt;
		exporter->stats.spool_dropped_records = spool_corrupt_records(exporter->spool);
		exporter->stats.batches_dropped = exporter->stats.spool_corrupt;
		exporter->stats.records_dropped = spool_corrupt_records(exporter->spool);
	}
	/*
	 * Identity without the clock: a random run id per process and a count from 1. Neither
	 * a clock set back nor a lost spool can make (agent id, run id, sequence) repeat.
	 */
	ret = draw_run_id(&exporter->run_id);
	if (ret) {
		snprintf(err, err_len, "cannot draw a run id: getrandom: %s", strerror(-ret));
		goto fail;
	}
	exporter->next_sequence = 1;
	exporter->first_of_run = 1;
	ret = producer_create(exporter, &exporter->rk, err, err_len);
	if (ret)
		goto fail;
	/*
	 * The topic handle before the first connection: its metadata then comes with the first
	 * request. A topic first named in a produce call waits for librdkafka's 1 s scan.
	 */
	exporter->topic = rd_kafka_topic_new(exporter->rk, config->topic, NULL);
	if (!exporter->topic) {
		snprintf(err, err_len, "--topic %s: %s", config->topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(exporter->rk);
		ret = -EINVAL;
		goto fail;
	}
	exporter->kafka_up = 1;
	exporter->retry_ms = RETRY_MIN_MS;
	*out = exporter;
	return 0;

fail:
	spool_close(exporter->spool);
	free(exporter);
	return ret;
}

static int produce(struct kafka_export *exporter, void *payload, size_t len, uint64_t sequence,
		   uint64_t spool_id, uint32_t records, int from_spool)
{
	struct batch_ref *ref = calloc(1, sizeof(*ref));
	rd_kafka_resp_err_t err;

	if (!ref)
		return -ENOMEM;
	ref->sequence = sequence;
	ref->spool_id = spool_id;
	ref->records = records;
	ref->from_spool = from_spool;
	ref->payload = payload;
	ref->len = len;
	/* The agent id as key: one agent's batches go to one partition, in order. */
	err = rd_kafka_producev(exporter->rk, RD_KAFKA_V_RKT(exporter->topic),
				RD_KAFKA_V_KEY(exporter->agent_id, exporter->agent_id_len),
				RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_MSGFLAGS(0),
				RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
	if (err) {
		free(ref);
		return -EAGAIN;
	}
	inflight_add(exporter, ref);
	return 0;
}

static int has_room(const struct kafka_export *exporter, size_t len)
{
	return exporter->stats.inflight_bytes + len <= exporter->config.queue_max_bytes;
}

/* Sends spooled batches while Kafka answers and the in-memory queue has room. */
static void resend_spooled(struct kafka_export *exporter)
{
	struct spool *spool = exporter->spool;
	char why[512];

	while (spool && spool_waiting(spool)) {
		uint64_t spool_id;
		uint32_t records;
		void *payload;
		size_t len;
		int ret;

		if (!exporter->kafka_up) {
			/* One batch probes whether Kafka is back. */
			if (monotonic_ns() < exporter->retry_at_ns ||
			    exporter->stats.inflight_batches)
				return;
			exporter->retry_at_ns = monotonic_ns() + exporter->retry_ms * NS_PER_MS;
		} else if (!has_room(exporter, exporter->capacity)) {
			return;
		}
		ret = spool_take(spool, &spool_id, &records, &payload, &len, why, sizeof(why));
		if (ret == 0)
			return;
		if (ret == -EBADMSG) {
			/* the spool logged it; its records, as the index knew them, are lost */
			exporter->stats.spool_corrupt++;
			count_dropped(exporter, 0, spool_id, records,
				      "torn in the spool, or its spool file vanished");
			continue;
		}
		if (ret < 0) {
			pr_warn("kafka: reading the spool failed: %s\n", strerror(-ret));
			return;
		}
		if (produce(exporter, payload, len, 0, spool_id, records, 1)) {
			free(payload);
			spool_retry(spool, spool_id);
			return;
		}
		if (!exporter->kafka_up)
			return;
	}
}

/* Where a sealed batch goes; see kafka_export.h. Takes ownership of the batch buffer. */
static void dispatch(struct kafka_export *exporter, uint8_t *payload, size_t len, uint64_t sequence,
		     uint32_t records)
{
	int backlog = exporter->spool && spool_batches(exporter->spool);

	/* Replay: while Kafka answers, wait for room rather than spool. */
	while (exporter->config.block_when_full && exporter->kafka_up && !backlog &&
	       !has_room(exporter, len) && !exporter->fatal)
		rd_kafka_poll(exporter->rk, 100);

	if (!backlog && has_room(exporter, len) && (exporter->kafka_up || !exporter->spool)) {
		if (!produce(exporter, payload, len, sequence, 0, records, 0))
			return;
	}
	spool_or_drop(exporter, payload, len, sequence, records);
	buffer_put(exporter, payload);
}

static int batch_begin(struct kafka_export *exporter)
{
	exporter->buffer = buffer_get(exporter);
	if (!exporter->buffer)
		return -ENOMEM;
	exporter->batch_sequence = exporter->next_sequence++;
	exporter->batch_records = 0;
	exporter->batch_started_ns = monotonic_ns();
	exporter->batch_open = 1;
	if (exporter->config.format == KAFKA_FORMAT_BINARY) {
		wire_batch_begin(&exporter->wire, exporter->buffer, exporter->capacity,
				 exporter->agent_id);
		exporter->used = exporter->wire.used;
	} else {
		exporter->used = 0;
	}
	return 0;
}

static void batch_seal(struct kafka_export *exporter)
{
	uint8_t flags = exporter->first_of_run ? WIRE_FLAG_FIRST_OF_RUN : 0;
	size_t len = exporter->used;

	if (!exporter->batch_open)
		return;
	if (exporter->config.format == KAFKA_FORMAT_BINARY)
		len = wire_batch_seal(&exporter->wire, exporter->run_id, exporter->batch_sequence,
				      wall_ns(), flags);
	exporter->first_of_run = 0;
	exporter->batch_open = 0;
	exporter->stats.batches++;
	dispatch(exporter, exporter->buffer, len, exporter->batch_sequence,
		 exporter->batch_records);
	exporter->buffer = NULL;
	rd_kafka_poll(exporter->rk, 0);
}

static void append_json(struct kafka_export *exporter, const struct flow_record *record)
{
	char *start = (char *)exporter->buffer + exporter->used, *p = start;

	memcpy(p, "{\"agent_id\":\"", 13);
	p += 13;
	memcpy(p, exporter->agent_id, exporter->agent_id_len);
	p += exporter->agent_id_len;
	memcpy(p, "\",\"batch_run\":", 14);
	p = flow_format_u64(p + 14, exporter->run_id);
	memcpy(p, ",\"batch_seq\":", 13);
	p = flow_format_u64(p + 13, exporter->batch_sequence);
	*p++ = ',';
	p = flow_record_json_fields(p, record);
	exporter->used += (size_t)(p - start);
}

void kafka_export_record(struct kafka_export *exporter, const struct flow_record *record)
{
	size_t record_max = exporter->config.format == KAFKA_FORMAT_BINARY ?
				    WIRE_RECORD_SIZE :
				    FLOW_RECORD_JSON_MAX + exporter->agent_id_len + JSON_PREFIX_MAX;
	uint64_t suppressed;

	exporter->stats.records++;
	if (!exporter->batch_open && batch_begin(exporter)) {
		/* no batch was sealed: a record, not a batch, is lost */
		exporter->stats.records_dropped++;
		if (warning_due(&exporter->warn_drop, &suppressed))
			pr_warn("kafka: out of memory for a batch: a record is dropped\n");
		return;
	}
	if (exporter->config.format == KAFKA_FORMAT_BINARY) {
		wire_batch_add(&exporter->wire, record);
		exporter->used = exporter->wire.used;
	} else {
		append_json(exporter, record);
	}
	exporter->batch_records++;
	if (exporter->batch_records >= exporter->config.batch_records ||
	    exporter->capacity - exporter->used < record_max)
		batch_seal(exporter);
}

/* Commits the spool's group: what this iteration spooled is on disk once it returns. */
static void spool_group_commit(struct kafka_export *exporter)
{
	uint64_t suppressed;
	int err;

	if (!exporter->spool)
		return;
	err = spool_commit(exporter->spool);
	if (err && warning_due(&exporter->warn_spool, &suppressed))
		pr_warn("kafka: syncing the spool %s failed: %s\n", spool_dir(exporter->spool),
			strerror(-err));
}

/*
 * Serves delivery reports until none is due or the deadline passes; returns how many are
 * still due. After a purge every message gets its report (ERR__PURGE_QUEUE or
 * ERR__PURGE_INFLIGHT) at the next poll, so this normally returns 0 at once.
 */
static uint64_t reports_drain(struct kafka_export *exporter, rd_kafka_t *rk, uint64_t deadline)
{
	while (exporter->stats.inflight_batches && monotonic_ns() < deadline)
		rd_kafka_poll(rk, 50);
	return exporter->stats.inflight_batches;
}

/*
 * Destroys a producer handle after purging it, and accounts for every message it held: most
 * through their delivery reports, the rest (no report came) as not delivered, into the spool
 * or counted as dropped. librdkafka has let go of their payloads once destroy returns.
 */
static void producer_retire(struct kafka_export *exporter, rd_kafka_t *rk, rd_kafka_topic_t *topic)
{
	uint64_t left;

	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	left = reports_drain(exporter, rk, monotonic_ns() + PURGE_REPORT_MS * NS_PER_MS);
	if (topic)
		rd_kafka_topic_destroy(topic);
	rd_kafka_destroy(rk);
	if (left)
		pr_warn("kafka: %" PRIu64
			" batches had no delivery report %d ms after the purge; %s\n",
			left, PURGE_REPORT_MS,
			exporter->spool ? "they go to the spool" : "they are dropped");
	while (exporter->inflight.next != &exporter->inflight) {
		struct batch_ref *ref = exporter->inflight.next;

		inflight_remove(exporter, ref);
		exporter->stats.delivery_failures++;
		not_delivered(exporter, ref);
	}
	spool_group_commit(exporter);
}

/* After a fatal error (the idempotent producer lost its state): a new producer. */
static void producer_restart(struct kafka_export *exporter)
{
	char err[512];
	rd_kafka_t *fresh;

	if (producer_create(exporter, &fresh, err, sizeof(err))) {
		pr_warn("kafka: cannot restart the producer: %s\n", err);
		return;
	}
	producer_retire(exporter, exporter->rk, exporter->topic);
	exporter->rk = fresh;
	exporter->topic = rd_kafka_topic_new(fresh, exporter->config.topic, NULL);
	exporter->fatal = 0;
}

void kafka_export_poll(struct kafka_export *exporter)
{
	rd_kafka_poll(exporter->rk, 0);
	if (exporter->fatal)
		producer_restart(exporter);
	if (exporter->batch_open &&
	    monotonic_ns() - exporter->batch_started_ns >= exporter->config.batch_ms * NS_PER_MS)
		batch_seal(exporter);
	resend_spooled(exporter);
	spool_group_commit(exporter);
}

rd_kafka_t *kafka_export_handle(struct kafka_export *exporter)
{
	return exporter->rk;
}

void kafka_export_get_stats(struct kafka_export *exporter, struct kafka_export_stats *stats)
{
	*stats = exporter->stats;
	if (exporter->spool) {
		stats->spool_bytes = spool_bytes(exporter->spool);
		stats->spool_batches = spool_batches(exporter->spool);
		stats->spool_records = spool_records(exporter->spool);
		stats->spool_files = spool_files(exporter->spool);
		stats->spool_syncs = spool_syncs(exporter->spool);
	}
	stats->run_id = exporter->run_id;
	stats->next_sequence = exporter->next_sequence;
	stats->kafka_up = exporter->kafka_up;
}

/* How far off the two balances of kafka_export.h are, batches and records, after close. */
uint64_t kafka_export_unaccounted(const struct kafka_export_stats *s)
{
	/* what this run sealed: delivered directly, spooled, or dropped without the spool */
	int64_t sealed = (int64_t)s->batches -
			 (int64_t)(s->batches_delivered - s->batches_resent + s->batches_spooled +
				   s->batches_dropped - s->spool_dropped_batches);
	int64_t records = (int64_t)s->records -
			  (int64_t)(s->records_delivered - s->records_resent + s->records_spooled +
				    s->records_dropped - s->spool_dropped_records);
	/* what passed through the spool: found at open or spooled; resent, dropped, or left */
	int64_t spool = (int64_t)(s->spool_found_batches + s->batches_spooled) -
			(int64_t)(s->batches_resent + s->spool_dropped_batches + s->spool_batches);
	int64_t spool_records =
		(int64_t)(s->spool_found_records + s->records_spooled) -
		(int64_t)(s->records_resent + s->spool_dropped_records + s->spool_records);

	return (uint64_t)(llabs(sealed) + llabs(records) + llabs(spool) + llabs(spool_records));
}

int kafka_export_close(struct kafka_export *exporter, int timeout_ms,
		       struct kafka_export_stats *final_stats)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	int signals_at_start = stop_signal_count(), signals_seen = signals_at_start;
	struct spool *spool = exporter->spool;
	uint64_t unaccounted;
	int ret;

	batch_seal(exporter);
	/* flush, with the timeout: deliveries, and the spool while Kafka takes it */
	for (;;) {
		int spooled = spool && spool_batches(spool);

		if (stop_signal_count() > signals_seen) {
			/* stop.h: the first signal here says what we wait for, the next stops it */
			if (stop_signal_count() - signals_at_start >= 2) {
				pr_warn("kafka: stopped waiting for Kafka on a second signal\n");
				break;
			}
			signals_seen = stop_signal_count();
			pr_warn("kafka: waiting up to %" PRIu64
				" s more (--flush-timeout) for Kafka "
				"to acknowledge %" PRIu64 " batches (%" PRIu64
				" bytes)%s; then %s. Another signal stops waiting now.\n",
				(uint64_t)((deadline - monotonic_ns()) / NS_PER_SEC + 1),
				exporter->stats.inflight_batches, exporter->stats.inflight_bytes,
				spooled && exporter->kafka_up ? " and to take the spool's backlog" :
								"",
				spool ? "what is left goes to the spool" :
					"what is left is dropped (counted)");
		}

		rd_kafka_poll(exporter->rk, 50);
		if (exporter->fatal)
			producer_restart(exporter);
		resend_spooled(exporter);
		spool_group_commit(exporter);
		if (!exporter->stats.inflight_batches && (!spooled || !exporter->kafka_up))
			break;
		if (monotonic_ns() >= deadline)
			break;
	}
	if (exporter->stats.inflight_batches)
		pr_warn("kafka: %" PRIu64 " batches not acknowledged after %d ms; %s\n",
			exporter->stats.inflight_batches, timeout_ms,
			spool ? "moving them to the spool" : "they are dropped");
	/* purge, serve every report, then the handle goes: nothing is left unaccounted */
	producer_retire(exporter, exporter->rk, exporter->topic);
	exporter->rk = NULL;
	exporter->topic = NULL;
	kafka_export_get_stats(exporter, final_stats);
	if (spool && spool_batches(spool))
		pr_warn("kafka: %u batches (%" PRIu64 " records) wait in the spool %s for the next "
			"start\n",
			spool_batches(spool), spool_records(spool), spool_dir(spool));
	unaccounted = kafka_export_unaccounted(final_stats);
	final_stats->unaccounted = unaccounted;
	if (unaccounted)
		pr_warn("kafka: accounting broken: sealed %" PRIu64 " != delivered %" PRIu64
			" - resent %" PRIu64 " + spooled %" PRIu64 " + dropped %" PRIu64
			" - dropped from the spool %" PRIu64 " (off by %" PRIu64 ")\n",
			final_stats->batches, final_stats->batches_delivered,
			final_stats->batches_resent, final_stats->batches_spooled,
			final_stats->batches_dropped, final_stats->spool_dropped_batches,
			unaccounted);
	ret = final_stats->records_dropped || final_stats->batches_dropped || unaccounted ? -EIO :
											    0;
	spool_close(spool);
	free(exporter->buffer);
	while (exporter->pooled)
		free(exporter->buffer_pool[--exporter->pooled]);
	free(exporter);
	return ret;
}
