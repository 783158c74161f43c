// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON-lines writer for flow records, with its own number and address formatting. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "flow_output.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
				     "25262728293031323334353637383940414243444546474849"
				     "50515253545556575859606162636465666768697071727374"
				     "75767778798081828384858687888990919293949596979899";

/* Decimal, two digits per division: nanosecond timestamps have 19. */
static char *format_u64(char *dst, uint64_t value)
{
	char digits[20];
	int n = 20, len;

	while (value >= 100) {
		unsigned int pair = (unsigned int)(value % 100) * 2;

		value /= 100;
		digits[--n] = digit_pairs[pair + 1];
		digits[--n] = digit_pairs[pair];
	}
	if (value >= 10) {
		digits[--n] = digit_pairs[value * 2 + 1];
		digits[--n] = digit_pairs[value * 2];
	} else {
		digits[--n] = (char)('0' + value);
	}
	len = 20 - n;
	memcpy(dst, digits + n, (size_t)len);
	return dst + len;
}

static char *format_octet(char *dst, unsigned int value)
{
	if (value >= 100) {
		*dst++ = (char)('0' + value / 100);
		value %= 100;
		*dst++ = digit_pairs[value * 2];
		*dst++ = digit_pairs[value * 2 + 1];
	} else if (value >= 10) {
		*dst++ = digit_pairs[value * 2];
		*dst++ = digit_pairs[value * 2 + 1];
	} else {
		*dst++ = (char)('0' + value);
	}
	return dst;
}

static char *format_hex16(char *dst, unsigned int value)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 12;

	while (shift > 0 && !(value >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*dst++ = hex[(value >> shift) & 0xf];
	return dst;
}

size_t flow_addr_format(char *dst, const uint8_t addr[FLOW_ADDR_LEN])
{
	int best_start = -1, best_len = 0, run_start = -1, i;
	char *p = dst;
	unsigned int groups[8];

	if (!memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix))) {
		for (i = 12; i < 16; i++) {
			p = format_octet(p, addr[i]);
			*p++ = i < 15 ? '.' : '\0';
		}
		return (size_t)(p - dst - 1);
	}

	for (i = 0; i < 8; i++) {
		groups[i] = ((unsigned int)addr[2 * i] << 8) | addr[2 * i + 1];
		if (groups[i] == 0) {
			if (run_start < 0)
				run_start = i;
			if (i - run_start + 1 > best_len) {
				best_start = run_start;
				best_len = i - run_start + 1;
			}
		} else {
			run_start = -1;
		}
	}
	if (best_len < 2)
		best_start = -1;

	for (i = 0; i < 8; i++) {
		if (i == best_start) {
			*p++ = ':';
			if (i == 0)
				*p++ = ':';
			i += best_len - 1;
			continue;
		}
		p = format_hex16(p, groups[i]);
		if (i < 7)
			*p++ = ':';
	}
	*p = '\0';
	return (size_t)(p - dst);
}

void flow_output_init(struct flow_output *out, int fd)
{
	out->fd = fd;
	out->error = 0;
	out->records = 0;
	out->used = 0;
}

int flow_output_flush(struct flow_output *out)
{
	size_t written = 0;

	while (written < out->used && !out->error) {
		ssize_t n = write(out->fd, out->buffer + written, out->used - written);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			out->error = n < 0 ? -errno : -EIO;
		else
			written += (size_t)n;
	}
	out->used = 0;
	return out->error;
}

#define APPEND_LITERAL(p, s)                 \
	do {                                 \
		memcpy(p, s, sizeof(s) - 1); \
		p += sizeof(s) - 1;          \
	} while (0)

char *flow_record_json_fields(char *p, const struct flow_record *record)
{
	const struct flow_key *key = &record->key;
	const struct flow_metrics *m = &record->stats;

	APPEND_LITERAL(p, "\"src_addr\":\"");
	p += flow_addr_format(p, key->src_addr);
	APPEND_LITERAL(p, "\",\"dst_addr\":\"");
	p += flow_addr_format(p, key->dst_addr);
	APPEND_LITERAL(p, "\",\"src_port\":");
	p = format_u64(p, key->src_port);
	APPEND_LITERAL(p, ",\"dst_port\":");
	p = format_u64(p, key->dst_port);
	APPEND_LITERAL(p, ",\"proto\":");
	p = format_u64(p, key->proto);
	APPEND_LITERAL(p, ",\"vlan\":");
	p = format_u64(p, key->vlan);
	APPEND_LITERAL(p, ",\"packets\":");
	p = format_u64(p, m->packets);
	APPEND_LITERAL(p, ",\"bytes\":");
	p = format_u64(p, m->bytes);
	APPEND_LITERAL(p, ",\"tcp_flags\":");
	p = format_u64(p, m->tcp_flags);
	APPEND_LITERAL(p, ",\"first_seen_ns\":");
	p = format_u64(p, m->first_seen_ns);
	APPEND_LITERAL(p, ",\"last_seen_ns\":");
	p = format_u64(p, m->last_seen_ns);
	APPEND_LITERAL(p, ",\"sampling\":");
	p = format_u64(p, record->sampling);
	APPEND_LITERAL(p, ",\"ifindex\":");
	p = format_u64(p, key->ifindex);
	if (key->direction == FLOW_DIR_EGRESS)
		APPEND_LITERAL(p, ",\"direction\":\"egress\"}\n");
	else
		APPEND_LITERAL(p, ",\"direction\":\"ingress\"}\n");
	return p;
}

char *flow_format_u64(char *dst, uint64_t value)
{
	return format_u64(dst, value);
}

void flow_output_json(struct flow_output *out, const struct flow_record *record)
{
	char *start, *p;

	if (out->used > sizeof(out->buffer) - FLOW_RECORD_JSON_MAX)
		flow_output_flush(out);
	start = p = out->buffer + out->used;
	*p++ = '{';
	p = flow_record_json_fields(p, record);
	out->used += (size_t)(p - start);
	out->records++;
}
