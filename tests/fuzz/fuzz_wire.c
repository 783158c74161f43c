// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer over the wire decoder: any bytes as a Kafka message, version 1 or 2 (the seeds
 * hold both). The decoder must reject or accept without reading outside the message, an
 * accepted batch must decode record by record, and the stream reader's length must agree
 * with the decoder's. The CRC check would stop almost every mutation early, so half the inputs get their
 * CRC fixed up first, to reach the record decoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_header header;
	struct flow_record record;
	uint8_t *copy;
	uint32_t i;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size > 40 && (data[0] & 1)) {
		uint16_t header_len = (uint16_t)(copy[6] | copy[7] << 8);

		if (header_len <= size) {
			uint32_t crc = wire_crc32c(copy + header_len, size - header_len);

			memcpy(copy + 32, &crc, sizeof(crc));
		}
	}
	if (wire_decode_header(copy, size, &header) == WIRE_OK) {
		if (wire_batch_length(copy) != size)
			abort();
		if (header.version == 1 && header.run_id)
			abort();
		if (header.agent_id_len != strlen(header.agent_id) &&
		    !memchr(header.agent_id, 0, header.agent_id_len))
			abort();
		for (i = 0; i < header.record_count; i++)
			wire_decode_record(copy, &header, i, &record);
	}
	free(copy);
	return 0;
}
