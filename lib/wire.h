/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wire format of a flow batch: what one Kafka message (and one spool file) holds.
 * docs/wire-format.md is the specification; this header and wire.c implement it for the
 * agent (encoder) and the collector (decoder).
 *
 * A batch is a header, the agent id, then record_count records of record_size bytes. Every
 * integer is little-endian. The encoder writes version 2, whose header carries the run id:
 * (agent id, run id, sequence) names a batch and never repeats, whatever the clock does. The
 * decoder also reads version 1 (no run id; run_id is 0). Each record is also one row of ClickHouse RowBinary for the
 * columns in WIRE_ROWBINARY_STRUCTURE, so a collector can hand the records to ClickHouse as
 * they are, without re-encoding them.
 */
#ifndef FLOWAGENT_WIRE_H
#define FLOWAGENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define WIRE_MAGIC	     "FLWB"
#define WIRE_VERSION	     2	/* what the encoder writes */
#define WIRE_VERSION_MIN     1	/* the oldest the decoder reads */
#define WIRE_HEADER_FIXED_V1 40 /* version 1: bytes before the agent id */
#define WIRE_HEADER_FIXED    48 /* version 2: bytes before the agent id (run_id at 40) */
#define WIRE_RECORD_SIZE     81 /* versions 1 and 2; a later version may only append fields */
#define WIRE_AGENT_ID_MAX    255
#define WIRE_MAX_RECORDS     (1u << 20)
/*
 * What a decoder accepts beyond the current version: records may grow to this size, and a
 * whole batch to this many bytes. The agent's batches are at most 64 MiB (--batch-bytes), so
 * a header declaring more is refused before anything is allocated for it.
 */
#define WIRE_RECORD_SIZE_MAX 1024
#define WIRE_BATCH_MAX_BYTES (128u << 20)

/* Header flags. */
#define WIRE_FLAG_FIRST_OF_RUN 0x01 /* first batch of an agent process: see wire-format.md */

/* Columns of one record, in order, as ClickHouse RowBinary reads them. */
#define WIRE_ROWBINARY_STRUCTURE                                                           \
	"src_addr IPv6, dst_addr IPv6, src_port UInt16, dst_port UInt16, proto UInt8, "    \
	"tcp_flags UInt8, vlan UInt16, ifindex UInt32, direction UInt8, sampling UInt32, " \
	"packets UInt64, bytes UInt64, first_seen_ns UInt64, last_seen_ns UInt64"

struct wire_header {
	uint8_t version;
	uint8_t flags;
	uint16_t header_len; /* offset of the first record */
	uint16_t record_size;
	uint32_t record_count;
	uint64_t run_id;      /* random, drawn once per agent process; 0 in a version 1 batch */
	uint64_t sequence;    /* per run, from 1, +1 for every batch */
	uint64_t created_ns;  /* wall clock when the batch was sealed */
	uint32_t records_crc; /* CRC32C of the record bytes */
	uint8_t agent_id_len;
	char agent_id[WIRE_AGENT_ID_MAX + 1]; /* NUL-terminated copy */
};

enum wire_error {
	WIRE_OK = 0,
	WIRE_ERR_SHORT,	      /* shorter than the fixed header */
	WIRE_ERR_MAGIC,	      /* not a flow batch */
	WIRE_ERR_VERSION,     /* a version this decoder does not know */
	WIRE_ERR_HEADER_LEN,  /* header length inconsistent with the agent id */
	WIRE_ERR_RECORD_SIZE, /* record size smaller than this version's, or above the maximum */
	WIRE_ERR_COUNT,	      /* record count too large, or does not match the length */
	WIRE_ERR_CRC,	      /* records corrupted */
	WIRE_ERR_RECORD,      /* a record with impossible values */
	WIRE_ERR_RUN_ID,      /* a version 2 batch without a run id */
	WIRE_ERR_TOO_LARGE,   /* declares more than WIRE_BATCH_MAX_BYTES */
};

/* A short phrase for an error, for messages such as "partition 0 offset 17: bad magic". */
const char *wire_strerror(enum wire_error err);

/* Encoder: a batch being filled in a caller-owned buffer. */
struct wire_batch {
	uint8_t *buffer;
	size_t capacity;
	size_t used;
	uint32_t record_count;
	uint16_t header_len;
};

/* Bytes needed for a batch of `records` records from an agent id of `agent_id_len` bytes. */
size_t wire_batch_size(size_t agent_id_len, uint32_t records);

/* Starts a batch: writes the header's fixed part and the agent id; returns -EINVAL if too long. */
int wire_batch_begin(struct wire_batch *batch, uint8_t *buffer, size_t capacity,
		     const char *agent_id);
/* Appends one record; returns -ENOSPC when the buffer is full. */
int wire_batch_add(struct wire_batch *batch, const struct flow_record *record);
/*
 * Completes the header (run id, sequence, count, CRC); returns the batch's length. run_id must
 * not be 0: a decoder rejects a version 2 batch without one.
 */
size_t wire_batch_seal(struct wire_batch *batch, uint64_t run_id, uint64_t sequence,
		       uint64_t created_ns, uint8_t flags);

/* Writes one record's WIRE_RECORD_SIZE bytes. */
void wire_record_encode(uint8_t *dst, const struct flow_record *record);
/* 1 when a record's values are possible (see wire_decode_record), else 0. */
int wire_record_plausible(const struct flow_record *record);

/*
 * The length of the whole batch that starts with these WIRE_HEADER_FIXED_V1 bytes, for streams
 * of batches: 0 when the bytes cannot start a batch (magic, lengths, count). The first
 * WIRE_HEADER_FIXED_V1 bytes suffice for every version (header_len is at offset 6), and a
 * stream reader must read no more before calling it: a version 1 batch can be shorter than
 * WIRE_HEADER_FIXED.
 */
size_t wire_batch_length(const uint8_t header[WIRE_HEADER_FIXED_V1]);
/*
 * The same, saying why the bytes cannot start a batch: WIRE_ERR_MAGIC, WIRE_ERR_HEADER_LEN,
 * WIRE_ERR_RECORD_SIZE (above WIRE_RECORD_SIZE_MAX), WIRE_ERR_COUNT (above WIRE_MAX_RECORDS)
 * or WIRE_ERR_TOO_LARGE. *len is set only on WIRE_OK, and is at most WIRE_BATCH_MAX_BYTES.
 */
enum wire_error wire_batch_length_check(const uint8_t header[WIRE_HEADER_FIXED_V1], size_t *len);

/* Decoder, versions 1 and 2. Validates everything before returning WIRE_OK, the CRC too. */
enum wire_error wire_decode_header(const void *data, size_t len, struct wire_header *header);
/* Record i of a batch wire_decode_header accepted. Returns WIRE_ERR_RECORD for impossible
 * values (last before first, no packets, bytes < packets, sampling 0). */
enum wire_error wire_decode_record(const void *data, const struct wire_header *header,
				   uint32_t index, struct flow_record *record);

/* CRC-32C (Castagnoli): "123456789" gives 0xe3069283. */
uint32_t wire_crc32c(const void *data, size_t len);
/* The CRC-32C of the first len bytes of count rows stride bytes apart, as if they were one. */
uint32_t wire_crc32c_rows(const void *data, size_t count, size_t stride, size_t len);

/* The agent id when none is given: the host name. */
int wire_default_agent_id(char *dst, size_t size);

#endif
