/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reads packet captures for replay: pcap (µs and ns, both byte orders, versions 2.0 to 2.4
 * and 543.0 as libpcap reads them), pcapng (sections 1.0 and 1.2, several sections and
 * interfaces, per-interface timestamp resolution and offset, EPB/SPB/PB), either of them
 * gzip-compressed, from a file or from stdin ("-"). A file is read to the size it had when it
 * was opened; one that shrinks while it is read is an error, never a crash.
 *
 * Packets come out in batches whose data pointers stay valid until the next call, so the
 * replay loop can parse a whole batch before touching the flow table.
 */
#ifndef FLOWAGENT_PCAP_READER_H
#define FLOWAGENT_PCAP_READER_H

#include <stddef.h>
#include <stdint.h>

/* A record longer than this is corruption, not a packet (libpcap uses the same bound). */
#define PCAP_READER_MAX_RECORD (256 * 1024)

struct pcap_packet {
	const uint8_t *data; /* cap_len captured bytes */
	uint64_t ts_ns;	     /* Unix epoch ns: seconds * 1e9 + fraction * unit, as written */
	uint32_t cap_len;
	uint32_t orig_len;     /* length on the wire */
	uint32_t link_type;    /* LINKTYPE_* of the interface that captured it */
	uint32_t interface_id; /* pcapng interface, 0 for pcap */
};

enum pcap_reader_status {
	PCAP_READER_OK = 0,	   /* batch returned, or clean end of file */
	PCAP_READER_TRUNCATED = 1, /* the file ends inside its last record: a warning */
	PCAP_READER_CORRUPT = 2,   /* malformed file: reading stopped at the offset given */
	PCAP_READER_IO_ERROR = 3,  /* read(2) or decompression failed, or the file shrank */
};

struct pcap_reader;

/*
 * Opens path ("-" is stdin) and reads its file header. gzip is detected by its magic.
 * Returns NULL with a message "PATH: what was wrong" in err on failure.
 */
struct pcap_reader *pcap_reader_open(const char *path, char *err, size_t err_len);

/*
 * Fills up to max packets. Returns the count (> 0), 0 at the end of the input, or -1 when
 * reading stopped on an error or a truncation; then pcap_reader_status() and
 * pcap_reader_message() say why. Packets returned before the stop are still valid.
 */
int pcap_reader_next_batch(struct pcap_reader *reader, struct pcap_packet *packets, int max);

enum pcap_reader_status pcap_reader_status(const struct pcap_reader *reader);
/* "PATH: offset N: what was wrong"; "" when nothing was */
const char *pcap_reader_message(const struct pcap_reader *reader);

/* Bytes of the (decompressed) capture consumed so far. */
uint64_t pcap_reader_offset(const struct pcap_reader *reader);
/* For progress: bytes of the file as stored read so far, and its size (0 when unknown). */
uint64_t pcap_reader_file_position(const struct pcap_reader *reader);
uint64_t pcap_reader_file_size(const struct pcap_reader *reader);
/* "pcap", "pcap-ns", "pcapng", with "+gzip" appended when compressed */
const char *pcap_reader_format(const struct pcap_reader *reader);

void pcap_reader_close(struct pcap_reader *reader);

#endif
