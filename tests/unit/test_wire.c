// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the wire format: layout, round trip, and every way a batch can be rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "bytes.h"
#include "wire.h"

static struct flow_record sample_record(uint32_t i)
{
	struct flow_record record = { 0 };

	record.key.src_addr[10] = record.key.src_addr[11] = 0xff;
	record.key.src_addr[12] = 192;
	record.key.src_addr[15] = (uint8_t)i;
	record.key.dst_addr[0] = 0x20;
	record.key.dst_addr[1] = 0x01;
	record.key.dst_addr[15] = 1;
	record.key.src_port = (uint16_t)(1000 + i);
	record.key.dst_port = 443;
	record.key.proto = 6;
	record.key.vlan = 7;
	record.key.ifindex = 3;
	record.key.direction = FLOW_DIR_EGRESS;
	record.sampling = 1;
	record.stats.packets = 10 + i;
	record.stats.bytes = 1500ull * (10 + i);
	record.stats.first_seen_ns = 1700000000000000000ull + i;
	record.stats.last_seen_ns = 1700000000500000000ull + i;
	record.stats.tcp_flags = 0x1b;
	return record;
}

static size_t build_batch(uint8_t *buffer, size_t capacity, uint32_t count, const char *agent)
{
	struct wire_batch batch;
	uint32_t i;

	assert_int_equal(wire_batch_begin(&batch, buffer, capacity, agent), 0);
	for (i = 0; i < count; i++) {
		struct flow_record record = sample_record(i);

		assert_int_equal(wire_batch_add(&batch, &record), 0);
	}
	return wire_batch_seal(&batch, 0x1122334455667788ull, 42, 1234567890,
			       WIRE_FLAG_FIRST_OF_RUN);
}

/*
 * The same batch as version 1 wrote it: the fixed header without the run id, so the agent id
 * starts at 40. Returns its length.
 */
static size_t to_version_1(uint8_t *dst, const uint8_t *v2, size_t len)
{
	uint8_t agent_len = v2[10];

	memcpy(dst, v2, WIRE_HEADER_FIXED_V1);
	memset(dst + 36, 0, 4);
	dst[4] = 1;
	dst[6] = (uint8_t)(WIRE_HEADER_FIXED_V1 + agent_len);
	dst[7] = 0;
	memcpy(dst + WIRE_HEADER_FIXED_V1, v2 + WIRE_HEADER_FIXED, len - WIRE_HEADER_FIXED);
	return len - (WIRE_HEADER_FIXED - WIRE_HEADER_FIXED_V1);
}

static void test_crc32c_check_value(void **state)
{
	(void)state;
	assert_int_equal(wire_crc32c("123456789", 9), 0xe3069283);
	/* rows with a tail left out: the CRC of their heads, one after the other */
	assert_int_equal(wire_crc32c_rows("123xx456xx789xx", 3, 5, 3), 0xe3069283);
	assert_int_equal(wire_crc32c_rows("", 0, 5, 3), wire_crc32c("", 0));
}

/*
 * A stream reader's view: the length from the first WIRE_HEADER_FIXED_V1 bytes, for both
 * versions, 0 for what is not a batch.
 */
