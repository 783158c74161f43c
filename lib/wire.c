// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Flow batch encoder and decoder; the layout is specified in docs/wire-format.md. */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <isa-l/crc.h>

#include "bytes.h"
#include "wire.h"

/* Fixed header offsets. */
#define OFF_MAGIC	0
#define OFF_VERSION	4
#define OFF_FLAGS	5
#define OFF_HEADER_LEN	6
#define OFF_RECORD_SIZE 8
#define OFF_AGENT_LEN	10
#define OFF_COUNT	12
#define OFF_SEQUENCE	16
#define OFF_CREATED	24
#define OFF_CRC		32
#define OFF_RESERVED	36
#define OFF_RUN_ID	40 /* version 2 */

/* Record offsets. */
#define REC_SRC_ADDR   0
#define REC_DST_ADDR   16
#define REC_SRC_PORT   32
#define REC_DST_PORT   34
#define REC_PROTO      36
#define REC_TCP_FLAGS  37
#define REC_VLAN       38
#define REC_IFINDEX    40
#define REC_DIRECTION  44
#define REC_SAMPLING   45
#define REC_PACKETS    49
#define REC_BYTES      57
#define REC_FIRST_SEEN 65
#define REC_LAST_SEEN  73
_Static_assert(REC_LAST_SEEN + 8 == WIRE_RECORD_SIZE, "record fields must fill the record");

static const char *const error_text[] = {
	[WIRE_OK] = "ok",
	[WIRE_ERR_SHORT] = "shorter than a batch header",
	[WIRE_ERR_MAGIC] = "bad magic: not a flow batch",
	[WIRE_ERR_VERSION] = "unsupported wire format version",
	[WIRE_ERR_HEADER_LEN] = "header length does not match the agent id",
	[WIRE_ERR_RECORD_SIZE] = "record size below 81 or above 1024 bytes",
	[WIRE_ERR_COUNT] = "record count does not match the message length",
	[WIRE_ERR_CRC] = "records checksum mismatch",
	[WIRE_ERR_RECORD] = "record with impossible values",
	[WIRE_ERR_RUN_ID] = "version 2 batch without a run id",
	[WIRE_ERR_TOO_LARGE] = "batch larger than 128 MiB",
};

const char *wire_strerror(enum wire_error err)
{
	if ((unsigned int)err >= sizeof(error_text) / sizeof(error_text[0]))
		return "unknown error";
	return error_text[err];
}

uint32_t wire_crc32c(const void *buffer, size_t len)
{
	const uint8_t *data = buffer;
	uint32_t crc = 0xffffffff;

	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;

		crc = crc32_iscsi((unsigned char *)data, chunk, crc);
		data += chunk;
		len -= (size_t)chunk;
	}
	return ~crc;
}

uint32_t wire_crc32c_rows(const void *buffer, size_t count, size_t stride, size_t len)
{
	const uint8_t *data = buffer;
	uint32_t crc = 0xffffffff;
	size_t i;

	for (i = 0; i < count; i++)
		crc = crc32_iscsi((unsigned char *)data + i * stride, (int)len, crc);
	return ~crc;
}

size_t wire_batch_size(size_t agent_id_len, uint32_t records)
{
	return WIRE_HEADER_FIXED + agent_id_len + (size_t)records * WIRE_RECORD_SIZE;
}

int wire_batch_begin(struct wire_batch *batch, uint8_t *buffer, size_t capacity,
		     const char *agent_id)
{
	size_t id_len = strlen(agent_id);

	if (id_len > WIRE_AGENT_ID_MAX || capacity < WIRE_HEADER_FIXED + id_len)
		return -EINVAL;
	batch->buffer = buffer;
	batch->capacity = capacity;
	batch->header_len = (uint16_t)(WIRE_HEADER_FIXED + id_len);
	batch->used = batch->header_len;
	batch->record_count = 0;
	memset(buffer, 0, WIRE_HEADER_FIXED);
	memcpy(buffer + OFF_MAGIC, WIRE_MAGIC, 4);
	buffer[OFF_VERSION] = WIRE_VERSION;
	put_le16(buffer + OFF_HEADER_LEN, batch->header_len);
	put_le16(buffer + OFF_RECORD_SIZE, WIRE_RECORD_SIZE);
	buffer[OFF_AGENT_LEN] = (uint8_t)id_len;
	memcpy(buffer + WIRE_HEADER_FIXED, agent_id, id_len);
	return 0;
}

