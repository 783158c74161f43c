// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The bare libpcap read loop `make bench` compares the replay against: it reads every record
 * of a capture and does nothing with it but count.
 */
#include <stdio.h>
#include <pcap/pcap.h>

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *header;
	const u_char *data;
	unsigned long long packets = 0, captured = 0;
	pcap_t *pcap;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: pcap_loop FILE\n");
		return 2;
	}
	pcap = pcap_open_offline(argv[1], errbuf);
	if (!pcap) {
		fprintf(stderr, "pcap_loop: %s\n", errbuf);
		return 1;
	}
	while ((rc = pcap_next_ex(pcap, &header, &data)) == 1) {
		packets++;
		captured += header->caplen;
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(pcap));
	printf("%llu packets, %llu bytes captured\n", packets, captured);
	pcap_close(pcap);
	return rc == PCAP_ERROR;
}
