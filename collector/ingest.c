// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ingest: batches to rows, duplicates skipped, gaps reported; see ingest.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ingest.h"
#include "log.h"
#include "parse.h"
#include "wire.h"

#define ROW_PREFIX_MAX (1 + WIRE_AGENT_ID_MAX + 8) /* agent String and batch_seq */
#define ROW_MAX	       (ROW_PREFIX_MAX + WIRE_RECORD_SIZE)
#define MAX_GAPS       64 /* missing ranges remembered per agent */

#define INSERT_COLUMNS                                                                       \
	"agent, batch_seq, src_addr, dst_addr, src_port, dst_port, proto, tcp_flags, vlan, " \
	"ifindex, direction, sampling, packets, bytes, first_seen, last_seen"

struct gap {
	uint64_t first, last;
};

struct agent_state {
	char id[WIRE_AGENT_ID_MAX + 1];
	uint64_t max_sequence;
	struct gap gaps[MAX_GAPS];
	int gap_count;
};

/* An open-addressing set of (agent index, sequence): the batches stored. */
struct seen_set {
	uint64_t *sequences;
	uint32_t *agents; /* agent index + 1; 0 = empty slot */
	size_t capacity;
	size_t count;
};

struct ingest {
	struct store *store;
	struct ingest_options options;
	struct agent_state *agents;
	uint32_t agent_count;
	struct seen_set seen;
	/* the pending group */
	uint8_t *rows;
	size_t rows_len, rows_cap;
	uint64_t pending_rows;
	uint64_t pending_since_ns;
	uint64_t group_hash;
	uint64_t insert_serial;
	/* the JSON batch being read: consecutive lines of one (agent, sequence) */
	uint32_t json_agent;
	uint64_t json_sequence;
	int json_skip;
	struct ingest_stats stats;
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

/* --- the set of stored batches ------------------------------------------------------------- */

static int seen_grow(struct seen_set *set)
{
	size_t capacity = set->capacity ? set->capacity * 2 : 1024, i;
	uint64_t *sequences = calloc(capacity, sizeof(*sequences));
	uint32_t *agents = calloc(capacity, sizeof(*agents));

	if (!sequences || !agents) {
		free(sequences);
		free(agents);
		return -ENOMEM;
	}
	for (i = 0; i < set->capacity; i++) {
		size_t slot;

		if (!set->agents[i])
			continue;
		slot = mix64(set->sequences[i] ^ ((uint64_t)set->agents[i] << 48)) & (capacity - 1);
		while (agents[slot])
			slot = (slot + 1) & (capacity - 1);
		agents[slot] = set->agents[i];
		sequences[slot] = set->sequences[i];
	}
	free(set->sequences);
	free(set->agents);
	set->sequences = sequences;
	set->agents = agents;
	set->capacity = capacity;
	return 0;
}

/* Adds (agent, sequence); returns 1 if it was there already, 0 if added, or -ENOMEM. */
static int seen_add(struct seen_set *set, uint32_t agent, uint64_t sequence)
{
	uint32_t tag = agent + 1;
	size_t slot;

	if ((set->count + 1) * 2 > set->capacity && seen_grow(set))
		return -ENOMEM;
	slot = mix64(sequence ^ ((uint64_t)tag << 48)) & (set->capacity - 1);
	while (set->agents[slot]) {
		if (set->agents[slot] == tag && set->sequences[slot] == sequence)
			return 1;
		slot = (slot + 1) & (set->capacity - 1);
	}
	set->agents[slot] = tag;
	set->sequences[slot] = sequence;
	set->count++;
	return 0;
}

/* --- agents and their sequences ------------------------------------------------------------ */

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

static void gap_fill(struct ingest *ingest, struct agent_state *agent, uint64_t sequence)
{
	int i;

	for (i = 0; i < agent->gap_count; i++) {
		struct gap *gap = &agent->gaps[i];

		if (sequence < gap->first || sequence > gap->last)
			continue;
		ingest->stats.batches_missing--;
		pr_info("agent %s: late batch %" PRIu64 " arrived; %" PRIu64 " batches still "
			"missing\n",
			agent->id, sequence, ingest->stats.batches_missing);
		if (gap->first == gap->last) {
			agent->gaps[i] = agent->gaps[--agent->gap_count];
		} else if (sequence == gap->first) {
			gap->first++;
		} else if (sequence == gap->last) {
			gap->last--;
		} else if (agent->gap_count < MAX_GAPS) {
			agent->gaps[agent->gap_count].first = sequence + 1;
			agent->gaps[agent->gap_count++].last = gap->last;
			gap->last = sequence - 1;
		}
		return;
	}
}

/* Follows an agent's sequence: reports gaps and restarts. */
static void track_sequence(struct ingest *ingest, uint32_t index, uint64_t sequence, int flags)
{
	struct agent_state *agent = &ingest->agents[index];
	uint64_t missing;

	if (!agent->max_sequence || sequence == agent->max_sequence + 1) {
		if (sequence > agent->max_sequence)
			agent->max_sequence = sequence;
		return;
	}
	if (sequence < agent->max_sequence) {
		gap_fill(ingest, agent, sequence);
		return;
	}
	missing = sequence - agent->max_sequence - 1;
	if (flags & WIRE_FLAG_FIRST_OF_RUN) {
		ingest->stats.agent_restarts++;
		pr_info("agent %s restarted: its sequence goes on at %" PRIu64 "\n", agent->id,
			sequence);
	} else {
		ingest->stats.batches_missing += missing;
		pr_warn("agent %s: %" PRIu64 " batches missing (%" PRIu64 "..%" PRIu64 "), lost "
			"before they reached Kafka or not yet arrived\n",
			agent->id, missing, agent->max_sequence + 1, sequence - 1);
		if (agent->gap_count < MAX_GAPS) {
			agent->gaps[agent->gap_count].first = agent->max_sequence + 1;
			agent->gaps[agent->gap_count++].last = sequence - 1;
		}
	}
	agent->max_sequence = sequence;
}

/*
 * A batch begins: 1 to take its rows, 0 to skip them (stored before), or a negative errno.
 * Sequence 0 means the records carry no batch identity (plain JSON): always taken.
 */
static int batch_begin(struct ingest *ingest, uint32_t index, uint64_t sequence, int flags,
		       uint32_t records)
{
	int ret;

	if (!sequence)
		return 1;
	ret = seen_add(&ingest->seen, index, sequence);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		ingest->stats.duplicate_batches++;
		ingest->stats.duplicate_rows += records;
		pr_debug("agent %s: batch %" PRIu64 " stored before; skipped\n",
			 ingest->agents[index].id, sequence);
		return 0;
	}
	ingest->stats.batches++;
	track_sequence(ingest, index, sequence, flags);
	ingest->group_hash = mix64(ingest->group_hash ^ sequence ^ ((uint64_t)index << 56));
	return 1;
}

