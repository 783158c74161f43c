// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ingest: batches to rows, duplicates skipped, inserts made whole; see ingest.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_id.h"
#include "bytes.h"
#include "clock.h"
#include "ingest.h"
#include "json_record.h"
#include "log.h"
#include "wal.h"
#include "wire.h"

/* agent String (LEB128 length), batch_run UInt64, batch_seq UInt64 */
#define ROW_PREFIX_MAX (2 + WIRE_AGENT_ID_MAX + 8 + 8)
/* a cluster's rows end with inserted_at DateTime and batch_crc UInt32 (ingest_router) */
#define ROW_SUFFIX_MAX 8
#define ROW_MAX	       (ROW_PREFIX_MAX + WIRE_RECORD_SIZE + ROW_SUFFIX_MAX)
/* agent, batch_run, batch_seq, batch_crc UInt32, rows UInt32[, inserted_at DateTime] */
#define LEDGER_ROW_MAX (ROW_PREFIX_MAX + 4 + 4 + ROW_SUFFIX_MAX)
#define MAX_GAPS       16   /* missing ranges remembered per run */
#define RUNS_PER_AGENT 4    /* the runs of an agent followed at once */
#define LOOKUP_CHUNK   2000 /* identities per ledger query */

/* Records whose first packet is before this, or too far ahead of our clock, are refused. */
#define FIRST_SEEN_MIN_S UINT64_C(631152000) /* 1990-01-01 */

#define INSERT_COLUMNS                                                                 \
	"agent, batch_run, batch_seq, src_addr, dst_addr, src_port, dst_port, proto, " \
	"tcp_flags, vlan, ifindex, direction, sampling, packets, bytes, first_seen, last_seen"
#define LEDGER_COLUMNS "agent, batch_run, batch_seq, batch_crc, rows"
/* a cluster's insert goes to a Null table whose views fill the shard's tables (sql/cluster) */
#define CLUSTER_INSERT_TABLE "flows.ingest"

struct gap {
	uint64_t first, last;
};

/* One run of an agent: its sequence so far and the batches still missing from it. */
struct run_state {
	uint64_t run;
	uint64_t max_sequence;
	uint64_t last_used; /* ingest->clock when last seen, for replacing the oldest */
	struct gap gaps[MAX_GAPS];
	int gap_count;
	int start_seen; /* its first batch came (which may come after others: a spool's order) */
};

struct agent_state {
	char id[WIRE_AGENT_ID_MAX + 1];
	struct run_state runs[RUNS_PER_AGENT];
	/* the ledger was asked whether other runs of it are stored (once per process) */
	uint8_t history_asked;
	uint8_t has_history; /* yes: its first run here is a restart, not a start */
};

/* A batch of the pending group. */
struct batch_entry {
	uint32_t agent;
	uint8_t flags;
	uint8_t duplicate; /* 1: stored before, rows not inserted; 2: id stored with other rows */
	uint8_t json;	   /* its CRC is taken over its rows at seal */
	uint64_t run, sequence;
	uint32_t crc;	   /* wire: the header's records CRC; JSON: the CRC of its rows */
	uint32_t rows;	   /* rows kept */
	uint32_t row_size; /* every row of a batch has the same prefix */
	uint32_t received; /* Unix seconds it came: a cluster's inserted_at */
	size_t offset;	   /* of its first row in the group's rows */
};

/* The sealed insert: durable in its write-ahead file until every part is stored. */
struct sealed {
	struct wal_insert wal; /* raw rows, then the ledger rows */
	uint32_t next_part;    /* parts before it are stored */
	uint64_t raw_rows;
	uint32_t shard;	     /* a cluster's: where every part of it goes */
	char path[PATH_MAX]; /* its write-ahead file; "" when not (yet) written */
};

