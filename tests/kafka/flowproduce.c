// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A minimal librdkafka producer for the tests and the benchmark: sends each FILE given as one
 * message, the whole list -r times, with the same producer settings as the agent (idempotent,
 * lz4 unless -z says otherwise, key -k). It is the ceiling `make bench` compares the agent
 * with: pre-encoded messages, nothing else to do. Prints messages, bytes and seconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

static uint64_t delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (message->err) {
		if (!failed)
			fprintf(stderr, "flowproduce: delivery failed: %s\n",
				rd_kafka_err2str(message->err));
		failed++;
	} else {
		delivered++;
	}
}

static void *read_file(const char *path, size_t *len)
{
	FILE *file = fopen(path, "rb");
	void *data;
	long size;

	if (!file || fseek(file, 0, SEEK_END) || (size = ftell(file)) < 0 ||
	    fseek(file, 0, SEEK_SET)) {
		perror(path);
		exit(2);
	}
	data = malloc((size_t)size + 1);
	if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) {
		perror(path);
		exit(2);
	}
	fclose(file);
	*len = (size_t)size;
	return data;
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *topic = NULL, *key = "bench", *codec = "lz4";
	unsigned long repeat = 1, r;
	uint64_t bytes = 0, messages = 0;
	struct timespec start, end;
	rd_kafka_conf_t *conf;
	char why[512];
	rd_kafka_t *rk;
	int opt, i;

	conf = rd_kafka_conf_new();
	while ((opt = getopt(argc, argv, "b:t:k:r:z:X:")) != -1) {
		switch (opt) {
		case 'b':
			brokers = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'r':
			repeat = strtoul(optarg, NULL, 10);
			break;
		case 'z':
			codec = optarg;
			break;
		case 'X': {
			char *eq = strchr(optarg, '=');

			if (!eq) {
				fprintf(stderr, "flowproduce: -X %s: expected KEY=VALUE\n", optarg);
				return 2;
			}
			*eq = '\0';
			if (rd_kafka_conf_set(conf, optarg, eq + 1, why, sizeof(why))) {
				fprintf(stderr, "flowproduce: %s\n", why);
				return 2;
			}
			break;
		}
		default:
			fprintf(stderr,
				"usage: flowproduce -b BROKERS -t TOPIC [-k KEY] [-r REPEAT] "
				"[-z CODEC] [-X KEY=VALUE] FILE...\n");
			return 2;
		}
	}
	if (!brokers || !topic || optind >= argc) {
		fprintf(stderr, "flowproduce: -b, -t and at least one FILE are needed\n");
		return 2;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "compression.codec", codec, why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "message.max.bytes", "67108864", why, sizeof(why)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "69632", why, sizeof(why))) {
		fprintf(stderr, "flowproduce: %s\n", why);
		return 2;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!rk) {
		fprintf(stderr, "flowproduce: %s\n", why);
		return 3;
	}
	{
		/* the topic before the first connection, as the agent does */
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
		int count = argc - optind;
		void **payloads = calloc((size_t)count, sizeof(*payloads));
		size_t *lens = calloc((size_t)count, sizeof(*lens));

		for (i = 0; i < count; i++)
			payloads[i] = read_file(argv[optind + i], &lens[i]);
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (r = 0; r < repeat; r++) {
			for (i = 0; i < count; i++) {
				rd_kafka_resp_err_t err;

				while ((err = rd_kafka_producev(
						rk, RD_KAFKA_V_RKT(rkt),
						RD_KAFKA_V_KEY(key, strlen(key)),
						RD_KAFKA_V_VALUE(payloads[i], lens[i]),
						RD_KAFKA_V_MSGFLAGS(
							0), /* payloads outlive delivery */
						RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
					rd_kafka_poll(rk, 10);
				if (err) {
					fprintf(stderr, "flowproduce: %s\n", rd_kafka_err2str(err));
					return 3;
				}
				bytes += lens[i];
				messages++;
				rd_kafka_poll(rk, 0);
			}
		}
		rd_kafka_flush(rk, 60000);
		clock_gettime(CLOCK_MONOTONIC, &end);
		rd_kafka_topic_destroy(rkt);
	}
	printf("messages %" PRIu64 " bytes %" PRIu64 " seconds %.6f delivered %" PRIu64
	       " failed %" PRIu64 "\n",
	       messages, bytes,
	       (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9,
	       delivered, failed);
	rd_kafka_destroy(rk);
	return failed || delivered != messages ? 1 : 0;
}