/* --- rows ----------------------------------------------------------------------------------- */

static int rows_reserve(struct ingest *ingest, size_t more)
{
	if (ingest->rows_len + more > ingest->rows_cap) {
		size_t cap = (ingest->rows_len + more) * 2;
		uint8_t *grown = realloc(ingest->rows, cap);

		if (!grown)
			return -ENOMEM;
		ingest->rows = grown;
		ingest->rows_cap = cap;
	}
	return 0;
}

/* The RowBinary prefix of a row: agent String (LEB128 length), batch_seq UInt64. */
static size_t row_prefix(uint8_t *p, const char *agent, uint64_t sequence)
{
	size_t len = strlen(agent), n = 0;
	uint64_t le = htole64(sequence);

	if (len >= 128) {
		p[n++] = (uint8_t)(len | 0x80);
		p[n++] = (uint8_t)(len >> 7);
	} else {
		p[n++] = (uint8_t)len;
	}
	memcpy(p + n, agent, len);
	n += len;
	memcpy(p + n, &le, sizeof(le));
	return n + sizeof(le);
}

static void rows_added(struct ingest *ingest, uint64_t rows)
{
	if (!ingest->pending_rows && rows)
		ingest->pending_since_ns = monotonic_ns();
	ingest->pending_rows += rows;
	ingest->stats.pending_rows = ingest->pending_rows;
}