static void test_batch_length(void **state)
{
	uint8_t buffer[4096], v1[4096], bad[WIRE_HEADER_FIXED_V1];
	size_t len = build_batch(buffer, sizeof(buffer), 3, "agent-1"), v1_len;

	(void)state;
	assert_int_equal(wire_batch_length(buffer), len);
	assert_int_equal(len, wire_batch_size(strlen("agent-1"), 3));
	v1_len = to_version_1(v1, buffer, len);
	assert_int_equal(wire_batch_length(v1), v1_len);
	assert_int_equal(v1_len, len - 8);
	memcpy(bad, buffer, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(wire_batch_length(bad), 0);
	memcpy(bad, buffer, sizeof(bad));
	bad[6] = WIRE_HEADER_FIXED - 1; /* header length below version 2's fixed part */
	bad[7] = 0;
	assert_int_equal(wire_batch_length(bad), 0);
	memcpy(bad, v1, sizeof(bad));
	bad[6] = WIRE_HEADER_FIXED_V1 - 1; /* below version 1's */
	assert_int_equal(wire_batch_length(bad), 0);
	memcpy(bad, buffer, sizeof(bad));
	bad[14] = 0x20; /* 2^21 records */
	assert_int_equal(wire_batch_length(bad), 0);
}

/*
 * Declared sizes are checked before a reader allocates for them: records above
 * WIRE_RECORD_SIZE_MAX, more than WIRE_MAX_RECORDS, or a batch above WIRE_BATCH_MAX_BYTES,
 * each with its own error; the largest batch the format allows is accepted.
 */
static void test_declared_size_bounds(void **state)
{
	uint8_t buffer[4096], bad[WIRE_HEADER_FIXED_V1];
	size_t len = build_batch(buffer, sizeof(buffer), 3, "agent-1"), got = 0;

	(void)state;
	assert_int_equal(wire_batch_length_check(buffer, &got), WIRE_OK);
	assert_int_equal(got, len);
	/* 2^20 records of 65,535 bytes: 68 GB, refused for its record size */
	memcpy(bad, buffer, sizeof(bad));
	put_le16(bad + 8, 65535);
	put_le32(bad + 12, WIRE_MAX_RECORDS);
	got = 7;
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_ERR_RECORD_SIZE);
	assert_int_equal(got, 7);
	assert_int_equal(wire_batch_length(bad), 0);
	assert_string_equal(wire_strerror(WIRE_ERR_RECORD_SIZE),
			    "record size below 81 or above 1024 bytes");
	/* the largest record size, and as many records as fit in WIRE_BATCH_MAX_BYTES */
	put_le16(bad + 8, WIRE_RECORD_SIZE_MAX);
	put_le32(bad + 12, (WIRE_BATCH_MAX_BYTES - 55) / WIRE_RECORD_SIZE_MAX);
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_OK);
	assert_true(got <= WIRE_BATCH_MAX_BYTES);
	/* one record more is past the batch limit */
	put_le32(bad + 12, (WIRE_BATCH_MAX_BYTES - 55) / WIRE_RECORD_SIZE_MAX + 1);
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_ERR_TOO_LARGE);
	assert_string_equal(wire_strerror(WIRE_ERR_TOO_LARGE), "batch larger than 128 MiB");
	/* the agent's largest: 2^20 records of 81 bytes */
	put_le16(bad + 8, WIRE_RECORD_SIZE);
	put_le32(bad + 12, WIRE_MAX_RECORDS);
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_OK);
	assert_int_equal(got, 55 + (size_t)WIRE_MAX_RECORDS * WIRE_RECORD_SIZE);
	put_le32(bad + 12, WIRE_MAX_RECORDS + 1);
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_ERR_COUNT);
	memcpy(bad, buffer, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_ERR_MAGIC);
	memcpy(bad, buffer, sizeof(bad));
	put_le16(bad + 6, WIRE_HEADER_FIXED - 1);
	assert_int_equal(wire_batch_length_check(bad, &got), WIRE_ERR_HEADER_LEN);
}

/* The decoder applies the same bounds to a whole message. */
static void test_decoder_size_bounds(void **state)
{
	uint8_t buffer[4096], copy[4096];
	struct wire_header header;
	size_t len = build_batch(buffer, sizeof(buffer), 3, "agent-1");

	(void)state;
	memcpy(copy, buffer, len);
	put_le16(copy + 8, WIRE_RECORD_SIZE_MAX + 1);
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_RECORD_SIZE);
	memcpy(copy, buffer, len);
	put_le32(copy + 12, WIRE_MAX_RECORDS);
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_COUNT);
	/* a length beyond the limit is refused before the count or the CRC is looked at */
	assert_int_equal(wire_decode_header(copy, (size_t)WIRE_BATCH_MAX_BYTES + 1, &header),
			 WIRE_ERR_TOO_LARGE);
}

static void test_round_trip(void **state)
{
	uint8_t buffer[4096];
	struct wire_header header;
	size_t len;
	uint32_t i;

	(void)state;
	len = build_batch(buffer, sizeof(buffer), 20, "host-1");
	assert_int_equal(len, wire_batch_size(6, 20));
	assert_int_equal(wire_decode_header(buffer, len, &header), WIRE_OK);
	assert_int_equal(header.version, WIRE_VERSION);
	assert_int_equal(header.flags, WIRE_FLAG_FIRST_OF_RUN);
	assert_int_equal(header.record_count, 20);
	assert_int_equal(header.record_size, WIRE_RECORD_SIZE);
	assert_int_equal(header.sequence, 42);
	assert_int_equal(header.run_id, 0x1122334455667788ull);
	assert_int_equal(header.created_ns, 1234567890);
	assert_string_equal(header.agent_id, "host-1");
	for (i = 0; i < 20; i++) {
		struct flow_record expected = sample_record(i), decoded;

		assert_int_equal(wire_decode_record(buffer, &header, i, &decoded), WIRE_OK);
		assert_memory_equal(&decoded, &expected, sizeof(decoded));
	}
}

