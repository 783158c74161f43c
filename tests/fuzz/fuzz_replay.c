// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes as a capture file, through the pcap/pcapng reader and the shared
 * parser. Nothing may crash, hang or read out of bounds, and the reader must end in one of
 * its documented statuses. `make test` runs it for a fixed number of seeded inputs.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flow_parse.h"
#include "pcap_reader.h"

static void parse_batch(const struct pcap_packet *packets, int count)
{
	int i;

	for (i = 0; i < count; i++) {
		uint32_t len = packets[i].cap_len < FLOW_PARSE_MAX_BYTES ? packets[i].cap_len :
									   FLOW_PARSE_MAX_BYTES;
		struct flow_frame frame = {
			.data = packets[i].data,
			.data_end = packets[i].data + len,
			.cap_len = len,
			.orig_len = packets[i].orig_len,
			.link_type = packets[i].link_type,
		};
		struct flow_key key = { 0 };
		struct flow_packet pkt = { 0 };
		int result = flow_parse_frame(&frame, &key, &pkt);

		if (result < 0 || result >= FLOW_CNT_NOTES_FIRST)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcap_packet packets[64];
	struct pcap_reader *reader;
	char path[64], err[512];
	int fd, count;

	fd = memfd_create("fuzz-capture", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	reader = pcap_reader_open(path, err, sizeof(err));
	if (reader) {
		while ((count = pcap_reader_next_batch(reader, packets, 64)) > 0)
			parse_batch(packets, count);
		if (count < 0 && pcap_reader_status(reader) == PCAP_READER_OK)
			abort();
		if (count < 0 && !pcap_reader_message(reader)[0])
			abort();
		pcap_reader_close(reader);
	} else if (!err[0]) {
		abort();
	}
	close(fd);
	return 0;
}