int ingest_add_wire(struct ingest *ingest, const void *data, size_t len, const char *where)
{
	struct wire_header header;
	enum wire_error err;
	uint8_t prefix[ROW_PREFIX_MAX];
	size_t prefix_len;
	uint64_t kept = 0;
	uint32_t index, i;
	int ret;

	ingest->stats.messages++;
	err = wire_decode_header(data, len, &header);
	if (err) {
		ingest->stats.messages_rejected++;
		pr_warn("%s: rejected: %s\n", where, wire_strerror(err));
		return -EBADMSG;
	}
	ret = agent_index(ingest, header.agent_id, &index);
	if (!ret)
		ret = batch_begin(ingest, index, header.sequence, header.flags,
				  header.record_count);
	if (ret <= 0)
		return ret;
	ret = rows_reserve(ingest, (size_t)header.record_count * ROW_MAX);
	if (ret)
		return ret;
	prefix_len = row_prefix(prefix, header.agent_id, header.sequence);
	for (i = 0; i < header.record_count; i++) {
		const uint8_t *record =
			(const uint8_t *)data + header.header_len + (size_t)i * header.record_size;
		struct flow_record decoded;
		uint8_t *row = ingest->rows + ingest->rows_len;

		if (wire_decode_record(data, &header, i, &decoded) != WIRE_OK) {
			ingest->stats.records_rejected++;
			pr_warn("%s: record %u of agent %s batch %" PRIu64 " rejected: %s\n", where,
				i, header.agent_id, header.sequence,
				wire_strerror(WIRE_ERR_RECORD));
			continue;
		}
		/* the record's first 81 bytes are already the table's RowBinary */
		memcpy(row, prefix, prefix_len);
		memcpy(row + prefix_len, record, WIRE_RECORD_SIZE);
		ingest->rows_len += prefix_len + WIRE_RECORD_SIZE;
		kept++;
	}
	rows_added(ingest, kept);
	return 0;
}

/* --- JSON lines ------------------------------------------------------------------------------ */

struct json_fields {
	struct flow_record record;
	char agent[WIRE_AGENT_ID_MAX + 1];
	uint64_t sequence;
	unsigned int seen; /* bit per required field */
};

enum {
	FIELD_SRC_ADDR = 1 << 0,
	FIELD_DST_ADDR = 1 << 1,
	FIELD_SRC_PORT = 1 << 2,
	FIELD_DST_PORT = 1 << 3,
	FIELD_PROTO = 1 << 4,
	FIELD_PACKETS = 1 << 5,
	FIELD_BYTES = 1 << 6,
	FIELD_FIRST = 1 << 7,
	FIELD_LAST = 1 << 8,
	FIELDS_REQUIRED = (1 << 9) - 1,
};

/* Reads a JSON string (no escapes needed by our fields) into dst. */
static const char *json_string(const char *p, const char *end, char *dst, size_t size)
{
	size_t n = 0;

	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' || n + 1 >= size)
			return NULL;
		dst[n++] = *p;
	}
	if (p >= end)
		return NULL;
	dst[n] = '\0';
	return p + 1;
}

static const char *json_number(const char *p, const char *end, uint64_t *value)
{
	uint64_t v = 0;
	const char *start = p;

	for (; p < end && isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == start)
		return NULL;
	*value = v;
	return p;
}

static int json_field(struct json_fields *f, const char *name, const char *text, uint64_t number,
		      int is_string, const char **why)
{
	struct flow_record *r = &f->record;
	const struct {
		const char *name;
		unsigned int bit;
		int string;
		uint64_t max;
	} fields[] = {
		{ "src_addr", FIELD_SRC_ADDR, 1, 0 },
		{ "dst_addr", FIELD_DST_ADDR, 1, 0 },
		{ "src_port", FIELD_SRC_PORT, 0, 65535 },
		{ "dst_port", FIELD_DST_PORT, 0, 65535 },
		{ "proto", FIELD_PROTO, 0, 255 },
		{ "packets", FIELD_PACKETS, 0, UINT64_MAX },
		{ "bytes", FIELD_BYTES, 0, UINT64_MAX },
		{ "first_seen_ns", FIELD_FIRST, 0, UINT64_MAX },
		{ "last_seen_ns", FIELD_LAST, 0, UINT64_MAX },
		{ "vlan", 0, 0, 4095 },
		{ "tcp_flags", 0, 0, 255 },
		{ "sampling", 0, 0, UINT32_MAX },
		{ "ifindex", 0, 0, UINT32_MAX },
		{ "direction", 0, 1, 0 },
		{ "agent_id", 0, 1, 0 },
		{ "batch_seq", 0, 0, UINT64_MAX },
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(name, fields[i].name))
			continue;
		if (fields[i].string != is_string) {
			*why = is_string ? "a number was expected" : "a string was expected";
			return -EINVAL;
		}
		if (!is_string && number > fields[i].max) {
			*why = "number out of range";
			return -EINVAL;
		}
		f->seen |= fields[i].bit;
		break;
	}
	if (i == sizeof(fields) / sizeof(fields[0]))
		return 0; /* a field we do not know: ignored, for later agents */
	if (!strcmp(name, "src_addr") || !strcmp(name, "dst_addr")) {
		if (parse_ip_address(text, name[0] == 's' ? r->key.src_addr : r->key.dst_addr)) {
			*why = "not an IPv4 or IPv6 address";
			return -EINVAL;
		}
	} else if (!strcmp(name, "direction")) {
		if (!strcmp(text, "ingress"))
			r->key.direction = FLOW_DIR_INGRESS;
		else if (!strcmp(text, "egress"))
			r->key.direction = FLOW_DIR_EGRESS;
		else {
			*why = "direction is not ingress or egress";
			return -EINVAL;
		}
	} else if (!strcmp(name, "agent_id")) {
		snprintf(f->agent, sizeof(f->agent), "%s", text);
	} else if (!strcmp(name, "src_port")) {
		r->key.src_port = (uint16_t)number;
	} else if (!strcmp(name, "dst_port")) {
		r->key.dst_port = (uint16_t)number;
	} else if (!strcmp(name, "proto")) {
		r->key.proto = (uint8_t)number;
	} else if (!strcmp(name, "vlan")) {
		r->key.vlan = (uint16_t)number;
	} else if (!strcmp(name, "tcp_flags")) {
		r->stats.tcp_flags = (uint8_t)number;
	} else if (!strcmp(name, "sampling")) {
		r->sampling = (uint32_t)number;
	} else if (!strcmp(name, "ifindex")) {
		r->key.ifindex = (uint32_t)number;
	} else if (!strcmp(name, "packets")) {
		r->stats.packets = number;
	} else if (!strcmp(name, "bytes")) {
		r->stats.bytes = number;
	} else if (!strcmp(name, "first_seen_ns")) {
		r->stats.first_seen_ns = number;
	} else if (!strcmp(name, "last_seen_ns")) {
		r->stats.last_seen_ns = number;
	} else if (!strcmp(name, "batch_seq")) {
		f->sequence = number;
	}
	return 0;
}