/* What version 1 agents wrote still decodes, with run id 0 (no run: the old identity). */
static void test_version_1_decodes(void **state)
{
	uint8_t buffer[4096], v1[4096];
	struct wire_header header;
	size_t len, v1_len;
	uint32_t i;

	(void)state;
	len = build_batch(buffer, sizeof(buffer), 5, "old-agent");
	v1_len = to_version_1(v1, buffer, len);
	assert_int_equal(wire_decode_header(v1, v1_len, &header), WIRE_OK);
	assert_int_equal(header.version, 1);
	assert_int_equal(header.run_id, 0);
	assert_int_equal(header.sequence, 42);
	assert_int_equal(header.header_len, 40 + 9);
	assert_int_equal(header.record_count, 5);
	assert_string_equal(header.agent_id, "old-agent");
	for (i = 0; i < 5; i++) {
		struct flow_record expected = sample_record(i), decoded;

		assert_int_equal(wire_decode_record(v1, &header, i, &decoded), WIRE_OK);
		assert_memory_equal(&decoded, &expected, sizeof(decoded));
	}
	/* the smallest version 1 batch is shorter than version 2's fixed header */
	len = build_batch(buffer, sizeof(buffer), 0, "a");
	v1_len = to_version_1(v1, buffer, len);
	assert_int_equal(v1_len, 41);
	assert_int_equal(wire_batch_length(v1), 41);
	assert_int_equal(wire_decode_header(v1, v1_len, &header), WIRE_OK);
	assert_int_equal(wire_decode_header(v1, 39, &header), WIRE_ERR_SHORT);
}

/* The documented layout, byte by byte: little-endian, addresses in network order. */
static void test_layout(void **state)
{
	uint8_t buffer[512];
	const uint8_t *r;
	size_t len;

	(void)state;
	len = build_batch(buffer, sizeof(buffer), 1, "ab");
	assert_int_equal(len, 48 + 2 + 81);
	assert_memory_equal(buffer, "FLWB", 4);
	assert_int_equal(buffer[4], 2);			  /* version */
	assert_int_equal(buffer[5], 1);			  /* flags: first of run */
	assert_int_equal(buffer[6] | buffer[7] << 8, 50); /* header length */
	assert_int_equal(buffer[8] | buffer[9] << 8, 81); /* record size */
	assert_int_equal(buffer[10], 2);		  /* agent id length */
	assert_int_equal(buffer[12], 1);		  /* record count */
	assert_int_equal(buffer[16], 42);		  /* sequence */
	assert_int_equal(buffer[40], 0x88);		  /* run id, little-endian */
	assert_int_equal(buffer[47], 0x11);
	assert_memory_equal(buffer + 48, "ab", 2);
	r = buffer + 50;
	assert_int_equal(r[12], 192);		    /* src 192.0.0.0 v4-mapped */
	assert_int_equal(r[16], 0x20);		    /* dst 2001::1 */
	assert_int_equal(r[32] | r[33] << 8, 1000); /* src port */
	assert_int_equal(r[34] | r[35] << 8, 443);
	assert_int_equal(r[36], 6);
	assert_int_equal(r[37], 0x1b);
	assert_int_equal(r[38], 7);
	assert_int_equal(r[40], 3);
	assert_int_equal(r[44], 1);
	assert_int_equal(r[45], 1);
	assert_int_equal(r[49], 10);
	assert_int_equal(r[57] | r[58] << 8, 15000);
}