void wire_record_encode(uint8_t *p, const struct flow_record *record)
{
	memcpy(p + REC_SRC_ADDR, record->key.src_addr, FLOW_ADDR_LEN);
	memcpy(p + REC_DST_ADDR, record->key.dst_addr, FLOW_ADDR_LEN);
	put_le16(p + REC_SRC_PORT, record->key.src_port);
	put_le16(p + REC_DST_PORT, record->key.dst_port);
	p[REC_PROTO] = record->key.proto;
	p[REC_TCP_FLAGS] = record->stats.tcp_flags;
	put_le16(p + REC_VLAN, record->key.vlan);
	put_le32(p + REC_IFINDEX, record->key.ifindex);
	p[REC_DIRECTION] = record->key.direction;
	put_le32(p + REC_SAMPLING, record->sampling);
	put_le64(p + REC_PACKETS, record->stats.packets);
	put_le64(p + REC_BYTES, record->stats.bytes);
	put_le64(p + REC_FIRST_SEEN, record->stats.first_seen_ns);
	put_le64(p + REC_LAST_SEEN, record->stats.last_seen_ns);
}

int wire_batch_add(struct wire_batch *batch, const struct flow_record *record)
{
	if (batch->capacity - batch->used < WIRE_RECORD_SIZE ||
	    batch->record_count >= WIRE_MAX_RECORDS)
		return -ENOSPC;
	wire_record_encode(batch->buffer + batch->used, record);
	batch->used += WIRE_RECORD_SIZE;
	batch->record_count++;
	return 0;
}

size_t wire_batch_seal(struct wire_batch *batch, uint64_t run_id, uint64_t sequence,
		       uint64_t created_ns, uint8_t flags)
{
	uint8_t *buffer = batch->buffer;

	buffer[OFF_FLAGS] = flags;
	put_le64(buffer + OFF_RUN_ID, run_id);
	put_le32(buffer + OFF_COUNT, batch->record_count);
	put_le64(buffer + OFF_SEQUENCE, sequence);
	put_le64(buffer + OFF_CREATED, created_ns);
	put_le32(buffer + OFF_CRC,
		 wire_crc32c(buffer + batch->header_len, batch->used - batch->header_len));
	return batch->used;
}

/* Bytes before the agent id in a batch of this version; 0 for a version we do not know. */
static size_t header_fixed(uint8_t version)
{
	switch (version) {
	case 1:
		return WIRE_HEADER_FIXED_V1;
	case 2:
		return WIRE_HEADER_FIXED;
	default:
		return 0;
	}
}

enum wire_error wire_batch_length_check(const uint8_t header[WIRE_HEADER_FIXED_V1], size_t *len)
{
	uint16_t header_len = get_le16(header + OFF_HEADER_LEN);
	uint16_t record_size = get_le16(header + OFF_RECORD_SIZE);
	uint32_t count = get_le32(header + OFF_COUNT);
	size_t fixed = header_fixed(header[OFF_VERSION]);
	uint64_t total;

	/* An unknown version still has its length here: a stream reader can skip the batch. */
	if (!fixed)
		fixed = WIRE_HEADER_FIXED_V1;
	if (memcmp(header + OFF_MAGIC, WIRE_MAGIC, 4))
		return WIRE_ERR_MAGIC;
	if (header_len < fixed)
		return WIRE_ERR_HEADER_LEN;
	if (record_size > WIRE_RECORD_SIZE_MAX)
		return WIRE_ERR_RECORD_SIZE;
	if (count > WIRE_MAX_RECORDS)
		return WIRE_ERR_COUNT;
	total = (uint64_t)header_len + (uint64_t)count * record_size;
	if (total > WIRE_BATCH_MAX_BYTES)
		return WIRE_ERR_TOO_LARGE;
	*len = (size_t)total;
	return WIRE_OK;
}

size_t wire_batch_length(const uint8_t header[WIRE_HEADER_FIXED_V1])
{
	size_t len;

	return wire_batch_length_check(header, &len) == WIRE_OK ? len : 0;
}

enum wire_error wire_decode_header(const void *data, size_t len, struct wire_header *header)
{
	const uint8_t *p = data;
	uint64_t records_len;
	size_t fixed;