/* A flat JSON object of strings and unsigned integers: the agent's record. */
static int json_parse(const char *p, const char *end, struct json_fields *f, const char **why)
{
	char name[32], text[WIRE_AGENT_ID_MAX + 1];

	memset(f, 0, sizeof(*f));
	f->record.sampling = 1;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p >= end || *p++ != '{') {
		*why = "not a JSON object";
		return -EINVAL;
	}
	for (;;) {
		uint64_t number = 0;
		int is_string;

		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p < end && *p == '}')
			break;
		p = json_string(p, end, name, sizeof(name));
		if (!p) {
			*why = "bad field name";
			return -EINVAL;
		}
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p >= end || *p++ != ':') {
			*why = "':' expected";
			return -EINVAL;
		}
		while (p < end && isspace((unsigned char)*p))
			p++;
		is_string = p < end && *p == '"';
		p = is_string ? json_string(p, end, text, sizeof(text)) :
				json_number(p, end, &number);
		if (!p) {
			*why = is_string ? "bad string value" :
					   "bad number (unsigned integers only)";
			return -EINVAL;
		}
		if (json_field(f, name, text, number, is_string, why))
			return -EINVAL;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		*why = "',' or '}' expected";
		return -EINVAL;
	}
	/* p is at the closing brace: one object per line, nothing after it */
	for (p++; p < end && isspace((unsigned char)*p); p++)
		;
	if (p < end) {
		*why = "text after the closing '}'";
		return -EINVAL;
	}
	if ((f->seen & FIELDS_REQUIRED) != FIELDS_REQUIRED) {
		*why = "a required field is missing (addresses, ports, proto, packets, bytes, "
		       "first_seen_ns, last_seen_ns)";
		return -EINVAL;
	}
	if (!wire_record_plausible(&f->record)) {
		*why = "impossible values (no packets, fewer bytes than packets, last before "
		       "first, sampling 0 or VLAN > 4095)";
		return -EINVAL;
	}
	return 0;
}

int ingest_add_json(struct ingest *ingest, const char *line, size_t len, const char *where)
{
	struct json_fields fields;
	const char *why = NULL;
	const char *agent;
	uint32_t index;
	size_t n;
	int ret;

	ingest->stats.messages++;
	if (json_parse(line, line + len, &fields, &why)) {
		ingest->stats.records_rejected++;
		pr_warn("%s: record rejected: %s\n", where, why);
		return -EBADMSG;
	}
	agent = fields.agent[0] ? fields.agent : ingest->options.input_agent;
	ret = agent_index(ingest, agent, &index);
	if (ret)
		return ret;
	/* Lines of one (agent, sequence) are one batch: checked once, at its first line. */
	if (!fields.sequence || index != ingest->json_agent ||
	    fields.sequence != ingest->json_sequence) {
		ret = batch_begin(ingest, index, fields.sequence, 0, 1);
		if (ret < 0)
			return ret;
		ingest->json_skip = !ret;
		ingest->json_agent = index;
		ingest->json_sequence = fields.sequence;
	} else if (ingest->json_skip) {
		ingest->stats.duplicate_rows++;
	}
	if (ingest->json_skip)
		return 0;
	ret = rows_reserve(ingest, ROW_MAX);
	if (ret)
		return ret;
	n = row_prefix(ingest->rows + ingest->rows_len, agent, fields.sequence);
	wire_record_encode(ingest->rows + ingest->rows_len + n, &fields.record);
	ingest->rows_len += n + WIRE_RECORD_SIZE;
	rows_added(ingest, 1);
	return 0;
}