static void test_rejects(void **state)
{
	uint8_t buffer[4096], copy[4096];
	struct wire_header header;
	size_t len;

	(void)state;
	len = build_batch(buffer, sizeof(buffer), 5, "agent");

	assert_int_equal(wire_decode_header(buffer, 0, &header), WIRE_ERR_SHORT);
	assert_int_equal(wire_decode_header(buffer, 39, &header), WIRE_ERR_SHORT);
	assert_int_equal(wire_decode_header(buffer, 47, &header), WIRE_ERR_SHORT); /* v2 fixed */
	assert_int_equal(wire_decode_header("garbage", 7, &header), WIRE_ERR_MAGIC);
	assert_int_equal(wire_decode_header(buffer, len - 1, &header), WIRE_ERR_COUNT);
	assert_int_equal(wire_decode_header(buffer, len - 81, &header), WIRE_ERR_COUNT);

	memcpy(copy, buffer, len);
	copy[4] = 3;
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_VERSION);
	copy[4] = 0;
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_VERSION);

	memcpy(copy, buffer, len);
	memset(copy + 40, 0, 8); /* version 2 without a run id */
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_RUN_ID);
	assert_string_equal(wire_strerror(WIRE_ERR_RUN_ID), "version 2 batch without a run id");

	memcpy(copy, buffer, len);
	copy[len - 1] ^= 1;
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_CRC);

	memcpy(copy, buffer, len);
	copy[8] = 80;
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_RECORD_SIZE);

	memcpy(copy, buffer, len);
	copy[10] = 200; /* agent id longer than the header */
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_HEADER_LEN);

	memcpy(copy, buffer, len);
	copy[12] = 0xff;
	copy[13] = 0xff;
	copy[14] = 0xff;
	copy[15] = 0xff; /* 4 billion records */
	assert_int_equal(wire_decode_header(copy, len, &header), WIRE_ERR_COUNT);
	assert_string_equal(wire_strerror(WIRE_ERR_CRC), "records checksum mismatch");
	assert_string_equal(wire_strerror((enum wire_error)99), "unknown error");
}

static void test_impossible_record(void **state)
{
	uint8_t buffer[512];
	struct wire_batch batch;
	struct wire_header header;
	struct flow_record record = sample_record(0), decoded;
	size_t len;

	(void)state;
	record.stats.last_seen_ns = record.stats.first_seen_ns - 1;
	assert_int_equal(wire_batch_begin(&batch, buffer, sizeof(buffer), "a"), 0);
	assert_int_equal(wire_batch_add(&batch, &record), 0);
	record = sample_record(1);
	record.stats.packets = 0;
	assert_int_equal(wire_batch_add(&batch, &record), 0);
	record = sample_record(2);
	record.sampling = 0;
	assert_int_equal(wire_batch_add(&batch, &record), 0);
	len = wire_batch_seal(&batch, 1, 1, 1, 0);
	assert_int_equal(wire_decode_header(buffer, len, &header), WIRE_OK);
	assert_int_equal(wire_decode_record(buffer, &header, 0, &decoded), WIRE_ERR_RECORD);
	assert_int_equal(wire_decode_record(buffer, &header, 1, &decoded), WIRE_ERR_RECORD);
	assert_int_equal(wire_decode_record(buffer, &header, 2, &decoded), WIRE_ERR_RECORD);
}

/* A later version may append fields to records: this decoder skips them. */
static void test_longer_records(void **state)
{
	uint8_t buffer[512], longer[512];
	struct wire_header header;
	struct flow_record decoded, expected = sample_record(0);
	size_t len, i;
	uint32_t crc;

	(void)state;
	len = build_batch(buffer, sizeof(buffer), 2, "x");
	memcpy(longer, buffer, 49);
	for (i = 0; i < 2; i++) {
		memcpy(longer + 49 + i * 85, buffer + 49 + i * 81, 81);
		memset(longer + 49 + i * 85 + 81, 0xee, 4);
	}
	longer[8] = 85;
	crc = wire_crc32c(longer + 49, 170);
	memcpy(longer + 32, &crc, 4);
	assert_int_equal(wire_decode_header(longer, 49 + 170, &header), WIRE_OK);
	assert_int_equal(wire_decode_record(longer, &header, 0, &decoded), WIRE_OK);
	assert_memory_equal(&decoded, &expected, sizeof(decoded));
	(void)len;
}

static void test_encoder_limits(void **state)
{
	uint8_t buffer[250];
	struct wire_batch batch;
	struct flow_record record = sample_record(0);
	char long_id[300];

	(void)state;
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(wire_batch_begin(&batch, buffer, sizeof(buffer), long_id), -EINVAL);
	assert_int_equal(wire_batch_begin(&batch, buffer, sizeof(buffer), "a"), 0);
	assert_int_equal(wire_batch_add(&batch, &record), 0);
	assert_int_equal(wire_batch_add(&batch, &record), 0);
	assert_int_equal(wire_batch_add(&batch, &record), -ENOSPC); /* 49 + 3 * 81 > 250 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value),
		cmocka_unit_test(test_batch_length),
		cmocka_unit_test(test_declared_size_bounds),
		cmocka_unit_test(test_decoder_size_bounds),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_version_1_decodes),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_impossible_record),
		cmocka_unit_test(test_longer_records),
		cmocka_unit_test(test_encoder_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