	if (len < WIRE_HEADER_FIXED_V1)
		return memcmp(p, WIRE_MAGIC, len < 4 ? len : 4) ? WIRE_ERR_MAGIC : WIRE_ERR_SHORT;
	if (memcmp(p + OFF_MAGIC, WIRE_MAGIC, 4))
		return WIRE_ERR_MAGIC;
	header->version = p[OFF_VERSION];
	fixed = header_fixed(header->version);
	if (!fixed)
		return WIRE_ERR_VERSION;
	if (len < fixed)
		return WIRE_ERR_SHORT;
	header->run_id = header->version >= 2 ? get_le64(p + OFF_RUN_ID) : 0;
	header->flags = p[OFF_FLAGS];
	header->header_len = get_le16(p + OFF_HEADER_LEN);
	header->record_size = get_le16(p + OFF_RECORD_SIZE);
	header->agent_id_len = p[OFF_AGENT_LEN];
	header->record_count = get_le32(p + OFF_COUNT);
	header->sequence = get_le64(p + OFF_SEQUENCE);
	header->created_ns = get_le64(p + OFF_CREATED);
	header->records_crc = get_le32(p + OFF_CRC);
	/* A later version may grow the header; the agent id always follows the fixed part. */
	if (header->header_len < fixed + header->agent_id_len || header->header_len > len)
		return WIRE_ERR_HEADER_LEN;
	/* Version 2's identity is (agent, run, sequence): without a run it is no identity. */
	if (header->version >= 2 && !header->run_id)
		return WIRE_ERR_RUN_ID;
	if (header->record_size < WIRE_RECORD_SIZE || header->record_size > WIRE_RECORD_SIZE_MAX)
		return WIRE_ERR_RECORD_SIZE;
	if (len > WIRE_BATCH_MAX_BYTES)
		return WIRE_ERR_TOO_LARGE;
	records_len = (uint64_t)header->record_count * header->record_size;
	if (header->record_count > WIRE_MAX_RECORDS || records_len != len - header->header_len)
		return WIRE_ERR_COUNT;
	if (wire_crc32c(p + header->header_len, (size_t)records_len) != header->records_crc)
		return WIRE_ERR_CRC;
	memcpy(header->agent_id, p + fixed, header->agent_id_len);
	header->agent_id[header->agent_id_len] = '\0';
	return WIRE_OK;
}

enum wire_error wire_decode_record(const void *data, const struct wire_header *header,
				   uint32_t index, struct flow_record *record)
{
	const uint8_t *p =
		(const uint8_t *)data + header->header_len + (size_t)index * header->record_size;

	memset(record, 0, sizeof(*record));
	memcpy(record->key.src_addr, p + REC_SRC_ADDR, FLOW_ADDR_LEN);
	memcpy(record->key.dst_addr, p + REC_DST_ADDR, FLOW_ADDR_LEN);
	record->key.src_port = get_le16(p + REC_SRC_PORT);
	record->key.dst_port = get_le16(p + REC_DST_PORT);
	record->key.proto = p[REC_PROTO];
	record->stats.tcp_flags = p[REC_TCP_FLAGS];
	record->key.vlan = get_le16(p + REC_VLAN);
	record->key.ifindex = get_le32(p + REC_IFINDEX);
	record->key.direction = p[REC_DIRECTION];
	record->sampling = get_le32(p + REC_SAMPLING);
	record->stats.packets = get_le64(p + REC_PACKETS);
	record->stats.bytes = get_le64(p + REC_BYTES);
	record->stats.first_seen_ns = get_le64(p + REC_FIRST_SEEN);
	record->stats.last_seen_ns = get_le64(p + REC_LAST_SEEN);

	return wire_record_plausible(record) ? WIRE_OK : WIRE_ERR_RECORD;
}

int wire_record_plausible(const struct flow_record *record)
{
	return record->stats.packets && record->stats.bytes >= record->stats.packets &&
	       record->stats.last_seen_ns >= record->stats.first_seen_ns && record->sampling &&
	       record->key.direction <= FLOW_DIR_EGRESS && record->key.vlan <= 4095;
}

int wire_default_agent_id(char *dst, size_t size)
{
	if (gethostname(dst, size) || !dst[0])
		return -errno ?: -EINVAL;
	dst[size - 1] = '\0';
	if (strlen(dst) > WIRE_AGENT_ID_MAX)
		dst[WIRE_AGENT_ID_MAX] = '\0';
	return 0;
}