/* --- inserting ------------------------------------------------------------------------------- */

int ingest_due(struct ingest *ingest)
{
	if (!ingest->pending_rows)
		return 0;
	return ingest->pending_rows >= ingest->options.batch_rows ||
	       monotonic_ns() - ingest->pending_since_ns >= ingest->options.batch_ms * NS_PER_MS;
}

int ingest_flush(struct ingest *ingest, char *err, size_t err_len)
{
	char sql[512];
	uint64_t started;
	int ret;

	if (!ingest->pending_rows)
		return 0;
	/*
	 * A replayed archive may span more days (partitions) than ClickHouse's default limit of
	 * 100 per insert; the limit guards against typos in PARTITION BY, not against history.
	 * The token makes a retry of this very insert (after an error whose outcome is unknown)
	 * a no-op in ClickHouse; the (agent, sequence) projection covers restarts.
	 */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO flows.raw (" INSERT_COLUMNS ") SETTINGS insert_deduplication_token = "
		 "'flowcollector-%016" PRIx64 "-%" PRIu64 "', max_partitions_per_insert_block = 0",
		 ingest->group_hash ^ ingest->pending_rows, ingest->insert_serial);
	started = monotonic_ns();
	ret = store_insert_rowbinary(ingest->store, sql, ingest->rows, ingest->rows_len, err,
				     err_len);
	if (ret) {
		ingest->stats.insert_failures++;
		return ret;
	}
	ingest->stats.insert_ns_last = monotonic_ns() - started;
	ingest->stats.insert_ns_total += ingest->stats.insert_ns_last;
	ingest->stats.inserts++;
	ingest->stats.rows_inserted += ingest->pending_rows;
	ingest->stats.last_insert_rows = ingest->pending_rows;
	ingest->rows_len = 0;
	ingest->pending_rows = 0;
	ingest->stats.pending_rows = 0;
	ingest->group_hash = 0;
	ingest->insert_serial++;
	return 0;
}

/* The batches already stored, from the projection on flows.raw. */
static int load_stored_batches(struct ingest *ingest, char *err, size_t err_len)
{
	char *result = NULL, *line, *save = NULL;
	int ret;

	ret = store_query(ingest->store,
			  "SELECT agent, batch_seq FROM flows.raw WHERE batch_seq != 0 "
			  "GROUP BY agent, batch_seq",
			  "TSV", &result, NULL, err, err_len);
	if (ret)
		return ret;
	for (line = strtok_r(result, "\n", &save); line && !ret;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		uint64_t sequence;
		uint32_t index;

		if (!tab)
			continue;
		*tab = '\0';
		sequence = strtoull(tab + 1, NULL, 10);
		ret = agent_index(ingest, line, &index);
		if (!ret)
			ret = seen_add(&ingest->seen, index, sequence) < 0 ? -ENOMEM : 0;
		if (!ret && sequence > ingest->agents[index].max_sequence)
			ingest->agents[index].max_sequence = sequence;
	}
	free(result);
	if (ret)
		snprintf(err, err_len, "out of memory reading the stored batches");
	return ret;
}

int ingest_open(struct store *store, const struct ingest_options *options, struct ingest **out,
		char *err, size_t err_len)
{
	struct ingest *ingest = calloc(1, sizeof(*ingest));
	int ret;

	if (!ingest)
		return -ENOMEM;
	ingest->store = store;
	ingest->options = *options;
	ingest->insert_serial = (uint64_t)time(NULL);
	ret = load_stored_batches(ingest, err, err_len);
	if (ret) {
		ingest_close(ingest);
		return ret;
	}
	pr_info("%zu stored batches of %u agents known\n", ingest->seen.count, ingest->agent_count);
	*out = ingest;
	return 0;
}

void ingest_close(struct ingest *ingest)
{
	if (!ingest)
		return;
	free(ingest->rows);
	free(ingest->agents);
	free(ingest->seen.sequences);
	free(ingest->seen.agents);
	free(ingest);
}

void ingest_get_stats(const struct ingest *ingest, struct ingest_stats *stats)
{
	*stats = ingest->stats;
}
