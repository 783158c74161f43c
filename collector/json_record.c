// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent's JSON records; see json_record.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_record.h"
#include "parse.h"

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
		uint64_t digit = (uint64_t)(*p - '0');

		/* every value up to UINT64_MAX: run ids are random 64-bit numbers */
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && digit > UINT64_MAX % 10))
			return NULL;
		v = v * 10 + digit;
	}
	if (p == start)
		return NULL;
	*value = v;
	return p;
}

static int json_field(struct json_record *f, const char *name, const char *text, uint64_t number,
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
		{ "batch_run", 0, 0, UINT64_MAX },
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
	} else if (!strcmp(name, "batch_run")) {
		f->run = number;
	}
	return 0;
}

int json_record_parse(const char *line, size_t len, struct json_record *f, const char **why)
{
	const char *p = line, *end = line + len;
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