struct ingest {
	struct store *store;
	struct ingest_options options;
	struct agent_state *agents;
	uint32_t agent_count;
	uint64_t clock;
	/* the pending group */
	uint8_t *rows;
	size_t rows_len, rows_cap;
	struct batch_entry *batches;
	uint32_t batch_count, batch_cap;
	uint32_t *slots; /* open addressing over batches: index + 1, 0 empty */
	uint32_t slot_cap;
	uint64_t pending_rows;
	uint64_t pending_since_ns;
	int json_open;	 /* the last batch may take more JSON lines */
	int json_skip;	 /* the JSON batch being read is a duplicate */
	int json_reject; /* its agent id was refused */
	struct sealed *sealed;
	uint8_t *source; /* ingest_set_source: kept in the next sealed insert's file */
	size_t source_len;
	int fault_kill_after_part; /* tests only: -1 off */
	int fault_kill_after_seal;
	char wal_dir[PATH_MAX]; /* options.wal_dir points here */
	struct ingest_stats stats;
	struct log_limit rejects; /* the per-record and per-batch rejection lines */
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t identity_hash(uint32_t agent, uint64_t run, uint64_t sequence)
{
	return mix64(sequence ^ mix64(run ^ ((uint64_t)agent << 40)));
}

/* Agent ids follow the agent's own rule (agent_id.h): they name rows, and appear in SQL text. */
_Static_assert(AGENT_ID_MAX == WIRE_AGENT_ID_MAX, "the wire format carries every valid id");

/* --- agents and their runs ----------------------------------------------------------------- */

static int agent_index(struct ingest *ingest, const char *id, uint32_t *index)
{
	struct agent_state *grown;
	uint32_t i;

	for (i = 0; i < ingest->agent_count; i++) {
		if (!strcmp(ingest->agents[i].id, id)) {
			*index = i;
			return 0;
		}
	}
	grown = realloc(ingest->agents, (ingest->agent_count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	ingest->agents = grown;
	memset(&grown[i], 0, sizeof(grown[i]));
	snprintf(grown[i].id, sizeof(grown[i].id), "%s", id);
	ingest->agent_count++;
	ingest->stats.agents = ingest->agent_count;
	*index = i;
	return 0;
}

/* The state of one run of an agent, taking the slot of the run least recently seen. */
static struct run_state *run_find(struct ingest *ingest, struct agent_state *agent, uint64_t run,
				  int *is_new, int *had_runs)
{
	struct run_state *oldest = &agent->runs[0];
	int i;

	*is_new = *had_runs = 0;
	for (i = 0; i < RUNS_PER_AGENT; i++) {
		struct run_state *r = &agent->runs[i];

		if (r->last_used && r->run == run) {
			r->last_used = ++ingest->clock;
			return r;
		}
		if (r->last_used)
			*had_runs = 1;
		if (r->last_used < oldest->last_used)
			oldest = r;
	}
	/* the gaps of a run no longer followed stay counted in batches_missing */
	memset(oldest, 0, sizeof(*oldest));
	oldest->run = run;
	oldest->last_used = ++ingest->clock;
	*is_new = 1;
	return oldest;
}

static void gap_fill(struct ingest *ingest, const struct agent_state *agent, struct run_state *r,
		     uint64_t sequence)
{
	int i;

	for (i = 0; i < r->gap_count; i++) {
		struct gap *gap = &r->gaps[i];

		if (sequence < gap->first || sequence > gap->last)
			continue;
		ingest->stats.batches_missing--;
		pr_info("agent %s: late batch %" PRIu64 " arrived; %" PRIu64 " batches still "
			"missing\n",
			agent->id, sequence, ingest->stats.batches_missing);
		if (gap->first == gap->last) {
			r->gaps[i] = r->gaps[--r->gap_count];
		} else if (sequence == gap->first) {
			gap->first++;
		} else if (sequence == gap->last) {
			gap->last--;
		} else if (r->gap_count < MAX_GAPS) {
			r->gaps[r->gap_count].first = sequence + 1;
			r->gaps[r->gap_count++].last = gap->last;
			gap->last = sequence - 1;
		}
		return;
	}
}

/*
 * Follows an agent's runs: reports gaps within a run, restarts (a new run), and for agents of
 * wire format 1 (run 0, numbers that may repeat) a first-of-run batch at or below the known
 * sequence, which is raised as an alarm: that batch is stored all the same.
 */
static void track_sequence(struct ingest *ingest, const struct batch_entry *b)
{
	struct agent_state *agent = &ingest->agents[b->agent];
	struct run_state *r;
	uint64_t missing;
	int is_new, had_runs;

	r = run_find(ingest, agent, b->run, &is_new, &had_runs);
	if (b->run && !r->start_seen && (b->flags & WIRE_FLAG_FIRST_OF_RUN || b->sequence == 1)) {
		int i, others = agent->has_history;

		/* an agent's first run is a start, not a restart (the ledger knows of earlier) */
		for (i = 0; i < RUNS_PER_AGENT; i++)
			others |= agent->runs[i].last_used && agent->runs[i].run != b->run;
		r->start_seen = 1;
		if (others) {
			ingest->stats.agent_restarts++;
			pr_info("agent %s restarted: run %016" PRIx64 "\n", agent->id, b->run);
		}
	}
	if (is_new && b->run) {
		r->max_sequence = b->sequence;
		return;
	}
	if (!b->run && b->flags & WIRE_FLAG_FIRST_OF_RUN && r->max_sequence &&
	    b->sequence <= r->max_sequence) {
		ingest->stats.sequence_alarms++;
		pr_warn("agent %s restarted with sequence %" PRIu64 ", at or below the %" PRIu64
			" it reached before: its clock went back? Wire format 1 numbers may "
			"repeat; its batches are stored, but a later copy of an old batch cannot be "
			"told apart. Upgrade the agent (format 2 has run ids)\n",
			agent->id, b->sequence, r->max_sequence);
		r->max_sequence = b->sequence;
		r->gap_count = 0;
		return;
	}
	if (!r->max_sequence || b->sequence == r->max_sequence + 1) {
		if (b->sequence > r->max_sequence)
			r->max_sequence = b->sequence;
		return;
	}
	if (b->sequence <= r->max_sequence) {
		gap_fill(ingest, agent, r, b->sequence);
		return;
	}
	missing = b->sequence - r->max_sequence - 1;
	if (!b->run && b->flags & WIRE_FLAG_FIRST_OF_RUN) {
		ingest->stats.agent_restarts++;
		pr_info("agent %s restarted: its sequence goes on at %" PRIu64 "\n", agent->id,
			b->sequence);
	} else {
		ingest->stats.batches_missing += missing;
		pr_warn("agent %s: %" PRIu64 " batches missing (%" PRIu64 "..%" PRIu64 "), lost "
			"before they reached Kafka or not yet arrived\n",
			agent->id, missing, r->max_sequence + 1, b->sequence - 1);
		if (r->gap_count < MAX_GAPS) {
			r->gaps[r->gap_count].first = r->max_sequence + 1;
			r->gaps[r->gap_count++].last = b->sequence - 1;
		}
	}
	r->max_sequence = b->sequence;
}

/* --- the pending group --------------------------------------------------------------------- */

static int slots_rebuild(struct ingest *ingest, uint32_t capacity)
{
	uint32_t *slots = calloc(capacity, sizeof(*slots)), i;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < ingest->batch_count; i++) {
		const struct batch_entry *b = &ingest->batches[i];
		uint32_t slot;

		if (!b->sequence)
			continue;
		slot = (uint32_t)identity_hash(b->agent, b->run, b->sequence) & (capacity - 1);
		while (slots[slot])
			slot = (slot + 1) & (capacity - 1);
		slots[slot] = i + 1;
	}
	free(ingest->slots);
	ingest->slots = slots;
	ingest->slot_cap = capacity;
	return 0;
}

/*
 * The batches of the group with this identity, one per call: *cursor starts at 0; NULL after
 * the last. A batch sent twice is in the group twice.
 */
static struct batch_entry *group_next(struct ingest *ingest, uint32_t agent, uint64_t run,
				      uint64_t sequence, uint32_t *cursor)
{
	uint32_t slot;

	if (!ingest->slot_cap)
		return NULL;
	if (!*cursor)
		*cursor = ((uint32_t)identity_hash(agent, run, sequence) & (ingest->slot_cap - 1)) +
			  1;
	for (slot = *cursor - 1; ingest->slots[slot]; slot = (slot + 1) & (ingest->slot_cap - 1)) {
		struct batch_entry *b = &ingest->batches[ingest->slots[slot] - 1];

		if (b->agent == agent && b->run == run && b->sequence == sequence) {
			*cursor = ((slot + 1) & (ingest->slot_cap - 1)) + 1;
			return b;
		}
	}
	*cursor = slot + 1;
	return NULL;
}

/* Appends a batch to the group (and to the identity index). */
static struct batch_entry *group_add(struct ingest *ingest, uint32_t agent, uint64_t run,
				     uint64_t sequence, uint8_t flags, uint32_t crc)
{
	struct batch_entry *b;

	if (ingest->batch_count == ingest->batch_cap) {
		uint32_t cap = ingest->batch_cap ? ingest->batch_cap * 2 : 256;
		struct batch_entry *grown = realloc(ingest->batches, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		ingest->batches = grown;
		ingest->batch_cap = cap;
	}
	if ((ingest->batch_count + 1) * 2 > ingest->slot_cap &&
	    slots_rebuild(ingest, ingest->slot_cap ? ingest->slot_cap * 2 : 512))
		return NULL;
	b = &ingest->batches[ingest->batch_count++];
	*b = (struct batch_entry){ .agent = agent,
				   .run = run,
				   .sequence = sequence,
				   .flags = flags,
				   .crc = crc,
				   .received = (uint32_t)(wall_ns() / NS_PER_SEC),
				   .offset = ingest->rows_len };
	if (sequence) {
		uint32_t slot = (uint32_t)identity_hash(agent, run, sequence) &
				(ingest->slot_cap - 1);

		while (ingest->slots[slot])
			slot = (slot + 1) & (ingest->slot_cap - 1);
		ingest->slots[slot] = ingest->batch_count;
	}
	return b;
}

static void group_reset(struct ingest *ingest)
{
	ingest->rows_len = 0;
	ingest->batch_count = 0;
	if (ingest->slots)
		memset(ingest->slots, 0, ingest->slot_cap * sizeof(*ingest->slots));
	ingest->pending_rows = 0;
	ingest->stats.pending_rows = 0;
	ingest->json_open = 0;
}

/* A batch begins; its duplicates are found when the group is sealed. */
static int batch_begin(struct ingest *ingest, uint32_t agent, uint64_t run, uint64_t sequence,
		       uint8_t flags, uint32_t crc)
{
	return group_add(ingest, agent, run, sequence, flags, crc) ? 1 : -ENOMEM;
}

/* Page-aligned, so that the write-ahead file goes to disk without a copy (wal.h). */
static int rows_reserve(struct ingest *ingest, size_t more)
{
	return wal_buffer_reserve(&ingest->rows, &ingest->rows_cap, ingest->rows_len + more);
}

/* A sealed insert's buffer, done with: the next group fills it, its pages already mapped. */
static void rows_recycle(struct ingest *ingest, struct sealed *s)
{
	if (ingest->rows || !s->wal.payload || !s->wal.payload_cap)
		return;
	ingest->rows = s->wal.payload;
	ingest->rows_cap = s->wal.payload_cap;
	s->wal.payload = NULL;
	s->wal.payload_cap = 0;
}

/* The RowBinary prefix of a row: agent String (LEB128 length), batch_run, batch_seq. */
static size_t row_prefix(uint8_t *p, const char *agent, uint64_t run, uint64_t sequence)
{
	size_t len = strlen(agent), n = 0;

	if (len >= 128) {
		p[n++] = (uint8_t)(len | 0x80);
		p[n++] = (uint8_t)(len >> 7);
	} else {
		p[n++] = (uint8_t)len;
	}
	memcpy(p + n, agent, len);
	n += len;
	put_le64(p + n, run);
	put_le64(p + n + 8, sequence);
	return n + 16;
}

static void rows_added(struct ingest *ingest, struct batch_entry *b, size_t row_size, uint64_t rows)
{
	if (!ingest->pending_rows && rows)
		ingest->pending_since_ns = monotonic_ns();
	b->rows += (uint32_t)rows;
	b->row_size = (uint32_t)row_size;
	ingest->pending_rows += rows;
	ingest->stats.pending_rows = ingest->pending_rows;
}

/* 1 when a record's first packet lies in the window a store accepts (see ingest.h). */
static int first_seen_plausible(const struct ingest *ingest, uint64_t first_seen_ns)
{
	uint64_t seconds = first_seen_ns / NS_PER_SEC;
	uint64_t ahead = ingest->options.max_future_s;

	return seconds >= FIRST_SEEN_MIN_S && seconds <= (uint64_t)(wall_ns() / NS_PER_SEC) + ahead;
}

/* A bad input can reject every line: the first few of each minute are printed, then a count. */
static bool reject_shown(struct ingest *ingest)
{
	return log_limit_allow(&ingest->rejects, monotonic_ms());
}

static void out_of_window(struct ingest *ingest, const char *where, const char *agent,
			  uint64_t first_seen_ns)
{
	/* a line per thousand: a corrupt trace must not flood the log */
	if (ingest->stats.records_out_of_window++ % 1000 == 0)
		pr_warn("%s: record of agent %s refused: first packet at %" PRIu64
			" s is before 1990 or more than %" PRIu64 " s ahead of this "
			"host's clock (%" PRIu64 " such records so far)\n",
			where, agent, (uint64_t)(first_seen_ns / NS_PER_SEC),
			ingest->options.max_future_s, ingest->stats.records_out_of_window);
}

int ingest_add_wire(struct ingest *ingest, const void *data, size_t len, const char *where)
{
	struct wire_header header;
	struct batch_entry *b;
	enum wire_error err;
	uint8_t prefix[ROW_PREFIX_MAX];
	size_t prefix_len, suffix_len;
	uint64_t kept = 0;
	uint32_t index, i;
	int ret;

	ingest->stats.messages++;
	ingest->json_open = 0;
	err = wire_decode_header(data, len, &header);
	if (err) {
		ingest->stats.messages_rejected++;
		if (reject_shown(ingest))
			pr_warn("%s: rejected: %s\n", where, wire_strerror(err));
		return -EBADMSG;
	}
	/* the length, not strlen: a NUL inside the id breaks the rule too */
	if (!agent_id_valid(header.agent_id, header.agent_id_len)) {
		char escaped[AGENT_ID_ESCAPED_MAX];

		ingest->stats.messages_rejected++;
		agent_id_escape(header.agent_id, header.agent_id_len, escaped, sizeof(escaped));
		if (reject_shown(ingest))
			pr_warn("%s: batch rejected: agent id \"%s\" is not " AGENT_ID_RULE "\n",
				where, escaped);
		return -EBADMSG;
	}
	ret = agent_index(ingest, header.agent_id, &index);
	if (!ret)
		ret = batch_begin(ingest, index, header.run_id, header.sequence, header.flags,
				  header.records_crc);
	if (ret <= 0)
		return ret;
	b = &ingest->batches[ingest->batch_count - 1];
	ret = rows_reserve(ingest, (size_t)header.record_count * ROW_MAX);
	if (ret)
		return ret;
	prefix_len = row_prefix(prefix, header.agent_id, header.run_id, header.sequence);
	suffix_len = ingest->options.router ? ROW_SUFFIX_MAX : 0;
	for (i = 0; i < header.record_count; i++) {
		const uint8_t *record =
			(const uint8_t *)data + header.header_len + (size_t)i * header.record_size;
		struct flow_record decoded;
		uint8_t *row = ingest->rows + ingest->rows_len;

		if (wire_decode_record(data, &header, i, &decoded) != WIRE_OK) {
			ingest->stats.records_rejected++;
			if (reject_shown(ingest))
				pr_warn("%s: record %u of agent %s batch %" PRIu64
					" rejected: %s\n",
					where, i, header.agent_id, header.sequence,
					wire_strerror(WIRE_ERR_RECORD));
			continue;
		}
		if (!first_seen_plausible(ingest, decoded.stats.first_seen_ns)) {
			out_of_window(ingest, where, header.agent_id, decoded.stats.first_seen_ns);
			continue;
		}
		/* the record's first 81 bytes are already the table's RowBinary */
		memcpy(row, prefix, prefix_len);
		memcpy(row + prefix_len, record, WIRE_RECORD_SIZE);
		if (suffix_len) {
			put_le32(row + prefix_len + WIRE_RECORD_SIZE, b->received);
			put_le32(row + prefix_len + WIRE_RECORD_SIZE + 4, header.records_crc);
		}
		ingest->rows_len += prefix_len + WIRE_RECORD_SIZE + suffix_len;
		kept++;
	}
	rows_added(ingest, b, prefix_len + WIRE_RECORD_SIZE + suffix_len, kept);
	return 0;
}

/* --- JSON lines ------------------------------------------------------------------------------ */

/* --- JSON lines ------------------------------------------------------------------------------ */

/*
 * One JSON line. Lines of one (agent, run, sequence) in a row are one batch, unless
 * message_start says a new Kafka message begins (then the line starts a batch even if the
 * previous message was the same batch: a copy sent again).
 */
static int json_line(struct ingest *ingest, const char *line, size_t len, const char *where,
		     int message_start)
{
	struct json_record fields;
	struct batch_entry *b;
	const char *why = NULL;
	const char *agent;
	uint32_t index;
	size_t n;
	int ret;

	/* a NUL would cut the agent id short, so that another id would be stored */
	if (memchr(line, '\0', len)) {
		ingest->stats.records_rejected++;
		if (reject_shown(ingest))
			pr_warn("%s: record rejected: a NUL byte in the line\n", where);
		return -EBADMSG;
	}
	if (json_record_parse(line, len, &fields, &why)) {
		ingest->stats.records_rejected++;
		if (reject_shown(ingest))
			pr_warn("%s: record rejected: %s\n", where, why);
		return -EBADMSG;
	}
	agent = fields.agent[0] ? fields.agent : ingest->options.input_agent;
	if (!agent_id_valid(agent, strlen(agent))) {
		char escaped[AGENT_ID_ESCAPED_MAX];

		ingest->stats.records_rejected++;
		agent_id_escape(agent, strlen(agent), escaped, sizeof(escaped));
		if (reject_shown(ingest))
			pr_warn("%s: record rejected: agent id \"%s\" is not " AGENT_ID_RULE "\n",
				where, escaped);
		return -EBADMSG;
	}
	if (!first_seen_plausible(ingest, fields.record.stats.first_seen_ns)) {
		out_of_window(ingest, where, agent, fields.record.stats.first_seen_ns);
		return 0;
	}
	ret = agent_index(ingest, agent, &index);
	if (ret)
		return ret;
	b = ingest->batch_count ? &ingest->batches[ingest->batch_count - 1] : NULL;
	if (!ingest->json_open || message_start || !fields.sequence || !b || b->agent != index ||
	    b->run != fields.run || b->sequence != fields.sequence) {
		/* the CRC of a JSON batch is taken over its rows when it is sealed */
		b = group_add(ingest, index, fields.run, fields.sequence, 0, 0);
		if (!b)
			return -ENOMEM;
		b->json = 1;
		ingest->json_open = 1;
	}
	ret = rows_reserve(ingest, ROW_MAX);
	if (ret)
		return ret;
	n = row_prefix(ingest->rows + ingest->rows_len, agent, fields.run, fields.sequence);
	wire_record_encode(ingest->rows + ingest->rows_len + n, &fields.record);
	n += WIRE_RECORD_SIZE;
	if (ingest->options.router) {
		/* batch_crc: known when the batch is sealed (json_crcs_fill) */
		put_le32(ingest->rows + ingest->rows_len + n, b->received);
		put_le32(ingest->rows + ingest->rows_len + n + 4, 0);
		n += ROW_SUFFIX_MAX;
	}
	ingest->rows_len += n;
	rows_added(ingest, b, n, 1);
	return 0;
}

int ingest_add_json(struct ingest *ingest, const char *line, size_t len, const char *where)
{
	ingest->stats.messages++;
	return json_line(ingest, line, len, where, 0);
}

int ingest_add_json_message(struct ingest *ingest, const char *data, size_t len, const char *where)
{
	const char *p = data, *end = data + len;
	int ret = 0, first = 1;

	ingest->stats.messages++;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;

		if (line_end > p) {
			int r = json_line(ingest, p, (size_t)(line_end - p), where, first);

			if (r == -ENOMEM)
				return r;
			if (r)
				ret = r;
			first = 0;
		}
		p = line_end + 1;
	}
	ingest->json_open = 0;
	return ret;
}

/* --- sealing: duplicates out, rows to the write-ahead file ------------------------------------ */

int ingest_due(struct ingest *ingest)
{
	if (!ingest->pending_rows && !ingest->batch_count)
		return 0;
	return ingest->pending_rows >= ingest->options.batch_rows ||
	       monotonic_ns() - ingest->pending_since_ns >= ingest->options.batch_ms * NS_PER_MS;
}

/* Appends a single-quoted SQL string literal. */
static int sql_quote(char **sql, size_t *len, size_t *cap, const char *text)
{
	size_t need = *len + 2 * strlen(text) + 4;
	const char *p;

	if (need > *cap) {
		size_t grown_cap = need * 2;
		char *grown = realloc(*sql, grown_cap);

		if (!grown)
			return -ENOMEM;
		*sql = grown;
		*cap = grown_cap;
	}
	(*sql)[(*len)++] = '\'';
	for (p = text; *p; p++) {
		if (*p == '\'' || *p == '\\')
			(*sql)[(*len)++] = '\\';
		(*sql)[(*len)++] = *p;
	}
	(*sql)[(*len)++] = '\'';
	(*sql)[*len] = '\0';
	return 0;
}

static int sql_append(char **sql, size_t *len, size_t *cap, const char *text)
{
	size_t n = strlen(text);

	if (*len + n + 1 > *cap) {
		size_t grown_cap = (*len + n + 1) * 2;
		char *grown = realloc(*sql, grown_cap);

		if (!grown)
			return -ENOMEM;
		*sql = grown;
		*cap = grown_cap;
	}
	memcpy(*sql + *len, text, n + 1);
	*len += n;
	return 0;
}

/*
 * Asks the ledger which of the batches [from, to) of the group are stored: marks those stored
 * with the same records as duplicates, and counts an alarm for an identity stored with other
 * records (the batch is stored again: numbers reused must not lose data).
 */
static int ledger_lookup(struct ingest *ingest, uint32_t from, uint32_t to, char *err,
			 size_t err_len)
{
	char *sql = NULL, *result = NULL, *line, *save = NULL, number[64];
	size_t len = 0, cap = 0;
	uint32_t i, asked = 0;
	int ret = 0;

	ret = sql_append(&sql, &len, &cap,
			 "SELECT agent, batch_run, batch_seq, batch_crc FROM flows.batches "
			 "WHERE (agent, batch_run, batch_seq) IN (");
	for (i = from; i < to && !ret; i++) {
		const struct batch_entry *b = &ingest->batches[i];

		if (!b->sequence || b->duplicate)
			continue;
		ret = sql_append(&sql, &len, &cap, asked++ ? ", (" : "(");
		if (!ret)
			ret = sql_quote(&sql, &len, &cap, ingest->agents[b->agent].id);
		snprintf(number, sizeof(number), ", %" PRIu64 ", %" PRIu64 ")", b->run,
			 b->sequence);
		if (!ret)
			ret = sql_append(&sql, &len, &cap, number);
	}
	if (!ret)
		ret = sql_append(&sql, &len, &cap, ")");
	if (ret) {
		free(sql);
		snprintf(err, err_len, "out of memory asking the ledger");
		return ret;
	}
	if (!asked) {
		free(sql);
		return 0;
	}
	ingest->stats.ledger_queries++;
	ret = store_query(ingest->store, sql, "TSV", &result, NULL, err, err_len);
	free(sql);
	if (ret) {
		char *why = strdup(err);

		/* nothing can be sealed until the ledger answers: say that this is what waits */
		if (why)
			snprintf(err, err_len,
				 "asking the ledger (flows.batches) which batches are "
				 "stored: %s",
				 why);
		free(why);
		return ret;
	}
	for (line = strtok_r(result, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *fields[4], *p = line;
		uint64_t run, sequence;
		struct batch_entry *b;
		uint32_t index, crc, cursor;
		int f;

		for (f = 0; f < 4 && p; f++) {
			fields[f] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		if (f < 4 || agent_index(ingest, fields[0], &index))
			continue;
		run = strtoull(fields[1], NULL, 10);
		sequence = strtoull(fields[2], NULL, 10);
		crc = (uint32_t)strtoul(fields[3], NULL, 10);
		cursor = 0;
		while ((b = group_next(ingest, index, run, sequence, &cursor))) {
			if (crc == b->crc)
				b->duplicate = 1;
			else if (b->duplicate != 1)
				b->duplicate =
					2; /* stored with other records, unless one matches */
		}
	}
	free(result);
	return 0;
}

/*
 * For agents this process has not followed yet: does the ledger hold runs of theirs other than
 * those in the group? Then a run starting here is a restart. One query per seal at most, and
 * once per agent and process; it reads an agent's first granules, not its history.
 */
static int history_lookup(struct ingest *ingest, char *err, size_t err_len)
{
	char *sql = NULL, *result = NULL, *line, *save = NULL, number[64];
	size_t len = 0, cap = 0;
	uint32_t i, agents = 0, pairs = 0;
	int ret;

	ret = sql_append(&sql, &len, &cap,
			 "SELECT DISTINCT agent FROM flows.batches WHERE agent IN (");
	for (i = 0; i < ingest->batch_count && !ret; i++) {
		struct agent_state *agent = &ingest->agents[ingest->batches[i].agent];

		if (agent->history_asked || !ingest->batches[i].run)
			continue;
		agent->history_asked = 2; /* in this query */
		ret = sql_append(&sql, &len, &cap, agents++ ? ", " : "");
		if (!ret)
			ret = sql_quote(&sql, &len, &cap, agent->id);
	}
	if (!ret)
		ret = sql_append(&sql, &len, &cap, ") AND (agent, batch_run) NOT IN (");
	for (i = 0; i < ingest->batch_count && !ret; i++) {
		const struct batch_entry *b = &ingest->batches[i];

		if (ingest->agents[b->agent].history_asked != 2 || !b->run)
			continue;
		ret = sql_append(&sql, &len, &cap, pairs++ ? ", (" : "(");
		if (!ret)
			ret = sql_quote(&sql, &len, &cap, ingest->agents[b->agent].id);
		snprintf(number, sizeof(number), ", %" PRIu64 ")", b->run);
		if (!ret)
			ret = sql_append(&sql, &len, &cap, number);
	}
	if (!ret)
		ret = sql_append(&sql, &len, &cap, ") LIMIT 1 BY agent");
	if (ret) {
		free(sql);
		snprintf(err, err_len, "out of memory asking the ledger");
		return ret;
	}
	if (agents) {
		ret = store_query(ingest->store, sql, "TSV", &result, NULL, err, err_len);
	}
	free(sql);
	for (line = result && !ret ? strtok_r(result, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint32_t index;

		if (!agent_index(ingest, line, &index))
			ingest->agents[index].has_history = 1;
	}
	free(result);
	/* asked (or, on failure, to be asked again with the next seal) */
	for (i = 0; i < ingest->batch_count; i++) {
		struct agent_state *agent = &ingest->agents[ingest->batches[i].agent];

		if (agent->history_asked == 2)
			agent->history_asked = ret ? 0 : 1;
	}
	return ret;
}

/* Writes the sealed insert's file; a failure leaves it sealed, for the next ingest_seal. */
static int write_ahead(struct ingest *ingest, struct sealed *s, char *err, size_t err_len)
{
	uint64_t started = monotonic_ns();
	int64_t written;

	written =
		wal_write(ingest->options.wal_dir, &s->wal, s->path, sizeof(s->path), err, err_len);
	if (written < 0) {
		s->path[0] = '\0';
		return (int)written;
	}
	ingest->stats.wal_bytes += (uint64_t)written;
	ingest->stats.wal_ns_total += monotonic_ns() - started;
	pr_debug("insert %016" PRIx64 ": %" PRId64 " bytes written ahead in %.3f s\n", s->wal.id,
		 written, (double)(monotonic_ns() - started) / 1e9);
	return 0;
}

/* The parts to insert, not those that say where the rows came from or go. */
static int part_is_stored(const struct wal_part *p)
{
	return p->table == WAL_TABLE_RAW || p->table == WAL_TABLE_LEDGER;
}

static int has_stored_parts(const struct sealed *s)
{
	uint32_t i;

	for (i = 0; i < s->wal.part_count; i++)
		if (part_is_stored(&s->wal.parts[i]))
			return 1;
	return 0;
}

static void sealed_free(struct sealed *s)
{
	if (!s)
		return;
	wal_insert_free(&s->wal);
	free(s);
}

static int part_add(struct wal_insert *insert, uint32_t *cap, enum wal_table table, uint64_t offset,
		    uint64_t len, uint32_t rows)
{
	if (insert->part_count == *cap) {
		uint32_t grown_cap = *cap ? *cap * 2 : 8;
		struct wal_part *grown = realloc(insert->parts, grown_cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		insert->parts = grown;
		*cap = grown_cap;
	}
	insert->parts[insert->part_count++] =
		(struct wal_part){ .table = table, .rows = rows, .offset = offset, .len = len };
	return 0;
}

/*
 * Moves the group's rows into a sealed insert: rows of duplicates dropped, parts of at most
 * part_rows rows (a part is one block, so one part in every table), the ledger rows last.
 */
static int group_to_sealed(struct ingest *ingest, struct sealed *s)
{
	int whole_batches = ingest->options.router != NULL;
	uint32_t part_cap = 0, part_rows = 0, i;
	uint64_t part_start = 0, ledger_rows = 0;
	size_t write = 0, ledger_start;
	int ret;

	for (i = 0; i < ingest->batch_count; i++) {
		const struct batch_entry *b = &ingest->batches[i];
		size_t len = (size_t)b->rows * b->row_size;
		uint32_t done = 0;

		if (b->duplicate == 1)
			continue;
		memmove(ingest->rows + write, ingest->rows + b->offset, len);
		/*
		 * A cluster's ledger row comes from the block that holds the batch's rows, so a
		 * batch is never split there: a part ends before a batch that would not fit (a
		 * batch has at most 2^20 rows, one block of the server's default size).
		 */
		if (whole_batches && part_rows && part_rows + b->rows > ingest->options.part_rows) {
			ret = part_add(&s->wal, &part_cap, WAL_TABLE_RAW, part_start,
				       write - part_start, part_rows);
			if (ret)
				return ret;
			part_start = write;
			part_rows = 0;
		}
		while (done < b->rows) {
			uint32_t take = b->rows - done;

			if (!whole_batches && take > ingest->options.part_rows - part_rows)
				take = ingest->options.part_rows - part_rows;
			write += (size_t)take * b->row_size;
			part_rows += take;
			done += take;
			if (part_rows >= ingest->options.part_rows) {
				ret = part_add(&s->wal, &part_cap, WAL_TABLE_RAW, part_start,
					       write - part_start, part_rows);
				if (ret)
					return ret;
				part_start = write;
				part_rows = 0;
			}
		}
		s->raw_rows += b->rows;
	}
	if (part_rows) {
		ret = part_add(&s->wal, &part_cap, WAL_TABLE_RAW, part_start, write - part_start,
			       part_rows);
		if (ret)
			return ret;
	}
	ingest->rows_len = write;
	ledger_start = write;
	if (whole_batches)
		goto routed; /* the ledger rows come from the blocks (zz_ledger_mv) */
	ret = rows_reserve(ingest, (size_t)ingest->batch_count * LEDGER_ROW_MAX);
	if (ret)
		return ret;
	for (i = 0; i < ingest->batch_count; i++) {
		const struct batch_entry *b = &ingest->batches[i];
		uint8_t *p = ingest->rows + ingest->rows_len;
		size_t n;

		if (b->duplicate == 1 || !b->sequence)
			continue;
		n = row_prefix(p, ingest->agents[b->agent].id, b->run, b->sequence);
		put_le32(p + n, b->crc);
		put_le32(p + n + 4, b->rows);
		ingest->rows_len += n + 8;
		ledger_rows++;
	}
	if (ledger_rows) {
		ret = part_add(&s->wal, &part_cap, WAL_TABLE_LEDGER, ledger_start,
			       ingest->rows_len - ledger_start, (uint32_t)ledger_rows);
		if (ret)
			return ret;
	}
routed:
	if (ingest->options.router) {
		size_t shard_start = ingest->rows_len;

		ret = rows_reserve(ingest, 4);
		if (ret)
			return ret;
		put_le32(ingest->rows + shard_start, s->shard);
		ingest->rows_len += 4;
		ret = part_add(&s->wal, &part_cap, WAL_TABLE_SHARD, shard_start, 4, 0);
		if (ret)
			return ret;
	}
	if (ingest->source_len) {
		size_t source_start = ingest->rows_len;

		ret = rows_reserve(ingest, ingest->source_len);
		if (ret)
			return ret;
		memcpy(ingest->rows + source_start, ingest->source, ingest->source_len);
		ingest->rows_len += ingest->source_len;
		ret = part_add(&s->wal, &part_cap, WAL_TABLE_SOURCE, source_start,
			       ingest->source_len, 0);
		if (ret)
			return ret;
	}
	s->wal.payload = ingest->rows;
	s->wal.payload_len = ingest->rows_len;
	s->wal.payload_cap = ingest->rows_cap;
	/* the rows now belong to the sealed insert; the next group starts a new buffer */
	ingest->rows = NULL;
	ingest->rows_cap = 0;
	return 0;
}

int ingest_seal(struct ingest *ingest, char *err, size_t err_len)
{
	uint64_t duplicates = 0, duplicate_rows = 0, alarms = 0, random_id = 0;
	uint32_t shard = 0;
	struct sealed *s;
	uint32_t i;
	int ret;

	if (ingest->sealed && !ingest->sealed->path[0] && ingest->options.wal_dir)
		return write_ahead(ingest, ingest->sealed, err, err_len);
	if (ingest->sealed)
		return -EBUSY;
	if (!ingest->batch_count)
		return 0;
	/* the same batch twice in the group: the copy goes (its content decides, not its id) */
	for (i = 0; i < ingest->batch_count; i++) {
		struct batch_entry *b = &ingest->batches[i];

		b->duplicate = 0;
		/* over the rows without a cluster's inserted_at: a copy that comes later matches */
		if (b->json)
			b->crc = wire_crc32c_rows(
				ingest->rows + b->offset, b->rows, b->row_size,
				b->row_size - (ingest->options.router ? ROW_SUFFIX_MAX : 0));
		if (b->json && ingest->options.router) {
			uint32_t r;

			for (r = 0; r < b->rows; r++)
				put_le32(ingest->rows + b->offset + (size_t)(r + 1) * b->row_size -
						 4,
					 b->crc);
		}
	}
	for (i = 0; i < ingest->batch_count; i++) {
		struct batch_entry *b = &ingest->batches[i], *other;
		uint32_t cursor = 0;
		int reused = 0;

		if (!b->sequence)
			continue;
		while ((other = group_next(ingest, b->agent, b->run, b->sequence, &cursor))) {
			if (other >= b)
				continue;
			if (other->crc == b->crc)
				b->duplicate = 1;
			else
				reused = 1;
		}
		if (reused && !b->duplicate) {
			alarms++;
			pr_warn("agent %s: batch %016" PRIx64 "/%" PRIu64 " came twice with other "
				"records: the agent reused a batch number; both are stored\n",
				ingest->agents[b->agent].id, b->run, b->sequence);
		}
	}
	for (i = 0; i < ingest->batch_count; i += LOOKUP_CHUNK) {
		uint32_t to = i + LOOKUP_CHUNK < ingest->batch_count ? i + LOOKUP_CHUNK :
								       ingest->batch_count;

		ret = ledger_lookup(ingest, i, to, err, err_len);
		if (ret)
			return ret;
	}
	ret = history_lookup(ingest, err, err_len);
	if (ret)
		return ret;
	/* the shard first: when none takes writes, the rows stay pending as they are */
	if (ingest->options.router) {
		ret = ingest->options.router->pick_shard(ingest->options.router->ctx, &shard, err,
							 err_len);
		if (ret)
			return ret;
	}
	s = calloc(1, sizeof(*s));
	do {
		if (!s || getrandom(&random_id, sizeof(random_id), 0) != sizeof(random_id))
			break;
	} while (!random_id);
	if (!s || !random_id) {
		free(s);
		snprintf(err, err_len, "no memory or randomness for an insert id");
		return -ENOMEM;
	}
	s->wal.id = random_id;
	s->shard = shard;
	for (i = 0; i < ingest->batch_count; i++) {
		const struct batch_entry *b = &ingest->batches[i];

		if (b->duplicate == 1) {
			duplicates++;
			duplicate_rows += b->rows;
			continue;
		}
		if (b->duplicate == 2) {
			alarms++;
			pr_warn("agent %s: batch %016" PRIx64 "/%" PRIu64 " is stored with other "
				"records: the agent reused a batch number; this one is stored "
				"too\n",
				ingest->agents[b->agent].id, b->run, b->sequence);
		}
		if (b->sequence) {
			ingest->stats.batches++;
			track_sequence(ingest, b);
		}
	}
	ret = group_to_sealed(ingest, s);
	if (ret) {
		sealed_free(s);
		snprintf(err, err_len, "out of memory sealing an insert");
		return ret;
	}
	ingest->stats.duplicate_batches += duplicates;
	ingest->stats.duplicate_rows += duplicate_rows;
	ingest->stats.sequence_alarms += alarms;
	if (!has_stored_parts(s)) {
		/* every batch was stored before: nothing to insert, nothing to write ahead */
		group_reset(ingest);
		rows_recycle(ingest, s);
		sealed_free(s);
		return 0;
	}
	ingest->stats.sealed_rows = s->raw_rows;
	ingest->sealed = s;
	group_reset(ingest);
	/* a file that cannot be written is tried again by the next ingest_seal */
	if (ingest->options.wal_dir) {
		ret = write_ahead(ingest, s, err, err_len);
		if (ret)
			return ret;
	}
	if (ingest->fault_kill_after_seal) {
		pr_warn("test fault: killed after sealing insert %016" PRIx64 "\n", s->wal.id);
		raise(SIGKILL);
	}
	return 0;
}

/* --- inserting the sealed parts -------------------------------------------------------------- */

int ingest_has_sealed(const struct ingest *ingest)
{
	return ingest->sealed != NULL;
}

uint64_t ingest_sealed_id(const struct ingest *ingest)
{
	return ingest->sealed ? ingest->sealed->wal.id : 0;
}

int ingest_durable_when_sealed(const struct ingest *ingest)
{
	return ingest->options.wal_dir && ingest->options.wal_durable;
}

int ingest_insert_sealed(struct ingest *ingest, char *err, size_t err_len)
{
	const struct ingest_router *router = ingest->options.router;
	struct sealed *s = ingest->sealed;
	char sql[768];
	int ret;

	if (!s)
		return 0;
	if (ingest->options.wal_dir && !s->path[0]) {
		snprintf(err, err_len, "insert %016" PRIx64 " is not yet in its write-ahead file",
			 s->wal.id);
		return -EAGAIN;
	}
	for (; s->next_part < s->wal.part_count; s->next_part++) {
		const struct wal_part *p = &s->wal.parts[s->next_part];
		uint64_t started;

		if (!part_is_stored(p))
			continue;

		/*
		 * One block per part (max_insert_block_size), and every table partitioned by
		 * ingestion day: each part is one part in flows.raw and in every rollup. The
		 * token is the same on every try, and deduplicate_blocks_in_dependent_
		 * materialized_views makes each rollup check it on its own: a part stored
		 * before, in any of the tables, is skipped there and completed elsewhere.
		 * parallel_view_processing runs the rollups' views side by side, on the cores
		 * the insert leaves idle.
		 */
		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s (%s) SETTINGS insert_deduplication_token = "
			 "'flowcollector-%016" PRIx64 "-%u', "
			 "deduplicate_blocks_in_dependent_materialized_views = 1, "
			 "parallel_view_processing = 1, max_insert_block_size = %u",
			 p->table == WAL_TABLE_RAW ? "flows.raw" : "flows.batches",
			 p->table == WAL_TABLE_RAW ? INSERT_COLUMNS : LEDGER_COLUMNS, s->wal.id,
			 s->next_part, p->rows > 1048576 ? p->rows : 1048576);
		if (router)
			/*
			 * A cluster of 18.16 and later servers: no token, so the block's content
			 * is its identity; the views of flows.ingest fill every table of the
			 * shard, the ledger last, each dropping a block it holds
			 * (sql/cluster/001_flows.sql).
			 */
			snprintf(sql, sizeof(sql),
				 "INSERT INTO " CLUSTER_INSERT_TABLE
				 " (%s, inserted_at, batch_crc)",
				 INSERT_COLUMNS);
		started = monotonic_ns();
		ret = router ?
			      router->insert(router->ctx, s->shard, sql, s->wal.payload + p->offset,
					     p->len, err, err_len) :
			      store_insert_rowbinary(ingest->store, sql, s->wal.payload + p->offset,
						     p->len, err, err_len);
		if (ret) {
			ingest->stats.insert_failures++;
			return ret;
		}
		ingest->stats.insert_ns_last = monotonic_ns() - started;
		ingest->stats.insert_ns_total += ingest->stats.insert_ns_last;
		if (ingest->fault_kill_after_part == (int)s->next_part) {
			pr_warn("test fault: killed after part %u of insert %016" PRIx64 "\n",
				s->next_part, s->wal.id);
			raise(SIGKILL);
		}
	}
	ingest->stats.inserts++;
	ingest->stats.rows_inserted += s->raw_rows;
	ingest->stats.last_insert_rows = s->raw_rows;
	ingest->stats.sealed_rows = 0;
	if (s->path[0] && unlink(s->path) && errno != ENOENT)
		pr_warn("write-ahead file %s: %s (it is inserted again at the next start, which "
			"ClickHouse skips)\n",
			s->path, strerror(errno));
	rows_recycle(ingest, s);
	sealed_free(s);
	ingest->sealed = NULL;
	return 0;
}

int ingest_set_source(struct ingest *ingest, const void *source, size_t len)
{
	uint8_t *copy = len ? malloc(len) : NULL;

	if (len && !copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, source, len);
	free(ingest->source);
	ingest->source = copy;
	ingest->source_len = len;
	return 0;
}

int ingest_mark_committed(struct ingest *ingest, char *err, size_t err_len)
{
	struct sealed *s = ingest->sealed;
	char committed[PATH_MAX];
	size_t n;

	if (!s || !s->path[0])
		return 0;
	n = strlen(s->path);
	if (n >= strlen(WAL_COMMITTED_SUFFIX) &&
	    !strcmp(s->path + n - strlen(WAL_COMMITTED_SUFFIX), WAL_COMMITTED_SUFFIX))
		return 0;
	snprintf(committed, sizeof(committed), "%.*s%s", (int)(n - strlen(WAL_SUFFIX)), s->path,
		 WAL_COMMITTED_SUFFIX);
	/* the new name must last before the rows are inserted: a restart then finishes them */
	if (rename(s->path, committed)) {
		snprintf(err, err_len, "write-ahead file %s: %s", s->path, strerror(errno));
		return -errno;
	}
	snprintf(s->path, sizeof(s->path), "%s", committed);
	if (wal_fsync_dir(ingest->options.wal_dir)) {
		snprintf(err, err_len, "write-ahead directory %s: %s", ingest->options.wal_dir,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

int ingest_flush(struct ingest *ingest, char *err, size_t err_len)
{
	int ret;

	/* an insert sealed before (a failed try) goes first, then what is pending */
	if (ingest->sealed && (ingest->sealed->path[0] || !ingest->options.wal_dir)) {
		ret = ingest_insert_sealed(ingest, err, err_len);
		if (ret)
			return ret;
	}
	ret = ingest_seal(ingest, err, err_len);
	return ret ? ret : ingest_insert_sealed(ingest, err, err_len);
}

void ingest_discard_pending(struct ingest *ingest)
{
	if (ingest->pending_rows)
		pr_info("%" PRIu64 " pending rows dropped: their partitions went to another "
			"consumer, which reads them again\n",
			ingest->pending_rows);
	ingest->stats.rows_discarded += ingest->pending_rows;
	group_reset(ingest);
}

void ingest_abandon_sealed(struct ingest *ingest)
{
	struct sealed *s = ingest->sealed;

	if (!s)
		return;
	pr_info("insert %016" PRIx64 " (%" PRIu64 " rows) given up unstored: its partitions "
		"went to another consumer, which reads them again\n",
		s->wal.id, s->raw_rows);
	ingest->stats.rows_discarded += s->raw_rows;
	ingest->stats.sealed_rows = 0;
	if (s->path[0])
		unlink(s->path);
	sealed_free(s);
	ingest->sealed = NULL;
}

/* --- recovery: write-ahead files a crash left -------------------------------------------------- */

/* The source part of a sealed insert, or NULL. */
static const struct wal_part *source_part(const struct sealed *s)
{
	uint32_t i;

	for (i = 0; i < s->wal.part_count; i++)
		if (s->wal.parts[i].table == WAL_TABLE_SOURCE)
			return &s->wal.parts[i];
	return NULL;
}

/*
 * The shard a write-ahead file was sealed for: a cluster's insert is finished where it began
 * (its replicas know its blocks), never anywhere else, and a file of the other kind of store
 * is not inserted here at all.
 */
static int sealed_route(const struct ingest *ingest, struct sealed *s, const char *path, char *err,
			size_t err_len)
{
	const struct ingest_router *router = ingest->options.router;
	const struct wal_part *shard = NULL;
	uint32_t i;

	for (i = 0; i < s->wal.part_count; i++)
		if (s->wal.parts[i].table == WAL_TABLE_SHARD && s->wal.parts[i].len == 4)
			shard = &s->wal.parts[i];
	if (shard)
		s->shard = get_le32(s->wal.payload + shard->offset);
	if (!router && shard) {
		snprintf(
			err, err_len,
			"write-ahead file %s is an insert for shard %u of a cluster: finish it with "
			"the same --cluster file, or move it away",
			path, s->shard);
		return -EINVAL;
	}
	if (router && !shard) {
		snprintf(
			err, err_len,
			"write-ahead file %s is an insert for one server, not a cluster: finish it "
			"with that store (--store or --clickhouse), or move it away",
			path);
		return -EINVAL;
	}
	if (router && !router->has_shard(router->ctx, s->shard)) {
		snprintf(err, err_len,
			 "write-ahead file %s is an insert for shard %u, which the cluster file no "
			 "longer lists: put the shard back until its inserts are finished (only "
			 "its replicas can tell which of its blocks they hold)",
			 path, s->shard);
		return -ENOENT;
	}
	return 0;
}

int ingest_recover(struct ingest *ingest, ingest_committed_fn committed, void *ctx, char *err,
		   size_t err_len)
{
	const char *dir = ingest->options.wal_dir;
	struct dirent *entry;
	DIR *d;
	int ret = 0;

	if (!dir)
		return 0;
	if (ingest->sealed) {
		/* one a previous call could not finish */
		ret = ingest_insert_sealed(ingest, err, err_len);
		if (ret)
			return ret;
	}

	d = opendir(dir);
	if (!d) {
		snprintf(err, err_len, "write-ahead directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	while (!ret && (entry = readdir(d))) {
		size_t n = strlen(entry->d_name);
		char path[PATH_MAX];
		const struct wal_part *source;
		const char *why;
		struct sealed *s;
		uint32_t i;

		if (n > strlen(WAL_TMP_SUFFIX) &&
		    !strcmp(entry->d_name + n - strlen(WAL_TMP_SUFFIX), WAL_TMP_SUFFIX)) {
			/* written but never sealed: its source was not committed */
			snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
			pr_info("write-ahead file %s was not finished before a crash; removed (its "
				"batches are read again from their source)\n",
				path);
			unlink(path);
			continue;
		}
		if (n <= strlen(WAL_SUFFIX) ||
		    strcmp(entry->d_name + n - strlen(WAL_SUFFIX), WAL_SUFFIX))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		s = calloc(1, sizeof(*s));
		if (!s) {
			ret = -ENOMEM;
			snprintf(err, err_len, "out of memory reading %s", path);
			break;
		}
		if (wal_read(path, &s->wal, &why)) {
			char aside[PATH_MAX + 8];

			free(s);
			ingest->stats.wal_corrupt++;
			snprintf(aside, sizeof(aside), "%s.corrupt", path);
			rename(path, aside);
			pr_warn("write-ahead file %s is damaged (%s): set aside as %s. It was "
				"complete when written, so the disk lost it; its rows may be missing "
				"from the store\n",
				path, why, aside);
			continue;
		}
		for (i = 0; i < s->wal.part_count; i++)
			if (s->wal.parts[i].table == WAL_TABLE_RAW)
				s->raw_rows += s->wal.parts[i].rows;
		snprintf(s->path, sizeof(s->path), "%s", path);
		ret = sealed_route(ingest, s, path, err, err_len);
		if (ret) {
			sealed_free(s);
			break;
		}
		source = source_part(s);
		if (source && (n <= strlen(WAL_COMMITTED_SUFFIX) ||
			       strcmp(entry->d_name + n - strlen(WAL_COMMITTED_SUFFIX),
				      WAL_COMMITTED_SUFFIX))) {
			/* sealed, but was its source committed before the crash? */
			int answer = committed ? committed(ctx, s->wal.id,
							   s->wal.payload + source->offset,
							   source->len) :
						 -ENOTSUP;

			if (answer == 0) {
				pr_info("insert %016" PRIx64 " (%" PRIu64
					" rows) was sealed but its "
					"source not committed before a crash: dropped, its batches are "
					"read again\n",
					s->wal.id, s->raw_rows);
				unlink(path);
				sealed_free(s);
				continue;
			}
			if (answer < 0) {
				snprintf(err, err_len,
					 "write-ahead file %s: cannot tell whether its source was "
					 "committed (%s); it is kept for a run that reads the same "
					 "source",
					 path,
					 answer == -ENOTSUP ? "another source" : strerror(-answer));
				sealed_free(s);
				ret = answer;
				break;
			}
		}
		pr_info("finishing insert %016" PRIx64 " a crash interrupted: %" PRIu64 " rows in "
			"%u parts\n",
			s->wal.id, s->raw_rows, s->wal.part_count);
		ingest->sealed = s;
		ret = ingest_insert_sealed(ingest, err, err_len);
		if (!ret)
			ingest->stats.recovered_inserts++;
	}
	closedir(d);
	return ret;
}

static void faults_from_environment(struct ingest *ingest)
{
	const char *fault = getenv("FLOWCOLLECTOR_TEST_FAULT");

	ingest->fault_kill_after_part = -1;
	if (!fault || !*fault)
		return;
	if (!strncmp(fault, "kill-after-part=", 16))
		ingest->fault_kill_after_part = atoi(fault + 16);
	else if (!strcmp(fault, "kill-after-seal"))
		ingest->fault_kill_after_seal = 1;
	pr_warn("FLOWCOLLECTOR_TEST_FAULT=%s: a test fault is armed; this process will kill "
		"itself. Never set this outside tests\n",
		fault);
}

int ingest_open(struct store *store, const struct ingest_options *options, struct ingest **out,
		char *err, size_t err_len)
{
	struct ingest *ingest = calloc(1, sizeof(*ingest));
	int ret = 0;

	if (!ingest)
		return -ENOMEM;
	ingest->store = store;
	ingest->options = *options;
	ingest->rejects =
		(struct log_limit)LOG_LIMIT_INIT("rejected records and batches", 10, 60000);
	if (!ingest->options.part_rows)
		ingest->options.part_rows = INGEST_PART_ROWS;
	if (!ingest->options.max_future_s)
		ingest->options.max_future_s = INGEST_MAX_FUTURE_S;
	if (ingest->options.wal_dir) {
		snprintf(ingest->wal_dir, sizeof(ingest->wal_dir), "%s", options->wal_dir);
		ingest->options.wal_dir = ingest->wal_dir;
	}
	faults_from_environment(ingest);
	if (ingest->options.wal_dir && mkdir(ingest->options.wal_dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_len, "write-ahead directory %s: %s", ingest->options.wal_dir,
			 strerror(errno));
		ingest_close(ingest);
		return ret;
	}
	*out = ingest;
	return 0;
}

void ingest_report_unshown(struct ingest *ingest)
{
	if (ingest)
		log_limit_flush(&ingest->rejects);
}

void ingest_close(struct ingest *ingest)
{
	if (!ingest)
		return;
	log_limit_flush(&ingest->rejects);
	sealed_free(ingest->sealed);
	free(ingest->source);
	wal_buffer_free(ingest->rows, ingest->rows_cap);
	free(ingest->batches);
	free(ingest->slots);
	free(ingest->agents);
	free(ingest);
}

void ingest_get_stats(const struct ingest *ingest, struct ingest_stats *stats)
{
	*stats = ingest->stats;
}
